package handlers_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/internal/testapp"
	"github.com/carbon-dash/mangrove-dashboard/internal/testkit"
	"github.com/carbon-dash/mangrove-dashboard/store"
)

// opsMetrics reads /metrics into series → value, the series written as in
// the text format: name{label="value",…} with labels sorted by name.
func opsMetrics(t *testing.T, app *testapp.App) map[string]float64 {
	t.Helper()
	r := app.NewBrowser(t).Get("/metrics")
	if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %q", r.Status, r.Header.Get("Content-Type"))
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(r.Body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// opsSandbox wraps the sandbox with a switchable fault and records the
// X-Request-Id of every request it gets.
type opsSandbox struct {
	mode atomic.Value // string: "" (pass), "down" (503 everywhere), "401" (401 on /ledgers), "drop-generation"
	mu   sync.Mutex
	ids  map[string]bool
}

func (s *opsSandbox) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		if s.ids == nil {
			s.ids = map[string]bool{}
		}
		s.ids[r.Header.Get("X-Request-Id")] = true
		s.mu.Unlock()
		mode, _ := s.mode.Load().(string)
		switch {
		case mode == "down":
			http.Error(w, `{"message":"maintenance"}`, http.StatusServiceUnavailable)
			return
		case mode == "401" && r.URL.Path == "/api/v1/ledgers":
			http.Error(w, `{"message":"Unauthorized"}`, http.StatusUnauthorized)
			return
		case mode == "drop-generation" && r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/batch_generations"):
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close() // the request arrived; the answer never does
			}
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *opsSandbox) saw(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ids[id]
}

type opsReadyz struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

func getReadyz(t *testing.T, app *testapp.App) (int, opsReadyz) {
	t.Helper()
	r := app.NewBrowser(t).Get("/readyz")
	var body opsReadyz
	if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
		t.Fatalf("readyz body %q: %v", r.Body, err)
	}
	return r.Status, body
}

func TestReadyz(t *testing.T) {
	t.Run("ReadyAndCached", func(t *testing.T) {
		app := testapp.Start(t, testapp.Options{})
		before := app.Sandbox.RequestCount("GET /api/v1/ledgers")
		for range 5 {
			st, body := getReadyz(t, app)
			if st != http.StatusOK || body.Status != "ready" || body.Checks["store"] != "ok" || body.Checks["upstream"] != "ok" {
				t.Fatalf("readyz: %d %+v", st, body)
			}
		}
		if n := app.Sandbox.RequestCount("GET /api/v1/ledgers") - before; n != 1 {
			t.Fatalf("5 readiness checks made %d upstream calls, want 1 (cached)", n)
		}
	})
	t.Run("UpstreamDown", func(t *testing.T) {
		sb := &opsSandbox{}
		app := testapp.Start(t, testapp.Options{WrapSandbox: sb.wrap, ReadyCacheTTL: time.Nanosecond})
		sb.mode.Store("down")
		st, body := getReadyz(t, app)
		if st != http.StatusServiceUnavailable || body.Status != "not ready" || !strings.Contains(body.Checks["upstream"], "unreachable") || body.Checks["store"] != "ok" {
			t.Fatalf("readyz with the API down: %d %+v", st, body)
		}
		sb.mode.Store("")
		if st, body := getReadyz(t, app); st != http.StatusOK {
			t.Fatalf("readyz after the API came back: %d %+v", st, body)
		}
	})
	t.Run("UnauthenticatedAnswerIsReachable", func(t *testing.T) {
		sb := &opsSandbox{}
		app := testapp.Start(t, testapp.Options{WrapSandbox: sb.wrap, ReadyCacheTTL: time.Nanosecond})
		sb.mode.Store("401")
		if st, body := getReadyz(t, app); st != http.StatusOK {
			t.Fatalf("without a server token a 401 proves the API reachable: %d %+v", st, body)
		}
	})
	t.Run("ServerTokenRefused", func(t *testing.T) {
		sb := &opsSandbox{}
		app := testapp.Start(t, testapp.Options{WrapSandbox: sb.wrap, ReadyCacheTTL: time.Nanosecond, ServerToken: true})
		sb.mode.Store("401")
		st, body := getReadyz(t, app)
		if st != http.StatusServiceUnavailable || !strings.Contains(body.Checks["upstream"], "MANGROVE_API_TOKEN") {
			t.Fatalf("readyz with a refused server token: %d %+v", st, body)
		}
		if strings.Contains(app.NewBrowser(t).Get("/readyz").Body, app.Tokens.ReadWrite) {
			t.Fatal("readyz shows the token")
		}
	})
	t.Run("StoreClosed", func(t *testing.T) {
		app := testapp.Start(t, testapp.Options{})
		_ = app.Store.Close()
		st, body := getReadyz(t, app)
		if st != http.StatusServiceUnavailable || body.Checks["store"] == "ok" {
			t.Fatalf("readyz with the store closed: %d %+v", st, body)
		}
	})
}

