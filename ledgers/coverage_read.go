package ledgers

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/carbon-dash/mangrove-dashboard/internal/owners"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// Coverage reading limits.
const (
	// CoverageMaxBatches bounds the batches read for the coverage: a ledger
	// with more in its last CoveragePeriods periods shows fewer periods, and
	// the page says so.
	CoverageMaxBatches = coverageMaxPages * chartPageSize
	coverageMaxPages   = 20
	// coverageConcurrency is how many of the pages after the chart's are
	// read at once: the page waits for them, but they share the token's
	// rate limit with everything else the user does.
	coverageConcurrency = 4
	// coverageMaxProjects bounds the projects whose events are read beside
	// their models, before the ledger's project is known; a token that sees
	// more has its ledger's project told first, then only its events read.
	coverageMaxProjects = 5
	// dataRangeTTL is how long a project's data range is reused: data is
	// recorded days apart, and no generation changes it.
	dataRangeTTL = 5 * time.Minute
)

// coverageReads are the page's first-round reads the coverage starts from.
type coverageReads struct {
	recent    recentRead
	recentErr error
	// owners tell the token's ledgers' projects when ownersKept; else
	// projects (or projectsErr) are the token's projects, whose models tell
	// them.
	owners      *owners.Owners
	ownersKept  bool
	projects    []mangrove.Project
	projectsErr error
}

// rangeKey is one project's data range for one token (by its hash).
type rangeKey struct {
	token     string
	projectID int64
}

// keepCoverage builds the ledger's coverage and keeps it with the chart; nil
// when the batches could not be read. What the chart's pages lack is read in
// one more round, all at once: older pages, when the ledger has more batches
// in its last CoveragePeriods periods than the chart reads, and the data's
// range of the ledger's project, when it is not kept. Neither fits in the
// page's first round: how far the list goes is known from the chart's first
// page, and the events that date the data are listed per project, known from
// the projects list (a ledger does not name its project: dataRange).
func (s *Service) keepCoverage(ctx context.Context, token string, l mangrove.Ledger, r coverageReads) *Coverage {
	if r.recentErr != nil {
		s.logReadFailure(ctx, "loading the coverage's batches failed", r.recentErr, "ledger_id", l.ID)
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, chartTimeout)
	defer cancel()
	in := CoverageInput{Ledger: l, Batches: r.recent.batches, Now: s.now()}
	var (
		wg       sync.WaitGroup
		older    []mangrove.Batch
		olderErr error
	)
	if since, ok := olderSince(l, r.recent); ok {
		wg.Go(func() { older, in.Truncated, olderErr = s.olderBatches(ctx, token, l.ID, r.recent.total, since) })
	}
	wg.Go(func() { in.Data = s.dataRange(ctx, token, l, r) })
	wg.Wait()
	if olderErr != nil {
		s.logReadFailure(ctx, "loading the coverage's older batches failed", olderErr, "ledger_id", l.ID)
		return nil
	}
	in.Batches = append(in.Batches, older...)
	cov := CoverageOf(in)
	s.coverages.Put(chartKey{token: mangrove.TokenHash(token), ledgerID: l.ID}, cov)
	return cov
}

// logReadFailure logs a failed read for the coverage, unless the visitor
// left.
func (s *Service) logReadFailure(ctx context.Context, msg string, err error, attrs ...any) {
	if ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		s.log.Warn(msg, append(attrs, "err", err)...)
	}
}

// olderSince is the start of the oldest period the coverage may show, going
// by the batches read, when the list goes on and those batches do not reach
// back to it. The data's range can only move the window later, so reading
// back to since is enough.
func olderSince(l mangrove.Ledger, r recentRead) (time.Time, bool) {
	if !r.more || len(r.batches) == 0 {
		return time.Time{}, false
	}
	c, ok := coverageCadence(l, r.batches)
	if !ok {
		return time.Time{}, false
	}
	since := c.Start(r.batches[0].StartTime)
	for range CoveragePeriods - 1 {
		since = c.Prev(since)
	}
	return since, !r.batches[len(r.batches)-1].StartTime.Before(since)
}

