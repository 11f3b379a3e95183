package sandbox

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// testEnv is a sandbox on a fresh t.TempDir() database behind httptest.
type testEnv struct {
	t   *testing.T
	s   *Server
	srv *httptest.Server
	tok Tokens
}

func newEnv(t *testing.T, opts Options) *testEnv {
	t.Helper()
	if opts.DBPath == "" {
		opts.DBPath = filepath.Join(t.TempDir(), "sandbox.db")
	}
	s, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	srv := httptest.NewServer(s.Handler())
	e := &testEnv{t: t, s: s, srv: srv, tok: s.Tokens()}
	t.Cleanup(func() {
		srv.Close()
		s.Close()
	})
	return e
}

// with is the env reporting to t: a subtest's failures belong to the subtest, and a
// parent's t.Fatal called from a subtest ends both with a confusing Goexit report.
func (e *testEnv) with(t *testing.T) *testEnv {
	c := *e
	c.t = t
	return &c
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (r resp) message(t *testing.T) string {
	t.Helper()
	var m struct{ Message string }
	r.decode(t, &m)
	return m.Message
}

// do sends a request with "Authorization: Bearer <token>" (none when token is "").
func (e *testEnv) do(method, path, token string, body any) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// get fetches path with the read-write token, expects 200 and decodes into v.
func (e *testEnv) get(path string, v any) {
	e.t.Helper()
	r := e.do("GET", path, e.tok.ReadWrite, nil)
	if r.status != http.StatusOK {
		e.t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	r.decode(e.t, v)
}

type wireLedger struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	LatestModel *refJSON `json:"latest_model"`
}

type wireInfo struct {
	Items        int  `json:"items"`
	PageSize     int  `json:"page_size"`
	TotalItems   int  `json:"total_items"`
	CurrentPage  int  `json:"current_page"`
	NextPage     *int `json:"next_page"`
	PreviousPage *int `json:"previous_page"`
	TotalPages   int  `json:"total_pages"`
}

type wireBatch struct {
	ID            string `json:"id"`
	TrackingID    string `json:"tracking_id"`
	StartTime     string `json:"start_time"`
	EndTime       string `json:"end_time"`
	State         string `json:"state"`
	CreatedAt     string `json:"created_at"`
	PrimaryOutput struct {
		ID              int64   `json:"id"`
		Name            string  `json:"name"`
		DataPointTypeID int64   `json:"data_point_type_id"`
		Value           float64 `json:"value"`
	} `json:"primary_output"`
	LedgerBalance float64               `json:"ledger_balance"`
	Allocations   []batchAllocationJSON `json:"allocations"`
	ModelRun      struct {
		State        string  `json:"state"`
		ErrorMessage *string `json:"error_message"`
		Calculations []struct {
			Name  string  `json:"name"`
			Value float64 `json:"value"`
		} `json:"calculations"`
		OutputDataPoints []struct {
			ID    string  `json:"id"`
			Slug  string  `json:"slug"`
			Value float64 `json:"value"`
		} `json:"output_data_points"`
	} `json:"model_run"`
	Feedstocks []feedstockJSON `json:"feedstocks"`
}

type wireTask struct {
	ID                  int64           `json:"id"`
	Type                string          `json:"type"`
	State               string          `json:"state"`
	Progress            int             `json:"progress"`
	ProgressDescription *string         `json:"progress_description"`
	StartedAt           *string         `json:"started_at"`
	FinishedAt          *string         `json:"finished_at"`
	ErrorMessage        *string         `json:"error_message"`
	Result              *taskResultJSON `json:"result"`
	Args                taskArgsJSON    `json:"args"`
	CreatedAt           string          `json:"created_at"`
}

// ledgerID finds a ledger by name through the API.
func (e *testEnv) ledgerID(name string) string {
	e.t.Helper()
	var l struct{ Data []wireLedger }
	e.get("/api/v1/ledgers?page_size=100", &l)
	for _, x := range l.Data {
		if x.Name == name {
			return x.ID
		}
	}
	e.t.Fatalf("no ledger %q", name)
	return ""
}

func (e *testEnv) preview(ledger string, body any) map[string]int {
	e.t.Helper()
	r := e.do("POST", "/api/v1/ledgers/"+ledger+"/generate_preview", e.tok.ReadWrite, body)
	if r.status != http.StatusOK {
		e.t.Fatalf("preview: %d %s", r.status, r.body)
	}
	var p struct{ Data []previewEntryJSON }
	r.decode(e.t, &p)
	out := map[string]int{}
	for _, x := range p.Data {
		out[x.Name] = x.Count
	}
	return out
}

func (e *testEnv) startGeneration(ledger string, body any) wireTask {
	e.t.Helper()
	r := e.do("POST", "/api/v1/ledgers/"+ledger+"/batch_generations", e.tok.ReadWrite, body)
	if r.status != http.StatusAccepted {
		e.t.Fatalf("batch_generations: %d %s", r.status, r.body)
	}
	var task wireTask
	r.decode(e.t, &task)
	return task
}

// waitTask polls GET /async_tasks/{id} until the task is complete or failed.
func (e *testEnv) waitTask(id int64) wireTask {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		var task wireTask
		e.get("/api/v1/async_tasks/"+itoa(id), &task)
		if task.State == "complete" || task.State == "failed" {
			return task
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.t.Fatalf("task %d did not finish", id)
	return wireTask{}
}

// waitComplete waits for a task that must complete with a result and at least one
// batch. Anything else ends the test here, with the task's state and error, instead of
// a nil Result or an empty BatchIDs panicking later and hiding the package's other results.
func (e *testEnv) waitComplete(id int64) wireTask {
	e.t.Helper()
	task := e.waitTask(id)
	if task.State != "complete" || task.Result == nil || len(task.Result.BatchIDs) == 0 {
		msg := "<nil>"
		if task.ErrorMessage != nil {
			msg = *task.ErrorMessage
		}
		e.t.Fatalf("task %d ended %s (error_message %s) with result %+v, want complete with batches", id, task.State, msg, task.Result)
	}
	return task
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func (e *testEnv) batches(path string) ([]wireBatch, wireInfo) {
	e.t.Helper()
	var l struct {
		Data []wireBatch
		Info wireInfo
	}
	e.get(path, &l)
	return l.Data, l.Info
}

func trackingIDs(list []wireBatch) []string {
	ids := make([]string, len(list))
	for i, b := range list {
		ids[i] = b.TrackingID
	}
	return ids
}

var q1 = map[string]string{"start_time": "2025-01-01T00:00:00Z", "end_time": "2025-03-31T23:59:59Z"}
