// Package fleet lets the dashboard's replicas, sharing one PostgreSQL
// database, poll each task once between them. It implements the watcher
// package's Fleet interface (structurally: it does not import watcher).
//
// # Leading
//
// The replica leading a task holds a session-level advisory lock on it,
// keyed by
//
//	hashtextextended('mangrove-dashboard/task/' || task_id::text, 0)
//
// a bigint. Keys live in the database's one advisory-lock space, so the only
// possible collision is another application taking a session or transaction
// advisory lock on the very same 64-bit value, which is astronomically
// unlikely. Every lock of a replica is held by its one lock connection:
// when that connection breaks (the replica died, the backend was
// terminated) PostgreSQL releases them all, and the next Lead of another
// replica takes the task. Followers must therefore call Lead at every poll
// interval; a failover then takes at most one interval after PostgreSQL has
// noticed the broken connection. A process that exits or crashes closes
// its socket, which the server notices at once; for a host that vanishes
// the fleet asks the server (TCP only) to probe the connection with
// keepalives (pgsettings.ServerKeepalives), so it notices within about 25 s.
//
// Lead on a task already led is answered from memory, without a round trip,
// as long as the lock connection is the one the lock was taken on. A
// background check pings the lock connection every lockCheckInterval while
// it holds locks, and any failed use of it (Lead, Release, Announce) also
// counts as its loss: then every lead is lost at once (Metrics.LeadLost is
// counted per task), and the next Lead reconnects (bounded by
// connectTimeout, and no more often than every reconnectPause) and tries
// the lock again.
//
// # Announcing
//
// The leader announces snapshots with NOTIFY on Channel, sent on the lock
// connection, signed with the fleet's key (HMAC-SHA256; unsigned payloads
// are dropped, so a role that can connect cannot forge them), in an
// envelope naming the replica (a random id per Open, so a
// replica ignores its own announcements) and the task. An envelope longer
// than maxInlinePayload (NOTIFY payloads are limited to 8000 bytes) goes
// through the fleet_snapshots table instead: one statement upserts the
// task's row and notifies a small reference to it, and the receivers read
// the row. The table is created by the dashboard's store migrations:
//
//	CREATE TABLE fleet_snapshots (task_id BIGINT PRIMARY KEY, body TEXT NOT NULL, updated_at TEXT NOT NULL)
//
// with updated_at in RFC 3339 UTC. It keeps one row per task announced
// through it (the latest large snapshot); each overflowing announcement
// deletes the other tasks' rows older than snapshotRowTTL.
//
// # Following
//
// A listen connection runs LISTEN Channel and waits for notifications on
// one goroutine, which calls the Follow receiver in arrival order. Bodies
// of overflowed snapshots are read on a third connection, opened on the
// first such announcement and used only by that goroutine, so a replica
// holds at most three connections. When the listen connection breaks the
// goroutine reconnects with backoff (listenBackoffMin doubling to
// listenBackoffMax) and listens again; announcements sent meanwhile are
// missed. That is acceptable because every snapshot is whole: the next one
// restores the state. A listen connection quiet for listenCheckInterval is
// pinged, so one that died without a reset reaching the client is noticed
// too. Payloads on the channel that are not envelopes are logged at debug
// level and dropped.
//
// # Contexts and bounds
//
// The lock connection is shared by every caller, one statement at a time.
// A caller's context bounds its wait for the connection (and the dial, if
// it must be reopened); the statement itself runs to completion, bounded
// by queryTimeout, because pgx closes a connection whose statement is
// interrupted, and that would end every lead of the replica. A round trip
// is normally well under a millisecond, so this only matters when the
// network fails, and then the connection is given up anyway.
//
// The database is assumed to use the UTF8 encoding.
package fleet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/internal/pgsettings"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Channel is the NOTIFY channel of announcements.
const Channel = "mangrove_dashboard_tasks"

