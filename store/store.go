// Package store is the dashboard's own SQLite database: the audit log of
// batch generations and the one-time confirmation keys that guard them.
//
// It uses the pure-Go driver modernc.org/sqlite (no cgo), WAL journaling,
// a busy timeout and versioned migrations applied by Open.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")

// busyTimeout is how long a connection waits for a lock held by another
// connection (or process) before failing with SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// Store is a handle on the dashboard database. It is safe for concurrent use.
type Store struct {
	db *sql.DB

	// writeSem (capacity 1) serialises this process's write transactions so
	// concurrent writers queue in Go, honouring their contexts, instead of
	// spinning in SQLite's busy handler. The busy timeout still covers
	// writers in other processes.
	writeSem chan struct{}

	// now is the clock; tests replace it.
	now func() time.Time
}

// Open opens (creating if needed) the SQLite database at path, switches it
// to WAL mode and applies any pending migrations. The parent directory is
// created if it does not exist. The database holds confirmation keys and
// session records: its directory is made 0700 and its files 0600, whatever
// they were.
func Open(path string) (*Store, error) { return open(path, migrations) }

// open is Open applying only steps, so tests can build a database at an
// earlier schema version.
func open(path string, steps []migration) (*Store, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("store: open %q: need a plain file path", path)
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("store: open %q: path must not contain '?' or '#'", path)
	}
	if err := privateFiles(path); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}

	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(1)")
	// Every transaction takes the write lock at BEGIN, so a read-then-write
	// transaction can never fail half-way with SQLITE_BUSY on lock upgrade.
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)

	s := &Store{db: db, writeSem: make(chan struct{}, 1), now: time.Now}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.checkWAL(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.migrate(ctx, steps); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Ping checks that the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

func (s *Store) checkWAL(ctx context.Context) error {
	var mode string
	if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("store: read journal mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("store: journal mode is %q, want wal", mode)
	}
	return nil
}

// migration is one schema step: SQL, or a Go function for changes that are
// clearer in Go (rewriting stored JSON), or both, SQL first. Both run in
// the migration's transaction.
type migration struct {
	sql string
	run func(ctx context.Context, tx *sql.Tx) error
}

// migrations are applied in order; each runs once, in its own transaction,
// and is recorded in schema_migrations. Never edit a released migration:
// append a new one.
var migrations = []migration{
	// 1: confirmation keys and the generation audit log.
	{sql: `CREATE TABLE confirm_keys (
		key         TEXT PRIMARY KEY,
		token_hash  TEXT NOT NULL,
		params_hash TEXT NOT NULL,
		created_at  TEXT NOT NULL,
		expires_at  TEXT NOT NULL
	) STRICT;
	CREATE INDEX confirm_keys_expires_at ON confirm_keys (expires_at);

	CREATE TABLE generations (
		id          INTEGER PRIMARY KEY AUTOINCREMENT,
		created_at  TEXT NOT NULL,
		user_label  TEXT NOT NULL DEFAULT '',
		token_hash  TEXT NOT NULL,
		ledger_id   TEXT NOT NULL,
		ledger_name TEXT NOT NULL DEFAULT '',
		start_time  TEXT NOT NULL,
		end_time    TEXT NOT NULL,
		params      TEXT NOT NULL,
		params_hash TEXT NOT NULL,
		preview     TEXT NOT NULL,
		confirm_key TEXT NOT NULL UNIQUE,
		state       TEXT NOT NULL CHECK (state IN
		            ('submitting', 'started', 'unknown', 'rejected', 'complete', 'failed')),
		task_id     INTEGER,
		error       TEXT NOT NULL DEFAULT '',
		finished_at TEXT,
		updated_at  TEXT NOT NULL
	) STRICT;
	CREATE INDEX generations_token_hash ON generations (token_hash, id);
	CREATE INDEX generations_task_id ON generations (task_id);`},
	// 2: the preview a key was issued for, so the audit row records the
	// counts the user saw from the server's own copy, not from the form.
	{sql: `ALTER TABLE confirm_keys ADD COLUMN preview TEXT NOT NULL DEFAULT '[]';`},
	// 3: signed-in sessions, so that signing out ends a session for good: a
	// copy of the cookie replayed later finds no row. Only hashes are kept.
	{sql: `CREATE TABLE sessions (
		id_hash    TEXT PRIMARY KEY,
		token_hash TEXT NOT NULL,
		created_at TEXT NOT NULL,
		expires_at TEXT NOT NULL
	) STRICT;
	CREATE INDEX sessions_expires_at ON sessions (expires_at);
	CREATE INDEX sessions_token_hash ON sessions (token_hash);`},
	// 4: params and preview JSON in the store's own versioned types
	// (records.go) instead of mangrove's and views' types.
	{run: upgradeRecords},
	// 5: the token a generation was confirmed with, sealed by the caller,
	// kept until the row settles so a restarted dashboard can watch its
	// task to the end; and an index for finding such rows at start-up.
	{sql: `ALTER TABLE generations ADD COLUMN sealed_token TEXT NOT NULL DEFAULT '';
	CREATE INDEX generations_unsettled ON generations (state) WHERE state IN ('submitting', 'started');`},
	// 6: what was seen of the run (RunRecord): its progress steps and the
	// batches it wrote per ledger, for the task page and the history.
	{sql: `ALTER TABLE generations ADD COLUMN run TEXT NOT NULL DEFAULT 'null';`},
}

func (s *Store) migrate(ctx context.Context, steps []migration) error {
	if err := s.lockWrite(ctx); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	defer s.unlockWrite()

	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at TEXT NOT NULL
	)`); err != nil {
		return fmt.Errorf("store: create schema_migrations: %w", err)
	}
	for i, m := range steps {
		version := i + 1
		if err := s.applyMigration(ctx, version, m); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) applyMigration(ctx context.Context, version int, m migration) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: migration %d: %w", version, err)
	}
	defer tx.Rollback()

	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
		return fmt.Errorf("store: migration %d: %w", version, err)
	}
	if n > 0 {
		return nil
	}
	if m.sql != "" {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("store: migration %d: %w", version, err)
		}
	}
	if m.run != nil {
		if err := m.run(ctx, tx); err != nil {
			return fmt.Errorf("store: migration %d: %w", version, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
		version, formatTime(s.now())); err != nil {
		return fmt.Errorf("store: migration %d: %w", version, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: migration %d: %w", version, err)
	}
	return nil
}

// SchemaVersion reports the highest applied migration.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("store: schema version: %w", err)
	}
	return int(v.Int64), nil
}

// timeLayout is fixed-width UTC so stored times sort as text.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		// Tolerate hand-edited rows in any RFC 3339 form.
		t, err = time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, fmt.Errorf("store: bad stored time %q: %w", s, err)
		}
	}
	return t.UTC(), nil
}

func (s *Store) lockWrite(ctx context.Context) error {
	select {
	case s.writeSem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Store) unlockWrite() { <-s.writeSem }

// withWriteTx runs fn in an immediate transaction, serialised with this
// process's other writers, and commits when fn returns nil.
func (s *Store) withWriteTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if err := s.lockWrite(ctx); err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer s.unlockWrite()

	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// Modes of the database's directory and files: the owner's only.
const (
	privateDirMode  os.FileMode = 0o700
	privateFileMode os.FileMode = 0o600
)

// privateFiles makes the database's directory and files the owner's only
// where the process owns them (a volume mounted with another owner is left
// as its owner set it, rather than failing the start):
// the directory created or chmod'ed to privateDirMode (a sticky directory,
// everyone's, is refused rather than narrowed), the database file
// created empty with privateFileMode before SQLite opens it (SQLite gives its
// -wal and -shm files the database file's mode), and existing files of the
// database chmod'ed to it.
func privateFiles(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, privateDirMode); err != nil {
		return fmt.Errorf("create directory: %w", err)
	}
	if fi, err := os.Stat(dir); err != nil {
		return err
	} else if fi.Mode()&os.ModeSticky != 0 {
		return fmt.Errorf("%s is a shared (sticky) directory such as /tmp: give the dashboard a directory of its own (DATA_DIR)", dir)
	}
	if err := os.Chmod(dir, privateDirMode); err != nil && !errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("restrict directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, privateFileMode)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, privateFileMode); err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("restrict %s: %w", p, err)
		}
	}
	return nil
}
