// Package views holds the dashboard's templ components. It imports nothing of
// handlers, mangrove or store: handlers turn API and store types into the
// props structs below, and the templates only format them.
package views

import "time"

// Layout is what every full page shares: title, navigation, flash messages
// and the CSRF token the sign-out form needs.
type Layout struct {
	Title      string
	Nav        string // "ledgers", "tasks" or "" for none
	SignedIn   bool
	UserLabel  string
	CanSignOut bool // false when a server-wide token is in use
	CSRF       string
	Flashes    []Flash
	Sandbox    bool
	// ReadOnly says the user's token cannot generate: the header says so
	// and generation is not offered.
	ReadOnly bool
	// BudgetWarning, when set, says the token's API quota for the current
	// minute is nearly spent.
	BudgetWarning string
	// The fields below are set by the pages themselves (assets.go), never
	// by handlers.

	// RefreshSeconds, when set, adds a <noscript> refresh so a running task
	// page keeps updating with JavaScript off.
	RefreshSeconds int
	// Styles and Scripts are extra embedded files (names such as
	// "js/chart.js") a page needs, loaded after the shared ones.
	Styles, Scripts []string
}

// ReadOnlyReason explains why generation is not offered.
const ReadOnlyReason = "Your token can read but not generate: Mangrove refused it a generation. Ask your Mangrove administrator for Production Accounting write access."

// Flash is a one-time message shown after a redirect.
type Flash struct {
	Kind    string // "success", "error" or "info"
	Message string
	// WhileRunning marks news a live task's state overtakes ("Generation
	// started"): not shown once the task has finished.
	WhileRunning bool
}

// LedgerRow is one ledger in the ledgers list and the ledger page header.
type LedgerRow struct {
	ID            string
	Name          string
	Unit          string
	Cadence       string
	PartitionType string
	ModelName     string // empty when the ledger has no linked model
	UpdatedAt     time.Time
}

// HasModel reports whether generation is possible on the ledger.
func (l LedgerRow) HasModel() bool { return l.ModelName != "" }

// LedgersPageProps are the props of GET /ledgers.
type LedgersPageProps struct {
	Layout Layout
	// Groups are the ledgers by project: one group without a heading when
	// the token sees one project or its projects could not be read.
	Groups []LedgerGroup
	// Note, when set, says why the ledgers are not grouped by project.
	Note string
}

// LedgerCount is the number of ledgers over every group.
func (p LedgersPageProps) LedgerCount() int {
	n := 0
	for _, g := range p.Groups {
		n += len(g.Ledgers)
	}
	return n
}

// LedgerGroup is one project's ledgers on GET /ledgers, or those whose
// project could not be told.
type LedgerGroup struct {
	Heading string // the project's name, or "Other"; "" for no heading
	ID      string // the heading's element id
	Note    string // shown under the heading, e.g. why the project is not known
	Ledgers []LedgerRow
}

// RequiredInputRow is one input the ledger's model needs.
type RequiredInputRow struct {
	ID             int64
	Name           string
	Slug           string
	Unit           string
	Category       string
	Subcategory    string
	IsManualSelect bool
	FromLedgers    []string // names of ledgers whose output feeds the input
}

// BatchRow is one batch in a table.
type BatchRow struct {
	ID         string
	TrackingID string
	Feedstock  string // names of the batch's feedstocks, when partitioned by feedstock
	Start, End time.Time
	State      string
	Output     *float64
	OutputUnit string
	// Unallocated is the API's ledger_balance: the part of the batch's
	// output not yet allocated downstream or to reports.
	Unallocated *float64
	CreatedAt   time.Time
	Error       string
	// LedgerID is the ledger the table lists the batch under, carried by
	// the link to its page; empty when not known.
	LedgerID string
}

// Pager describes the pagination controls of a list.
type Pager struct {
	Page, TotalPages, TotalItems int
	// One and Many name the items in the count ("batch", "batches");
	// empty, they are "item" and "items".
	One, Many string
	// PageURL builds the link to a page with the list's other parameters kept.
	PageURL func(page int) string
}

