package forms

import (
	"strconv"
	"testing"
	"time"
)

func FuzzQuickRange(f *testing.F) {
	now := time.Date(2025, 5, 17, 10, 0, 0, 0, time.UTC).Unix()
	for _, s := range []struct {
		name string
		year int
	}{{"last-month", 0}, {"last-quarter", 0}, {"q1", 2025}, {"q4", 0}, {"q5", 2025}, {"q1", 1999}, {"q1", 2101}, {"q3", -1}, {"", 0}, {"Q1", 2025}} {
		f.Add(s.name, s.year, now)
	}
	f.Add("last-month", 0, time.Date(2000, 1, 15, 0, 0, 0, 0, time.UTC).Unix())
	f.Add("last-quarter", 0, time.Date(2100, 12, 31, 0, 0, 0, 0, time.UTC).Unix())
	f.Fuzz(func(t *testing.T, name string, year int, unix int64) {
		at := time.Unix(unix, 0)
		start, end, ok := QuickRange(name, year, at)
		if !ok {
			return
		}
		if !end.After(start) || end.Sub(start) > 93*24*time.Hour {
			t.Fatalf("QuickRange(%q, %d, %s) = %s..%s", name, year, at, start, end)
		}
		if start.Year() < MinYear || end.Year() > MaxYear || start.Location() != time.UTC || end.Second() != 59 {
			t.Fatalf("QuickRange(%q, %d, %s) = %s..%s out of bounds", name, year, at, start, end)
		}
		// What the quick range gives, the form accepts.
		f := GenerationForm{StartTime: start.Format(time.DateOnly), EndTime: end.Format(time.DateOnly)}
		if _, errs := f.Validate(nil); errs.Any() {
			t.Fatalf("quick range %q %d gives a form the validation refuses: %v", name, year, errs)
		}
	})
}

func FuzzQuickYear(f *testing.F) {
	for _, s := range []string{"", "2025", "2015", "2014", "2026", "2027", "-1", "99999999999999999999", "٢٠٢٥", "2025 ", "0x7e9"} {
		f.Add(s)
	}
	now := time.Date(2025, 5, 17, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		y := QuickYear(s, now)
		if y < now.Year()-10 || y > now.Year()+1 {
			t.Fatalf("quickYear(%q) = %d, outside the offered years", s, y)
		}
		if n, err := strconv.Atoi(s); err == nil && n >= now.Year()-10 && n <= now.Year()+1 && y != n {
			t.Fatalf("quickYear(%q) = %d, want %d", s, y, n)
		}
	})
}
