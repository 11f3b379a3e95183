package generation

import (
	"context"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/forms"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

func TestPeriods(t *testing.T) {
	d := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, s); return v }
	str := func(s string) *string { return &s }
	tests := []struct {
		name, cadence, start, end string
		want                      []string // period starts, YYYY-MM-DD
	}{
		{"MonthlyQuarter", "monthly", "2025-01-01T00:00:00Z", "2025-03-31T23:59:59Z", []string{"2025-01-01", "2025-02-01", "2025-03-01"}},
		{"MonthlyMidMonth", "monthly", "2025-01-15T00:00:00Z", "2025-02-10T00:00:00Z", []string{"2025-01-01", "2025-02-01"}},
		{"Quarterly", "Quarterly", "2025-02-01T00:00:00Z", "2025-07-01T00:00:00Z", []string{"2025-01-01", "2025-04-01", "2025-07-01"}},
		{"Daily", "daily", "2025-01-30T12:00:00Z", "2025-02-01T00:00:00Z", []string{"2025-01-30", "2025-01-31", "2025-02-01"}},
		{"Yearly", "yearly", "2024-06-01T00:00:00Z", "2025-06-01T00:00:00Z", []string{"2024-01-01", "2025-01-01"}},
		{"Unknown", "fortnightly", "2025-01-01T00:00:00Z", "2025-03-31T23:59:59Z", nil},
		{"TooMany", "daily", "2025-01-01T00:00:00Z", "2025-12-31T23:59:59Z", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &Preview{Ledger: &Ledger{Ledger: mangrove.Ledger{Cadence: str(tt.cadence)}},
				Params: forms.GenerationParams{Start: d(tt.start), End: d(tt.end)}}
			var got []string
			for _, per := range p.Periods() {
				got = append(got, per.Start.Format(time.DateOnly))
				if !per.End.After(per.Start) {
					t.Errorf("period %v ends at %v", per.Start, per.End)
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("periods %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("periods %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestUnpickedManualInputsOnlyWithoutData(t *testing.T) {
	p := &Preview{Ledger: &Ledger{Inputs: []mangrove.RequiredInput{
		{ID: 1, Slug: "feedstock-mass"}, {ID: 2, Slug: "biochar-mass", IsManualSelect: true}, {ID: 3, Slug: "other-manual", IsManualSelect: true},
	}}}
	p.InputData = []InputData{{Slug: "biochar-mass", State: InputFound, Count: 9}, {Slug: "other-manual", State: InputNone}}
	got := p.UnpickedManualInputs()
	if len(got) != 1 || got[0].Slug != "other-manual" {
		t.Fatalf("unpicked %+v: want only the manual input without data", got)
	}
	p.Params.SkippedTypeIDs = []int64{3}
	if got := p.UnpickedManualInputs(); len(got) != 0 {
		t.Fatalf("a skipped input is warned about: %+v", got)
	}
}

// pagedAPI lists more pages of batches than the preview reads, as an API
// that ignores the time filters would for a long-lived ledger.
type pagedAPI struct{ fakeAPI }

func (*pagedAPI) LedgerBatches(_ context.Context, _, _ string, o mangrove.ListOptions) (*mangrove.List[mangrove.Batch], error) {
	next := o.Page + 1
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	return &mangrove.List[mangrove.Batch]{Data: []mangrove.Batch{{ID: "b_old", StartTime: old, EndTime: old}}, Info: &mangrove.Info{NextPage: &next}}, nil
}

func TestExistingBatchesUnknownPastThePageCap(t *testing.T) {
	r := newRig()
	r.svc.api = &pagedAPI{}
	p, err := r.svc.Preview(context.Background(), token, ledgerID, q1Form())
	if err != nil {
		t.Fatal(err)
	}
	if !p.ExistingUnknown || p.Overlapping() != -1 {
		t.Fatalf("existing batches unknown %v, overlapping %d: a list cut at the page cap must not read as complete", p.ExistingUnknown, p.Overlapping())
	}
}
