// Package taskstream serves a task's progress as server-sent events: the
// bridge from the task watcher pool (package watcher) to r3labs/sse, one
// stream per task being watched, over plain net/http.
//
// Event stream protocol of GET /tasks/{id}/events:
//   - event "status": the rendered status fragment, a full snapshot, id = its sequence number;
//   - event "done" (id "done"): the task is terminal; the page closes its EventSource;
//   - then the server ends the response. A client that reconnects anyway
//     sends Last-Event-ID "done" and gets 204, which stops EventSource for good.
//
// The package also has the one SSE encoder (AppendEvent, which agrees with
// r3labs' own) and the one SSE reader (Reader) of the dashboard, its tests
// and its load tool.
package taskstream

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/r3labs/sse/v2"

	"github.com/carbon-dash/mangrove-dashboard/watcher"
)

const (
	doneEventID = "done"
	// DefaultHeartbeat is how often a comment is written to every stream
	// when Options.Heartbeat is zero: proxies keep idle streams open, and
	// dead connections fail a write and get reaped.
	DefaultHeartbeat = 15 * time.Second
	// writeTimeout bounds every write to a stream: a viewer that stopped
	// reading fails instead of stalling the task's other viewers.
	writeTimeout = 10 * time.Second
	// streamGrace is how long subscribers may stay on the stream of a task
	// whose watcher stopped: enough for the final events to reach them.
	streamGrace = 2 * time.Second
	// streamBufferSize is r3labs' per-stream event buffer: publishes never
	// wait for it, so it is small.
	streamBufferSize = 16
	// reconnectDelay is the "retry" of the empty stream answered during
	// shutdown: the browser reconnects (to the next process) after it.
	reconnectDelay = 3 * time.Second
	// authorizeAttempts bounds the Authorize/Join rounds of one request.
	authorizeAttempts = 3
	heartbeatComment  = "keep-alive"
	streamNamePrefix  = "task-"
)

// ErrRetry is returned by Serve when the task's watcher kept stopping
// between Authorize and Join: the viewer should reload the page.
var ErrRetry = errors.New("taskstream: the task's progress could not be followed just now; reload the page")

// Watchers is what the streams need of the task watcher pool (*watcher.Pool
// implements it).
type Watchers interface {
	Authorize(ctx context.Context, taskID int64, token string) (watcher.Snapshot, error)
	Join(taskID int64) (leave func(), ok bool)
	Latest(taskID int64) (watcher.Snapshot, bool)
}

var (
	_ Watchers          = (*watcher.Pool)(nil)
	_ watcher.Publisher = (*Streams)(nil)
)

// Renderer renders a task's status fragment (HTML) for a snapshot. It is
// the same for every viewer, so it must carry no per-user data.
type Renderer func(ctx context.Context, taskID int64, snap watcher.Snapshot) ([]byte, error)

// Options configure New. Watchers and Render are required.
type Options struct {
	Watchers  Watchers
	Render    Renderer
	Logger    *slog.Logger  // nil: discard
	Heartbeat time.Duration // zero: DefaultHeartbeat
}

// Streams bridges the watcher pool to r3labs/sse: one stream per task being
// watched, replay off (snapshots make it pointless), multi-line data split,
// publishes that never block the watcher. It implements watcher.Publisher.
type Streams struct {
	watchers  Watchers
	render    Renderer
	log       *slog.Logger
	heartbeat time.Duration
	sse       *sse.Server

	mu      sync.Mutex
	entries map[int64]*streamEntry

	// ctx ends with Close: every subscriber's context is tied to it, so
	// shutdown ends each stream, even one that subscribes late.
	ctx       context.Context
	cancel    context.CancelFunc
	closeOnce sync.Once
	stop      chan struct{}
	done      chan struct{}

	// finalBudget and writeTimeout are finalRetryBudget and writeTimeout;
	// tests change them.
	finalBudget  time.Duration
	writeTimeout time.Duration

	detached *detachedStreams // streams on hijacked connections (detached.go)
	dropped  atomic.Int64     // status events dropped on a full buffer
}

type streamEntry struct {
	subs   int  // subscribers admitted and not yet unsubscribed by r3labs
	closed bool // the watcher stopped: remove the stream once subs drain
	// watching ends when the task's watcher stops; subscribers admitted
	// while it ran are tied to it, so none waits on a stream nobody
	// publishes to any more (one that joined just as the task ended, say).
	watching context.Context
	stopped  context.CancelFunc

	// watcherGen counts the watchers the stream has followed (set under
	// Streams.mu); publishStatus restarts lastSeq when it changes.
	watcherGen atomic.Int64

	pubMu   sync.Mutex
	lastSeq int64 // of the last status sent, by the watcher of seqGen
	seqGen  int64

	out outbox // final events waiting for room in the stream's buffer
}