func TestMetrics(t *testing.T) {
	sb := &opsSandbox{}
	app := testapp.Start(t, testapp.Options{StepDelay: 300 * time.Millisecond, PollInterval: time.Second, WrapSandbox: sb.wrap})
	b := app.SignedIn(t)
	id := app.LedgerByName(t, "Net Carbon Removal").ID

	if r := b.Get("/ledgers/" + id); r.Status != http.StatusOK {
		t.Fatalf("ledger page: %d", r.Status)
	}
	b.Get("/no-such-page-8d1f3a")
	b.Get("/ledgers/lgr_nosuchledger42")

	// A generation that starts, and a stream watching it.
	r := preview(t, b, id, url.Values{"start_time": {"2025-01-01"}, "end_time": {"2025-03-31"}})
	r = b.Post("/ledgers/"+id+"/generations", formValues(t, r.Body, `form[action$="/generations"]`))
	if r.Status != http.StatusSeeOther {
		t.Fatalf("confirm: %d %.300s", r.Status, r.Body)
	}
	taskID, _ := strconv.ParseInt(strings.TrimPrefix(r.Location, "/tasks/"), 10, 64)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, app.URL+r.Location+"/events", nil)
	resp, err := b.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	testapp.WaitFor(t, 5*time.Second, "the stream to be counted", func() bool {
		m := opsMetrics(t, app)
		return m["dashboard_event_streams_open"] == 1 && m["dashboard_task_watchers_active"] >= 1
	})
	cancel()
	resp.Body.Close()
	app.WaitTask(t, app.Tokens.ReadWrite, taskID, 60*time.Second)
	b.Get(r.Location) // the terminal state is recorded at the latest here

	// A refused one (read-only token) and one whose answer never came.
	ro := app.NewBrowser(t)
	ro.SignIn(app.Tokens.ReadOnly)
	r = preview(t, ro, id, url.Values{"start_time": {"2025-01-01"}, "end_time": {"2025-01-31"}})
	ro.Post("/ledgers/"+id+"/generations", formValues(t, r.Body, `form[action$="/generations"]`))
	r = preview(t, b, id, url.Values{"start_time": {"2025-02-01"}, "end_time": {"2025-02-28"}})
	sb.mode.Store("drop-generation")
	if r = b.Post("/ledgers/"+id+"/generations", formValues(t, r.Body, `form[action$="/generations"]`)); r.Status != http.StatusBadGateway {
		t.Fatalf("dropped generation: %d, want 502 (outcome unknown)", r.Status)
	}
	sb.mode.Store("")

	m := opsMetrics(t, app)
	want := map[string]float64{
		`dashboard_generations_started_total{outcome="started"}`:                                     1,
		`dashboard_generations_started_total{outcome="rejected"}`:                                    1,
		`dashboard_generations_started_total{outcome="unknown"}`:                                     1,
		`dashboard_generations_finished_total{outcome="complete"}`:                                   1,
		`dashboard_http_requests_total{method="GET",route="/ledgers/:id",status="200"}`:              1,
		`dashboard_http_requests_total{method="GET",route="/ledgers/:id",status="404"}`:              1,
		`dashboard_http_requests_total{method="POST",route="/ledgers/:id/generations",status="303"}`: 1,
		`dashboard_http_requests_total{method="GET",route="unmatched",status="404"}`:                 1,
		`dashboard_upstream_requests_total{endpoint="/ledgers/{id}/batch_generations",method="POST",status="201"}` + "|" +
			`dashboard_upstream_requests_total{endpoint="/ledgers/{id}/batch_generations",method="POST",status="202"}`: 1,
		`dashboard_upstream_requests_total{endpoint="/ledgers/{id}/batch_generations",method="POST",status="403"}`:   1,
		`dashboard_upstream_requests_total{endpoint="/ledgers/{id}/batch_generations",method="POST",status="error"}`: 1,
	}
	for series, v := range want {
		got := 0.0
		for _, s := range strings.Split(series, "|") {
			got += m[s]
		}
		if got != v {
			t.Errorf("%s = %v, want %v", series, got, v)
		}
	}
	if m[`dashboard_upstream_request_duration_seconds_count{endpoint="/async_tasks/{id}",method="GET"}`] < 1 {
		t.Error("no latency recorded for task polls")
	}
	if m[`dashboard_upstream_requests_total{endpoint="/ledgers/{id}/batches",method="GET",status="200"}`] < 1 {
		t.Error("batch list calls not counted by template")
	}
	if m["dashboard_event_streams_open"] != 0 {
		t.Errorf("%v streams open after the client left", m["dashboard_event_streams_open"])
	}
	// Labels name route patterns, never what was in the URL.
	for series := range m {
		for _, leak := range []string{id, "no-such-page", "lgr_nosuchledger42", "/tasks/" + strconv.FormatInt(taskID, 10)} {
			if strings.Contains(series, leak) {
				t.Errorf("series %s holds %q from a URL", series, leak)
			}
		}
	}
}