const (
	// maxInlinePayload is the longest envelope sent as a NOTIFY payload
	// (PostgreSQL's limit is 8000 bytes); longer ones go through the
	// fleet_snapshots table.
	maxInlinePayload = 7000

	// snapshotRowTTL is how long a task's large snapshot stays in
	// fleet_snapshots: longer than any watch (WATCH_MAX_LIFETIME is at most
	// 24h), so no follower can still need it.
	snapshotRowTTL = 25 * time.Hour

	// connectTimeout bounds opening a connection.
	connectTimeout = 5 * time.Second
	// queryTimeout bounds each round trip on the lock connection (Lead,
	// Release, Announce, pings) and each body read, on top of the caller's
	// context.
	queryTimeout = 5 * time.Second
	// closeTimeout bounds closing a connection, including Close's unlock.
	closeTimeout = 5 * time.Second
	// reconnectPause is the least time between two attempts to reopen the
	// lock connection; calls in between fail at once.
	reconnectPause = time.Second
	// lockCheckInterval is how often the lock connection is pinged while
	// it holds locks, so a lost connection is noticed even by a replica
	// that only calls Lead on tasks it leads.
	lockCheckInterval = time.Second
	// listenBackoffMin and listenBackoffMax bound the wait before each
	// attempt to reopen the listen connection: it starts at the minimum
	// and doubles with every failure up to the maximum.
	listenBackoffMin = 100 * time.Millisecond
	listenBackoffMax = 5 * time.Second
	// listenCheckInterval is how long the listen connection may stay
	// quiet before it is pinged, so that a connection that died silently
	// (no reset ever reaches the client) is noticed and reopened.
	listenCheckInterval = 15 * time.Second
)

// SQL. The lock key expression is the same in both lock statements.
const (
	lockKey      = `hashtextextended('mangrove-dashboard/task/' || $1::bigint::text, 0)`
	tryLockSQL   = `SELECT pg_try_advisory_lock(` + lockKey + `)`
	unlockSQL    = `SELECT pg_advisory_unlock(` + lockKey + `)`
	unlockAllSQL = `SELECT pg_advisory_unlock_all()`
	notifySQL    = `SELECT pg_notify($1, $2)`
	// One statement, so the row and its notification commit together; it
	// also deletes other tasks' rows older than snapshotRowTTL, so the table
	// holds the large snapshots of recent tasks only.
	upsertNotifySQL = `WITH gone AS (
	DELETE FROM fleet_snapshots WHERE updated_at < $6 AND task_id <> $1
), up AS (
	INSERT INTO fleet_snapshots (task_id, body, updated_at) VALUES ($1, $2, $3)
	ON CONFLICT (task_id) DO UPDATE SET body = EXCLUDED.body, updated_at = EXCLUDED.updated_at
	RETURNING 1
)
SELECT pg_notify($4, $5) FROM up`
	readBodySQL = `SELECT body FROM fleet_snapshots WHERE task_id = $1`
)

// listenCheck is listenCheckInterval; tests shorten it.
var listenCheck = listenCheckInterval

// timeLayout is RFC 3339 in UTC, fixed width so it sorts as text (the
// store's layout).
const timeLayout = "2006-01-02T15:04:05.000000000Z"

var (
	// ErrClosed is returned by the methods of a closed Fleet.
	ErrClosed = errors.New("fleet: closed")
	// ErrNotLeading is returned by Announce for a task this replica does
	// not lead (any more): it was released, or its lead was lost.
	ErrNotLeading = errors.New("fleet: not leading the task")
)

// Metrics receives counts for the dashboard's /metrics. Its methods are
// called from several goroutines and must not block.
type Metrics interface {
	LeadAcquired()   // a task lock was taken
	LeadLost()       // a held lock was lost with its connection
	NotifySent()     // an announcement went out
	NotifyReceived() // another replica's announcement arrived
	NotifyOverflow() // an announcement was too large for a NOTIFY payload and went through the table
}

type noMetrics struct{}

func (noMetrics) LeadAcquired()   {}
func (noMetrics) LeadLost()       {}
func (noMetrics) NotifySent()     {}
func (noMetrics) NotifyReceived() {}
func (noMetrics) NotifyOverflow() {}

