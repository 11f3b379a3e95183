package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Generation states. A row starts as submitting; the outcome of the
// upstream call moves it to started (with a task id), rejected (the API
// refused it: nothing started) or unknown (timeout: check the ledger). The
// task watcher then moves started (or unknown, once a task id is known)
// rows to complete or failed.
const (
	StateSubmitting = "submitting"
	StateStarted    = "started"
	StateUnknown    = "unknown"
	StateRejected   = "rejected"
	StateComplete   = "complete"
	StateFailed     = "failed"
)

// States are the generation states, in the order a row can pass through
// them.
var States = []string{StateSubmitting, StateStarted, StateUnknown, StateRejected, StateComplete, StateFailed}

// ErrStateConflict is returned when a transition is asked of a generation
// whose current state does not allow it (for example MarkStarted on a
// rejected generation).
var ErrStateConflict = errors.New("generation is not in a state that allows this change")

// maxErrorLen bounds the stored error message (bytes).
const maxErrorLen = 4000

// Generation is one row of the audit log: who started which generation,
// with which parameters, what the preview said and how it ended.
//
// Params and Preview are stored as versioned JSON (see RecordVersion). A
// row whose JSON cannot be decoded (hand-edited, or left as it was by the
// migration because it was not recognised) still reads and lists: it gets
// zero Params (Version 0) and a nil Preview, while StartTime and EndTime,
// which have columns of their own, stay right.
type Generation struct {
	ID         int64
	CreatedAt  time.Time
	UserLabel  string
	TokenHash  string
	LedgerID   string
	LedgerName string
	StartTime  time.Time
	EndTime    time.Time
	Params     GenerationParams // the parameters as sent upstream
	Preview    []PreviewEntry   // the preview seen at confirm time; nil when none was recorded
	ConfirmKey string
	State      string
	TaskID     *int64
	Error      string
	FinishedAt *time.Time
	UpdatedAt  time.Time
	// SealedToken is the API token the generation was confirmed with,
	// sealed by the caller (the store never sees it in the clear). It is
	// kept while the row is submitting or started, so a restarted dashboard
	// can watch the task to its end, and cleared when the row settles.
	SealedToken string
	// Run is what was seen of the task: its steps and the batches written.
	Run RunRecord
}

// Terminal reports whether the generation has reached a final state.
func (g Generation) Terminal() bool {
	return g.State == StateRejected || g.State == StateComplete || g.State == StateFailed
}

// PreviewedTotal is the number of batches the confirmed preview counted
// across its ledgers; ok is false when no preview was recorded.
func (g Generation) PreviewedTotal() (total int, ok bool) {
	if g.Preview == nil {
		return 0, false
	}
	for _, e := range g.Preview {
		total += e.Count
	}
	return total, true
}

const generationColumns = `id, created_at, user_label, token_hash, ledger_id, ledger_name,
	start_time, end_time, params, preview, confirm_key, state, task_id, error, finished_at, updated_at, sealed_token, run`

type rowScanner interface{ Scan(dest ...any) error }

func scanGeneration(r rowScanner) (Generation, error) {
	var (
		g                                    Generation
		created, start, end, updated, params string
		preview, run                         string
		taskID                               sql.NullInt64
		finished                             sql.NullString
	)
	err := r.Scan(&g.ID, &created, &g.UserLabel, &g.TokenHash, &g.LedgerID, &g.LedgerName,
		&start, &end, &params, &preview, &g.ConfirmKey, &g.State, &taskID, &g.Error, &finished, &updated, &g.SealedToken, &run)
	if errors.Is(err, sql.ErrNoRows) {
		return Generation{}, ErrNotFound
	}
	if err != nil {
		return Generation{}, fmt.Errorf("store: read generation: %w", err)
	}
	for _, p := range []struct {
		dst *time.Time
		src string
	}{{&g.CreatedAt, created}, {&g.StartTime, start}, {&g.EndTime, end}, {&g.UpdatedAt, updated}} {
		if *p.dst, err = parseTime(p.src); err != nil {
			return Generation{}, err
		}
	}
	if finished.Valid {
		t, err := parseTime(finished.String)
		if err != nil {
			return Generation{}, err
		}
		g.FinishedAt = &t
	}
	if taskID.Valid {
		id := taskID.Int64
		g.TaskID = &id
	}
	// Undecodable JSON must not fail a listing (see Generation): the
	// errors are dropped and the zero values stand for "not known".
	g.Params, _ = decodeParams(params)
	g.Preview, _ = decodePreview(preview)
	g.Run, _ = decodeRun(run)
	return g, nil
}

