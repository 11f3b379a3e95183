package fleet_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/carbon-dash/mangrove-dashboard/internal/fleet"
	"github.com/carbon-dash/mangrove-dashboard/internal/pgtest"
	"github.com/carbon-dash/mangrove-dashboard/watcher"
)

var _ watcher.Fleet = (*fleet.Fleet)(nil)

// waitFor bounds every wait of these tests.
const waitFor = 15 * time.Second

type counts struct {
	acquired, lost, sent, received, overflow atomic.Int64
}

func (c *counts) LeadAcquired()   { c.acquired.Add(1) }
func (c *counts) LeadLost()       { c.lost.Add(1) }
func (c *counts) NotifySent()     { c.sent.Add(1) }
func (c *counts) NotifyReceived() { c.received.Add(1) }
func (c *counts) NotifyOverflow() { c.overflow.Add(1) }

type announcement struct {
	task     int64
	snapshot []byte
}

// member is a Fleet with its metrics and the announcements it received.
type member struct {
	*fleet.Fleet
	counts *counts
	inbox  chan announcement
}

// testKey signs the test fleets' announcements.
var testKey = []byte(strings.Repeat("k", fleet.MinKeyLen))

// setup returns the URL of a fresh database with the fleet_snapshots table.
func setup(t *testing.T) string {
	t.Helper()
	url := pgtest.URL(t)
	admin := connect(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if _, err := admin.Exec(ctx, `CREATE TABLE IF NOT EXISTS fleet_snapshots (task_id BIGINT PRIMARY KEY, body TEXT NOT NULL, updated_at TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	return url
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func open(t *testing.T, url, name string) *member {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	m := &member{counts: &counts{}, inbox: make(chan announcement, 1000)}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})).With("member", name)
	f, err := fleet.Open(ctx, url, fleet.Options{Key: testKey, Logger: log, Metrics: m.counts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Errorf("%s.Close: %v", name, err)
		}
	})
	f.Follow(func(task int64, snapshot []byte) {
		m.inbox <- announcement{task, bytes.Clone(snapshot)}
	})
	m.Fleet = f
	return m
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), waitFor)
	t.Cleanup(cancel)
	return c
}

func lead(t *testing.T, m *member, task int64) bool {
	t.Helper()
	ok, err := m.Lead(ctx(t), task)
	if err != nil {
		t.Fatalf("Lead(%d): %v", task, err)
	}
	return ok
}

func announce(t *testing.T, m *member, task int64, snapshot []byte) {
	t.Helper()
	if err := m.Announce(ctx(t), task, snapshot); err != nil {
		t.Fatalf("Announce(%d): %v", task, err)
	}
}

// receive waits for m's next announcement.
func receive(t *testing.T, m *member) announcement {
	t.Helper()
	select {
	case a := <-m.inbox:
		return a
	case <-time.After(waitFor):
		t.Fatal("no announcement received")
		return announcement{}
	}
}

// eventually calls cond until it is true, failing the test at the deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func terminate(t *testing.T, admin *pgx.Conn, pid uint32) {
	t.Helper()
	var ok bool
	// With a timeout (PostgreSQL 14+) it returns once the backend is gone.
	err := admin.QueryRow(ctx(t), `SELECT pg_terminate_backend($1, $2)`, int64(pid), waitFor.Milliseconds()).Scan(&ok)
	if err != nil || !ok {
		t.Fatalf("pg_terminate_backend(%d) = %v, %v", pid, ok, err)
	}
}

func TestLeadIsExclusive(t *testing.T) {
	url := setup(t)
	a, b := open(t, url, "a"), open(t, url, "b")

	if !lead(t, a, 7) {
		t.Fatal("A.Lead(7) = false on a free task")
	}
	if lead(t, b, 7) {
		t.Fatal("B.Lead(7) = true while A leads it")
	}
	if !lead(t, b, 8) {
		t.Fatal("B.Lead(8) = false on a free task")
	}
	trips := a.LeadRoundTrips()
	for range 3 {
		if !lead(t, a, 7) {
			t.Fatal("A.Lead(7) = false while leading it")
		}
	}
	if got := a.LeadRoundTrips(); got != trips {
		t.Errorf("A.Lead(7) while leading ran %d statements, want none", got-trips)
	}
	if a.Leading() != 1 || b.Leading() != 1 {
		t.Errorf("Leading() = %d, %d; want 1, 1", a.Leading(), b.Leading())
	}

	a.Release(7)
	a.Release(7)    // no-op
	a.Release(1234) // never led: no-op
	if a.Leading() != 0 {
		t.Errorf("A.Leading() = %d after Release, want 0", a.Leading())
	}
	if !lead(t, b, 7) {
		t.Fatal("B.Lead(7) = false after A released it")
	}
	if lead(t, a, 7) {
		t.Fatal("A.Lead(7) = true while B leads it")
	}
	if got := a.counts.acquired.Load(); got != 1 {
		t.Errorf("A LeadAcquired = %d, want 1", got)
	}
	if got := b.counts.acquired.Load(); got != 2 {
		t.Errorf("B LeadAcquired = %d, want 2", got)
	}
	if err := a.Ping(ctx(t)); err != nil {
		t.Errorf("A.Ping: %v", err)
	}
}

func TestAnnounceRequiresLead(t *testing.T) {
	url := setup(t)
	a := open(t, url, "a")
	if err := a.Announce(ctx(t), 7, []byte(`{}`)); !errors.Is(err, fleet.ErrNotLeading) {
		t.Errorf("Announce of a task not led: %v, want ErrNotLeading", err)
	}
	lead(t, a, 7)
	a.Release(7)
	if err := a.Announce(ctx(t), 7, []byte(`{}`)); !errors.Is(err, fleet.ErrNotLeading) {
		t.Errorf("Announce of a released task: %v, want ErrNotLeading", err)
	}
}

func TestAnnouncementsReachOthersInOrder(t *testing.T) {
	url := setup(t)
	a, b := open(t, url, "a"), open(t, url, "b")
	lead(t, a, 7)
	lead(t, b, 8)

	var sent [][]byte
	for i := range 100 {
		s := fmt.Appendf(nil, `{"seq":%d,"state":"running","note":"<&> ünï"}`, i)
		if i%10 == 9 {
			s = fmt.Appendf(nil, "not json \x00\xff %d", i) // opaque bytes travel too
		}
		sent = append(sent, s)
		announce(t, a, 7, s)
	}
	for i, want := range sent {
		got := receive(t, b)
		if got.task != 7 || !bytes.Equal(got.snapshot, want) {
			t.Fatalf("B's announcement %d = %d %q, want 7 %q", i, got.task, got.snapshot, want)
		}
	}
	// A heard its own 100 before B's marker, and must have dropped them.
	announce(t, b, 8, []byte(`"marker"`))
	if got := receive(t, a); got.task != 8 || string(got.snapshot) != `"marker"` {
		t.Fatalf("A received %d %q, want only B's marker", got.task, got.snapshot)
	}
	// Likewise B heard its marker before A's reply.
	announce(t, a, 7, []byte(`"reply"`))
	if got := receive(t, b); got.task != 7 || string(got.snapshot) != `"reply"` {
		t.Fatalf("B received %d %q, want only A's reply", got.task, got.snapshot)
	}
	if got := b.counts.received.Load(); got != 101 {
		t.Errorf("B NotifyReceived = %d, want 101", got)
	}
	if got := a.counts.sent.Load(); got != 101 {
		t.Errorf("A NotifySent = %d, want 101", got)
	}
}

func TestOverflowGoesThroughTable(t *testing.T) {
	url := setup(t)
	a, b := open(t, url, "a"), open(t, url, "b")
	lead(t, a, 9)

	big := []byte(`{"rows":"` + strings.Repeat("x", 20<<10) + `"}`)
	announce(t, a, 9, big)
	if got := receive(t, b); got.task != 9 || !bytes.Equal(got.snapshot, big) {
		t.Fatalf("B received %d (%d bytes), want 9 (%d bytes) intact", got.task, len(got.snapshot), len(big))
	}
	if got := a.counts.overflow.Load(); got != 1 {
		t.Errorf("A NotifyOverflow = %d, want 1", got)
	}

	// Not UTF-8: the table holds it base64.
	binary := bytes.Repeat([]byte{0, 0xff, 'a'}, 10<<10)
	announce(t, a, 9, binary)
	if got := receive(t, b); !bytes.Equal(got.snapshot, binary) {
		t.Fatalf("B received %d bytes, want the %d binary bytes intact", len(got.snapshot), len(binary))
	}

	// Just over and just under the inline limit.
	for _, n := range []int{fleet.MaxInlinePayload - 100, fleet.MaxInlinePayload - 20, fleet.MaxInlinePayload + 1} {
		s := []byte(`"` + strings.Repeat("y", n) + `"`)
		announce(t, a, 9, s)
		if got := receive(t, b); !bytes.Equal(got.snapshot, s) {
			t.Fatalf("a %d-byte snapshot arrived as %d bytes", len(s), len(got.snapshot))
		}
	}
	if got := a.counts.overflow.Load(); got != 4 {
		t.Errorf("A NotifyOverflow = %d, want 4", got)
	}

	// The table keeps recent tasks only: an overflowing announcement deletes
	// other tasks' rows older than a day, and keeps its own and recent ones.
	admin := connect(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	old := time.Now().Add(-26 * time.Hour).UTC().Format("2006-01-02T15:04:05.000000000Z")
	recent := time.Now().Add(-time.Hour).UTC().Format("2006-01-02T15:04:05.000000000Z")
	if _, err := admin.Exec(ctx, `INSERT INTO fleet_snapshots (task_id, body, updated_at) VALUES (100, 'x', $1), (101, 'x', $2)`, old, recent); err != nil {
		t.Fatal(err)
	}
	announce(t, a, 9, big)
	receive(t, b)
	rows, err := admin.Query(ctx, `SELECT task_id FROM fleet_snapshots ORDER BY task_id`)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ids) != "[9 101]" {
		t.Errorf("fleet_snapshots holds tasks %v, want [9 101]: the day-old row of task 100 deleted", ids)
	}
}

// TestOverflowKeepsOrder announces large and small snapshots in quick
// succession: a large one may be skipped when a newer one replaced its row
// before B read it, but B never sees an older snapshot after a newer one,
// and the last one always arrives.
func TestOverflowKeepsOrder(t *testing.T) {
	url := setup(t)
	a, b := open(t, url, "a"), open(t, url, "b")
	lead(t, a, 9)

	const n = 40
	for i := range n {
		pad := ""
		if i%2 == 0 {
			pad = strings.Repeat("z", 10<<10)
		}
		announce(t, a, 9, fmt.Appendf(nil, `{"seq":%d,"pad":"%s"}`, i, pad))
	}
	last := -1
	for last != n-1 {
		got := receive(t, b)
		var seq int
		if _, err := fmt.Sscanf(string(got.snapshot), `{"seq":%d,`, &seq); err != nil {
			t.Fatalf("unexpected snapshot %.40q: %v", got.snapshot, err)
		}
		if seq <= last {
			t.Fatalf("snapshot %d arrived after %d", seq, last)
		}
		if seq%2 == 1 && seq != last+1 && seq != last+2 {
			t.Fatalf("small snapshot(s) before %d, after %d, went missing", seq, last)
		}
		last = seq
	}
}

func TestFailover(t *testing.T) {
	url := setup(t)
	admin := connect(t, url)
	a, b := open(t, url, "a"), open(t, url, "b")

	if !lead(t, a, 7) || !lead(t, a, 70) {
		t.Fatal("A cannot lead free tasks")
	}
	if lead(t, b, 7) {
		t.Fatal("B.Lead(7) = true while A leads it")
	}
	oldPID := a.LockPID()
	terminate(t, admin, oldPID)

	// B, polling as a follower does, takes over.
	eventually(t, "B to lead task 7", func() bool { return lead(t, b, 7) })

	// A notices the loss (its check, or this call) and, reconnected,
	// finds B leading.
	eventually(t, "A to see it lost task 7", func() bool { return !lead(t, a, 7) })
	if got := a.counts.lost.Load(); got != 2 {
		t.Errorf("A LeadLost = %d, want 2 (tasks 7 and 70)", got)
	}
	if pid := a.LockPID(); pid == 0 || pid == oldPID {
		t.Errorf("A's lock connection pid = %d after reconnecting, old %d", pid, oldPID)
	}
	if err := a.Announce(ctx(t), 7, []byte(`{}`)); !errors.Is(err, fleet.ErrNotLeading) {
		t.Errorf("A.Announce(7) after losing it: %v, want ErrNotLeading", err)
	}
	// Task 70 was lost too, and nobody took it: A leads it again.
	if !lead(t, a, 70) {
		t.Error("A.Lead(70) = false on a task nobody leads")
	}
	if a.Leading() != 1 {
		t.Errorf("A.Leading() = %d, want 1", a.Leading())
	}
	if err := a.Ping(ctx(t)); err != nil {
		t.Errorf("A.Ping after reconnecting: %v", err)
	}
}

// TestLeadNoticesLossWhenAnnouncing: the first use of a broken lock
// connection gives its leads up at once.
func TestAnnounceNoticesLoss(t *testing.T) {
	url := setup(t)
	admin := connect(t, url)
	a := open(t, url, "a")
	lead(t, a, 7)
	terminate(t, admin, a.LockPID())
	// The first announcement may fail on the broken connection, or find
	// the lead already given up by the check; the next is refused either way.
	eventually(t, "A to give up its lead", func() bool {
		return errors.Is(a.Announce(ctx(t), 7, []byte(`{}`)), fleet.ErrNotLeading)
	})
	if a.Leading() != 0 || a.counts.lost.Load() != 1 {
		t.Errorf("Leading() = %d, LeadLost = %d; want 0, 1", a.Leading(), a.counts.lost.Load())
	}
	if !lead(t, a, 7) {
		t.Error("A cannot lead again after reconnecting")
	}
}

func TestListenerSurvivesTermination(t *testing.T) {
	url := setup(t)
	admin := connect(t, url)
	a, b := open(t, url, "a"), open(t, url, "b")
	lead(t, a, 7)

	announce(t, a, 7, []byte(`{"n":-1}`))
	receive(t, b)

	oldPID := b.ListenPID()
	terminate(t, admin, oldPID)

	// Announce until one gets through the new listen connection.
	deadline := time.Now().Add(waitFor)
	for n := 0; ; n++ {
		if time.Now().After(deadline) {
			t.Fatal("B never received an announcement after its listen connection was terminated")
		}
		announce(t, a, 7, fmt.Appendf(nil, `{"n":%d}`, n))
		select {
		case got := <-b.inbox:
			if got.task != 7 {
				t.Fatalf("B received task %d, want 7", got.task)
			}
		case <-time.After(100 * time.Millisecond):
			continue
		}
		break
	}
	if pid := b.ListenPID(); pid == oldPID {
		t.Errorf("B's listen pid is still %d", pid)
	}
	eventually(t, "B.Ping to succeed", func() bool { return b.Ping(ctx(t)) == nil })
}

func TestCloseReleasesLocks(t *testing.T) {
	url := setup(t)
	a, b := open(t, url, "a"), open(t, url, "b")
	for task := range int64(3) {
		if !lead(t, a, task) {
			t.Fatalf("A.Lead(%d) = false", task)
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	for task := range int64(3) {
		if !lead(t, b, task) { // at once: Close unlocked before returning
			t.Errorf("B.Lead(%d) = false after A closed", task)
		}
	}
	if err := a.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := a.Lead(ctx(t), 5); !errors.Is(err, fleet.ErrClosed) {
		t.Errorf("Lead after Close: %v, want ErrClosed", err)
	}
	if err := a.Announce(ctx(t), 0, []byte(`{}`)); !errors.Is(err, fleet.ErrClosed) {
		t.Errorf("Announce after Close: %v, want ErrClosed", err)
	}
	if err := a.Ping(ctx(t)); !errors.Is(err, fleet.ErrClosed) {
		t.Errorf("Ping after Close: %v, want ErrClosed", err)
	}
	a.Release(0) // no-op
	if a.Leading() != 0 {
		t.Errorf("Leading() after Close = %d", a.Leading())
	}
}

func TestGarbledNotificationsAreDropped(t *testing.T) {
	url := setup(t)
	admin := connect(t, url)
	a, b := open(t, url, "a"), open(t, url, "b")
	lead(t, a, 7)

	garbled := []string{
		`not json`, ``, `{}`, `null`, `{"r":"x","t":1}`, `{"r":"x","t":"1","s":1}`,
		`{"r":"x","t":1,"b":"!!"}`, `{"r":"x","t":1,"ref":true,"h":"nope"}`,
		// A reference to a row that does not exist is dropped as well.
		`{"r":"x","t":424242,"ref":true,"h":"` + strings.Repeat("0", 64) + `"}`,
	}
	var payloads []string
	for _, env := range garbled {
		payloads = append(payloads, fleet.Sign(testKey, env)) // signed, so the decoder sees them
	}
	// Well-formed but not signed with the fleet's key: a forged end of
	// task 7 and a forged sign-out, unsigned or signed with another key.
	forged := `{"r":"x","t":7,"s":{"state":"complete"}}`
	payloads = append(payloads, forged, fleet.Sign([]byte(strings.Repeat("z", 32)), forged),
		fleet.Sign([]byte(strings.Repeat("z", 32)), `{"r":"x","se":"`+strings.Repeat("ab", 32)+`"}`),
		strings.Repeat("0", 64)+"."+forged)
	for _, payload := range payloads {
		if _, err := admin.Exec(ctx(t), `SELECT pg_notify('mangrove_dashboard_tasks', $1)`, payload); err != nil {
			t.Fatal(err)
		}
	}
	announce(t, a, 7, []byte(`{"valid":true}`))
	if got := receive(t, b); got.task != 7 || string(got.snapshot) != `{"valid":true}` {
		t.Fatalf("B received %d %q, want the valid announcement first", got.task, got.snapshot)
	}
	if got := b.counts.received.Load(); got != 1 {
		t.Errorf("B NotifyReceived = %d, want 1", got)
	}
}

func TestOpenFails(t *testing.T) {
	url := setup(t)
	ctx := ctx(t)
	if _, err := fleet.Open(ctx, "postgres://\x00bad", fleet.Options{Key: testKey}); err == nil {
		t.Error("Open of a bad URL succeeded")
	}
	bad := strings.Replace(url, "/t_", "/missing_t_", 1)
	if _, err := fleet.Open(ctx, bad, fleet.Options{Key: testKey}); err == nil {
		t.Error("Open of a missing database succeeded")
	}
	if _, err := fleet.Open(ctx, url, fleet.Options{Key: testKey[:fleet.MinKeyLen-1]}); err == nil {
		t.Error("Open with a short key succeeded")
	}
}

func TestNoGoroutineLeak(t *testing.T) {
	url := setup(t)
	admin := connect(t, url)
	before := runtime.NumGoroutine()

	for range 3 {
		ctx := ctx(t)
		a, err := fleet.Open(ctx, url, fleet.Options{Key: testKey})
		if err != nil {
			t.Fatal(err)
		}
		a.Follow(func(int64, []byte) {})
		if ok, err := a.Lead(ctx, 1); !ok || err != nil {
			t.Fatalf("Lead = %v, %v", ok, err)
		}
		if err := a.Announce(ctx, 1, bytes.Repeat([]byte("a"), 9000)); err != nil {
			t.Fatal(err)
		}
		terminate(t, admin, a.ListenPID()) // leave it reconnecting
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}

// A caller giving up must not break the shared lock connection.
func TestCanceledCallerKeepsLeads(t *testing.T) {
	url := setup(t)
	a := open(t, url, "a")
	lead(t, a, 7)
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := a.Lead(canceled, 8); !errors.Is(err, context.Canceled) {
		t.Errorf("Lead with a canceled context: %v", err)
	}
	if err := a.Announce(canceled, 7, []byte(`{}`)); !errors.Is(err, context.Canceled) {
		t.Errorf("Announce with a canceled context: %v", err)
	}
	if !lead(t, a, 7) || a.counts.lost.Load() != 0 {
		t.Errorf("lead of task 7 lost (LeadLost = %d)", a.counts.lost.Load())
	}
	announce(t, a, 7, []byte(`{}`))
}

// TestSignOutsReachOthers: a sign-out announced by one replica reaches the
// others' session receivers (not its own), by the hash of the session id,
// and leaves the task receivers alone.
func TestSignOutsReachOthers(t *testing.T) {
	url := setup(t)
	a, b := open(t, url, "a"), open(t, url, "b")
	ended := make(chan string, 10)
	a.FollowSessionEnds(func(h string) { ended <- "a:" + h })
	b.FollowSessionEnds(func(h string) { ended <- "b:" + h })
	hash := strings.Repeat("ab", 32)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := a.AnnounceSessionEnded(ctx, hash); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-ended:
		if got != "b:"+hash {
			t.Fatalf("received %q, want B to hear %s", got, hash)
		}
	case <-time.After(waitFor):
		t.Fatal("B never heard the sign-out")
	}
	if err := a.AnnounceSessionEnded(ctx, "not-a-hash"); err == nil {
		t.Error("a sign-out named by something other than a hash was announced")
	}
	// A's own announcement never comes back to A, and no task receiver ran.
	lead(t, b, 9)
	announce(t, b, 9, []byte(`"marker"`))
	if got := receive(t, a); got.task != 9 {
		t.Fatalf("A received task %d, want B's marker", got.task)
	}
	select {
	case got := <-ended:
		t.Fatalf("unexpected sign-out %q", got)
	default:
	}
}
