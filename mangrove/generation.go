package mangrove

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"
)

// PreviewRequest is the body of POST /ledgers/{id}/generate_preview. Times are sent as
// RFC 3339 in UTC, whole seconds.
type PreviewRequest struct {
	StartTime    time.Time `json:"start_time"`
	EndTime      time.Time `json:"end_time"`
	DataPointIDs []string  `json:"data_point_ids,omitempty"` // omitted: auto-discovered from the range
}

// MarshalJSON writes the times as e.g. "2025-01-01T00:00:00Z", the form the API's
// cookbook sends, whatever the time's location.
func (r PreviewRequest) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		StartTime    string   `json:"start_time"`
		EndTime      string   `json:"end_time"`
		DataPointIDs []string `json:"data_point_ids,omitempty"`
	}{apiTime(r.StartTime), apiTime(r.EndTime), r.DataPointIDs})
}

// PreviewEntry is one ledger that would get batches, and how many.
type PreviewEntry struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Count int    `json:"count"`
}

// GenerationRequest is the body of POST /ledgers/{id}/batch_generations.
type GenerationRequest struct {
	StartTime               time.Time     `json:"start_time"`
	EndTime                 time.Time     `json:"end_time"`
	DataPointIDs            []string      `json:"data_point_ids,omitempty"`
	BatchAmounts            []BatchAmount `json:"batch_amounts,omitempty"`               // allocations from upstream batches (guess: README)
	SkippedDataPointTypeIDs []int64       `json:"skipped_data_point_type_ids,omitempty"` // data point types to leave out
}

// MarshalJSON writes the times as RFC 3339 UTC, like PreviewRequest.
func (r GenerationRequest) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		StartTime               string        `json:"start_time"`
		EndTime                 string        `json:"end_time"`
		DataPointIDs            []string      `json:"data_point_ids,omitempty"`
		BatchAmounts            []BatchAmount `json:"batch_amounts,omitempty"`
		SkippedDataPointTypeIDs []int64       `json:"skipped_data_point_type_ids,omitempty"`
	}{apiTime(r.StartTime), apiTime(r.EndTime), r.DataPointIDs, r.BatchAmounts, r.SkippedDataPointTypeIDs})
}

// BatchAmount allocates PrimaryOutputAmount from an existing upstream batch (of a ledger
// that feeds one of the generating ledger's manual-select inputs) to the generation, for
// one allocation group; nil AllocationGroup leaves the key out (the API's default group).
// The reference calls them "batch amount overrides" in one place and "upstream batch
// allocations" in another; the README's guesses say why the dashboard reads the latter.
type BatchAmount struct {
	BatchID             string  `json:"batch_id"`
	PrimaryOutputAmount float64 `json:"primary_output_amount"`
	AllocationGroup     *string `json:"allocation_group,omitempty"`
}

func apiTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// PreviewGeneration asks POST /ledgers/{ledgerID}/generate_preview how many batches a
// generation would create per ledger. It creates nothing, but as a POST it is not
// retried: the client retries only GET requests.
func (c *Client) PreviewGeneration(ctx context.Context, token, ledgerID string, req PreviewRequest) ([]PreviewEntry, error) {
	id, err := pathSegment("ledger", ledgerID)
	if err != nil {
		return nil, err
	}
	l, err := getList[PreviewEntry](ctx, c, token, call{method: http.MethodPost, path: "/ledgers/" + id + "/generate_preview", body: req})
	if err != nil {
		return nil, err
	}
	return l.Data, nil
}

// StartGeneration starts a batch generation with POST /ledgers/{ledgerID}/batch_generations
// and returns the async task to poll. It is never retried, not even after a connection
// error: a repeat could generate batches twice. When IsUnknownOutcome(err) is true the
// generation may have started; check before offering to try again.
func (c *Client) StartGeneration(ctx context.Context, token, ledgerID string, req GenerationRequest) (*AsyncTask, error) {
	id, err := pathSegment("ledger", ledgerID)
	if err != nil {
		return nil, err
	}
	r := call{method: http.MethodPost, path: "/ledgers/" + id + "/batch_generations", body: req}
	task, err := getObject[AsyncTask](ctx, c, token, r)
	if err != nil {
		return nil, err
	}
	if task.ID == 0 {
		// Accepted, but without an id there is nothing to poll: the outcome is unknown.
		return nil, r.decodeError(errors.New("response has no task id"))
	}
	return task, nil
}
