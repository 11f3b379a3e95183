package views

import "time"

// AllocationSection is one manual-select input fed by other ledgers, as the
// generation form offers it: rows that each allocate part of an upstream
// batch's unallocated output to this generation.
type AllocationSection struct {
	InputName string
	Unit      string   // the input's unit, for the amount's label
	From      []string // the feeding ledgers' names
	// Groups are the input's allocation groups: with two or more each row
	// chooses one; with one it is named, and every row goes to it.
	Groups []AllocationGroupOption
	// Options are the batches to choose from, in groups of options.
	Options []UpstreamBatchGroup
	// Unreadable names the feeding ledgers whose batches could not be read.
	Unreadable []string
	// Limit is how many of each feeding ledger's most recent batches were
	// read, for the message when none can be offered.
	Limit int
	Rows  []AllocationRow
}

// OnlyGroup is the input's one allocation group, or "" when it has none or
// several.
func (s AllocationSection) OnlyGroup() string {
	if len(s.Groups) == 1 {
		return s.Groups[0].Name
	}
	return ""
}

// AllocationGroupOption is an allocation group: its id (the value sent)
// and its name.
type AllocationGroupOption struct{ ID, Name string }

// UpstreamBatchGroup is an <optgroup> of upstream batches.
type UpstreamBatchGroup struct {
	Label   string
	Batches []UpstreamBatchOption
}

// UpstreamBatchOption is a batch that can be allocated from.
type UpstreamBatchOption struct {
	ID         string
	TrackingID string
	Start, End time.Time
	Feedstock  string
	// Unallocated is the batch's ledger_balance as last read; nil when
	// the API did not say.
	Unallocated *float64
	Unit        string
}

// AllocationRow is one row of the allocation fields: N numbers its names
// (batch_amounts[N][…]), values as typed, and the messages beside each
// field. RowError is the form's message about the row as a whole.
type AllocationRow struct {
	N                                   int
	BatchID, Amount, Group              string
	RowError                            string
	BatchError, AmountError, GroupError string
}

// AllocationSummary is an allocation the preview shows: from which batch,
// how much, in which group.
type AllocationSummary struct {
	BatchID, LedgerID string // for the link to the upstream batch
	TrackingID        string
	LedgerName        string
	Start, End        time.Time
	Amount            float64
	Unit              string
	Group             string // the group's name; "" when the input has none
	// Outside is set when the batch's period lies outside the range.
	Outside bool
}
