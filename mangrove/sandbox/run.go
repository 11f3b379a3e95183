package sandbox

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// One batch's model run: loading its inputs with indexed range queries, and storing
// the result in a transaction of its own (see batchWriter).

// periodData is what the batches of one period share, read once (two queries): the
// partition events of every ledger of the group for every feedstock, the facility-wide
// events, the pyrolysis runs for the allocation, and the static inputs as of the period's
// end. The engine walks the plan period by period and drops a period once it is past, so
// it holds one period's data (and the next one's, read ahead), however long the range:
// memory follows the size of a period, not of the range. The profile of a 5-year
// generation showed reading each batch's rows with separate queries, and regrouping every
// feedstock's runs for every batch's allocation, as the two largest costs.
type periodData struct {
	start, end int64
	partBy     map[int64][]inputPoint // partition-event points by feedstock (0: none), in query order
	facility   []inputPoint           // facility-event points without a feedstock
	runs       []inputPoint           // pyrolysis-run points of every feedstock
	labBy      map[int64][]inputPoint // lab analyses of the year to the period's end, by feedstock
	static     map[string]*inputPoint // latest static input before end, by slug
	staticDone map[string]bool
	dry        map[string]float64 // allocation denominator by model kind
}

// periodLoader builds each batch's modelInput from the period data of its plan, and
// reads the next period in the background while the current one is written, so reads
// and writes use both cores.
type periodLoader struct {
	db    *sql.DB
	cat   *catalog
	plan  *genPlan
	types []int64 // event types read per period
	// events says, by event type id, what a period's row of that type feeds; typeSlugs
	// are the data point types' slugs: one small map lookup each per row.
	events    map[int64]loaderEvent
	typeSlugs map[int64]string
	units     map[int64]string // the data point types' units ("" for none)
	runs      int64            // the pyrolysis-run event type, when a model allocates; else 0
	lab       bool             // a model reads lab analyses of the year before a period's end
	dps       []int64
	defs      map[*modelDef]*defSets

	mu      sync.Mutex
	periods map[[2]int64]*periodLoad
	// hint, runsHint and eventsHint are the most points of one feedstock, the runs and
	// the events of the last period read, to size the next period's slices and map:
	// growing the runs' slice (over a megabyte a month at the bench's size) by appending
	// was an eighth of the reading goroutine's time.
	hint, runsHint, eventsHint int
	wg                         sync.WaitGroup
}

type loaderEvent struct {
	slug      string
	part, fac bool // a partition event type, a facility event type of some model
	selected  bool // restricted to the data_point_ids selection's events
}

// periodEvent is what a period's data points take from their event.
type periodEvent struct{ typeID, feedstock, time int64 }

type periodLoad struct {
	done chan struct{}
	pd   *periodData
	err  error
}

// defSets are a model's inputs and event types as sets.
type defSets struct {
	wanted    map[int64]bool // data point type ids
	slugs     map[string]bool
	partition map[string]bool
	facility  map[string]bool
	units     map[string]string // the inputs' units, shared by the model's inputs (read only)
	// keepsPartition: every point the loader reads of partition events is one of the
	// model's, so filtering a feedstock's points would return them as they are.
	keepsPartition bool
}

func newPeriodLoader(db *sql.DB, cat *catalog, plan *genPlan) *periodLoader {
	l := &periodLoader{db: db, cat: cat, plan: plan, events: map[int64]loaderEvent{}, typeSlugs: map[int64]string{}, units: map[int64]string{},
		defs: map[*modelDef]*defSets{}, periods: map[[2]int64]*periodLoad{}}
	types, dps := map[int64]bool{}, map[int64]bool{}
	event := func(id int64, set func(*loaderEvent)) {
		ev := l.events[id]
		ev.slug, ev.selected = cat.events[id].Slug, plan.selEventTypes[id]
		set(&ev)
		l.events[id], types[id] = ev, true
	}
	for _, pl := range plan.Ledgers {
		def := pl.def
		ds := l.sets(def)
		for id := range ds.wanted {
			dps[id] = true
		}
		for _, id := range cat.eventTypeIDs(def.PartitionEvents) {
			event(id, func(ev *loaderEvent) { ev.part = true })
		}
		for _, id := range cat.eventTypeIDs(def.FacilityEvents) {
			event(id, func(ev *loaderEvent) { ev.fac = true })
		}
		if def.Allocation {
			for _, id := range cat.eventTypeIDs([]string{"pyrolysis-run"}) {
				l.runs = id
				event(id, func(*loaderEvent) {})
			}
		}
		l.lab = l.lab || def.LabLookback
	}
	for id, t := range cat.types {
		l.typeSlugs[id], l.units[id] = t.Slug, cat.unitOf(t.Slug)
	}
	for id := range types {
		l.types = append(l.types, id)
	}
	for id := range dps {
		l.dps = append(l.dps, id)
	}
	sort.Slice(l.types, func(i, j int) bool { return l.types[i] < l.types[j] })
	sort.Slice(l.dps, func(i, j int) bool { return l.dps[i] < l.dps[j] })
	for _, ds := range l.defs {
		ds.keepsPartition = true
		for _, ev := range l.events {
			if ev.part && !ds.partition[ev.slug] {
				ds.keepsPartition = false
			}
		}
		for _, id := range l.dps {
			if !ds.slugs[l.typeSlugs[id]] {
				ds.keepsPartition = false
			}
		}
	}
	return l
}

