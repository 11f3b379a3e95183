package sandbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// seedSynthetic adds a large, plausible data set to the demo project, starting at
// 2026-01-01 (after the demo data): for each of `feedstocks` new feedstocks and each
// day of `years` years, `perDay` pyrolysis runs (4 data points each) and one feedstock
// delivery (3); weekly biochar deliveries, monthly lab analyses and monthly facility
// energy. It returns the number of data points written.
func seedSynthetic(ctx context.Context, db *sql.DB, years, feedstocks, perDay int) (int, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	sd := &seeder{ctx: ctx, tx: tx, rng: rand.New(rand.NewPCG(7, 7)), now: time.Now().UnixMilli(), eventTypes: map[string]int64{}, types: map[string]int64{}}
	for i, et := range eventTypeSeed {
		sd.eventTypes[et.slug] = int64(i + 1)
	}
	for i, t := range dataPointTypeSeed {
		sd.types[t.slug] = int64(i + 1)
	}
	if sd.insEvent, err = tx.PrepareContext(ctx, `INSERT INTO events (friendly_id, project_id, event_type_id, feedstock_id, tracking_id, start_time, end_time, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`); err != nil {
		return 0, err
	}
	defer sd.insEvent.Close()
	if sd.insDataPoint, err = tx.PrepareContext(ctx, `INSERT INTO data_points (friendly_id, project_id, event_id, type_id, value, unit, status, event_time, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`); err != nil {
		return 0, err
	}
	defer sd.insDataPoint.Close()
	var fs []int64
	for i := range feedstocks {
		id, err := sd.exec(`INSERT INTO feedstocks (project_id, name) VALUES (?, ?)`, demoProjectID, fmt.Sprintf("Synthetic feedstock %d", i+1))
		if err != nil {
			return 0, err
		}
		fs = append(fs, id)
	}
	p := demoProjectID
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	end := start.AddDate(years, 0, 0)
	for d := start; d.Before(end); d = d.AddDate(0, 0, 1) {
		dayEnd := d.Add(24*time.Hour - time.Second)
		if d.Day() == 1 {
			if err := sd.event(p, "facility-energy", 0, d, d.AddDate(0, 1, 0).Add(-time.Second), "",
				pt{"electricity-consumed", sd.between(40000, 60000, 0), "kWh"}, pt{"diesel-consumed", sd.between(2000, 3000, 0), "L"}); err != nil {
				return 0, err
			}
		}
		for _, f := range fs {
			if err := sd.event(p, "feedstock-delivery", f, d, dayEnd, "",
				pt{"feedstock-mass", sd.between(20, 40, 1), "t"}, pt{"feedstock-moisture-content", sd.between(20, 40, 1), "%"},
				pt{"feedstock-transport-distance", sd.between(20, 120, 0), "km"}); err != nil {
				return 0, err
			}
			for r := 0; r < perDay; r++ {
				t := d.Add(time.Duration(r) * 24 * time.Hour / time.Duration(perDay))
				if err := sd.event(p, "pyrolysis-run", f, t, t.Add(time.Hour), "",
					pt{"biochar-mass-produced", sd.between(1, 2, 2), "t"}, pt{"biochar-moisture-content", sd.between(10, 20, 1), "%"},
					pt{"pyrolysis-temperature", sd.between(550, 650, 0), "degC"}, pt{"pyrolysis-methane", sd.between(0, 1, 2), "kg"}); err != nil {
					return 0, err
				}
			}
			if d.Weekday() == time.Friday {
				if err := sd.event(p, "biochar-delivery", f, d, dayEnd, "",
					pt{"biochar-mass-delivered", sd.between(20, 40, 1), "t"}, pt{"biochar-transport-distance", sd.between(20, 80, 0), "km"}); err != nil {
					return 0, err
				}
			}
			if d.Day() == 10 {
				if err := sd.event(p, "lab-analysis", f, d, dayEnd, "",
					pt{"organic-carbon-content", sd.between(70, 85, 1), "%"}, pt{"hydrogen-content", sd.between(1.5, 2.5, 2), "%"}); err != nil {
					return 0, err
				}
			}
		}
	}
	return sd.points, tx.Commit()
}

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
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("data points: %v %v", res.StatusCode, err)
		}
		res.Body.Close()
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
