package mangrove

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// Async task states: pending → running → complete or failed.
const (
	TaskPending  = "pending"
	TaskRunning  = "running"
	TaskComplete = "complete"
	TaskFailed   = "failed"
)

// AsyncTask is a background job of the API, such as a batch generation
// (Type "ProductionAccounting::BatchGeneration").
type AsyncTask struct {
	ID                  int64      `json:"id"`
	Type                string     `json:"type"`
	State               string     `json:"state"`
	Progress            int        `json:"progress"`             // 0-100
	ProgressDescription *string    `json:"progress_description"` // e.g. "Processing batch 2 of 3"
	StartedAt           *time.Time `json:"started_at"`
	FinishedAt          *time.Time `json:"finished_at"`
	// CreatedAt is in the 202 answer of batch_generations; the documented GET omits it.
	CreatedAt    *time.Time      `json:"created_at"`
	ErrorMessage *string         `json:"error_message"` // set when State is failed
	Result       json.RawMessage `json:"result"`        // nil when null or absent
	Args         json.RawMessage `json:"args"`          // e.g. {"project_id":123,"ledger_id":456}
}

// UnmarshalJSON decodes a task, reading null result and args as nil.
func (t *AsyncTask) UnmarshalJSON(b []byte) error {
	type plain AsyncTask
	if err := json.Unmarshal(b, (*plain)(t)); err != nil {
		return err
	}
	t.Result = nullToNil(t.Result)
	t.Args = nullToNil(t.Args)
	return nil
}

// Terminal reports whether the task has finished, successfully or not: polling can stop.
// The reference lists four states (pending, running, complete, failed) and says
// finished_at is null while running; a state it does not list with finished_at set is
// read as finished too (a guess: see README, "Task states"), so such a task is not
// polled forever.
func (t *AsyncTask) Terminal() bool {
	return t != nil && (t.State == TaskComplete || t.State == TaskFailed ||
		(t.FinishedAt != nil && t.State != TaskPending && t.State != TaskRunning))
}

// AsyncTask returns GET /async_tasks/{id}.
func (c *Client) AsyncTask(ctx context.Context, token string, id int64) (*AsyncTask, error) {
	return getObject[AsyncTask](ctx, c, token, call{method: http.MethodGet, path: "/async_tasks/" + strconv.FormatInt(id, 10)})
}