// BeginGeneration claims the confirmation key and records the generation
// before it is sent upstream. The first caller with a valid key inserts the
// row (state submitting, CreatedAt and UpdatedAt set here) and gets
// created=true; every later caller with the same key, token hash and
// params hash gets the existing row and created=false, even once the key
// has expired, so a reload or a double click shows the same generation.
//
// The store writes g.Params with Version set to RecordVersion. When
// g.Preview is empty the row records the preview the key was issued with
// (IssueConfirmKey), the server's own copy of what the user saw.
//
// The key must have been issued for g.TokenHash and paramsHash and, for the
// first caller, be unexpired; otherwise the error is ErrKeyInvalid.
func (s *Store) BeginGeneration(ctx context.Context, key, paramsHash string, g Generation) (Generation, bool, error) {
	if !ValidConfirmKeyFormat(key) || g.TokenHash == "" || paramsHash == "" {
		return Generation{}, false, ErrKeyInvalid
	}
	params, err := encodeParams(g.Params)
	if err != nil {
		return Generation{}, false, err
	}
	preview, err := encodePreview(g.Preview)
	if err != nil {
		return Generation{}, false, err
	}

	var (
		out     Generation
		created bool
	)
	// existing answers a duplicate with the generation already begun with
	// the key; sql.ErrNoRows when there is none.
	existing := func(tx conn) error {
		var existingToken, existingParams string
		var id int64
		err := tx.QueryRowContext(ctx,
			`SELECT id, token_hash, params_hash FROM generations WHERE confirm_key = ?`, key,
		).Scan(&id, &existingToken, &existingParams)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return err
		case err != nil:
			return fmt.Errorf("store: look up generation by key: %w", err)
		case existingToken != g.TokenHash || existingParams != paramsHash:
			return ErrKeyInvalid
		}
		out, err = scanGeneration(tx.QueryRowContext(ctx,
			`SELECT `+generationColumns+` FROM generations WHERE id = ?`, id))
		return err
	}
	err = s.withWriteTx(ctx, func(tx conn) error {
		// A generation already begun with this key answers every duplicate.
		if err := existing(tx); !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var id int64

		now := s.now()
		keyPreview, err := checkConfirmKey(ctx, tx, key, g.TokenHash, paramsHash, now)
		if err != nil {
			return err
		}
		if len(g.Preview) == 0 {
			preview = keyPreview
		}
		ts := formatTime(now)
		// The unique confirm_key decides between concurrent first uses, on
		// one replica or several sharing PostgreSQL: the one whose insert
		// lands creates the generation; every other waits for it to commit,
		// inserts nothing and reads its row.
		err = tx.QueryRowContext(ctx, `INSERT INTO generations
			(created_at, user_label, token_hash, ledger_id, ledger_name, start_time, end_time,
			 params, params_hash, preview, confirm_key, state, error, updated_at, sealed_token)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', ?, ?)
			ON CONFLICT (confirm_key) DO NOTHING RETURNING id`,
			ts, g.UserLabel, g.TokenHash, g.LedgerID, g.LedgerName,
			formatTime(g.StartTime), formatTime(g.EndTime),
			params, paramsHash, preview, key, StateSubmitting, ts, g.SealedToken).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return existing(tx)
		}
		if err != nil {
			return fmt.Errorf("store: insert generation: %w", err)
		}
		out, err = scanGeneration(tx.QueryRowContext(ctx,
			`SELECT `+generationColumns+` FROM generations WHERE id = ?`, id))
		created = err == nil
		return err
	})
	if err != nil {
		return Generation{}, false, err
	}
	return out, created, nil
}

