package handlers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/r3labs/sse/v2"

	"github.com/carbon-dash/mangrove-dashboard/store"
	"github.com/carbon-dash/mangrove-dashboard/views"
	"github.com/carbon-dash/mangrove-dashboard/watcher"
)

// Event stream protocol of GET /tasks/{id}/events:
//   - event "status": the rendered status fragment, a full snapshot, id = its sequence number;
//   - event "done" (id "done"): the task is terminal; the page closes its EventSource;
//   - then the server ends the response. A client that reconnects anyway
//     sends Last-Event-ID "done" and gets 204, which stops EventSource for good.
const (
	doneEventID       = "done"
	heartbeatInterval = 15 * time.Second
	writeTimeout      = 10 * time.Second
	// streamGrace is how long subscribers may stay on the stream of a task
	// whose watcher stopped: enough for the final events to reach them.
	streamGrace = 2 * time.Second
)

// taskStreams bridges the watcher pool to r3labs/sse: one stream per task
// being watched, replay off (snapshots make it pointless), multi-line data
// split, publishes that never block the watcher.
type taskStreams struct {
	h    *Handlers
	pool *watcher.Pool
	sse  *sse.Server

	mu      sync.Mutex
	entries map[int64]*streamEntry

	// ctx ends with Close: every subscriber's request context is tied to it,
	// so shutdown ends each stream, even one that subscribes late.
	ctx       context.Context
	cancel    context.CancelFunc
	closeOnce sync.Once
	stop      chan struct{}
	done      chan struct{}

	detached *detachedStreams // streams on hijacked connections (stream_conn.go)
}

type streamEntry struct {
	subs   int  // subscribers admitted and not yet unsubscribed by r3labs
	closed bool // the watcher stopped: remove the stream once subs drain
	// watching ends when the task's watcher stops; subscribers admitted
	// while it ran are tied to it, so none waits on a stream nobody
	// publishes to any more (one that joined just as the task ended, say).
	watching context.Context
	stopped  context.CancelFunc
	pubMu    sync.Mutex
	lastSeq  int64
	gen      *store.Generation
	genErr   error
	genOnce  sync.Once
}

func newTaskStreams(h *Handlers) *taskStreams {
	ts := &taskStreams{h: h, entries: map[int64]*streamEntry{}, stop: make(chan struct{}), done: make(chan struct{})}
	ts.ctx, ts.cancel = context.WithCancel(context.Background())
	ts.detached = newDetachedStreams()
	s := sse.New()
	s.AutoReplay = false
	s.AutoStream = false
	s.SplitData = true
	s.BufferSize = 16
	s.Headers = map[string]string{"X-Accel-Buffering": "no"}
	s.OnSubscribe = ts.onSubscribe
	s.OnUnsubscribe = ts.onUnsubscribe
	ts.sse = s
	go ts.heartbeat()
	return ts
}

func streamName(id int64) string { return "task-" + strconv.FormatInt(id, 10) }

func streamTaskID(name string) (int64, bool) {
	var id int64
	_, err := fmt.Sscanf(name, "task-%d", &id)
	return id, err == nil
}

// acquire makes sure the task's stream exists and counts the coming
// subscriber, so the stream cannot be removed under it. The returned
// context ends when the task's current watcher stops.
func (ts *taskStreams) acquire(id int64) context.Context {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	e := ts.entries[id]
	if e == nil {
		e = &streamEntry{}
		ts.entries[id] = e
		ts.sse.CreateStream(streamName(id))
	}
	e.subs++
	if e.watching == nil || e.closed {
		e.watching, e.stopped = context.WithCancel(context.Background())
	}
	e.closed = false
	return e.watching
}

func (ts *taskStreams) entry(id int64) *streamEntry {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.entries[id]
}

// onSubscribe sends the latest snapshot, so a new viewer is up to date at
// once. It reaches every subscriber of the task, which is harmless: it is a
// full snapshot they already have; joins in a burst share one. A detached
// subscriber got it on its own connection already (stream_conn.go).
func (ts *taskStreams) onSubscribe(name string, sub *sse.Subscriber) {
	id, ok := streamTaskID(name)
	if !ok || isDirect(sub) {
		return
	}
	ts.resendSoon(id)
}

