// Package ledgers reads what the browsing pages show: the ledgers, one
// ledger's page (ledger, required inputs, a page of batches, the output
// chart) and every batch for an export. The API it is given keeps reads for
// a few seconds per token (internal/apicache); the charts drawn from them
// are kept here, so moving between pages costs the API little.
package ledgers

import (
	"context"
	"log/slog"
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

// Chart cache lifetime and bound.
const (
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
}

// Service reads the browsing pages' data.
type Service struct {
	api    API
	log    *slog.Logger
	charts *ttlcache.Cache[chartKey, *Chart]
}

type chartKey struct{ token, ledgerID string }

// New returns the service.
func New(api API, o Options) *Service {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{
		api:    api,
		log:    o.Logger,
		charts: ttlcache.New[chartKey, *Chart](ChartCacheTTL, chartCacheMax, o.Now),
	}
}

// Ledgers lists every ledger the token can see.
func (s *Service) Ledgers(ctx context.Context, token string) ([]mangrove.Ledger, error) {
	return s.api.AllLedgers(ctx, token)
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

// LedgerPage reads a ledger, its required inputs, one page of its batches
// and its chart all at once: one round of API calls.
func (s *Service) LedgerPage(ctx context.Context, token, id string, q forms.BatchListQuery) (*Page, error) {
	var (
		wg         sync.WaitGroup
		ledger     *mangrove.Ledger
		p          Page
		recent     []mangrove.Batch
		lerr, berr error
		cerr       error
	)
	chart, cached := s.charts.Get(chartKey{token: mangrove.TokenHash(token), ledgerID: id})
	wg.Go(func() { ledger, lerr = s.api.Ledger(ctx, token, id) })
	wg.Go(func() { p.Inputs, p.InputsErr = s.api.RequiredInputs(ctx, token, id) })
	wg.Go(func() { p.Batches, berr = s.api.LedgerBatches(ctx, token, id, ListOptions(q)) })
	if !cached {
		wg.Go(func() { recent, cerr = s.recentBatches(ctx, token, id) })
	}
	wg.Wait()
	if lerr != nil {
		return nil, lerr
	}
	if berr != nil {
		return nil, berr
	}
	p.Ledger = *ledger
	p.Chart = chart
	if !cached {
		p.Chart = s.keepChart(ctx, token, id, recent, cerr, mangrove.Deref(ledger.Unit))
	}
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

// BatchesChanged drops every chart: a generation may have changed them.
// The token is the generation's (unused: charts of every token go).
func (s *Service) BatchesChanged(string) { s.charts.Clear() }

// ClearCaches forgets every chart, so the next page view draws it again;
// for load tests and benchmarks that measure the uncached path.
func (s *Service) ClearCaches() { s.charts.Clear() }

// CheckToken makes the cheapest call that needs a token, to tell whether
// Mangrove accepts it (sign-in) or answers at all (readiness).
func (s *Service) CheckToken(ctx context.Context, token string) error {
	_, err := s.api.Ledgers(ctx, token, mangrove.ListOptions{Page: 1, PageSize: 1})
	return err
}
