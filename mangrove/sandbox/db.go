package sandbox

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver (no cgo)
)

// openDB opens the sandbox's single SQLite file. WAL lets the HTTP handlers read
// while the engine writes; busy_timeout turns short writer contention into a wait
// instead of SQLITE_BUSY; _txlock=immediate takes the write lock at BEGIN, so two
// write transactions never deadlock on a read-to-write upgrade.
//
// The files are made owner-only first (secureDBFiles): the database holds the tokens.
func openDB(path string) (*sql.DB, error) {
	if err := secureDBFiles(path); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// The path goes into a file: URI, where these three characters are special.
	esc := strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(path)
	dsn := "file:" + esc + "?_busy_timeout=10000&_journal_mode=WAL&_synchronous=NORMAL&_foreign_keys=1&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}

// migrations is the versioned schema: entry i is version i+1. Append only; never
// edit an applied entry, because existing sandbox files record which versions ran.
var migrations = []string{
	// 1: the whole first schema. Times are INTEGER unix milliseconds (UTC), which keeps
	// range queries on indexes cheap and makes the millisecond wire format exact.
	`
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE projects (
	id INTEGER PRIMARY KEY,
	name TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	project_type TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE TABLE tokens (
	token TEXT PRIMARY KEY,
	role TEXT NOT NULL UNIQUE,
	project_id INTEGER NOT NULL REFERENCES projects(id),
	can_write INTEGER NOT NULL
);
CREATE TABLE feedstocks (
	id INTEGER PRIMARY KEY,
	project_id INTEGER NOT NULL REFERENCES projects(id),
	name TEXT NOT NULL,
	UNIQUE (project_id, name)
);
CREATE TABLE event_types (
	id INTEGER PRIMARY KEY,
	slug TEXT NOT NULL UNIQUE,
	name TEXT NOT NULL,
	is_static INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE data_point_types (
	id INTEGER PRIMARY KEY,
	slug TEXT NOT NULL UNIQUE,
	name TEXT NOT NULL,
	unit TEXT,
	value_type TEXT NOT NULL,
	category TEXT NOT NULL,
	subcategory TEXT NOT NULL,
	event_type_id INTEGER REFERENCES event_types(id)
);
CREATE TABLE events (
	id INTEGER PRIMARY KEY,
	friendly_id TEXT NOT NULL UNIQUE,
	project_id INTEGER NOT NULL REFERENCES projects(id),
	event_type_id INTEGER NOT NULL REFERENCES event_types(id),
	feedstock_id INTEGER REFERENCES feedstocks(id),
	tracking_id TEXT,
	start_time INTEGER NOT NULL,
	end_time INTEGER NOT NULL,
	created_at INTEGER NOT NULL
);
CREATE INDEX events_project_type_time ON events(project_id, event_type_id, start_time, feedstock_id);
CREATE INDEX events_project_feedstock_type_time ON events(project_id, feedstock_id, event_type_id, start_time);
CREATE TABLE data_points (
	id INTEGER PRIMARY KEY,
	friendly_id TEXT NOT NULL UNIQUE,
	project_id INTEGER NOT NULL REFERENCES projects(id),
	event_id INTEGER NOT NULL REFERENCES events(id),
	type_id INTEGER NOT NULL REFERENCES data_point_types(id),
	value REAL NOT NULL,
	unit TEXT,
	status TEXT NOT NULL,
	event_time INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE INDEX data_points_event ON data_points(event_id);
CREATE INDEX data_points_project_time ON data_points(project_id, event_time);
CREATE INDEX data_points_project_type_time ON data_points(project_id, type_id, event_time);
CREATE TABLE models (
	id INTEGER PRIMARY KEY,
	friendly_id TEXT NOT NULL UNIQUE,
	project_id INTEGER NOT NULL REFERENCES projects(id),
	name TEXT NOT NULL,
	kind TEXT NOT NULL,
	created_at INTEGER NOT NULL
);
CREATE TABLE ledgers (
	id INTEGER PRIMARY KEY,
	friendly_id TEXT NOT NULL UNIQUE,
	project_id INTEGER NOT NULL REFERENCES projects(id),
	name TEXT NOT NULL,
	unit TEXT,
	system_ledger_type TEXT,
	partition_type TEXT,
	cadence TEXT,
	model_id INTEGER REFERENCES models(id),
	run_group TEXT,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE TABLE model_inputs (
	model_id INTEGER NOT NULL REFERENCES models(id),
	type_id INTEGER NOT NULL REFERENCES data_point_types(id),
	position INTEGER NOT NULL,
	is_manual_select INTEGER NOT NULL DEFAULT 0,
	source_ledger_id INTEGER REFERENCES ledgers(id),
	PRIMARY KEY (model_id, type_id)
);
CREATE TABLE async_tasks (
	id INTEGER PRIMARY KEY,
	project_id INTEGER NOT NULL REFERENCES projects(id),
	ledger_id INTEGER NOT NULL REFERENCES ledgers(id),
	type TEXT NOT NULL,
	state TEXT NOT NULL,
	progress INTEGER NOT NULL DEFAULT 0,
	progress_description TEXT,
	params TEXT NOT NULL,
	result TEXT,
	error_message TEXT,
	started_at INTEGER,
	finished_at INTEGER,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE INDEX async_tasks_state ON async_tasks(state);
CREATE TABLE batches (
	id INTEGER PRIMARY KEY,
	friendly_id TEXT NOT NULL UNIQUE,
	project_id INTEGER NOT NULL REFERENCES projects(id),
	ledger_id INTEGER NOT NULL REFERENCES ledgers(id),
	period_start INTEGER NOT NULL,
	period_end INTEGER NOT NULL,
	partition_key INTEGER NOT NULL,
	feedstock_id INTEGER REFERENCES feedstocks(id),
	tracking_id TEXT NOT NULL,
	state TEXT NOT NULL,
	primary_value REAL NOT NULL,
	model_run_id INTEGER,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
-- One batch per ledger, period and partition: regenerating updates, never duplicates.
CREATE UNIQUE INDEX batches_ledger_period_partition ON batches(ledger_id, period_start, partition_key);
CREATE INDEX batches_project_ledger ON batches(project_id, ledger_id);
CREATE TABLE model_runs (
	id INTEGER PRIMARY KEY,
	batch_id INTEGER NOT NULL REFERENCES batches(id),
	model_id INTEGER NOT NULL REFERENCES models(id),
	task_id INTEGER REFERENCES async_tasks(id),
	state TEXT NOT NULL,
	error_message TEXT,
	start_time INTEGER NOT NULL,
	end_time INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE INDEX model_runs_batch ON model_runs(batch_id);
CREATE TABLE run_calculations (
	id INTEGER PRIMARY KEY,
	model_run_id INTEGER NOT NULL REFERENCES model_runs(id),
	slug TEXT NOT NULL,
	name TEXT NOT NULL,
	value REAL NOT NULL,
	unit TEXT,
	ghg TEXT,
	lca_role TEXT,
	category TEXT
);
CREATE INDEX run_calculations_run ON run_calculations(model_run_id);
CREATE TABLE run_outputs (
	id INTEGER PRIMARY KEY,
	friendly_id TEXT NOT NULL UNIQUE,
	model_run_id INTEGER NOT NULL REFERENCES model_runs(id),
	type_id INTEGER NOT NULL REFERENCES data_point_types(id),
	value REAL NOT NULL,
	unit TEXT,
	is_primary INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX run_outputs_run ON run_outputs(model_run_id);
CREATE TABLE run_inputs (
	model_run_id INTEGER NOT NULL REFERENCES model_runs(id),
	data_point_id INTEGER REFERENCES data_points(id),
	skipped_type_id INTEGER REFERENCES data_point_types(id)
);
CREATE INDEX run_inputs_run ON run_inputs(model_run_id);
CREATE TABLE run_alerts (
	id INTEGER PRIMARY KEY,
	model_run_id INTEGER NOT NULL REFERENCES model_runs(id),
	message TEXT NOT NULL
);
CREATE INDEX run_alerts_run ON run_alerts(model_run_id);
`,
	// 2: data_points_event covers what a generation reads of a data point. The engine
	// reads every data point of a period's events through this index (a million rows
	// for five years of the synthetic set); with event_id alone each row cost a second
	// B-tree lookup into the wide data_points table, two thirds of the join's work in
	// SQLite. id comes second so an event's points keep their id order, as before.
	`
DROP INDEX data_points_event;
CREATE INDEX data_points_event ON data_points(event_id, id, type_id, value, unit);
`,
	// 3: GET /projects/{id}/events sorts a project's events by start_time (the
	// preview's input check reads them newest first); without this index every
	// request sorted all of the project's events (60–75 ms on a million data
	// points, about 19 ms with it).
	`
CREATE INDEX events_project_start ON events(project_id, start_time);
`,
	// 4: allocations (issue 10). A batch's ledger_balance is its primary output minus
	// what was allocated from it; batch_amounts record allocations from an upstream
	// batch to the downstream batch a generation writes. report_id is for allocations to
	// a report (the sandbox has no reports yet, so it is always NULL); exactly one of
	// to_batch_id and report_id is set. One row per (from, to) batch pair: regenerating
	// the downstream batch with a new amount replaces the row. Manual-select inputs get
	// their allocation groups ({"id", "name"} objects, a JSON array); an existing file's
	// demo input fed by another ledger gets the group a fresh seed gives it.
	`
ALTER TABLE model_inputs ADD COLUMN allocation_groups TEXT NOT NULL DEFAULT '[]';
UPDATE model_inputs SET allocation_groups = '[{"id":"biochar-produced","name":"Biochar produced"}]'
	WHERE is_manual_select = 1 AND source_ledger_id IS NOT NULL;
CREATE TABLE allocations (
	id INTEGER PRIMARY KEY,
	project_id INTEGER NOT NULL REFERENCES projects(id),
	from_batch_id INTEGER NOT NULL REFERENCES batches(id),
	to_batch_id INTEGER REFERENCES batches(id),
	report_id TEXT,
	amount REAL NOT NULL,
	unit TEXT,
	allocation_group TEXT,
	task_id INTEGER REFERENCES async_tasks(id),
	created_at INTEGER NOT NULL,
	CHECK ((to_batch_id IS NULL) <> (report_id IS NULL))
);
CREATE UNIQUE INDEX allocations_from_to ON allocations(from_batch_id, to_batch_id);
CREATE INDEX allocations_to ON allocations(to_batch_id);
`,
	// 5: a token may see several projects (issue 10: the reference's tokens look
	// account-wide). token_projects grants a token's role projects besides the one
	// of its tokens row; keyed by role, which survives Options.Token replacing the
	// demo token. An existing file gets the second demo site at Open (seedSecondSite).
	`
CREATE TABLE token_projects (
	role TEXT NOT NULL REFERENCES tokens(role),
	project_id INTEGER NOT NULL REFERENCES projects(id),
	PRIMARY KEY (role, project_id)
);
`,
}

// migrate applies every migration not yet recorded in schema_migrations, each in
// its own transaction, so a failed migration leaves the file at the previous version.
func migrate(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var current int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if current > len(migrations) {
		return fmt.Errorf("migrate: database is at schema version %d, this sandbox knows only %d", current, len(migrations))
	}
	for v := current + 1; v <= len(migrations); v++ {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate to %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, migrations[v-1]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate to %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, v, time.Now().UnixMilli()); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate to %d: %w", v, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate to %d: %w", v, err)
		}
	}
	if current > 0 && current < len(migrations) {
		// A migration of an existing file may rewrite a large index: copy it into the
		// database now rather than leave every later read to find its pages in the WAL.
		if _, err := db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			return fmt.Errorf("migrate: checkpoint: %w", err)
		}
	}
	return nil
}

