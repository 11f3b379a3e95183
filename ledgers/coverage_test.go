package ledgers

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/forms"
	"github.com/carbon-dash/mangrove-dashboard/internal/testkit"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// The demo project's events, as countingAPI lists them: Jan 2024 to Mar 2025.
var (
	demoFirstEvent = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	demoLastEvent  = time.Date(2025, 3, 28, 0, 0, 0, 0, time.UTC)
)

func (a *countingAPI) Projects(context.Context, string) ([]mangrove.Project, error) {
	a.count("projects")
	return []mangrove.Project{{ID: 101, Name: "Cedar Ridge Biochar"}}, nil
}

func (a *countingAPI) ProjectEvents(_ context.Context, _ string, _ int64, o mangrove.ListOptions) (*mangrove.List[mangrove.Event], error) {
	a.count("events")
	start := demoLastEvent
	if len(o.Sort) > 0 && o.Sort[0] == "start_time" {
		start = demoFirstEvent
	}
	return &mangrove.List[mangrove.Event]{Data: []mangrove.Event{{ID: "evt_1", StartTime: start}}}, nil
}

func (b *barrierAPI) Projects(ctx context.Context, tok string) ([]mangrove.Project, error) {
	if err := b.Hold(ctx); err != nil {
		return nil, err
	}
	return b.countingAPI.Projects(ctx, tok)
}

func (b *barrierAPI) ProjectEvents(ctx context.Context, tok string, id int64, o mangrove.ListOptions) (*mangrove.List[mangrove.Event], error) {
	if err := b.Hold(ctx); err != nil {
		return nil, err
	}
	return b.countingAPI.ProjectEvents(ctx, tok, id, o)
}

func month(y int, m time.Month) time.Time { return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC) }

// feedstocks is a batch's feedstocks as the sandbox sends them.
func feedstocks(names ...string) []json.RawMessage {
	var out []json.RawMessage
	for i, n := range names {
		out = append(out, json.RawMessage(fmt.Sprintf(`{"id": %d, "name": %q}`, i+1, n)))
	}
	return out
}

// monthly is one batch per month from..to and per feedstock, newest first,
// ending at the last second of the month as the API shows it.
func monthly(from, to time.Time, state string, fs ...string) []mangrove.Batch {
	var out []mangrove.Batch
	for m := from; !m.After(to); m = m.AddDate(0, 1, 0) {
		for _, f := range fs {
			out = append(out, mangrove.Batch{ID: m.Format("2006-01") + f, StartTime: m, EndTime: m.AddDate(0, 1, 0).Add(-time.Second),
				State: state, Feedstocks: feedstocks(f)})
		}
	}
	slices.Reverse(out)
	return out
}

// withState sets the state of the batches of one month and feedstock.
func withState(bs []mangrove.Batch, m time.Time, f, state string) []mangrove.Batch {
	for i := range bs {
		if bs[i].StartTime.Equal(m) && mangrove.Names(bs[i].Feedstocks)[0] == f {
			bs[i].State = state
		}
	}
	return bs
}

func ptr[T any](v T) *T { return &v }

// grid shows a coverage compactly: one "start: states" line per period, a
// state's first letter per partition ("m" missing).
func grid(c *Coverage) []string {
	var out []string
	for _, p := range c.Periods {
		var s strings.Builder
		for _, cell := range p.Cells {
			s.WriteByte(cell[0])
		}
		out = append(out, p.Start.Format(time.DateOnly)+": "+s.String())
	}
	return out
}

func gapText(c *Coverage) []string {
	var out []string
	for _, g := range c.Gaps {
		out = append(out, g.Start.Format(time.DateOnly)+".."+g.End.Format(time.DateOnly))
	}
	return out
}

