package taskstream

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/watcher"
)

// Viewer is who opens a stream, and what else ends it.
type Viewer struct {
	// Token is checked against the task before anything is written.
	Token string
	// Until, when set, ends the stream when it is done: the viewer signed
	// out, say.
	Until context.Context
	// Left, when set, is called once when the viewer's stream has ended, or
	// before Serve returns when it opened none; callers free a slot in it.
	Left func()
}

// Serve answers GET /tasks/{id}/events for a viewer: the task's status
// events until it ends (see the package comment). The viewer's token is
// checked against the task first (cached per token while the watcher lives).
//
// It returns an error only before anything was written, for the caller to
// turn into a response: the Authorize error, ErrRetry, or the Renderer's
// error for a finished task's final state. It may hijack w's connection
// (see detached.go); w's headers at the time of the call are sent with the
// stream's.
func (s *Streams) Serve(w http.ResponseWriter, r *http.Request, taskID int64, v Viewer) error {
	left := sync.OnceFunc(func() {
		if v.Left != nil {
			v.Left()
		}
	})
	opened := false
	defer func() {
		if !opened {
			left()
		}
	}()
	if r.Header.Get("Last-Event-ID") == doneEventID {
		w.WriteHeader(http.StatusNoContent) // the client saw the end already
		return nil
	}
	if s.closing() {
		writeRetryStream(w) // shutting down: the browser reconnects to the next process
		return nil
	}
	a, err := s.admit(r.Context(), taskID, v.Token)
	if err != nil {
		return err
	}
	if a.final != nil {
		return s.writeFinalEvents(w, r, taskID, *a.final)
	}
	// The stream ends when the task's watcher stops or v.Until ends.
	until, endStream := context.WithCancel(a.watching)
	stopUntil := func() bool { return false }
	if v.Until != nil {
		stopUntil = context.AfterFunc(v.Until, endStream)
	}
	opened = true
	s.serve(w, r, taskID, func() { a.leave(); stopUntil(); endStream(); left() }, until)
	return nil
}

// admission is a viewer let in: either a finished task's final state, or a
// subscriber counted on the task's stream and joined to its watcher.
type admission struct {
	final    *watcher.Snapshot
	leave    func()
	watching context.Context
}

// admit authorizes the viewer and joins it to the task's watcher.
func (s *Streams) admit(ctx context.Context, id int64, token string) (admission, error) {
	for attempt := 1; ; attempt++ {
		snap, err := s.watchers.Authorize(ctx, id, token)
		if err != nil {
			return admission{}, err
		}
		if snap.Ended() {
			return admission{final: &snap}, nil
		}
		watching := s.acquire(id)
		if leave, ok := s.watchers.Join(id); ok {
			return admission{leave: leave, watching: watching}, nil
		}
		// The watcher stopped between the two calls (the task ended, most
		// likely): joining the stream now would wait for events nobody
		// publishes. Look again: the next Authorize sees the end or starts
		// a new watcher.
		s.release(id)
		if attempt == authorizeAttempts {
			return admission{}, ErrRetry
		}
	}
}

// serve runs an admitted subscriber's stream: detached when its connection
// can be hijacked (HTTP/1.1), in place otherwise. leave ends its membership
// of the task's viewers; watching ends when the task's watcher stops.
func (s *Streams) serve(w http.ResponseWriter, r *http.Request, id int64, leave func(), watching context.Context) {
	if r.ProtoAtLeast(1, 1) && r.ProtoMajor == 1 && s.tryDetach(w, id, leave, watching) {
		return
	}
	s.serveInPlace(w, r, id, leave, watching)
}

// serveInPlace runs r3labs' loop on the request's own goroutine.
func (s *Streams) serveInPlace(w http.ResponseWriter, r *http.Request, id int64, leave func(), watching context.Context) {
	defer leave()
	// The subscription ends with the request, with Close (shutdown) and
	// when the task's watcher stops, whichever comes first.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(s.ctx, cancel)()
	defer context.AfterFunc(watching, cancel)()

	// r3labs answers 400 to a non-numeric Last-Event-ID and would replay on a
	// numeric one; snapshots make both pointless, so drop the header.
	r = r.Clone(ctx)
	r.Header.Del("Last-Event-ID")
	q := r.URL.Query()
	q.Set("stream", streamName(id))
	q.Del(directParam) // this subscriber needs the broadcast of the task's state
	r.URL.RawQuery = q.Encode()
	dw := &deadlineWriter{ResponseWriter: w, rc: http.NewResponseController(w), timeout: s.writeTimeout}
	_ = dw.rc.SetWriteDeadline(time.Time{}) // lift the server's WriteTimeout for this stream
	s.sse.ServeHTTP(dw, r)
}

// writeFinalEvents answers a stream request for a finished task directly:
// its last state and the done event, then the end of the response.
func (s *Streams) writeFinalEvents(w http.ResponseWriter, r *http.Request, id int64, snap watcher.Snapshot) error {
	html, err := s.render(r.Context(), id, snap)
	if err != nil {
		return err
	}
	b := AppendEvent(nil, statusEvent(snap.Seq, html))
	b = AppendEvent(b, doneEvent(snap))
	setStreamHeaders(w.Header())
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	_ = http.NewResponseController(w).Flush()
	return nil
}

// writeRetryStream answers a stream request with an empty stream:
// EventSource reconnects after its retry delay.
func writeRetryStream(w http.ResponseWriter) {
	setStreamHeaders(w.Header())
	w.WriteHeader(http.StatusOK)
	_ = WriteEvent(w, Event{Retry: reconnectDelay})
	_ = http.NewResponseController(w).Flush()
}

// setStreamHeaders sets the headers of an event stream that r3labs does not
// write itself (it sets the same, and "Connection: keep-alive").
func setStreamHeaders(h http.Header) {
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
}

// deadlineWriter gives every write to an event stream its own deadline, so
// a client that stopped reading fails instead of stalling the stream for
// every other viewer.
type deadlineWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	return w.ResponseWriter.Write(p)
}

func (w *deadlineWriter) Flush() {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	_ = w.rc.Flush()
}

func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
