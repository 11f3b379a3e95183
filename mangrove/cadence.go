package mangrove

import (
	"strings"
	"time"
)

// Cadence is a ledger's period length: its batches cover consecutive UTC
// calendar periods of this length, as the sandbox and the documentation's
// examples have them (a month is the 1st 00:00:00 to the last day 23:59:59).
type Cadence string

// The cadences the dashboard can lay out periods for. Only "monthly" is
// documented; the others are the sandbox's and the field's natural readings.
const (
	CadenceDaily     Cadence = "daily"
	CadenceWeekly    Cadence = "weekly" // ISO weeks, from Monday
	CadenceMonthly   Cadence = "monthly"
	CadenceQuarterly Cadence = "quarterly"
	CadenceYearly    Cadence = "yearly"
)

// Cadences are the known cadences, shortest first.
var Cadences = []Cadence{CadenceDaily, CadenceWeekly, CadenceMonthly, CadenceQuarterly, CadenceYearly}

// ParseCadence reads a ledger's cadence field; ok is false when it is
// absent or not one the dashboard knows.
func ParseCadence(field *string) (c Cadence, ok bool) {
	s := strings.ToLower(strings.TrimSpace(Deref(field)))
	switch s {
	case "annual", "annually":
		return CadenceYearly, true
	case "":
		return "", false
	}
	for _, c := range Cadences {
		if string(c) == s {
			return c, true
		}
	}
	return "", false
}

// Start is the start of the period containing t. c is one of Cadences
// (anything else is read as monthly).
func (c Cadence) Start(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	switch c {
	case CadenceDaily:
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	case CadenceWeekly:
		day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		return day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7))
	case CadenceQuarterly:
		return time.Date(y, (m-1)/3*3+1, 1, 0, 0, 0, 0, time.UTC)
	case CadenceYearly:
		return time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)
	default:
		return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	}
}

// Next is the start of the period after the one starting at start.
func (c Cadence) Next(start time.Time) time.Time {
	switch c {
	case CadenceDaily:
		return start.AddDate(0, 0, 1)
	case CadenceWeekly:
		return start.AddDate(0, 0, 7)
	case CadenceQuarterly:
		return start.AddDate(0, 3, 0)
	case CadenceYearly:
		return start.AddDate(1, 0, 0)
	default:
		return start.AddDate(0, 1, 0)
	}
}

// Prev is the start of the period before the one starting at start.
func (c Cadence) Prev(start time.Time) time.Time { return c.Start(start.Add(-time.Nanosecond)) }

// Covers reports whether a batch's start and end are exactly one period of
// c: the start on a period boundary and the end at the next one, shown
// either as that instant or up to a second before it (23:59:59 or
// 23:59:59.999).
func (c Cadence) Covers(start, end time.Time) bool {
	if !c.Start(start).Equal(start) {
		return false
	}
	next := c.Next(start)
	return !end.After(next) && !end.Before(next.Add(-time.Second))
}