// Options configure a Fleet.
type Options struct {
	// Key signs every announcement (HMAC-SHA256), and announcements not
	// signed with it are dropped: a role that can connect to the database
	// can NOTIFY on the channel too, but cannot forge a task's end or a
	// sign-out. Every replica must have the same key; at least MinKeyLen
	// bytes.
	Key     []byte
	Logger  *slog.Logger // nil: discard
	Metrics Metrics      // nil: none
}

// MinKeyLen is the shortest Options.Key.
const MinKeyLen = 32

// Fleet is one replica's member of the fleet. It is safe for concurrent use.
type Fleet struct {
	key     []byte // signs and checks announcements (Options.Key)
	cfg     *pgx.ConnConfig
	id      string // replica id, random per Open
	log     *slog.Logger
	metrics Metrics

	// mu guards the lock connection (pgx.Conn is not safe for concurrent
	// use) and the state below.
	mu       connMutex
	closed   bool
	conn     *pgx.Conn        // lock connection; nil while down
	gen      uint64           // incremented at each (re)connection of conn
	held     map[int64]uint64 // task → gen of the connection holding its lock
	dialErr  error            // the last failed dial of conn, nil after a success
	dialedAt time.Time        // when dialErr happened

	leading   atomic.Int64 // len(held), for Leading without the mutex
	leadTrips atomic.Int64 // statements run by Lead (tests)
	receive   atomic.Pointer[func(taskID int64, snapshot []byte)]
	sessions  atomic.Pointer[func(idHash string)]
	listening atomic.Bool   // the listen connection is up and listening
	listenPID atomic.Uint32 // its backend (tests)
	stop      context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error

	listenCheck time.Duration
}

// Open connects to the database at databaseURL (the lock connection and
// the listen connection, which starts listening at once) and starts the
// listener. Announcements are delivered once Follow has registered a
// receiver; until then they are dropped.
func Open(ctx context.Context, databaseURL string, opts Options) (*Fleet, error) {
	if len(opts.Key) < MinKeyLen {
		return nil, fmt.Errorf("fleet: the announcement key must be at least %d bytes", MinKeyLen)
	}
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	f := &Fleet{
		key:     slices.Clone(opts.Key),
		cfg:     cfg,
		id:      newReplicaID(),
		log:     opts.Logger,
		metrics: opts.Metrics,
		held:    make(map[int64]uint64),
		mu:      make(connMutex, 1),

		listenCheck: listenCheck,
	}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	if f.metrics == nil {
		f.metrics = noMetrics{}
	}
	f.log = f.log.With("replica", f.id)

	f.mu.lockAlways()
	_, err = f.lockConnLocked(ctx)
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	listen, err := f.openListen(ctx)
	if err != nil {
		f.mu.lockAlways()
		closeConn(f.conn)
		f.conn = nil
		f.mu.Unlock()
		return nil, err
	}

	bg, stop := context.WithCancel(context.Background())
	f.stop = stop
	f.wg.Add(2)
	go f.listen(bg, listen)
	go f.keep(bg)
	return f, nil
}

func newReplicaID() string {
	b := make([]byte, 8)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return hex.EncodeToString(b)
}

// dial opens a connection for role (its application_name, unless the URL
// sets one) with server-side keepalives (pgsettings.ServerKeepalives).
func (f *Fleet) dial(ctx context.Context, role string) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	cfg := f.cfg.Copy()
	pgsettings.Default(cfg.RuntimeParams, map[string]string{"application_name": "mangrove-dashboard/fleet-" + role})
	pgsettings.Default(cfg.RuntimeParams, pgsettings.ServerKeepalives)
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("fleet: opening the %s connection: %w", role, err)
	}
	return conn, nil
}

// lockConnLocked returns the lock connection, reopening it if it is down.
// f.mu is held.
func (f *Fleet) lockConnLocked(ctx context.Context) (*pgx.Conn, error) {
	if f.conn != nil {
		if !f.conn.IsClosed() {
			return f.conn, nil
		}
		f.lostLocked(errors.New("connection closed"))
	}
	if f.dialErr != nil && time.Since(f.dialedAt) < reconnectPause {
		return nil, fmt.Errorf("fleet: lock connection down, retrying at most every %s: %w", reconnectPause, f.dialErr)
	}
	conn, err := f.dial(ctx, "lock")
	if err != nil {
		if ctx.Err() == nil { // not the caller giving up
			f.dialErr, f.dialedAt = err, time.Now()
		}
		return nil, err
	}
	if f.dialErr != nil || f.gen > 0 {
		f.log.Info("fleet: lock connection reopened")
	}
	f.dialErr = nil
	f.conn = conn
	f.gen++
	return conn, nil
}

