package taskstream

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/internal/wait"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/watcher"
)

const (
	stuckTask = 11
	// publishes is far more than r3labs' buffers hold (64 events per
	// subscriber, 16 per stream).
	publishes = 300
)

func snapshot(state string, seq int64) watcher.Snapshot {
	return watcher.Snapshot{Task: mangrove.AsyncTask{ID: stuckTask, State: state, Progress: int(seq % 100)}, Seq: seq, ObservedAt: time.Now()}
}

// fullPipeline is how many status events a viewer blocked in its first
// write holds: r3labs' 64-event subscriber channel, the one event its stream
// goroutine then waits to hand over, and the stream's buffer. Past that,
// every publish finds the buffer full.
const fullPipeline = 64 + 1 + streamBufferSize

// publishAll publishes at least publishes statuses (and more until
// minAccepted were taken), then the end, as the watcher would; it returns
// the final sequence number. It fails the test unless every Publish returns
// while the viewer is stuck, and unless statuses had to be dropped.
func publishAll(t *testing.T, h *harness, minAccepted int64) int64 {
	t.Helper()
	returned := make(chan time.Duration, 1)
	final := int64(0)
	go func() {
		var worst time.Duration
		publish := func(state string, seq int64) {
			start := time.Now()
			h.streams.Publish(stuckTask, snapshot(state, seq))
			worst = max(worst, time.Since(start))
		}
		seq := int64(2)
		for ; seq-2 < publishes || seq-2-h.streams.dropped.Load() < minAccepted; seq++ {
			publish(mangrove.TaskRunning, seq)
		}
		publish(mangrove.TaskComplete, seq)
		final = seq
		returned <- worst
	}()
	select {
	case worst := <-returned:
		t.Logf("%d publishes to a stuck viewer (%d statuses dropped); the longest took %s", final-1, h.streams.dropped.Load(), worst)
	case <-time.After(waitTimeout): // a hang guard: each blocked publish used to take 1s
		t.Fatal("Publish waits for the stuck viewer")
	}
	if h.streams.dropped.Load() == 0 {
		t.Fatal("no status was dropped: the viewer never filled the stream's buffer, so the test shows nothing")
	}
	return final
}

// blockedWriter is an in-place subscriber's ResponseWriter whose writes
// wait until the test releases them.
type blockedWriter struct {
	header  http.Header
	release chan struct{}
	writing chan struct{} // closed at the first write
	once    sync.Once

	mu  sync.Mutex
	buf bytes.Buffer
}

func newBlockedWriter() *blockedWriter {
	return &blockedWriter{header: http.Header{}, release: make(chan struct{}), writing: make(chan struct{})}
}

func (w *blockedWriter) Header() http.Header { return w.header }
func (w *blockedWriter) WriteHeader(int)     {}
func (w *blockedWriter) Flush()              {}

func (w *blockedWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.writing) })
	<-w.release
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *blockedWriter) bytes() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return bytes.Clone(w.buf.Bytes())
}

// blockedViewer subscribes in place through w and returns once r3labs is
// writing its first event (the task's state), blocked in w; served is
// closed when Serve returns, cancel ends the request.
func blockedViewer(t *testing.T, h *harness, w *blockedWriter) (served chan struct{}, cancel context.CancelFunc) {
	t.Helper()
	h.tasks.set(stuckTask, mangrove.TaskRunning, 0, "")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r := httptest.NewRequestWithContext(ctx, http.MethodGet, "/tasks/11/events", nil)
	served = make(chan struct{})
	go func() {
		defer close(served)
		if err := h.streams.Serve(w, r, stuckTask, Viewer{Token: goodToken}); err != nil {
			t.Error(err)
		}
	}()
	select {
	case <-w.writing:
	case <-time.After(waitTimeout):
		t.Fatal("the viewer got no first event")
	}
	return served, cancel
}

func waitClosed(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(waitTimeout):
		t.Fatalf("still waiting for %s after %s", what, waitTimeout)
	}
}

// TestFinalEventsAreGivenUp: while a viewer stays stuck, the final events
// are retried for the budget only, then dropped with a warning; the viewer
// is let go when its request ends.
func TestFinalEventsAreGivenUp(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{interval: time.Hour})
	h.streams.finalBudget = 20 * time.Millisecond
	w := newBlockedWriter()
	served, cancel := blockedViewer(t, h, w)
	publishAll(t, h, fullPipeline)
	const givenUp = `level=WARN msg="event stream buffer full; final events dropped" stream=task-11 events=3`
	if !wait.Until(context.Background(), waitTimeout, func() bool { return strings.Contains(h.logs.String(), givenUp) }) {
		var other []string
		for l := range strings.Lines(h.logs.String()) {
			if !strings.Contains(l, "status event dropped") {
				other = append(other, l)
			}
		}
		t.Fatalf("the final events were not given up; %d drops, log:\n%s", h.streams.dropped.Load(), other)
	}
	close(w.release)
	cancel()
	waitClosed(t, served, "Serve to return")
	waitFor(t, "the viewer to be let go", func() bool { return h.streams.Subscribers() == 0 })
}

// TestFinalEventsWaitForRoom: final events that find the buffer full reach
// the viewer once it takes events again within the budget, in order, after
// the statuses it still had, none of them older than the one before.
func TestFinalEventsWaitForRoom(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{interval: time.Hour})
	h.streams.finalBudget = time.Hour // the test decides when the buffer drains
	w := newBlockedWriter()
	served, _ := blockedViewer(t, h, w)
	final := publishAll(t, h, fullPipeline)
	close(w.release)
	waitClosed(t, served, "the response to end") // at the empty event after done

	evs := (&viewer{rd: NewReader(bytes.NewReader(w.bytes()))}).all(t)
	n := len(evs)
	if n < 3 || evs[n-2].ID != strconv.FormatInt(final, 10) || !statusWith(`data-state="complete"`)(evs[n-2]) ||
		evs[n-1].Event != "done" || string(evs[n-1].Data) != "complete" {
		t.Fatalf("the viewer's last events: %+v", evs[max(0, n-3):])
	}
	t.Logf("the viewer got %d of %d statuses, then done", n-1, final)
	waitFor(t, "the viewer to be let go", func() bool { return h.streams.Subscribers() == 0 })
}
