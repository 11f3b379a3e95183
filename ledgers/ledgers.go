// Package ledgers reads what the browsing pages show: the ledgers, one
// ledger's page (ledger, required inputs, a page of batches, the output
// chart) and every batch for an export. Ledger metadata and charts are kept
// for a few seconds per token, so moving between pages costs the API little.
package ledgers

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/forms"
	"github.com/carbon-dash/mangrove-dashboard/internal/ttlcache"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// API is what the browsing pages ask of Mangrove (*mangrove.Client implements it).
type API interface {
	Ledgers(ctx context.Context, token string, opts mangrove.ListOptions) (*mangrove.List[mangrove.Ledger], error)
	AllLedgers(ctx context.Context, token string) ([]mangrove.Ledger, error)
	Ledger(ctx context.Context, token, ledgerID string) (*mangrove.Ledger, error)
	RequiredInputs(ctx context.Context, token, ledgerID string) ([]mangrove.RequiredInput, error)
	LedgerBatches(ctx context.Context, token, ledgerID string, opts mangrove.ListOptions) (*mangrove.List[mangrove.Batch], error)
}

// Cache lifetimes and bounds.
const (
	// PageCacheTTL is how long ledger metadata (the list, a ledger, its
	// required inputs) is reused for the same token. Batch lists are not
	// kept (they change while a generation runs); a confirmed generation
	// forgets the token's entries.
	PageCacheTTL = 10 * time.Second
	pageCacheMax = 4096
	// ChartCacheTTL is how long a ledger's chart is reused for the same
	// token, so paging and filtering the table does not read its batches
	// again. Any generation that starts or finishes clears it.
	ChartCacheTTL = 30 * time.Second
	chartCacheMax = 256
)

// Options tune a Service.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time
	// PageCacheTTL overrides PageCacheTTL; negative disables the cache.
	PageCacheTTL time.Duration
}

// Service reads the browsing pages' data.
type Service struct {
	api    API
	log    *slog.Logger
	pages  *ttlcache.Cache[pageKey, any]
	charts *ttlcache.Cache[chartKey, *Chart]
}

type pageKey struct {
	token string // mangrove.TokenHash, never the token
	kind  string // "ledgers", "ledger", "inputs"
	id    string
}

type chartKey struct{ token, ledgerID string }

// New returns the service.
func New(api API, o Options) *Service {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	ttl := o.PageCacheTTL
	if ttl == 0 {
		ttl = PageCacheTTL
	}
	return &Service{
		api:    api,
		log:    o.Logger,
		pages:  ttlcache.New[pageKey, any](ttl, pageCacheMax, o.Now),
		charts: ttlcache.New[chartKey, *Chart](ChartCacheTTL, chartCacheMax, o.Now),
	}
}

// cached returns the fresh cached answer of kind/id for token, or fetches
// and keeps it. Errors are never cached.
func cached[T any](s *Service, token, kind, id string, fetch func() (T, error)) (T, error) {
	v, err := s.pages.GetOrFetch(pageKey{token: mangrove.TokenHash(token), kind: kind, id: id}, func() (any, error) { return fetch() })
	t, _ := v.(T)
	return t, err
}

// Ledgers lists every ledger the token can see; the slice is the caller's.
func (s *Service) Ledgers(ctx context.Context, token string) ([]mangrove.Ledger, error) {
	v, err := cached(s, token, "ledgers", "", func() ([]mangrove.Ledger, error) { return s.api.AllLedgers(ctx, token) })
	return slices.Clone(v), err
}

func (s *Service) ledger(ctx context.Context, token, id string) (*mangrove.Ledger, error) {
	v, err := cached(s, token, "ledger", id, func() (*mangrove.Ledger, error) { return s.api.Ledger(ctx, token, id) })
	if err != nil || v == nil {
		return v, err
	}
	l := *v
	return &l, nil
}

func (s *Service) inputs(ctx context.Context, token, id string) ([]mangrove.RequiredInput, error) {
	v, err := cached(s, token, "inputs", id, func() ([]mangrove.RequiredInput, error) { return s.api.RequiredInputs(ctx, token, id) })
	return slices.Clone(v), err
}

// Page is what a ledger's page shows.
type Page struct {
	Ledger mangrove.Ledger
	// Inputs are the model's required inputs; InputsErr says why they could
	// not be read (the page shows the rest).
	Inputs    []mangrove.RequiredInput
	InputsErr error
	Batches   *mangrove.List[mangrove.Batch]
	// Chart is nil when there is nothing to draw or it could not be read.
	Chart *Chart
}

// LedgerPage reads a ledger, its required inputs and one page of its
// batches at once, then its chart.
func (s *Service) LedgerPage(ctx context.Context, token, id string, q forms.BatchListQuery) (*Page, error) {
	var (
		wg         sync.WaitGroup
		ledger     *mangrove.Ledger
		p          Page
		lerr, berr error
	)
	wg.Add(3)
	go func() { defer wg.Done(); ledger, lerr = s.ledger(ctx, token, id) }()
	go func() { defer wg.Done(); p.Inputs, p.InputsErr = s.inputs(ctx, token, id) }()
	go func() { defer wg.Done(); p.Batches, berr = s.api.LedgerBatches(ctx, token, id, ListOptions(q)) }()
	wg.Wait()
	if lerr != nil {
		return nil, lerr
	}
	if berr != nil {
		return nil, berr
	}
	p.Ledger = *ledger
	// After the page's own calls, not beside them: the chart is extra and
	// must not slow or starve the table.
	p.Chart = s.chart(ctx, token, id, mangrove.Deref(ledger.Unit))
	return &p, nil
}

// ListOptions are the API list options of a batch list query. Batches of
// one period (one per feedstock) tie on time: the tie breaks by id in the
// same direction, so the list reads in a stable order.
func ListOptions(q forms.BatchListQuery) mangrove.ListOptions {
	tie := "id"
	if len(q.Sort) > 0 && q.Sort[0] == '-' {
		tie = "-id"
	}
	opts := mangrove.ListOptions{Page: q.Page, PageSize: q.PageSize, Sort: []string{q.Sort, tie}}
	if q.State != "" {
		opts.Filters = append(opts.Filters, mangrove.Filter{Field: "state", Op: mangrove.OpEq, Value: q.State})
	}
	return opts
}

// BatchesChanged drops what a generation may have made stale: every chart,
// and the token's ledger metadata (token "" keeps the metadata).
func (s *Service) BatchesChanged(token string) {
	s.charts.Clear()
	if token != "" {
		th := mangrove.TokenHash(token)
		s.pages.DeleteFunc(func(k pageKey) bool { return k.token == th })
	}
}

// ClearCaches forgets every cached read, so the next page view asks the
// API again; for load tests and benchmarks that measure the uncached path.
func (s *Service) ClearCaches() {
	s.pages.Clear()
	s.charts.Clear()
}

// CheckToken makes the cheapest call that needs a token, to tell whether
// Mangrove accepts it (sign-in) or answers at all (readiness).
func (s *Service) CheckToken(ctx context.Context, token string) error {
	_, err := s.api.Ledgers(ctx, token, mangrove.ListOptions{Page: 1, PageSize: 1})
	return err
}