func TestCoverageOf(t *testing.T) {
	now := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	ncr := mangrove.Ledger{ID: "lgr_1", Name: "Net Carbon Removal", Cadence: ptr("monthly"), PartitionType: ptr("feedstock")}
	demo := DataRange{First: demoFirstEvent, Last: demoLastEvent, Known: true}
	tests := []struct {
		name           string
		in             CoverageInput
		cadence        mangrove.Cadence
		inferred       bool
		partitions     []string
		first, last    string // the periods' first and last line of grid
		periods        int
		gaps           []string
		truncated      bool
		withoutPeriods bool
	}{
		{
			name: "SeededLedger",
			in: CoverageInput{Ledger: ncr, Data: demo, Now: now,
				Batches: withState(monthly(month(2024, 1), month(2024, 12), "complete", "Wood chips", "Nut shells"), month(2024, 8), "Nut shells", "error")},
			cadence: mangrove.CadenceMonthly, partitions: []string{"Nut shells", "Wood chips"},
			first: "2024-01-01: cc", last: "2025-03-01: mm", periods: 15,
			gaps: []string{"2024-08-01..2024-09-01", "2025-01-01..2025-04-01"},
		},
		{
			name: "DataUnknownEndsAtTheLatestBatch",
			in: CoverageInput{Ledger: ncr, Now: now,
				Batches: monthly(month(2024, 1), month(2024, 12), "complete", "Wood chips")},
			cadence: mangrove.CadenceMonthly, partitions: []string{"Wood chips"},
			first: "2024-01-01: c", last: "2024-12-01: c", periods: 12,
		},
		{
			name: "Last24Periods",
			in: CoverageInput{Ledger: ncr, Now: now, Data: DataRange{Known: true},
				Batches: monthly(month(2019, 1), month(2024, 12), "complete", "Wood chips")},
			cadence: mangrove.CadenceMonthly, partitions: []string{"Wood chips"},
			first: "2023-01-01: c", last: "2024-12-01: c", periods: CoveragePeriods,
		},
		{
			name: "DataBeforeTheFirstBatch",
			in: CoverageInput{Ledger: ncr, Now: now, Data: DataRange{First: time.Date(2024, 10, 3, 0, 0, 0, 0, time.UTC), Last: time.Date(2025, 1, 9, 0, 0, 0, 0, time.UTC), Known: true},
				Batches: monthly(month(2024, 12), month(2024, 12), "complete", "Wood chips")},
			cadence: mangrove.CadenceMonthly, partitions: []string{"Wood chips"},
			first: "2024-10-01: m", last: "2025-01-01: m", periods: 4,
			gaps: []string{"2024-10-01..2024-12-01", "2025-01-01..2025-02-01"},
		},
		{
			name: "FutureDataStopsAtNow",
			in: CoverageInput{Ledger: ncr, Now: now, Data: DataRange{First: month(2026, 10), Last: month(2027, 6), Known: true},
				Batches: monthly(month(2026, 10), month(2026, 10), "complete", "Wood chips")},
			cadence: mangrove.CadenceMonthly, partitions: []string{"Wood chips"},
			first: "2026-10-01: c", last: "2026-12-01: m", periods: 3,
			gaps: []string{"2026-11-01..2027-01-01"},
		},
		{
			name: "ErrorThenMissingIsOneStretch",
			in: CoverageInput{Ledger: ncr, Now: now,
				Batches: withState(slices.Concat(monthly(month(2024, 10), month(2024, 10), "complete", "A"), monthly(month(2024, 1), month(2024, 8), "complete", "A")),
					month(2024, 8), "A", "failed")},
			cadence: mangrove.CadenceMonthly, partitions: []string{"A"},
			first: "2024-01-01: c", last: "2024-10-01: c", periods: 10,
			gaps: []string{"2024-08-01..2024-10-01"},
		},
		{
			name: "WorstStateOfACellWins",
			in: CoverageInput{Ledger: mangrove.Ledger{Cadence: ptr("monthly"), PartitionType: ptr("time")}, Now: now, Batches: []mangrove.Batch{
				{StartTime: month(2025, 1), State: "complete"}, {StartTime: month(2025, 1), State: "processing"},
				{StartTime: month(2025, 2), State: "complete"}, {StartTime: month(2025, 2), State: ""},
				{StartTime: month(2025, 3), State: "running"}, {StartTime: month(2025, 3), State: "error"},
			}},
			cadence: mangrove.CadenceMonthly, partitions: []string{AllPartitions},
			first: "2025-01-01: p", last: "2025-03-01: e", periods: 3,
			gaps: []string{"2025-03-01..2025-04-01"},
		},
		{
			name: "NotPartitionedByFeedstock",
			in: CoverageInput{Ledger: mangrove.Ledger{Cadence: ptr("Monthly"), PartitionType: ptr("time")}, Now: now, Batches: []mangrove.Batch{
				{StartTime: month(2025, 1), State: "complete", Feedstocks: feedstocks("Rice husks", "Wood chips")},
			}},
			cadence: mangrove.CadenceMonthly, partitions: []string{AllPartitions},
			first: "2025-01-01: c", last: "2025-01-01: c", periods: 1,
		},
		{
			name: "PartitionTypeAbsentOneFeedstockEach",
			in: CoverageInput{Ledger: mangrove.Ledger{Cadence: ptr("monthly")}, Now: now,
				Batches: monthly(month(2025, 1), month(2025, 2), "complete", "Wood chips", "Nut shells")},
			cadence: mangrove.CadenceMonthly, partitions: []string{"Nut shells", "Wood chips"},
			first: "2025-01-01: cc", last: "2025-02-01: cc", periods: 2,
		},
		{
			name: "PartitionTypeAbsentSeveralFeedstocks",
			in: CoverageInput{Ledger: mangrove.Ledger{Cadence: ptr("monthly")}, Now: now, Batches: []mangrove.Batch{
				{StartTime: month(2025, 1), State: "complete", Feedstocks: feedstocks("Wood chips")},
				{StartTime: month(2025, 2), State: "complete", Feedstocks: feedstocks("Wood chips", "Nut shells")},
			}},
			cadence: mangrove.CadenceMonthly, partitions: []string{AllPartitions},
			first: "2025-01-01: c", last: "2025-02-01: c", periods: 2,
		},
		{
			name: "FeedstockAbsentOrUnnamed",
			in: CoverageInput{Ledger: ncr, Now: now, Batches: []mangrove.Batch{
				{StartTime: month(2025, 1), State: "complete", Feedstocks: feedstocks("Wood chips")},
				{StartTime: month(2025, 1), State: "complete"},
				{StartTime: month(2025, 1), State: "complete", Feedstocks: []json.RawMessage{json.RawMessage(`{"id": 7}`)}},
			}},
			cadence: mangrove.CadenceMonthly, partitions: []string{"7", "Wood chips", UnknownPartition},
			first: "2025-01-01: ccc", last: "2025-01-01: ccc", periods: 1,
		},
		{
			name: "CadenceInferredQuarterly",
			in: CoverageInput{Ledger: mangrove.Ledger{PartitionType: ptr("time")}, Now: now, Batches: []mangrove.Batch{
				{StartTime: month(2024, 10), EndTime: month(2025, 1).Add(-time.Second), State: "complete"},
				{StartTime: month(2024, 4), EndTime: month(2024, 7), State: "complete"},
			}},
			cadence: mangrove.CadenceQuarterly, inferred: true, partitions: []string{AllPartitions},
			first: "2024-04-01: c", last: "2024-10-01: c", periods: 3,
			gaps: []string{"2024-07-01..2024-10-01"},
		},
		{
			name: "CadenceInferredWhenUnknownToTheDashboard",
			in: CoverageInput{Ledger: mangrove.Ledger{Cadence: ptr("fortnightly")}, Now: now,
				Batches: monthly(month(2025, 1), month(2025, 1), "complete", "Wood chips")},
			cadence: mangrove.CadenceMonthly, inferred: true, partitions: []string{"Wood chips"},
			first: "2025-01-01: c", last: "2025-01-01: c", periods: 1,
		},
		{
			name: "CadenceInferredDaily",
			in: CoverageInput{Ledger: mangrove.Ledger{PartitionType: ptr("time")}, Now: now, Batches: []mangrove.Batch{
				{StartTime: month(2025, 1), EndTime: month(2025, 1).Add(24*time.Hour - time.Millisecond), State: "complete"},
				{StartTime: month(2025, 1).AddDate(0, 0, 2), EndTime: month(2025, 1).AddDate(0, 0, 3).Add(-time.Second), State: "complete"},
			}},
			cadence: mangrove.CadenceDaily, inferred: true, partitions: []string{AllPartitions},
			first: "2025-01-01: c", last: "2025-01-03: c", periods: 3,
			gaps: []string{"2025-01-02..2025-01-03"},
		},
		{
			name: "CadenceUnknown",
			in: CoverageInput{Ledger: mangrove.Ledger{}, Now: now, Batches: []mangrove.Batch{
				{StartTime: time.Date(2025, 1, 5, 0, 0, 0, 0, time.UTC), EndTime: time.Date(2025, 1, 19, 23, 59, 59, 0, time.UTC), State: "complete"},
			}},
			withoutPeriods: true,
		},
		{
			name:    "NoBatchesNoData",
			in:      CoverageInput{Ledger: ncr, Now: now},
			cadence: mangrove.CadenceMonthly, withoutPeriods: true,
		},
		{
			name:    "NoBatchesWithData",
			in:      CoverageInput{Ledger: ncr, Now: now, Data: demo},
			cadence: mangrove.CadenceMonthly, partitions: []string{AllPartitions},
			first: "2024-01-01: m", last: "2025-03-01: m", periods: 15,
			gaps: []string{"2024-01-01..2025-04-01"},
		},
		{
			name: "TruncatedStartsAfterTheOldestPeriodRead",
			in: CoverageInput{Ledger: ncr, Now: now, Truncated: true,
				Batches: monthly(month(2024, 3), month(2024, 12), "complete", "Wood chips")},
			cadence: mangrove.CadenceMonthly, partitions: []string{"Wood chips"},
			first: "2024-04-01: c", last: "2024-12-01: c", periods: 9, truncated: true,
		},
		{
			name: "TruncatedBeforeTheWindowLosesNothing",
			in: CoverageInput{Ledger: ncr, Now: now, Truncated: true,
				Batches: monthly(month(2022, 12), month(2024, 12), "complete", "Wood chips")},
			cadence: mangrove.CadenceMonthly, partitions: []string{"Wood chips"},
			first: "2023-01-01: c", last: "2024-12-01: c", periods: CoveragePeriods,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := CoverageOf(tt.in)
			if c.Cadence != tt.cadence || c.CadenceInferred != tt.inferred {
				t.Errorf("cadence %q (inferred %v), want %q (%v)", c.Cadence, c.CadenceInferred, tt.cadence, tt.inferred)
			}
			if c.Truncated != tt.truncated || c.DataKnown != tt.in.Data.Known {
				t.Errorf("truncated %v data known %v, want %v %v", c.Truncated, c.DataKnown, tt.truncated, tt.in.Data.Known)
			}
			if tt.withoutPeriods {
				if len(c.Periods) != 0 || len(c.Gaps) != 0 {
					t.Fatalf("periods %v gaps %v, want none", grid(c), gapText(c))
				}
				return
			}
			g := grid(c)
			if len(g) != tt.periods || g[0] != tt.first || g[len(g)-1] != tt.last {
				t.Fatalf("%d periods %q, want %d from %q to %q", len(g), g, tt.periods, tt.first, tt.last)
			}
			for i, p := range c.Periods {
				if i > 0 && !p.Start.Equal(c.Periods[i-1].End) {
					t.Errorf("period %d starts at %s, the previous ends at %s", i, p.Start, c.Periods[i-1].End)
				}
			}
			if !slices.Equal(c.Partitions, tt.partitions) {
				t.Errorf("partitions %q, want %q", c.Partitions, tt.partitions)
			}
			if got := gapText(c); !slices.Equal(got, tt.gaps) {
				t.Errorf("gaps %q, want %q", got, tt.gaps)
			}
		})
	}
}

