package taskstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/internal/testkit"
	"github.com/carbon-dash/mangrove-dashboard/internal/wait"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/watcher"
)

const (
	goodToken = "good-token"
	// streamTimeout ends a test's stream that hangs (a hang guard: the
	// tests wait for states, never for durations).
	streamTimeout = time.Minute
	waitTimeout   = 15 * time.Second
	detached      = "detached"
	inPlace       = "in-place"
)

var modes = []string{detached, inPlace}

// fakeTasks is the Mangrove API's task endpoint, its tasks advanced by the test.
type fakeTasks struct {
	mu    sync.Mutex
	tasks map[int64]mangrove.AsyncTask
}

func (f *fakeTasks) AsyncTask(_ context.Context, token string, id int64) (*mangrove.AsyncTask, error) {
	if token != goodToken {
		return nil, mangrove.ErrNotFound // as the API answers for another project's task
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.tasks[id]
	if !ok {
		return nil, mangrove.ErrNotFound
	}
	return &t, nil
}

func (f *fakeTasks) set(id int64, state string, progress int, desc string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := mangrove.AsyncTask{ID: id, Type: "generation", State: state, Progress: progress}
	if desc != "" {
		t.ProgressDescription = &desc
	}
	f.tasks[id] = t
}

// fakeRenderer renders a multi-line fragment showing the snapshot,
// upstream text included as it is.
type fakeRenderer struct {
	renders atomic.Int64
	pad     atomic.Int64 // bytes of padding per fragment
}

func (r *fakeRenderer) render(_ context.Context, id int64, snap watcher.Snapshot) ([]byte, error) {
	r.renders.Add(1)
	desc := ""
	if d := snap.Task.ProgressDescription; d != nil {
		desc = *d
	}
	html := fmt.Sprintf("<div class=\"task-status\" data-task=\"%d\" data-state=\"%s\" data-seq=\"%d\">\n"+
		"  <progress value=\"%d\"></progress>\n  <p>%s</p>\n</div>",
		id, snap.Task.State, snap.Seq, snap.Task.Progress, desc)
	return []byte(html + strings.Repeat(" ", int(r.pad.Load()))), nil
}

type harnessOptions struct {
	interval  time.Duration // watcher polls; default 5ms
	lifetime  time.Duration // the watcher's MaxLifetime; default watcher's
	heartbeat time.Duration
	listener  net.Listener
	wrap      func(*watcher.Pool) Watchers
	until     context.Context // every viewer's Viewer.Until
}

// harness is a watcher pool over fakeTasks, the streams subscribed to it,
// and an HTTP server calling Serve for GET /tasks/{id}/events
// (?token=…; &inplace=1 hides Hijack from Serve).
type harness struct {
	tasks   *fakeTasks
	render  *fakeRenderer
	pool    *watcher.Pool
	streams *Streams
	srv     *httptest.Server
	logs    *testkit.Buffer
	once    sync.Once
	until   context.Context
	left    atomic.Int64 // Viewer.Left calls
}

func newHarness(t testing.TB, o harnessOptions) *harness {
	t.Helper()
	if o.interval <= 0 {
		o.interval = 5 * time.Millisecond
	}
	h := &harness{tasks: &fakeTasks{tasks: map[int64]mangrove.AsyncTask{}}, render: &fakeRenderer{}, logs: &testkit.Buffer{}, until: o.until}
	h.pool = watcher.NewPool(h.tasks, watcher.Options{Interval: o.interval, MaxLifetime: o.lifetime})
	var ws Watchers = h.pool
	if o.wrap != nil {
		ws = o.wrap(h.pool)
	}
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h.streams = New(Options{Watchers: ws, Render: h.render.render, Logger: log, Heartbeat: o.heartbeat})
	h.pool.Subscribe(h.streams)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /tasks/{id}/events", h.serveEvents)
	h.srv = httptest.NewUnstartedServer(mux)
	if o.listener != nil {
		h.srv.Listener.Close()
		h.srv.Listener = o.listener
	}
	h.srv.Start()
	t.Cleanup(h.close)
	return h
}

func (h *harness) serveEvents(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("X-Caller", "kept") // a middleware's header
	if r.URL.Query().Has("inplace") {
		w = flushOnly{w}
	}
	err = h.streams.Serve(w, r, id, Viewer{Token: r.URL.Query().Get("token"), Until: h.until, Left: func() { h.left.Add(1) }})
	switch {
	case err == nil:
	case errors.Is(err, ErrRetry):
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
	case errors.Is(err, mangrove.ErrNotFound):
		http.NotFound(w, r)
	default:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// close ends the streams first (so the server's Close need not wait for
// them), then the server and the watchers.
func (h *harness) close() {
	h.once.Do(func() {
		h.streams.Close()
		h.srv.Close()
		h.pool.Close()
	})
}

// flushOnly is a wrapping ResponseWriter without Hijack or Unwrap: the
// stream is served in place.
type flushOnly struct{ http.ResponseWriter }

func (f flushOnly) Flush() { f.ResponseWriter.(http.Flusher).Flush() }

func (h *harness) url(id int64, mode string) string {
	u := h.srv.URL + "/tasks/" + strconv.FormatInt(id, 10) + "/events?token=" + goodToken
	if mode == inPlace {
		u += "&inplace=1"
	}
	return u
}

// viewer is one subscriber of a task's events.
type viewer struct {
	resp    *http.Response
	rd      *Reader
	cancel  context.CancelFunc
	lastSeq int64
}

func (h *harness) open(t testing.TB, id int64, mode string) *viewer {
	t.Helper()
	v, err := h.tryOpen(id, mode)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.close)
	return v
}

func (h *harness) tryOpen(id int64, mode string) (*viewer, error) {
	ctx, cancel := context.WithTimeout(context.Background(), streamTimeout)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.url(id, mode), nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		resp.Body.Close()
		return nil, fmt.Errorf("task %d (%s): status %d", id, mode, resp.StatusCode)
	}
	return &viewer{resp: resp, rd: NewReader(resp.Body), cancel: cancel}, nil
}

func (v *viewer) close() {
	v.cancel()
	v.resp.Body.Close()
}

// next returns the next event with a type or data (heartbeats skipped); it
// fails when a status is older than one before it.
func (v *viewer) next() (Event, error) {
	for {
		ev, err := v.rd.Next()
		if err != nil {
			return ev, err
		}
		if ev.Event == "" && len(ev.Data) == 0 {
			continue
		}
		if ev.Event == "status" {
			seq, err := strconv.ParseInt(ev.ID, 10, 64)
			if err != nil || seq < v.lastSeq {
				return ev, fmt.Errorf("status id %q after %d", ev.ID, v.lastSeq)
			}
			v.lastSeq = seq
		}
		return ev, nil
	}
}

// all reads the events to the end of the stream, failing the test on an
// error or a status older than one before it.
func (v *viewer) all(t testing.TB) []Event {
	t.Helper()
	var evs []Event
	for {
		ev, err := v.next()
		if errors.Is(err, io.EOF) {
			return evs
		}
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
}

// assertNoStreams fails the test when a stream or subscriber is left.
func (h *harness) assertNoStreams(t testing.TB, what string) {
	t.Helper()
	if n, m := h.streams.Open(), h.streams.Subscribers(); n != 0 || m != 0 {
		t.Errorf("%d streams, %d subscribers %s", n, m, what)
	}
}

// waitEvent reads events until match accepts one.
func (v *viewer) waitEvent(match func(Event) bool) (Event, error) {
	for {
		ev, err := v.next()
		if err != nil {
			return ev, err
		}
		if match(ev) {
			return ev, nil
		}
	}
}

func (v *viewer) until(t testing.TB, what string, match func(Event) bool) Event {
	t.Helper()
	ev, err := v.waitEvent(match)
	if err != nil {
		t.Fatalf("no %s: %v", what, err)
	}
	return ev
}

func isStatus(ev Event) bool { return ev.Event == "status" }
func isDone(ev Event) bool   { return ev.Event == "done" }

func statusWith(s string) func(Event) bool {
	return func(ev Event) bool { return ev.Event == "status" && bytes.Contains(ev.Data, []byte(s)) }
}

// waitFor waits for cond, failing the test after waitTimeout.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	if !wait.Until(context.Background(), waitTimeout, cond) {
		t.Fatalf("still waiting for %s after %s", what, waitTimeout)
	}
}
