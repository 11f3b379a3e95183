// Package ledgers reads what the browsing pages show: the ledgers, one
// ledger's page (ledger, required inputs, a page of batches, the output
// chart, the coverage), one batch's page and every batch for an export. The
// API it is given keeps reads for a few seconds per token
// (internal/apicache); the charts and coverages drawn from them are kept
// here, so moving between pages costs the API little.
package ledgers

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/forms"
	"github.com/carbon-dash/mangrove-dashboard/internal/owners"
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
	Batch(ctx context.Context, token, batchID string) (*mangrove.BatchDetail, error)
	// Projects and ProjectEvents date the data the coverage runs to;
	// ProjectModels tells a ledger's project (internal/owners), for the
	// coverage and the ledgers list.
	Projects(ctx context.Context, token string) ([]mangrove.Project, error)
	ProjectModels(ctx context.Context, token string, projectID int64) ([]mangrove.Model, error)
	ProjectEvents(ctx context.Context, token string, projectID int64, opts mangrove.ListOptions) (*mangrove.List[mangrove.Event], error)
}

// Chart cache lifetime and bound.
const (
	// ChartCacheTTL is how long a ledger's chart and coverage are reused
	// for the same token, so paging and filtering the table does not read
	// its batches again. Any generation that starts or finishes clears them.
	ChartCacheTTL = 30 * time.Second
	chartCacheMax = 256
)

// Options tune a Service.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time
	// Owners, when set, is the cache of which project a token's ledgers
	// belong to, shared with the preview; nil uses a private one.
	Owners *owners.Cache
}

// Service reads the browsing pages' data.
type Service struct {
	api        API
	log        *slog.Logger
	now        func() time.Time
	charts     *ttlcache.Cache[chartKey, *Chart]
	coverages  *ttlcache.Cache[chartKey, *Coverage]
	dataRanges *ttlcache.Cache[rangeKey, DataRange]
	owners     *owners.Cache
}

type chartKey struct{ token, ledgerID string }

// New returns the service.
func New(api API, o Options) *Service {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Owners == nil {
		o.Owners = owners.NewCache(o.Now)
	}
	return &Service{
		api:        api,
		log:        o.Logger,
		now:        o.Now,
		charts:     ttlcache.New[chartKey, *Chart](ChartCacheTTL, chartCacheMax, o.Now),
		coverages:  ttlcache.New[chartKey, *Coverage](ChartCacheTTL, chartCacheMax, o.Now),
		dataRanges: ttlcache.New[rangeKey, DataRange](dataRangeTTL, chartCacheMax, o.Now),
		owners:     o.Owners,
	}
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
	// Coverage is nil when the batches could not be read.
	Coverage *Coverage
}

// LedgerPage reads a ledger, its required inputs, one page of its batches,
// its chart and what its coverage needs all at once: one round of API
// calls. The coverage may need one more (keepCoverage); the chart and the
// coverage are kept, so a repeated view makes only the table's call.
func (s *Service) LedgerPage(ctx context.Context, token, id string, q forms.BatchListQuery) (*Page, error) {
	var (
		wg         sync.WaitGroup
		ledger     *mangrove.Ledger
		p          Page
		cov        coverageReads
		lerr, berr error
	)
	key := chartKey{token: mangrove.TokenHash(token), ledgerID: id}
	chart, chartKept := s.charts.Get(key)
	coverage, coverageKept := s.coverages.Get(key)
	cov.owners, cov.ownersKept = s.owners.Get(token)
	wg.Go(func() { ledger, lerr = s.api.Ledger(ctx, token, id) })
	wg.Go(func() { p.Inputs, p.InputsErr = s.api.RequiredInputs(ctx, token, id) })
	wg.Go(func() { p.Batches, berr = s.api.LedgerBatches(ctx, token, id, ListOptions(q)) })
	if !chartKept || !coverageKept {
		wg.Go(func() { cov.recent, cov.recentErr = s.recentBatches(ctx, token, id) })
	}
	if !coverageKept && !cov.ownersKept {
		wg.Go(func() { cov.projects, cov.projectsErr = s.api.Projects(ctx, token) })
	}
	wg.Wait()
	if lerr != nil {
		return nil, lerr
	}
	if berr != nil {
		return nil, berr
	}
	p.Ledger = *ledger
	p.Chart, p.Coverage = chart, coverage
	if !chartKept {
		recent := cov.recent.batches[:min(len(cov.recent.batches), ChartBatchLimit)]
		p.Chart = s.keepChart(ctx, token, id, recent, cov.recentErr, mangrove.Deref(ledger.Unit))
	}
	if !coverageKept {
		p.Coverage = s.keepCoverage(ctx, token, *ledger, cov)
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

// BatchesChanged drops every chart and coverage: a generation may have
// changed them. The token is the generation's (unused: those of every
// token go). The data's ranges and the ledgers' projects stay: a
// generation records no data and moves no ledger.
func (s *Service) BatchesChanged(string) {
	s.charts.Clear()
	s.coverages.Clear()
}

// ClearCaches forgets every chart, coverage, data range and ledgers'
// project, so the next page view reads them again; for load tests and
// benchmarks that measure the uncached path.
func (s *Service) ClearCaches() {
	s.BatchesChanged("")
	s.dataRanges.Clear()
	s.owners.Clear()
}

// CheckToken makes the cheapest call that needs a token, to tell whether
// Mangrove accepts it (sign-in) or answers at all (readiness).
func (s *Service) CheckToken(ctx context.Context, token string) error {
	_, err := s.api.Ledgers(ctx, token, mangrove.ListOptions{Page: 1, PageSize: 1})
	return err
}
