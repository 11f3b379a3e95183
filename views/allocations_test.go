package views

import (
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
)

// TestAllocationSection: an input with several allocation groups gets a
// group select per row; every control is labelled and described by its
// own message and the row's; a chosen batch the list lacks stays chosen.
func TestAllocationSection(t *testing.T) {
	jan := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	left := 12.5
	sec := AllocationSection{
		InputName: "Biochar mass", Unit: "t", From: []string{"Biochar Produced"},
		Groups: []AllocationGroupOption{{ID: "soil", Name: "Soil"}, {ID: "concrete", Name: "Concrete"}},
		Options: []UpstreamBatchGroup{{Label: "Biochar Produced", Batches: []UpstreamBatchOption{
			{ID: "bat_jan", TrackingID: "Jan-2025-001", Start: jan, End: jan.AddDate(0, 1, 0).Add(-time.Second), Feedstock: "Wood chips", Unallocated: &left, Unit: "t"},
			{ID: "bat_feb", Start: jan.AddDate(0, 1, 0), End: jan.AddDate(0, 2, 0).Add(-time.Second), Unit: "t"},
		}}},
		Rows: []AllocationRow{
			{N: 0, BatchID: "bat_jan", Amount: "40", Group: "soil", AmountError: "40.00 t is more than the 12.50 t left unallocated on Jan-2025-001"},
			{N: 1, BatchID: "bat_gone", Amount: "1", GroupError: "Choose the allocation group", RowError: "Row 2: something"},
			{N: 2},
		},
	}
	d := renderDoc(t, allocationSection(sec))

	if got := d.Find(`#alloc-0-batch option[value="bat_jan"]`).Text(); got != "Jan-2025-001 · 12.50 t unallocated · Jan 2025 · Wood chips" {
		t.Errorf("option %q", got)
	}
	if got := d.Find(`#alloc-0-batch option[value="bat_feb"]`).Text(); got != "bat_feb · unallocated amount unknown · Feb 2025" {
		t.Errorf("option without tracking id or balance %q", got)
	}
	if v, _ := d.Find(`#alloc-0-batch option[selected]`).Attr("value"); v != "bat_jan" {
		t.Errorf("row 1 chose %q", v)
	}
	if got := d.Find(`#alloc-1-batch option[selected]`).Text(); got != "bat_gone (not among the listed batches)" {
		t.Errorf("row 2 chose %q", got)
	}
	if v, _ := d.Find(`#alloc-0-group option[selected]`).Attr("value"); v != "soil" {
		t.Errorf("row 1 group %q", v)
	}
	if n := d.Find(`select[name="batch_amounts[2][allocation_group]"] option`).Length(); n != 3 {
		t.Errorf("an empty row's group select has %d options, want Choose + 2", n)
	}
	want := map[string]string{
		"#alloc-0-amount": "alloc-0-amount-error",
		"#alloc-1-batch":  "alloc-1-error",
		"#alloc-1-group":  "alloc-1-group-error alloc-1-error",
	}
	for sel, by := range want {
		if got, _ := d.Find(sel).Attr("aria-describedby"); got != by {
			t.Errorf("%s described by %q, want %q", sel, got, by)
		}
		if inv, _ := d.Find(sel).Attr("aria-invalid"); inv != "true" {
			t.Errorf("%s not marked invalid", sel)
		}
	}
	if _, ok := d.Find("#alloc-2-amount").Attr("aria-describedby"); ok {
		t.Error("an empty row's amount is described by nothing that exists")
	}
	d.Find("select, input").Each(func(_ int, s *goquery.Selection) {
		if id := s.AttrOr("id", ""); d.Find(`label[for="`+id+`"]`).Length() != 1 {
			t.Errorf("%s has no label", id)
		}
	})
	if !strings.Contains(d.Find("legend").Text(), "Allocate from Biochar Produced to Biochar mass") {
		t.Errorf("legend %q", d.Find("legend").Text())
	}
	if strings.Contains(d.Text(), "goes to its allocation group") {
		t.Error("several groups, yet one is named as the only one")
	}
}
