// Package store is the dashboard's own database: the audit log of batch
// generations, the one-time confirmation keys that guard them and the
// signed-in sessions.
//
// One replica keeps it in SQLite (Open: the pure-Go driver
// modernc.org/sqlite, no cgo, WAL journaling, a busy timeout). Several
// replicas share PostgreSQL (OpenPostgres: jackc/pgx v5), so that a
// confirmation key is used once across all of them and a sign-out counts
// everywhere. Both get the same versioned migrations when opened.
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

	"github.com/carbon-dash/mangrove-dashboard/internal/pgsettings"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")

// busyTimeout is how long a connection waits for a lock held by another
// connection (or process) before failing with SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// Store is a handle on the dashboard database. It is safe for concurrent use.
type Store struct {
	sqlDB   *sql.DB
	db      conn // sqlDB in the store's dialect
	dialect dialect

	// writeSem (capacity 1) serialises this process's SQLite write
	// transactions so concurrent writers queue in Go, honouring their
	// contexts, instead of spinning in SQLite's busy handler. The busy
	// timeout still covers writers in other processes. PostgreSQL has row
	// locks and needs none (nil).
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

	s := newStore(db, sqliteDialect)
	s.writeSem = make(chan struct{}, 1)
	ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
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

// openTimeout bounds opening a database and migrating it.
const openTimeout = 30 * time.Second

// MaxPostgresConns bounds one replica's connections to PostgreSQL from the
// store (the fleet's own, at most three, come on top): every request that
// reads or writes waits for one of these.
const MaxPostgresConns = 16

// OpenPostgres connects to the PostgreSQL database at url (postgres:// or
// postgresql://) and applies any pending migrations. Replicas starting
// together migrate once: each waits for a session advisory lock first.
func OpenPostgres(url string) (*Store, error) { return openPostgres(url, migrations) }

func openPostgres(url string, steps []migration) (*Store, error) {
	if !IsPostgresURL(url) {
		return nil, errors.New("store: want a postgres:// or postgresql:// URL")
	}
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("store: open PostgreSQL: %w", err) // pgx leaves the password out
	}
	pgsettings.Default(cfg.RuntimeParams, postgresSessionSettings)
	pgsettings.Default(cfg.RuntimeParams, pgsettings.ServerKeepalives)
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(MaxPostgresConns)
	db.SetMaxIdleConns(MaxPostgresConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s := newStore(db, postgresDialect)
	ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
	defer cancel()
	if err := s.Ping(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.migrate(ctx, steps); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// postgresSessionSettings bound what one replica's connection can hold on
// the server: a transaction left idle (a replica stalled between its
// statements) or a wait for a row lock ends instead of blocking the other
// replicas. Its connections also ask for pgsettings.ServerKeepalives.
var postgresSessionSettings = map[string]string{
	"idle_in_transaction_session_timeout": "30s",
	"lock_timeout":                        "15s",
}

// IsPostgresURL reports whether url names a PostgreSQL database.
func IsPostgresURL(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
}

func newStore(db *sql.DB, d dialect) *Store {
	return &Store{sqlDB: db, db: conn{q: db, d: d}, dialect: d, now: time.Now}
}

// Close closes the database.
func (s *Store) Close() error { return s.sqlDB.Close() }

// Ping checks that the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("store: ping %s: %w", s.dialect, err)
	}
	return nil
}

// Backend names the database: "sqlite" or "postgres".
func (s *Store) Backend() string { return s.dialect.String() }

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
	sql string // for both databases, unless pg is set
	pg  string // PostgreSQL's own SQL where SQLite's does not run there
	// run rewrites rows SQLite databases of earlier versions hold. It does
	// not run on PostgreSQL: a PostgreSQL database is always created at the
	// latest version (it came after these migrations), so it has no such rows.
	run func(ctx context.Context, tx conn) error
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
	CREATE INDEX generations_task_id ON generations (task_id);`,
		pg: `CREATE TABLE confirm_keys (
		key         TEXT PRIMARY KEY,
		token_hash  TEXT NOT NULL,
		params_hash TEXT NOT NULL,
		created_at  TEXT NOT NULL,
		expires_at  TEXT NOT NULL
	);
	CREATE INDEX confirm_keys_expires_at ON confirm_keys (expires_at);

	CREATE TABLE generations (
		id          BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
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
		task_id     BIGINT,
		error       TEXT NOT NULL DEFAULT '',
		finished_at TEXT,
		updated_at  TEXT NOT NULL
	);
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
	CREATE INDEX sessions_token_hash ON sessions (token_hash);`,
		pg: `CREATE TABLE sessions (
		id_hash    TEXT PRIMARY KEY,
		token_hash TEXT NOT NULL,
		created_at TEXT NOT NULL,
		expires_at TEXT NOT NULL
	);
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
	// 7: task snapshots too large for a NOTIFY payload, which the replica
	// polling a task hands to the others through this table (internal/fleet).
	// SQLite (one replica) never uses it; it is created there too so both
	// databases have one schema history.
	{sql: `CREATE TABLE fleet_snapshots (
		task_id    INTEGER PRIMARY KEY,
		body       TEXT NOT NULL,
		updated_at TEXT NOT NULL
	) STRICT;`,
		pg: `CREATE TABLE fleet_snapshots (
		task_id    BIGINT PRIMARY KEY,
		body       TEXT NOT NULL,
		updated_at TEXT NOT NULL
	);`},
}

