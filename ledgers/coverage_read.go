package ledgers

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

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
	// coverageMaxProjects bounds the projects whose events date the data; a
	// token that sees more leaves the data's range unknown.
	coverageMaxProjects = 5
	// dataRangeTTL is how long a token's data range is reused: data is
	// recorded days apart, and no generation changes it.
	dataRangeTTL = 5 * time.Minute
)

// coverageReads are the page's first-round reads the coverage starts from.
type coverageReads struct {
	recent    recentRead
	recentErr error
	// data is the token's kept data range when dataKept; else projects (or
	// projectsErr) are the token's projects, whose events date it.
	data        DataRange
	dataKept    bool
	projects    []mangrove.Project
	projectsErr error
}

// keepCoverage builds the ledger's coverage and keeps it with the chart; nil
// when the batches could not be read. What the chart's pages lack is read in
// one more round, all at once: older pages, when the ledger has more batches
// in its last CoveragePeriods periods than the chart reads, and the data's
// range, when the token's is not kept. Neither fits in the page's first
// round: how far the list goes is known from the chart's first page, and
// the events that date the data are listed per project, known from the
// projects list (a ledger does not name its project).
func (s *Service) keepCoverage(ctx context.Context, token string, l mangrove.Ledger, r coverageReads) *Coverage {
	if r.recentErr != nil {
		s.logReadFailure(ctx, "loading the coverage's batches failed", r.recentErr, "ledger_id", l.ID)
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, chartTimeout)
	defer cancel()
	in := CoverageInput{Ledger: l, Batches: r.recent.batches, Data: r.data, Now: s.now()}
	var (
		wg       sync.WaitGroup
		older    []mangrove.Batch
		olderErr error
	)
	if since, ok := olderSince(l, r.recent); ok {
		wg.Go(func() { older, in.Truncated, olderErr = s.olderBatches(ctx, token, l.ID, r.recent.total, since) })
	}
	if !r.dataKept {
		wg.Go(func() { in.Data = s.keepDataRange(ctx, token, r.projects, r.projectsErr) })
	}
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

// keepDataRange dates the data of the token's projects by their oldest and
// newest events, and keeps it for dataRangeTTL. A ledger does not name its
// project, so every project the token sees counts; past
// coverageMaxProjects, or when a read fails, the range is unknown.
func (s *Service) keepDataRange(ctx context.Context, token string, projects []mangrove.Project, err error) DataRange {
	if err != nil || len(projects) > coverageMaxProjects {
		if err != nil {
			s.logReadFailure(ctx, "loading the projects for the data's range failed", err)
		}
		return DataRange{}
	}
	ends := make([]DataRange, len(projects))
	errs := make([]error, 2*len(projects))
	var wg sync.WaitGroup
	for i, p := range projects {
		wg.Go(func() { ends[i].First, errs[2*i] = s.firstEventStart(ctx, token, p.ID, "start_time") })
		wg.Go(func() { ends[i].Last, errs[2*i+1] = s.firstEventStart(ctx, token, p.ID, "-start_time") })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		s.logReadFailure(ctx, "loading the events for the data's range failed", err)
		return DataRange{}
	}
	d := DataRange{Known: true}
	for _, e := range ends {
		if !e.First.IsZero() && (d.First.IsZero() || e.First.Before(d.First)) {
			d.First = e.First
		}
		if e.Last.After(d.Last) {
			d.Last = e.Last
		}
	}
	s.dataRanges.Put(mangrove.TokenHash(token), d)
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