// headerTransport adds headers to every request of a test browser, as a
// reverse proxy in front of the dashboard would.
type headerTransport struct{ h http.Header }

func (ht headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, vs := range ht.h {
		r.Header[k] = vs
	}
	return http.DefaultTransport.RoundTrip(r)
}

func TestRequestIDReachesSandbox(t *testing.T) {
	sb := &opsSandbox{}
	app := testapp.Start(t, testapp.Options{WrapSandbox: sb.wrap})
	b := app.SignedIn(t)

	const id = "req-ops-test-0123456789"
	b.HTTP.Transport = headerTransport{h: http.Header{"X-Request-Id": {id}}}
	r := b.Get("/ledgers")
	if r.Status != http.StatusOK || r.Header.Get("X-Request-Id") != id {
		t.Fatalf("status %d, X-Request-Id %q", r.Status, r.Header.Get("X-Request-Id"))
	}
	if !sb.saw(id) {
		t.Fatal("the sandbox never saw the request id")
	}

	// An error page shows the id the sandbox saw, so staff can quote it.
	b.HTTP.Transport = nil
	r = b.Get("/ledgers/lgr_doesnotexist")
	got := r.Header.Get("X-Request-Id")
	if r.Status != http.StatusNotFound || got == "" || !strings.Contains(r.Body, "<code>"+got+"</code>") {
		t.Fatalf("error page: %d, id %q, body %.300s", r.Status, got, r.Body)
	}
	if !sb.saw(got) {
		t.Fatalf("the sandbox did not get the generated id %q", got)
	}
}

// requestLog returns the request log line of path from the dashboard's JSON
// log, decoded.
func requestLog(logs *testkit.Buffer, path string) map[string]any {
	var found map[string]any
	for _, line := range strings.Split(logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "request" && m["path"] == path {
			found = m
		}
	}
	return found
}