// TestCoverageOfSeededAugust: the seeded ledger's error batch is the nut
// shells' August 2024 cell, and the wood chips' is complete.
func TestCoverageOfSeededAugust(t *testing.T) {
	bs := withState(monthly(month(2024, 1), month(2024, 12), "complete", "Wood chips", "Nut shells"), month(2024, 8), "Nut shells", "error")
	c := CoverageOf(CoverageInput{Ledger: mangrove.Ledger{Cadence: ptr("monthly"), PartitionType: ptr("feedstock")}, Batches: bs, Now: time.Now()})
	aug := c.Periods[7]
	if !aug.Start.Equal(month(2024, 8)) || !slices.Equal(aug.Cells, []string{CellError, CellComplete}) {
		t.Errorf("August: %s %v", aug.Start, aug.Cells)
	}
}

// pagedAPI lists a ledger's batches, newest first, page by page as the API
// does, and records the pages of the chart's size asked for.
type pagedAPI struct {
	countingAPI
	ledger  mangrove.Ledger
	batches []mangrove.Batch

	mu    sync.Mutex
	pages []int
}

func (a *pagedAPI) Ledger(context.Context, string, string) (*mangrove.Ledger, error) {
	l := a.ledger
	return &l, nil
}

func (a *pagedAPI) LedgerBatches(_ context.Context, _, _ string, o mangrove.ListOptions) (*mangrove.List[mangrove.Batch], error) {
	if o.PageSize == chartPageSize {
		a.mu.Lock()
		a.pages = append(a.pages, o.Page)
		a.mu.Unlock()
	}
	total := (len(a.batches) + o.PageSize - 1) / o.PageSize
	l := &mangrove.List[mangrove.Batch]{Info: &mangrove.Info{CurrentPage: o.Page, PageSize: o.PageSize, TotalItems: len(a.batches), TotalPages: total}}
	if o.Page < total {
		l.Info.NextPage = ptr(o.Page + 1)
	}
	from := min((o.Page-1)*o.PageSize, len(a.batches))
	l.Data = a.batches[from:min(from+o.PageSize, len(a.batches))]
	return l, nil
}