func (l *periodLoader) sets(def *modelDef) *defSets {
	if ds := l.defs[def]; ds != nil {
		return ds
	}
	ds := &defSets{wanted: map[int64]bool{}, slugs: map[string]bool{}, partition: map[string]bool{}, facility: map[string]bool{},
		units: map[string]string{}}
	for _, slug := range def.Inputs {
		ds.slugs[slug] = true
		ds.units[slug] = l.cat.unitOf(slug)
		if t := l.cat.typeBySlug[slug]; t != nil {
			ds.wanted[t.ID] = true
		}
	}
	for _, s := range def.PartitionEvents {
		ds.partition[s] = true
	}
	for _, s := range def.FacilityEvents {
		ds.facility[s] = true
	}
	l.defs[def] = ds
	return ds
}

// prefetch starts reading a period in the background, unless it is read or being read.
func (l *periodLoader) prefetch(ctx context.Context, start, end int64) *periodLoad {
	k := [2]int64{start, end}
	l.mu.Lock()
	defer l.mu.Unlock()
	if pl := l.periods[k]; pl != nil {
		return pl
	}
	pl := &periodLoad{done: make(chan struct{})}
	l.periods[k] = pl
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer close(pl.done)
		pl.pd, pl.err = l.load(ctx, start, end)
	}()
	return pl
}

// period returns a period's data, reading it if no prefetch did.
func (l *periodLoader) period(ctx context.Context, start, end int64) (*periodData, error) {
	pl := l.prefetch(ctx, start, end)
	<-pl.done
	return pl.pd, pl.err
}

// forget drops the periods that end at or before t: the plan is walked in start order.
func (l *periodLoader) forget(t int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, pl := range l.periods {
		if k[1] <= t {
			select {
			case <-pl.done:
				delete(l.periods, k)
			default: // still being read; wait lets it finish
			}
		}
	}
}

// wait lets background reads finish, so none outlives the generation.
func (l *periodLoader) wait() { l.wg.Wait() }