// lostLocked closes the lock connection and forgets every lead, which went
// with it. f.mu is held.
func (f *Fleet) lostLocked(cause error) {
	if n := len(f.held); n > 0 {
		for range n {
			f.metrics.LeadLost()
		}
		f.log.Warn("fleet: lock connection lost, with the leads it held", "tasks", n, "error", cause)
	} else {
		f.log.Info("fleet: lock connection lost", "error", cause)
	}
	clear(f.held)
	f.leading.Store(0)
	closeConn(f.conn)
	f.conn = nil
}

// failLocked handles err from a statement on the lock connection: an SQL
// error leaves it usable; anything else (network, timeout, a terminated
// backend) leaves its state unknown, so it is closed and its leads are lost.
// f.mu is held.
func (f *Fleet) failLocked(err error) {
	var pgErr *pgconn.PgError
	if f.conn != nil && !f.conn.IsClosed() && errors.As(err, &pgErr) {
		return
	}
	f.lostLocked(err)
}

// queryBoolLocked runs sql(taskID) on the lock connection. f.mu is held.
func (f *Fleet) queryBoolLocked(ctx context.Context, sql string, taskID int64) (bool, error) {
	ctx, cancel := statementContext(ctx)
	defer cancel()
	var b bool
	if err := f.conn.QueryRow(ctx, sql, taskID).Scan(&b); err != nil {
		f.failLocked(err)
		return false, err
	}
	return b, nil
}

// Lead makes this replica the task's leader if no other replica is, and
// reports whether it is. While leading it answers from memory, unless the
// lock connection was lost: then it reconnects and tries the lock again.
// Followers call it at every poll interval, so that one of them takes over
// when the leader goes. ctx bounds the wait for the lock connection; the
// statement is bounded by queryTimeout.
func (f *Fleet) Lead(ctx context.Context, taskID int64) (bool, error) {
	if err := f.mu.Lock(ctx); err != nil {
		return false, err
	}
	defer f.mu.Unlock()
	if f.closed {
		return false, ErrClosed
	}
	if gen, ok := f.held[taskID]; ok && gen == f.gen && f.conn != nil && !f.conn.IsClosed() {
		return true, nil
	}
	if _, err := f.lockConnLocked(ctx); err != nil {
		return false, err
	}
	f.leadTrips.Add(1)
	got, err := f.queryBoolLocked(ctx, tryLockSQL, taskID)
	if err != nil {
		return false, fmt.Errorf("fleet: leading task %d: %w", taskID, err)
	}
	if got {
		f.held[taskID] = f.gen
		f.leading.Store(int64(len(f.held)))
		f.metrics.LeadAcquired()
	}
	return got, nil
}

// Release gives up leading the task; releasing a task not led is a no-op.
// If the unlock fails, the lock connection is closed, which releases every
// lock: a lock this replica no longer knows about must not outlive it.
func (f *Fleet) Release(taskID int64) {
	f.mu.lockAlways()
	defer f.mu.Unlock()
	gen, ok := f.held[taskID]
	if !ok {
		return
	}
	delete(f.held, taskID)
	f.leading.Store(int64(len(f.held)))
	if f.closed || f.conn == nil || gen != f.gen || f.conn.IsClosed() {
		return // the lock went with its connection
	}
	was, err := f.queryBoolLocked(context.Background(), unlockSQL, taskID)
	switch {
	case err != nil:
		f.log.Warn("fleet: releasing a task failed; dropping the lock connection", "task", taskID, "error", err)
		if f.conn != nil {
			f.lostLocked(err)
		}
	case !was:
		f.log.Warn("fleet: released a task whose lock was not held", "task", taskID)
	}
}

