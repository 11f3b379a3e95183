// Package watcher runs one poller per async task, shared by every viewer of
// that task: ten browsers watching one generation cost the Mangrove API the
// same as one. Each change is handed to a Publisher (the SSE bridge), and the
// latest state is kept so a new viewer gets it at once. Several subscribers
// (the event streams, the generation audit) receive every change.
package watcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/carbon-dash/mangrove-dashboard/internal/ttlcache"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// TaskGetter is the one API call a watcher makes.
type TaskGetter interface {
	AsyncTask(ctx context.Context, token string, id int64) (*mangrove.AsyncTask, error)
}

// Snapshot is the full state of a watched task at one moment. Snapshots are
// published whole, never as deltas, so a missed one is harmless.
type Snapshot struct {
	Task       mangrove.AsyncTask
	Seq        int64     // increases with every published change
	ObservedAt time.Time // when the watcher last saw this state
	// Retrying is set while the API is failing and the watcher backs off.
	Retrying string
	// Remaining estimates the time left from the observed progress rate;
	// zero when there is not enough to go on.
	Remaining time.Duration
	// GaveUp is set when the watcher stopped following a task that had not
	// finished within Options.MaxLifetime: it says so to the viewers.
	GaveUp string
	// Relayed is set when another replica polled this state and announced
	// it (Fleet): what follows from a state once, such as its audit step,
	// is the polling replica's to do.
	Relayed bool
}

// Terminal reports whether the task has finished.
func (s Snapshot) Terminal() bool { return s.Task.Terminal() }

// Ended reports whether no snapshot follows this one: the task finished
// or its watcher gave up.
func (s Snapshot) Ended() bool { return s.Terminal() || s.GaveUp != "" }

// Publisher receives every change of a watched task, on the watcher's own
// goroutine (or a page request's). It must not block: a slow subscriber
// would delay every other one and the next poll.
type Publisher interface {
	Publish(taskID int64, s Snapshot)
	// Stopped tells that the watcher of the task is gone (terminal or idle).
	Stopped(taskID int64)
}

// DefaultMaxLifetime is how long a watcher follows an unfinished task.
const DefaultMaxLifetime = time.Hour

// Options tune a Pool. Zero values take the defaults.
type Options struct {
	Interval    time.Duration // between polls; default 2s
	IdleTimeout time.Duration // stop after nobody watched for this long; default 1m
	MaxBackoff  time.Duration // cap of the backoff on upstream errors; default 30s
	// MaxLifetime bounds how long one watcher follows a task that does not
	// finish (a state the dashboard does not know, say); default
	// DefaultMaxLifetime. Viewers are told; a page opened later starts
	// following it again.
	MaxLifetime time.Duration
	// PollBudget caps the task polls per minute made with one token, across
	// all of its watchers: with many running tasks the interval stretches
	// instead of running into the API's rate limit (1,000 requests a minute
	// per token, shared with page views). Default 600.
	PollBudget int
	// Fleet, when set, shares the polling of each task with the other
	// replicas on the same database: one polls, all fan out (see Fleet).
	Fleet  Fleet
	Logger *slog.Logger
	Now    func() time.Time
}

// Pool owns the watchers, one per task id.
type Pool struct {
	getter TaskGetter
	opts   Options

	subsMu sync.RWMutex
	subs   []Publisher

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	watchers map[int64]*watch
	polls    int64 // upstream calls made by watchers, for tests and metrics

	// checks collapses identical token checks made at once (every open tab
	// reconnecting after a restart): one API call per task and token.
	checks singleflight.Group

	// finished keeps the final state of tasks seen to end, with the token
	// hashes checked against each: a finished task never changes, so a
	// token that saw it sees it again without asking the API.
	finishedMu sync.Mutex // guards the entries' allowed sets and their making
	finished   *ttlcache.Cache[int64, *finishedTask]
}

// finishedTask is a task's final state and the tokens allowed to see it.
type finishedTask struct {
	snap    Snapshot
	allowed map[string]bool
}

// Finished tasks are kept this long, up to this many: a day of history
// pages, in a few megabytes.
const (
	finishedTTL = 24 * time.Hour
	finishedMax = 10000
)

