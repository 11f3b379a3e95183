package views

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Unknown is shown for a field the API answer lacks: nothing is guessed.
const Unknown = "unknown"

// UnallocatedHelp explains the batch's ledger_balance.
const UnallocatedHelp = "the part of this batch's output not yet allocated to reports or downstream batches"

// BatchPageProps are the props of GET /batches/{id}. Text fields the API
// left out are empty and shown as "unknown"; pointers are nil.
type BatchPageProps struct {
	Layout     Layout
	ID         string
	TrackingID string
	Start, End time.Time
	// Ledger is the ledger the link came from, checked to hold the batch;
	// nil when unknown.
	Ledger *LedgerRow
	// Feedstocks are the names of the batch's feedstocks ("unknown" for an
	// item without one); nil when the API sent none at all.
	Feedstocks    []string
	State         string
	OutputName    string
	Output        *float64
	OutputUnit    string
	Unallocated   *float64
	HasRuleAlerts *bool
	CreatedAt     time.Time
	UpdatedAt     time.Time
	// Error is the model run's error message (or the batch's), if any.
	Error string
	// Run is the model run; nil when the batch has none.
	Run *ModelRunProps
	// Inputs is nil when the API sent no input_data.
	Inputs      []BatchInputRow
	Allocations []AllocationList
	// RegenerateURL is the prefilled preview of the batch's period; empty
	// when the ledger is unknown or cannot generate.
	RegenerateURL string
}

// ModelRunProps are what the batch page shows of its model run.
type ModelRunProps struct {
	ID           int64
	State        string
	Calculations []CalculationGroup
	Outputs      []DataPointRow
	// Waterfall is nil when the calculations do not make one.
	Waterfall *WaterfallData
}

// CalculationGroup is the calculations of one category, in the order the
// model run lists them.
type CalculationGroup struct {
	Category string
	Rows     []CalculationRow
}

// CalculationRow is one calculated value.
type CalculationRow struct {
	Name  string
	Value float64
	Unit  string
}

// DataPointRow is a data point. Its value is Number when numeric, else
// Text ("true", "false", a string); neither when the API sent none.
type DataPointRow struct {
	ID, Type string
	Number   *float64
	Text     string
	Unit     string
	Status   string
}

// value shows a data point's value, every decimal of a number kept.
func (d DataPointRow) value() string {
	if d.Number != nil {
		return exact(*d.Number)
	}
	return orUnknown(d.Text)
}

// BatchInputRow is one input the model run read, with its event.
type BatchInputRow struct {
	DataPointRow
	// Event is the event's type and tracking id; empty when unknown.
	Event     string
	EventTime time.Time
}

// AllocationList is one of the batch's allocation lists. Items are each
// allocation as "key: value" pairs (their shape is undocumented); Known is
// false when the API sent no such list.
type AllocationList struct {
	Name  string
	Known bool
	Items [][]KeyValue
}

// WaterfallData is embedded in the batch page as JSON for
// static/js/waterfall.js: one bar per step, From and To in Unit.
type WaterfallData struct {
	Unit  string          `json:"unit"`
	Steps []WaterfallStep `json:"steps"`
}

// WaterfallStep is one bar of the waterfall.
type WaterfallStep struct {
	Name     string  `json:"name"`
	From     float64 `json:"from"`
	To       float64 `json:"to"`
	Emission bool    `json:"emission"`
}

// batchLabel names a batch in links: its tracking id, or its id without one.
func batchLabel(trackingID, id string) string {
	if trackingID == "" {
		return id
	}
	return trackingID
}

func orUnknown(s string) string {
	if s == "" {
		return Unknown
	}
	return s
}

// exact shows a value with every decimal the API sent (it rounds to six),
// grouped like number: two decimals would hide a yield or a factor.
func exact(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return number(v)
	}
	whole, _, _ := strings.Cut(number(math.Abs(math.Trunc(v))), ".")
	if _, frac, ok := strings.Cut(strconv.FormatFloat(math.Abs(v), 'f', -1, 64), "."); ok {
		whole += "." + frac
	}
	if v < 0 {
		return "−" + whole
	}
	return whole
}

// withUnit appends a unit, when there is one.
func withUnit(value, unit string) string {
	if unit == "" {
		return value
	}
	return value + " " + unit
}

// waterfallSummary says in words what the chart draws, for its label.
func waterfallSummary(w *WaterfallData) string {
	var b strings.Builder
	b.WriteString("Waterfall chart: ")
	for i, s := range w.Steps {
		switch {
		case s.Emission:
			b.WriteString(", minus " + s.Name + " " + number(s.From-s.To))
		case i == len(w.Steps)-1:
			b.WriteString(", leaves " + s.Name + " " + number(s.To))
		case i > 0:
			b.WriteString(", " + s.Name + " " + number(s.To))
		default:
			b.WriteString(s.Name + " " + number(s.To))
		}
	}
	return withUnit(b.String(), w.Unit) + "."
}

// feedstockLabel is "Feedstock" or "Feedstocks" for the names shown.
func feedstockLabel(names []string) string {
	return Plural(len(names), "Feedstock", "Feedstocks")
}
