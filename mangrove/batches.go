package mangrove

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// Batch is a batch as the list endpoints return it, decoded lean: what tables, charts
// and checks read. The model run (its calculations and output data points), input data
// and allocations are skipped, not decoded: on a page of batches they are most of the
// bytes and most of the decoding time, and no list shows them. GET /batches/{id} decodes
// them into BatchDetail. The compact form of update_inputs adds ErrorMessage and
// HasRuleAlerts. Fields a form lacks stay zero or nil.
type Batch struct {
	ID            string            `json:"id"`
	TrackingID    *string           `json:"tracking_id"`
	StartTime     time.Time         `json:"start_time"`
	EndTime       time.Time         `json:"end_time"`
	State         string            `json:"state"` // e.g. "complete", "processing"
	CreatedAt     time.Time         `json:"created_at"`
	UpdatedAt     time.Time         `json:"updated_at"`
	PrimaryOutput *PrimaryOutput    `json:"primary_output"`
	LedgerBalance *float64          `json:"ledger_balance"` // unallocated amount
	Feedstocks    []json.RawMessage `json:"feedstocks"`     // item shape undocumented
	ErrorMessage  *string           `json:"error_message"`
	HasRuleAlerts *bool             `json:"has_rule_alerts"`
	// ModelRun is the model run's outcome only; BatchDetail.ModelRun is the whole run.
	ModelRun *ModelRunOutcome `json:"model_run"`
}

// FailureMessage is why the batch's model run failed: the batch's
// error_message, or else its run's; "" when neither is set.
func (b Batch) FailureMessage() string {
	if m := Deref(b.ErrorMessage); m != "" || b.ModelRun == nil {
		return m
	}
	return Deref(b.ModelRun.ErrorMessage)
}

// Failed reports whether the batch's model run failed (FailureMessage).
func (b Batch) Failed() bool { return b.FailureMessage() != "" }

// Result is the batch's primary output when it is a result: nil when the
// batch has none or its model run failed. The API still reports a failed
// batch's output (0), which is no figure to read or to add up.
func (b Batch) Result() *PrimaryOutput {
	if b.Failed() {
		return nil
	}
	return b.PrimaryOutput
}

// ModelRunOutcome is what a list shows of a batch's model run: its state and error.
type ModelRunOutcome struct {
	ID           int64   `json:"id"`
	State        string  `json:"state"`
	ErrorMessage *string `json:"error_message"`
}

// BatchDetail is the whole batch of GET /batches/{id}: the list form's fields with the
// model run, input data and allocations.
type BatchDetail struct {
	Batch
	Allocations []json.RawMessage `json:"allocations"` // item shape undocumented
	// ModelRun shadows Batch.ModelRun (encoding/json decodes the shallower field), so a
	// detail carries the whole run and its Batch.ModelRun stays nil.
	ModelRun *ModelRun `json:"model_run"`

	InputData                  []InputDatum      `json:"input_data"`
	ReportAllocations          []json.RawMessage `json:"report_allocations"`
	DownstreamBatchAllocations []json.RawMessage `json:"downstream_batch_allocations"`
}

// PrimaryOutput is the batch's main quantity.
type PrimaryOutput struct {
	ID              int64   `json:"id"`
	Name            string  `json:"name"`
	Unit            string  `json:"unit"`
	DataPointTypeID int64   `json:"data_point_type_id"`
	Value           float64 `json:"value"`
}

// ModelRun is one execution of a model over a time range.
type ModelRun struct {
	ID               int64         `json:"id"`
	StartTime        time.Time     `json:"start_time"`
	EndTime          time.Time     `json:"end_time"`
	State            string        `json:"state"`
	ErrorMessage     *string       `json:"error_message"`
	CreatedAt        time.Time     `json:"created_at"`
	UpdatedAt        time.Time     `json:"updated_at"`
	Calculations     []Calculation `json:"calculations"`
	OutputDataPoints []DataPoint   `json:"output_data_points"`
}

// Calculation is one calculated value of a model run.
type Calculation struct {
	ID    int64   `json:"id"`
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	// GHG and LCARole are raw because the docs show both kinds: "ghg": "co2e" and
	// "ghg": true, "lca_role": "net" and "output". Nil when null or absent.
	GHG      json.RawMessage `json:"ghg"`
	LCARole  json.RawMessage `json:"lca_role"`
	Category string          `json:"category"`
}

// UnmarshalJSON decodes a calculation, reading null ghg and lca_role as nil.
func (c *Calculation) UnmarshalJSON(b []byte) error {
	type plain Calculation
	if err := json.Unmarshal(b, (*plain)(c)); err != nil {
		return err
	}
	c.GHG = nullToNil(c.GHG)
	c.LCARole = nullToNil(c.LCARole)
	return nil
}

// InputDatum is one input of a batch: a data point and the event it belongs to.
type InputDatum struct {
	DataPoint DataPoint `json:"data_point"`
	Event     *EventRef `json:"event"`
}

// EventRef is the summary of an event shown with a batch's inputs.
type EventRef struct {
	ID         string    `json:"id"` // evt_…
	Slug       string    `json:"slug"`
	EventType  string    `json:"event_type"` // display name
	TrackingID *string   `json:"tracking_id"`
	StartTime  time.Time `json:"start_time"`
	EndTime    time.Time `json:"end_time"`
}

// LedgerBatches returns one page of GET /ledgers/{ledgerID}/batches.
func (c *Client) LedgerBatches(ctx context.Context, token, ledgerID string, opts ListOptions) (*List[Batch], error) {
	id, err := pathSegment("ledger", ledgerID)
	if err != nil {
		return nil, err
	}
	q, err := opts.query()
	if err != nil {
		return nil, err
	}
	return getList[Batch](ctx, c, token, call{method: http.MethodGet, path: "/ledgers/" + id + "/batches", query: q})
}

// Batches returns one page of GET /batches (all ledgers; filter on project_id to narrow).
func (c *Client) Batches(ctx context.Context, token string, opts ListOptions) (*List[Batch], error) {
	q, err := opts.query()
	if err != nil {
		return nil, err
	}
	return getList[Batch](ctx, c, token, call{method: http.MethodGet, path: "/batches", query: q})
}

// Batch returns GET /batches/{batchID}, with its model run, input data and allocations.
func (c *Client) Batch(ctx context.Context, token, batchID string) (*BatchDetail, error) {
	id, err := pathSegment("batch", batchID)
	if err != nil {
		return nil, err
	}
	return getObject[BatchDetail](ctx, c, token, call{method: http.MethodGet, path: "/batches/" + id})
}
