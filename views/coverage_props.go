package views

import (
	"strconv"
	"time"
)

// CoverageProps are the ledger page's coverage: which of its recent periods
// have batches, partition by partition, and links to generate the gaps.
type CoverageProps struct {
	// Unavailable says the batches could not be read.
	Unavailable bool
	// Cadence is the ledger's ("monthly"), or "" when unknown: then no
	// periods are laid out. CadenceInferred says the batches' periods gave it.
	Cadence         string
	CadenceInferred bool
	Partitions      []string
	Periods         []CoveragePeriod // oldest first
	Gaps            []CoverageGap
	// NoGenerate says why the gaps link nowhere; "" when they link to
	// their previews.
	NoGenerate string
	// Truncated says only the MaxBatches most recent batches were read, so
	// the periods start later than the usual window.
	Truncated  bool
	MaxBatches int
	// DataKnown says the periods run to the latest recorded data; else
	// they end at the latest batch.
	DataKnown bool
}

// CoveragePeriod is one period: Start to End (its last second), and one
// coverage state per partition.
type CoveragePeriod struct {
	Start, End time.Time
	Cells      []string
}

// CoverageGap is a stretch of periods with a missing or errored batch, from
// Start to End (its last second). URL is its prefilled generation preview,
// "" when the user cannot generate on the ledger (NoGenerate says why).
type CoverageGap struct {
	Start, End time.Time
	URL        string
}

// The coverage states, as ledgers names them.
const (
	CoverageComplete   = "complete"
	CoverageError      = "error"
	CoverageProcessing = "processing"
	CoverageMissing    = "missing"
	CoverageUnknown    = "unknown"
)

// coverageLegend is every state in the order the legend shows them.
var coverageLegend = []string{CoverageComplete, CoverageError, CoverageProcessing, CoverageMissing, CoverageUnknown}

// coverageMark is a state's glyph in its coloured square: the shape tells
// the states apart without colour; screen readers read the word instead.
func coverageMark(state string) string {
	switch state {
	case CoverageComplete:
		return "✓"
	case CoverageError:
		return "!"
	case CoverageProcessing:
		return "…"
	case CoverageMissing:
		return "–"
	default:
		return "?"
	}
}

// coverageHeading is a period's column heading: the short label shown, the
// group it belongs to (shown above the first column of each: the year, or
// the month of daily and weekly periods) and the full label read out.
func coverageHeading(cadence string, start time.Time) (short, group, full string) {
	s := start.UTC()
	switch cadence {
	case "daily":
		return strconv.Itoa(s.Day()), s.Format("Jan 2006"), s.Format(layoutDay)
	case "weekly":
		return strconv.Itoa(s.Day()), s.Format("Jan 2006"), "Week of " + s.Format(layoutDay)
	case "quarterly":
		q := "Q" + strconv.Itoa((int(s.Month())-1)/3+1)
		return q, s.Format("2006"), q + " " + s.Format("2006")
	case "yearly":
		return s.Format("2006"), "", s.Format("2006")
	default:
		return s.Format("Jan"), s.Format("2006"), s.Format("January 2006")
	}
}

// groupStarts says whether period i opens a new heading group.
func (c CoverageProps) groupStarts(i int) bool {
	_, g, _ := coverageHeading(c.Cadence, c.Periods[i].Start)
	if i == 0 {
		return g != ""
	}
	_, prev, _ := coverageHeading(c.Cadence, c.Periods[i-1].Start)
	return g != prev
}

// rangeText is the periods shown, in words: "Jan 2024 to Mar 2025".
func (c CoverageProps) rangeText() string {
	first, last := c.Periods[0], c.Periods[len(c.Periods)-1]
	return period(first.Start, first.End) + " to " + period(last.Start, last.End)
}