func TestTrustedProxies(t *testing.T) {
	forwarded := http.Header{"X-Forwarded-For": {"203.0.113.9"}, "X-Forwarded-Proto": {"https"}}
	tests := []struct {
		name    string
		proxies string
		trusted bool
	}{
		{"NoneTrusted", "", false},
		{"OtherProxyTrusted", "10.0.0.0/8", false},
		{"LoopbackProxyTrusted", "127.0.0.1/32", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := &testkit.Buffer{}
			app := testapp.Start(t, testapp.Options{TrustedProxies: tt.proxies, LogWriter: logs})
			b := app.NewBrowser(t)
			b.HTTP.Transport = headerTransport{h: forwarded}
			r := b.Get("/signin")
			hsts := r.Header.Get("Strict-Transport-Security") != ""
			secure := strings.Contains(strings.ToLower(strings.Join(r.Header.Values("Set-Cookie"), ";")), "secure")
			if hsts != tt.trusted || secure != tt.trusted {
				t.Errorf("HSTS %v, Secure cookie %v; want both %v", hsts, secure, tt.trusted)
			}
			line := requestLog(logs, "/signin")
			wantIP := "127.0.0.1"
			if tt.trusted {
				wantIP = "203.0.113.9"
			}
			if line == nil || line["client_ip"] != wantIP {
				t.Errorf("request log %v, want client_ip %s", line, wantIP)
			}
		})
	}
}

func TestUserHeaderNamesAuditUser(t *testing.T) {
	tests := []struct {
		name    string
		proxies string
		want    string
	}{
		{"FromTrustedProxy", "127.0.0.1/32", "alice@example.org"},
		{"FromUntrustedPeer", "10.0.0.0/8", "shared token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := testapp.Start(t, testapp.Options{ServerToken: true, TrustedProxies: tt.proxies, UserHeader: "X-Forwarded-User"})
			b := app.NewBrowser(t)
			b.HTTP.Transport = headerTransport{h: http.Header{"X-Forwarded-User": {"alice@example.org"}}}
			id := app.LedgerByName(t, "Net Carbon Removal").ID
			page := b.Get("/ledgers")
			if got := strings.TrimSpace(doc(t, page.Body).Find("header .user").Text()); got != tt.want {
				t.Errorf("header shows %q, want %q", got, tt.want)
			}
			r := preview(t, b, id, url.Values{"start_time": {"2025-01-01"}, "end_time": {"2025-01-31"}})
			r = b.Post("/ledgers/"+id+"/generations", formValues(t, r.Body, `form[action$="/generations"]`))
			if r.Status != http.StatusSeeOther {
				t.Fatalf("confirm: %d %.300s", r.Status, r.Body)
			}
			gens, _, err := app.Store.Generations(context.Background(), "", store.GenerationFilter{}, 10, 0)
			if err != nil || len(gens) != 1 {
				t.Fatalf("audit rows %v %v", gens, err)
			}
			if gens[0].UserLabel != tt.want {
				t.Errorf("audit log names %q, want %q", gens[0].UserLabel, tt.want)
			}
		})
	}
}

// TestMadeUpMethodsAddNoSeries sends 1,000 requests with made-up methods,
// no sign-in (refused by the CSRF check): the request metrics count them under "other", so the number
// of series is the same after as after the first one.
func TestMadeUpMethodsAddNoSeries(t *testing.T) {
	app := testapp.Start(t, testapp.Options{})
	seriesCount := func() int {
		n := 0
		for s := range opsMetrics(t, app) {
			if strings.HasPrefix(s, "dashboard_http_request") {
				n++
			}
		}
		return n
	}
	send := func(i int) {
		req, err := http.NewRequest("MADEUP"+strconv.Itoa(i)+strings.Repeat("X", 200), app.URL+"/ledgers", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	send(0)
	seriesCount() // the first read of /metrics adds its own series
	before := seriesCount()
	for i := 1; i < 1000; i++ {
		send(i)
	}
	if after := seriesCount(); after != before {
		t.Fatalf("%d request series after 1,000 made-up methods, %d after the first", after, before)
	}
	m := opsMetrics(t, app)
	if got := m[`dashboard_http_requests_total{method="other",route="unmatched",status="403"}`]; got != 1000 {
		t.Errorf("made-up methods counted as other: %v, want 1000", got)
	}
}
