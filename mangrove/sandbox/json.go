package sandbox

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"
)

// Wire types. The sandbox has its own, separate from the dashboard's client, so that a
// shared misunderstanding of the API cannot hide in one type used on both sides.

// timeLayout is the documented response format: RFC 3339, UTC, milliseconds, "Z".
const timeLayout = "2006-01-02T15:04:05.000Z"

// apiTime is a timestamp in unix milliseconds (as stored) that marshals in timeLayout.
type apiTime int64

// MarshalJSON writes the documented millisecond UTC form.
func (t apiTime) MarshalJSON() ([]byte, error) {
	return []byte(`"` + formatMillis(int64(t)) + `"`), nil
}

// UnmarshalJSON reads any RFC 3339 time, so the wire types round-trip (tests, tools).
func (t *apiTime) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return err
	}
	*t = apiTime(v.UnixMilli())
	return nil
}

func formatMillis(ms int64) string { return time.UnixMilli(ms).UTC().Format(timeLayout) }

func optTime(ms *int64) *apiTime {
	if ms == nil {
		return nil
	}
	t := apiTime(*ms)
	return &t
}

// parseAPITime accepts what clients send: RFC 3339 with or without fractional seconds
// (any offset, normalised to UTC) and a bare date. A bare date as a range end means the
// whole day, so it reports dateOnly and the caller moves it to the next midnight.
func parseAPITime(s string) (t time.Time, dateOnly bool, err error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), false, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t.UTC(), true, nil
	}
	return time.Time{}, false, fmt.Errorf("%q is not an RFC 3339 date-time (2025-01-01T00:00:00Z) or a date (2025-01-01)", s)
}

// round6 removes float noise (0.30000000000000004) from stored and returned values.
func round6(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return math.Round(v*1e6) / 1e6
}

type errorJSON struct {
	Message string `json:"message"`
}

type listInfoJSON struct {
	Items        int   `json:"items"`
	PageSize     int   `json:"page_size"`
	TotalItems   int64 `json:"total_items"`
	CurrentPage  int   `json:"current_page"`
	NextPage     *int  `json:"next_page"`
	PreviousPage *int  `json:"previous_page"`
	TotalPages   int64 `json:"total_pages"`
	Sort         []any `json:"sort"`
	Filter       []any `json:"filter"`
}

type listJSON[T any] struct {
	Data []T          `json:"data"`
	Info listInfoJSON `json:"info"`
}

type dataJSON[T any] struct {
	Data []T `json:"data"`
}

type refJSON struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type projectJSON struct {
	ID          int64   `json:"id"`
	Name        string  `json:"name"`
	Description string  `json:"description"`
	ProjectType string  `json:"project_type"`
	CreatedAt   apiTime `json:"created_at"`
	UpdatedAt   apiTime `json:"updated_at"`
}

type ledgerJSON struct {
	ID               string   `json:"id"`
	Name             string   `json:"name"`
	Unit             *string  `json:"unit"`
	SystemLedgerType *string  `json:"system_ledger_type"`
	PartitionType    *string  `json:"partition_type"`
	Cadence          *string  `json:"cadence"`
	LatestModel      *refJSON `json:"latest_model"`
	AssetCategory    any      `json:"asset_category"`
	CreatedAt        apiTime  `json:"created_at"`
	UpdatedAt        apiTime  `json:"updated_at"`
}

type requiredInputJSON struct {
	ID               int64                 `json:"id"`
	Name             string                `json:"name"`
	Slug             string                `json:"slug"`
	Unit             *string               `json:"unit"`
	ValueType        string                `json:"value_type"`
	Category         string                `json:"category"`
	Subcategory      string                `json:"subcategory"`
	IsManualSelect   bool                  `json:"is_manual_select"`
	AllocationGroups []allocationGroupJSON `json:"allocation_groups"`
	OutputOfLedgers  []refJSON             `json:"output_of_ledgers"`
}

// allocationGroupJSON is an item of a required input's allocation_groups; the docs show
// only empty arrays, so the shape is the sandbox's guess (README "Guesses").
type allocationGroupJSON struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type previewEntryJSON struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Count int    `json:"count"`
}

type taskArgsJSON struct {
	ProjectID int64 `json:"project_id"`
	LedgerID  int64 `json:"ledger_id"`
}

type taskResultJSON struct {
	BatchIDs  []string `json:"batch_ids"`
	LedgerIDs []string `json:"ledger_ids"`
}

type taskJSON struct {
	ID                  int64           `json:"id"`
	Type                string          `json:"type"`
	State               string          `json:"state"`
	Progress            int             `json:"progress"`
	ProgressDescription *string         `json:"progress_description"`
	StartedAt           *apiTime        `json:"started_at"`
	FinishedAt          *apiTime        `json:"finished_at"`
	ErrorMessage        *string         `json:"error_message"`
	Result              json.RawMessage `json:"result"`
	Args                taskArgsJSON    `json:"args"`
	CreatedAt           apiTime         `json:"created_at"`
}

type primaryOutputJSON struct {
	ID              int64   `json:"id"`
	Name            string  `json:"name"`
	Unit            *string `json:"unit"`
	DataPointTypeID int64   `json:"data_point_type_id"`
	Value           float64 `json:"value"`
}

type calculationJSON struct {
	ID       int64   `json:"id"`
	Name     string  `json:"name"`
	Value    float64 `json:"value"`
	Unit     *string `json:"unit"`
	GHG      *string `json:"ghg"`
	LCARole  *string `json:"lca_role"`
	Category *string `json:"category"`
}

