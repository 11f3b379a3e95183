package handlers_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/internal/testapp"
)

// TestRepeatedViewsReuseLedgerMetadata: browsing back and forth reads a ledger's
// metadata once per short window; confirming a generation forgets it.
func TestRepeatedViewsReuseLedgerMetadata(t *testing.T) {
	t.Parallel()
	app := testapp.Start(t, testapp.Options{StepDelay: 10 * time.Millisecond})
	b := app.NewBrowser(t)
	b.SignIn(app.Tokens.ReadWrite)
	ncr := app.LedgerByName(t, "Net Carbon Removal").ID
	count := func(route string) int64 { return app.Sandbox.RequestCount(route) }
	lists0, ledger0, inputs0 := count("GET /api/v1/ledgers"), count("GET /api/v1/ledgers/{ledger_id}"), count("GET /api/v1/ledgers/{ledger_id}/required_inputs")
	batches0 := count("GET /api/v1/ledgers/{ledger_id}/batches")
	for range 3 {
		if r := b.Get("/ledgers"); r.Status != http.StatusOK {
			t.Fatalf("ledgers: %d", r.Status)
		}
		if r := b.Get("/ledgers/" + ncr); r.Status != http.StatusOK {
			t.Fatalf("ledger: %d", r.Status)
		}
	}
	if n := count("GET /api/v1/ledgers") - lists0; n != 1 {
		t.Errorf("3 views of the list read the ledgers %d times, want 1", n)
	}
	if n := count("GET /api/v1/ledgers/{ledger_id}") - ledger0; n != 1 {
		t.Errorf("3 views of a ledger read it %d times, want 1", n)
	}
	if n := count("GET /api/v1/ledgers/{ledger_id}/required_inputs") - inputs0; n != 1 {
		t.Errorf("3 views of a ledger read its inputs %d times, want 1", n)
	}
	if n := count("GET /api/v1/ledgers/{ledger_id}/batches") - batches0; n < 3 {
		t.Errorf("3 views of a ledger read its batch page %d times: batch lists must stay fresh", n)
	}

	// A confirmed generation forgets what the token read.
	b.Get("/ledgers/" + ncr + "/generate")
	if r, _ := confirmThroughUI(t, b, ncr, "2025-01-01", "2025-01-31"); r.Status != http.StatusSeeOther {
		t.Fatalf("confirm: %d %.300s", r.Status, r.Body)
	}
	ledger1 := count("GET /api/v1/ledgers/{ledger_id}")
	b.Get("/ledgers/" + ncr)
	if n := count("GET /api/v1/ledgers/{ledger_id}") - ledger1; n != 1 {
		t.Errorf("the ledger page after a confirmed generation read the ledger %d times, want 1", n)
	}
}
