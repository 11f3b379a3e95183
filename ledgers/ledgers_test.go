package ledgers

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/forms"
	"github.com/carbon-dash/mangrove-dashboard/internal/testkit"
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

// TestLedgerPageCachesItsChart: a repeated view reads the table again but
// reuses the chart; a generation (BatchesChanged) drops it. Other reads are
// cached by the API the service is given (internal/apicache).
func TestLedgerPageCachesItsChart(t *testing.T) {
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
	first := api.n("batches") // the table and the chart's pages
	view("tok-a")
	if got := api.n("batches") - first; got != 1 {
		t.Fatalf("a repeated view read batches %d times, want 1 (the table; the chart is kept)", got)
	}
	view("tok-b") // another token's chart is its own
	if got := api.n("batches") - first - 1; got != first {
		t.Fatalf("another token's first view read batches %d times, want %d", got, first)
	}
	s.BatchesChanged("tok-a")
	before := api.n("batches")
	view("tok-b")
	if got := api.n("batches") - before; got != first {
		t.Fatalf("after BatchesChanged a view read batches %d times, want %d (the chart drawn again)", got, first)
	}
}

// barrierAPI holds every call until all of the page's calls are in flight
// (testkit.Rounds), so a page that makes a call only after another has
// answered never completes.
type barrierAPI struct {
	countingAPI
	*testkit.Rounds
}

func (b *barrierAPI) Ledger(ctx context.Context, tok, id string) (*mangrove.Ledger, error) {
	if err := b.Hold(ctx); err != nil {
		return nil, err
	}
	return b.countingAPI.Ledger(ctx, tok, id)
}

func (b *barrierAPI) RequiredInputs(ctx context.Context, tok, id string) ([]mangrove.RequiredInput, error) {
	if err := b.Hold(ctx); err != nil {
		return nil, err
	}
	return b.countingAPI.RequiredInputs(ctx, tok, id)
}

func (b *barrierAPI) LedgerBatches(ctx context.Context, tok, id string, o mangrove.ListOptions) (*mangrove.List[mangrove.Batch], error) {
	if err := b.Hold(ctx); err != nil {
		return nil, err
	}
	return b.countingAPI.LedgerBatches(ctx, tok, id, o)
}

// TestLedgerPageIsOneRound: a first view makes all its calls at once (the
// ledger, its inputs, the table, the chart's pages and the projects the
// coverage dates its data by): none waits for another's answer, so against
// a slow API the page costs one round trip. (A token's first view adds one
// for the projects' events: TestLedgerPageCoverageRounds.)
func TestLedgerPageIsOneRound(t *testing.T) {
	want := 3 + chartPages + 1
	api := &barrierAPI{Rounds: testkit.NewRounds(want)}
	s := New(api, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := s.LedgerPage(ctx, "tok", "lgr_1", forms.BatchListQuery{Page: 1, PageSize: 25, Sort: "-start_time"})
	if err != nil {
		t.Fatalf("the page's %d calls were not all in flight at once (%d arrived): %v", want, api.Arrived(), err)
	}
	if p.Chart == nil {
		t.Fatal("no chart")
	}
}