// olderBatches reads the pages after the chart's, coverageConcurrency at a
// time, until one reaches back before since or is the last, and at most up
// to page coverageMaxPages; truncated says the list went on past that. A
// page is not requested once an earlier one has ended the reading.
func (s *Service) olderBatches(ctx context.Context, token, ledgerID string, total int, since time.Time) (batches []mangrove.Batch, truncated bool, err error) {
	first, last := chartPages+1, coverageMaxPages
	if total > 0 {
		last = min(total, coverageMaxPages)
	}
	if last < first {
		return nil, false, nil
	}
	pages := make([]*mangrove.List[mangrove.Batch], last-first+1)
	var stop atomic.Int64 // the page that ended the reading, or last
	stop.Store(int64(last))
	var ended atomic.Bool
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(coverageConcurrency)
	for n := first; n <= last; n++ {
		g.Go(func() error {
			if int64(n) > stop.Load() {
				return nil
			}
			l, err := s.api.LedgerBatches(gctx, token, ledgerID, recentOptions(n))
			if err != nil {
				return err
			}
			pages[n-first] = l
			if _, more := l.NextPageAfter(n); !more || reachesBefore(l.Data, since) {
				ended.Store(true)
				lowerTo(&stop, int64(n))
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, false, err
	}
	for _, l := range pages[:stop.Load()-int64(first)+1] {
		batches = append(batches, l.Data...)
	}
	return batches, !ended.Load(), nil
}

// reachesBefore says a page, newest first, ends before since.
func reachesBefore(page []mangrove.Batch, since time.Time) bool {
	return len(page) > 0 && page[len(page)-1].StartTime.Before(since)
}

// lowerTo sets v to n when n is lower.
func lowerTo(v *atomic.Int64, n int64) {
	for cur := v.Load(); n < cur && !v.CompareAndSwap(cur, n); cur = v.Load() {
	}
}

// dataRange dates the data of the ledger's project by its oldest and newest
// events. The ledger's project is told by internal/owners (one project owns
// every ledger; among several, the one whose models list the ledger's
// model); the owners (owners.Cache, shared with the preview) and each
// project's range (dataRangeTTL) are kept, so another ledger of the token's
// costs no call. When the token's owners are
// not kept yet, the projects' models and (up to coverageMaxProjects
// projects) their events are read at once, so the page waits one round; with
// more projects the ledger's project is told first, then only its events
// read. A ledger whose project cannot be told, or a failed read, leaves the
// range unknown: another project's data would date it wrongly.
func (s *Service) dataRange(ctx context.Context, token string, l mangrove.Ledger, r coverageReads) DataRange {
	th := mangrove.TokenHash(token)
	o := r.owners
	if !r.ownersKept {
		if r.projectsErr != nil {
			s.logReadFailure(ctx, "loading the projects for the data's range failed", r.projectsErr)
			return DataRange{}
		}
		if len(r.projects) > 1 && len(r.projects) <= coverageMaxProjects {
			var wg sync.WaitGroup
			wg.Go(func() { o = owners.Read(ctx, s.api, token, r.projects) })
			for _, p := range r.projects {
				wg.Go(func() { s.projectRange(ctx, token, th, p.ID) })
			}
			wg.Wait()
		} else {
			o = owners.Read(ctx, s.api, token, r.projects)
		}
		if err := o.Err(); err != nil {
			s.logReadFailure(ctx, "telling the ledgers' projects for the data's range failed", err)
			return DataRange{}
		}
		s.owners.Put(token, o)
	}
	p, ok := o.Of(l)
	if !ok {
		return DataRange{}
	}
	if d, ok := s.dataRanges.Get(rangeKey{th, p.ID}); ok {
		return d
	}
	return s.projectRange(ctx, token, th, p.ID)
}

// projectRange reads a project's data range and keeps it; unknown when a
// read fails.
func (s *Service) projectRange(ctx context.Context, token, th string, projectID int64) DataRange {
	var (
		d          = DataRange{Known: true}
		ferr, lerr error
		wg         sync.WaitGroup
	)
	wg.Go(func() { d.First, ferr = s.firstEventStart(ctx, token, projectID, "start_time") })
	wg.Go(func() { d.Last, lerr = s.firstEventStart(ctx, token, projectID, "-start_time") })
	wg.Wait()
	if err := errors.Join(ferr, lerr); err != nil {
		s.logReadFailure(ctx, "loading the events for the data's range failed", err, "project_id", projectID)
		return DataRange{}
	}
	s.dataRanges.Put(rangeKey{th, projectID}, d)
	return d
}

// firstEventStart is the start time of a project's first event in the
// given order; zero when it has none.
func (s *Service) firstEventStart(ctx context.Context, token string, projectID int64, sort string) (time.Time, error) {
	l, err := s.api.ProjectEvents(ctx, token, projectID, mangrove.ListOptions{Page: 1, PageSize: 1, Sort: []string{sort}})
	if err != nil || len(l.Data) == 0 {
		return time.Time{}, err
	}
	return l.Data[0].StartTime, nil
}
