package handlers

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestBatchPeriodForm(t *testing.T) {
	d := func(s string) time.Time { v, _ := time.Parse(time.RFC3339Nano, s); return v }
	tests := []struct {
		name, start, end   string
		wantStart, wantEnd string
	}{
		{"MonthEndingAtTheLastSecond", "2024-08-01T00:00:00Z", "2024-08-31T23:59:59Z", "2024-08-01", "2024-08-31"},
		{"MonthEndingInTheLastSecond", "2024-08-01T00:00:00Z", "2024-08-31T23:59:59.999Z", "2024-08-01", "2024-08-31"},
		{"ExclusiveEndAtMidnight", "2024-08-01T00:00:00Z", "2024-09-01T00:00:00Z", "2024-08-01", "2024-08-31"},
		{"OtherZone", "2024-08-01T02:00:00+02:00", "2024-09-01T01:59:59+02:00", "2024-08-01", "2024-08-31"},
		{"PartOfADay", "2024-08-01T06:00:00Z", "2024-08-01T17:59:59Z", "2024-08-01T06:00:00Z", "2024-08-01T17:59:59Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := periodForm(d(tt.start), d(tt.end))
			if f.StartTime != tt.wantStart || f.EndTime != tt.wantEnd {
				t.Errorf("form %s to %s, want %s to %s", f.StartTime, f.EndTime, tt.wantStart, tt.wantEnd)
			}
		})
	}
}

func TestBatchFeedstockNames(t *testing.T) {
	raw := func(items ...string) []json.RawMessage {
		out := make([]json.RawMessage, len(items))
		for i, s := range items {
			out[i] = json.RawMessage(s)
		}
		return out
	}
	got := feedstockNames(raw(`{"id":1,"name":"Nut shells"}`, `{"id":2}`, `{"name":7}`, `"Wood chips"`, `{"name":""}`))
	if want := "Nut shells|unknown|unknown|unknown|unknown"; strings.Join(got, "|") != want {
		t.Errorf("names %q, want %s", got, want)
	}
	if feedstockNames(nil) != nil || feedstockNames(raw()) == nil {
		t.Error("an absent list must stay nil (unknown), an empty one empty (none)")
	}
}