// New returns the streams and starts their heartbeat; Close stops it. It
// panics without Watchers or Render.
func New(o Options) *Streams {
	if o.Watchers == nil || o.Render == nil {
		panic("taskstream: Options.Watchers and Options.Render are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	s := &Streams{
		watchers: o.Watchers, render: o.Render, log: o.Logger, heartbeat: o.Heartbeat,
		entries: map[int64]*streamEntry{}, stop: make(chan struct{}), done: make(chan struct{}),
		finalBudget: finalRetryBudget, writeTimeout: writeTimeout, detached: newDetachedStreams(),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	srv := sse.New()
	srv.AutoReplay = false
	srv.AutoStream = false
	srv.SplitData = true
	srv.BufferSize = streamBufferSize
	srv.Headers = map[string]string{"X-Accel-Buffering": "no"}
	srv.OnSubscribe = s.onSubscribe
	srv.OnUnsubscribe = s.onUnsubscribe
	s.sse = srv
	go s.beat()
	return s
}

func streamName(id int64) string { return streamNamePrefix + strconv.FormatInt(id, 10) }

func streamTaskID(name string) (int64, bool) {
	rest, ok := strings.CutPrefix(name, streamNamePrefix)
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	return id, err == nil
}

// acquire makes sure the task's stream exists and counts the coming
// subscriber, so the stream cannot be removed under it. The returned
// context ends when the task's current watcher stops.
func (s *Streams) acquire(id int64) context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[id]
	if e == nil {
		e = &streamEntry{}
		s.entries[id] = e
		s.sse.CreateStream(streamName(id))
	}
	e.subs++
	if e.watching == nil || e.closed {
		// A new watcher: its sequence numbers start again.
		e.watching, e.stopped = context.WithCancel(context.Background())
		e.watcherGen.Add(1)
		s.detached.forget(id)
	}
	e.closed = false
	return e.watching
}

// release undoes an acquire whose subscriber never reached r3labs.
func (s *Streams) release(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.entries[id]; e != nil {
		e.subs--
		if e.subs <= 0 {
			s.removeLocked(id)
		}
	}
}

// removeLocked removes the task's stream; call with s.mu held, and only
// once no subscriber is left (removing it earlier leaks goroutines).
func (s *Streams) removeLocked(id int64) {
	s.sse.RemoveStream(streamName(id))
	delete(s.entries, id)
}

func (s *Streams) entry(id int64) *streamEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.entries[id]
}

// onSubscribe sends the latest snapshot, so a new viewer is up to date at
// once. It reaches every subscriber of the task, which is harmless: it is a
// full snapshot they already have; joins in a burst share one. A detached
// subscriber got it on its own connection already (detached.go).
func (s *Streams) onSubscribe(name string, sub *sse.Subscriber) {
	id, ok := streamTaskID(name)
	if !ok || isDirect(sub) {
		return
	}
	s.resendSoon(id)
}

// onUnsubscribe runs once r3labs has let a subscriber go; only then is it
// safe to remove a closed stream.
func (s *Streams) onUnsubscribe(name string, _ *sse.Subscriber) {
	id, ok := streamTaskID(name)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[id]
	if e == nil {
		return
	}
	e.subs--
	if e.subs <= 0 && e.closed {
		s.removeLocked(id)
	}
}

// beat writes a comment to every stream every heartbeat, until Close.
func (s *Streams) beat() {
	defer close(s.done)
	t := time.NewTicker(s.heartbeat)
	defer t.Stop()
	ev := toSSE(Event{Comment: heartbeatComment})
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.mu.Lock()
		names := make([]string, 0, len(s.entries))
		for id := range s.entries {
			names = append(names, streamName(id))
		}
		s.mu.Unlock()
		for _, n := range names {
			s.sse.TryPublish(n, ev)
		}
	}
}

// Close ends every open stream politely (browsers reconnect to the next
// process), and any opened later, and stops the heartbeat. It is safe to
// call more than once, concurrently: the server's shutdown hook calls it,
// and so does the app once Shutdown returns.
func (s *Streams) Close() {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.done
		s.cancel() // each subscriber's context ends: r3labs lets it go and its response ends
	})
}

// closing reports whether Close has begun.
func (s *Streams) closing() bool { return s.ctx.Err() != nil }

// Subscribers reports the number of admitted event-stream subscribers.
func (s *Streams) Subscribers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, e := range s.entries {
		n += e.subs
	}
	return n
}

// Open reports the number of task streams open (an r3labs stream, with its
// goroutine, each), for the leak tests.
func (s *Streams) Open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}
