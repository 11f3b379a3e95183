package sandbox

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Planning is shared by generate_preview and the generation task, so the preview count
// is exactly the number of batches the same request then creates or updates.

// apiError is a request problem with the status it maps to.
type apiError struct {
	Status int
	Msg    string
}

func (e *apiError) Error() string { return e.Msg }

func unprocessable(format string, args ...any) error {
	return &apiError{Status: http.StatusUnprocessableEntity, Msg: fmt.Sprintf(format, args...)}
}

// genParams are a generation request after validation; they are stored with the task.
type genParams struct {
	Start          int64         `json:"start"` // unix ms, inclusive
	End            int64         `json:"end"`   // unix ms, exclusive
	DataPointIDs   []string      `json:"data_point_ids,omitempty"`
	SkippedTypeIDs []int64       `json:"skipped_data_point_type_ids,omitempty"`
	BatchAmounts   []batchAmount `json:"batch_amounts,omitempty"`
}

// batchAmount is one batch_amounts item: allocate Amount of batch BatchID's primary
// output (an upstream batch) in AllocationGroup (nil: none given).
type batchAmount struct {
	BatchID         string  `json:"batch_id"`
	Amount          float64 `json:"primary_output_amount"`
	AllocationGroup *string `json:"allocation_group,omitempty"`
}

type planLedger struct {
	*ledgerRow
	def   *modelDef
	count int
}

type plannedBatch struct {
	L           *planLedger
	Start, End  time.Time
	FeedstockID int64 // partition key: the feedstock, or 0 when the ledger is not partitioned
}

type genPlan struct {
	ProjectID int64
	Ledgers   []*planLedger
	Batches   []plannedBatch
	// The data_point_ids selection works per event: each event type that a listed data
	// point belongs to is restricted to the listed data points' events; other event
	// types are discovered from the range.
	selEvents     map[int64]bool
	selEventTypes map[int64]bool
	selected      []selectedPoint
	skipped       map[string]bool
	skippedIDs    []int64
	// allocations are the batch_amounts, by the downstream batch they go to.
	allocations map[allocTarget][]plannedAllocation
}

type selectedPoint struct {
	EventID, EventTypeID, FeedstockID, Time int64
}

// buildPlan validates a request against the ledger group and lists the batches it makes.
func buildPlan(ctx context.Context, q queryer, cat *catalog, l *ledgerRow, p genParams) (*genPlan, error) {
	if !l.ModelID.Valid {
		return nil, unprocessable("ledger %s has no linked model (latest_model is null): batches cannot be generated", l.FriendlyID)
	}
	if p.End <= p.Start {
		return nil, unprocessable("end_time must be after start_time")
	}
	group, err := ledgerGroup(ctx, q, l)
	if err != nil {
		return nil, err
	}
	plan := &genPlan{ProjectID: l.ProjectID, skipped: map[string]bool{}, allocations: map[allocTarget][]plannedAllocation{}}
	inputSlugs := map[string]bool{}
	for _, g := range group {
		def := modelDefs[g.ModelKind.String]
		if def == nil {
			return nil, fmt.Errorf("ledger %s: unknown model kind %q", g.FriendlyID, g.ModelKind.String)
		}
		if !cadences[g.Cadence.String] {
			return nil, unprocessable("ledger %s has cadence %q, which the sandbox cannot split into periods", g.FriendlyID, g.Cadence.String)
		}
		plan.Ledgers = append(plan.Ledgers, &planLedger{ledgerRow: g, def: def})
		for _, s := range def.Inputs {
			inputSlugs[s] = true
		}
	}

	if err := plan.selectPoints(ctx, q, p.DataPointIDs); err != nil {
		return nil, err
	}
	for _, id := range p.SkippedTypeIDs {
		t := cat.types[id]
		if t == nil {
			return nil, unprocessable("skipped_data_point_type_ids: unknown data point type id %d", id)
		}
		if !inputSlugs[t.Slug] {
			return nil, unprocessable("skipped_data_point_type_ids: data point type %d (%s) is not a required input of the models this generation runs", id, t.Slug)
		}
		plan.skipped[t.Slug] = true
		plan.skippedIDs = append(plan.skippedIDs, id)
	}

	from, to := time.UnixMilli(p.Start).UTC(), time.UnixMilli(p.End).UTC()
	for _, pl := range plan.Ledgers {
		if err := plan.addLedgerBatches(ctx, q, cat, pl, from, to); err != nil {
			return nil, err
		}
	}
	if err := plan.checkAmounts(ctx, q, p.BatchAmounts); err != nil {
		return nil, err
	}
	return plan, nil
}

