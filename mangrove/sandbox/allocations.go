package sandbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Allocations move part of a batch's primary output to a downstream batch (or a report).
// A batch's ledger_balance is its primary output minus what was allocated from it.
// batch_amounts on a generation allocate from existing batches of a ledger that feeds
// one of the generating ledger's manual-select inputs, each to the batch this generation
// writes for the same period and partition (README "Guesses").

// allocTarget names a downstream batch of a plan: ledger, period start, partition.
type allocTarget struct {
	ledger, start, partition int64
}

func targetOf(pb plannedBatch) allocTarget {
	return allocTarget{ledger: pb.L.ID, start: pb.Start.UnixMilli(), partition: pb.FeedstockID}
}

// plannedAllocation is a checked batch_amounts item, written with its downstream batch.
type plannedAllocation struct {
	FromID int64
	Amount float64
	Unit   sql.NullString // the upstream ledger's unit
	Group  *string
}

// feed is a manual-select input of the generating ledger's model and the ledger that
// feeds it (output_of_ledgers).
type feed struct {
	slug   string
	ledger refJSON
	groups []allocationGroupJSON
}

// upstreamBatch is what checkAmounts reads of a batch_amounts batch.
type upstreamBatch struct {
	ID, LedgerID, Start, End, Partition int64
	TrackingID, LedgerName              string
	LedgerFriendly                      string
	Unit                                sql.NullString
	Primary, Allocated                  float64
}

// checkAmounts validates batch_amounts against the plan and records them as planned
// allocations: an unknown batch (or another project's) is 404; a batch of a ledger that
// feeds none of the generating ledger's manual-select inputs, an allocation group that
// is not the input's, a batch whose period and partition this request writes no
// downstream batch for, or an amount above the batch's unallocated balance is 422.
func (plan *genPlan) checkAmounts(ctx context.Context, q queryer, amounts []batchAmount) error {
	if len(amounts) == 0 {
		return nil
	}
	down := plan.Ledgers[0] // the requested ledger: buildPlan lists it first
	feeds, err := manualFeeds(ctx, q, down.ModelID.Int64)
	if err != nil {
		return err
	}
	for i, a := range amounts {
		up, err := readUpstream(ctx, q, plan.ProjectID, a.BatchID)
		if errors.Is(err, sql.ErrNoRows) {
			return &apiError{Status: http.StatusNotFound, Msg: fmt.Sprintf("Record not found: batch_amounts[%d].batch_id %s is not a batch of this project", i, a.BatchID)}
		}
		if err != nil {
			return err
		}
		f := feeds[up.LedgerID]
		if f == nil {
			return unprocessable("batch_amounts[%d]: batch %s is on ledger %s (%s), which feeds no manual-select input of %s: %s",
				i, a.BatchID, up.LedgerName, up.LedgerFriendly, down.Name, allowedFeeds(down.Name, feeds))
		}
		group, err := f.group(i, a.AllocationGroup)
		if err != nil {
			return err
		}
		to, ok := plan.targetFor(down, up)
		if !ok {
			return unprocessable("batch_amounts[%d]: this request writes no %s batch for the period and feedstock of batch %s (%s %s, %s): an allocation goes to the %s batch of the same period and feedstock, so the range must include %s, with data of that feedstock",
				i, down.Name, a.BatchID, up.LedgerName, up.TrackingID, periodText(up.Start, up.End), down.Name, periodText(up.Start, up.End))
		}
		// Regenerating the downstream batch replaces what it already holds from this batch.
		var replaced float64
		err = q.QueryRowContext(ctx, `SELECT COALESCE(SUM(a.amount), 0) FROM allocations a JOIN batches t ON t.id = a.to_batch_id
			WHERE a.from_batch_id = ? AND t.ledger_id = ? AND t.period_start = ? AND t.partition_key = ?`,
			up.ID, to.ledger, to.start, to.partition).Scan(&replaced)
		if err != nil {
			return err
		}
		balance := round6(up.Primary - up.Allocated + replaced)
		if round6(a.Amount) > balance {
			held := ""
			if replaced > 0 {
				held = fmt.Sprintf(" (its ledger_balance %s plus the %s it gave the %s batch this request regenerates, which this allocation replaces)",
					formatAmount(up.Primary-up.Allocated), formatAmount(replaced), down.Name)
			}
			return unprocessable("batch_amounts[%d]: %s %s is more than the unallocated balance of batch %s (%s %s): %s %s%s",
				i, formatAmount(a.Amount), up.Unit.String, a.BatchID, up.LedgerName, up.TrackingID, formatAmount(balance), up.Unit.String, held)
		}
		plan.allocations[to] = append(plan.allocations[to], plannedAllocation{FromID: up.ID, Amount: round6(a.Amount), Unit: up.Unit, Group: group})
	}
	return nil
}