// rememberFinished keeps a final snapshot for the token hashes allowed.
func (p *Pool) rememberFinished(taskID int64, snap Snapshot, allowed ...string) {
	p.finishedMu.Lock()
	defer p.finishedMu.Unlock()
	f, ok := p.finished.Get(taskID)
	if !ok {
		f = &finishedTask{snap: snap, allowed: map[string]bool{}}
		p.finished.Put(taskID, f)
	}
	for _, k := range allowed {
		f.allowed[k] = true
	}
}

// finishedFor returns the kept final state of a task the token hash was
// allowed to see.
func (p *Pool) finishedFor(taskID int64, key string) (Snapshot, bool) {
	p.finishedMu.Lock()
	defer p.finishedMu.Unlock()
	f, ok := p.finished.Get(taskID)
	if !ok {
		return Snapshot{}, false
	}
	return f.snap, f.allowed[key]
}

// NewPool returns a pool; Subscribe adds the receivers of its changes and
// Close stops every watcher.
func NewPool(getter TaskGetter, opts Options) *Pool {
	if opts.Interval <= 0 {
		opts.Interval = 2 * time.Second
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = time.Minute
	}
	if opts.MaxLifetime <= 0 {
		opts.MaxLifetime = DefaultMaxLifetime
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	if opts.PollBudget <= 0 {
		opts.PollBudget = 600
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Pool{getter: getter, opts: opts, ctx: ctx, cancel: cancel, watchers: map[int64]*watch{},
		finished: ttlcache.New[int64, *finishedTask](finishedTTL, finishedMax, opts.Now)}
	if opts.Fleet != nil {
		opts.Fleet.Follow(p.receive)
	}
	return p
}

// Subscribe adds a receiver of every change of every watched task, and of
// every terminal state the pool sees, watched or not (a task that ended
// while nobody watched it is published when it is next looked at).
// Subscribers get each change in the order they subscribed. Call it before
// the pool is used.
func (p *Pool) Subscribe(pub Publisher) {
	p.subsMu.Lock()
	defer p.subsMu.Unlock()
	p.subs = append(p.subs, pub)
}

func (p *Pool) publish(taskID int64, s Snapshot) {
	p.subsMu.RLock()
	defer p.subsMu.RUnlock()
	for _, pub := range p.subs {
		pub.Publish(taskID, s)
	}
}

func (p *Pool) stopped(taskID int64) {
	p.subsMu.RLock()
	defer p.subsMu.RUnlock()
	for _, pub := range p.subs {
		pub.Stopped(taskID)
	}
}

// ErrClosed is returned once the pool is shutting down.
var ErrClosed = errors.New("watcher: pool closed")

type watch struct {
	id      int64
	token   string          // the token polls are made with: the latest authorised viewer's
	allowed map[string]bool // token hashes already checked against this task
	viewers int             // open streams
	pinned  bool            // watched to the end regardless of viewers
	idle    time.Time       // when viewers last dropped to zero
	started time.Time       // when the watcher started, for MaxLifetime
	latest  Snapshot
	first   *progressMark // first running observation, for the rate estimate
	wake    chan struct{} // another replica announced a state (unpublished)
	done    chan struct{}
	// leading is set while this replica polls the task for the fleet;
	// unpublished while an announced state waits for the watcher's
	// goroutine to publish it.
	leading, unpublished bool
	// leadFailing is set while the fleet cannot say who leads (only the
	// watcher's goroutine reads or writes it).
	leadFailing bool
}

type progressMark struct {
	at       time.Time
	progress int
}

// Authorize checks token against the task and returns its latest state. A
// token already checked while the watcher lives costs no API call; a new one
// costs one. On success a watcher runs for the task (unless it is terminal).
func (p *Pool) Authorize(ctx context.Context, taskID int64, token string) (Snapshot, error) {
	key := mangrove.TokenHash(token)
	p.mu.Lock()
	if p.ctx.Err() != nil {
		p.mu.Unlock()
		return Snapshot{}, ErrClosed
	}
	if w := p.watchers[taskID]; w != nil && w.allowed[key] {
		snap := w.latest
		p.mu.Unlock()
		return snap, nil
	}
	p.mu.Unlock()
	if snap, ok := p.finishedFor(taskID, key); ok {
		return snap, nil
	}

	task, err := p.check(ctx, taskID, token, key)
	if err != nil {
		return Snapshot{}, err
	}
	if task.ID != taskID {
		return Snapshot{}, fmt.Errorf("watcher: asked for task %d, got %d", taskID, task.ID)
	}

	p.mu.Lock()
	w := p.watchers[taskID]
	if w == nil && task.Terminal() {
		p.mu.Unlock()
		snap := Snapshot{Task: *task, Seq: 1, ObservedAt: p.opts.Now()}
		p.publish(taskID, snap) // nothing to watch, but the end may not be recorded yet
		p.rememberFinished(taskID, snap, key)
		return snap, nil
	}
	defer p.mu.Unlock()
	if w == nil {
		snap := Snapshot{Task: *task, Seq: 1, ObservedAt: p.opts.Now()}
		w = &watch{
			id: taskID, token: token, allowed: map[string]bool{}, latest: snap,
			idle: p.opts.Now(), started: p.opts.Now(), wake: make(chan struct{}, 1), done: make(chan struct{}),
		}
		p.observe(w, *task)
		p.watchers[taskID] = w
		p.wg.Add(1)
		go p.run(w)
	} else {
		w.token = token // a fresh, proven token for the next polls
	}
	w.allowed[key] = true
	return w.latest, nil
}

// check asks the API for the task with token: the token's check against
// it. Callers asking the same at once share one call, which no single
// caller's leaving cancels; each waits only as long as its own ctx.
func (p *Pool) check(ctx context.Context, taskID int64, token, tokenHash string) (*mangrove.AsyncTask, error) {
	key := strconv.FormatInt(taskID, 10) + "/" + tokenHash
	ch := p.checks.DoChan(key, func() (any, error) {
		return p.getter.AsyncTask(context.WithoutCancel(ctx), token, taskID)
	})
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*mangrove.AsyncTask), nil
	}
}

