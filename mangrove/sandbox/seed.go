package sandbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// The demo data. Ids of seeded rows come from a fixed-seed generator, so every fresh
// sandbox has the same ledger, model, event and data point ids (README.md lists them);
// batch ids are random because batches are created by the engine.

// Seeded project ids; integers, like the real API's project ids.
const (
	demoProjectID  int64 = 101
	otherProjectID int64 = 202
)

// The seeder's prepared inserts of an event and of one of its data points.
const (
	insertEventSQL     = `INSERT INTO events (friendly_id, project_id, event_type_id, feedstock_id, tracking_id, start_time, end_time, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	insertDataPointSQL = `INSERT INTO data_points (friendly_id, project_id, event_id, type_id, value, unit, status, event_time, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

// seeder inserts with prepared statements inside the one seeding transaction.
type seeder struct {
	ctx          context.Context
	tx           *sql.Tx
	rng          *rand.Rand
	now          int64
	insEvent     *sql.Stmt
	insDataPoint *sql.Stmt
	eventTypes   map[string]int64
	types        map[string]int64
	points       int
}

type pt struct {
	slug  string
	value float64
	unit  string
}

func (sd *seeder) id(prefix string, n int, alphabet string) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[sd.rng.IntN(len(alphabet))]
	}
	return prefix + string(b)
}

func (sd *seeder) exec(q string, args ...any) (int64, error) {
	r, err := sd.tx.ExecContext(sd.ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("%.60s: %w", q, err)
	}
	return r.LastInsertId()
}

// event inserts one event of a day (00:00:00.000 to 23:59:59.000, the docs' convention)
// or of a span, with its data points.
func (sd *seeder) event(project int64, slug string, feedstock int64, start, end time.Time, tracking string, points ...pt) error {
	var fs, tr any
	if feedstock != 0 {
		fs = feedstock
	}
	if tracking != "" {
		tr = tracking
	}
	r, err := sd.insEvent.ExecContext(sd.ctx, sd.id("evt_", 16, mixedAlnum), project, sd.eventTypes[slug], fs, tr, start.UnixMilli(), end.UnixMilli(), sd.now)
	if err != nil {
		return fmt.Errorf("event %s: %w", slug, err)
	}
	evID, err := r.LastInsertId()
	if err != nil {
		return err
	}
	for _, p := range points {
		unit := p.unit
		if _, err := sd.insDataPoint.ExecContext(sd.ctx, sd.id("in_", 16, mixedAlnum), project, evID, sd.types[p.slug], p.value, unit, "complete", start.UnixMilli(), sd.now, sd.now); err != nil {
			return fmt.Errorf("data point %s: %w", p.slug, err)
		}
		sd.points++
	}
	return nil
}

func day(y int, m time.Month, d int) (time.Time, time.Time) {
	s := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	return s, s.Add(24*time.Hour - time.Second)
}

// between returns a value in [lo, hi) rounded to the given decimals, like a recorded measurement.
func (sd *seeder) between(lo, hi float64, decimals int) float64 {
	p := math.Pow(10, float64(decimals))
	return math.Round((lo+sd.rng.Float64()*(hi-lo))*p) / p
}

// seedDemo writes the whole demo in one transaction and returns the id of the pending
// task that generates 2024's batches (run by Open through the engine).
func seedDemo(ctx context.Context, db *sql.DB, token string) (int64, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	sd := &seeder{ctx: ctx, tx: tx, rng: rand.New(rand.NewPCG(20250331, 152690)), now: time.Now().UnixMilli(),
		eventTypes: map[string]int64{}, types: map[string]int64{}}
	if sd.insEvent, err = tx.PrepareContext(ctx, insertEventSQL); err != nil {
		return 0, err
	}
	defer sd.insEvent.Close()
	if sd.insDataPoint, err = tx.PrepareContext(ctx, insertDataPointSQL); err != nil {
		return 0, err
	}
	defer sd.insDataPoint.Close()

	if err := sd.catalog(); err != nil {
		return 0, err
	}
	if err := sd.projects(token); err != nil {
		return 0, err
	}
	wood, nut, rice, err := sd.feedstocks()
	if err != nil {
		return 0, err
	}
	ncrLedger, err := sd.ledgers()
	if err != nil {
		return 0, err
	}

	if err := sd.demoEvents(wood, nut); err != nil {
		return 0, err
	}
	if err := sd.otherEvents(rice); err != nil {
		return 0, err
	}
	if err := sd.secondSite(); err != nil {
		return 0, err
	}

	params, _ := json.Marshal(genParams{
		Start: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(),
		End:   time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(),
	})
	taskID, err := sd.exec(`INSERT INTO async_tasks (project_id, ledger_id, type, state, progress, params, created_at, updated_at) VALUES (?, ?, ?, 'pending', 0, ?, ?, ?)`,
		demoProjectID, ncrLedger, taskTypeBatchGeneration, string(params), sd.now, sd.now)
	if err != nil {
		return 0, err
	}
	if err := setMeta(ctx, tx, "seeded", time.Now().UTC().Format(time.RFC3339)); err != nil {
		return 0, err
	}
	return taskID, tx.Commit()
}
