package sandbox

import (
	"context"
	"database/sql"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The engine over about 1,000,000 data points (5 years, 20 feedstocks, 6 runs a day),
// the size of issue 5's table 5 (`go run ./cmd/bench -only 5` measures the same with
// baselines and writes BENCHMARKS.md). Seeding takes about half a minute; set
// SANDBOX_BENCH_CACHE to a directory to seed once and reuse the file:
//
//	SANDBOX_BENCH_CACHE=/tmp/sbx go test -run '^$' -bench Million -benchtime 3x ./mangrove/sandbox/

func millionEnv(b *testing.B) (*Server, *ledgerRow) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "million.db")
	cache := os.Getenv("SANDBOX_BENCH_CACHE")
	cached := ""
	if cache != "" {
		cached = filepath.Join(cache, "million-5y-20f-6.db")
		if data, err := os.ReadFile(cached); err == nil {
			if err := os.WriteFile(path, data, 0o600); err != nil {
				b.Fatal(err)
			}
		}
	}
	s, err := Open(Options{DBPath: path})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	var n int
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM data_points`).Scan(&n); err != nil {
		b.Fatal(err)
	}
	if n < 900_000 {
		t0 := time.Now()
		if _, err := s.SeedSynthetic(context.Background(), Synthetic{Years: 5, Feedstocks: 20, RunsPerDay: 6}); err != nil {
			b.Fatal(err)
		}
		b.Logf("seeded in %v", time.Since(t0))
		if cached != "" {
			_ = os.MkdirAll(cache, 0o755)
			if _, err := s.db.Exec(`VACUUM INTO ?`, cached); err != nil {
				b.Logf("caching the seeded file: %v", err)
			}
		}
	}
	l, err := ledgerByFriendlyID(context.Background(), s.db, demoProjectID, "lgr_3047w5rbxmym")
	if err != nil || l == nil {
		b.Fatalf("Net Carbon Removal: %v", err)
	}
	return s, l
}

var fiveYears = genParams{Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(), End: time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()}

// BenchmarkPreviewMillion plans five years of monthly batches (2 x 1,200) through the
// HTTP handler.
func BenchmarkPreviewMillion(b *testing.B) {
	s, l := millionEnv(b)
	h := s.Handler()
	body := `{"start_time":"2026-01-01T00:00:00Z","end_time":"2031-01-01T00:00:00Z"}`
	for b.Loop() {
		req, _ := http.NewRequest("POST", "/api/v1/ledgers/"+l.FriendlyID+"/generate_preview", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+s.Tokens().ReadWrite)
		rec := newRecorder()
		h.ServeHTTP(rec, req)
		if rec.code != 200 || strings.Count(rec.body.String(), `"count":1200`) != 2 {
			b.Fatalf("%d %s", rec.code, rec.body.String())
		}
	}
}

// BenchmarkGenerateMillion generates every monthly batch of five years (2,400, StepDelay
// 0) through the task path; the first iteration creates them, later ones update in place.
func BenchmarkGenerateMillion(b *testing.B) {
	s, l := millionEnv(b)
	ctx := context.Background()
	for b.Loop() {
		t, err := createTask(ctx, s.db, demoProjectID, l.ID, fiveYears)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.eng.execute(ctx, t.ID, 0); err != nil {
			b.Fatal(err)
		}
		var state string
		var result sql.NullString
		s.db.QueryRow(`SELECT state, result FROM async_tasks WHERE id = ?`, t.ID).Scan(&state, &result)
		if n := strings.Count(result.String, "bat_"); state != "complete" || n != 2400 {
			b.Fatalf("task %s, %d batches", state, n)
		}
	}
	b.ReportMetric(float64(2400*b.N)/b.Elapsed().Seconds(), "batches/s")
}
