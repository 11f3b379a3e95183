package views

import (
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
)

// TestBatchesTableUnallocated: the batch's ledger_balance is labelled
// "Unallocated" in the header and on the phone's cards, and the visible
// caption says what it is; nothing is called a ledger balance.
func TestBatchesTableUnallocated(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	jan := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	d := renderDoc(t, BatchesTable([]BatchRow{{ID: "bat_1", Start: jan, End: jan.AddDate(0, 1, 0), State: "complete",
		Output: f(100.5), OutputUnit: "t", Unallocated: f(50.25), CreatedAt: jan, LedgerID: "lgr_a"}}))
	heads := d.Find("thead th")
	col := -1
	heads.Each(func(i int, th *goquery.Selection) {
		if strings.TrimSpace(th.Text()) == "Unallocated" {
			col = i
		}
	})
	if col < 0 {
		t.Fatalf("no Unallocated column in %q", heads.Text())
	}
	cell := d.Find("tbody tr").First().Children().Eq(col)
	if label, _ := cell.Attr("data-label"); label != "Unallocated" || !strings.Contains(cell.Text(), "50.25") {
		t.Errorf("Unallocated cell %q (data-label %q), want 50.25 t", cell.Text(), label)
	}
	caption := d.Find("table caption")
	if caption.HasClass("visually-hidden") || !strings.Contains(caption.Text(), "not yet allocated to reports or downstream batches") {
		t.Errorf("the caption %q does not say, visibly, what Unallocated is", caption.Text())
	}
	if caption.Find(".visually-hidden").Text() == "" {
		t.Error("the caption no longer names the table for screen readers")
	}
	if strings.Contains(strings.ToLower(d.Text()), "ledger balance") {
		t.Errorf("the table still says ledger balance: %q", d.Text())
	}
}

// TestChartCaption: the caption says the line is the cumulative output of
// the chart's batches from its first period, not the ledger's balance.
func TestChartCaption(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	feb := time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
	c := &ChartData{Unit: "t", Start: []int64{feb.Unix(), feb.AddDate(0, 1, 0).Unix()},
		Output: []*float64{f(1), f(2)}, Cumulative: []*float64{f(1), f(3)}, Batches: []int{2, 1}}
	got := chartCaption(c)
	for _, want := range []string{"Primary output (t) per period", "3 most recent batches in 2 periods", "cumulative output (t) of these batches", "first period (2025-02-01)", "not from the ledger's first batch"} {
		if !strings.Contains(got, want) {
			t.Errorf("caption %q lacks %q", got, want)
		}
	}
	if strings.Contains(strings.ToLower(got), "balance") {
		t.Errorf("caption %q speaks of a balance", got)
	}
	d := renderDoc(t, LedgerPage(LedgerPageProps{Ledger: LedgerRow{ID: "lgr_a", Name: "Net Carbon Removal"}, Chart: c,
		Pager: Pager{Page: 1, TotalPages: 1}}))
	if fc := d.Find("#chart-section figcaption").Text(); !strings.Contains(fc, got) {
		t.Errorf("figcaption %q", fc)
	}
	if data := d.Find("script#chart-data").Text(); !strings.Contains(data, `"cumulative":[1,3]`) || strings.Contains(data, "balance") {
		t.Errorf("chart data %s", data)
	}
}

// TestBatchFilterStates: the state filter offers the given states, with
// the current one selected, and "Any".
func TestBatchFilterStates(t *testing.T) {
	d := renderDoc(t, LedgerPage(LedgerPageProps{Ledger: LedgerRow{ID: "lgr_a", Name: "Net Carbon Removal"},
		Filter: BatchFilter{State: "failed", Sort: "-start_time", PageSize: 25}, StateOptions: []string{"complete", "processing", "failed"},
		Pager: Pager{Page: 1, TotalPages: 1}}))
	var values []string
	d.Find("select#state option").Each(func(_ int, o *goquery.Selection) { values = append(values, o.AttrOr("value", "?")) })
	if strings.Join(values, ",") != ",complete,processing,failed" {
		t.Errorf("options %q", values)
	}
	if sel := d.Find("select#state option[selected]"); sel.Length() != 1 || sel.AttrOr("value", "") != "failed" {
		t.Errorf("selected %q", sel.Text())
	}
}
