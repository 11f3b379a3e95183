package watcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/internal/testkit"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// hub is an in-memory Fleet shared by the pools of a test: the database's
// advisory locks and NOTIFY, without the database (internal/fleet tests
// those against PostgreSQL).
type hub struct {
	mu      sync.Mutex
	leaders map[int64]*memberFleet
	members []*memberFleet
}

type memberFleet struct {
	h       *hub
	receive func(int64, []byte)
}

func (h *hub) join() *memberFleet {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.leaders == nil {
		h.leaders = map[int64]*memberFleet{}
	}
	m := &memberFleet{h: h}
	h.members = append(h.members, m)
	return m
}

func (m *memberFleet) Lead(_ context.Context, id int64) (bool, error) {
	m.h.mu.Lock()
	defer m.h.mu.Unlock()
	if l := m.h.leaders[id]; l != nil && l != m {
		return false, nil
	}
	m.h.leaders[id] = m
	return true, nil
}

func (m *memberFleet) Release(id int64) {
	m.h.mu.Lock()
	defer m.h.mu.Unlock()
	if m.h.leaders[id] == m {
		delete(m.h.leaders, id)
	}
}

func (m *memberFleet) Announce(_ context.Context, id int64, b []byte) error {
	m.h.mu.Lock()
	others := make([]*memberFleet, 0, len(m.h.members))
	for _, o := range m.h.members {
		if o != m && o.receive != nil {
			others = append(others, o)
		}
	}
	m.h.mu.Unlock()
	for _, o := range others {
		o.receive(id, append([]byte(nil), b...))
	}
	return nil
}

func (m *memberFleet) Follow(receive func(int64, []byte)) {
	m.h.mu.Lock()
	defer m.h.mu.Unlock()
	m.receive = receive
}

// steps is a task running from 0 to 100% in n polls, then complete.
func steps(n int) []mangrove.AsyncTask {
	var out []mangrove.AsyncTask
	for i := range n {
		out = append(out, running(i*100/n))
	}
	return append(out, mangrove.AsyncTask{State: mangrove.TaskComplete, Progress: 100})
}

func watchWithViewer(t *testing.T, p *Pool, id int64) {
	t.Helper()
	if _, err := p.Authorize(context.Background(), id, "good"); err != nil {
		t.Fatal(err)
	}
	leave, ok := p.Join(id)
	if !ok {
		t.Fatal("no watcher after Authorize")
	}
	t.Cleanup(leave)
}

// TestFleetPollsOnceForTwoPools: two replicas with viewers of one task poll
// it once per state between them; both sets of viewers see every state to
// the end.
func TestFleetPollsOnceForTwoPools(t *testing.T) {
	api := newFakeAPI(steps(20)...)
	h := &hub{}
	recA, recB := newRecorder(), newRecorder()
	a := newPool(api, recA, Options{Interval: 10 * time.Millisecond, Fleet: h.join()})
	defer a.Close()
	b := newPool(api, recB, Options{Interval: 10 * time.Millisecond, Fleet: h.join()})
	defer b.Close()

	watchWithViewer(t, a, 7)
	watchWithViewer(t, b, 7)
	waitStopped(t, recA, 7)
	waitStopped(t, recB, 7)

	for name, rec := range map[string]*recorder{"A": recA, "B": recB} {
		snaps := rec.all()
		if last := snaps[len(snaps)-1]; !last.Terminal() || last.Task.Progress != 100 {
			t.Errorf("replica %s's last snapshot: %+v", name, last.Task)
		}
		for i := 1; i < len(snaps); i++ {
			if snaps[i].Seq <= snaps[i-1].Seq {
				t.Errorf("replica %s: sequence %d then %d", name, snaps[i-1].Seq, snaps[i].Seq)
			}
		}
	}
	polls := a.Polls() + b.Polls()
	if polls > int64(len(api.steps)) || min(a.Polls(), b.Polls()) != 0 {
		t.Errorf("polls: A %d, B %d; want one replica to make them all, at most %d", a.Polls(), b.Polls(), len(api.steps))
	}
	// The checks of the token: one per replica, as without a fleet.
	if checks := api.total() - int(polls); checks != 2 {
		t.Errorf("%d token checks, want one per replica", checks)
	}
}

