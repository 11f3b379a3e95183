package mangrove

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// Batch is a Mangrove batch. The list endpoints return the list form; GET /batches/{id}
// adds InputData, ReportAllocations and DownstreamBatchAllocations; the compact form of
// update_inputs adds ErrorMessage and HasRuleAlerts. Fields a form lacks stay zero or nil.
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
	Allocations   []json.RawMessage `json:"allocations"`    // item shape undocumented
	ModelRun      *ModelRun         `json:"model_run"`
	Feedstocks    []json.RawMessage `json:"feedstocks"` // item shape undocumented
	ErrorMessage  *string           `json:"error_message"`
	HasRuleAlerts *bool             `json:"has_rule_alerts"`

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

// Batch returns GET /batches/{batchID}, with its input data and allocations.
func (c *Client) Batch(ctx context.Context, token, batchID string) (*Batch, error) {
	id, err := pathSegment("batch", batchID)
	if err != nil {
		return nil, err
	}
	return getObject[Batch](ctx, c, token, call{method: http.MethodGet, path: "/batches/" + id})
}