// MarkStarted records that the API accepted generation id and returned
// taskID. It moves a submitting or unknown row to started; repeating it
// with the same task id is a no-op.
func (s *Store) MarkStarted(ctx context.Context, id, taskID int64) error {
	_, err := s.transition(ctx, id, `UPDATE generations SET state = ?, task_id = ?, error = '', updated_at = ?
		WHERE id = ? AND state IN (?, ?)`,
		[]any{StateStarted, taskID, formatTime(s.now()), id, StateSubmitting, StateUnknown},
		func(g Generation) bool { return g.State == StateStarted && g.TaskID != nil && *g.TaskID == taskID })
	return err
}

// MarkRejected records that the API refused generation id (a 4xx answer):
// nothing was started. It moves a submitting row to rejected; repeating it
// is a no-op.
func (s *Store) MarkRejected(ctx context.Context, id int64, msg string) error {
	now := formatTime(s.now())
	_, err := s.transition(ctx, id, `UPDATE generations SET state = ?, error = ?, finished_at = ?, updated_at = ?, sealed_token = ''
		WHERE id = ? AND state = ?`,
		[]any{StateRejected, truncate(msg), now, now, id, StateSubmitting},
		func(g Generation) bool { return g.State == StateRejected })
	return err
}

// MarkUnknown records that the outcome of generation id is unknown (the
// call timed out or the connection broke after sending): the user must
// check the ledger. It moves a submitting row to unknown, and recorded
// reports whether this call moved it; repeating it (from this replica or
// another sharing the database) is a no-op that returns false.
func (s *Store) MarkUnknown(ctx context.Context, id int64, msg string) (recorded bool, err error) {
	return s.transition(ctx, id, `UPDATE generations SET state = ?, error = ?, updated_at = ?, sealed_token = ''
		WHERE id = ? AND state = ?`,
		[]any{StateUnknown, truncate(msg), formatTime(s.now()), id, StateSubmitting},
		func(g Generation) bool { return g.State == StateUnknown })
}

