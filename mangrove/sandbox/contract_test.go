package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// Contract tests: each documented example in ../testdata (the reference's
// JSON, transcribed; see mangrove/testdata_test.go) that the sandbox serves
// an equivalent of is compared with the sandbox's answer: the same keys and
// the same JSON types, recursively. Reading the files imports nothing of the
// dashboard.

// contractExceptions are the differences the sandbox keeps on purpose, by
// example file and JSON path, each with its reason. A difference not listed
// fails the test, and so does an exception that no longer happens.
var contractExceptions = map[string]string{
	// The cookbook's GET /ledgers example is abbreviated: the pagination
	// rule (reference 2.4) gives every list an info, and the dashboard's
	// pager reads it when present.
	"ledgers_list.json $.info": "extra: lists carry info (reference 2.4); the cookbook example omits it",
	// Biochar Inventory has no model: null is the documented "no model,
	// generation impossible" (reference 3.1, the cookbook's rule).
	"ledgers_list.json $.data[].latest_model": "null: a ledger without a model (reference 3.1)",

	// The documented 202 body has five fields; the sandbox answers with the
	// whole task, as GET /async_tasks/{id} shows it.
	"batch_generation_202.json $.progress_description": "extra: the 202 is the whole task (GET /async_tasks/{id}'s fields)",
	"batch_generation_202.json $.started_at":           "extra: the 202 is the whole task (GET /async_tasks/{id}'s fields)",
	"batch_generation_202.json $.finished_at":          "extra: the 202 is the whole task (GET /async_tasks/{id}'s fields)",
	"batch_generation_202.json $.error_message":        "extra: the 202 is the whole task (GET /async_tasks/{id}'s fields)",
	"batch_generation_202.json $.result":               "extra: the 202 is the whole task (GET /async_tasks/{id}'s fields)",
	"batch_generation_202.json $.args":                 "extra: the 202 is the whole task (GET /async_tasks/{id}'s fields)",

	// The 202 body documents created_at, the GET examples do not; the
	// sandbox keeps one task shape for both.
	"async_task_running.json $.created_at":  "extra: created_at as in the 202 body (reference 3.2 note)",
	"async_task_complete.json $.created_at": "extra: created_at as in the 202 body (reference 3.2 note)",

	// GET /batches/{id}: has_rule_alerts is documented on the update_inputs
	// form of a batch; rule_alerts is the sandbox's own (README, Endpoints).
	"batch.json $.has_rule_alerts": "extra: has_rule_alerts from the update_inputs batch form (reference 3.3)",
	"batch.json $.rule_alerts":     "extra: the sandbox's data-rule alerts (no documented batch field)",

	// The Pagination page's info example predates sort and filter, which the
	// newer list examples (GET /batches, batch evidences) carry.
	"pagination_info.json $.sort":   "extra: info.sort as in the newer list examples (reference 2.4)",
	"pagination_info.json $.filter": "extra: info.filter as in the newer list examples (reference 2.4)",

	// GET /projects/{id}/data_points items: the DataPoint object plus the
	// sandbox's own fields for range checks (sandbox README, Endpoints).
	"data_point.json $.data_point_type_id": "extra: data point list item field of the sandbox (README, Endpoints)",
	"data_point.json $.event_id":           "extra: data point list item field of the sandbox (README, Endpoints)",
	"data_point.json $.event_type":         "extra: data point list item field of the sandbox (README, Endpoints)",
	"data_point.json $.start_time":         "extra: data point list item field of the sandbox (README, Endpoints)",
	"data_point.json $.end_time":           "extra: data point list item field of the sandbox (README, Endpoints)",
	"data_point.json $.feedstock":          "extra: data point list item field of the sandbox (README, Endpoints)",
	// An event's data points carry rule_results: documented on the DataPoint
	// object (reference 3.8), absent from the example of batch input data.
	"data_point.json (event) $.rule_results": "extra: rule_results, documented on the DataPoint object (reference 3.8)",
}

// contractNotServed are the documented examples of endpoints the sandbox
// does not serve; the test checks that each still answers 404, so that
// serving one later brings its comparison in.
var contractNotServed = []struct{ file, method, path string }{
	{"batch_evidences.json", http.MethodGet, "/api/v1/batches/{batch}/evidences"},
	{"batch_update_inputs.json", http.MethodPatch, "/api/v1/ledgers/{ledger}/batches/{batch}/update_inputs"},
	{"error_shape_b.json", http.MethodPost, "/api/v1/reports/rpt_abc123def456/submit"},
}

// contractCase compares one example with one sandbox answer.
type contractCase struct {
	name string // example file, with a qualifier when one file has several cases
	file string
	get  func(e *contractEnv) any // the sandbox's part to compare
}

type contractEnv struct {
	*testEnv
	ledger, batch, task string
}

// json fetches path, expects status, and decodes with UseNumber.
func (e *contractEnv) json(method, path string, body any, status int) any {
	e.t.Helper()
	r := e.do(method, path, e.tok.ReadWrite, body)
	if r.status != status {
		e.t.Fatalf("%s %s: %d %s, want %d", method, path, r.status, r.body, status)
	}
	return decodeUseNumber(e.t, r.body)
}

