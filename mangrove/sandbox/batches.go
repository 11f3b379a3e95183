package sandbox

import (
	"context"
	"database/sql"
	"net/http"
)

// Both batch lists accept the union of the fields documented for either of them, so a
// client that sorts /batches by tracking_id or a ledger's batches by state is not refused.
var batchList = listSpec{
	sorts: map[string]string{
		"id": "b.id", "start_time": "b.period_start", "end_time": "b.period_end", "state": "b.state",
		"created_at": "b.created_at", "updated_at": "b.updated_at", "tracking_id": "b.tracking_id", "friendly_id": "b.friendly_id",
	},
	filters: map[string]filterDef{
		"project_id":  {col: "b.project_id", kind: filterInt, ops: []string{"eq"}},
		"id":          {col: "b.friendly_id", kind: filterString, ops: []string{"eq"}},
		"friendly_id": {col: "b.friendly_id", kind: filterString, ops: []string{"eq"}},
		"state":       {col: "b.state", kind: filterString, ops: []string{"eq"}},
		"tracking_id": {col: "b.tracking_id", kind: filterString, ops: []string{"eq"}},
		"start_time":  {col: "b.period_start", kind: filterTime, ops: []string{"eq", "geq", "leq"}},
		"end_time":    {col: "b.period_end", kind: filterTime, ops: []string{"eq", "geq", "leq"}},
	},
	tiebreak: "b.id",
}

type batchRow struct {
	ID, LedgerID, PeriodStart, PeriodEnd, CreatedAt, UpdatedAt int64
	FriendlyID, TrackingID, State                              string
	FeedstockID, ModelRunID                                    sql.NullInt64
	PrimaryValue, Balance                                      float64
}

// ledger_balance is the batch's own unallocated amount: its primary output minus what
// was allocated from it (to downstream batches and reports), not a total of the ledger.
const batchCTE = `WITH b AS (
	SELECT bt.id, bt.friendly_id, bt.project_id, bt.ledger_id, bt.period_start, bt.period_end, bt.feedstock_id, bt.tracking_id,
		bt.state, bt.primary_value, bt.model_run_id, bt.created_at, bt.updated_at,
		bt.primary_value - COALESCE((SELECT SUM(a.amount) FROM allocations a WHERE a.from_batch_id = bt.id), 0) AS balance
	FROM batches bt WHERE bt.project_id ` + inProjects + ` %s)
SELECT b.id, b.ledger_id, b.period_start, b.period_end, b.created_at, b.updated_at, b.friendly_id, b.tracking_id, b.state,
	b.feedstock_id, b.model_run_id, b.primary_value, b.balance FROM b WHERE 1 = 1`

func scanBatch(sc interface{ Scan(...any) error }) (*batchRow, error) {
	b := &batchRow{}
	err := sc.Scan(&b.ID, &b.LedgerID, &b.PeriodStart, &b.PeriodEnd, &b.CreatedAt, &b.UpdatedAt, &b.FriendlyID, &b.TrackingID, &b.State,
		&b.FeedstockID, &b.ModelRunID, &b.PrimaryValue, &b.Balance)
	return b, err
}

