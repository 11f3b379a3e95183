package generation

import (
	"strings"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// maxGridPeriods bounds the periods a preview lists one by one (five years
// of monthly batches).
const maxGridPeriods = 60

// Period is one period of the generating ledger in the previewed range.
type Period struct{ Start, End time.Time }

// Periods are the generating ledger's periods that overlap the range, by
// its cadence (UTC calendar periods); nil when the cadence is not one the
// dashboard knows or the range has more than maxGridPeriods of them.
func (p *Preview) Periods() []Period {
	step, align, ok := cadenceStep(p.Ledger.Cadence)
	if !ok {
		return nil
	}
	var out []Period
	for s := align(p.Params.Start.UTC()); !s.After(p.Params.End); s = step(s) {
		if len(out) == maxGridPeriods {
			return nil
		}
		out = append(out, Period{Start: s, End: step(s).Add(-time.Second)})
	}
	return out
}

// cadenceStep is how a cadence advances and where its periods start.
func cadenceStep(cadence *string) (step, align func(time.Time) time.Time, ok bool) {
	if cadence == nil {
		return nil, nil, false
	}
	day := func(t time.Time) time.Time { return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC) }
	switch strings.ToLower(*cadence) {
	case "daily":
		return func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }, day, true
	case "monthly":
		return func(t time.Time) time.Time { return t.AddDate(0, 1, 0) },
			func(t time.Time) time.Time { return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC) }, true
	case "quarterly":
		return func(t time.Time) time.Time { return t.AddDate(0, 3, 0) },
			func(t time.Time) time.Time { return time.Date(t.Year(), (t.Month()-1)/3*3+1, 1, 0, 0, 0, 0, time.UTC) }, true
	case "yearly", "annually", "annual":
		return func(t time.Time) time.Time { return t.AddDate(1, 0, 0) },
			func(t time.Time) time.Time { return time.Date(t.Year(), 1, 1, 0, 0, 0, 0, time.UTC) }, true
	}
	return nil, nil, false
}

// ExistingIn are a ledger's batches already in the range that start in
// the period.
func (p *Preview) ExistingIn(ledgerID string, period Period) []mangrove.Batch {
	var out []mangrove.Batch
	for _, b := range p.Existing[ledgerID] {
		if !b.StartTime.Before(period.Start) && !b.StartTime.After(period.End) {
			out = append(out, b)
		}
	}
	return out
}