// Current is Authorize for a page view: when the shared state is older than
// maxAge it asks the API once more, so a page loaded just after the task
// finished does not show it still running until the next poll.
func (p *Pool) Current(ctx context.Context, taskID int64, token string, maxAge time.Duration) (Snapshot, error) {
	snap, err := p.Authorize(ctx, taskID, token)
	if err != nil || snap.Terminal() || p.opts.Now().Sub(snap.ObservedAt) <= maxAge {
		return snap, err
	}
	task, err := p.getter.AsyncTask(ctx, token, taskID)
	if err != nil || task.ID != taskID {
		return snap, nil // the shared state will do; the watcher retries on its own
	}
	p.mu.Lock()
	p.polls++
	w := p.watchers[taskID]
	if w == nil {
		p.mu.Unlock()
		fresh := Snapshot{Task: *task, Seq: snap.Seq + 1, ObservedAt: p.opts.Now()}
		if task.Terminal() {
			p.publish(taskID, fresh)
		}
		return fresh, nil
	}
	changed := p.observe(w, *task)
	fresh := w.latest
	p.mu.Unlock()
	if changed {
		p.publish(taskID, fresh)
	}
	return fresh, nil
}

// Join registers a viewer of a watched task; call leave when the viewer
// goes. ok is false when no watcher runs for the task (it is terminal, or
// stopped idle: Authorize starts it again).
func (p *Pool) Join(taskID int64) (leave func(), ok bool) {
	p.mu.Lock()
	w := p.watchers[taskID]
	if w != nil {
		w.viewers++
	}
	p.mu.Unlock()
	if w == nil {
		return func() {}, false
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			w.viewers--
			if w.viewers == 0 {
				w.idle = p.opts.Now()
			}
			p.mu.Unlock()
		})
	}, true
}