func (l *periodLoader) load(ctx context.Context, start, end int64) (*periodData, error) {
	pd := &periodData{start: start, end: end, partBy: map[int64][]inputPoint{}, static: map[string]*inputPoint{},
		staticDone: map[string]bool{}, dry: map[string]float64{}}
	if len(l.types) == 0 || len(l.dps) == 0 {
		return pd, nil
	}
	l.mu.Lock() // the hints are written by the other period's read (prefetch)
	hint, eventsHint := l.hint, l.eventsHint
	pd.runs = make([]inputPoint, 0, l.runsHint)
	l.mu.Unlock()
	// Two queries in one read transaction: the period's events, then their data points
	// (the join as before, so its rows come in the same order), each point taking its
	// event's type, feedstock and time from the first. Repeating the event's four columns
	// on each of its points made half the values read, and each value read is two calls
	// into SQLite that take the connection's mutex: the column reads, not the join, were
	// most of the query's time.
	events := make(map[int64]periodEvent, eventsHint)
	evArgs := append([]any{l.plan.ProjectID}, int64Args(l.types)...)
	evArgs = append(evArgs, start, end)
	// The unit comes back NULL when it is its type's own unit, as nearly every point's
	// is: copying a text value into a new Go string for each of a million rows was an
	// eighth of the query's time. NULL reads back as the type's unit, so each point gets
	// the Unit that COALESCE(dp.unit, '') gives.
	var unitCase strings.Builder
	dpArgs := make([]any, 0, 2*len(l.dps)+len(evArgs)+len(l.dps))
	unitCase.WriteString("CASE dp.type_id")
	for _, id := range l.dps {
		unitCase.WriteString(" WHEN ? THEN ?")
		dpArgs = append(dpArgs, id, l.units[id])
	}
	unitCase.WriteString(" END")
	dpArgs = append(dpArgs, evArgs...)
	dpArgs = append(dpArgs, int64Args(l.dps)...)
	where := `e.project_id = ? AND e.event_type_id IN (` + placeholders(len(l.types)) + `) AND e.start_time >= ? AND e.start_time < ?`
	most := 0
	var last []inputPoint // partBy[lastFs], kept aside while the rows are of one feedstock
	lastFs, haveLast := int64(0), false
	err := readRaw(ctx, l.db, func(rr rawReader) error {
		err := rr.query(`SELECT e.id, e.event_type_id, COALESCE(e.feedstock_id, 0), e.start_time FROM events e WHERE `+where, evArgs, func(row []driver.Value) error {
			r := rowValues{row: row}
			events[r.int(0)] = periodEvent{typeID: r.int(1), feedstock: r.int(2), time: r.int(3)}
			return r.err
		})
		if err != nil {
			return err
		}
		// The covering data_points_event index answers the join without reading the
		// data_points table. Rows come in index order: by event type, time and
		// feedstock, then each event's points by id.
		return rr.query(`SELECT dp.event_id, dp.id, dp.type_id, dp.value, NULLIF(COALESCE(dp.unit, ''), `+unitCase.String()+`)
			FROM events e JOIN data_points dp ON dp.event_id = e.id
			WHERE `+where+` AND dp.type_id IN (`+placeholders(len(l.dps))+`)`, dpArgs, func(row []driver.Value) error {
			r := rowValues{row: row}
			p := inputPoint{EventID: r.int(0), DataPointID: r.int(1), Value: r.float(3)}
			typeID := r.int(2)
			if row[4] == nil {
				p.Unit = l.units[typeID]
			} else {
				p.Unit = r.str(4)
			}
			if r.err != nil {
				return r.err
			}
			ev, ok := events[p.EventID]
			if !ok {
				return fmt.Errorf("data point %d: event %d missing from the period's events", p.DataPointID, p.EventID)
			}
			etID := ev.typeID
			p.FeedstockID, p.Time = ev.feedstock, ev.time
			et := l.events[etID]
			if et.selected && !l.plan.selEvents[p.EventID] {
				return nil
			}
			p.EventSlug = et.slug
			p.Slug = l.typeSlugs[typeID]
			if et.part {
				if !haveLast || lastFs != p.FeedstockID {
					if haveLast {
						pd.partBy[lastFs] = last
					}
					last, lastFs, haveLast = pd.partBy[p.FeedstockID], p.FeedstockID, true
					if last == nil && hint > 0 {
						last = make([]inputPoint, 0, hint)
					}
				}
				last = append(last, p)
				most = max(most, len(last))
			}
			if et.fac && p.FeedstockID == 0 {
				pd.facility = append(pd.facility, p)
			}
			if etID == l.runs {
				pd.runs = append(pd.runs, p)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	if haveLast {
		pd.partBy[lastFs] = last
	}
	l.mu.Lock()
	l.hint = most + most/8
	l.runsHint = len(pd.runs) + len(pd.runs)/8
	l.eventsHint = len(events) + len(events)/8
	l.mu.Unlock()
	if l.lab {
		if err := l.loadLab(ctx, pd); err != nil {
			return nil, err
		}
	}
	return pd, nil
}

// loadLab reads every feedstock's lab analyses of the 12 months to the period's end
// (the lookback of a batch of that period), in one query instead of one per batch.
func (l *periodLoader) loadLab(ctx context.Context, pd *periodData) error {
	from := time.UnixMilli(pd.end).UTC().AddDate(-1, 0, 0).UnixMilli()
	pts, err := loadPoints(ctx, l.db, l.cat, l.plan, l.dpSet(), []string{"lab-analysis"}, feedstockAny, from, pd.end)
	if err != nil {
		return err
	}
	pd.labBy = map[int64][]inputPoint{}
	for _, p := range pts {
		pd.labBy[p.FeedstockID] = append(pd.labBy[p.FeedstockID], p)
	}
	return nil
}

func (l *periodLoader) dpSet() map[int64]bool {
	m := make(map[int64]bool, len(l.dps))
	for _, id := range l.dps {
		m[id] = true
	}
	return m
}

// input gathers what one batch's model run reads: the same points, with the same
// filters, as one query per input kind and batch would (see loadPoints).
func (l *periodLoader) input(ctx context.Context, pb plannedBatch) (*modelInput, error) {
	def := pb.L.def
	ds := l.sets(def)
	s, e := pb.Start.UnixMilli(), pb.End.UnixMilli()
	l.forget(s)
	pd, err := l.period(ctx, s, e)
	if err != nil {
		return nil, err
	}
	in := &modelInput{PeriodStart: s, PeriodEnd: e, Skipped: l.plan.skipped, Units: ds.units}
	fs := feedstockAny
	if pb.L.PartitionType.String == "feedstock" {
		fs = pb.FeedstockID
		if ds.keepsPartition {
			in.Partition = pd.partBy[fs] // what filter would return, without checking each point
		} else {
			in.Partition = ds.filter(pd.partBy[fs], ds.partition)
		}
	} else {
		for _, k := range sortedKeys(pd.partBy) {
			in.Partition = append(in.Partition, ds.filter(pd.partBy[k], ds.partition)...)
		}
	}
	in.Facility = ds.filter(pd.facility, ds.facility)
	if def.LabLookback {
		lab := map[string]bool{"lab-analysis": true}
		if fs != feedstockAny {
			in.Lab = ds.filter(pd.labBy[fs], lab)
		} else {
			for _, k := range sortedKeys(pd.labBy) {
				in.Lab = append(in.Lab, ds.filter(pd.labBy[k], lab)...)
			}
		}
	}
	if def.Allocation {
		dry, ok := pd.dry[def.Kind]
		if !ok {
			all := &modelInput{Skipped: in.Skipped, Units: in.Units, PeriodRuns: ds.filter(pd.runs, nil)}
			dry = all.periodDryBiochar()
			pd.dry[def.Kind] = dry
		}
		in.PeriodDry = &dry
	}
	for _, slug := range def.StaticInputs {
		if !pd.staticDone[slug] {
			p, err := loadStatic(ctx, l.db, l.cat, l.plan, slug, e)
			if err != nil {
				return nil, err
			}
			pd.static[slug], pd.staticDone[slug] = p, true
		}
		if p := pd.static[slug]; p != nil {
			in.Static = append(in.Static, *p)
		}
	}
	return in, nil
}

func sortedKeys(m map[int64][]inputPoint) []int64 {
	keys := make([]int64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}

// filter keeps the points of the model's inputs (and, unless events is nil, of those
// event types). When every point is kept it returns pts itself: models never modify
// their input, and the copy was a good part of a generation's allocations.
func (ds *defSets) filter(pts []inputPoint, events map[string]bool) []inputPoint {
	keep := func(p *inputPoint) bool { return ds.slugs[p.Slug] && (events == nil || events[p.EventSlug]) }
	i := 0
	for i < len(pts) && keep(&pts[i]) {
		i++
	}
	if i == len(pts) {
		return pts
	}
	out := make([]inputPoint, i, len(pts))
	copy(out, pts[:i])
	for j := i + 1; j < len(pts); j++ {
		if keep(&pts[j]) {
			out = append(out, pts[j])
		}
	}
	return out
}

const (
	feedstockAny  int64 = -1
	feedstockNone int64 = 0
)

func loadPoints(ctx context.Context, q queryer, cat *catalog, plan *genPlan, wanted map[int64]bool, eventSlugs []string, feedstock, from, to int64) ([]inputPoint, error) {
	etIDs := cat.eventTypeIDs(eventSlugs)
	if len(etIDs) == 0 {
		return nil, nil
	}
	args := append([]any{plan.ProjectID}, int64Args(etIDs)...)
	cond := ""
	switch {
	case feedstock == feedstockNone:
		cond = " AND e.feedstock_id IS NULL"
	case feedstock > 0:
		cond = " AND e.feedstock_id = ?"
		args = append(args, feedstock)
	}
	args = append(args, from, to)
	rows, err := q.QueryContext(ctx, `SELECT e.id, e.event_type_id, COALESCE(e.feedstock_id, 0), e.start_time, dp.id, dp.type_id, dp.value, COALESCE(dp.unit, '')
		FROM events e JOIN data_points dp ON dp.event_id = e.id
		WHERE e.project_id = ? AND e.event_type_id IN (`+placeholders(len(etIDs))+`)`+cond+` AND e.start_time >= ? AND e.start_time < ?`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []inputPoint
	for rows.Next() {
		var p inputPoint
		var etID, typeID int64
		if err := rows.Scan(&p.EventID, &etID, &p.FeedstockID, &p.Time, &p.DataPointID, &typeID, &p.Value, &p.Unit); err != nil {
			return nil, err
		}
		if !wanted[typeID] || (plan.selEventTypes[etID] && !plan.selEvents[p.EventID]) {
			continue
		}
		p.EventSlug = cat.events[etID].Slug
		p.Slug = cat.types[typeID].Slug
		out = append(out, p)
	}
	return out, rows.Err()
}

// loadStatic returns the latest value of a static input recorded before the period end.
func loadStatic(ctx context.Context, q queryer, cat *catalog, plan *genPlan, slug string, before int64) (*inputPoint, error) {
	t := cat.typeBySlug[slug]
	if t == nil {
		return nil, nil
	}
	rows, err := q.QueryContext(ctx, `SELECT e.id, e.event_type_id, dp.id, dp.value, COALESCE(dp.unit, ''), dp.event_time
		FROM data_points dp JOIN events e ON e.id = dp.event_id
		WHERE dp.project_id = ? AND dp.type_id = ? AND dp.event_time < ? ORDER BY dp.event_time DESC, dp.id DESC`, plan.ProjectID, t.ID, before)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var p inputPoint
		var etID int64
		if err := rows.Scan(&p.EventID, &etID, &p.DataPointID, &p.Value, &p.Unit, &p.Time); err != nil {
			return nil, err
		}
		if plan.selEventTypes[etID] && !plan.selEvents[p.EventID] {
			continue
		}
		p.EventSlug, p.Slug = cat.events[etID].Slug, slug
		return &p, nil
	}
	return nil, rows.Err()
}

// storeBatch writes one batch's model run in tx (the batchWriter decides where
// transactions begin and end): the batch row is created or, for a period and partition
// already generated, updated in place (same id and tracking id; the unique index forbids
// a second row). Each run is a new model_run, so the batch shows its latest run while
// earlier runs stay recorded. The batch_amounts that go to the batch are recorded as
// allocations to it (storeAllocations). Statements come prepared from the cache and rows
// go in multi-row INSERTs.
func storeBatch(ctx context.Context, tx *sql.Tx, st *stmtCache, cat *catalog, plan *genPlan, pb plannedBatch, res modelResult, taskID int64) (string, error) {
	now := time.Now().UnixMilli()
	start := pb.Start.UnixMilli()
	var batchID int64
	var friendly string
	row, err := st.queryRow(ctx, tx, `SELECT id, friendly_id FROM batches WHERE ledger_id = ? AND period_start = ? AND partition_key = ?`,
		pb.L.ID, start, pb.FeedstockID)
	if err != nil {
		return "", err
	}
	err = row.Scan(&batchID, &friendly)
	isNew := errors.Is(err, sql.ErrNoRows)
	if err != nil && !isNew {
		return "", err
	}
	if isNew {
		var n int
		row, err := st.queryRow(ctx, tx, `SELECT COUNT(*) FROM batches WHERE ledger_id = ? AND period_start = ?`, pb.L.ID, start)
		if err != nil {
			return "", err
		}
		if err := row.Scan(&n); err != nil {
			return "", err
		}
		friendly = randomID("bat_", 12, lowerAlnum)
		tracking := fmt.Sprintf("%s-%03d", periodLabel(pb.L.Cadence.String, pb.Start), n+1)
		var fs any
		if pb.FeedstockID != 0 {
			fs = pb.FeedstockID
		}
		r, err := st.exec(ctx, tx, `INSERT INTO batches (friendly_id, project_id, ledger_id, period_start, period_end, partition_key, feedstock_id, tracking_id, state, primary_value, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'processing', 0, ?, ?)`,
			friendly, plan.ProjectID, pb.L.ID, start, wireEnd(pb.End).UnixMilli(), pb.FeedstockID, fs, tracking, now, now)
		if err != nil {
			return "", err
		}
		if batchID, err = r.LastInsertId(); err != nil {
			return "", err
		}
	}

	state, runState, primary := "complete", "complete", 0.0
	var errMsg any
	primarySlug := pb.L.def.Outputs[0]
	outputs := res.Outputs
	if res.Err != "" {
		state, runState, errMsg = "error", "failed", res.Err
		outputs = map[string]float64{primarySlug: 0}
	} else {
		primary = outputs[primarySlug]
	}
	if err := storeAllocations(ctx, tx, st, plan, pb, batchID, taskID, now); err != nil {
		return "", err
	}
	r, err := st.exec(ctx, tx, `INSERT INTO model_runs (batch_id, model_id, task_id, state, error_message, start_time, end_time, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, batchID, pb.L.ModelID.Int64, taskID, runState, errMsg, start, wireEnd(pb.End).UnixMilli(), now, now)
	if err != nil {
		return "", err
	}
	runID, err := r.LastInsertId()
	if err != nil {
		return "", err
	}
	if err := insertRunDetails(ctx, tx, st, cat, runID, pb.L.def, res, outputs, plan.skippedIDs); err != nil {
		return "", err
	}
	if _, err := st.exec(ctx, tx, `UPDATE batches SET state = ?, primary_value = ?, model_run_id = ?, updated_at = ? WHERE id = ?`,
		state, round6(primary), runID, now, batchID); err != nil {
		return "", err
	}
	return friendly, nil
}

func insertRunDetails(ctx context.Context, tx *sql.Tx, st *stmtCache, cat *catalog, runID int64, def *modelDef, res modelResult, outputs map[string]float64, skipped []int64) error {
	args := make([]any, 0, 8*len(res.Calculations))
	for _, c := range res.Calculations {
		args = append(args, runID, c.Slug, c.Name, round6(c.Value), nullStr(c.Unit), nullStr(c.GHG), nullStr(c.LCARole), nullStr(c.Category))
	}
	if err := st.insertAll(ctx, tx, `INSERT INTO run_calculations (model_run_id, slug, name, value, unit, ghg, lca_role, category) VALUES `, 8, args); err != nil {
		return err
	}
	args = args[:0]
	for i, slug := range def.Outputs {
		v, ok := outputs[slug]
		if !ok {
			continue
		}
		t := cat.typeBySlug[slug]
		if t == nil {
			return fmt.Errorf("output type %s missing from the catalog", slug)
		}
		args = append(args, randomID("dp_", 12, lowerAlnum), runID, t.ID, round6(v), t.Unit, i == 0)
	}
	if err := st.insertAll(ctx, tx, `INSERT INTO run_outputs (friendly_id, model_run_id, type_id, value, unit, is_primary) VALUES `, 6, args); err != nil {
		return err
	}
	// A month of a busy feedstock reads a thousand data points: they go in as one JSON
	// array, one bound value instead of two per row (boxing each id for database/sql was
	// millions of allocations per generation).
	if len(res.Used) > 0 {
		ids := make([]byte, 0, 8*len(res.Used)+2)
		ids = append(ids, '[')
		for i, id := range res.Used {
			if i > 0 {
				ids = append(ids, ',')
			}
			ids = strconv.AppendInt(ids, id, 10)
		}
		ids = append(ids, ']')
		if _, err := st.exec(ctx, tx, `INSERT INTO run_inputs (model_run_id, data_point_id) SELECT ?, value FROM json_each(?)`, runID, string(ids)); err != nil {
			return err
		}
	}
	inputs := map[string]bool{}
	for _, s := range def.Inputs {
		inputs[s] = true
	}
	for _, id := range skipped {
		if inputs[cat.types[id].Slug] {
			if _, err := st.exec(ctx, tx, `INSERT INTO run_inputs (model_run_id, skipped_type_id) VALUES (?, ?)`, runID, id); err != nil {
				return err
			}
		}
	}
	for _, a := range res.Alerts {
		if _, err := st.exec(ctx, tx, `INSERT INTO run_alerts (model_run_id, message) VALUES (?, ?)`, runID, a); err != nil {
			return err
		}
	}
	return nil
}