// manualFeeds lists a model's manual-select inputs fed by another ledger, by that ledger's id.
func manualFeeds(ctx context.Context, q queryer, modelID int64) (map[int64]*feed, error) {
	rows, err := q.QueryContext(ctx, `SELECT mi.source_ledger_id, src.friendly_id, src.name, dt.slug, mi.allocation_groups
		FROM model_inputs mi JOIN ledgers src ON src.id = mi.source_ledger_id JOIN data_point_types dt ON dt.id = mi.type_id
		WHERE mi.model_id = ? AND mi.is_manual_select = 1 ORDER BY mi.position`, modelID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]*feed{}
	for rows.Next() {
		var id int64
		var groups string
		f := &feed{}
		if err := rows.Scan(&id, &f.ledger.ID, &f.ledger.Name, &f.slug, &groups); err != nil {
			return nil, err
		}
		if f.groups, err = parseAllocationGroups(groups); err != nil {
			return nil, err
		}
		if out[id] == nil { // two inputs fed by one ledger: the first one's groups
			out[id] = f
		}
	}
	return out, rows.Err()
}

// allowedFeeds says which ledgers batch_amounts may allocate from.
func allowedFeeds(ledger string, feeds map[int64]*feed) string {
	if len(feeds) == 0 {
		return ledger + " has no manual-select input fed by another ledger, so batch_amounts cannot allocate to it"
	}
	var names []string
	for _, f := range feeds {
		names = append(names, fmt.Sprintf("%s (%s)", f.ledger.Name, f.ledger.ID))
	}
	sort.Strings(names)
	return "batches may be allocated from " + strings.Join(names, ", ")
}

// group resolves an item's allocation_group against the input's groups: a given id must
// be one of them; none given is allowed when the input has no group (recorded as null)
// or exactly one (recorded as that one).
func (f *feed) group(i int, given *string) (*string, error) {
	ids := make([]string, len(f.groups))
	for k, g := range f.groups {
		ids[k] = g.ID
	}
	if given == nil {
		switch len(f.groups) {
		case 0:
			return nil, nil
		case 1:
			return &ids[0], nil
		}
		return nil, unprocessable("batch_amounts[%d].allocation_group is required: input %s has the allocation groups %s", i, f.slug, strings.Join(ids, ", "))
	}
	for k := range ids {
		if ids[k] == *given {
			return &ids[k], nil
		}
	}
	if len(ids) == 0 {
		return nil, unprocessable("batch_amounts[%d].allocation_group %q: input %s has no allocation groups; send null", i, *given, f.slug)
	}
	return nil, unprocessable("batch_amounts[%d].allocation_group %q is not an allocation group of input %s; use one of: %s", i, *given, f.slug, strings.Join(ids, ", "))
}

func readUpstream(ctx context.Context, q queryer, projectID int64, friendly string) (*upstreamBatch, error) {
	up := &upstreamBatch{}
	err := q.QueryRowContext(ctx, `SELECT b.id, b.ledger_id, b.period_start, b.period_end, b.partition_key, b.tracking_id, l.name, l.friendly_id, l.unit,
			b.primary_value, COALESCE((SELECT SUM(a.amount) FROM allocations a WHERE a.from_batch_id = b.id), 0)
		FROM batches b JOIN ledgers l ON l.id = b.ledger_id WHERE b.friendly_id = ? AND b.project_id = ?`, friendly, projectID).
		Scan(&up.ID, &up.LedgerID, &up.Start, &up.End, &up.Partition, &up.TrackingID, &up.LedgerName, &up.LedgerFriendly, &up.Unit,
			&up.Primary, &up.Allocated)
	return up, err
}

