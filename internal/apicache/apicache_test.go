package apicache

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// upstream serves GET /ledgers/{id} and GET /ledgers/{id}/batches, counting
// calls; while hold is set, answers wait until it is closed.
type upstream struct {
	calls atomic.Int64
	mu    sync.Mutex
	hold  chan struct{}
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.calls.Add(1)
	u.mu.Lock()
	hold := u.hold
	u.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path == "/api/v1/ledgers/lgr_1/batches" {
		_, _ = w.Write([]byte(`{"data":[{"id":"bat_1","start_time":"2025-01-01T00:00:00Z","end_time":"2025-01-31T23:59:59Z","state":"complete"}],"info":{"total_items":1,"total_pages":1,"current_page":1}}`))
		return
	}
	_, _ = w.Write([]byte(`{"id":"lgr_1","name":"Net Carbon Removal"}`))
}

func (u *upstream) block() chan struct{} {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.hold = make(chan struct{})
	return u.hold
}

func newRig(t *testing.T, o Options) (*Client, *upstream) {
	t.Helper()
	u := &upstream{}
	srv := httptest.NewServer(u)
	t.Cleanup(srv.Close)
	return New(mangrove.NewClient(srv.URL+"/api/v1", mangrove.WithRateLimit(0)), o), u
}

// TestConcurrentReadsShareOneCall: 50 callers asking for the same ledger at
// once make one API call, and the one who started it leaving early does not
// fail the others.
func TestConcurrentReadsShareOneCall(t *testing.T) {
	c, u := newRig(t, Options{})
	release := u.block()
	const n = 50
	var joined sync.WaitGroup
	joined.Add(n)
	c.joined = joined.Done

	first, leave := context.WithCancel(context.Background())
	errs := make(chan error, n)
	for i := range n {
		ctx := context.Background()
		if i == 0 {
			ctx = first
		}
		go func() {
			l, err := c.Ledger(ctx, "tok", "lgr_1")
			if err == nil && l.Name != "Net Carbon Removal" {
				err = errors.New("wrong ledger " + l.Name)
			}
			errs <- err
		}()
	}
	joined.Wait() // every caller waits on the read
	leave()
	close(release)
	var left int
	for range n {
		if err := <-errs; errors.Is(err, context.Canceled) {
			left++
		} else if err != nil {
			t.Error(err)
		}
	}
	if left > 1 {
		t.Errorf("%d callers failed with the first caller's cancellation", left)
	}
	if got := u.calls.Load(); got != 1 {
		t.Errorf("%d API calls for %d identical reads at once, want 1", got, n)
	}
	if _, err := c.Ledger(context.Background(), "tok", "lgr_1"); err != nil || u.calls.Load() != 1 {
		t.Errorf("a read right after: %v, %d calls; want it served from the cache", err, u.calls.Load())
	}
}

// TestReadsAreKeptPerToken: another token's read is its own call; a read is
// kept for the TTL and made again after it.
func TestReadsAreKeptPerToken(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	c, u := newRig(t, Options{Now: func() time.Time { return now }})
	ctx := context.Background()
	for _, tok := range []string{"tok-a", "tok-a", "tok-b", "tok-b"} {
		if _, err := c.RequiredInputs(ctx, tok, "lgr_1"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Ledger(ctx, tok, "lgr_1"); err != nil {
			t.Fatal(err)
		}
	}
	if got := u.calls.Load(); got != 4 {
		t.Fatalf("%d calls, want 4 (ledger and inputs once per token)", got)
	}
	now = now.Add(PageTTL)
	if _, err := c.Ledger(ctx, "tok-a", "lgr_1"); err != nil || u.calls.Load() != 5 {
		t.Fatalf("after the TTL: %v, %d calls; want the read made again", err, u.calls.Load())
	}
}

// TestBatchesChangedDropsListsAndReadsInFlight: a generation drops every
// token's batch lists, and a list read in flight when it happened is not kept.
func TestBatchesChangedDropsListsAndReadsInFlight(t *testing.T) {
	c, u := newRig(t, Options{})
	ctx := context.Background()
	opts := mangrove.ListOptions{Page: 1, PageSize: 25}
	for _, tok := range []string{"tok-a", "tok-b"} {
		if _, err := c.LedgerBatches(ctx, tok, "lgr_1", opts); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Ledger(ctx, "tok-b", "lgr_1"); err != nil {
		t.Fatal(err)
	}
	c.BatchesChanged("tok-a")
	before := u.calls.Load()
	for _, tok := range []string{"tok-a", "tok-b"} {
		if _, err := c.LedgerBatches(ctx, tok, "lgr_1", opts); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Ledger(ctx, "tok-b", "lgr_1"); err != nil {
		t.Fatal(err)
	}
	if got := u.calls.Load() - before; got != 2 {
		t.Fatalf("%d calls after BatchesChanged, want 2: both tokens' lists read again, tok-b's ledger kept", got)
	}

	// A read in flight across an invalidation answers its caller but is not kept.
	c.BatchesChanged("")
	release := u.block()
	joined := make(chan struct{}, 1)
	c.joined = func() { joined <- struct{}{} }
	done := make(chan error, 1)
	go func() { _, err := c.LedgerBatches(ctx, "tok-a", "lgr_1", opts); done <- err }()
	<-joined
	c.joined = nil
	c.BatchesChanged("tok-a")
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	before = u.calls.Load()
	if _, err := c.LedgerBatches(ctx, "tok-a", "lgr_1", opts); err != nil || u.calls.Load() != before+1 {
		t.Fatalf("%v, %d calls: a list read before the generation was kept", err, u.calls.Load()-before)
	}
}

// TestCopiesAreTheCallers: changing what a read returned does not change
// what the next caller gets.
func TestCopiesAreTheCallers(t *testing.T) {
	c, _ := newRig(t, Options{})
	ctx := context.Background()
	l, err := c.Ledger(ctx, "tok", "lgr_1")
	if err != nil {
		t.Fatal(err)
	}
	l.Name = "changed"
	list, err := c.LedgerBatches(ctx, "tok", "lgr_1", mangrove.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	list.Data[0] = mangrove.Batch{ID: "changed"}
	l2, _ := c.Ledger(ctx, "tok", "lgr_1")
	list2, _ := c.LedgerBatches(ctx, "tok", "lgr_1", mangrove.ListOptions{})
	if l2.Name != "Net Carbon Removal" || list2.Data[0].ID != "bat_1" {
		t.Errorf("cached values changed by a caller: %q, %q", l2.Name, list2.Data[0].ID)
	}
}
