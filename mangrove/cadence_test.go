package mangrove

import (
	"slices"
	"testing"
	"time"
)

func TestParseCadence(t *testing.T) {
	tests := []struct {
		in   *string
		want Cadence
		ok   bool
	}{
		{nil, "", false},
		{ptr(""), "", false},
		{ptr("monthly"), CadenceMonthly, true},
		{ptr(" Quarterly "), CadenceQuarterly, true},
		{ptr("annually"), CadenceYearly, true},
		{ptr("weekly"), CadenceWeekly, true},
		{ptr("fortnightly"), "", false},
	}
	for _, tt := range tests {
		if got, ok := ParseCadence(tt.in); got != tt.want || ok != tt.ok {
			t.Errorf("ParseCadence(%q) = %q, %v; want %q, %v", Deref(tt.in), got, ok, tt.want, tt.ok)
		}
	}
}

func TestCadencePeriods(t *testing.T) {
	at := time.Date(2025, 2, 12, 15, 4, 5, 0, time.UTC) // a Wednesday
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	tests := []struct {
		c                 Cadence
		start, next, prev time.Time
	}{
		{CadenceDaily, day(2025, 2, 12), day(2025, 2, 13), day(2025, 2, 11)},
		{CadenceWeekly, day(2025, 2, 10), day(2025, 2, 17), day(2025, 2, 3)},
		{CadenceMonthly, day(2025, 2, 1), day(2025, 3, 1), day(2025, 1, 1)},
		{CadenceQuarterly, day(2025, 1, 1), day(2025, 4, 1), day(2024, 10, 1)},
		{CadenceYearly, day(2025, 1, 1), day(2026, 1, 1), day(2024, 1, 1)},
	}
	for _, tt := range tests {
		s := tt.c.Start(at)
		if !s.Equal(tt.start) || !tt.c.Next(s).Equal(tt.next) || !tt.c.Prev(s).Equal(tt.prev) {
			t.Errorf("%s: start %s next %s prev %s; want %s %s %s", tt.c, s, tt.c.Next(s), tt.c.Prev(s), tt.start, tt.next, tt.prev)
		}
		end := tt.next.Add(-time.Second) // as the API shows a period's end
		if !tt.c.Covers(s, end) || !tt.c.Covers(s, tt.next) || tt.c.Covers(s, end.Add(-time.Second)) || tt.c.Covers(at, end) {
			t.Errorf("%s: Covers wrong for [%s, %s]", tt.c, s, end)
		}
	}
}

// FuzzParseCadence: whatever the field says, a cadence it accepts lays out
// periods that tile time: t is in [Start(t), Next(Start(t))), and Prev
// undoes Next.
func FuzzParseCadence(f *testing.F) {
	for _, s := range []string{"monthly", "Quarterly", "annual", "", "weekly ", "daily", "fortnightly"} {
		f.Add(s, int64(1739372645))
	}
	f.Fuzz(func(t *testing.T, field string, unix int64) {
		c, ok := ParseCadence(&field)
		if !ok {
			return
		}
		if !slices.Contains(Cadences, c) {
			t.Fatalf("ParseCadence(%q) = %q, not a known cadence", field, c)
		}
		at := time.Unix(unix%(1<<35), 0).UTC() // within about 1,000 years of 1970
		s := c.Start(at)
		next := c.Next(s)
		if at.Before(s) || !at.Before(next) || !c.Start(s).Equal(s) || !c.Prev(next).Equal(s) {
			t.Fatalf("%s at %s: period [%s, %s), prev of next %s", c, at, s, next, c.Prev(next))
		}
	})
}
