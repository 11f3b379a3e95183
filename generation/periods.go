package generation

import (
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
	c, ok := mangrove.ParseCadence(p.Ledger.Cadence)
	if !ok {
		return nil
	}
	var out []Period
	for s := c.Start(p.Params.Start); !s.After(p.Params.End); s = c.Next(s) {
		if len(out) == maxGridPeriods {
			return nil
		}
		out = append(out, Period{Start: s, End: c.Next(s).Add(-time.Second)})
	}
	return out
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