// Track watches a task until it is terminal, whether or not anyone views
// it, so its final state is recorded even when every browser is closed.
func (p *Pool) Track(ctx context.Context, taskID int64, token string) error {
	if _, err := p.Authorize(ctx, taskID, token); err != nil {
		return err
	}
	p.mu.Lock()
	if w := p.watchers[taskID]; w != nil {
		w.pinned = true
	}
	p.mu.Unlock()
	return nil
}

// Latest returns the watched task's latest state, if a watcher runs.
func (p *Pool) Latest(taskID int64) (Snapshot, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w := p.watchers[taskID]; w != nil {
		return w.latest, true
	}
	return Snapshot{}, false
}

// Active reports the number of running watchers.
func (p *Pool) Active() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.watchers)
}

// Polls reports the number of upstream task requests the watchers made.
func (p *Pool) Polls() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.polls
}

// Close stops every watcher and waits for them.
func (p *Pool) Close() {
	p.cancel()
	p.wg.Wait()
}

func (p *Pool) run(w *watch) {
	defer p.wg.Done()
	defer func() {
		if p.opts.Fleet != nil {
			p.opts.Fleet.Release(w.id) // another replica with viewers leads from its next tick
		}
		p.mu.Lock()
		delete(p.watchers, w.id)
		if w.latest.Terminal() {
			p.rememberFinished(w.id, w.latest, slices.Collect(maps.Keys(w.allowed))...)
		}
		p.mu.Unlock()
		close(w.done)
		p.stopped(w.id)
	}()

	failures := 0
	delay := p.opts.Interval
	timer := time.NewTimer(jitter(delay))
	defer timer.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-timer.C:
		case <-w.wake:
			// Another replica's announcement, published here on the
			// watcher's goroutine rather than the fleet's listener, which
			// serves every task; the next tick is not moved.
			p.mu.Lock()
			snap, relay := w.latest, w.unpublished
			w.unpublished = false
			p.mu.Unlock()
			if relay {
				p.publish(w.id, snap)
			}
			if snap.Ended() {
				return
			}
			continue
		}

		p.mu.Lock()
		idleFor := p.opts.Now().Sub(w.idle)
		stale := !w.pinned && w.viewers == 0 && idleFor >= p.opts.IdleTimeout
		token := w.token
		ended := w.latest.Ended() // another replica announced it
		p.mu.Unlock()
		if ended {
			return
		}
		if stale {
			p.opts.Logger.Debug("task watcher idle, stopping", "task_id", w.id)
			return
		}
		if p.opts.Now().Sub(w.started) >= p.opts.MaxLifetime {
			p.giveUp(w)
			return
		}
		leading := p.lead(w)
		p.mu.Lock()
		w.leading = leading
		if leading {
			p.polls++
		}
		p.mu.Unlock()
		if !leading {
			// Another replica polls and announces; try to lead again at
			// the next tick, so its end or departure costs at most one
			// interval of silence.
			timer.Reset(jitter(p.opts.Interval))
			continue
		}

		// A poll is background work: it leaves the token's reserve to page views.
		ctx, cancel := context.WithTimeout(mangrove.WithPriority(p.ctx, mangrove.Background), 30*time.Second)
		task, err := p.getter.AsyncTask(ctx, token, w.id)
		cancel()
		if p.ctx.Err() != nil {
			return
		}
		if err != nil {
			failures++
			delay = backoff(p.opts.Interval, p.opts.MaxBackoff, failures)
			p.opts.Logger.Warn("polling task failed, backing off", "task_id", w.id, "attempt", failures, "retry_in", delay.Round(time.Millisecond), "err", err)
			p.setRetrying(w, fmt.Sprintf("Mangrove is not answering (%s); retrying in %s. The generation goes on regardless.", mangrove.Describe(err), delay.Round(time.Second)))
			if errors.Is(err, mangrove.ErrNotFound) || errors.Is(err, mangrove.ErrUnauthorized) {
				if failures >= 5 {
					return // the token lost access; viewers re-authorise on reconnect
				}
			}
			timer.Reset(delay)
			continue
		}
		failures = 0
		delay = p.interval(w)

		p.mu.Lock()
		changed := p.observe(w, *task)
		snap := w.latest
		p.mu.Unlock()
		// Every poll is announced, changed or not: the followers' pages
		// then know the state is fresh and ask the API nothing themselves.
		p.announce(w.id, snap)
		if changed {
			p.publish(w.id, snap)
		}
		if task.Terminal() {
			return
		}
		timer.Reset(jitter(delay))
	}
}

