package ledgers

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/forms"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// countingAPI answers with one ledger and counts calls per endpoint.
type countingAPI struct {
	mu    sync.Mutex
	calls map[string]int
}

func (a *countingAPI) count(name string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.calls == nil {
		a.calls = map[string]int{}
	}
	a.calls[name]++
}

func (a *countingAPI) n(name string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls[name]
}

func (a *countingAPI) Ledgers(context.Context, string, mangrove.ListOptions) (*mangrove.List[mangrove.Ledger], error) {
	a.count("ledgers page")
	return &mangrove.List[mangrove.Ledger]{}, nil
}

func (a *countingAPI) AllLedgers(context.Context, string) ([]mangrove.Ledger, error) {
	a.count("ledgers")
	return []mangrove.Ledger{{ID: "lgr_1", Name: "Net Carbon Removal"}}, nil
}

func (a *countingAPI) Ledger(_ context.Context, _, id string) (*mangrove.Ledger, error) {
	a.count("ledger")
	return &mangrove.Ledger{ID: id, Name: "Net Carbon Removal"}, nil
}

func (a *countingAPI) RequiredInputs(context.Context, string, string) ([]mangrove.RequiredInput, error) {
	a.count("inputs")
	return []mangrove.RequiredInput{{ID: 1, Name: "Feedstock"}}, nil
}

func (a *countingAPI) LedgerBatches(context.Context, string, string, mangrove.ListOptions) (*mangrove.List[mangrove.Batch], error) {
	a.count("batches")
	v := 1.5
	return &mangrove.List[mangrove.Batch]{Data: []mangrove.Batch{{ID: "b1", StartTime: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), PrimaryOutput: &mangrove.PrimaryOutput{Value: v, Unit: "t"}}}}, nil
}

func TestLedgerPageCaches(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	api := &countingAPI{}
	s := New(api, Options{Now: func() time.Time { return now }})
	q := forms.BatchListQuery{Page: 1, PageSize: 25, Sort: "-start_time"}
	view := func(token string) *Page {
		t.Helper()
		p, err := s.LedgerPage(context.Background(), token, "lgr_1", q)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := view("tok-a")
	if p.Chart == nil || len(p.Chart.Points) != 1 || p.Ledger.Name != "Net Carbon Removal" || len(p.Inputs) != 1 {
		t.Fatalf("page %+v", p)
	}
	view("tok-a")
	// The table's batches are always read; the ledger, its inputs and the
	// chart are reused within their lifetimes.
	if api.n("ledger") != 1 || api.n("inputs") != 1 || api.n("batches") != 3 {
		t.Fatalf("calls %v after two views: want 1 ledger, 1 inputs, 2 table reads + 1 chart read", api.calls)
	}
	view("tok-b") // another token shares nothing
	if api.n("ledger") != 2 || api.n("batches") != 5 {
		t.Fatalf("calls %v: another token was served from tok-a's entries", api.calls)
	}
	s.BatchesChanged("tok-a") // tok-a confirmed a generation
	view("tok-a")
	view("tok-b")
	if api.n("ledger") != 3 || api.n("batches") != 9 {
		t.Fatalf("calls %v: BatchesChanged must drop tok-a's metadata and every chart, and keep tok-b's metadata", api.calls)
	}
	now = now.Add(PageCacheTTL)
	view("tok-b")
	if api.n("ledger") != 4 {
		t.Fatalf("calls %v: metadata outlived PageCacheTTL", api.calls)
	}
}
