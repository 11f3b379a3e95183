package sandbox

import (
	"testing"
	"time"
)

func TestSplitPeriods(t *testing.T) {
	d := func(s string) time.Time {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			panic(err)
		}
		return t
	}
	tests := []struct {
		name, cadence string
		from, to      string
		wantStarts    []string
		wantLabel     string // of the first period
	}{
		{"MonthlyQ1", "monthly", "2025-01-01T00:00:00Z", "2025-04-01T00:00:00Z", []string{"2025-01-01", "2025-02-01", "2025-03-01"}, "Jan-2025"},
		{"MonthlyInclusiveEnd", "monthly", "2025-01-01T00:00:00Z", "2025-03-31T23:59:59Z", []string{"2025-01-01", "2025-02-01", "2025-03-01"}, "Jan-2025"},
		{"MonthlyPartialOverlap", "monthly", "2025-01-15T00:00:00Z", "2025-02-10T00:00:00Z", []string{"2025-01-01", "2025-02-01"}, "Jan-2025"},
		{"Daily", "daily", "2025-03-30T12:00:00Z", "2025-04-02T00:00:00Z", []string{"2025-03-30", "2025-03-31", "2025-04-01"}, "2025-03-30"},
		// 2025-01-01 is a Wednesday: its ISO week starts on Monday 2024-12-30 (week 1 of 2025).
		{"WeeklyISO", "weekly", "2025-01-01T00:00:00Z", "2025-01-13T00:00:00Z", []string{"2024-12-30", "2025-01-06"}, "W01-2025"},
		{"Quarterly", "quarterly", "2024-11-15T00:00:00Z", "2025-04-01T00:00:00Z", []string{"2024-10-01", "2025-01-01"}, "Q4-2024"},
		{"Yearly", "yearly", "2024-06-01T00:00:00Z", "2025-01-02T00:00:00Z", []string{"2024-01-01", "2025-01-01"}, "2024"},
		{"Empty", "monthly", "2025-02-01T00:00:00Z", "2025-02-01T00:00:00Z", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := splitPeriods(tt.cadence, d(tt.from), d(tt.to))
			if len(got) != len(tt.wantStarts) {
				t.Fatalf("got %d periods %v, want %v", len(got), got, tt.wantStarts)
			}
			for i, p := range got {
				if s := p.Start.Format("2006-01-02"); s != tt.wantStarts[i] {
					t.Errorf("period %d starts %s, want %s", i, s, tt.wantStarts[i])
				}
				if !p.End.Equal(nextPeriod(tt.cadence, p.Start)) {
					t.Errorf("period %d end %v", i, p.End)
				}
			}
			if len(got) > 0 {
				if l := periodLabel(tt.cadence, got[0].Start); l != tt.wantLabel {
					t.Errorf("label %q, want %q", l, tt.wantLabel)
				}
			}
		})
	}
	if e := wireEnd(time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)); formatMillis(e.UnixMilli()) != "2025-01-31T23:59:59.000Z" {
		t.Errorf("wire end %s", formatMillis(e.UnixMilli()))
	}
}

func TestParseAPITime(t *testing.T) {
	for _, s := range []string{"2025-01-15T10:00:00.000Z", "2025-01-15T10:00:00Z", "2025-01-15T11:00:00+01:00"} {
		got, dateOnly, err := parseAPITime(s)
		if err != nil || dateOnly || formatMillis(got.UnixMilli()) != "2025-01-15T10:00:00.000Z" {
			t.Errorf("%s: %v %v %v", s, got, dateOnly, err)
		}
	}
	if _, dateOnly, err := parseAPITime("2025-01-15"); err != nil || !dateOnly {
		t.Errorf("bare date: %v %v", dateOnly, err)
	}
	for _, s := range []string{"", "yesterday", "2025-13-01", "2025-01-15T10:00:00"} {
		if _, _, err := parseAPITime(s); err == nil {
			t.Errorf("%q parsed", s)
		}
	}
}