// transition runs update and reports whether it moved the row; when it
// changes no row it tells apart a missing row (ErrNotFound), a repeated
// call (already(g) is true: not moved, nil) and a conflicting state
// (ErrStateConflict).
func (s *Store) transition(ctx context.Context, id int64, update string, args []any, already func(Generation) bool) (moved bool, err error) {
	err = s.withWriteTx(ctx, func(tx conn) error {
		res, err := tx.ExecContext(ctx, update, args...)
		if err != nil {
			return fmt.Errorf("store: update generation %d: %w", id, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("store: update generation %d: %w", id, err)
		}
		if n > 0 {
			moved = true
			return nil
		}
		g, err := scanGeneration(tx.QueryRowContext(ctx,
			`SELECT `+generationColumns+` FROM generations WHERE id = ?`, id))
		if err != nil {
			return err
		}
		if already(g) {
			return nil
		}
		return fmt.Errorf("store: generation %d is %s: %w", id, g.State, ErrStateConflict)
	})
	return moved && err == nil, err
}

// MarkFinished records the terminal state (StateComplete or StateFailed, or
// StateUnknown for a task that ended in a state the API does not document)
// of the generation that started task taskID. Only started and unknown rows
// not yet finished move, and recorded reports whether this call moved one:
// calling it again (from this replica or another sharing the database), or
// for a task the dashboard did not start, is a no-op that returns false, so
// what follows a task's end (its metrics, counting what it wrote) happens
// once across the fleet. A zero finishedAt means now.
func (s *Store) MarkFinished(ctx context.Context, taskID int64, state, errMsg string, finishedAt time.Time) (recorded bool, err error) {
	if state != StateComplete && state != StateFailed && state != StateUnknown {
		return false, fmt.Errorf("store: mark finished: state %q is not %q, %q or %q", state, StateComplete, StateFailed, StateUnknown)
	}
	now := s.now()
	if finishedAt.IsZero() {
		finishedAt = now
	}
	err = s.withWriteTx(ctx, func(tx conn) error {
		res, err := tx.ExecContext(ctx, `UPDATE generations SET state = ?, error = ?, finished_at = ?, updated_at = ?, sealed_token = ''
			WHERE task_id = ? AND state IN (?, ?) AND finished_at IS NULL`,
			state, truncate(errMsg), formatTime(finishedAt), formatTime(now), taskID, StateStarted, StateUnknown)
		if err != nil {
			return fmt.Errorf("store: mark task %d finished: %w", taskID, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("store: mark task %d finished: %w", taskID, err)
		}
		recorded = n > 0
		return nil
	})
	return recorded, err
}

// MaxUnsettled bounds the rows UnsettledGenerations returns at once.
const MaxUnsettled = 1000

// UnsettledGenerations returns up to MaxUnsettled generations, oldest
// first, that a stopped process may have left without an outcome (still
// submitting) or without anyone watching their task (started, with a sealed
// token to watch it with; rows without one are left to their viewers).
func (s *Store) UnsettledGenerations(ctx context.Context) ([]Generation, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+generationColumns+` FROM generations
		WHERE state = ? OR (state = ? AND sealed_token != '') ORDER BY id LIMIT ?`, StateSubmitting, StateStarted, MaxUnsettled)
	if err != nil {
		return nil, fmt.Errorf("store: unsettled generations: %w", err)
	}
	defer rows.Close()
	var out []Generation
	for rows.Next() {
		g, err := scanGeneration(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// ForgetSealedToken clears generation id's sealed token: its task cannot
// be watched with it (gone, or the token refused), so recovery stops trying.
func (s *Store) ForgetSealedToken(ctx context.Context, id int64) error {
	return s.withWriteTx(ctx, func(tx conn) error {
		if _, err := tx.ExecContext(ctx, `UPDATE generations SET sealed_token = '' WHERE id = ?`, id); err != nil {
			return fmt.Errorf("store: forget sealed token of generation %d: %w", id, err)
		}
		return nil
	})
}

// Generation returns the generation with this id, or ErrNotFound.
func (s *Store) Generation(ctx context.Context, id int64) (Generation, error) {
	return scanGeneration(s.db.QueryRowContext(ctx,
		`SELECT `+generationColumns+` FROM generations WHERE id = ?`, id))
}

// GenerationByTask returns the (latest) generation that started task
// taskID, or ErrNotFound.
func (s *Store) GenerationByTask(ctx context.Context, taskID int64) (Generation, error) {
	return scanGeneration(s.db.QueryRowContext(ctx,
		`SELECT `+generationColumns+` FROM generations WHERE task_id = ? ORDER BY id DESC LIMIT 1`, taskID))
}

// GenerationFilter narrows a listing of generations; an empty field
// matches every row.
type GenerationFilter struct {
	LedgerID  string
	State     string // one of States
	UserLabel string
}

// where is the WHERE clause (with its arguments) of the generations begun
// with tokenHash (every token's when it is "") that match f. Every
// condition is an equality, so a token's listing stays on the
// generations_token_hash index (token_hash, id).
func (f GenerationFilter) where(tokenHash string) (string, []any) {
	var conds []string
	var args []any
	for _, c := range []struct{ column, value string }{
		{"token_hash", tokenHash}, {"ledger_id", f.LedgerID}, {"state", f.State}, {"user_label", f.UserLabel},
	} {
		if c.value != "" {
			conds, args = append(conds, c.column+" = ?"), append(args, c.value)
		}
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// Generations lists generations newest first, limited to those begun with
// tokenHash unless it is "" and to those matching f, and returns the total
// count of matching rows. A limit <= 0 means 25 and is capped at 500; a
// negative offset means 0.
func (s *Store) Generations(ctx context.Context, tokenHash string, f GenerationFilter, limit, offset int) ([]Generation, int, error) {
	if limit <= 0 {
		limit = 25
	}
	limit = min(limit, 500)
	offset = max(offset, 0)

	where, args := f.where(tokenHash)
	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM generations`+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("store: count generations: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+generationColumns+` FROM generations`+where+
		` ORDER BY id DESC LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("store: list generations: %w", err)
	}
	defer rows.Close()
	var out []Generation
	for rows.Next() {
		g, err := scanGeneration(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("store: list generations: %w", err)
	}
	return out, total, nil
}

// MaxGenerationChoices bounds each list GenerationChoices returns. The
// lists are read on every view of the history, and a longer one would be
// no use as a drop-down anyway.
const MaxGenerationChoices = 100

// LedgerChoice is a ledger that generations were confirmed on, by the name
// its latest generation recorded.
type LedgerChoice struct {
	ID, Name string
}

// GenerationChoices are the values the generations of one token have, to
// filter them by: at most MaxGenerationChoices of each, sorted by name.
type GenerationChoices struct {
	Ledgers []LedgerChoice
	Users   []string // user labels; rows without one are left out
}

// The queries of GenerationChoices; both search the generations_token_hash
// index. A ledger's name is the one its latest generation (max(id))
// recorded.
const (
	ledgerChoicesQuery = `SELECT ledger_id, ledger_name, id FROM generations WHERE id IN
		(SELECT max(id) FROM generations WHERE token_hash = ? GROUP BY ledger_id) LIMIT ?`
	userChoicesQuery = `SELECT user_label FROM generations
		WHERE token_hash = ? AND user_label != '' GROUP BY user_label ORDER BY lower(user_label), user_label LIMIT ?`
)

// GenerationChoices returns the ledgers and users of the generations begun
// with tokenHash.
func (s *Store) GenerationChoices(ctx context.Context, tokenHash string) (GenerationChoices, error) {
	ledgers, err := s.ledgerChoices(ctx, tokenHash)
	if err != nil {
		return GenerationChoices{}, err
	}
	users, err := s.userChoices(ctx, tokenHash)
	if err != nil {
		return GenerationChoices{}, err
	}
	return GenerationChoices{Ledgers: ledgers, Users: users}, nil
}

func (s *Store) ledgerChoices(ctx context.Context, tokenHash string) ([]LedgerChoice, error) {
	rows, err := s.db.QueryContext(ctx, ledgerChoicesQuery, tokenHash, MaxGenerationChoices)
	if err != nil {
		return nil, fmt.Errorf("store: ledgers of generations: %w", err)
	}
	defer rows.Close()
	var out []LedgerChoice
	for rows.Next() {
		var l LedgerChoice
		var id int64
		if err := rows.Scan(&l.ID, &l.Name, &id); err != nil {
			return nil, fmt.Errorf("store: ledgers of generations: %w", err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: ledgers of generations: %w", err)
	}
	slices.SortFunc(out, func(a, b LedgerChoice) int {
		return cmp.Or(cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

func (s *Store) userChoices(ctx context.Context, tokenHash string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, userChoicesQuery, tokenHash, MaxGenerationChoices)
	if err != nil {
		return nil, fmt.Errorf("store: users of generations: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, fmt.Errorf("store: users of generations: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: users of generations: %w", err)
	}
	return out, nil
}

// settlePoll is how often WaitSettled looks at the row.
const settlePoll = 50 * time.Millisecond

// WaitSettled polls generation id until it has left state submitting, and
// returns it. It is for a duplicate confirmation that found the generation
// still being submitted by the first one. When ctx ends first it returns
// the last row read together with the context's error.
func (s *Store) WaitSettled(ctx context.Context, id int64) (Generation, error) {
	t := time.NewTicker(settlePoll)
	defer t.Stop()
	var last Generation
	for {
		g, err := s.Generation(ctx, id)
		switch {
		case err != nil && ctx.Err() != nil && last.ID != 0:
			return last, fmt.Errorf("store: wait for generation %d: %w", id, ctx.Err())
		case err != nil:
			return g, err
		case g.State != StateSubmitting:
			return g, nil
		}
		last = g
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("store: wait for generation %d: %w", id, ctx.Err())
		case <-t.C:
		}
	}
}

// truncate bounds msg to maxErrorLen bytes without splitting a rune.
func truncate(msg string) string { return truncateTo(msg, maxErrorLen) }

// truncateTo cuts msg to at most limit bytes, on a rune boundary.
func truncateTo(msg string, limit int) string {
	if len(msg) <= limit {
		return msg
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut]
}
