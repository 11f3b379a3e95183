package views

import (
	"fmt"
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
	return t.UTC().Format(layoutMinutes + " UTC")
}

// Layouts of times shown to people; every time shown is in UTC.
const (
	layoutMinutes = "2006-01-02 15:04"
	layoutSeconds = "2006-01-02 15:04:05"
	layoutDay     = "2 January 2006"
)

// utcSeconds formats a time with seconds, for ranges and task times.
func utcSeconds(t time.Time) string {
	return t.UTC().Format(layoutSeconds + " UTC")
}

// RangeUTC shows a range to the second: "2025-01-01 00:00:00 to
// 2025-03-31 23:59:59 UTC".
func RangeUTC(start, end time.Time) string {
	return start.UTC().Format(layoutSeconds) + " to " + end.UTC().Format(layoutSeconds) + " UTC"
}

// RangeInWords describes a range the way people say it: "March 2025",
// "Q1 2025", "2024", or the first and last day.
func RangeInWords(start, end time.Time) string {
	s, e := start.UTC(), end.UTC()
	days := int(e.Sub(s).Round(time.Hour).Hours()/24 + 0.5)
	dayRange := s.Format(layoutDay) + " to " + e.Format(layoutDay)
	if s.Hour() != 0 || s.Minute() != 0 || s.Second() != 0 || e.Hour() != 23 || e.Minute() != 59 {
		return s.Format(layoutDay+" 15:04") + " to " + e.Format(layoutDay+" 15:04") + " UTC"
	}
	if s.Day() == 1 {
		endOf := func(months int) time.Time { return s.AddDate(0, months, 0).Add(-time.Second) }
		sameDay := func(a, b time.Time) bool { return a.Format(time.DateOnly) == b.Format(time.DateOnly) }
		switch {
		case sameDay(e, endOf(1)):
			return s.Format("January 2006") + " (" + dayRange + ")"
		case sameDay(e, endOf(3)) && (s.Month()-1)%3 == 0:
			return fmt.Sprintf("Q%d %d (%s)", (int(s.Month())-1)/3+1, s.Year(), dayRange)
		case sameDay(e, endOf(12)) && s.Month() == time.January:
			return fmt.Sprintf("%d (%s)", s.Year(), dayRange)
		}
	}
	return fmt.Sprintf("%s (%d %s)", dayRange, days, Plural(days, "day", "days"))
}

// HumanDuration shows a duration to the second, in the largest two units.
func HumanDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min %02d s", int(d.Minutes()), int(d.Seconds())%60)
	default:
		return fmt.Sprintf("%d h %02d min", int(d.Hours()), int(d.Minutes())%60)
	}
}

func iso(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// period shows a period compactly: whole months as "Mar 2025",
// "Jan–Mar 2025" or "Nov 2024–Feb 2025", otherwise the first and last day.
func period(start, end time.Time) string {
	s, e := start.UTC(), end.UTC()
	if s.Day() == 1 && s.Hour() == 0 && s.Minute() == 0 && !e.Before(s) {
		afterEnd := time.Date(e.Year(), e.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, 1, 0)
		if !e.Before(afterEnd.Add(-time.Second)) {
			switch {
			case s.Year() == e.Year() && s.Month() == e.Month():
				return s.Format("Jan 2006")
			case s.Year() == e.Year():
				return s.Format("Jan") + "–" + e.Format("Jan 2006")
			default:
				return s.Format("Jan 2006") + "–" + e.Format("Jan 2006")
			}
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

// noResult stands in for the output of a batch whose model run failed.
const noResult = "no result"

// outputText is a batch's output, or noResult when its run failed (errMsg).
func outputText(v *float64, unit, errMsg string) string {
	if errMsg != "" && v == nil {
		return noResult
	}
	return optNumber(v, unit)
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

// Plural picks the word for a count: Plural(1, "batch", "batches").
func Plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// itemCount is a pager's count in words: "1 batch", "12 items".
func (p Pager) itemCount() string {
	one, many := p.One, p.Many
	if one == "" {
		one, many = "item", "items"
	}
	return counted(p.TotalItems, one, many)
}
