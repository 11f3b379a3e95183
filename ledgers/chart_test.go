package ledgers

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// TestChartData: outputs summed per period and added up over the chart's
// periods from its first; each batch's ledger_balance (its unallocated
// amount, not a running total) is not drawn.
func TestChartData(t *testing.T) {
	day := func(m time.Month) time.Time { return time.Date(2025, m, 1, 0, 0, 0, 0, time.UTC) }
	f := func(v float64) *float64 { return &v }
	ids := func(s string) *string { return &s }
	out := func(v float64) *mangrove.PrimaryOutput { return &mangrove.PrimaryOutput{Value: v, Unit: "t"} }
	batches := []mangrove.Batch{ // newest first, as the API lists them
		{ID: "b6", TrackingID: ids("Apr-001"), StartTime: day(4), State: "processing", PrimaryOutput: out(1), LedgerBalance: f(1)},
		// A failed model run: the API still reports an output, which is no result.
		{ID: "b5", TrackingID: ids("Mar-001"), StartTime: day(3), State: "error", PrimaryOutput: out(7), ErrorMessage: ids("required input missing")},
		{ID: "b4", TrackingID: ids("Feb-002"), StartTime: day(2), State: "complete", PrimaryOutput: out(5), LedgerBalance: f(0)},
		{ID: "b3", TrackingID: ids("Feb-001"), StartTime: day(2), State: "complete", PrimaryOutput: out(10), LedgerBalance: f(4)},
		{ID: "b2", TrackingID: ids("Jan-002"), StartTime: day(1), State: "complete", LedgerBalance: f(20)},
		{ID: "b1", TrackingID: ids("Jan-001"), StartTime: day(1), State: "complete", PrimaryOutput: out(20), LedgerBalance: f(20)},
	}
	c := ChartOf(batches, "")
	d := chartPoints(c)
	if c == nil || len(c.Points) != 4 || d.batches != 6 {
		t.Fatalf("chart %+v", c)
	}
	if c.Unit != "t" || !slices.Equal(d.Start, []int64{day(1).Unix(), day(2).Unix(), day(3).Unix(), day(4).Unix()}) {
		t.Errorf("unit %q, x %v", c.Unit, d.Start)
	}
	if got := values(d.Output); !slices.Equal(got, []string{"20", "15", "nil", "1"}) {
		t.Errorf("outputs %v, want each period's sum: 20 15 nil 1", got)
	}
	// Added up from the first period; a period without output keeps the sum.
	if got := values(d.Cumulative); !slices.Equal(got, []string{"20", "35", "35", "36"}) {
		t.Errorf("cumulative %v, want 20 35 35 36", got)
	}
	if !slices.Equal(c.States, []string{"complete", "error", "processing"}) {
		t.Errorf("states %v", c.States)
	}

	t.Run("FirstPeriodWithoutOutput", func(t *testing.T) {
		c := ChartOf([]mangrove.Batch{
			{ID: "b2", StartTime: day(2), PrimaryOutput: out(3)},
			{ID: "b1", StartTime: day(1), LedgerBalance: f(9)},
		}, "t")
		if got := values(chartPoints(c).Cumulative); !slices.Equal(got, []string{"nil", "3"}) {
			t.Errorf("cumulative %v, want nil 3", got)
		}
	})
	t.Run("Nothing", func(t *testing.T) {
		if ChartOf([]mangrove.Batch{{ID: "x", StartTime: day(1), LedgerBalance: f(5)}}, "t") != nil {
			t.Error("a chart without any output should be nil: a ledger_balance alone is not drawn")
		}
		if ChartOf(nil, "t") != nil {
			t.Error("no batches, no chart")
		}
	})
}

func values(ps []*float64) []string {
	s := make([]string, len(ps))
	for i, p := range ps {
		if p == nil {
			s[i] = "nil"
		} else {
			s[i] = strconv.FormatFloat(*p, 'f', -1, 64)
		}
	}
	return s
}

type chartColumns struct {
	Start              []int64
	Output, Cumulative []*float64
	batches            int
}

func chartPoints(c *Chart) chartColumns {
	var d chartColumns
	if c == nil {
		return d
	}
	for _, p := range c.Points {
		d.Start = append(d.Start, p.Start.Unix())
		d.Output = append(d.Output, p.Output)
		d.Cumulative = append(d.Cumulative, p.Cumulative)
		d.batches += p.Batches
	}
	return d
}