func getMeta(ctx context.Context, q queryer, key string) (string, bool, error) {
	var v string
	err := q.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if err == sql.ErrNoRows {
		return "", false, nil
	}
	return v, err == nil, err
}

func setMeta(ctx context.Context, q queryer, key, value string) error {
	_, err := q.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, value)
	return err
}

// queryer is what *sql.DB and *sql.Tx have in common, so helpers work in and out of transactions.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// placeholders returns "?, ?, ?" for n arguments.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

func int64Args(ids []int64) []any {
	out := make([]any, len(ids))
	for i, v := range ids {
		out[i] = v
	}
	return out
}

// readRaw runs f on a connection of db at the driver level, inside one read
// transaction, so every query of f sees the same data. It is for the engine's bulk
// reads, a million rows per generation: database/sql's Rows.Scan converts every value
// through reflection, which was a sixth of the reading goroutine's time, while the
// driver's own values need only a type switch (rowValues).
func readRaw(ctx context.Context, db *sql.DB, f func(rawReader) error) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		q, okQ := dc.(driver.QueryerContext)
		x, okX := dc.(driver.ExecerContext)
		if !okQ || !okX {
			return errors.New("sqlite driver connection cannot query directly")
		}
		// DEFERRED: a read takes no write lock (the DSN's _txlock applies to BeginTx only).
		if _, err := x.ExecContext(ctx, `BEGIN DEFERRED`, nil); err != nil {
			return err
		}
		err := f(rawReader{ctx: ctx, q: q})
		if _, cerr := x.ExecContext(context.Background(), `COMMIT`, nil); cerr != nil {
			// Never hand the pool a connection left inside a transaction.
			return errors.Join(err, cerr, driver.ErrBadConn)
		}
		return err
	})
}

