package checkapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/mangrove/sandbox"
)

// TestRunSandbox checks the sandbox, the dashboard's demo backend: nothing
// the dashboard needs is broken, every documented behaviour the sandbox
// can show holds, and only GETs reached it.
func TestRunSandbox(t *testing.T) {
	s, err := sandbox.Open(sandbox.Options{DBPath: filepath.Join(t.TempDir(), "sandbox.db"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	log := &methodLog{}
	srv := httptest.NewServer(log.wrap(s.Handler()))
	defer srv.Close()

	rep, out := run(t, Options{BaseURL: srv.URL + "/api/v1", Token: s.Tokens().ReadWrite, TaskID: 1})
	if !rep.OK() {
		t.Errorf("the sandbox fails the check:\n%s", out)
	}
	for _, row := range rep.Rows {
		// The sandbox has a batch in error among complete ones, events over
		// months and a finished task: no check should be left untold, and no
		// guess should fail on the dashboard's own demo backend.
		if row.Status == CouldNotTell || row.Status.bad() {
			t.Errorf("%s %s: %s (%s)", row.Endpoint, row.Check, row.Status, row.Note)
		}
	}
	if got := log.notGet(); len(got) > 0 {
		t.Errorf("methods other than GET reached the sandbox: %v", got)
	}
	if rep.Requests != log.count() || rep.Requests == 0 {
		t.Errorf("report counts %d requests, the sandbox saw %d", rep.Requests, log.count())
	}
}

// TestRunDocumentedExamples checks a server answering with the reference's
// own examples (mangrove/testdata): they pass, with the /ledgers example's
// missing info a finding the dashboard copes with.
func TestRunDocumentedExamples(t *testing.T) {
	api, log := newDocAPI(t, nil)
	rep, out := run(t, Options{BaseURL: api.URL + "/api/v1", Token: "tok", TaskID: 456})
	if !rep.OK() {
		t.Errorf("the documented examples fail the check:\n%s", out)
	}
	if r := find(t, rep, "GET /ledgers", "info"); r.Status != Missing || r.Broken() {
		t.Errorf("GET /ledgers info: %+v, want missing and coped with", r)
	}
	if r := find(t, rep, "GET /ledgers/{id}/batches", "filter[state][eq] narrows the list"); r.Status != Holds {
		t.Errorf("state filter: %+v", r)
	}
	if got := log.notGet(); len(got) > 0 {
		t.Errorf("methods other than GET reached the server: %v", got)
	}
}

// TestRunFailsWithNamedReason breaks one thing the dashboard needs at a
// time: the check fails and its last line names it.
func TestRunFailsWithNamedReason(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(path string, body any)
		want   []string
	}{
		{
			name: "LedgerWithoutLatestModel",
			break_: func(path string, body any) {
				if path == "/ledgers/lgr_abc123def456" {
					delete(object(body), "latest_model")
				}
			},
			want: []string{"GET /ledgers/{id} latest_model (missing)"},
		},
		{
			name: "LedgersListWithoutLatestModel",
			break_: func(path string, body any) {
				if path == "/ledgers" {
					for _, l := range arrayValue(object(body)["data"]) {
						delete(object(l), "latest_model")
					}
				}
			},
			want: []string{"GET /ledgers data[].latest_model (missing)"},
		},
		{
			name: "PrimaryOutputValueString",
			break_: func(path string, body any) {
				forBatches(path, body, func(b map[string]any) {
					po := object(b["primary_output"])
					po["value"] = fmt.Sprint(po["value"])
				})
			},
			want: []string{
				"GET /ledgers/{id}/batches data[].primary_output.value (wrong type)",
				"GET /ledgers/{id}/batches the dashboard's client reads it (does not hold)",
				"GET /batches/{id} primary_output.value (wrong type)",
			},
		},
		{
			name: "StateFilterIgnored",
			break_: func(path string, body any) {
				// The server lists every batch whatever the filter: the
				// filtered answer holds other states.
				if strings.HasSuffix(path, "/batches?filtered") {
					o := object(body)
					o["data"] = append(arrayValue(o["data"]), docBatches(t)...)
				}
			},
			want: []string{"GET /ledgers/{id}/batches filter[state][eq] narrows the list (does not hold)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api, _ := newDocAPI(t, tt.break_)
			rep, out := run(t, Options{BaseURL: api.URL + "/api/v1", Token: "tok"})
			if rep.OK() {
				t.Fatalf("the check passes:\n%s", out)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			last := lines[len(lines)-1]
			if !strings.HasPrefix(last, "FAIL: ") {
				t.Errorf("last line %q, want FAIL: …", last)
			}
			for _, w := range tt.want {
				if !strings.Contains(last, w) {
					t.Errorf("last line %q does not name %q", last, w)
				}
			}
		})
	}
}

// TestRunAPIDown reports an API that does not answer as broken, and the
// checks that depended on it as untold.
func TestRunAPIDown(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"message":"invalid API token"}`))
	}))
	defer srv.Close()
	rep, out := run(t, Options{BaseURL: srv.URL + "/api/v1", Token: "bad"})
	if rep.OK() {
		t.Fatalf("passes:\n%s", out)
	}
	if r := find(t, rep, "GET /ledgers", "answers 200 with JSON"); r.Status != Missing || !strings.Contains(r.Note, "HTTP 401 invalid API token") {
		t.Errorf("GET /ledgers: %+v", r)
	}
	if r := find(t, rep, "GET /batches/{id}", "answers 200 with JSON"); r.Status != CouldNotTell {
		t.Errorf("GET /batches/{id}: %+v", r)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, "GET /ledgers answers 200 with JSON (missing: HTTP 401 invalid API token)") {
		t.Errorf("last line %q does not say why GET /ledgers failed", last)
	}
}

func run(t *testing.T, opts Options) (*Report, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := Run(ctx, opts)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	var out bytes.Buffer
	if err := rep.Print(&out); err != nil {
		t.Fatal(err)
	}
	return rep, out.String()
}

func find(t *testing.T, rep *Report, endpoint, check string) Row {
	t.Helper()
	for _, r := range rep.Rows {
		if r.Endpoint == endpoint && r.Check == check {
			return r
		}
	}
	t.Fatalf("no row %s %s", endpoint, check)
	return Row{}
}

// readDoc reads a documented example of mangrove/testdata.
func readDoc(t *testing.T, name string) any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "mangrove", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return doc(t, string(b))
}

// docBatches are three batches made from the documented batch: January to
// March 2025, the last still processing, updated in that order.
func docBatches(t *testing.T) []any {
	t.Helper()
	var out []any
	for i, month := range []time.Month{time.January, time.February, time.March} {
		b := object(arrayValue(object(readDoc(t, "batches_list.json"))["data"])[0])
		start := time.Date(2025, month, 1, 0, 0, 0, 0, time.UTC)
		b["id"] = fmt.Sprintf("bat_doc%d", i+1)
		b["tracking_id"] = fmt.Sprintf("%s-2025-001", month.String()[:3])
		b["start_time"] = start.Format(time.RFC3339)
		b["end_time"] = start.AddDate(0, 1, 0).Add(-time.Second).Format(time.RFC3339)
		b["updated_at"] = time.Date(2025, 4, 1, i, 0, 0, 0, time.UTC).Format(time.RFC3339)
		if i == 2 {
			b["state"] = "processing"
		}
		out = append(out, b)
	}
	return out
}

// forBatches calls f on every batch of a batch answer.
func forBatches(path string, body any, f func(map[string]any)) {
	switch {
	case strings.Contains(path, "/batches?"):
		for _, b := range arrayValue(object(body)["data"]) {
			f(object(b))
		}
	case strings.HasPrefix(path, "/batches/"):
		f(object(body))
	}
}

// newDocAPI serves the documented examples as an API that honours the
// list parameters the checker uses. breakIt, when set, changes each answer
// before it is written; path is the request's path below /api/v1, with
// "?listed" or "?filtered" added to batch lists.
func newDocAPI(t *testing.T, breakIt func(path string, body any)) (*httptest.Server, *methodLog) {
	t.Helper()
	const ledgerID = "lgr_abc123def456"
	log := &methodLog{}
	mux := http.NewServeMux()
	serve := func(pattern string, answer func(r *http.Request) (string, any)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			path, body := answer(r)
			if body == nil {
				w.WriteHeader(http.StatusNotFound)
				io.WriteString(w, `{"message":"Record not found."}`)
				return
			}
			if breakIt != nil {
				breakIt(path, body)
			}
			w.Header().Set("RateLimit-Limit", "1000")
			w.Header().Set("RateLimit-Remaining", "999")
			w.Header().Set("RateLimit-Reset", "1735689600")
			json.NewEncoder(w).Encode(body)
		})
	}
	serve("GET /api/v1/ledgers", func(*http.Request) (string, any) { return "/ledgers", readDoc(t, "ledgers_list.json") })
	serve("GET /api/v1/ledgers/{id}", func(r *http.Request) (string, any) {
		if r.PathValue("id") != ledgerID {
			return "", nil
		}
		return "/ledgers/" + ledgerID, readDoc(t, "ledger.json")
	})
	serve("GET /api/v1/ledgers/{id}/required_inputs", func(r *http.Request) (string, any) {
		return "/ledgers/" + r.PathValue("id") + "/required_inputs", readDoc(t, "required_inputs.json")
	})
	serve("GET /api/v1/ledgers/{id}/batches", func(r *http.Request) (string, any) {
		q := r.URL.Query()
		all := docBatches(t)
		var kept []any
		for _, b := range all {
			o := object(b)
			start, _ := timeValue(o["start_time"])
			end, _ := timeValue(o["end_time"])
			leq, _ := time.Parse(time.RFC3339, q.Get("filter[start_time][leq]"))
			geq, _ := time.Parse(time.RFC3339, q.Get("filter[end_time][geq]"))
			switch {
			case q.Has("filter[state][eq]") && o["state"] != q.Get("filter[state][eq]"),
				q.Has("filter[id][eq]") && o["id"] != q.Get("filter[id][eq]"),
				q.Has("filter[start_time][leq]") && start.After(leq),
				q.Has("filter[end_time][geq]") && end.Before(geq):
				continue
			}
			kept = append(kept, b)
		}
		if strings.HasPrefix(q.Get("sort"), "-updated_at") {
			slices.Reverse(kept)
		}
		path := "/ledgers/" + r.PathValue("id") + "/batches?listed"
		if len(kept) < len(all) {
			path = "/ledgers/" + r.PathValue("id") + "/batches?filtered"
		}
		return path, list(kept, q.Get("page_size"))
	})
	serve("GET /api/v1/batches/{id}", func(r *http.Request) (string, any) {
		b := object(readDoc(t, "batch.json"))
		b["id"] = r.PathValue("id")
		return "/batches/" + r.PathValue("id"), b
	})
	serve("GET /api/v1/projects", func(r *http.Request) (string, any) {
		// GET /projects/{id}'s documented example, shortened (reference 3.7).
		return "/projects", list([]any{map[string]any{"id": json.Number("123"), "name": "Southeast Capture Project"}}, r.URL.Query().Get("page_size"))
	})
	serve("GET /api/v1/projects/{id}/events", func(r *http.Request) (string, any) {
		if r.PathValue("id") != "123" {
			return "", nil
		}
		// The event and data point of the documented batch's input_data.
		var events []any
		for _, day := range []int{15, 20} {
			ev := object(object(arrayValue(object(readDoc(t, "batch.json"))["input_data"])[0])["event"])
			ev["start_time"] = time.Date(2025, 1, day, 0, 0, 0, 0, time.UTC).Format(time.RFC3339)
			ev["end_time"] = time.Date(2025, 1, day, 23, 59, 59, 0, time.UTC).Format(time.RFC3339)
			ev["data_points"] = []any{readDoc(t, "data_point.json")}
			events = append(events, ev)
		}
		if strings.HasPrefix(r.URL.Query().Get("sort"), "-") {
			slices.Reverse(events)
		}
		return "/projects/123/events", list(events, r.URL.Query().Get("page_size"))
	})
	serve("GET /api/v1/async_tasks/{id}", func(r *http.Request) (string, any) {
		if r.PathValue("id") != "456" {
			return "", nil
		}
		return "/async_tasks/456", readDoc(t, "async_task_complete.json")
	})
	srv := httptest.NewServer(log.wrap(mux))
	t.Cleanup(srv.Close)
	return srv, log
}

// list is a one-page list envelope of items.
func list(items []any, pageSize string) map[string]any {
	if pageSize == "" {
		pageSize = "10"
	}
	n := json.Number(fmt.Sprint(len(items)))
	pages := json.Number("1")
	if len(items) == 0 {
		pages = "0"
	}
	if items == nil {
		items = []any{}
	}
	return map[string]any{"data": items, "info": map[string]any{
		"items": n, "page_size": json.Number(pageSize), "total_items": n, "current_page": json.Number("1"),
		"next_page": nil, "previous_page": nil, "total_pages": pages, "sort": []any{}, "filter": []any{},
	}}
}
