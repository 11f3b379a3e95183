package sandbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// largeEnv is a sandbox with the demo data plus about 100,000 synthetic data points.
func largeEnv(tb testing.TB) (*Server, string, int) {
	tb.Helper()
	s, err := Open(Options{DBPath: filepath.Join(tb.TempDir(), "large.db")})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	n, err := seedSynthetic(context.Background(), s.db, 2, 5, 7)
	if err != nil {
		tb.Fatal(err)
	}
	var ncr string
	if err := s.db.QueryRow(`SELECT friendly_id FROM ledgers WHERE project_id = ? AND name = 'Net Carbon Removal'`, demoProjectID).Scan(&ncr); err != nil {
		tb.Fatal(err)
	}
	return s, ncr, n
}

var year2026 = `{"start_time":"2026-01-01T00:00:00Z","end_time":"2026-12-31T23:59:59Z"}`

// BenchmarkPreviewLarge measures POST generate_preview over one year of a project with
// about 100,000 data points (through the HTTP handler, in process).
//
//	go test -run '^$' -bench Large -benchtime 5x ./mangrove/sandbox/
func BenchmarkPreviewLarge(b *testing.B) {
	s, ncr, n := largeEnv(b)
	var total int
	s.db.QueryRow(`SELECT COUNT(*) FROM data_points`).Scan(&total)
	b.Logf("synthetic data points: %d (table total %d)", n, total)
	h := s.Handler()
	for b.Loop() {
		req, _ := http.NewRequest("POST", "/api/v1/ledgers/"+ncr+"/generate_preview", strings.NewReader(year2026))
		req.Header.Set("Authorization", "Bearer "+s.Tokens().ReadWrite)
		rec := newRecorder()
		h.ServeHTTP(rec, req)
		if rec.code != 200 || !strings.Contains(rec.body.String(), `"count":60`) {
			b.Fatalf("%d %s", rec.code, rec.body.String())
		}
	}
}

// BenchmarkGenerateYearLarge measures one generation of a year of monthly batches
// (5 feedstocks x 12 months on each of the two concurrent ledgers = 120 batches) with
// StepDelay 0, through the engine's task path. Later iterations update in place.
func BenchmarkGenerateYearLarge(b *testing.B) {
	s, ncr, _ := largeEnv(b)
	ctx := context.Background()
	l, err := ledgerByFriendlyID(ctx, s.db, demoProjectID, ncr)
	if err != nil {
		b.Fatal(err)
	}
	p := genParams{Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(), End: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()}
	for b.Loop() {
		t, err := createTask(ctx, s.db, demoProjectID, l.ID, p)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.eng.execute(ctx, t.ID, 0); err != nil {
			b.Fatal(err)
		}
		var state string
		var result sql.NullString
		s.db.QueryRow(`SELECT state, result FROM async_tasks WHERE id = ?`, t.ID).Scan(&state, &result)
		if state != "complete" || strings.Count(result.String, "bat_") != 120 {
			b.Fatalf("task %s %s", state, result.String)
		}
	}
}

type recorder struct {
	h    http.Header
	code int
	body strings.Builder
}

func newRecorder() *recorder                    { return &recorder{h: http.Header{}, code: 200} }
func (r *recorder) Header() http.Header         { return r.h }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(code int)        { r.code = code }

// TestLargeTimings prints the numbers the benchmarks measure, once each (opt-in:
// SANDBOX_LARGE=1 go test -run LargeTimings -v ./mangrove/sandbox/).
func TestLargeTimings(t *testing.T) {
	if os.Getenv("SANDBOX_LARGE") == "" {
		t.Skip("set SANDBOX_LARGE=1")
	}
	t0 := time.Now()
	s, ncr, n := largeEnv(t)
	t.Logf("open + demo seed + %d synthetic data points: %v", n, time.Since(t0))
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	post := func(path, body string) (int, string) {
		req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+s.Tokens().ReadWrite)
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	for i := range 3 {
		t1 := time.Now()
		code, body := post("/api/v1/ledgers/"+ncr+"/generate_preview", year2026)
		t.Logf("preview #%d of 2026 over HTTP: %v (%d %s)", i+1, time.Since(t1), code, body)
	}
	for _, q := range []string{"", "?filter[slug][eq]=biochar-mass-produced&filter[start_time][geq]=2026-03-01&filter[start_time][leq]=2026-03-31&page_size=100"} {
		t1 := time.Now()
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/v1/projects/%d/data_points%s", srv.URL, demoProjectID, q), nil)
		req.Header.Set("Authorization", "Bearer "+s.Tokens().ReadWrite)
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatalf("data points: %v", err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("data points: %d", res.StatusCode)
		}
		t.Logf("GET data_points%s: %v", q, time.Since(t1))
	}
	for i := range 2 {
		t1 := time.Now()
		code, body := post("/api/v1/ledgers/"+ncr+"/batch_generations", year2026)
		if code != 202 {
			t.Fatalf("%d %s", code, body)
		}
		var task struct{ ID int64 }
		json.Unmarshal([]byte(body), &task)
		for {
			var state string
			s.db.QueryRow(`SELECT state FROM async_tasks WHERE id = ?`, task.ID).Scan(&state)
			if state == "complete" || state == "failed" {
				t.Logf("generation #%d of 2026 (120 batches, StepDelay 0), request to %s: %v", i+1, state, time.Since(t1))
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
}
