package watcher

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// fakeAPI serves a scripted task: each poll advances it one step.
type fakeAPI struct {
	mu      sync.Mutex
	calls   map[string]int
	steps   []mangrove.AsyncTask
	pos     int
	fail    int // the next fail calls return an error
	allowed map[string]bool
}

func newFakeAPI(steps ...mangrove.AsyncTask) *fakeAPI {
	return &fakeAPI{calls: map[string]int{}, steps: steps, allowed: map[string]bool{"good": true, "also-good": true}}
}

func (f *fakeAPI) AsyncTask(_ context.Context, token string, id int64) (*mangrove.AsyncTask, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[token]++
	if !f.allowed[token] {
		return nil, &mangrove.APIError{Status: 404, Message: "Record not found."}
	}
	if f.fail > 0 {
		f.fail--
		return nil, &mangrove.APIError{Status: 503, Message: "down"}
	}
	t := f.steps[f.pos]
	if f.pos < len(f.steps)-1 {
		f.pos++
	}
	t.ID = id
	return &t, nil
}

func (f *fakeAPI) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		n += c
	}
	return n
}

type recorder struct {
	mu      sync.Mutex
	snaps   []recorded
	stopped chan int64
}

func newRecorder() *recorder { return &recorder{stopped: make(chan int64, 100)} }

func (r *recorder) Publish(_ int64, s Snapshot) {
	r.mu.Lock()
	r.snaps = append(r.snaps, recorded{Snapshot: s, at: publishOrder.Add(1)})
	r.mu.Unlock()
}

// publishOrder numbers the publications every recorder receives.
var publishOrder atomic.Int64

// recorded is a snapshot with its place among all publications.
type recorded struct {
	Snapshot
	at int64
}

func (r *recorder) Stopped(id int64) { r.stopped <- id }

func (r *recorder) all() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.snaps...)
}

func running(p int) mangrove.AsyncTask {
	return mangrove.AsyncTask{State: mangrove.TaskRunning, Progress: p}
}

