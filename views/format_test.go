package views

import (
	"testing"
	"time"
)

func TestRangeInWords(t *testing.T) {
	d := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, s); return v }
	tests := []struct{ start, end, want string }{
		{"2025-03-01T00:00:00Z", "2025-03-31T23:59:59Z", "March 2025 (1 March 2025 to 31 March 2025)"},
		{"2025-01-01T00:00:00Z", "2025-03-31T23:59:59Z", "Q1 2025 (1 January 2025 to 31 March 2025)"},
		{"2024-01-01T00:00:00Z", "2024-12-31T23:59:59Z", "2024 (1 January 2024 to 31 December 2024)"},
		{"2025-02-01T00:00:00Z", "2025-04-30T23:59:59Z", "1 February 2025 to 30 April 2025 (89 days)"},
		{"2025-01-10T00:00:00Z", "2025-01-10T23:59:59Z", "10 January 2025 to 10 January 2025 (1 day)"},
		{"2025-01-10T06:30:00Z", "2025-01-11T12:00:00Z", "10 January 2025 06:30 to 11 January 2025 12:00 UTC"},
	}
	for _, tt := range tests {
		if got := RangeInWords(d(tt.start), d(tt.end)); got != tt.want {
			t.Errorf("RangeInWords(%s, %s) = %q, want %q", tt.start, tt.end, got, tt.want)
		}
	}
}

func TestHumanDuration(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{-time.Second, "0 s"}, {1400 * time.Millisecond, "1 s"}, {65 * time.Second, "1 min 05 s"}, {3*time.Hour + 4*time.Minute, "3 h 04 min"},
	}
	for _, tt := range tests {
		if got := HumanDuration(tt.in); got != tt.want {
			t.Errorf("HumanDuration(%s) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