// BatchFilter is the ledger page's current list state.
type BatchFilter struct {
	Sort, State string
	PageSize    int
}

// LedgerPageProps are the props of GET /ledgers/{id}.
type LedgerPageProps struct {
	Layout         Layout
	Ledger         LedgerRow
	RequiredInputs []RequiredInputRow
	InputsError    string // shown in place of the inputs when they could not be loaded
	Batches        []BatchRow
	Filter         BatchFilter
	FilterErrors   map[string]string
	Pager          Pager
	StateOptions   []string
	// Chart is the data of the output chart, nil when there is nothing to draw.
	Chart *ChartData
	// Coverage shows which recent periods have batches (coverage.templ).
	Coverage CoverageProps
	// ExportURL downloads the batches matching the filters (all pages) as CSV.
	ExportURL string
}

// ChartData is embedded in the ledger page as JSON for static/js/chart.js:
// one entry per period start, oldest first, in columns as uPlot takes them.
type ChartData struct {
	Unit   string     `json:"unit"`
	Start  []int64    `json:"x"`      // period start, Unix seconds
	Output []*float64 `json:"output"` // primary output of the period's batches; null when none has one
	// Cumulative is the output of the chart's batches added up from its
	// first period to this one (not since the ledger's first batch); null
	// before the first output.
	Cumulative []*float64 `json:"cumulative"`
	Batches    []int      `json:"batches"` // batches in the period
}

// Len is the number of periods in the chart.
func (c *ChartData) Len() int {
	if c == nil {
		return 0
	}
	return len(c.Start)
}

// BatchCount is the number of batches the chart covers.
func (c *ChartData) BatchCount() int {
	if c == nil {
		return 0
	}
	n := 0
	for _, b := range c.Batches {
		n += b
	}
	return n
}

// GenerationFormProps are the props of the generation form, first shown or
// re-rendered with errors and the values as typed.
type GenerationFormProps struct {
	Layout         Layout
	Ledger         LedgerRow
	RequiredInputs []RequiredInputRow
	Values         GenerationValues
	Errors         map[string]string
	FormError      string // a message about the whole form, e.g. the API's 422
	// Allocations are the form's batch_amounts rows, one section per
	// manual-select input fed by another ledger (generation_props.go).
	Allocations []AllocationSection
	QuickRanges []QuickRange
	QuickYear   int
	YearOptions []int
}

// GenerationValues are the raw form values, kept as typed.
type GenerationValues struct {
	StartTime, EndTime string
	DataPointIDs       string
	SkippedTypeIDs     map[string]bool
	BatchAmounts       []BatchAmountValues
}

// BatchAmountValues is one batch_amounts row as typed.
type BatchAmountValues struct {
	BatchID, Amount, AllocationGroup string
}

// QuickRange is a preset range offered as a button.
type QuickRange struct {
	Name, Label string
	Start, End  string // YYYY-MM-DD
}

// PreviewPageProps are the props of POST /ledgers/{id}/preview.
type PreviewPageProps struct {
	Layout       Layout
	Ledger       LedgerRow
	Start, End   time.Time
	RangeInWords string
	Entries      []PreviewEntry
	TotalCount   int
	Skipped      []string
	DataPointIDs []string
	Allocations  []AllocationSummary
	Warnings     []string
	// Existing counts the batches already in the range over every ledger;
	// -1 when they could not be read.
	Existing int
	Grid     *PreviewGrid
	// InputData tells, per required input, whether the range has data
	// points; empty when the inputs could not be checked at all.
	InputData  []InputDataRow
	ConfirmKey string
	Values     GenerationValues // echoed as hidden fields for confirm and edit
	// ConfirmError is Mangrove's refusal of the last Confirm (a 409: a
	// generation already runs on the ledger), shown beside Confirm.
	ConfirmError string
}

