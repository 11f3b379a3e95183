package views

import (
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
)

func TestBatchExact(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0"}, {0.884104, "0.884104"}, {18512.7, "18,512.7"}, {1234567.25, "1,234,567.25"}, {-0.5, "−0.5"}, {-1638.806354, "−1,638.806354"}, {15, "15"},
	}
	for _, tt := range tests {
		if got := exact(tt.in); got != tt.want {
			t.Errorf("exact(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestBatchPageUnknowns renders a batch the API said almost nothing about:
// every field it left out reads "unknown", and nothing is offered that
// needs the ledger.
func TestBatchPageUnknowns(t *testing.T) {
	d := renderDoc(t, BatchPage(BatchPageProps{ID: "bat_1", Feedstocks: []string{Unknown}, Allocations: []AllocationList{
		{Name: "Allocations"},
		{Name: "Report allocations", Known: true, Items: [][]KeyValue{{{Key: "amount", Value: "50.25"}, {Key: "unit", Value: "t"}}, {{Value: "7"}}}},
	}}))
	terms := map[string]string{}
	d.Find("#batch-summary dt").Each(func(_ int, dt *goquery.Selection) {
		terms[dt.Text()] = strings.TrimSpace(dt.Next().Text())
	})
	for _, term := range []string{"Period", "Ledger", "Feedstock", "State", "Tracking id", "Primary output", "Unallocated", "Rule alerts", "Model run", "Created", "Updated"} {
		if !strings.HasPrefix(terms[term], Unknown) {
			t.Errorf("%s reads %q, want %q", term, terms[term], Unknown)
		}
	}
	if got := d.Find("h1").Text(); got != "Batch bat_1" {
		t.Errorf("h1 %q: a batch without a tracking id is named by its id", got)
	}
	if d.Find(".page-actions, #waterfall, #run-error").Length() != 0 {
		t.Error("actions, a chart or an error shown for a batch without them")
	}
	for _, id := range []string{"#calculations", "#inputs", "#outputs"} {
		if got := d.Find(id).Next().Text(); !strings.Contains(got, "unknown") {
			t.Errorf("%s says %q, want that it is unknown", id, got)
		}
	}
	allocs := d.Find("#allocations + dl dd")
	if got := strings.TrimSpace(allocs.Eq(0).Text()); got != Unknown {
		t.Errorf("allocations %q, want unknown", got)
	}
	items := allocs.Eq(1).Find("li").Map(func(_ int, li *goquery.Selection) string { return strings.Join(strings.Fields(li.Text()), " ") })
	if strings.Join(items, "|") != "amount: 50.25, unit: t|7" {
		t.Errorf("report allocations %q, want each as key: value text", items)
	}
}
