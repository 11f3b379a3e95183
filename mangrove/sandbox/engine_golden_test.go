package sandbox

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The engine's output is pinned: every row a generation writes (batches, model runs,
// calculations, outputs, inputs, alerts and the tasks' results), ids included, hashed
// after a fixed sequence of generations over the demo data plus a seeded synthetic set.
// The hashes were computed before the engine's performance work of issue 13, so an
// optimisation that changes any value, row, row order or id fails here. Only what is
// random or a clock reading is left out: friendly ids (crypto/rand; batch ids in task
// results are mapped to row ids) and created_at / updated_at / started_at / finished_at.
//
// SANDBOX_GOLDEN_DUMP=dir writes the canonical rows, one file per table, to compare
// two versions with diff when a hash moves.

// goldenTables are the canonical dumps: each query lists a table's rows in id (or
// rowid) order with every deterministic column.
var goldenTables = []struct{ name, query string }{
	{"batches", `SELECT id, project_id, ledger_id, period_start, period_end, partition_key, feedstock_id, tracking_id, state, primary_value, model_run_id FROM batches ORDER BY id`},
	{"model_runs", `SELECT id, batch_id, model_id, task_id, state, error_message, start_time, end_time FROM model_runs ORDER BY id`},
	{"run_calculations", `SELECT id, model_run_id, slug, name, value, unit, ghg, lca_role, category FROM run_calculations ORDER BY id`},
	{"run_outputs", `SELECT id, model_run_id, type_id, value, unit, is_primary FROM run_outputs ORDER BY id`},
	{"run_inputs", `SELECT rowid, model_run_id, data_point_id, skipped_type_id FROM run_inputs ORDER BY rowid`},
	{"run_alerts", `SELECT id, model_run_id, message FROM run_alerts ORDER BY id`},
	{"async_tasks", `SELECT id, project_id, ledger_id, type, state, progress, progress_description, params, result, error_message FROM async_tasks ORDER BY id`},
	{"allocations", `SELECT id, project_id, from_batch_id, to_batch_id, report_id, amount, unit, allocation_group, task_id FROM allocations ORDER BY id`},
}

var batchIDPattern = regexp.MustCompile(`bat_[0-9a-z]{12}`)