// migrationLockKey is the PostgreSQL advisory lock replicas take to
// migrate one at a time ("mgd-migr" in ASCII).
const migrationLockKey int64 = 0x6d67642d6d696772

func (s *Store) migrate(ctx context.Context, steps []migration) error {
	if err := s.lockWrite(ctx); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	defer s.unlockWrite()
	if s.dialect == postgresDialect {
		// Replicas starting together: the first migrates, the others wait
		// here and then find every version applied. The lock is the
		// session's, so it is held on one connection taken for the purpose,
		// and goes with it if this process dies.
		c, err := s.sqlDB.Conn(ctx)
		if err != nil {
			return fmt.Errorf("store: migrate: %w", err)
		}
		defer c.Close()
		// Another replica's migration may take longer than lock_timeout:
		// wait as long as the caller does (RESET restores the setting).
		if _, err := c.ExecContext(ctx, `SET lock_timeout = 0`); err != nil {
			return fmt.Errorf("store: migrate: %w", err)
		}
		if _, err := c.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLockKey); err != nil {
			return fmt.Errorf("store: migrate: wait for the migration lock: %w", err)
		}
		defer func() {
			uctx := context.WithoutCancel(ctx)
			_, _ = c.ExecContext(uctx, `SELECT pg_advisory_unlock($1)`, migrationLockKey)
			_, _ = c.ExecContext(uctx, `RESET lock_timeout`)
		}()
	}

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
	err := s.inTx(ctx, func(tx conn) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		stmt := m.sql
		if s.dialect == postgresDialect && m.pg != "" {
			stmt = m.pg
		}
		if stmt != "" {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return err
			}
		}
		if m.run != nil && s.dialect == sqliteDialect {
			if err := m.run(ctx, tx); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
			version, formatTime(s.now()))
		return err
	})
	if err != nil {
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
	if s.writeSem == nil {
		return nil
	}
	select {
	case s.writeSem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Store) unlockWrite() {
	if s.writeSem != nil {
		<-s.writeSem
	}
}

// withWriteTx runs fn in a write transaction and commits when fn returns
// nil. On SQLite the transaction is immediate and serialised with this
// process's other writers; on PostgreSQL it is READ COMMITTED, and what
// reads then writes a row locks it (dialect.forUpdate) or relies on a
// unique constraint.
func (s *Store) withWriteTx(ctx context.Context, fn func(tx conn) error) error {
	if err := s.lockWrite(ctx); err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer s.unlockWrite()
	return s.inTx(ctx, fn)
}

// inTx runs fn in a transaction in the store's dialect and commits when fn
// returns nil; fn's error comes back as it is.
func (s *Store) inTx(ctx context.Context, fn func(tx conn) error) error {
	sqlTx, err := s.sqlDB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer sqlTx.Rollback()
	if err := fn(conn{q: sqlTx, d: s.dialect}); err != nil {
		return err
	}
	if err := sqlTx.Commit(); err != nil {
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