// Announce sends a snapshot of a task this replica leads to the other
// replicas; for a task it does not lead (any more) it returns
// ErrNotLeading. ctx bounds the wait for the lock connection; the statement
// is bounded by queryTimeout. Any bytes may be announced (see the envelope
// in envelope.go); those whose envelope exceeds maxInlinePayload go through
// the fleet_snapshots table, and fail if it is missing.
func (f *Fleet) Announce(ctx context.Context, taskID int64, snapshot []byte) error {
	env := encodeInline(f.id, taskID, snapshot)
	overflow := len(env) > maxInlinePayload
	var body string
	if overflow {
		var b64 bool
		body, b64 = tableBody(snapshot)
		env = encodeRef(f.id, taskID, body, b64)
	}

	if err := f.mu.Lock(ctx); err != nil {
		return err
	}
	defer f.mu.Unlock()
	if f.closed {
		return ErrClosed
	}
	if f.conn != nil && f.conn.IsClosed() {
		f.lostLocked(errors.New("connection closed"))
	}
	if gen, ok := f.held[taskID]; !ok || gen != f.gen || f.conn == nil {
		return fmt.Errorf("%w %d", ErrNotLeading, taskID)
	}

	ctx, cancel := statementContext(ctx)
	defer cancel()
	var err error
	if overflow {
		now := time.Now().UTC().Format(timeLayout)
		cutoff := time.Now().Add(-snapshotRowTTL).UTC().Format(timeLayout)
		_, err = f.conn.Exec(ctx, upsertNotifySQL, taskID, body, now, Channel, sign(f.key, env), cutoff)
	} else {
		_, err = f.conn.Exec(ctx, notifySQL, Channel, sign(f.key, env))
	}
	if err != nil {
		f.failLocked(err)
		return fmt.Errorf("fleet: announcing task %d: %w", taskID, err)
	}
	if overflow {
		f.metrics.NotifyOverflow()
	}
	f.metrics.NotifySent()
	return nil
}

// Follow registers the receiver of the other replicas' announcements. It
// is called from one goroutine, in arrival order, never with this
// replica's own announcements; it should return quickly, as it holds up the
// next. A later call replaces the receiver; nil drops announcements.
func (f *Fleet) Follow(receive func(taskID int64, snapshot []byte)) {
	if receive == nil {
		f.receive.Store(nil)
		return
	}
	f.receive.Store(&receive)
}

// AnnounceSessionEnded tells the other replicas that the session whose id
// hashes to idHash (the store's hex SHA-256, never the id) was signed out,
// so they end its open event streams (FollowSessionEnds). ctx bounds the
// wait for the lock connection; the statement is bounded by queryTimeout.
func (f *Fleet) AnnounceSessionEnded(ctx context.Context, idHash string) error {
	if !isSHA256Hex(idHash) {
		return errors.New("fleet: a session is announced by the hex SHA-256 of its id")
	}
	if err := f.mu.Lock(ctx); err != nil {
		return err
	}
	defer f.mu.Unlock()
	if f.closed {
		return ErrClosed
	}
	conn, err := f.lockConnLocked(ctx)
	if err != nil {
		return err
	}
	sctx, cancel := statementContext(ctx)
	defer cancel()
	if _, err := conn.Exec(sctx, notifySQL, Channel, sign(f.key, encodeSessionEnded(f.id, idHash))); err != nil {
		f.failLocked(err)
		return fmt.Errorf("fleet: announcing a sign-out: %w", err)
	}
	f.metrics.NotifySent()
	return nil
}

// FollowSessionEnds registers the receiver of the other replicas'
// sign-outs, called like Follow's receiver (one goroutine, in arrival
// order) with the hash of the session's id. A later call replaces it.
func (f *Fleet) FollowSessionEnds(receive func(idHash string)) {
	if receive == nil {
		f.sessions.Store(nil)
		return
	}
	f.sessions.Store(&receive)
}

// Leading returns how many tasks this replica leads now.
func (f *Fleet) Leading() int { return int(f.leading.Load()) }

