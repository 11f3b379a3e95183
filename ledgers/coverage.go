package ledgers

import (
	"slices"
	"strings"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// CoveragePeriods is how many periods the coverage shows at most: two years
// of a monthly ledger.
const CoveragePeriods = 24

// Partition names besides feedstocks.
const (
	// AllPartitions is the one partition of a ledger not partitioned by
	// feedstock, and of one whose batches in the window name none to go by.
	AllPartitions = "all"
	// UnknownPartition holds the batches of a feedstock-partitioned ledger
	// that name no feedstock.
	UnknownPartition = "unknown"
)

// Cell states of the coverage, from best to worst: a cell with several
// batches shows its worst.
const (
	CellMissing    = "missing" // no batch
	CellComplete   = "complete"
	CellUnknown    = "unknown" // the batch's state is absent or not one the dashboard knows
	CellProcessing = "processing"
	CellError      = "error"
)

var cellRank = map[string]int{CellMissing: 0, CellComplete: 1, CellUnknown: 2, CellProcessing: 3, CellError: 4}

// Coverage is which of a ledger's recent periods have batches, partition by
// partition.
type Coverage struct {
	// Cadence is the period length; "" when the ledger names none the
	// dashboard knows and the batches' periods do not tell: then nothing is
	// laid out.
	Cadence mangrove.Cadence
	// CadenceInferred says Cadence was read from the batches' periods.
	CadenceInferred bool
	// Partitions are sorted by name; Periods are oldest first, with one cell
	// per partition.
	Partitions []string
	Periods    []CoveragePeriod
	// Gaps are the stretches of consecutive periods with a missing or an
	// errored cell, oldest first: what to generate.
	Gaps []Gap
	// Truncated says older batches were not read and the window lost
	// periods to it: it starts after the oldest period read, which may be
	// only partly read.
	Truncated bool
	// DataKnown says the data's range was read, so the periods run to the
	// latest data; else they end at the latest batch.
	DataKnown bool
}

// CoveragePeriod is one period of the coverage: [Start, End).
type CoveragePeriod struct {
	Start, End time.Time
	Cells      []string // one Cell* state per partition
}

// Gap is a stretch of periods to generate: [Start, End).
type Gap struct{ Start, End time.Time }

// DataRange is when data was recorded: the start times of the oldest and the
// newest events. Known is false when it could not be read.
type DataRange struct {
	First, Last time.Time
	Known       bool
}

// CoverageInput is what a coverage is built from.
type CoverageInput struct {
	Ledger mangrove.Ledger
	// Batches are the ledger's most recent batches, in any order; Truncated
	// says it has older ones that were not read.
	Batches   []mangrove.Batch
	Truncated bool
	Data      DataRange
	// Now bounds the periods: data recorded for the future opens none.
	Now time.Time
}

// CoverageOf lays the batches out by period and partition, over the last
// CoveragePeriods periods or fewer when the batches and the data begin
// later. The periods end at the later of the latest batch and the latest
// data: a period with data but no batch is what was never generated.
func CoverageOf(in CoverageInput) *Coverage {
	cov := &Coverage{DataKnown: in.Data.Known}
	c, ok := coverageCadence(in.Ledger, in.Batches)
	if !ok {
		return cov
	}
	cov.Cadence, cov.CadenceInferred = c, !ledgerCadenceKnown(in.Ledger)
	first, last, truncated, ok := coverageWindow(c, in)
	cov.Truncated = truncated
	if !ok {
		return cov
	}
	periods := map[int64]int{}
	for s := first; !s.After(last); s = c.Next(s) {
		periods[s.Unix()] = len(cov.Periods)
		cov.Periods = append(cov.Periods, CoveragePeriod{Start: s, End: c.Next(s)})
	}
	partitionOf := partitioner(in.Ledger, in.Batches)
	var inWindow []mangrove.Batch
	for _, b := range in.Batches {
		if _, ok := periods[c.Start(b.StartTime).Unix()]; ok {
			inWindow = append(inWindow, b)
		}
	}
	cov.Partitions = partitionNames(inWindow, partitionOf)
	for i := range cov.Periods {
		cov.Periods[i].Cells = slices.Repeat([]string{CellMissing}, len(cov.Partitions))
	}
	for _, b := range inWindow {
		cells := cov.Periods[periods[c.Start(b.StartTime).Unix()]].Cells
		j, _ := slices.BinarySearch(cov.Partitions, partitionOf(b))
		if s := cellState(b.State); cellRank[s] > cellRank[cells[j]] {
			cells[j] = s
		}
	}
	cov.Gaps = gaps(cov.Periods)
	return cov
}

func ledgerCadenceKnown(l mangrove.Ledger) bool {
	_, ok := mangrove.ParseCadence(l.Cadence)
	return ok
}

// coverageCadence is the ledger's cadence, or when it names none the
// dashboard knows, the one whose periods every batch covers exactly.
func coverageCadence(l mangrove.Ledger, batches []mangrove.Batch) (mangrove.Cadence, bool) {
	if c, ok := mangrove.ParseCadence(l.Cadence); ok {
		return c, true
	}
	if len(batches) == 0 {
		return "", false
	}
	for _, c := range mangrove.Cadences {
		if !slices.ContainsFunc(batches, func(b mangrove.Batch) bool { return !c.Covers(b.StartTime, b.EndTime) }) {
			return c, true
		}
	}
	return "", false
}

// coverageWindow is the first and last period the coverage lays out; ok is
// false when there is neither a batch nor data to place it. When older
// batches were not read, the window starts after the oldest period read (it
// may hold more batches than were read) and truncated says the window lost
// periods to that.
func coverageWindow(c mangrove.Cadence, in CoverageInput) (first, last time.Time, truncated, ok bool) {
	var oldest time.Time
	for _, b := range in.Batches {
		s := c.Start(b.StartTime)
		if oldest.IsZero() || s.Before(oldest) {
			oldest = s
		}
		if s.After(last) {
			last = s
		}
	}
	first = oldest
	if in.Data.Known && !in.Data.Last.IsZero() {
		if s := c.Start(minTime(in.Data.Last, in.Now)); s.After(last) {
			last = s
		}
		if s := c.Start(in.Data.First); first.IsZero() || s.Before(first) {
			first = s
		}
	}
	if last.IsZero() {
		return first, last, false, false
	}
	earliest := last
	for range CoveragePeriods - 1 {
		earliest = c.Prev(earliest)
	}
	if in.Truncated && len(in.Batches) > 0 {
		if after := c.Next(oldest); after.After(earliest) {
			earliest, truncated = after, true
		}
	}
	if first.Before(earliest) {
		first = earliest
	}
	return first, last, truncated, !first.After(last)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// partitioner names a batch's partition: its feedstocks when the ledger is
// partitioned by feedstock, or names no partition type and every batch
// names exactly one feedstock; else AllPartitions. The feedstocks' shape is
// undocumented: mangrove.Names reads an item's name (or id).
func partitioner(l mangrove.Ledger, batches []mangrove.Batch) func(mangrove.Batch) string {
	byFeedstock := strings.EqualFold(mangrove.Deref(l.PartitionType), "feedstock")
	if l.PartitionType == nil {
		byFeedstock = len(batches) > 0 && !slices.ContainsFunc(batches, func(b mangrove.Batch) bool { return len(mangrove.Names(b.Feedstocks)) != 1 })
	}
	if !byFeedstock {
		return func(mangrove.Batch) string { return AllPartitions }
	}
	return func(b mangrove.Batch) string {
		names := mangrove.Names(b.Feedstocks)
		if len(names) == 0 {
			return UnknownPartition
		}
		return strings.Join(names, ", ")
	}
}

// partitionNames are the sorted partitions of the batches; AllPartitions
// alone when there are none, so a window without batches still has a row.
func partitionNames(batches []mangrove.Batch, partitionOf func(mangrove.Batch) string) []string {
	var names []string
	for _, b := range batches {
		names = append(names, partitionOf(b))
	}
	slices.Sort(names)
	names = slices.Compact(names)
	if len(names) == 0 {
		return []string{AllPartitions}
	}
	return names
}

// cellState reads a batch's state. Only "complete" and "processing" are
// documented; the others are the sandbox's and likely spellings.
func cellState(state string) string {
	switch strings.ToLower(state) {
	case "complete", "completed":
		return CellComplete
	case "processing", "pending", "running":
		return CellProcessing
	case "error", "failed":
		return CellError
	default:
		return CellUnknown
	}
}

// gaps joins consecutive periods that have a missing or an errored cell.
func gaps(periods []CoveragePeriod) []Gap {
	var out []Gap
	for _, p := range periods {
		if !slices.ContainsFunc(p.Cells, func(s string) bool { return s == CellMissing || s == CellError }) {
			continue
		}
		if n := len(out); n > 0 && out[n-1].End.Equal(p.Start) {
			out[n-1].End = p.End
			continue
		}
		out = append(out, Gap{Start: p.Start, End: p.End})
	}
	return out
}