// onUnsubscribe runs once r3labs has let a subscriber go; only then is it
// safe to remove a closed stream (removing it earlier leaks goroutines).
func (ts *taskStreams) onUnsubscribe(name string, _ *sse.Subscriber) {
	id, ok := streamTaskID(name)
	if !ok {
		return
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	e := ts.entries[id]
	if e == nil {
		return
	}
	e.subs--
	if e.subs <= 0 && e.closed {
		ts.sse.RemoveStream(name)
		delete(ts.entries, id)
	}
}

// Publish implements watcher.Publisher.
func (ts *taskStreams) Publish(id int64, snap watcher.Snapshot) {
	if snap.Terminal() {
		ts.h.recordFinal(context.Background(), snap.Task)
	}
	if ts.entry(id) == nil {
		return // nobody is watching over a stream
	}
	ts.publishStatus(id, snap, false)
	if snap.Terminal() {
		name := streamName(id)
		ts.send(name, &sse.Event{ID: []byte(doneEventID), Event: []byte("done"), Data: []byte(snap.Task.State)})
		ts.send(name, &sse.Event{}) // an empty event ends every subscriber's response
	}
}

// Stopped implements watcher.Publisher.
func (ts *taskStreams) Stopped(id int64) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	e := ts.entries[id]
	if e == nil {
		return
	}
	e.closed = true
	if e.stopped != nil {
		// Subscribers still here after the final events had time to go out
		// joined too late for them: end their streams, the reconnect gets
		// the final state. (Ending at once could beat the done event
		// through r3labs' queue.)
		time.AfterFunc(streamGrace, e.stopped)
	}
	if e.subs <= 0 {
		ts.sse.RemoveStream(streamName(id))
		delete(ts.entries, id)
	}
}

// publishStatus renders the status fragment once for all viewers and sends
// it, never older than what was sent before.
func (ts *taskStreams) publishStatus(id int64, snap watcher.Snapshot, resend bool) {
	e := ts.entry(id)
	if e == nil {
		return
	}
	e.pubMu.Lock()
	defer e.pubMu.Unlock()
	if snap.Seq < e.lastSeq || (snap.Seq == e.lastSeq && !resend) {
		return
	}
	html, err := ts.renderStatus(id, e, snap)
	if err != nil {
		ts.h.log.Error("rendering a task status failed", "task_id", id, "err", err)
		return
	}
	e.lastSeq = snap.Seq
	ts.send(streamName(id), &sse.Event{ID: []byte(strconv.FormatInt(snap.Seq, 10)), Event: []byte("status"), Data: html})
}

func (ts *taskStreams) renderStatus(id int64, e *streamEntry, snap watcher.Snapshot) ([]byte, error) {
	e.genOnce.Do(func() {
		g, err := ts.h.store.GenerationByTask(context.Background(), id)
		if err == nil {
			e.gen = &g
		} else if !errors.Is(err, store.ErrNotFound) {
			e.genErr = err
		}
	})
	var gen store.Generation
	if e.gen != nil {
		gen = *e.gen
	}
	var buf bytes.Buffer
	err := views.TaskStatus(ts.h.statusProps(snap, gen, e.gen != nil)).Render(context.Background(), &buf)
	return bytes.TrimSpace(buf.Bytes()), err
}

// send publishes without blocking the watcher for long: a stream whose
// buffer stays full has a stuck subscriber, and snapshots make a dropped
// message harmless except the last ones, which get a few tries.
func (ts *taskStreams) send(name string, ev *sse.Event) {
	for range 20 {
		if ts.sse.TryPublish(name, ev) {
			return
		}
		if !ts.sse.StreamExists(name) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	ts.h.log.Warn("event stream buffer full; event dropped", "stream", name)
}

// heartbeat writes a comment to every stream so proxies keep idle streams
// open and dead connections fail a write and get reaped.
func (ts *taskStreams) heartbeat() {
	defer close(ts.done)
	t := time.NewTicker(heartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ts.stop:
			return
		case <-t.C:
		}
		ts.mu.Lock()
		names := make([]string, 0, len(ts.entries))
		for id := range ts.entries {
			names = append(names, streamName(id))
		}
		ts.mu.Unlock()
		for _, n := range names {
			ts.sse.TryPublish(n, &sse.Event{Comment: []byte("keep-alive")})
		}
	}
}

// Close ends every open stream politely (browsers reconnect to the next
// process), and any opened later, and stops the heartbeat. It is safe to
// call more than once, concurrently: main calls it from the server's
// shutdown hook and again once Shutdown returns.
func (ts *taskStreams) Close() {
	ts.closeOnce.Do(func() {
		close(ts.stop)
		<-ts.done
		ts.cancel() // each subscriber's context ends: r3labs lets it go and its response ends
	})
}

