package views

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// utc formats a time for tables: minutes are enough, the zone is always UTC.
func utc(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// utcSeconds formats a time with seconds, for ranges and task times.
func utcSeconds(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func iso(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// period shows a batch's period compactly: a whole month as "Mar 2025",
// otherwise the first and last day.
func period(start, end time.Time) string {
	s, e := start.UTC(), end.UTC()
	if s.Day() == 1 && s.Hour() == 0 && s.Minute() == 0 {
		nextMonth := s.AddDate(0, 1, 0)
		if !e.Before(nextMonth.Add(-time.Second)) && e.Before(nextMonth) {
			return s.Format("Jan 2006")
		}
	}
	if s.Format("2006-01-02") == e.Format("2006-01-02") {
		return s.Format("2 Jan 2006")
	}
	return s.Format("2 Jan 2006") + " – " + e.Format("2 Jan 2006")
}

// number formats a quantity with thousands separators and two decimals.
func number(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "—"
	}
	neg := v < 0
	s := strconv.FormatFloat(math.Abs(v), 'f', 2, 64)
	intPart, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, r := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	out := b.String() + "." + frac
	if neg {
		out = "−" + out
	}
	return out
}

func optNumber(v *float64, unit string) string {
	if v == nil {
		return "—"
	}
	if unit == "" {
		return number(*v)
	}
	return number(*v) + " " + unit
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func stateClass(state string) string {
	switch state {
	case "complete", "started":
		return "badge badge-complete"
	case "failed", "error", "rejected":
		return "badge badge-failed"
	case "running", "processing":
		return "badge badge-running"
	case "unknown", "submitting":
		return "badge badge-warning"
	default:
		return "badge badge-pending"
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func i64(i int64) string { return strconv.FormatInt(i, 10) }

func percent(p int) string { return strconv.Itoa(p) + "%" }