// InputData states of InputDataRow.
const (
	InputDataFound   = "found"   // Count data points in the range
	InputDataNone    = "none"    // no data point in the range: a gap
	InputDataEarlier = "earlier" // none in the range, but one recorded before it (a static input) applies
	InputDataSkipped = "skipped" // the user skips the input
	InputDataUnknown = "unknown" // the API could not tell
)

// InputDataRow says whether the previewed range has data for one input.
type InputDataRow struct {
	Name         string
	Slug         string
	ManualSelect bool
	State        string // one of the InputData* constants
	Count        int
	Earlier      time.Time // InputDataEarlier: when the newest earlier data point was recorded
}

// PreviewEntry is one ledger the generation would write batches to: Count
// batches, New of them in periods without a batch yet, Again in periods
// that have one.
type PreviewEntry struct {
	LedgerID, Name string
	Count          int
	New, Again     int
}

// PreviewGrid shows, period by period and ledger by ledger, the batches
// already in the range; nil when the periods are not known.
type PreviewGrid struct {
	Ledgers []string
	Rows    []PreviewGridRow
}

// PreviewGridRow is one period of the grid, a cell per ledger.
type PreviewGridRow struct {
	Start, End time.Time
	Cells      [][]ExistingBatchRow // per ledger: its batches already in the period
}

// ExistingBatchRow is a batch already in the previewed range.
type ExistingBatchRow struct {
	ID, LedgerID string // for the link to the batch's page
	TrackingID   string
	Output       *float64 // nil when it has none, or its model run failed
	Unit         string
	Error        string // why its model run failed; "" when it did not
}

// TaskStatusProps is the live part of the task page, rendered server-side
// and pushed over the event stream on every change.
type TaskStatusProps struct {
	TaskID       int64
	State        string
	Progress     int
	Description  string
	StartedAt    *time.Time
	FinishedAt   *time.Time
	ErrorMessage string
	Retrying     string // non-empty while the watcher is backing off
	Remaining    string // estimate of the time remaining, empty when unknown
	Elapsed      string
	LedgerID     string
	LedgerName   string
	// Outcome is what a finished run wrote; nil on the event stream, which
	// carries no per-user data: OutcomeURL then loads it.
	Outcome    *TaskOutcome
	OutcomeURL string
	// NotOurs is set for a task not started from this dashboard.
	NotOurs bool
	// Finished is set when the task has ended, in whatever state (one the
	// dashboard does not know included).
	Finished bool
	// GaveUp says the dashboard stopped following an unfinished task.
	GaveUp string
}

// NotOurTask explains why a finished task's batches are not listed.
const NotOurTask = "This task was not started from this dashboard, so which batches it wrote is not recorded here; open its ledger to see them."

// description is the task's own progress text, or a word for its state.
func description(s TaskStatusProps) string {
	if s.Description != "" {
		return s.Description
	}
	switch s.State {
	case "pending":
		return "Waiting to start"
	case "complete":
		return "Done"
	case "failed":
		return "Failed"
	}
	return ""
}

// Terminal reports whether the task has finished.
func (t TaskStatusProps) Terminal() bool {
	return t.Finished || t.State == "complete" || t.State == "failed"
}

// TaskPageProps are the props of GET /tasks/{id}.
type TaskPageProps struct {
	Layout Layout
	Status TaskStatusProps
	// Generation names what was generated, for the heading; zero for a
	// task not started here.
	Generation TaskGeneration
	Params     []KeyValue // the parameters it was started with, from the audit log
	StartedBy  string
	Confirmed  *time.Time
	EventsURL  string // empty when the task is already terminal
}

// KeyValue is a labelled value in a definition list.
type KeyValue struct {
	Key, Value string
}

// SignInPageProps are the props of GET /signin.
type SignInPageProps struct {
	Layout    Layout
	Error     string
	Name      string
	Next      string
	DemoToken string // offered in sandbox mode only
	ReadOnly  string // the read-only demo token, to try the permission message
}

// ErrorPageProps describe an error page.
type ErrorPageProps struct {
	Layout    Layout
	Status    int
	Heading   string
	Message   string
	Action    string // link text
	ActionURL string
	RequestID string
}
