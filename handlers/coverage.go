package handlers

import (
	"time"

	"github.com/carbon-dash/mangrove-dashboard/forms"
	"github.com/carbon-dash/mangrove-dashboard/ledgers"
	"github.com/carbon-dash/mangrove-dashboard/views"
)

// noModelReason says why a ledger's gaps link nowhere.
const noModelReason = "Batches cannot be generated on this ledger: it has no model."

// coverageProps shows a ledger's coverage (nil: it could not be read). A gap
// links to the preview of exactly its periods unless noGenerate says why the
// user cannot generate on the ledger; the preview still asks before
// anything is written.
func coverageProps(ledgerID string, c *ledgers.Coverage, noGenerate string) views.CoverageProps {
	if c == nil {
		return views.CoverageProps{Unavailable: true}
	}
	p := views.CoverageProps{
		Cadence: string(c.Cadence), CadenceInferred: c.CadenceInferred, Partitions: c.Partitions,
		Truncated: c.Truncated, MaxBatches: ledgers.CoverageMaxBatches, DataKnown: c.DataKnown, NoGenerate: noGenerate,
	}
	for _, period := range c.Periods {
		p.Periods = append(p.Periods, views.CoveragePeriod{Start: period.Start, End: lastSecond(period.End), Cells: period.Cells})
	}
	for _, g := range c.Gaps {
		gap := views.CoverageGap{Start: g.Start, End: lastSecond(g.End)}
		if noGenerate == "" {
			gap.URL = previewURL(ledgerID, forms.GenerationForm{StartTime: forms.StartValue(gap.Start), EndTime: forms.EndValue(gap.End)})
		}
		p.Gaps = append(p.Gaps, gap)
	}
	return p
}

// lastSecond is the end of a period that stops before next: the form of the
// API's end times and of the generation form's end dates.
func lastSecond(next time.Time) time.Time { return next.Add(-time.Second) }

// noGenerateReason says why the user cannot generate on a ledger; "" when
// they can.
func noGenerateReason(l views.LedgerRow, layout views.Layout) string {
	switch {
	case !l.HasModel():
		return noModelReason
	case layout.ReadOnly:
		return views.ReadOnlyReason
	}
	return ""
}