func waitStopped(t *testing.T, r *recorder, id int64) {
	t.Helper()
	select {
	case got := <-r.stopped:
		if got != id {
			t.Fatalf("stopped %d, want %d", got, id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watcher did not stop")
	}
}

func TestSharedPollerUntilTerminal(t *testing.T) {
	api := newFakeAPI(running(0), running(30), running(60), mangrove.AsyncTask{State: mangrove.TaskComplete, Progress: 100})
	rec := newRecorder()
	p := newPool(api, rec, Options{Interval: 10 * time.Millisecond})
	defer p.Close()

	ctx := context.Background()
	for range 10 { // ten viewers with one token
		if _, err := p.Authorize(ctx, 7, "good"); err != nil {
			t.Fatal(err)
		}
	}
	if n := api.calls["good"]; n != 1 {
		t.Fatalf("ten authorisations with one token made %d calls, want 1", n)
	}
	leave, ok := p.Join(7)
	if !ok {
		t.Fatal("no watcher after Authorize")
	}
	defer leave()
	waitStopped(t, rec, 7)

	snaps := rec.all()
	last := snaps[len(snaps)-1]
	if !last.Terminal() || last.Task.Progress != 100 {
		t.Fatalf("last snapshot %+v", last.Task)
	}
	for i := 1; i < len(snaps); i++ {
		if snaps[i].Seq <= snaps[i-1].Seq {
			t.Fatalf("sequence not increasing: %d then %d", snaps[i-1].Seq, snaps[i].Seq)
		}
	}
	if api.total() != 4 {
		t.Errorf("%d upstream calls for 4 states, want 4", api.total())
	}
}

func TestAuthorizeChecksEachToken(t *testing.T) {
	api := newFakeAPI(running(10))
	p := newPool(api, newRecorder(), Options{Interval: time.Hour})
	defer p.Close()
	ctx := context.Background()
	if _, err := p.Authorize(ctx, 1, "good"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Authorize(ctx, 1, "stranger"); !errors.Is(err, mangrove.ErrNotFound) {
		t.Fatalf("a token that cannot read the task: %v, want not found", err)
	}
	if _, err := p.Authorize(ctx, 1, "also-good"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Authorize(ctx, 1, "stranger"); err == nil {
		t.Fatal("a refused token was let in on its second try")
	}
	if api.calls["also-good"] != 1 || api.calls["stranger"] != 2 {
		t.Fatalf("calls %v", api.calls)
	}
}

func TestBackoffTellsViewersAndRecovers(t *testing.T) {
	api := newFakeAPI(running(10), running(50), mangrove.AsyncTask{State: mangrove.TaskComplete, Progress: 100})
	rec := newRecorder()
	p := newPool(api, rec, Options{Interval: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	defer p.Close()
	if _, err := p.Authorize(context.Background(), 3, "good"); err != nil {
		t.Fatal(err)
	}
	api.mu.Lock()
	api.fail = 4
	api.mu.Unlock()
	waitStopped(t, rec, 3)
	var sawRetry bool
	for _, s := range rec.all() {
		if s.Retrying != "" {
			sawRetry = true
		}
	}
	last := rec.all()[len(rec.all())-1]
	if !sawRetry {
		t.Error("viewers were never told the watcher is retrying")
	}
	if last.Retrying != "" || last.Task.State != mangrove.TaskComplete {
		t.Errorf("final snapshot %+v retrying %q", last.Task, last.Retrying)
	}
}

func TestIdleWatcherStops(t *testing.T) {
	api := newFakeAPI(running(10))
	rec := newRecorder()
	p := newPool(api, rec, Options{Interval: 5 * time.Millisecond, IdleTimeout: 30 * time.Millisecond})
	defer p.Close()
	if _, err := p.Authorize(context.Background(), 9, "good"); err != nil {
		t.Fatal(err)
	}
	leave, _ := p.Join(9)
	time.Sleep(60 * time.Millisecond)
	if p.Active() != 1 {
		t.Fatal("watcher stopped while watched")
	}
	leave()
	waitStopped(t, rec, 9)
	if p.Active() != 0 {
		t.Fatal("watcher still registered")
	}
}

func TestTrackedWatcherIgnoresIdle(t *testing.T) {
	api := newFakeAPI(running(10), running(20), running(30), running(40), running(50), mangrove.AsyncTask{State: mangrove.TaskFailed, Progress: 50})
	rec := newRecorder()
	p := newPool(api, rec, Options{Interval: 10 * time.Millisecond, IdleTimeout: time.Millisecond})
	defer p.Close()
	if err := p.Track(context.Background(), 4, "good"); err != nil {
		t.Fatal(err)
	}
	waitStopped(t, rec, 4)
	if last := rec.all()[len(rec.all())-1]; last.Task.State != mangrove.TaskFailed {
		t.Fatalf("tracked watcher stopped before the end: %+v", last.Task)
	}
}

func TestEstimate(t *testing.T) {
	now := time.Now()
	first := &progressMark{at: now.Add(-10 * time.Second), progress: 0}
	got := estimate(first, now, running(50))
	if got < 9*time.Second || got > 11*time.Second {
		t.Fatalf("50%% in 10s should leave about 10s, got %s", got)
	}
	if estimate(first, now, running(0)) != 0 {
		t.Fatal("no progress should give no estimate")
	}
	if estimate(nil, now, running(50)) != 0 {
		t.Fatal("no first observation should give no estimate")
	}
}

func TestBackoffIsCapped(t *testing.T) {
	for f := 1; f < 40; f++ {
		if d := backoff(time.Second, 30*time.Second, f); d > 33*time.Second || d <= 0 {
			t.Fatalf("failure %d: backoff %s", f, d)
		}
	}
}

func TestPollBudgetStretchesTheInterval(t *testing.T) {
	api := newFakeAPI(running(10))
	p := newPool(api, newRecorder(), Options{Interval: 2 * time.Second, PollBudget: 600})
	defer p.Close()
	ctx := context.Background()
	for id := int64(1); id <= 50; id++ {
		if _, err := p.Authorize(ctx, id, "good"); err != nil {
			t.Fatal(err)
		}
	}
	p.mu.Lock()
	w := p.watchers[1]
	p.mu.Unlock()
	// 50 watchers on one token at 600 polls a minute: one poll each per 5s.
	if got := p.interval(w); got != 5*time.Second {
		t.Fatalf("interval with 50 watchers: %s, want 5s", got)
	}
	if rate := 50 * time.Minute / p.interval(w); rate > 600 {
		t.Fatalf("%d polls a minute exceed the budget", rate)
	}
	if _, err := p.Authorize(ctx, 99, "also-good"); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	other := p.watchers[99]
	p.mu.Unlock()
	if got := p.interval(other); got != 2*time.Second {
		t.Fatalf("another token's lone watcher: %s, want the plain 2s", got)
	}
}

func TestCurrentRefreshesAStaleState(t *testing.T) {
	api := newFakeAPI(running(10), mangrove.AsyncTask{State: mangrove.TaskComplete, Progress: 100})
	rec := newRecorder()
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	p := newPool(api, rec, Options{Interval: time.Hour, Now: clock})
	defer p.Close()
	ctx := context.Background()
	if _, err := p.Authorize(ctx, 5, "good"); err != nil {
		t.Fatal(err)
	}
	snap, _ := p.Current(ctx, 5, "good", time.Second)
	if snap.Task.State != mangrove.TaskRunning || api.total() != 1 {
		t.Fatalf("a fresh state should be served as is: %s after %d calls", snap.Task.State, api.total())
	}
	mu.Lock()
	now = now.Add(2 * time.Second)
	mu.Unlock()
	snap, _ = p.Current(ctx, 5, "good", time.Second)
	if snap.Task.State != mangrove.TaskComplete || api.total() != 2 {
		t.Fatalf("a stale state should be refreshed: %s after %d calls", snap.Task.State, api.total())
	}
	if last := rec.all(); len(last) == 0 || !last[len(last)-1].Terminal() {
		t.Fatal("the refreshed terminal state was not published to the streams")
	}
}

func newPool(getter TaskGetter, pub Publisher, opts Options) *Pool {
	p := NewPool(getter, opts)
	p.Subscribe(pub)
	return p
}

// TestEverySubscriberGetsChanges: the streams and the audit both receive each
// change, and a task seen finished without a watcher is published too, so its
// end is recorded even when it ended while nobody watched.
func TestEverySubscriberGetsChanges(t *testing.T) {
	api := newFakeAPI(running(10), mangrove.AsyncTask{State: mangrove.TaskComplete, Progress: 100})
	first, second := newRecorder(), newRecorder()
	p := NewPool(api, Options{Interval: 5 * time.Millisecond})
	p.Subscribe(first)
	p.Subscribe(second)
	defer p.Close()
	if err := p.Track(context.Background(), 1, "good"); err != nil {
		t.Fatal(err)
	}
	waitStopped(t, first, 1)
	waitStopped(t, second, 1)
	for _, r := range []*recorder{first, second} {
		snaps := r.all()
		if len(snaps) == 0 || !snaps[len(snaps)-1].Terminal() {
			t.Fatalf("a subscriber got %+v, want the end last", snaps)
		}
	}
	// In the order they subscribed: the audit can record an end before the
	// streams tell viewers about it.
	if f, s := first.all(), second.all(); len(f) == 0 || len(s) == 0 || f[len(f)-1].at > s[len(s)-1].at {
		t.Error("the second subscriber heard of the end before the first")
	}

	// Task 2 is already finished when first looked at: nothing to watch,
	// but its end reaches the subscribers once per look.
	done := newFakeAPI(mangrove.AsyncTask{State: mangrove.TaskFailed})
	rec := newRecorder()
	q := NewPool(done, Options{Interval: time.Hour})
	q.Subscribe(rec)
	defer q.Close()
	snap, err := q.Authorize(context.Background(), 2, "good")
	if err != nil || !snap.Terminal() || q.Active() != 0 {
		t.Fatalf("authorize: %+v, %v, %d watchers", snap, err, q.Active())
	}
	if got := rec.all(); len(got) != 1 || got[0].Task.State != mangrove.TaskFailed || got[0].Task.ID != 2 {
		t.Fatalf("published %+v, want the failed state once", got)
	}
}

// timedAPI answers every task as running and records when each was polled.
type timedAPI struct {
	mu sync.Mutex
	at map[int64][]time.Time
}

func (f *timedAPI) AsyncTask(_ context.Context, _ string, id int64) (*mangrove.AsyncTask, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.at[id] = append(f.at[id], time.Now())
	t := running(10)
	t.ID = id
	return &t, nil
}

// since returns, per task, the times it was polled at or after from.
func (f *timedAPI) since(from time.Time) map[int64][]time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[int64][]time.Time{}
	for id, ts := range f.at {
		for _, at := range ts {
			if !at.Before(from) {
				out[id] = append(out[id], at)
			}
		}
	}
	return out
}

// TestPollLoopKeepsToTheBudget runs the real poll loops of many tasks on one
// token: each waits the stretched interval between its polls, so together
// they stay within the token's budget instead of polling every Interval.
func TestPollLoopKeepsToTheBudget(t *testing.T) {
	const (
		tasks  = 20
		base   = 5 * time.Millisecond
		budget = 12000 // polls a minute for the token: 20 watchers may each poll every 100ms
		polls  = 4     // intervals measured per task
	)
	fair := tasks * time.Minute / budget
	api := &timedAPI{at: map[int64][]time.Time{}}
	p := newPool(api, newRecorder(), Options{Interval: base, PollBudget: budget})
	defer p.Close()
	ctx := context.Background()
	for id := int64(1); id <= tasks; id++ {
		if err := p.Track(ctx, id, "good"); err != nil { // tracked: no viewer needed
			t.Fatal(err)
		}
	}
	if p.Active() != tasks {
		t.Fatalf("%d watchers, want %d", p.Active(), tasks)
	}
	// Polls made from here on are scheduled with all the watchers running.
	all := time.Now()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := api.since(all)
		enough := len(got) == tasks
		for _, ts := range got {
			enough = enough && len(ts) > polls
		}
		if enough {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %d polls of each of %d tasks: %d tasks polled", polls+1, tasks, len(got))
		}
		time.Sleep(fair / 4)
	}
	end := time.Now()
	got := api.since(all)

	// Each interval is at least the fair one, less its 10% jitter; timers
	// never fire early.
	least := fair - fair/10
	n, shortest := 0, time.Hour
	for id, ts := range got {
		for i := 1; i < len(ts); i++ {
			d := ts[i].Sub(ts[i-1])
			shortest = min(shortest, d)
			n++
			if d < least {
				t.Errorf("task %d polled %s after its previous poll: with %d watchers on a budget of %d polls a minute, want at least %s", id, d.Round(time.Microsecond), tasks, budget, least)
			}
		}
	}
	// Together: no more polls than the budget allows over the time, plus
	// one per task for the edges.
	total := 0
	for _, ts := range got {
		total += len(ts)
	}
	allowed := int(float64(budget)*end.Sub(all).Minutes()/0.9) + tasks
	t.Logf("%d polls of %d tasks over %s (budget: %d), the shortest interval %s of %d, fair %s", total, tasks, end.Sub(all).Round(time.Millisecond), allowed, shortest.Round(time.Microsecond), n, fair)
	if total > allowed {
		t.Errorf("%d polls over %s with one token, want at most %d (%d a minute)", total, end.Sub(all).Round(time.Millisecond), allowed, budget)
	}
}

// TestTwoTokensShareOneWatcher: a task authorised with a second token keeps
// its one watcher, which then polls with the newest token only.
func TestTwoTokensShareOneWatcher(t *testing.T) {
	api := newFakeAPI(running(10))
	p := newPool(api, newRecorder(), Options{Interval: 5 * time.Millisecond})
	defer p.Close()
	ctx := context.Background()
	for _, tok := range []string{"good", "also-good"} {
		if _, err := p.Authorize(ctx, 1, tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := p.Active(); n != 1 {
		t.Fatalf("%d watchers for one task authorised with two tokens, want 1", n)
	}
	leave, ok := p.Join(1)
	if !ok {
		t.Fatal("no watcher to join")
	}
	defer leave()
	calls := func(tok string) int {
		api.mu.Lock()
		defer api.mu.Unlock()
		return api.calls[tok]
	}
	waitCalls := func(tok string, n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for calls(tok) < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d calls with %q in 10s, want %d", calls(tok), tok, n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	// Once the watcher polls with the newest token, the older one is not
	// used again: one watcher, polling for both viewers.
	waitCalls("also-good", 2) // its authorisation and a poll
	good, polls := calls("good"), p.Polls()
	waitCalls("also-good", 7)
	if calls("good") != good || p.Polls()-polls < 5 {
		t.Errorf("good at %d calls, then %d more polls: good %d, also-good %d calls; want every poll with the newest token, by one watcher", good, p.Polls()-polls, calls("good"), calls("also-good"))
	}
}