// TestFleetFollowerTakesOver: when the polling replica stops (closed, or
// its viewers gone), the other leads at its next tick and its viewers see
// the task to its end.
func TestFleetFollowerTakesOver(t *testing.T) {
	api := newFakeAPI(steps(40)...)
	h := &hub{}
	fleets := []*memberFleet{h.join(), h.join()}
	recs := []*recorder{newRecorder(), newRecorder()}
	pools := make([]*Pool, 2)
	for i := range pools {
		pools[i] = newPool(api, recs[i], Options{Interval: 10 * time.Millisecond, Fleet: fleets[i]})
		defer pools[i].Close()
		watchWithViewer(t, pools[i], 7)
	}
	// Whichever ticked first leads; the other follows its announcements.
	var leader, follower int
	deadline := time.Now().Add(5 * time.Second)
	for {
		h.mu.Lock()
		l := h.leaders[7]
		h.mu.Unlock()
		if l != nil {
			leader = map[*memberFleet]int{fleets[0]: 0, fleets[1]: 1}[l]
			follower = 1 - leader
			if s, ok := pools[follower].Latest(7); ok && s.Task.Progress >= 10 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the follower never saw the leader's progress")
		}
		time.Sleep(time.Millisecond)
	}
	if n := pools[follower].Polls(); n != 0 {
		t.Fatalf("the follower polled %d times while the other led", n)
	}
	pools[leader].Close()
	waitStopped(t, recs[follower], 7)
	snaps := recs[follower].all()
	if last := snaps[len(snaps)-1]; !last.Terminal() {
		t.Fatalf("the follower's last snapshot: %+v", last.Task)
	}
	if pools[follower].Polls() == 0 {
		t.Fatal("the follower never polled after the leader stopped")
	}
}

// TestFleetEndStopsFollowers: a follower stops its watcher as soon as the
// leader announces the end, without polling.
func TestFleetEndStopsFollowers(t *testing.T) {
	api := newFakeAPI(steps(3)...)
	h := &hub{}
	recA, recB := newRecorder(), newRecorder()
	a := newPool(api, recA, Options{Interval: 10 * time.Millisecond, Fleet: h.join()})
	defer a.Close()
	// B's own interval is long: only the announcement can end its watch.
	b := newPool(api, recB, Options{Interval: time.Hour, Fleet: h.join()})
	defer b.Close()
	watchWithViewer(t, a, 7)
	watchWithViewer(t, b, 7)
	waitStopped(t, recA, 7)
	waitStopped(t, recB, 7)
	if b.Polls() != 0 {
		t.Errorf("B polled %d times", b.Polls())
	}
}