// daily is one batch per day and per partition over days days to last,
// newest first.
func daily(last time.Time, days, partitions int) []mangrove.Batch {
	var out []mangrove.Batch
	for d := range days {
		day := last.AddDate(0, 0, -d)
		for p := range partitions {
			out = append(out, mangrove.Batch{ID: fmt.Sprintf("b%d-%d", d, p), StartTime: day, EndTime: day.AddDate(0, 0, 1).Add(-time.Second),
				State: "complete", Feedstocks: feedstocks(fmt.Sprintf("F%03d", p))})
		}
	}
	return out
}

// TestCoverageReadsOlderPages: a ledger with more batches in its window
// than the chart's pages has its further pages read, and no page past the
// one that reaches back before the window; past CoverageMaxBatches the
// coverage says it is truncated.
func TestCoverageReadsOlderPages(t *testing.T) {
	last := time.Date(2025, 3, 31, 0, 0, 0, 0, time.UTC)
	ledger := mangrove.Ledger{ID: "lgr_d", Cadence: ptr("daily"), PartitionType: ptr("feedstock")}
	q := forms.BatchListQuery{Page: 1, PageSize: 25, Sort: "-start_time"}
	tests := []struct {
		name             string
		days, partitions int
		maxPage          int // the highest page that may be read
		truncated        bool
		periods          int
	}{
		// 24 days of 20 feedstocks are 480 batches: pages 1–5. Page 6 is
		// the first to reach back before the window; no page after it is
		// asked for, but those already in flight (one per other slot).
		{name: "WindowOnFivePages", days: 60, partitions: 20, maxPage: 6 + coverageConcurrency - 1, periods: CoveragePeriods},
		{name: "ChartPagesSuffice", days: 60, partitions: 2, maxPage: chartPages, periods: CoveragePeriods},
		// 24 days of 100 feedstocks are 2,400 batches, past the bound.
		{name: "Truncated", days: 30, partitions: 100, maxPage: coverageMaxPages, truncated: true, periods: CoverageMaxBatches/100 - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &pagedAPI{ledger: ledger, batches: daily(last, tt.days, tt.partitions)}
			s := New(api, Options{Now: func() time.Time { return last }})
			p, err := s.LedgerPage(context.Background(), "tok", ledger.ID, q)
			if err != nil {
				t.Fatal(err)
			}
			c := p.Coverage
			if c == nil || c.Truncated != tt.truncated || len(c.Periods) != tt.periods || len(c.Partitions) != tt.partitions {
				t.Fatalf("coverage %+v, want %d periods of %d partitions, truncated %v", c, tt.periods, tt.partitions, tt.truncated)
			}
			if len(c.Gaps) != 0 {
				t.Errorf("gaps %v in a ledger without any", gapText(c))
			}
			if m := slices.Max(api.pages); m > tt.maxPage {
				t.Errorf("read pages %v, up to %d, want at most %d", api.pages, m, tt.maxPage)
			}
			slices.Sort(api.pages)
			if len(slices.Compact(api.pages)) != len(api.pages) {
				t.Errorf("a page was read twice: %v", api.pages)
			}
		})
	}
}