// interval is the time to the next poll of w: the configured interval,
// stretched when the watchers sharing w's token would together exceed the
// per-token poll budget.
func (p *Pool) interval(w *watch) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, o := range p.watchers {
		if o.token == w.token {
			n++
		}
	}
	fair := time.Duration(n) * time.Minute / time.Duration(p.opts.PollBudget)
	return max(p.opts.Interval, fair)
}

// observe records a fresh task state; it reports whether anything a viewer
// sees has changed. Call with p.mu held.
func (p *Pool) observe(w *watch, t mangrove.AsyncTask) bool {
	now := p.opts.Now()
	prev := w.latest
	changed := prev.Retrying != "" || !sameTask(prev.Task, t)
	if t.State == mangrove.TaskRunning && w.first == nil {
		w.first = &progressMark{at: now, progress: t.Progress}
	}
	remaining := estimate(w.first, now, t)
	if changed {
		w.latest = Snapshot{Task: t, Seq: prev.Seq + 1, ObservedAt: now, Remaining: remaining}
	} else {
		w.latest.ObservedAt = now
		w.latest.Remaining = remaining
	}
	return changed
}

// giveUp tells w's viewers that it stops following the task, which has
// not finished within MaxLifetime.
func (p *Pool) giveUp(w *watch) {
	p.mu.Lock()
	w.latest.GaveUp = fmt.Sprintf("Stopped following this task after %s minutes: Mangrove still reports it as %q. "+
		"It may still be running there; reload the page to look again.", strconv.FormatFloat(p.opts.MaxLifetime.Minutes(), 'f', -1, 64), w.latest.Task.State)
	w.latest.Seq++
	snap := w.latest
	p.mu.Unlock()
	p.opts.Logger.Warn("task watcher gave up", "task_id", w.id, "state", snap.Task.State, "after", p.opts.MaxLifetime)
	p.announceIfLeading(w, snap)
	p.publish(w.id, snap)
}

func (p *Pool) setRetrying(w *watch, msg string) {
	p.mu.Lock()
	changed := w.latest.Retrying != msg
	if changed {
		w.latest.Retrying = msg
		w.latest.Seq++
	}
	snap := w.latest
	p.mu.Unlock()
	p.announceIfLeading(w, snap)
	if changed {
		p.publish(w.id, snap)
	}
}

// estimate extrapolates the progress rate seen since the first running
// observation. It needs some progress to have happened to say anything.
func estimate(first *progressMark, now time.Time, t mangrove.AsyncTask) time.Duration {
	if first == nil || t.State != mangrove.TaskRunning || t.Progress <= first.progress || t.Progress >= 100 {
		return 0
	}
	elapsed := now.Sub(first.at)
	if elapsed <= 0 {
		return 0
	}
	rate := float64(t.Progress-first.progress) / elapsed.Seconds() // percent per second
	return time.Duration(float64(100-t.Progress) / rate * float64(time.Second))
}

func sameTask(a, b mangrove.AsyncTask) bool {
	return a.State == b.State && a.Progress == b.Progress &&
		strPtrEq(a.ProgressDescription, b.ProgressDescription) &&
		strPtrEq(a.ErrorMessage, b.ErrorMessage) &&
		timePtrEq(a.StartedAt, b.StartedAt) && timePtrEq(a.FinishedAt, b.FinishedAt)
}

func strPtrEq(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func timePtrEq(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// backoff doubles from base up to max, with jitter so many watchers that
// failed together do not retry together.
func backoff(base, max time.Duration, failures int) time.Duration {
	d := base
	for i := 1; i < failures && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return jitter(d)
}

// jitter spreads a delay by ±10%.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	spread := int64(d) / 10
	if spread == 0 {
		return d
	}
	return d - time.Duration(spread) + time.Duration(rand.Int64N(2*spread+1))
}