func (plan *genPlan) selectPoints(ctx context.Context, q queryer, ids []string) error {
	plan.selEvents, plan.selEventTypes = map[int64]bool{}, map[int64]bool{}
	if len(ids) == 0 {
		return nil
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	uniq := make([]string, 0, len(want))
	for id := range want {
		uniq = append(uniq, id)
	}
	sort.Strings(uniq)
	found := map[string]bool{}
	const chunk = 500
	for i := 0; i < len(uniq); i += chunk {
		part := uniq[i:min(i+chunk, len(uniq))]
		args := []any{plan.ProjectID}
		for _, s := range part {
			args = append(args, s)
		}
		rows, err := q.QueryContext(ctx, `SELECT dp.friendly_id, e.id, e.event_type_id, COALESCE(e.feedstock_id, 0), e.start_time
			FROM data_points dp JOIN events e ON e.id = dp.event_id
			WHERE dp.project_id = ? AND dp.friendly_id IN (`+placeholders(len(part))+`)`, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var fid string
			var sp selectedPoint
			if err := rows.Scan(&fid, &sp.EventID, &sp.EventTypeID, &sp.FeedstockID, &sp.Time); err != nil {
				rows.Close()
				return err
			}
			found[fid] = true
			if !plan.selEvents[sp.EventID] {
				plan.selected = append(plan.selected, sp)
			}
			plan.selEvents[sp.EventID] = true
			plan.selEventTypes[sp.EventTypeID] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	var unknown []string
	for _, id := range uniq {
		if !found[id] {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) > 0 {
		if len(unknown) > 10 {
			unknown = append(unknown[:10], fmt.Sprintf("and %d more", len(unknown)-10))
		}
		return unprocessable("data_point_ids: unknown data point ids: %s", strings.Join(unknown, ", "))
	}
	return nil
}

type batchKey struct {
	start     int64
	feedstock int64
}

// addLedgerBatches adds one batch per period and partition that has driver data in the range.
func (plan *genPlan) addLedgerBatches(ctx context.Context, q queryer, cat *catalog, pl *planLedger, from, to time.Time) error {
	cad := pl.Cadence.String
	periods := splitPeriods(cad, from, to)
	if len(periods) == 0 {
		return nil
	}
	lo, hi := periods[0].Start.UnixMilli(), periods[len(periods)-1].End.UnixMilli()
	partitioned := pl.PartitionType.String == "feedstock"
	drivers := cat.eventTypeIDs(pl.def.Drivers)
	driverSet := map[int64]bool{}
	for _, id := range drivers {
		driverSet[id] = true
	}
	keys := map[batchKey]bool{}
	add := func(feedstock sql.NullInt64, t int64) {
		if partitioned && !feedstock.Valid {
			return // a facility-wide event cannot make a per-feedstock batch
		}
		k := batchKey{start: periodStart(cad, time.UnixMilli(t)).UnixMilli()}
		if partitioned {
			k.feedstock = feedstock.Int64
		}
		keys[k] = true
	}
	selectedDrivers := false
	for _, sp := range plan.selected {
		if driverSet[sp.EventTypeID] {
			selectedDrivers = true
			if sp.Time >= lo && sp.Time < hi {
				add(sql.NullInt64{Int64: sp.FeedstockID, Valid: sp.FeedstockID != 0}, sp.Time)
			}
		}
	}
	if !selectedDrivers && len(drivers) > 0 {
		if err := plan.discoverBatches(ctx, q, drivers, partitioned, periods, keys); err != nil {
			return err
		}
	}
	sorted := make([]batchKey, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Slice(sorted, func(i, j int) bool {
		if sorted[i].start != sorted[j].start {
			return sorted[i].start < sorted[j].start
		}
		return sorted[i].feedstock < sorted[j].feedstock
	})
	for _, k := range sorted {
		s := time.UnixMilli(k.start).UTC()
		plan.Batches = append(plan.Batches, plannedBatch{L: pl, Start: s, End: nextPeriod(cad, s), FeedstockID: k.feedstock})
	}
	pl.count = len(sorted)
	return nil
}

// discoverBatches finds the (period, partition) pairs that have a driver event, with one
// query answered inside SQLite: for every period (and every feedstock, when partitioned)
// an EXISTS probe on the events index. Its cost follows the number of candidate batches,
// not the number of events, so a preview over years of dense data stays fast (reading
// every driver event of five years was ~0.25 s per preview on 1,000,000 data points).
func (plan *genPlan) discoverBatches(ctx context.Context, q queryer, drivers []int64, partitioned bool, periods []period, keys map[batchKey]bool) error {
	var bounds strings.Builder
	bounds.WriteByte('[')
	for i, p := range periods {
		if i > 0 {
			bounds.WriteByte(',')
		}
		fmt.Fprintf(&bounds, "[%d,%d]", p.Start.UnixMilli(), p.End.UnixMilli())
	}
	bounds.WriteByte(']')
	args := []any{bounds.String(), plan.ProjectID}
	args = append(args, int64Args(drivers)...)
	in := placeholders(len(drivers))
	var query string
	if partitioned {
		// Index (project_id, feedstock_id, event_type_id, start_time). Events whose
		// feedstock is null cannot make a per-feedstock batch, as before.
		query = `SELECT p.key, f.id FROM json_each(?) p, feedstocks f
			WHERE EXISTS (SELECT 1 FROM events e WHERE e.project_id = ? AND e.feedstock_id = f.id AND e.event_type_id IN (` + in + `)
				AND e.start_time >= p.value ->> 0 AND e.start_time < p.value ->> 1)`
	} else {
		// Index (project_id, event_type_id, start_time, feedstock_id).
		query = `SELECT p.key, 0 FROM json_each(?) p
			WHERE EXISTS (SELECT 1 FROM events e WHERE e.project_id = ? AND e.event_type_id IN (` + in + `)
				AND e.start_time >= p.value ->> 0 AND e.start_time < p.value ->> 1)`
	}
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var i int
		var fs int64
		if err := rows.Scan(&i, &fs); err != nil {
			return err
		}
		if i < 0 || i >= len(periods) {
			return fmt.Errorf("discover batches: period index %d out of range", i)
		}
		keys[batchKey{start: periods[i].Start.UnixMilli(), feedstock: fs}] = true
	}
	return rows.Err()
}