// targetFor is the requested ledger's planned batch whose period holds the upstream
// batch's start and, when that ledger is partitioned by feedstock, of the same feedstock.
func (plan *genPlan) targetFor(down *planLedger, up *upstreamBatch) (allocTarget, bool) {
	partitioned := down.PartitionType.String == "feedstock"
	for _, pb := range plan.Batches {
		if pb.L != down || up.Start < pb.Start.UnixMilli() || up.Start >= pb.End.UnixMilli() {
			continue
		}
		if partitioned && pb.FeedstockID != up.Partition {
			continue
		}
		return targetOf(pb), true
	}
	return allocTarget{}, false
}

// storeAllocations writes the plan's allocations to the downstream batch batchID (in the
// batch's transaction), each replacing the batch's earlier allocation from the same
// upstream batch.
func storeAllocations(ctx context.Context, tx *sql.Tx, st *stmtCache, plan *genPlan, pb plannedBatch, batchID, taskID, now int64) error {
	for _, a := range plan.allocations[targetOf(pb)] {
		if _, err := st.exec(ctx, tx, `DELETE FROM allocations WHERE from_batch_id = ? AND to_batch_id = ?`, a.FromID, batchID); err != nil {
			return err
		}
		var group any
		if a.Group != nil {
			group = *a.Group
		}
		if _, err := st.exec(ctx, tx, `INSERT INTO allocations (project_id, from_batch_id, to_batch_id, amount, unit, allocation_group, task_id, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, plan.ProjectID, a.FromID, batchID, a.Amount, a.Unit, group, taskID, now); err != nil {
			return err
		}
	}
	return nil
}

// batchAllocations lists a batch's allocations with the batch on their other end:
// incoming (allocations, from upstream batches) or outgoing to batches
// (downstream_batch_allocations).
func (s *Server) batchAllocations(ctx context.Context, batchID int64, incoming bool) ([]batchAllocationJSON, error) {
	query := `SELECT a.id, a.amount, a.unit, a.allocation_group, a.created_at, o.friendly_id, o.tracking_id, o.period_start, o.period_end, l.friendly_id, l.name
		FROM allocations a JOIN batches o ON o.id = a.from_batch_id JOIN ledgers l ON l.id = o.ledger_id
		WHERE a.to_batch_id = ? ORDER BY a.id`
	if !incoming {
		query = `SELECT a.id, a.amount, a.unit, a.allocation_group, a.created_at, o.friendly_id, o.tracking_id, o.period_start, o.period_end, l.friendly_id, l.name
		FROM allocations a JOIN batches o ON o.id = a.to_batch_id JOIN ledgers l ON l.id = o.ledger_id
		WHERE a.from_batch_id = ? ORDER BY a.id`
	}
	rows, err := s.eng.stmts.query(ctx, query, batchID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []batchAllocationJSON{}
	for rows.Next() {
		var j batchAllocationJSON
		var unit, group sql.NullString
		if err := rows.Scan(&j.Allocation.ID, &j.Amount, &unit, &group, &j.Allocation.CreatedAt, &j.Batch.ID, &j.Batch.TrackingID,
			&j.Batch.StartTime, &j.Batch.EndTime, &j.Batch.Ledger.ID, &j.Batch.Ledger.Name); err != nil {
			return nil, err
		}
		j.Amount = round6(j.Amount)
		j.Allocation.Amount, j.Unit, j.Allocation.Unit = j.Amount, nullToPtr(unit), nullToPtr(unit)
		j.AllocationGroup = nullToPtr(group)
		out = append(out, j)
	}
	return out, rows.Err()
}

// formatAmount writes an amount as a person would: 40, 64.5, never 6.45e+01.
func formatAmount(v float64) string { return strconv.FormatFloat(round6(v), 'f', -1, 64) }

// periodText is a batch's period for messages: 2025-03-01 to 2025-03-31.
func periodText(start, end int64) string {
	return time.UnixMilli(start).UTC().Format("2006-01-02") + " to " + time.UnixMilli(end).UTC().Format("2006-01-02")
}
