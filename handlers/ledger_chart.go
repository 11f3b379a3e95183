package handlers

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/views"
)

// The vendored uPlot files (static/vendor/MANIFEST.md).
const (
	uplotJS  = "vendor/uPlot-1.6.32.iife.min.js"
	uplotCSS = "vendor/uPlot-1.6.32.min.css"
)

// chartBatchLimit is how many of the most recent batches the ledger
// page's chart shows: two pages of 100, read once per page view.
const chartBatchLimit = 200

// chartCacheTTL is how long a ledger's chart is reused for the same token,
// so paging and filtering the table does not read 200 batches each time.
// Any generation that starts or finishes clears the cache.
const chartCacheTTL = 30 * time.Second

// chartCache keeps recent chart data per token and ledger.
type chartCache struct {
	mu      sync.Mutex
	entries map[string]chartEntry
}

type chartEntry struct {
	data *views.ChartData
	at   time.Time
}

func newChartCache() *chartCache { return &chartCache{entries: map[string]chartEntry{}} }

func (cc *chartCache) get(key string, now time.Time) (*views.ChartData, bool) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	e, ok := cc.entries[key]
	if !ok || now.Sub(e.at) > chartCacheTTL || now.Before(e.at) {
		return nil, false
	}
	return e.data, true
}

func (cc *chartCache) put(key string, d *views.ChartData, now time.Time) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if len(cc.entries) >= 256 {
		for k, e := range cc.entries {
			if now.Sub(e.at) > chartCacheTTL || len(cc.entries) >= 256 {
				delete(cc.entries, k)
			}
		}
	}
	cc.entries[key] = chartEntry{data: d, at: now}
}

// clear forgets every chart: batches changed.
func (cc *chartCache) clear() {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	clear(cc.entries)
}

// ledgerChart returns the chart of a ledger's most recent batches, from the
// cache or the API. It is read after the page's own calls, not beside them:
// the chart is extra and must not slow or starve the table. A failure
// leaves the page without a chart.
func (h *Handlers) ledgerChart(ctx context.Context, token, ledgerID, unit string) *views.ChartData {
	key := tokenHash(token) + "\x00" + ledgerID
	if d, ok := h.charts.get(key, h.now()); ok {
		return d
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	batches, err := h.chartBatches(ctx, token, ledgerID)
	if err != nil {
		if ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			h.log.Warn("loading the chart's batches failed", "ledger_id", ledgerID, "err", err)
		}
		return nil
	}
	d := chartData(batches, unit)
	h.charts.put(key, d, h.now())
	return d
}

// chartBatches reads the most recent batches by period start, whatever
// the table's filters and page, for the chart.
func (h *Handlers) chartBatches(ctx context.Context, token, ledgerID string) ([]mangrove.Batch, error) {
	var out []mangrove.Batch
	for page := 1; len(out) < chartBatchLimit; page++ {
		list, err := h.client.LedgerBatches(ctx, token, ledgerID, mangrove.ListOptions{
			Page: page, PageSize: 100, Sort: []string{"-start_time"},
		})
		if err != nil {
			return nil, err
		}
		out = append(out, list.Data...)
		if list.Info == nil || list.Info.NextPage == nil || len(list.Data) == 0 {
			break
		}
	}
	if len(out) > chartBatchLimit {
		out = out[:chartBatchLimit]
	}
	return out, nil
}

// chartData turns batches into the chart's columns, one point per period
// start, oldest first. A period with several batches (a ledger partitioned
// by feedstock has one per feedstock) shows their summed output and the
// balance after its last batch. It is nil when nothing can be drawn.
func chartData(batches []mangrove.Batch, ledgerUnit string) *views.ChartData {
	sorted := slices.Clone(batches)
	slices.SortStableFunc(sorted, func(a, b mangrove.Batch) int {
		if c := a.StartTime.Compare(b.StartTime); c != 0 {
			return c
		}
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(deref(a.TrackingID)+"\x00"+a.ID, deref(b.TrackingID)+"\x00"+b.ID)
	})
	d := &views.ChartData{Unit: ledgerUnit}
	drawable := false
	for _, b := range sorted {
		x := b.StartTime.Unix()
		n := len(d.Start)
		if n == 0 || d.Start[n-1] != x {
			d.Start = append(d.Start, x)
			d.Output = append(d.Output, nil)
			d.Balance = append(d.Balance, nil)
			d.Batches = append(d.Batches, 0)
			n++
		}
		i := n - 1
		d.Batches[i]++
		if b.PrimaryOutput != nil {
			sum := b.PrimaryOutput.Value
			if d.Output[i] != nil {
				sum += *d.Output[i]
			}
			d.Output[i] = &sum
			if d.Unit == "" {
				d.Unit = b.PrimaryOutput.Unit
			}
			drawable = true
		}
		if b.LedgerBalance != nil {
			v := *b.LedgerBalance
			d.Balance[i] = &v
			drawable = true
		}
	}
	if !drawable {
		return nil
	}
	return d
}

// batchesExportURL is the CSV download of the batches matching the page's
// filters and sort.
func batchesExportURL(ledgerID string, q BatchListQuery) string {
	v := url.Values{}
	v.Set("sort", q.Sort)
	if q.State != "" {
		v.Set("state", q.State)
	}
	return views.LedgerBatchesCSVPath(ledgerID) + "?" + v.Encode()
}