func decodeUseNumber(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

func contractCases() []contractCase {
	get := func(path string) func(*contractEnv) any {
		return func(e *contractEnv) any { return e.json(http.MethodGet, e.expand(path), nil, http.StatusOK) }
	}
	q1 := map[string]string{"start_time": "2025-01-01T00:00:00Z", "end_time": "2025-03-31T23:59:59Z"}
	firstItem := func(v any) any { return v.(map[string]any)["data"].([]any)[0] }
	return []contractCase{
		{name: "ledgers_list.json", file: "ledgers_list.json", get: get("/api/v1/ledgers")},
		{name: "ledger.json", file: "ledger.json", get: get("/api/v1/ledgers/{ledger}")},
		// The PATCH answer is the Ledger object; the sandbox serves it by GET.
		{name: "ledger_updated.json", file: "ledger_updated.json", get: get("/api/v1/ledgers/{ledger}")},
		{name: "required_inputs.json", file: "required_inputs.json", get: get("/api/v1/ledgers/{ledger}/required_inputs")},
		{name: "generate_preview.json", file: "generate_preview.json", get: func(e *contractEnv) any {
			return e.json(http.MethodPost, e.expand("/api/v1/ledgers/{ledger}/generate_preview"), q1, http.StatusOK)
		}},
		{name: "batch_generation_202.json", file: "batch_generation_202.json", get: func(e *contractEnv) any {
			return e.json(http.MethodPost, e.expand("/api/v1/ledgers/{ledger}/batch_generations"), q1, http.StatusAccepted)
		}},
		{name: "async_task_running.json", file: "async_task_running.json", get: func(e *contractEnv) any {
			return e.runningTask()
		}},
		{name: "async_task_complete.json", file: "async_task_complete.json", get: get("/api/v1/async_tasks/{task}")},
		{name: "batches_list.json (GET /batches)", file: "batches_list.json", get: get("/api/v1/batches")},
		{name: "batches_list.json (ledger)", file: "batches_list.json", get: get("/api/v1/ledgers/{ledger}/batches")},
		{name: "batch.json", file: "batch.json", get: get("/api/v1/batches/{batch}")},
		{name: "data_point.json", file: "data_point.json", get: func(e *contractEnv) any {
			return firstItem(e.json(http.MethodGet, "/api/v1/projects/101/data_points", nil, http.StatusOK))
		}},
		{name: "data_point.json (event)", file: "data_point.json", get: func(e *contractEnv) any {
			ev := firstItem(e.json(http.MethodGet, "/api/v1/projects/101/events", nil, http.StatusOK))
			return ev.(map[string]any)["data_points"].([]any)[0]
		}},
		{name: "pagination_info.json", file: "pagination_info.json", get: func(e *contractEnv) any {
			l := e.json(http.MethodGet, e.expand("/api/v1/ledgers/{ledger}/batches?page=1&page_size=10"), nil, http.StatusOK)
			return l.(map[string]any)["info"]
		}},
		{name: "error_shape_a.json", file: "error_shape_a.json", get: func(e *contractEnv) any {
			return e.json(http.MethodGet, "/api/v1/batches/bat_doesnotexist", nil, http.StatusNotFound)
		}},
	}
}

// expand fills {ledger}, {batch} and {task} in a path.
func (e *contractEnv) expand(path string) string {
	return strings.NewReplacer("{ledger}", e.ledger, "{batch}", e.batch, "{task}", e.task).Replace(path)
}

// runningTask starts a generation and reads its task while it runs.
func (e *contractEnv) runningTask() any {
	e.t.Helper()
	body := map[string]string{"start_time": "2025-01-01T00:00:00Z", "end_time": "2025-03-31T23:59:59Z"}
	started := e.json(http.MethodPost, e.expand("/api/v1/ledgers/{ledger}/batch_generations"), body, http.StatusAccepted)
	id := started.(map[string]any)["id"].(json.Number).String()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		task := e.json(http.MethodGet, "/api/v1/async_tasks/"+id, nil, http.StatusOK).(map[string]any)
		// The documented example is a task past its first step: running, with
		// a progress description (the state turns running a moment before).
		if task["state"] == "running" && task["progress_description"] != nil {
			return task
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.t.Fatalf("task %s never ran", id)
	return nil
}

func TestContractDocumentedExamples(t *testing.T) {
	// A step long enough to read a generation while it runs.
	env := &contractEnv{testEnv: newEnv(t, Options{StepDelay: 50 * time.Millisecond})}
	env.ledger = env.ledgerID("Net Carbon Removal")
	var list struct {
		Data []struct{ ID, State string }
	}
	env.get("/api/v1/ledgers/"+env.ledger+"/batches?page_size=100", &list)
	for _, b := range list.Data {
		if b.State == "complete" {
			env.batch = b.ID
			break
		}
	}
	env.task = "1" // the seed's generation of 2024, complete

	seen := map[string]bool{}
	for _, tc := range contractCases() {
		t.Run(tc.name, func(t *testing.T) {
			e := &contractEnv{testEnv: env.with(t), ledger: env.ledger, batch: env.batch, task: env.task}
			want := readExample(t, tc.file)
			got := tc.get(e)
			for _, d := range shapeDiffs("$", want, got) {
				key := tc.name + " " + d.path
				if _, ok := contractExceptions[key]; ok {
					seen[key] = true
					continue
				}
				t.Errorf("%s: %s", d.path, d.what)
			}
		})
	}
	for key, reason := range contractExceptions {
		if !seen[key] {
			t.Errorf("known exception %q (%s) no longer happens: remove it", key, reason)
		}
	}
	// Every example is either compared or known not to be served.
	files, err := filepath.Glob(filepath.Join("..", "testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, tc := range contractCases() {
		covered[tc.file] = true
	}
	for _, ns := range contractNotServed {
		covered[ns.file] = true
		path := env.expand(ns.path)
		if r := env.do(ns.method, path, env.tok.ReadWrite, "{}"); r.status != http.StatusNotFound && r.status != http.StatusMethodNotAllowed {
			t.Errorf("%s %s answers %d: the sandbox serves it now, compare it with %s", ns.method, path, r.status, ns.file)
		}
	}
	for _, f := range files {
		if !covered[filepath.Base(f)] {
			t.Errorf("%s is neither compared nor listed as not served", filepath.Base(f))
		}
	}
}

func readExample(t *testing.T, name string) any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return decodeUseNumber(t, b)
}

// shapeDiff is one difference between a documented example and an answer.
type shapeDiff struct{ path, what string }

// shapeDiffs compares got with the documented want by keys and JSON types,
// recursively: a key of one missing from the other, or another type. A null
// in want says nothing of the type (skipped); arrays compare each of got's
// elements with want's first when both have some. Paths name array
// elements "[]", so a difference in many elements is reported once.
func shapeDiffs(path string, want, got any) []shapeDiff {
	var out []shapeDiff
	seen := map[shapeDiff]bool{}
	var walk func(path string, want, got any)
	walk = func(path string, want, got any) {
		add := func(d shapeDiff) {
			if !seen[d] {
				seen[d] = true
				out = append(out, d)
			}
		}
		if want == nil {
			return
		}
		wt, gt := jsonKind(want), jsonKind(got)
		if wt != gt {
			add(shapeDiff{path, fmt.Sprintf("%s, documented %s", gt, wt)})
			return
		}
		switch w := want.(type) {
		case map[string]any:
			g := got.(map[string]any)
			for _, k := range contractKeys(w) {
				if _, ok := g[k]; !ok {
					add(shapeDiff{path + "." + k, "missing (documented)"})
					continue
				}
				walk(path+"."+k, w[k], g[k])
			}
			for _, k := range contractKeys(g) {
				if _, ok := w[k]; !ok {
					add(shapeDiff{path + "." + k, "not in the documented example"})
				}
			}
		case []any:
			g := got.([]any)
			if len(w) == 0 || len(g) == 0 {
				return
			}
			for _, el := range g {
				walk(path+"[]", w[0], el)
			}
		}
	}
	walk(path, want, got)
	return out
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case json.Number, float64:
		return "number"
	case bool:
		return "boolean"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return fmt.Sprintf("%T", v)
}

func contractKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TestShapeDiffs pins the comparison's rules.
func TestShapeDiffs(t *testing.T) {
	tests := []struct {
		name, want, got string
		diffs           []string
	}{
		{"Same", `{"a":1,"b":"x"}`, `{"b":"y","a":2.5}`, nil},
		{"Missing", `{"a":1,"b":"x"}`, `{"a":1}`, []string{"$.b: missing (documented)"}},
		{"Extra", `{"a":1}`, `{"a":1,"c":true}`, []string{"$.c: not in the documented example"}},
		{"WrongType", `{"value":100.5}`, `{"value":"100.5"}`, []string{"$.value: string, documented number"}},
		{"NullInExampleSkipped", `{"unit":null}`, `{"unit":{"x":1}}`, nil},
		{"NullInAnswer", `{"unit":"t"}`, `{"unit":null}`, []string{"$.unit: null, documented string"}},
		{"Nested", `{"po":{"value":1}}`, `{"po":{"value":true}}`, []string{"$.po.value: boolean, documented number"}},
		{"ArrayElements", `{"d":[{"id":1}]}`, `{"d":[{"id":1},{"id":"x"},{"id":"y"}]}`, []string{"$.d[].id: string, documented number"}},
		{"EmptyArraysSkipped", `{"d":[]}`, `{"d":[{"id":1}]}`, nil},
		{"ArrayVersusObject", `{"d":[]}`, `{"d":{}}`, []string{"$.d: object, documented array"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, d := range shapeDiffs("$", decodeUseNumber(t, []byte(tt.want)), decodeUseNumber(t, []byte(tt.got))) {
				got = append(got, d.path+": "+d.what)
			}
			if strings.Join(got, "\n") != strings.Join(tt.diffs, "\n") {
				t.Errorf("diffs %q, want %q", got, tt.diffs)
			}
		})
	}
}
