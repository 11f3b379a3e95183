package sandbox

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// taskTypeBatchGeneration is the only async task type the documentation shows.
const taskTypeBatchGeneration = "ProductionAccounting::BatchGeneration"

// restartMessage is what a task left running by a stopped sandbox says after the next Open.
const restartMessage = "interrupted by a sandbox restart; run the generation again"

// engine runs generation tasks in goroutines. Generations are serialised per ledger
// (every ledger of the concurrent group is locked, in id order, so two groups never
// deadlock): a second generation on a ledger that is busy waits in "pending" and then
// runs on the first one's results. That, plus the unique index on (ledger, period,
// partition), is why overlapping generations cannot duplicate or corrupt batches.
type engine struct {
	db        *sql.DB
	stmts     *stmtCache
	cat       *catalog
	log       *slog.Logger
	stepDelay time.Duration
	// failAt, when set, says after how many of n batches a generation fails on
	// purpose (injected fault), or -1.
	failAt func(n int) int

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
	locks  map[int64]chan struct{}
}

func newEngine(db *sql.DB, cat *catalog, log *slog.Logger, stepDelay time.Duration) *engine {
	ctx, cancel := context.WithCancel(context.Background())
	return &engine{db: db, stmts: newStmtCache(db), cat: cat, log: log, stepDelay: stepDelay, ctx: ctx, cancel: cancel, locks: map[int64]chan struct{}{}}
}

// submit runs a pending task in the background.
func (e *engine) submit(taskID int64) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.wg.Add(1)
	e.mu.Unlock()
	go func() {
		defer e.wg.Done()
		if err := e.execute(e.ctx, taskID, e.stepDelay); err != nil && e.ctx.Err() == nil {
			e.log.Error("generation task", "task_id", taskID, "err", err)
		}
	}()
}

// stop cancels running tasks and waits for their goroutines. A task interrupted here
// stays "running" (or "pending") in the database, exactly as after a crash, and the
// next Open deals with it: one recovery path for both.
func (e *engine) stop() {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	e.cancel()
	e.wg.Wait()
	e.stmts.close()
}

func (e *engine) lockFor(id int64) chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	ch := e.locks[id]
	if ch == nil {
		ch = make(chan struct{}, 1)
		e.locks[id] = ch
	}
	return ch
}

// lockLedgers takes the per-ledger locks in ascending id order; it gives up when ctx ends.
func (e *engine) lockLedgers(ctx context.Context, ids []int64) (func(), error) {
	ids = append([]int64(nil), ids...)
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	var held []chan struct{}
	release := func() {
		for i := len(held) - 1; i >= 0; i-- {
			<-held[i]
		}
	}
	for _, id := range ids {
		ch := e.lockFor(id)
		select {
		case ch <- struct{}{}:
			held = append(held, ch)
		case <-ctx.Done():
			release()
			return nil, ctx.Err()
		}
	}
	return release, nil
}

type taskRow struct {
	ID, ProjectID, LedgerID int64
	Type, State             string
	Progress                int
	ProgressDescription     sql.NullString
	Params                  string
	Result                  sql.NullString
	ErrorMessage            sql.NullString
	StartedAt, FinishedAt   sql.NullInt64
	CreatedAt               int64
}

const taskSelect = `SELECT id, project_id, ledger_id, type, state, progress, progress_description, params, result, error_message, started_at, finished_at, created_at FROM async_tasks`

func scanTask(sc interface{ Scan(...any) error }) (*taskRow, error) {
	t := &taskRow{}
	err := sc.Scan(&t.ID, &t.ProjectID, &t.LedgerID, &t.Type, &t.State, &t.Progress, &t.ProgressDescription, &t.Params,
		&t.Result, &t.ErrorMessage, &t.StartedAt, &t.FinishedAt, &t.CreatedAt)
	return t, err
}

func createTask(ctx context.Context, q queryer, projectID, ledgerID int64, p genParams) (*taskRow, error) {
	params, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	now := time.Now().UnixMilli()
	r, err := q.ExecContext(ctx, `INSERT INTO async_tasks (project_id, ledger_id, type, state, progress, params, created_at, updated_at)
		VALUES (?, ?, ?, 'pending', 0, ?, ?, ?)`, projectID, ledgerID, taskTypeBatchGeneration, string(params), now, now)
	if err != nil {
		return nil, err
	}
	id, err := r.LastInsertId()
	if err != nil {
		return nil, err
	}
	return scanTask(q.QueryRowContext(ctx, taskSelect+` WHERE id = ?`, id))
}

