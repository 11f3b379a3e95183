package e2e

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/carbon-dash/mangrove-dashboard/internal/testapp"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// overflowJS reports whether the page is wider than the window.
const overflowJS = `document.documentElement.scrollWidth > innerWidth`

// seededBatch is the id of the Net Carbon Removal batch of a state whose
// period starts at start.
func seededBatch(t *testing.T, app *testapp.App, ledgerID, state string, start time.Time) string {
	t.Helper()
	opts := mangrove.ListOptions{Page: 1, PageSize: 100, Filters: []mangrove.Filter{{Field: "state", Value: state}}}
	l, err := app.Client.LedgerBatches(context.Background(), app.Tokens.ReadWrite, ledgerID, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range l.Data {
		if b.StartTime.Equal(start) {
			return b.ID
		}
	}
	t.Fatalf("no %s batch starting %s in the seed", state, start)
	return ""
}

// TestBatchPageFromTheLedger opens the seeded Aug 2024 error batch from the
// ledger page's tracking id link, reads its error and calculations, and
// regenerates its period: the preview is of 1 to 31 August 2024. A complete
// batch's page draws its waterfall; neither page scrolls sideways on a phone.
func TestBatchPageFromTheLedger(t *testing.T) {
	requireBrowser(t)
	app := testapp.Start(t, testapp.Options{})
	ncr := app.LedgerByName(t, ncrName)
	failed := seededBatch(t, app, ncr.ID, "error", time.Date(2024, 8, 1, 0, 0, 0, 0, time.UTC))
	complete := seededBatch(t, app, ncr.ID, "complete", time.Date(2024, 12, 1, 0, 0, 0, 0, time.UTC))
	b := signedInTab(t, app, app.Tokens.ReadWrite, "E2E Tester")

	if st := b.navigate("/ledgers/" + ncr.ID + "?state=error"); st != http.StatusOK {
		t.Fatalf("ledger page: status %d", st)
	}
	link := `#batches ~ .table-wrap tbody th a[href^="/batches/` + failed + `?"]`
	if b.count(link) != 1 {
		t.Fatalf("the ledger table has no tracking id link to %s", failed)
	}
	if st := b.submit("clicking the tracking id", chromedp.Click(chromedp.CSS(link))); st != http.StatusOK {
		t.Fatalf("batch page: status %d", st)
	}
	if p := b.path(); p != "/batches/"+failed+"?ledger="+ncr.ID {
		t.Errorf("the link led to %s", p)
	}
	if got := b.text("#run-error"); got != "required input missing: biochar-mass-produced" {
		t.Errorf("the error reads %q", got)
	}
	// The failed run recorded no calculations: the section says so.
	if got := b.text("h2#calculations + p"); got != "The model run recorded no calculations." {
		t.Errorf("the calculations section reads %q", got)
	}
	b.screenshot("20-batch-error")

	if st := b.submit("clicking Regenerate this period", chromedp.Click(chromedp.CSS("#regenerate"))); st != http.StatusOK {
		t.Fatalf("preview: status %d", st)
	}
	u, err := url.Parse(b.path())
	if err != nil || u.Path != "/ledgers/"+ncr.ID+"/preview" || u.Query().Get("start_time") != "2024-08-01" || u.Query().Get("end_time") != "2024-08-31" {
		t.Fatalf("Regenerate led to %s, want the preview of 2024-08-01 to 2024-08-31", b.path())
	}
	if got := b.text("#range-words"); !strings.HasPrefix(got, "August 2024 (1 August 2024 to 31 August 2024)") {
		t.Errorf("the preview is of %q, want 1 to 31 August 2024", got)
	}

	if st := b.navigate("/batches/" + complete + "?ledger=" + ncr.ID); st != http.StatusOK {
		t.Fatalf("complete batch: status %d", st)
	}
	b.do("waiting for the waterfall", chromedp.WaitVisible(chromedp.CSS(`#waterfall[data-drawn="true"] canvas`)))
	if n := b.count("#calculations-table tbody th[scope=row]"); n < 2 {
		t.Errorf("the calculations table has %d rows", n)
	}
	b.screenshot("21-batch")
	for _, path := range []string{"/batches/" + complete + "?ledger=" + ncr.ID, "/batches/" + failed + "?ledger=" + ncr.ID} {
		b.do("phone width", chromedp.EmulateViewport(phoneWidth, windowHeight))
		b.navigate(path)
		if eval[bool](b, overflowJS) {
			t.Errorf("%s scrolls sideways at %d px", path, phoneWidth)
		}
	}
	b.screenshot("22-batch-phone")
}
