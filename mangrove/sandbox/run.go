package sandbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// One batch's model run: loading its inputs with indexed range queries, and storing
// the result in one transaction.

// loadInput reads, with indexed range queries, what one batch's model run needs.
func loadInput(ctx context.Context, q queryer, cat *catalog, plan *genPlan, pb plannedBatch) (*modelInput, error) {
	def := pb.L.def
	s, e := pb.Start.UnixMilli(), pb.End.UnixMilli()
	in := &modelInput{PeriodStart: s, PeriodEnd: e, Skipped: plan.skipped, Units: map[string]string{}}
	wanted := map[int64]bool{}
	for _, slug := range def.Inputs {
		in.Units[slug] = cat.unitOf(slug)
		if t := cat.typeBySlug[slug]; t != nil {
			wanted[t.ID] = true
		}
	}
	partitioned := pb.L.PartitionType.String == "feedstock"
	var err error
	fs := feedstockAny
	if partitioned {
		fs = pb.FeedstockID
	}
	if in.Partition, err = loadPoints(ctx, q, cat, plan, wanted, def.PartitionEvents, fs, s, e); err != nil {
		return nil, err
	}
	if len(def.FacilityEvents) > 0 {
		if in.Facility, err = loadPoints(ctx, q, cat, plan, wanted, def.FacilityEvents, feedstockNone, s, e); err != nil {
			return nil, err
		}
	}
	if def.LabLookback {
		from := pb.End.AddDate(-1, 0, 0).UnixMilli()
		if in.Lab, err = loadPoints(ctx, q, cat, plan, wanted, []string{"lab-analysis"}, fs, from, e); err != nil {
			return nil, err
		}
	}
	if def.Allocation {
		// Every feedstock's batch of a period needs the same runs: batches are planned
		// period by period, so keeping the last period's runs avoids re-reading them.
		if plan.runsCache.ok && plan.runsCache.start == s && plan.runsCache.end == e && plan.runsCache.kind == def.Kind {
			in.PeriodRuns = plan.runsCache.points
		} else {
			if in.PeriodRuns, err = loadPoints(ctx, q, cat, plan, wanted, []string{"pyrolysis-run"}, feedstockAny, s, e); err != nil {
				return nil, err
			}
			plan.runsCache.ok, plan.runsCache.start, plan.runsCache.end, plan.runsCache.kind, plan.runsCache.points = true, s, e, def.Kind, in.PeriodRuns
		}
	}
	for _, slug := range def.StaticInputs {
		p, err := loadStatic(ctx, q, cat, plan, slug, e)
		if err != nil {
			return nil, err
		}
		if p != nil {
			in.Static = append(in.Static, *p)
		}
	}
	return in, nil
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

// storeBatch writes one batch's model run in one transaction: the batch row is created
// or, for a period and partition already generated, updated in place (same id and
// tracking id; the unique index forbids a second row). Each run is a new model_run, so
// the batch shows its latest run while earlier runs stay recorded.
func storeBatch(ctx context.Context, db *sql.DB, cat *catalog, plan *genPlan, pb plannedBatch, res modelResult, taskID int64) (string, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
	now := time.Now().UnixMilli()
	start := pb.Start.UnixMilli()
	var batchID int64
	var friendly string
	err = tx.QueryRowContext(ctx, `SELECT id, friendly_id FROM batches WHERE ledger_id = ? AND period_start = ? AND partition_key = ?`,
		pb.L.ID, start, pb.FeedstockID).Scan(&batchID, &friendly)
	isNew := errors.Is(err, sql.ErrNoRows)
	if err != nil && !isNew {
		return "", err
	}
	if isNew {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM batches WHERE ledger_id = ? AND period_start = ?`, pb.L.ID, start).Scan(&n); err != nil {
			return "", err
		}
		friendly = randomID("bat_", 12, lowerAlnum)
		tracking := fmt.Sprintf("%s-%03d", periodLabel(pb.L.Cadence.String, pb.Start), n+1)
		var fs any
		if pb.FeedstockID != 0 {
			fs = pb.FeedstockID
		}
		r, err := tx.ExecContext(ctx, `INSERT INTO batches (friendly_id, project_id, ledger_id, period_start, period_end, partition_key, feedstock_id, tracking_id, state, primary_value, created_at, updated_at)
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
	r, err := tx.ExecContext(ctx, `INSERT INTO model_runs (batch_id, model_id, task_id, state, error_message, start_time, end_time, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, batchID, pb.L.ModelID.Int64, taskID, runState, errMsg, start, wireEnd(pb.End).UnixMilli(), now, now)
	if err != nil {
		return "", err
	}
	runID, err := r.LastInsertId()
	if err != nil {
		return "", err
	}
	if err := insertRunDetails(ctx, tx, cat, runID, pb.L.def, res, outputs, plan.skippedIDs); err != nil {
		return "", err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE batches SET state = ?, primary_value = ?, model_run_id = ?, updated_at = ? WHERE id = ?`,
		state, round6(primary), runID, now, batchID); err != nil {
		return "", err
	}
	return friendly, tx.Commit()
}

func insertRunDetails(ctx context.Context, tx *sql.Tx, cat *catalog, runID int64, def *modelDef, res modelResult, outputs map[string]float64, skipped []int64) error {
	calc, err := tx.PrepareContext(ctx, `INSERT INTO run_calculations (model_run_id, slug, name, value, unit, ghg, lca_role, category) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer calc.Close()
	for _, c := range res.Calculations {
		if _, err := calc.ExecContext(ctx, runID, c.Slug, c.Name, round6(c.Value), nullStr(c.Unit), nullStr(c.GHG), nullStr(c.LCARole), nullStr(c.Category)); err != nil {
			return err
		}
	}
	for i, slug := range def.Outputs {
		v, ok := outputs[slug]
		if !ok {
			continue
		}
		t := cat.typeBySlug[slug]
		if t == nil {
			return fmt.Errorf("output type %s missing from the catalog", slug)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO run_outputs (friendly_id, model_run_id, type_id, value, unit, is_primary) VALUES (?, ?, ?, ?, ?, ?)`,
			randomID("dp_", 12, lowerAlnum), runID, t.ID, round6(v), t.Unit, i == 0); err != nil {
			return err
		}
	}
	// A month of a busy feedstock reads thousands of data points: insert them in
	// multi-row statements, which is several times faster than one row per statement.
	const chunk = 300
	for i := 0; i < len(res.Used); i += chunk {
		part := res.Used[i:min(i+chunk, len(res.Used))]
		args := make([]any, 0, 2*len(part))
		for _, id := range part {
			args = append(args, runID, id)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO run_inputs (model_run_id, data_point_id) VALUES `+
			strings.TrimSuffix(strings.Repeat("(?, ?), ", len(part)), ", "), args...); err != nil {
			return err
		}
	}
	inputs := map[string]bool{}
	for _, s := range def.Inputs {
		inputs[s] = true
	}
	for _, id := range skipped {
		if inputs[cat.types[id].Slug] {
			if _, err := tx.ExecContext(ctx, `INSERT INTO run_inputs (model_run_id, skipped_type_id) VALUES (?, ?)`, runID, id); err != nil {
				return err
			}
		}
	}
	for _, a := range res.Alerts {
		if _, err := tx.ExecContext(ctx, `INSERT INTO run_alerts (model_run_id, message) VALUES (?, ?)`, runID, a); err != nil {
			return err
		}
	}
	return nil
}