// execute runs one generation task to its end: lock, plan, one model run per batch,
// then complete (or failed). It returns early, leaving the row as it is, only when ctx ends.
func (e *engine) execute(ctx context.Context, taskID int64, delay time.Duration) error {
	t, err := scanTask(e.db.QueryRowContext(ctx, taskSelect+` WHERE id = ?`, taskID))
	if err != nil {
		return err
	}
	if t.State != "pending" {
		return nil
	}
	var p genParams
	if err := json.Unmarshal([]byte(t.Params), &p); err != nil {
		return e.fail(ctx, taskID, "invalid stored parameters: "+err.Error())
	}
	l, err := ledgerByID(ctx, e.db, t.LedgerID)
	if err != nil {
		return e.fail(ctx, taskID, "ledger not found: "+err.Error())
	}
	group, err := ledgerGroup(ctx, e.db, l)
	if err != nil {
		return e.internal(ctx, taskID, err)
	}
	ids := make([]int64, len(group))
	for i, g := range group {
		ids[i] = g.ID
	}
	release, err := e.lockLedgers(ctx, ids)
	if err != nil {
		return err
	}
	defer release()

	now := time.Now().UnixMilli()
	if _, err := e.db.ExecContext(ctx, `UPDATE async_tasks SET state = 'running', progress = 0, started_at = ?, updated_at = ? WHERE id = ?`, now, now, taskID); err != nil {
		return e.internal(ctx, taskID, err)
	}
	plan, err := buildPlan(ctx, e.db, e.cat, l, p)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			return e.fail(ctx, taskID, ae.Msg)
		}
		return e.internal(ctx, taskID, err)
	}
	n := len(plan.Batches)
	result := taskResultJSON{BatchIDs: make([]string, n), LedgerIDs: []string{}}
	for _, pl := range plan.Ledgers {
		result.LedgerIDs = append(result.LedgerIDs, pl.FriendlyID)
	}
	// The batches run period by period (every ledger and feedstock of a period, then the
	// next), so each period's data is read once and dropped when done; the result lists
	// them in plan order, ledger by ledger, as before.
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return plan.Batches[order[a]].Start.Before(plan.Batches[order[b]].Start) })
	loader := newPeriodLoader(e.db, e.cat, plan)
	defer loader.wait()
	w, err := e.writer(ctx, taskID)
	if err != nil {
		return e.internal(ctx, taskID, err)
	}
	defer w.release()
	failAt := -1
	if e.failAt != nil {
		failAt = e.failAt(n)
	}
	for i, bi := range order {
		if i == failAt {
			return e.fail(ctx, taskID, injectedFailure(i, n))
		}
		pb := plan.Batches[bi]
		// Read the next period while this one is computed and written.
		for _, nb := range order[i+1:] {
			if nx := plan.Batches[nb]; !nx.Start.Equal(pb.Start) {
				loader.prefetch(ctx, nx.Start.UnixMilli(), nx.End.UnixMilli())
				break
			}
		}
		if err := w.progress(ctx, i, n); err != nil {
			return e.internal(ctx, taskID, err)
		}
		if err := sleepCtx(ctx, delay); err != nil {
			return err
		}
		in, err := loader.input(ctx, pb)
		if err != nil {
			return e.internal(ctx, taskID, err)
		}
		res := pb.L.def.Compute(in)
		id, err := w.store(ctx, e.stmts, e.cat, plan, pb, res)
		if err != nil {
			return e.internal(ctx, taskID, err)
		}
		result.BatchIDs[bi] = id
	}
	b, _ := json.Marshal(result)
	now = time.Now().UnixMilli()
	_, err = e.db.ExecContext(ctx, `UPDATE async_tasks SET state = 'complete', progress = 100, progress_description = NULL, result = ?, finished_at = ?, updated_at = ? WHERE id = ?`,
		string(b), now, now, taskID)
	if err == nil {
		e.log.Info("generation complete", "task_id", taskID, "batches", n)
	}
	return err
}

