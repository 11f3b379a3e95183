package sandbox

import (
	"fmt"
	"time"
)

// Batch periods follow the ledger's cadence in UTC. A period is [start, next start);
// on the wire its end is shown as the last second of its last day (23:59:59.000Z), the
// convention of the documentation's examples.

// cadences the sandbox understands (the API's strings beyond "monthly" are not documented).
var cadences = map[string]bool{"daily": true, "weekly": true, "monthly": true, "quarterly": true, "yearly": true}

// periodStart returns the start of the period containing t.
func periodStart(cadence string, t time.Time) time.Time {
	t = t.UTC()
	y, m, d := t.Date()
	switch cadence {
	case "daily":
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	case "weekly":
		// ISO weeks start on Monday.
		day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		return day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7))
	case "quarterly":
		return time.Date(y, ((m-1)/3)*3+1, 1, 0, 0, 0, 0, time.UTC)
	case "yearly":
		return time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)
	default: // monthly
		return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	}
}

// nextPeriod returns the start of the period after the one starting at start.
func nextPeriod(cadence string, start time.Time) time.Time {
	switch cadence {
	case "daily":
		return start.AddDate(0, 0, 1)
	case "weekly":
		return start.AddDate(0, 0, 7)
	case "quarterly":
		return start.AddDate(0, 3, 0)
	case "yearly":
		return start.AddDate(1, 0, 0)
	default:
		return start.AddDate(0, 1, 0)
	}
}

// period is one batch period, [Start, End).
type period struct{ Start, End time.Time }

// splitPeriods lists the periods that overlap [from, to) by more than an instant, so
// that a range ending at 2025-04-01T00:00:00Z does not pull in April.
func splitPeriods(cadence string, from, to time.Time) []period {
	var out []period
	if !to.After(from) {
		return nil
	}
	for s := periodStart(cadence, from); s.Before(to); s = nextPeriod(cadence, s) {
		out = append(out, period{Start: s, End: nextPeriod(cadence, s)})
	}
	return out
}

// wireEnd is the displayed end of a period: one second before the next period.
func wireEnd(end time.Time) time.Time { return end.Add(-time.Second) }

// periodLabel names a period for tracking ids: Mar-2025, Q1-2025, W11-2025, 2025-03-15, 2025.
func periodLabel(cadence string, start time.Time) string {
	switch cadence {
	case "daily":
		return start.Format("2006-01-02")
	case "weekly":
		y, w := start.ISOWeek()
		return fmt.Sprintf("W%02d-%d", w, y)
	case "quarterly":
		return fmt.Sprintf("Q%d-%d", (int(start.Month())-1)/3+1, start.Year())
	case "yearly":
		return fmt.Sprintf("%d", start.Year())
	default:
		return start.Format("Jan-2006")
	}
}
