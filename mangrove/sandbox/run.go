package sandbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"
)

// One batch's model run: loading its inputs with indexed range queries, and storing
// the result in one transaction.

// periodData is what the batches of one period share, read once with one query: the
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
	q     queryer
	cat   *catalog
	plan  *genPlan
	types []int64 // event types read per period
	part  map[int64]bool
	fac   map[int64]bool
	runs  int64 // the pyrolysis-run event type, when a model allocates; else 0
	lab   bool  // a model reads lab analyses of the year before a period's end
	dps   []int64
	defs  map[*modelDef]*defSets

	mu      sync.Mutex
	periods map[[2]int64]*periodLoad
	hint    int // points per feedstock in the last period, to size the slices
	wg      sync.WaitGroup
}

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
}

func newPeriodLoader(q queryer, cat *catalog, plan *genPlan) *periodLoader {
	l := &periodLoader{q: q, cat: cat, plan: plan, part: map[int64]bool{}, fac: map[int64]bool{},
		defs: map[*modelDef]*defSets{}, periods: map[[2]int64]*periodLoad{}}
	types, dps := map[int64]bool{}, map[int64]bool{}
	for _, pl := range plan.Ledgers {
		def := pl.def
		ds := l.sets(def)
		for id := range ds.wanted {
			dps[id] = true
		}
		for _, id := range cat.eventTypeIDs(def.PartitionEvents) {
			l.part[id], types[id] = true, true
		}
		for _, id := range cat.eventTypeIDs(def.FacilityEvents) {
			l.fac[id], types[id] = true, true
		}
		if def.Allocation {
			for _, id := range cat.eventTypeIDs([]string{"pyrolysis-run"}) {
				l.runs, types[id] = id, true
			}
		}
		l.lab = l.lab || def.LabLookback
	}
	for id := range types {
		l.types = append(l.types, id)
	}
	for id := range dps {
		l.dps = append(l.dps, id)
	}
	sort.Slice(l.types, func(i, j int) bool { return l.types[i] < l.types[j] })
	sort.Slice(l.dps, func(i, j int) bool { return l.dps[i] < l.dps[j] })
	return l
}

func (l *periodLoader) sets(def *modelDef) *defSets {
	if ds := l.defs[def]; ds != nil {
		return ds
	}
	ds := &defSets{wanted: map[int64]bool{}, slugs: map[string]bool{}, partition: map[string]bool{}, facility: map[string]bool{}}
	for _, slug := range def.Inputs {
		ds.slugs[slug] = true
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
	l.mu.Lock()
	hint := l.hint
	l.mu.Unlock()
	args := append([]any{l.plan.ProjectID}, int64Args(l.types)...)
	args = append(args, start, end)
	args = append(args, int64Args(l.dps)...)
	rows, err := l.q.QueryContext(ctx, `SELECT e.id, e.event_type_id, COALESCE(e.feedstock_id, 0), e.start_time, dp.id, dp.type_id, dp.value, COALESCE(dp.unit, '')
		FROM events e JOIN data_points dp ON dp.event_id = e.id
		WHERE e.project_id = ? AND e.event_type_id IN (`+placeholders(len(l.types))+`) AND e.start_time >= ? AND e.start_time < ?
			AND dp.type_id IN (`+placeholders(len(l.dps))+`)`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	most := 0
	for rows.Next() {
		var p inputPoint
		var etID, typeID int64
		if err := rows.Scan(&p.EventID, &etID, &p.FeedstockID, &p.Time, &p.DataPointID, &typeID, &p.Value, &p.Unit); err != nil {
			return nil, err
		}
		if l.plan.selEventTypes[etID] && !l.plan.selEvents[p.EventID] {
			continue
		}
		p.EventSlug = l.cat.events[etID].Slug
		p.Slug = l.cat.types[typeID].Slug
		if l.part[etID] {
			pts := pd.partBy[p.FeedstockID]
			if pts == nil && hint > 0 {
				pts = make([]inputPoint, 0, hint)
			}
			pd.partBy[p.FeedstockID] = append(pts, p)
			most = max(most, len(pts)+1)
		}
		if l.fac[etID] && p.FeedstockID == 0 {
			pd.facility = append(pd.facility, p)
		}
		if etID == l.runs {
			pd.runs = append(pd.runs, p)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.hint = most + most/8
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
	pts, err := loadPoints(ctx, l.q, l.cat, l.plan, l.dpSet(), []string{"lab-analysis"}, feedstockAny, from, pd.end)
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
	in := &modelInput{PeriodStart: s, PeriodEnd: e, Skipped: l.plan.skipped, Units: map[string]string{}}
	for _, slug := range def.Inputs {
		in.Units[slug] = l.cat.unitOf(slug)
	}
	fs := feedstockAny
	if pb.L.PartitionType.String == "feedstock" {
		fs = pb.FeedstockID
		in.Partition = ds.filter(pd.partBy[fs], ds.partition)
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
			p, err := loadStatic(ctx, l.q, l.cat, l.plan, slug, e)
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

// txBeginner is a *sql.DB or the *sql.Conn a generation writes on.
type txBeginner interface {
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

// storeBatch writes one batch's model run in one transaction: the batch row is created
// or, for a period and partition already generated, updated in place (same id and
// tracking id; the unique index forbids a second row). Each run is a new model_run, so
// the batch shows its latest run while earlier runs stay recorded. Statements come
// prepared from the cache and rows go in multi-row INSERTs.
func storeBatch(ctx context.Context, db txBeginner, st *stmtCache, cat *catalog, plan *genPlan, pb plannedBatch, res modelResult, taskID int64) (string, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
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
		if amount, ok := plan.amounts[friendly]; ok {
			res.Calculations = append(res.Calculations, calcResult{Slug: "custom-primary-output-amount", Name: "Custom primary output amount (batch_amounts)",
				Value: amount, Unit: cat.unitOf(primarySlug), Category: "override"})
			primary = amount
			outputs[primarySlug] = amount
		}
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
	return friendly, tx.Commit()
}

func insertRunDetails(ctx context.Context, tx *sql.Tx, st *stmtCache, cat *catalog, runID int64, def *modelDef, res modelResult, outputs map[string]float64, skipped []int64) error {
	args := make([]any, 0, 8*len(res.Calculations))
	for _, c := range res.Calculations {
		args = append(args, runID, c.Slug, c.Name, round6(c.Value), nullStr(c.Unit), nullStr(c.GHG), nullStr(c.LCARole), nullStr(c.Category))
	}
	if err := st.insertRows(ctx, tx, `INSERT INTO run_calculations (model_run_id, slug, name, value, unit, ghg, lca_role, category) VALUES `, 8, args); err != nil {
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
	if err := st.insertRows(ctx, tx, `INSERT INTO run_outputs (friendly_id, model_run_id, type_id, value, unit, is_primary) VALUES `, 6, args); err != nil {
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
