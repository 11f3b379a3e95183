package metrics

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestEndpoint(t *testing.T) {
	tests := []struct{ path, want string }{
		{"/ledgers", "/ledgers"},
		{"/ledgers/", "/ledgers"},
		{"/ledgers/lgr_abc123", "/ledgers/{id}"},
		{"/ledgers/lgr_abc123/batches", "/ledgers/{id}/batches"},
		{"/ledgers/lgr_abc123/required_inputs", "/ledgers/{id}/required_inputs"},
		{"/ledgers/x/generate_preview", "/ledgers/{id}/generate_preview"},
		{"/ledgers/x/batch_generations", "/ledgers/{id}/batch_generations"},
		{"/async_tasks/42", "/async_tasks/{id}"},
		{"/projects", "/projects"},
		{"/projects/7/data_points", "/projects/{id}/data_points"},
		{"", "other"},
		{"/", "other"},
		{"/secret-token-in-path", "other"},
		{"/ledgers/a/b/c/d/e/f", "other"},
		{"/ledgers/a/%3Cscript%3E", "other"},
	}
	for _, tt := range tests {
		if got := Endpoint(tt.path); got != tt.want {
			t.Errorf("Endpoint(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

func TestUpstreamTransport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/batches") {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "{}")
	}))
	defer srv.Close()
	reg := prometheus.NewRegistry()
	m := New(reg)
	hc := &http.Client{Transport: m.UpstreamTransport(nil, srv.URL+"/api/v1")}

	get := func(path string) {
		resp, err := hc.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	get("/api/v1/ledgers/lgr_1/batches?page=2")
	get("/api/v1/ledgers/lgr_2/batches")
	get("/api/v1/async_tasks/9")

	if got := testutil.ToFloat64(m.upstream.WithLabelValues("/ledgers/{id}/batches", "GET", "503")); got != 2 {
		t.Errorf("batches 503 count %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.upstream.WithLabelValues("/async_tasks/{id}", "GET", "200")); got != 1 {
		t.Errorf("task 200 count %v, want 1", got)
	}
	if n := testutil.CollectAndCount(m.upstreamLatency); n != 2 {
		t.Errorf("%d latency series, want 2 (one per endpoint and method)", n)
	}

	// A connection that fails is counted with status "error".
	bad := &http.Client{Transport: m.UpstreamTransport(failingTransport{}, "http://x/api/v1")}
	if _, err := bad.Get("http://x/api/v1/ledgers"); err == nil {
		t.Fatal("want an error")
	}
	if got := testutil.ToFloat64(m.upstream.WithLabelValues("/ledgers", "GET", "error")); got != 1 {
		t.Errorf("error count %v, want 1", got)
	}
}

type failingTransport struct{}

func (failingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("connection refused")
}

func TestRequestsAndGenerations(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	m.ObserveRequest("/ledgers/:id", "GET", 200, 30*time.Millisecond, false)
	m.ObserveRequest("/ledgers/:id", "GET", 200, 30*time.Millisecond, false)
	m.ObserveRequest("/tasks/:id/events", "GET", 200, 5*time.Minute, true)
	m.GenerationStarted(OutcomeStarted)
	m.GenerationStarted(OutcomeUnknown)
	m.GenerationFinished("complete")
	m.RegisterGauges(func() int { return 3 }, func() int { return 2 })

	want := `
# HELP dashboard_http_requests_total Requests served, by route pattern (never the raw URL), method and status.
# TYPE dashboard_http_requests_total counter
dashboard_http_requests_total{method="GET",route="/ledgers/:id",status="200"} 2
dashboard_http_requests_total{method="GET",route="/tasks/:id/events",status="200"} 1
# HELP dashboard_generations_started_total Confirmed batch generations by what the API answered: started, rejected or unknown (no answer).
# TYPE dashboard_generations_started_total counter
dashboard_generations_started_total{outcome="rejected"} 0
dashboard_generations_started_total{outcome="started"} 1
dashboard_generations_started_total{outcome="unknown"} 1
# HELP dashboard_generations_finished_total Batch generations started from this dashboard that reached a final state, by outcome: complete or failed.
# TYPE dashboard_generations_finished_total counter
dashboard_generations_finished_total{outcome="complete"} 1
dashboard_generations_finished_total{outcome="failed"} 0
# HELP dashboard_event_streams_open Task event streams (server-sent events) currently open.
# TYPE dashboard_event_streams_open gauge
dashboard_event_streams_open 3
# HELP dashboard_task_watchers_active Task watchers currently polling the API (one per running task, shared by its viewers).
# TYPE dashboard_task_watchers_active gauge
dashboard_task_watchers_active 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"dashboard_http_requests_total", "dashboard_generations_started_total", "dashboard_generations_finished_total",
		"dashboard_event_streams_open", "dashboard_task_watchers_active"); err != nil {
		t.Fatal(err)
	}
	// Streams are counted but not timed.
	if n := testutil.CollectAndCount(m.requestDuration); n != 1 {
		t.Errorf("%d duration series, want 1", n)
	}

	// The handler serves the registry.
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "dashboard_task_watchers_active 2") {
		t.Fatalf("handler: %d %s", rec.Code, rec.Body.String())
	}
}

func TestNilMetricsRecordNothing(t *testing.T) {
	var m *Metrics
	m.ObserveRequest("/", "GET", 200, time.Second, false)
	m.GenerationStarted(OutcomeStarted)
	m.GenerationFinished("failed")
	m.RegisterGauges(func() int { return 0 }, func() int { return 0 })
	if rt := m.UpstreamTransport(nil, ""); rt != http.DefaultTransport {
		t.Fatal("a nil Metrics should leave the transport alone")
	}
}