// TestLedgerPageCoverageRounds: a token's first view adds one round for
// the events that date its data (the projects list is in the first round);
// another ledger's first view with the same token reuses the data's range
// and is one round.
func TestLedgerPageCoverageRounds(t *testing.T) {
	first := 3 + chartPages + 1 // ledger, inputs, table, chart pages, projects
	api := &barrierAPI{Rounds: testkit.NewRounds(first, 2, 3+chartPages)}
	s := New(api, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q := forms.BatchListQuery{Page: 1, PageSize: 25, Sort: "-start_time"}
	p, err := s.LedgerPage(ctx, "tok", "lgr_1", q)
	if err != nil {
		t.Fatalf("the first view's calls were not in two rounds (%d arrived): %v", api.Arrived(), err)
	}
	if p.Coverage == nil || !p.Coverage.DataKnown {
		t.Fatalf("coverage %+v without the data's range", p.Coverage)
	}
	if api.n("projects") != 1 || api.n("events") != 2 {
		t.Errorf("%d projects and %d events reads, want 1 and 2", api.n("projects"), api.n("events"))
	}
	if _, err := s.LedgerPage(ctx, "tok", "lgr_2", q); err != nil {
		t.Fatalf("another ledger's calls were not one round (%d arrived): %v", api.Arrived(), err)
	}
	if api.n("projects") != 1 || api.n("events") != 2 {
		t.Errorf("another ledger read the data's range again: %d projects and %d events reads", api.n("projects"), api.n("events"))
	}
}
