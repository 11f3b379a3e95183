package sandbox

import (
	"context"
	"database/sql/driver"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// Tests of the engine's performance work (issue 13) beyond the golden hashes of
// engine_golden_test.go: each faster path against what it replaced.

// groupEventsReference is groupEvents as it was before the ordered fast path: a map
// of points per event, then a sort.
func groupEventsReference(points []inputPoint, eventSlug string) []map[string]any {
	type ev struct {
		id, time, fs int64
		slug         string
		points       map[string]*inputPoint
	}
	byID := map[int64]*ev{}
	var out []*ev
	for i := range points {
		p := &points[i]
		if p.EventSlug != eventSlug {
			continue
		}
		e := byID[p.EventID]
		if e == nil {
			e = &ev{id: p.EventID, time: p.Time, fs: p.FeedstockID, slug: p.EventSlug, points: map[string]*inputPoint{}}
			byID[p.EventID] = e
			out = append(out, e)
		}
		e.points[p.Slug] = p
	}
	// Insertion sort: stable and obviously right for a test.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && (out[j].time < out[j-1].time || out[j].time == out[j-1].time && out[j].id < out[j-1].id); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	res := make([]map[string]any, len(out))
	for i, e := range out {
		res[i] = map[string]any{"id": e.id, "time": e.time, "fs": e.fs, "slug": e.slug, "points": e.points}
	}
	return res
}

func flattenEvents(evs []*eventValues) []map[string]any {
	res := make([]map[string]any, len(evs))
	for i, e := range evs {
		pts := map[string]*inputPoint{}
		for _, p := range e.points {
			if _, dup := pts[p.Slug]; dup {
				panic("two points of one slug in an event")
			}
			pts[p.Slug] = p
		}
		res[i] = map[string]any{"id": e.ID, "time": e.Time, "fs": e.FeedstockID, "slug": e.Slug, "points": pts}
	}
	return res
}

// TestGroupEventsMatchesReference: on ordered input (the fast path), shuffled input,
// interleaved events and repeated slugs (the last point wins), groupEvents gives the
// events, order and points the map-and-sort version gave.
func TestGroupEventsMatchesReference(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(13, 13))
	slugs := []string{"a", "b", "c", "d", "e", "f"}
	for trial := range 400 {
		var pts []inputPoint
		nEvents := rng.IntN(40)
		id, tm := int64(100), int64(1000)
		for range nEvents {
			id += 1 + rng.Int64N(3)
			if rng.IntN(3) > 0 {
				tm += rng.Int64N(5)
			}
			evSlug := "run"
			if rng.IntN(4) == 0 {
				evSlug = "delivery"
			}
			for k := range 1 + rng.IntN(7) { // up to 7 points: past the inline 4, with repeats
				pts = append(pts, inputPoint{DataPointID: id*10 + int64(k), EventID: id, EventSlug: evSlug, FeedstockID: int64(rng.IntN(3)),
					Slug: slugs[rng.IntN(len(slugs))], Value: rng.Float64(), Time: tm})
			}
		}
		switch trial % 4 {
		case 1: // shuffled
			rng.Shuffle(len(pts), func(i, j int) { pts[i], pts[j] = pts[j], pts[i] })
		case 2: // a few swaps: mostly ordered, events split
			for range 1 + rng.IntN(3) {
				if len(pts) > 1 {
					i, j := rng.IntN(len(pts)), rng.IntN(len(pts))
					pts[i], pts[j] = pts[j], pts[i]
				}
			}
		case 3: // ids falling while time rises
			for i := range pts {
				pts[i].EventID = 1_000_000 - pts[i].EventID
			}
		}
		for _, slug := range []string{"run", "delivery"} {
			got, want := flattenEvents(groupEvents(pts, slug)), groupEventsReference(pts, slug)
			if len(got) == 0 && len(want) == 0 {
				continue
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("trial %d (%s): groupEvents differs from the reference\ngot  %v\nwant %v", trial, slug, got, want)
			}
		}
	}
}

// TestMigrationCoveringIndex: a file at schema version 1 gets the covering
// data_points_event index, and the engine's read of a period's points uses it alone.
func TestMigrationCoveringIndex(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	ctx := context.Background()
	db := e.s.db
	// Back to version 1's index, as an older file has it, then migrate.
	for _, q := range []string{`DROP INDEX data_points_event`, `CREATE INDEX data_points_event ON data_points(event_id)`,
		`DROP INDEX events_project_start`, `DROP TABLE allocations`, `ALTER TABLE model_inputs DROP COLUMN allocation_groups`, `DROP TABLE token_projects`,
		`DELETE FROM schema_migrations WHERE version > 1`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if err := migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	var cols []string
	rows, err := db.Query(`SELECT name FROM pragma_index_info('data_points_event') ORDER BY seqno`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c string
		rows.Scan(&c)
		cols = append(cols, c)
	}
	rows.Close()
	if strings.Join(cols, ",") != "event_id,id,type_id,value,unit" {
		t.Errorf("data_points_event columns %v", cols)
	}
	var plan []string
	rows, err = db.Query(`EXPLAIN QUERY PLAN SELECT dp.event_id, dp.id, dp.type_id, dp.value, dp.unit
		FROM events e JOIN data_points dp ON dp.event_id = e.id
		WHERE e.project_id = 1 AND e.event_type_id IN (1, 2) AND e.start_time >= 0 AND e.start_time < 1 AND dp.type_id IN (1, 4)`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, parent, unused int
		var detail string
		rows.Scan(&id, &parent, &unused, &detail)
		plan = append(plan, detail)
	}
	rows.Close()
	if !strings.Contains(strings.Join(plan, "; "), "COVERING INDEX data_points_event") {
		t.Errorf("query plan %q does not read data points from the covering index", plan)
	}
}

// TestRowValues: the driver-level reads convert like Rows.Scan for SQLite's types and
// refuse the rest.
func TestRowValues(t *testing.T) {
	t.Parallel()
	r := rowValues{row: []driver.Value{int64(7), 2.5, int64(3), "kg", []byte("t")}}
	if r.int(0) != 7 || r.float(1) != 2.5 || r.float(2) != 3 || r.str(3) != "kg" || r.str(4) != "t" || r.err != nil {
		t.Fatalf("conversions: %v", r.err)
	}
	for i, f := range []func(*rowValues){
		func(r *rowValues) { r.int(0) },
		func(r *rowValues) { r.float(0) },
		func(r *rowValues) { r.str(0) },
	} {
		bad := rowValues{row: []driver.Value{nil}}
		f(&bad)
		if bad.err == nil {
			t.Errorf("case %d: NULL accepted", i)
		}
	}
	// readRaw's queries see one snapshot and leave no transaction open.
	e := newEnv(t, Options{})
	ctx := context.Background()
	var n int
	err := readRaw(ctx, e.s.db, func(rr rawReader) error {
		return rr.query(`SELECT COUNT(*) FROM data_points WHERE project_id = ?`, []any{int64(demoProjectID)}, func(row []driver.Value) error {
			v := rowValues{row: row}
			n = int(v.int(0))
			return v.err
		})
	})
	if err != nil || n == 0 {
		t.Fatalf("readRaw: %d rows, %v", n, err)
	}
	if _, err := e.s.db.Exec(`CREATE TABLE after_read (x)`); err != nil {
		t.Errorf("a write after readRaw: %v", err)
	}
}