// rawReader queries inside readRaw.
type rawReader struct {
	ctx context.Context
	q   driver.QueryerContext
}

// query runs query and calls row with each row's values (valid until the next row).
// Arguments must be driver values (int64, float64, string, ...).
func (r rawReader) query(query string, args []any, row func([]driver.Value) error) error {
	named := make([]driver.NamedValue, len(args))
	for i, a := range args {
		named[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	rows, err := r.q.QueryContext(r.ctx, query, named)
	if err != nil {
		return err
	}
	defer rows.Close()
	dest := make([]driver.Value, len(rows.Columns()))
	for {
		if err := rows.Next(dest); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if err := row(dest); err != nil {
			return err
		}
	}
}

// rowValues reads a driver row's columns as Rows.Scan would convert them for the
// types SQLite returns; the first column of another type (or NULL) sets err. Typed
// methods rather than Scan-style ...any destinations, which made every scanned
// variable escape to the heap: an allocation per row.
type rowValues struct {
	row []driver.Value
	err error
}

func (r *rowValues) int(i int) int64 {
	v, ok := r.row[i].(int64)
	if !ok {
		r.fail(i, "int64")
	}
	return v
}

func (r *rowValues) float(i int) float64 {
	switch v := r.row[i].(type) {
	case float64:
		return v
	case int64:
		return float64(v)
	}
	r.fail(i, "float64")
	return 0
}

func (r *rowValues) str(i int) string {
	switch v := r.row[i].(type) {
	case string:
		return v
	case []byte:
		return string(v)
	}
	r.fail(i, "string")
	return ""
}

func (r *rowValues) fail(i int, want string) {
	if r.err == nil {
		r.err = fmt.Errorf("column %d: cannot store %T in %s", i, r.row[i], want)
	}
}