// batchWriter writes a generation's batches on one connection, with SQLite's
// foreign-key checks off: every row it writes refers to rows the same generation has
// just read (data points, which the sandbox never deletes) or inserted (the batch and
// its model run), so the checks can only pass, and they were half the cost of writing
// a batch: a B-tree lookup in data_points for each of the thousand run_inputs rows of a
// busy month. The connection goes back to the pool with the checks on, or is closed.
//
// Each batch is its own transaction, and the progress is committed before the batch
// is computed, so a client watching sees the task advance and the batches appear one
// by one. Sharing a transaction between batches saved a quarter of the write time but
// held the write lock while batches were computed: under load, the API's own writes
// (a new generation's task row) failed with SQLITE_BUSY.
type batchWriter struct {
	conn   *sql.Conn
	st     *stmtCache
	taskID int64
}

func (e *engine) writer(ctx context.Context, taskID int64) (*batchWriter, error) {
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, `PRAGMA foreign_keys = OFF`); err != nil {
		conn.Close()
		return nil, err
	}
	return &batchWriter{conn: conn, st: e.stmts, taskID: taskID}, nil
}

// progress records that batch i of n is next.
func (w *batchWriter) progress(ctx context.Context, i, n int) error {
	_, err := w.st.exec(ctx, nil, `UPDATE async_tasks SET progress = ?, progress_description = ?, updated_at = ? WHERE id = ?`,
		i*100/n, fmt.Sprintf("Processing batch %d of %d", i+1, n), time.Now().UnixMilli(), w.taskID)
	return err
}

// store writes one batch (storeBatch) in a transaction of its own and returns its
// friendly id.
func (w *batchWriter) store(ctx context.Context, st *stmtCache, cat *catalog, plan *genPlan, pb plannedBatch, res modelResult) (string, error) {
	tx, err := w.conn.BeginTx(ctx, nil)
	if err != nil {
		return "", err
	}
	id, err := storeBatch(ctx, tx, st, cat, plan, pb, res, w.taskID)
	if err != nil {
		_ = tx.Rollback()
		return "", err
	}
	return id, tx.Commit()
}

func (w *batchWriter) release() {
	ctx := context.Background()
	on := 0
	if _, err := w.conn.ExecContext(ctx, `PRAGMA foreign_keys = ON`); err == nil {
		// The pragma is a no-op inside a transaction: check it took.
		_ = w.conn.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&on)
	}
	if on != 1 {
		// Never hand a connection without the checks to the pool: discard it.
		_ = w.conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	w.conn.Close()
}

// internal fails the task on an unexpected error, unless the sandbox is shutting down
// (then the row is left for the next Open's recovery).
func (e *engine) internal(ctx context.Context, taskID int64, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	e.log.Error("generation failed", "task_id", taskID, "err", err)
	return e.fail(ctx, taskID, "internal error: "+err.Error())
}

func (e *engine) fail(ctx context.Context, taskID int64, msg string) error {
	now := time.Now().UnixMilli()
	_, err := e.db.ExecContext(ctx, `UPDATE async_tasks SET state = 'failed', progress_description = NULL, error_message = ?, finished_at = ?, updated_at = ? WHERE id = ?`,
		msg, now, now, taskID)
	return err
}

// recoverTasks runs at Open: a task left "running" was cut off mid-way and is marked
// failed (its finished batches stay, and rerunning the range updates them); a task
// still "pending" never started, so it is run now.
func (e *engine) recoverTasks(ctx context.Context) error {
	now := time.Now().UnixMilli()
	if _, err := e.db.ExecContext(ctx, `UPDATE async_tasks SET state = 'failed', progress_description = NULL, error_message = ?, finished_at = ?, updated_at = ? WHERE state = 'running'`,
		restartMessage, now, now); err != nil {
		return err
	}
	rows, err := e.db.QueryContext(ctx, `SELECT id FROM async_tasks WHERE state = 'pending' ORDER BY id`)
	if err != nil {
		return err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range ids {
		e.submit(id)
	}
	return nil
}

// sleepCtx waits d, or less when ctx ends, so Close never waits out a StepDelay.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
