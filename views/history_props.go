package views

import "time"

// TasksPageProps are the props of GET /tasks, the generation history.
type TasksPageProps struct {
	Layout Layout
	Rows   []HistoryRow
	Filter HistoryFilter
	// FilterErrors are the messages of filter values that were ignored,
	// by field name.
	FilterErrors map[string]string
	Choices      HistoryChoices
	Pager        Pager
	// ClearURL is the unfiltered history; ExportURL downloads what the
	// filters match, all pages, as CSV.
	ClearURL, ExportURL string
}

// HistoryFilter is the history's current filters, "" for any.
type HistoryFilter struct {
	Ledger, State, User string
}

// Any reports whether a filter is set.
func (f HistoryFilter) Any() bool { return f.Ledger != "" || f.State != "" || f.User != "" }

// HistoryChoices are the options of the history's filters.
type HistoryChoices struct {
	Ledgers []KeyValue // Key: the ledger id, Value: its name
	States  []string
	Users   []string
}

// HistoryRow is one confirmed generation in the audit log.
type HistoryRow struct {
	ID           int64
	CreatedAt    time.Time
	UserLabel    string
	LedgerID     string
	LedgerName   string
	Start, End   time.Time
	TaskID       *int64
	State        string
	LiveState    string
	LiveProgress int
	Error        string
	// Duration runs from the confirmation to the end; nil until it ended.
	Duration *time.Duration
	// Previewed is the number of batches the preview counted, Written the
	// number the run wrote; each -1 when not known.
	Previewed, Written int
}

// ledger names the row's ledger, by its id when no name was recorded.
func (r HistoryRow) ledger() string {
	if r.LedgerName != "" {
		return r.LedgerName
	}
	return orDash(r.LedgerID)
}

// noTask says why a row has no task to open.
func (r HistoryRow) noTask() string {
	switch r.State {
	case "rejected":
		return "No task: the API refused the generation"
	case "submitting":
		return "No task yet: being sent"
	default:
		return "No task id: the outcome is unknown, check the ledger"
	}
}

// duration is how long the generation took, or why that is not known.
func (r HistoryRow) duration() string {
	switch {
	case r.Duration != nil:
		return HumanDuration(*r.Duration)
	case r.State == "started" || r.State == "submitting":
		return "running"
	default:
		return "—"
	}
}

// Mismatch reports whether the run wrote another number of batches than
// the preview counted.
func (r HistoryRow) Mismatch() bool {
	return r.Previewed >= 0 && r.Written >= 0 && r.Previewed != r.Written
}

// counts compares what was written with what was previewed: "12 of 12
// written", "12 previewed, written: unknown".
func (r HistoryRow) counts() string {
	switch {
	case r.Written >= 0 && r.Previewed >= 0:
		return itoa(r.Written) + " of " + itoa(r.Previewed) + " written"
	case r.Written >= 0:
		return counted(r.Written, "batch", "batches") + " written, preview not recorded"
	case r.State == "rejected" && r.Previewed >= 0:
		return itoa(r.Previewed) + " previewed, none started"
	case r.Previewed >= 0:
		return itoa(r.Previewed) + " previewed, written: unknown"
	default:
		return "written: unknown"
	}
}