func TestFleetSnapshotRoundTrip(t *testing.T) {
	desc, msg := "Processing batch 2 of 3", "boom"
	start := time.Date(2026, 12, 1, 5, 0, 0, 0, time.UTC)
	for _, s := range []Snapshot{
		{Task: mangrove.AsyncTask{ID: 7, State: mangrove.TaskRunning, Progress: 40, ProgressDescription: &desc, StartedAt: &start}, ObservedAt: start, Remaining: 3 * time.Second},
		{Task: mangrove.AsyncTask{ID: 7, State: mangrove.TaskFailed, Progress: 60, ErrorMessage: &msg, StartedAt: &start, FinishedAt: &start}, ObservedAt: start},
		{Task: mangrove.AsyncTask{ID: 7, State: "paused"}, ObservedAt: start, Retrying: "Mangrove is not answering", GaveUp: "Stopped following"},
	} {
		b, err := encodeFleetSnapshot(s)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeFleetSnapshot(7, b)
		if err != nil {
			t.Fatal(err)
		}
		if !sameTask(got.Task, s.Task) || !got.ObservedAt.Equal(s.ObservedAt) || got.Retrying != s.Retrying ||
			got.GaveUp != s.GaveUp || got.Remaining != s.Remaining {
			t.Errorf("round trip of %+v gave %+v", s, got)
		}
		if _, err := decodeFleetSnapshot(8, b); err == nil {
			t.Error("a snapshot of task 7 was accepted for task 8")
		}
	}
	for _, bad := range []string{``, `null`, `{}`, `{"v":2,"task":{"id":7}}`, `[]`, `{"v":1,"task":{"id":"7"}}`} {
		if _, err := decodeFleetSnapshot(7, []byte(bad)); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
}

func FuzzDecodeFleetSnapshot(f *testing.F) {
	f.Add(int64(7), []byte(`{"v":1,"task":{"id":7,"state":"running","progress":40},"observed_at":"2026-12-01T05:00:00Z","remaining_ns":-5}`))
	f.Add(int64(7), []byte(`{"v":1,"task":{"id":7,"state":"complete","progress":100,"finished_at":"2026-12-01T05:00:00Z"}}`))
	f.Fuzz(func(t *testing.T, id int64, b []byte) {
		s, err := decodeFleetSnapshot(id, b)
		if err != nil {
			return
		}
		if s.Task.ID != id || s.Remaining < 0 {
			t.Fatalf("decoded %+v for task %d", s, id)
		}
		again, err := encodeFleetSnapshot(s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decodeFleetSnapshot(id, again); err != nil {
			t.Fatalf("re-encoded snapshot does not decode: %v", err)
		}
	})
}

// TestFleetIgnoresStaleAnnouncements: a late announcement (older than the
// state held) or one after the end never takes the viewers back; a fresh
// one is published from the watcher's goroutine, marked relayed.
func TestFleetIgnoresStaleAnnouncements(t *testing.T) {
	api := newFakeAPI(running(10))
	h := &hub{}
	rec := newRecorder()
	p := newPool(api, rec, Options{Interval: time.Hour, Fleet: h.join()})
	defer p.Close()
	watchWithViewer(t, p, 7)
	held, _ := p.Latest(7)
	announce := func(s Snapshot) {
		t.Helper()
		s.Task.ID = 7
		b, err := encodeFleetSnapshot(s)
		if err != nil {
			t.Fatal(err)
		}
		p.receive(7, b)
	}
	waitPublished := func(progress int) Snapshot {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			for _, s := range rec.all() {
				if s.Task.Progress == progress {
					return s.Snapshot
				}
			}
			time.Sleep(time.Millisecond)
		}
		t.Fatalf("no snapshot at %d%% published", progress)
		return Snapshot{}
	}

	announce(Snapshot{Task: running(50), ObservedAt: held.ObservedAt.Add(time.Second)})
	if s := waitPublished(50); !s.Relayed || s.Seq != held.Seq+1 {
		t.Fatalf("the fresh announcement published as %+v, want relayed with the next seq", s)
	}
	announce(Snapshot{Task: running(30), ObservedAt: held.ObservedAt.Add(500 * time.Millisecond)}) // late
	done := mangrove.AsyncTask{State: mangrove.TaskComplete, Progress: 100}
	announce(Snapshot{Task: done, ObservedAt: held.ObservedAt.Add(2 * time.Second)})
	waitStopped(t, rec, 7)
	announce(Snapshot{Task: running(95), ObservedAt: held.ObservedAt.Add(3 * time.Second)}) // after the end
	var progress []int
	for _, s := range rec.all() {
		progress = append(progress, s.Task.Progress)
	}
	if fmt.Sprint(progress) != "[50 100]" {
		t.Fatalf("published progress %v, want [50 100]: the late and the after-the-end states ignored", progress)
	}
	if api.total() != 1 {
		t.Errorf("%d API calls, want the token check only", api.total())
	}
}

// downFleet is a fleet whose database does not answer.
type downFleet struct{ memberFleet }

func (downFleet) Lead(context.Context, int64) (bool, error) {
	return false, errors.New("database down")
}

// TestFleetDownPollsHereAndSaysSoOnce: when the database cannot say who
// leads, the replica polls its viewers' task itself, and says so once, not
// at every tick.
func TestFleetDownPollsHereAndSaysSoOnce(t *testing.T) {
	api := newFakeAPI(steps(10)...)
	var logs testkit.Buffer
	rec := newRecorder()
	p := newPool(api, rec, Options{Interval: 10 * time.Millisecond, Fleet: &downFleet{memberFleet{h: &hub{}}},
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	defer p.Close()
	watchWithViewer(t, p, 7)
	waitStopped(t, rec, 7)
	if p.Polls() < 10 {
		t.Fatalf("%d polls; want the task polled here to its end", p.Polls())
	}
	if n := strings.Count(logs.String(), "cannot tell whether another replica polls"); n != 1 {
		t.Errorf("the outage was logged %d times, want once:\n%s", n, logs.String())
	}
}