// dataPointJSON is the documented DataPoint object. ID is null only for the
// placeholder recorded for a skipped input type (status "skipped").
type dataPointJSON struct {
	ID            *string `json:"id"`
	Slug          string  `json:"slug"`
	DataPointType string  `json:"data_point_type"`
	Value         float64 `json:"value"`
	Unit          *string `json:"unit"`
	Status        string  `json:"status"`
}

type modelRunJSON struct {
	ID               int64             `json:"id"`
	StartTime        apiTime           `json:"start_time"`
	EndTime          apiTime           `json:"end_time"`
	State            string            `json:"state"`
	ErrorMessage     *string           `json:"error_message"`
	CreatedAt        apiTime           `json:"created_at"`
	UpdatedAt        apiTime           `json:"updated_at"`
	Calculations     []calculationJSON `json:"calculations"`
	OutputDataPoints []dataPointJSON   `json:"output_data_points"`
}

type feedstockJSON struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

type batchJSON struct {
	ID            string            `json:"id"`
	TrackingID    string            `json:"tracking_id"`
	StartTime     apiTime           `json:"start_time"`
	EndTime       apiTime           `json:"end_time"`
	State         string            `json:"state"`
	CreatedAt     apiTime           `json:"created_at"`
	UpdatedAt     apiTime           `json:"updated_at"`
	PrimaryOutput primaryOutputJSON `json:"primary_output"`
	LedgerBalance float64           `json:"ledger_balance"`
	// Allocations are the allocations to this batch, from upstream batches.
	Allocations []batchAllocationJSON `json:"allocations"`
	ModelRun    *modelRunJSON         `json:"model_run"`
	Feedstocks  []feedstockJSON       `json:"feedstocks"`
}

// allocationJSON is the documented allocation object: {id, amount, unit} in a report
// allocation, plus created_at as on a report's allocation.
type allocationJSON struct {
	ID        int64   `json:"id"`
	Amount    float64 `json:"amount"`
	Unit      *string `json:"unit"`
	CreatedAt apiTime `json:"created_at"`
}

// allocationBatchJSON is the batch at the other end of an allocation.
type allocationBatchJSON struct {
	ID         string  `json:"id"`
	TrackingID string  `json:"tracking_id"`
	StartTime  apiTime `json:"start_time"`
	EndTime    apiTime `json:"end_time"`
	Ledger     refJSON `json:"ledger"`
}

// batchAllocationJSON is an item of a batch's allocations (batch: the upstream batch it
// came from) and of downstream_batch_allocations (batch: the downstream batch it went
// to), shaped like the documented report_allocations item {allocation, amount, unit,
// report} with batch in place of report, plus the allocation group.
type batchAllocationJSON struct {
	Allocation      allocationJSON      `json:"allocation"`
	Amount          float64             `json:"amount"`
	Unit            *string             `json:"unit"`
	AllocationGroup *string             `json:"allocation_group"`
	Batch           allocationBatchJSON `json:"batch"`
}

type eventRefJSON struct {
	ID         string  `json:"id"`
	Slug       string  `json:"slug"`
	EventType  string  `json:"event_type"`
	TrackingID *string `json:"tracking_id"`
	StartTime  apiTime `json:"start_time"`
	EndTime    apiTime `json:"end_time"`
}

type inputDataJSON struct {
	DataPoint dataPointJSON `json:"data_point"`
	Event     *eventRefJSON `json:"event"`
}

type ruleAlertJSON struct {
	Message string `json:"message"`
}

// batchDetailJSON is GET /batches/{id}: the list form plus the documented extras.
// has_rule_alerts comes from the update_inputs form; rule_alerts is the sandbox's own
// (the data-rule alerts the model raised, which the docs show no batch field for).
type batchDetailJSON struct {
	batchJSON
	InputData                  []inputDataJSON       `json:"input_data"`
	ReportAllocations          []any                 `json:"report_allocations"`
	DownstreamBatchAllocations []batchAllocationJSON `json:"downstream_batch_allocations"`
	HasRuleAlerts              bool                  `json:"has_rule_alerts"`
	RuleAlerts                 []ruleAlertJSON       `json:"rule_alerts"`
}

// dataPointItemJSON is an item of GET /projects/{id}/data_points: the DataPoint object
// plus its owning event and time, so a client can tell what a range holds.
type dataPointItemJSON struct {
	ID              string         `json:"id"`
	Slug            string         `json:"slug"`
	DataPointType   string         `json:"data_point_type"`
	DataPointTypeID int64          `json:"data_point_type_id"`
	Value           float64        `json:"value"`
	Unit            *string        `json:"unit"`
	Status          string         `json:"status"`
	EventID         string         `json:"event_id"`
	EventType       string         `json:"event_type"`
	StartTime       apiTime        `json:"start_time"`
	EndTime         apiTime        `json:"end_time"`
	Feedstock       *feedstockJSON `json:"feedstock"`
}

// writeJSON encodes into memory first so an encoding failure becomes a 500, not half a body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"message":"internal error: response encoding failed"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
	w.Write([]byte("\n"))
}

func writeError(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, errorJSON{Message: fmt.Sprintf(format, args...)})
}

func nullStr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

const (
	lowerAlnum = "abcdefghijklmnopqrstuvwxyz0123456789"
	mixedAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

// randomID makes a friendly id like the real API's: a type prefix and a random suffix
// (12 lowercase alphanumerics for lgr_/bat_/mdl_/dp_, 16 mixed-case for evt_/in_).
func randomID(prefix string, n int, alphabet string) string {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return prefix + string(b)
}
