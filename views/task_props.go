package views

import "time"

// TaskGeneration is the ledger and range a task was started for.
type TaskGeneration struct {
	LedgerName string
	Start, End time.Time
}

// Heading names the generation: "Net Carbon Removal, Jan–Mar 2025"; empty
// when unknown.
func (g TaskGeneration) Heading() string {
	if g.Start.IsZero() {
		return ""
	}
	return g.LedgerName + ", " + period(g.Start, g.End)
}

// TaskOutcome is what a finished run started here did: the batches it wrote
// on each ledger its preview named, against the preview's counts, the
// steps it went through and, when it failed, the way to try again.
type TaskOutcome struct {
	TaskID int64
	State  string
	// Ledgers are listed in the preview's order; empty with Message set
	// when the batches could not be listed.
	Ledgers []WrittenLedger
	Message string
	Steps   []TaskStep
	// RetryURL is the preview of the same parameters, for a failed run.
	RetryURL string
}

// WrittenLedger is what a run wrote on one ledger.
type WrittenLedger struct {
	LedgerID, LedgerName string
	Previewed            int // the preview's count; -1 when none was recorded
	Rows                 []WrittenRow
	// Truncated: more batches changed than were read; the list is partial.
	Truncated bool
	// Change is the sum of new minus old outputs over the batches the run
	// wrote that were there at confirmation; nil when it replaced none.
	Change *float64
	Unit   string
	// Untouched counts the batches in the range at confirmation that the
	// run did not write again.
	Untouched int
}

// WrittenRow is a batch a run wrote; Old is set when the batch was in the
// range at confirmation, with its output then (nil Old with Replaced: it
// had none).
type WrittenRow struct {
	BatchRow
	Replaced bool
	Old      *float64
}

// TaskStep is one progress description the run showed, when it was seen.
type TaskStep struct {
	At          time.Time
	Progress    int
	Description string
}

// Written is the number of batches listed across ledgers.
func (o TaskOutcome) Written() int {
	n := 0
	for _, l := range o.Ledgers {
		n += len(l.Rows)
	}
	return n
}

// Previewed is the preview's total across ledgers; ok is false when a
// ledger's count was not recorded.
func (o TaskOutcome) Previewed() (n int, ok bool) {
	for _, l := range o.Ledgers {
		if l.Previewed < 0 {
			return 0, false
		}
		n += l.Previewed
	}
	return n, len(o.Ledgers) > 0
}

// NotComplete counts the batches written that are not complete (in error,
// say): a run can end complete with some of its batches failed.
func (o TaskOutcome) NotComplete() int {
	n := 0
	for _, l := range o.Ledgers {
		for _, r := range l.Rows {
			if r.State != "complete" {
				n++
			}
		}
	}
	return n
}

// Partial reports whether some ledger's list is incomplete.
func (o TaskOutcome) Partial() bool {
	for _, l := range o.Ledgers {
		if l.Truncated {
			return true
		}
	}
	return false
}

// Diff is the new output minus the old one, when both are known.
func (r WrittenRow) Diff() *float64 {
	if !r.Replaced || r.Old == nil || r.Output == nil {
		return nil
	}
	d := *r.Output - *r.Old
	return &d
}

// counted is a count with its word: counted(1, "batch", "batches") is "1 batch".
func counted(n int, one, many string) string { return itoa(n) + " " + Plural(n, one, many) }

// signed formats a change with its sign: "+2.50 t", "−1.20 t", "0.00 t".
func signed(v float64, unit string) string {
	s := optNumber(&v, unit)
	if number(v) != number(0) && v > 0 {
		s = "+" + s
	}
	return s
}