// Ping reports whether both connections are up: it pings the lock
// connection (reopening it if it is down) and reports the listen
// connection's state as its goroutine last saw it.
func (f *Fleet) Ping(ctx context.Context) error {
	if err := f.mu.Lock(ctx); err != nil {
		return err
	}
	if f.closed {
		f.mu.Unlock()
		return ErrClosed
	}
	err := f.pingLocked(ctx)
	f.mu.Unlock()
	if err != nil {
		return err
	}
	if !f.listening.Load() {
		return errors.New("fleet: listen connection down, reconnecting")
	}
	return nil
}

func (f *Fleet) pingLocked(ctx context.Context) error {
	conn, err := f.lockConnLocked(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := statementContext(ctx)
	defer cancel()
	if err := conn.Ping(ctx); err != nil {
		f.failLocked(err)
		return fmt.Errorf("fleet: lock connection: %w", err)
	}
	return nil
}

// keep pings the lock connection every lockCheckInterval while it holds
// locks, so that a lost connection is noticed (and its leads given up)
// even when Lead is only called on tasks already led.
func (f *Fleet) keep(ctx context.Context) {
	defer f.wg.Done()
	t := time.NewTicker(lockCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		f.mu.lockAlways()
		if !f.closed && f.conn != nil && len(f.held) > 0 {
			if f.conn.IsClosed() {
				f.lostLocked(errors.New("connection closed"))
			} else {
				_ = f.pingLocked(ctx)
			}
		}
		f.mu.Unlock()
	}
}

// Close releases every lock, stops listening and closes the connections,
// waiting for its goroutines. Later calls return the first one's result.
func (f *Fleet) Close() error {
	f.closeOnce.Do(func() {
		f.stop()
		f.wg.Wait()

		f.mu.lockAlways()
		defer f.mu.Unlock()
		f.closed = true
		leading := len(f.held)
		clear(f.held)
		f.leading.Store(0)
		if f.conn == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		// Closing the connection releases the locks too, but only once
		// the server has noticed; unlocking first makes them free when
		// Close returns.
		var errs []error
		if leading > 0 && !f.conn.IsClosed() {
			if _, err := f.conn.Exec(ctx, unlockAllSQL); err != nil {
				errs = append(errs, fmt.Errorf("fleet: releasing locks: %w", err))
			}
		}
		if err := f.conn.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("fleet: closing the lock connection: %w", err))
		}
		f.conn = nil
		f.closeErr = errors.Join(errs...)
	})
	return f.closeErr
}

// statementContext bounds a statement on the lock connection by
// queryTimeout but not by ctx's cancellation: pgx closes a connection whose
// statement is interrupted, and the lock connection is shared, so one
// caller giving up must not end every lead of the replica. Callers' contexts
// bound their wait for the connection (connMutex) instead.
func statementContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), queryTimeout)
}

// connMutex is a mutex whose Lock gives up when ctx is done.
type connMutex chan struct{}

func (m connMutex) Lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case m <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m connMutex) lockAlways() { m <- struct{}{} }

func (m connMutex) Unlock() { <-m }

func closeConn(conn *pgx.Conn) {
	if conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	conn.Close(ctx) // a broken connection is closed all the same
}

// openListen opens a listen connection and runs LISTEN on it.
func (f *Fleet) openListen(ctx context.Context) (*pgx.Conn, error) {
	conn, err := f.dial(ctx, "listen")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	// LISTEN takes no parameters; Channel is a constant identifier.
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{Channel}.Sanitize()); err != nil {
		closeConn(conn)
		return nil, fmt.Errorf("fleet: LISTEN: %w", err)
	}
	f.listenPID.Store(conn.PgConn().PID())
	f.listening.Store(true)
	return conn, nil
}

