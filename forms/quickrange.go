package forms

import (
	"strconv"
	"time"
)

// QuickRange returns a named range relative to now (in UTC), with the end
// at 23:59:59 of its last day:
//
//   - "last-month": the previous calendar month;
//   - "last-quarter": the previous calendar quarter;
//   - "q1" … "q4": that quarter of year (now's year when year is 0).
//
// ok is false for an unknown name or a year outside 2000…2100.
func QuickRange(name string, year int, now time.Time) (start, end time.Time, ok bool) {
	now = now.UTC()
	switch name {
	case "last-month":
		thisMonth := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
		start = thisMonth.AddDate(0, -1, 0)
		end = thisMonth.Add(-time.Second)
	case "last-quarter":
		qMonth := time.Month((int(now.Month())-1)/3*3 + 1)
		thisQuarter := time.Date(now.Year(), qMonth, 1, 0, 0, 0, 0, time.UTC)
		start = thisQuarter.AddDate(0, -3, 0)
		end = thisQuarter.Add(-time.Second)
	case "q1", "q2", "q3", "q4":
		if year == 0 {
			year = now.Year()
		}
		if year < MinYear || year > MaxYear {
			return time.Time{}, time.Time{}, false
		}
		q := int(name[1] - '0')
		start = time.Date(year, time.Month((q-1)*3+1), 1, 0, 0, 0, 0, time.UTC)
		end = start.AddDate(0, 3, 0).Add(-time.Second)
	default:
		return time.Time{}, time.Time{}, false
	}
	if start.Year() < MinYear || end.Year() > MaxYear {
		return time.Time{}, time.Time{}, false
	}
	return start, end, true
}

// Years offered by the quick-range year picker, relative to the current
// year: a year ahead and some back. A requested year outside them falls
// back to the current year.
const (
	QuickYearsAhead  = 1
	QuickYearsBack   = 5
	quickYearsAccept = 10 // a linked year this far back is still honoured
)

// QuickYear reads the quick_year parameter: a year near now, or now's year.
func QuickYear(raw string, now time.Time) int {
	this := now.UTC().Year()
	y, err := strconv.Atoi(raw)
	if err != nil || y < this-quickYearsAccept || y > this+QuickYearsAhead {
		return this
	}
	return y
}

// QuickYears lists the years the picker offers, newest first.
func QuickYears(now time.Time) []int {
	this := now.UTC().Year()
	var years []int
	for y := this + QuickYearsAhead; y >= this-QuickYearsBack; y-- {
		years = append(years, y)
	}
	return years
}

// Preset is a named range offered as a button on the form.
type Preset struct {
	Name, Label string
	Start, End  time.Time
}

// Presets are the relative quick ranges the form offers, as of now.
func Presets(year int, now time.Time) []Preset {
	var out []Preset
	for _, p := range []struct{ name, label string }{{"last-month", "Last month"}, {"last-quarter", "Last quarter"}} {
		if s, e, ok := QuickRange(p.name, year, now); ok {
			out = append(out, Preset{Name: p.name, Label: p.label, Start: s, End: e})
		}
	}
	return out
}