// closing reports whether Close has begun.
func (ts *taskStreams) closing() bool { return ts.ctx.Err() != nil }

// Subscribers reports the number of admitted event-stream subscribers.
func (ts *taskStreams) Subscribers() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	n := 0
	for _, e := range ts.entries {
		n += e.subs
	}
	return n
}

// streamTaskEvents serves GET /tasks/{id}/events. The viewer's own token is
// checked against the task first (cached per token while the watcher lives).
func (h *Handlers) streamTaskEvents(c echo.Context) error {
	id, err := taskIDParam(c)
	if err != nil {
		return err
	}
	r := c.Request()
	if r.Header.Get("Last-Event-ID") == doneEventID {
		return c.NoContent(http.StatusNoContent) // the client saw the end already
	}
	if h.streams.closing() {
		return endStream(c) // shutting down: the browser reconnects to the next process
	}
	token := h.currentToken(c)
	var (
		leave    func()
		watching context.Context
	)
	for attempt := 1; ; attempt++ {
		snap, err := h.watchers.Authorize(r.Context(), id, token)
		if err != nil {
			return err
		}
		if snap.Terminal() {
			return h.writeFinalEvents(c, id, snap)
		}
		watching = h.streams.acquire(id)
		var ok bool
		if leave, ok = h.watchers.Join(id); ok {
			break
		}
		// The watcher stopped between the two calls (the task ended, most
		// likely): joining the stream now would wait for events nobody
		// publishes. Look again: the next Authorize sees the end or starts
		// a new watcher.
		h.streams.release(id)
		if attempt == 3 {
			return &pageError{Status: http.StatusServiceUnavailable, Heading: "Try again",
				Message: "The task's progress could not be followed just now. Reload the page."}
		}
	}
	return h.streams.serve(c, id, leave, watching)
}

// endStream answers a stream request with an empty stream: EventSource
// reconnects after its retry delay.
func endStream(c echo.Context) error {
	resp := c.Response()
	resp.Header().Set(echo.HeaderContentType, "text/event-stream")
	resp.Header().Set(echo.HeaderCacheControl, "no-cache")
	resp.WriteHeader(http.StatusOK)
	_, _ = fmt.Fprint(resp, "retry: 3000\n\n")
	resp.Flush()
	return nil
}

// release undoes an acquire whose subscriber never reached r3labs.
func (ts *taskStreams) release(id int64) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if e := ts.entries[id]; e != nil {
		e.subs--
		if e.subs <= 0 {
			ts.sse.RemoveStream(streamName(id))
			delete(ts.entries, id)
		}
	}
}

// writeFinalEvents answers a stream request for a finished task directly:
// its last state and the done event, then the end of the response.
func (h *Handlers) writeFinalEvents(c echo.Context, id int64, snap watcher.Snapshot) error {
	ctx := c.Request().Context()
	h.recordFinal(ctx, snap.Task)
	gen, err := h.store.GenerationByTask(ctx, id)
	hasGen := err == nil
	var buf bytes.Buffer
	if err := views.TaskStatus(h.statusProps(snap, gen, hasGen)).Render(ctx, &buf); err != nil {
		return err
	}
	resp := c.Response()
	resp.Header().Set(echo.HeaderContentType, "text/event-stream")
	resp.Header().Set(echo.HeaderCacheControl, "no-cache")
	resp.Header().Set("X-Accel-Buffering", "no")
	resp.WriteHeader(http.StatusOK)
	fmt.Fprintf(resp, "id: %d\nevent: status\n", snap.Seq)
	for _, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		fmt.Fprintf(resp, "data: %s\n", line)
	}
	fmt.Fprintf(resp, "\nid: %s\nevent: done\ndata: %s\n\n", doneEventID, snap.Task.State)
	resp.Flush()
	return nil
}

// deadlineWriter gives every write to an event stream its own deadline, so
// a client that stopped reading fails instead of stalling the stream for
// every other viewer.
type deadlineWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	_ = w.rc.SetWriteDeadline(time.Now().Add(writeTimeout))
	return w.ResponseWriter.Write(p)
}

func (w *deadlineWriter) Flush() {
	_ = w.rc.SetWriteDeadline(time.Now().Add(writeTimeout))
	_ = w.rc.Flush()
}

func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