// listen waits for notifications on conn and delivers them, reopening the
// connection with backoff when it breaks, until ctx is done.
func (f *Fleet) listen(ctx context.Context, conn *pgx.Conn) {
	defer f.wg.Done()
	var reader *pgx.Conn // reads overflowed bodies; opened when first needed
	defer func() {
		f.listening.Store(false)
		closeConn(conn)
		closeConn(reader)
	}()

	backoff := listenBackoffMin
	upSince := time.Now()
	for {
		if conn == nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			// The next wait, unless this connection lasts.
			backoff = min(2*backoff, listenBackoffMax)
			c, err := f.openListen(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				f.log.Warn("fleet: reopening the listen connection failed", "retry_in", backoff, "error", err)
				continue
			}
			f.log.Info("fleet: listening again")
			conn, upSince = c, time.Now()
		}

		wait, cancel := context.WithTimeout(ctx, f.listenCheck)
		n, err := conn.WaitForNotification(wait)
		cancel()
		if n != nil {
			reader = f.deliver(ctx, n, reader)
		}
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed() {
			// Quiet for listenCheck (pgx keeps a connection whose wait
			// timed out): check it is still there.
			ping, cancel := context.WithTimeout(ctx, queryTimeout)
			err = conn.Ping(ping)
			cancel()
			if err == nil {
				continue
			}
			if ctx.Err() != nil {
				return
			}
		}
		f.listening.Store(false)
		closeConn(conn)
		conn = nil
		// A connection that lasted starts the backoff over; one that
		// broke soon after opening keeps backing off.
		if time.Since(upSince) > listenBackoffMax {
			backoff = listenBackoffMin
		}
		f.log.Warn("fleet: listen connection lost; announcements are missed until it is back",
			"retry_in", backoff, "error", err)
	}
}

// deliver hands one notification to the receiver. It returns the reader
// connection, opened or dropped as needed.
func (f *Fleet) deliver(ctx context.Context, n *pgconn.Notification, reader *pgx.Conn) *pgx.Conn {
	if n.Channel != Channel {
		f.log.Debug("fleet: dropping a notification on another channel", "channel", n.Channel)
		return reader
	}
	env, ok := verify(f.key, n.Payload)
	if !ok {
		f.log.Debug("fleet: dropping a notification not signed with this fleet's key", "pid", n.PID, "bytes", len(n.Payload))
		return reader
	}
	m, err := decodeEnvelope(env)
	if err != nil {
		f.log.Debug("fleet: dropping a garbled notification", "pid", n.PID, "bytes", len(n.Payload), "error", err)
		return reader
	}
	if m.replica == f.id {
		return reader
	}
	if m.sessionEnded != "" {
		f.metrics.NotifyReceived()
		if receive := f.sessions.Load(); receive != nil {
			(*receive)(m.sessionEnded)
		}
		return reader
	}
	snapshot := m.snapshot
	if m.ref {
		snapshot, reader, err = f.readBody(ctx, m, reader)
		if errors.Is(err, errSuperseded) {
			f.log.Debug("fleet: skipping a superseded snapshot", "task", m.task)
			return reader
		}
		if errors.Is(err, pgx.ErrNoRows) {
			f.log.Debug("fleet: dropping a reference to a missing snapshot", "task", m.task)
			return reader
		}
		if err != nil {
			if ctx.Err() == nil {
				f.log.Warn("fleet: reading an announced snapshot failed", "task", m.task, "error", err)
			}
			return reader
		}
	}
	f.metrics.NotifyReceived()
	if receive := f.receive.Load(); receive != nil {
		(*receive)(m.task, snapshot)
	} else {
		f.log.Debug("fleet: no receiver yet, dropping an announcement", "task", m.task)
	}
	return reader
}

// readBody reads the body m refers to from fleet_snapshots on reader,
// opening it if needed and dropping it if it broke.
func (f *Fleet) readBody(ctx context.Context, m message, reader *pgx.Conn) ([]byte, *pgx.Conn, error) {
	if reader != nil && reader.IsClosed() {
		closeConn(reader)
		reader = nil
	}
	if reader == nil {
		var err error
		if reader, err = f.dial(ctx, "read"); err != nil {
			return nil, nil, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	var body string
	if err := reader.QueryRow(ctx, readBodySQL, m.task).Scan(&body); err != nil {
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) && !errors.Is(err, pgx.ErrNoRows) {
			closeConn(reader)
			reader = nil
		}
		return nil, reader, err
	}
	snapshot, err := decodeBody(m, body)
	return snapshot, reader, err
}
