package ledgers

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

const (
	// ChartBatchLimit is how many of the most recent batches the chart
	// shows: chartPages pages of chartPageSize.
	ChartBatchLimit = chartPages * chartPageSize
	chartPages      = 2
	chartPageSize   = 100
	// chartTimeout bounds the chart's reads: it is extra and must not hold
	// the page up.
	chartTimeout = 5 * time.Second
)

// Chart is a ledger's output over time: one point per period start, oldest
// first. A period with several batches (a ledger partitioned by feedstock
// has one per feedstock) shows their summed output, and the output of the
// chart's batches added up from its first period to this one.
//
// The API has no running total: a batch's ledger_balance is its own
// unallocated amount (the reference's batch example: output 100.5, 50.25
// allocated to a report, ledger_balance 50.25), so the chart does not draw
// it. The cumulative output is the dashboard's own sum over the chart's
// window, not the ledger's total since its first batch.
type Chart struct {
	Unit   string
	Points []ChartPoint
	// States are the distinct states of the chart's batches, sorted: the
	// batch filter offers them.
	States []string
}

// ChartPoint is one period of the chart.
type ChartPoint struct {
	Start  time.Time
	Output *float64 // nil when no batch of the period has one
	// Cumulative is the output of the chart's batches up to and including
	// this period; nil until a period has an output.
	Cumulative *float64
	Batches    int
}

// keepChart draws the chart of a ledger's most recent batches and keeps it;
// a failed read (err) leaves the page without a chart.
func (s *Service) keepChart(ctx context.Context, token, ledgerID string, recent []mangrove.Batch, err error, unit string) *Chart {
	if err != nil {
		if ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			s.log.Warn("loading the chart's batches failed", "ledger_id", ledgerID, "err", err)
		}
		return nil
	}
	c := ChartOf(recent, unit)
	s.charts.Put(chartKey{token: mangrove.TokenHash(token), ledgerID: ledgerID}, c)
	return c
}

// recentRead is the chart's pages of a ledger's batches, newest first. The
// coverage starts from them too.
type recentRead struct {
	batches []mangrove.Batch
	// more says the list goes on after them; total is its page count when
	// the API gives one, else 0.
	more  bool
	total int
}

// recentOptions are page n of a ledger's batches, most recent first: the
// chart's pages and the coverage's further ones, so they share the cache.
func recentOptions(n int) mangrove.ListOptions {
	return mangrove.ListOptions{Page: n, PageSize: chartPageSize, Sort: []string{"-start_time", "-id"}}
}

// recentBatches reads the most recent batches by period start, whatever the
// table's filters and page: its chartPages pages at once, so the chart costs
// no round of calls after the table's. A page past the last comes back
// empty. The reads are bounded by chartTimeout: the chart is extra and must
// not hold the page up.
func (s *Service) recentBatches(ctx context.Context, token, ledgerID string) (recentRead, error) {
	ctx, cancel := context.WithTimeout(ctx, chartTimeout)
	defer cancel()
	pages := make([]*mangrove.List[mangrove.Batch], chartPages)
	errs := make([]error, chartPages)
	var wg sync.WaitGroup
	for i := range pages {
		wg.Go(func() { pages[i], errs[i] = s.api.LedgerBatches(ctx, token, ledgerID, recentOptions(i+1)) })
	}
	wg.Wait()
	var r recentRead
	for i, l := range pages {
		if errs[i] != nil {
			return recentRead{}, errs[i]
		}
		if i == 0 && l.Info != nil {
			r.total = l.Info.TotalPages
		}
		r.batches = append(r.batches, l.Data...)
		if _, r.more = l.NextPageAfter(i + 1); !r.more {
			break
		}
	}
	return r, nil
}

// ChartOf turns batches into the chart; it is nil when nothing can be drawn
// (no batch has an output).
func ChartOf(batches []mangrove.Batch, ledgerUnit string) *Chart {
	sorted := slices.Clone(batches)
	slices.SortStableFunc(sorted, func(a, b mangrove.Batch) int {
		if c := a.StartTime.Compare(b.StartTime); c != 0 {
			return c
		}
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(mangrove.Deref(a.TrackingID)+"\x00"+a.ID, mangrove.Deref(b.TrackingID)+"\x00"+b.ID)
	})
	c := &Chart{Unit: ledgerUnit}
	drawable := false
	for _, b := range sorted {
		n := len(c.Points)
		if n == 0 || !c.Points[n-1].Start.Equal(b.StartTime) {
			c.Points = append(c.Points, ChartPoint{Start: b.StartTime})
			n++
		}
		pt := &c.Points[n-1]
		pt.Batches++
		if b.State != "" && !slices.Contains(c.States, b.State) {
			c.States = append(c.States, b.State)
		}
		if o := b.Result(); o != nil { // a failed batch adds nothing
			sum := o.Value
			if pt.Output != nil {
				sum += *pt.Output
			}
			pt.Output = &sum
			if c.Unit == "" {
				c.Unit = o.Unit
			}
			drawable = true
		}
	}
	if !drawable {
		return nil
	}
	var total *float64
	for i := range c.Points {
		if o := c.Points[i].Output; o != nil {
			v := *o
			if total != nil {
				v += *total
			}
			total = &v
		}
		c.Points[i].Cumulative = total
	}
	slices.Sort(c.States)
	return c
}
