package ledgers

import (
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

func TestChartData(t *testing.T) {
	day := func(m time.Month) time.Time { return time.Date(2025, m, 1, 0, 0, 0, 0, time.UTC) }
	f := func(v float64) *float64 { return &v }
	ids := func(s string) *string { return &s }
	batches := []mangrove.Batch{ // newest first, as the API lists them
		{ID: "b4", TrackingID: ids("Feb-002"), StartTime: day(2), PrimaryOutput: &mangrove.PrimaryOutput{Value: 5, Unit: "t"}, LedgerBalance: f(35)},
		{ID: "b3", TrackingID: ids("Feb-001"), StartTime: day(2), PrimaryOutput: &mangrove.PrimaryOutput{Value: 10, Unit: "t"}, LedgerBalance: f(30)},
		{ID: "b2", TrackingID: ids("Jan-002"), StartTime: day(1), LedgerBalance: f(20)},
		{ID: "b1", TrackingID: ids("Jan-001"), StartTime: day(1), PrimaryOutput: &mangrove.PrimaryOutput{Value: 20, Unit: "t"}, LedgerBalance: f(20)},
	}
	c := ChartOf(batches, "")
	d := chartPoints(c)
	if c == nil || len(c.Points) != 2 || d.batches != 4 {
		t.Fatalf("chart %+v", c)
	}
	if c.Unit != "t" || d.Start[0] != day(1).Unix() || d.Start[1] != day(2).Unix() {
		t.Errorf("unit %q, x %v", c.Unit, d.Start)
	}
	if *d.Output[0] != 20 || *d.Output[1] != 15 {
		t.Errorf("outputs %v %v, want 20 and 15 (the period's sum)", *d.Output[0], *d.Output[1])
	}
	if *d.Balance[0] != 20 || *d.Balance[1] != 35 {
		t.Errorf("balances %v %v, want the period's last batch's: 20 and 35", *d.Balance[0], *d.Balance[1])
	}
	if ChartOf([]mangrove.Batch{{ID: "x", StartTime: day(1)}}, "t") != nil {
		t.Error("a chart without any figure should be nil")
	}
	if ChartOf(nil, "t") != nil {
		t.Error("no batches, no chart")
	}
}

type chartColumns struct {
	Start           []int64
	Output, Balance []*float64
	batches         int
}

func chartPoints(c *Chart) chartColumns {
	var d chartColumns
	if c == nil {
		return d
	}
	for _, p := range c.Points {
		d.Start = append(d.Start, p.Start.Unix())
		d.Output = append(d.Output, p.Output)
		d.Balance = append(d.Balance, p.Balance)
		d.batches += p.Batches
	}
	return d
}