// listLedgerBatches is GET /ledgers/{ledger_id}/batches.
func (s *Server) listLedgerBatches(w http.ResponseWriter, r *http.Request, p principal) {
	l, err := visibleLedger(r.Context(), s.db, p, r.PathValue("ledger_id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if l == nil {
		notFound(w)
		return
	}
	s.writeBatchList(w, r, p, l.ID)
}

// listBatches is GET /batches: every batch of the token's projects.
func (s *Server) listBatches(w http.ResponseWriter, r *http.Request, p principal) {
	s.writeBatchList(w, r, p, 0)
}

func (s *Server) writeBatchList(w http.ResponseWriter, r *http.Request, p principal, ledgerID int64) {
	lq, err := parseList(r, batchList)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ctx := r.Context()
	scope, args := "", []any{p.projects()}
	if ledgerID != 0 {
		scope, args = "AND bt.ledger_id = ?", append(args, ledgerID)
	}
	countArgs := append(append([]any(nil), args...), lq.args...)
	var total int64
	countScope := ""
	if ledgerID != 0 {
		countScope = " AND b.ledger_id = ?"
	}
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM batches b WHERE b.project_id `+inProjects+countScope+lq.whereSQL(), countArgs...).Scan(&total); err != nil {
		s.fail(w, r, err)
		return
	}
	query := sprintf(batchCTE, scope) + lq.whereSQL() + ` ORDER BY ` + lq.order + ` LIMIT ? OFFSET ?`
	rows, err := s.db.QueryContext(ctx, query, append(countArgs, lq.size, lq.offset())...)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var list []*batchRow
	for rows.Next() {
		b, err := scanBatch(rows)
		if err != nil {
			rows.Close()
			s.fail(w, r, err)
			return
		}
		list = append(list, b)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]batchJSON, 0, len(list))
	for _, b := range list {
		j, err := s.batchJSON(ctx, b)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		out = append(out, j)
	}
	writeJSON(w, http.StatusOK, listJSON[batchJSON]{Data: out, Info: lq.info(len(out), total)})
}

// showBatch is GET /batches/{batch_id}: the batch plus the data points its latest model
// run read (input_data) and the alerts it raised.
func (s *Server) showBatch(w http.ResponseWriter, r *http.Request, p principal) {
	ctx := r.Context()
	b, err := scanBatch(s.db.QueryRowContext(ctx, sprintf(batchCTE, "")+` AND b.friendly_id = ?`, p.projects(), r.PathValue("batch_id")))
	if err == sql.ErrNoRows {
		notFound(w)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	j, err := s.batchJSON(ctx, b)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := batchDetailJSON{batchJSON: j, InputData: []inputDataJSON{}, ReportAllocations: []any{}, RuleAlerts: []ruleAlertJSON{}}
	if d.DownstreamBatchAllocations, err = s.batchAllocations(ctx, b.ID, false); err != nil {
		s.fail(w, r, err)
		return
	}
	if b.ModelRunID.Valid {
		if d.InputData, err = s.inputData(ctx, b.ModelRunID.Int64); err != nil {
			s.fail(w, r, err)
			return
		}
		rows, err := s.db.QueryContext(ctx, `SELECT message FROM run_alerts WHERE model_run_id = ? ORDER BY id`, b.ModelRunID.Int64)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		for rows.Next() {
			var m string
			if err := rows.Scan(&m); err != nil {
				rows.Close()
				s.fail(w, r, err)
				return
			}
			d.RuleAlerts = append(d.RuleAlerts, ruleAlertJSON{Message: m})
		}
		rows.Close()
		d.HasRuleAlerts = len(d.RuleAlerts) > 0
	}
	writeJSON(w, http.StatusOK, d)
}

// batchJSON assembles the list form of a batch: primary output, the allocations it
// received, model run with its calculations and output data points, and feedstocks.
func (s *Server) batchJSON(ctx context.Context, b *batchRow) (batchJSON, error) {
	j := batchJSON{
		ID: b.FriendlyID, TrackingID: b.TrackingID, StartTime: apiTime(b.PeriodStart), EndTime: apiTime(b.PeriodEnd),
		State: b.State, CreatedAt: apiTime(b.CreatedAt), UpdatedAt: apiTime(b.UpdatedAt),
		LedgerBalance: round6(b.Balance), Feedstocks: []feedstockJSON{},
	}
	var err error
	if j.Allocations, err = s.batchAllocations(ctx, b.ID, true); err != nil {
		return j, err
	}
	j.PrimaryOutput.Value = round6(b.PrimaryValue)
	if b.ModelRunID.Valid {
		mr := &modelRunJSON{Calculations: []calculationJSON{}, OutputDataPoints: []dataPointJSON{}}
		var errMsg sql.NullString
		// A page of batches makes these queries for each batch: prepared once (stmts.go).
		row, err := s.eng.stmts.queryRow(ctx, nil, `SELECT id, start_time, end_time, state, error_message, created_at, updated_at FROM model_runs WHERE id = ?`,
			b.ModelRunID.Int64)
		if err != nil {
			return j, err
		}
		err = row.Scan(&mr.ID, &mr.StartTime, &mr.EndTime, &mr.State, &errMsg, &mr.CreatedAt, &mr.UpdatedAt)
		if err != nil {
			return j, err
		}
		mr.ErrorMessage = nullToPtr(errMsg)
		rows, err := s.eng.stmts.query(ctx, `SELECT id, name, value, unit, ghg, lca_role, category FROM run_calculations WHERE model_run_id = ? ORDER BY id`, mr.ID)
		if err != nil {
			return j, err
		}
		for rows.Next() {
			var c calculationJSON
			var unit, ghg, role, cat sql.NullString
			if err := rows.Scan(&c.ID, &c.Name, &c.Value, &unit, &ghg, &role, &cat); err != nil {
				rows.Close()
				return j, err
			}
			c.Unit, c.GHG, c.LCARole, c.Category = nullToPtr(unit), nullToPtr(ghg), nullToPtr(role), nullToPtr(cat)
			mr.Calculations = append(mr.Calculations, c)
		}
		rows.Close()
		rows, err = s.eng.stmts.query(ctx, `SELECT id, friendly_id, type_id, value, unit, is_primary FROM run_outputs WHERE model_run_id = ? ORDER BY id`, mr.ID)
		if err != nil {
			return j, err
		}
		for rows.Next() {
			var id, typeID int64
			var fid string
			var v float64
			var unit sql.NullString
			var primary bool
			if err := rows.Scan(&id, &fid, &typeID, &v, &unit, &primary); err != nil {
				rows.Close()
				return j, err
			}
			t := s.cat.types[typeID]
			mr.OutputDataPoints = append(mr.OutputDataPoints, dataPointJSON{ID: &fid, Slug: t.Slug, DataPointType: t.Name, Value: v, Unit: nullToPtr(unit), Status: "complete"})
			if primary {
				j.PrimaryOutput = primaryOutputJSON{ID: id, Name: t.Name, Unit: nullToPtr(unit), DataPointTypeID: t.ID, Value: v}
			}
		}
		rows.Close()
		j.ModelRun = mr
	}
	var rows *sql.Rows
	if b.FeedstockID.Valid {
		rows, err = s.eng.stmts.query(ctx, `SELECT id, name FROM feedstocks WHERE id = ?`, b.FeedstockID.Int64)
	} else {
		// Not partitioned by feedstock: the feedstocks of the events the run read.
		rows, err = s.db.QueryContext(ctx, `SELECT DISTINCT f.id, f.name FROM run_inputs ri JOIN data_points dp ON dp.id = ri.data_point_id
			JOIN events e ON e.id = dp.event_id JOIN feedstocks f ON f.id = e.feedstock_id WHERE ri.model_run_id = ? ORDER BY f.id`, b.ModelRunID.Int64)
	}
	if err != nil {
		return j, err
	}
	defer rows.Close()
	for rows.Next() {
		var f feedstockJSON
		if err := rows.Scan(&f.ID, &f.Name); err != nil {
			return j, err
		}
		j.Feedstocks = append(j.Feedstocks, f)
	}
	return j, rows.Err()
}

// inputData lists what a model run read; a skipped type appears as a zero-value
// placeholder with status "skipped", a null id and no event.
func (s *Server) inputData(ctx context.Context, runID int64) ([]inputDataJSON, error) {
	out := []inputDataJSON{}
	rows, err := s.db.QueryContext(ctx, `SELECT dp.friendly_id, dp.type_id, dp.value, dp.unit, dp.status,
			e.friendly_id, e.event_type_id, e.tracking_id, e.start_time, e.end_time
		FROM run_inputs ri JOIN data_points dp ON dp.id = ri.data_point_id JOIN events e ON e.id = dp.event_id
		WHERE ri.model_run_id = ? ORDER BY e.start_time, e.id, dp.id`, runID)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var dpID, status, evID string
		var typeID, etID int64
		var v float64
		var unit, tracking sql.NullString
		var ev eventRefJSON
		if err := rows.Scan(&dpID, &typeID, &v, &unit, &status, &evID, &etID, &tracking, &ev.StartTime, &ev.EndTime); err != nil {
			rows.Close()
			return nil, err
		}
		t, et := s.cat.types[typeID], s.cat.events[etID]
		ev.ID, ev.Slug, ev.EventType, ev.TrackingID = evID, et.Slug, et.Name, nullToPtr(tracking)
		id := dpID
		out = append(out, inputDataJSON{DataPoint: dataPointJSON{ID: &id, Slug: t.Slug, DataPointType: t.Name, Value: v, Unit: nullToPtr(unit), Status: status}, Event: &ev})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = s.db.QueryContext(ctx, `SELECT skipped_type_id FROM run_inputs WHERE model_run_id = ? AND skipped_type_id IS NOT NULL`, runID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var typeID int64
		if err := rows.Scan(&typeID); err != nil {
			return nil, err
		}
		t := s.cat.types[typeID]
		out = append(out, inputDataJSON{DataPoint: dataPointJSON{Slug: t.Slug, DataPointType: t.Name, Value: 0, Unit: t.Unit, Status: "skipped"}})
	}
	return out, rows.Err()
}