// goldenHashes hashes each table's canonical dump (and writes it under dumpDir when set).
func goldenHashes(t testing.TB, db *sql.DB, dumpDir string) map[string]string {
	t.Helper()
	// Batch friendly ids are random: results name them, so they become row ids.
	ids := map[string]string{}
	rows, err := db.Query(`SELECT friendly_id, id FROM batches`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var f string
		var id int64
		if err := rows.Scan(&f, &id); err != nil {
			t.Fatal(err)
		}
		ids[f] = "batch#" + strconv.FormatInt(id, 10)
	}
	rows.Close()
	out := map[string]string{}
	for _, tb := range goldenTables {
		h := sha256.New()
		var w io.Writer = h
		if dumpDir != "" {
			f, err := os.Create(filepath.Join(dumpDir, tb.name+".txt"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			w = io.MultiWriter(h, f)
		}
		n := dumpRows(t, db, tb.query, w, func(s string) string {
			return batchIDPattern.ReplaceAllStringFunc(s, func(m string) string { return ids[m] })
		})
		out[tb.name] = fmt.Sprintf("%d:%s", n, hex.EncodeToString(h.Sum(nil))[:16])
	}
	return out
}

// dumpRows writes one line per row: integers in decimal, reals as their exact bits,
// text quoted (through fix), NULL as N. It returns the row count.
func dumpRows(t testing.TB, db *sql.DB, query string, w io.Writer, fix func(string) string) int {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	n := 0
	var line []byte
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		line = line[:0]
		for i, v := range vals {
			if i > 0 {
				line = append(line, '|')
			}
			switch v := v.(type) {
			case nil:
				line = append(line, 'N')
			case int64:
				line = strconv.AppendInt(line, v, 10)
			case float64:
				line = strconv.AppendFloat(line, v, 'g', -1, 64)
				line = append(line, '#')
				line = strconv.AppendUint(line, math.Float64bits(v), 16)
			case string:
				line = strconv.AppendQuote(line, fix(v))
			case []byte:
				line = strconv.AppendQuote(line, fix(string(v)))
			default:
				t.Fatalf("%s: unexpected %T", query, v)
			}
		}
		line = append(line, '\n')
		w.Write(line)
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

// runGeneration runs one generation task to its end on the engine, synchronously.
func runGeneration(t testing.TB, s *Server, ledgerFriendly string, project int64, p genParams) {
	runGenerationDelay(t, s, ledgerFriendly, project, p, 0)
}

// runGenerationDelay is runGeneration with a StepDelay.
func runGenerationDelay(t testing.TB, s *Server, ledgerFriendly string, project int64, p genParams, delay time.Duration) {
	t.Helper()
	ctx := context.Background()
	l, err := ledgerByFriendlyID(ctx, s.db, project, ledgerFriendly)
	if err != nil || l == nil {
		t.Fatalf("ledger %s: %v", ledgerFriendly, err)
	}
	task, err := createTask(ctx, s.db, project, l.ID, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.eng.execute(ctx, task.ID, delay); err != nil {
		t.Fatal(err)
	}
	var state string
	var msg sql.NullString
	if err := s.db.QueryRow(`SELECT state, error_message FROM async_tasks WHERE id = ?`, task.ID).Scan(&state, &msg); err != nil {
		t.Fatal(err)
	}
	if state != "complete" {
		t.Fatalf("task %d %s: %s", task.ID, state, msg.String)
	}
}

func ms(y int, m time.Month, d int) int64 {
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).UnixMilli()
}

const (
	ncrLedger      = "lgr_3047w5rbxmym"
	producedLedger = "lgr_9zcc26rt5i43"
	kilnLedger     = "lgr_nhqmc4ju4fv3"
)

// goldenSmall is the pinned result of goldenScenario (table: rows:hash prefix).
// Issue 10 moved batches, run_calculations, run_outputs, run_inputs and async_tasks on
// purpose, and nothing else: batch_amounts allocate instead of overriding (May-2026-002
// keeps its computed output, its "custom primary output amount" calculation is gone,
// the task's params name a Biochar Produced batch, allocations has the one row), and
// the second demo site's feedstock and data points, seeded before the synthetic set,
// shift the synthetic feedstock and data point ids.
var goldenSmall = map[string]string{
	"batches":          "193:342420bd688b5327",
	"model_runs":       "275:f25a6daf04bac2e5",
	"run_calculations": "2866:006e657fdc728061",
	"run_outputs":      "1739:d953aeb94bb29b57",
	"run_inputs":       "59663:dbf962041ebe7cba",
	"run_alerts":       "3:96a2e3369711631c",
	"async_tasks":      "9:7550f04763b3255d",
	"allocations":      "1:4d70e912190c418d",
}

// goldenScenario is the fixed sequence of generations the golden hashes pin: demo and
// synthetic data, new batches and batches updated in place, skipped types, a
// data_point_ids selection, batch_amounts, an unpartitioned ledger of another project
// and a group whose ledgers have different cadences.
func goldenScenario(t testing.TB, s *Server, delay time.Duration) {
	t.Helper()
	ctx := context.Background()
	runGeneration := func(t testing.TB, s *Server, ledger string, project int64, p genParams) {
		t.Helper()
		runGenerationDelay(t, s, ledger, project, p, delay)
	}
	if _, err := seedSynthetic(ctx, s.db, 1, 4, 3); err != nil {
		t.Fatal(err)
	}
	// Q1 2025 of the demo (March is MODEL.md's example 1): new batches.
	runGeneration(t, s, ncrLedger, demoProjectID, genParams{Start: ms(2025, 1, 1), End: ms(2025, 4, 1)})
	// The first half of 2026, then the whole year: H1 is updated in place.
	runGeneration(t, s, ncrLedger, demoProjectID, genParams{Start: ms(2026, 1, 1), End: ms(2026, 7, 1)})
	runGeneration(t, s, producedLedger, demoProjectID, genParams{Start: ms(2026, 1, 1), End: ms(2027, 1, 1)})
	// Skipped types: feedstock transport distance and methane.
	runGeneration(t, s, ncrLedger, demoProjectID, genParams{Start: ms(2026, 2, 1), End: ms(2026, 4, 1), SkippedTypeIDs: []int64{3, 7}})
	// A selection: two pyrolysis runs and one feedstock delivery of the first synthetic
	// feedstock in March 2026 (their events' types are then restricted to them).
	var sel []string
	rows, err := s.db.Query(`SELECT dp.friendly_id FROM data_points dp JOIN events e ON e.id = dp.event_id
		JOIN event_types et ON et.id = e.event_type_id
		WHERE e.feedstock_id = (SELECT MIN(id) FROM feedstocks WHERE name LIKE 'Synthetic feedstock %')
			AND e.start_time >= ? AND e.start_time < ? AND et.slug IN ('pyrolysis-run', 'feedstock-delivery')
		ORDER BY dp.id`, ms(2026, 3, 1), ms(2026, 4, 1))
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for rows.Next() {
		var f string
		rows.Scan(&f)
		all = append(all, f)
	}
	rows.Close()
	if len(all) < 40 {
		t.Fatalf("%d selectable points", len(all))
	}
	sel = append(sel, all[0], all[5], all[17], all[30])
	runGeneration(t, s, ncrLedger, demoProjectID, genParams{Start: ms(2026, 3, 1), End: ms(2026, 4, 1), DataPointIDs: sel})
	// batch_amounts: an allocation from a Biochar Produced batch to the Net Carbon
	// Removal batch of its month and feedstock (issue 10; it overrode the batch before).
	var fid string
	if err := s.db.QueryRow(`SELECT b.friendly_id FROM batches b JOIN ledgers l ON l.id = b.ledger_id
		WHERE l.friendly_id = ? AND b.tracking_id = 'May-2026-002'`, producedLedger).Scan(&fid); err != nil {
		t.Fatal(err)
	}
	runGeneration(t, s, ncrLedger, demoProjectID, genParams{Start: ms(2026, 5, 1), End: ms(2026, 6, 1),
		BatchAmounts: []batchAmount{{BatchID: fid, Amount: 12.345}}})
	// The other project's unpartitioned ledger.
	runGeneration(t, s, kilnLedger, otherProjectID, genParams{Start: ms(2025, 1, 1), End: ms(2025, 3, 1)})
	// Mixed cadences in one group: Biochar Produced weekly, Net Carbon Removal monthly.
	if _, err := s.db.Exec(`UPDATE ledgers SET cadence = 'weekly' WHERE friendly_id = ?`, producedLedger); err != nil {
		t.Fatal(err)
	}
	runGeneration(t, s, ncrLedger, demoProjectID, genParams{Start: ms(2026, 9, 1), End: ms(2026, 11, 1)})
	if _, err := s.db.Exec(`UPDATE ledgers SET cadence = 'monthly' WHERE friendly_id = ?`, producedLedger); err != nil {
		t.Fatal(err)
	}
}

// TestGenerationGolden: the rows a fixed sequence of generations writes are exactly
// those pinned in goldenSmall, whether the batches share transactions (no StepDelay)
// or each commits alone (a StepDelay, here 1 ns).
func TestGenerationGolden(t *testing.T) {
	t.Parallel()
	for _, delay := range []time.Duration{0, time.Nanosecond} {
		t.Run(fmt.Sprintf("StepDelay=%v", delay), func(t *testing.T) {
			t.Parallel()
			s, err := Open(Options{DBPath: filepath.Join(t.TempDir(), "golden.db")})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			goldenScenario(t, s, delay)
			dump := os.Getenv("SANDBOX_GOLDEN_DUMP")
			if dump != "" {
				dump = filepath.Join(dump, fmt.Sprint(delay))
				if err := os.MkdirAll(dump, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			compareGolden(t, goldenHashes(t, s.db, dump), goldenSmall)
		})
	}
}

// goldenMillion pins the bench's generations (cmd/bench section 5: one year, then five)
// on the 1,000,000-point file, checked by TestGenerationGoldenMillion.
var goldenMillion = map[string]string{
	"batches":          "2447:43a158e733957c5b",
	"model_runs":       "2927:48f37b888c4da7dd",
	"run_calculations": "33649:c5c5a70aaa53da84",
	"run_outputs":      "20483:9400faee1b859cd6",
	"run_inputs":       "1729258:1bb3a8f111c42e14",
	"run_alerts":       "9:cd08529ed0b5a753",
	"async_tasks":      "3:7ce0cebcc06880a3",
	"allocations":      "0:e3b0c44298fc1c14",
}

// TestGenerationGoldenMillion runs the bench's two generations on its seeded file
// (opt-in: SANDBOX_GOLDEN_MILLION=path/to/engine-5y-20f-6.db, the file `go run
// ./cmd/bench -only 5 -seed-cache DIR` caches) and compares every written row's hash.
func TestGenerationGoldenMillion(t *testing.T) {
	src := os.Getenv("SANDBOX_GOLDEN_MILLION")
	if src == "" {
		t.Skip("set SANDBOX_GOLDEN_MILLION to the bench's seeded file")
	}
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "million.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(Options{DBPath: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Now()
	runGeneration(t, s, ncrLedger, demoProjectID, genParams{Start: ms(2026, 1, 1), End: ms(2027, 1, 1)})
	runGeneration(t, s, ncrLedger, demoProjectID, genParams{Start: ms(2026, 1, 1), End: ms(2031, 1, 1)})
	t.Logf("generations: %v", time.Since(t0))
	compareGolden(t, goldenHashes(t, s.db, os.Getenv("SANDBOX_GOLDEN_DUMP")), goldenMillion)
}

func compareGolden(t *testing.T, got, want map[string]string) {
	t.Helper()
	var lit strings.Builder
	for _, tb := range goldenTables {
		fmt.Fprintf(&lit, "\t%q: %q,\n", tb.name, got[tb.name])
	}
	if len(want) == 0 {
		t.Fatalf("no golden values; computed:\n%s", lit.String())
	}
	for _, tb := range goldenTables {
		if got[tb.name] != want[tb.name] {
			t.Errorf("%s: got %s, want %s", tb.name, got[tb.name], want[tb.name])
		}
	}
	if t.Failed() {
		t.Logf("computed:\n%s", lit.String())
	}
}
