package taskstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/internal/wait"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/watcher"
)

// TestViewerFollowsTaskToDone: a viewer gets the task's current state at
// once, then each change, then "done", and the response ends; upstream text
// with bare CRs cannot forge an event on the way.
func TestViewerFollowsTaskToDone(t *testing.T) {
	t.Parallel()
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOptions{})
			h.tasks.set(1, mangrove.TaskRunning, 0, "Processing\revent: done\r\ndata: forged")
			v := h.open(t, 1, mode)
			checkStreamHeaders(t, v.resp, mode)

			first := v.until(t, "first status", isStatus)
			if !strings.Contains(string(first.Data), `value="0"`) ||
				!strings.Contains(string(first.Data), "<p>Processing\nevent: done\ndata: forged</p>") {
				t.Fatalf("first status %q", first.Data)
			}
			h.tasks.set(1, mangrove.TaskRunning, 50, "halfway")
			v.until(t, "progress 50", statusWith(`value="50"`))
			h.tasks.set(1, mangrove.TaskComplete, 100, "")

			var last Event
			done := v.until(t, "done", func(ev Event) bool {
				if isStatus(ev) {
					last = ev
				}
				return isDone(ev)
			})
			if !strings.Contains(string(last.Data), `data-state="complete"`) || done.ID != "done" || string(done.Data) != "complete" {
				t.Fatalf("ended with status %q and done %+v", last.Data, done)
			}
			if ev, err := v.next(); !errors.Is(err, io.EOF) {
				t.Fatalf("after done: %+v, %v; want the end of the response", ev, err)
			}
			waitFor(t, "the stream to go", func() bool { return h.streams.Subscribers() == 0 && h.streams.Open() == 0 })
		})
	}
}

func checkStreamHeaders(t *testing.T, resp *http.Response, mode string) {
	t.Helper()
	for k, want := range map[string]string{
		"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
		"X-Accel-Buffering": "no", "X-Caller": "kept",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if mode == detached && (len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" || !resp.Close) {
		t.Errorf("detached framing: transfer-encoding %v, close %v", resp.TransferEncoding, resp.Close)
	}
}

func TestReconnectAfterDoneGets204(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.tasks.set(2, mangrove.TaskComplete, 100, "")
	req, _ := http.NewRequest(http.MethodGet, h.url(2, detached), nil)
	req.Header.Set("Last-Event-ID", "done")
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d, want 204", resp.StatusCode)
	}
}

// TestFinishedTaskGetsFinalEvents: a task that ended before anyone watched
// gets its final state and done directly, without a stream.
func TestFinishedTaskGetsFinalEvents(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.tasks.set(3, mangrove.TaskFailed, 40, "")
	for _, mode := range modes {
		v := h.open(t, 3, mode)
		var evs []Event
		for {
			ev, err := v.next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			evs = append(evs, ev)
		}
		if len(evs) != 2 || !statusWith(`data-state="failed"`)(evs[0]) || evs[1].Event != "done" ||
			evs[1].ID != "done" || string(evs[1].Data) != "failed" {
			t.Fatalf("%s: events %+v", mode, evs)
		}
	}
	h.assertNoStreams(t, "for a finished task")
}

func TestOtherViewerIsRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.tasks.set(4, mangrove.TaskRunning, 0, "")
	resp, err := h.srv.Client().Get(strings.Replace(h.url(4, detached), goodToken, "other", 1))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || h.streams.Open() != 0 {
		t.Fatalf("status %d, %d streams; want 404 and none", resp.StatusCode, h.streams.Open())
	}
}

// noJoin is a pool whose watchers always stop before the viewer joins.
type noJoin struct {
	*watcher.Pool
	joins atomic.Int64
}

func (n *noJoin) Join(int64) (func(), bool) {
	n.joins.Add(1)
	return func() {}, false
}

func TestRetryWhenTheWatcherKeepsStopping(t *testing.T) {
	t.Parallel()
	var nj *noJoin
	h := newHarness(t, harnessOptions{wrap: func(p *watcher.Pool) Watchers { nj = &noJoin{Pool: p}; return nj }})
	h.tasks.set(5, mangrove.TaskRunning, 0, "")
	resp, err := h.srv.Client().Get(h.url(5, detached))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || nj.joins.Load() != authorizeAttempts {
		t.Fatalf("status %d after %d joins; want 503 after %d", resp.StatusCode, nj.joins.Load(), authorizeAttempts)
	}
	h.assertNoStreams(t, "left by failed joins")
}

// TestCloseEndsStreams: Close (twice, at once) ends open streams, and a
// stream requested afterwards is the empty one that tells the browser to
// come back.
func TestCloseEndsStreams(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.tasks.set(6, mangrove.TaskRunning, 10, "")
	var vs []*viewer
	for _, mode := range modes {
		v := h.open(t, 6, mode)
		v.until(t, mode+" first status", isStatus)
		vs = append(vs, v)
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(h.streams.Close)
	}
	wg.Wait()
	for i, v := range vs {
		if _, err := v.waitEvent(func(Event) bool { return false }); !errors.Is(err, io.EOF) {
			t.Errorf("%s stream after Close: %v, want its end", modes[i], err)
		}
	}
	for _, mode := range modes {
		v := h.open(t, 6, mode)
		evs, err := readEvents(v.rd)
		if !errors.Is(err, io.EOF) || len(evs) != 1 || evs[0].Retry != reconnectDelay || evs[0].Event != "" || evs[0].Data != nil {
			t.Errorf("%s stream opened after Close: %+v, %v", mode, evs, err)
		}
	}
	waitFor(t, "no subscriber", func() bool { return h.streams.Subscribers() == 0 })
}

// TestViewerUntilEndsItsStreams: when a viewer's Until ends (it signed
// out), its open streams end, detached or not, while the task runs on; Left
// is called once for each stream, and once for a request that opened none.
func TestViewerUntilEndsItsStreams(t *testing.T) {
	t.Parallel()
	signedIn, signOut := context.WithCancel(context.Background())
	h := newHarness(t, harnessOptions{until: signedIn})
	h.tasks.set(16, mangrove.TaskRunning, 10, "")
	var vs []*viewer
	for _, mode := range modes {
		v := h.open(t, 16, mode)
		v.until(t, mode+" first status", isStatus)
		vs = append(vs, v)
	}
	if n := h.left.Load(); n != 0 {
		t.Fatalf("Left called %d times while the streams are open", n)
	}
	signOut()
	for i, v := range vs {
		if _, err := v.waitEvent(func(Event) bool { return false }); !errors.Is(err, io.EOF) {
			t.Errorf("%s stream after Until ended: %v, want its end", modes[i], err)
		}
	}
	waitFor(t, "Left for both streams", func() bool { return h.left.Load() == 2 })
	h.tasks.set(17, mangrove.TaskComplete, 100, "")
	v := h.open(t, 17, detached) // a finished task: final events, no stream kept
	v.until(t, "done", isDone)
	waitFor(t, "Left for the finished task's request", func() bool { return h.left.Load() == 3 })
}

// TestManyViewersGetDone: every one of 50 viewers of one task, detached or
// not, gets the final events.
func TestManyViewersGetDone(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.tasks.set(7, mangrove.TaskRunning, 0, "")
	const viewers = 50
	var joined, finished sync.WaitGroup
	errs := make(chan error, viewers)
	end := make(chan struct{})
	for i := range viewers {
		joined.Add(1)
		finished.Add(1)
		go func() {
			defer finished.Done()
			errs <- followToEnd(h, modes[i%2], &joined, end)
		}()
	}
	joined.Wait()
	h.tasks.set(7, mangrove.TaskComplete, 100, "")
	close(end)
	finished.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	waitFor(t, "every stream to go", func() bool { return h.streams.Subscribers() == 0 && h.streams.Open() == 0 })
}

// followToEnd joins task 7, reads its first status, and reads on to done
// and the end of the response.
func followToEnd(h *harness, mode string, joined *sync.WaitGroup, end <-chan struct{}) error {
	v, err := h.tryOpen(7, mode)
	if err != nil {
		joined.Done()
		return err
	}
	defer v.close()
	_, err = v.waitEvent(isStatus)
	joined.Done()
	if err != nil {
		return fmt.Errorf("%s: first status: %w", mode, err)
	}
	<-end
	if _, err := v.waitEvent(isDone); err != nil {
		return fmt.Errorf("%s: no done: %w", mode, err)
	}
	if _, err := v.next(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: after done: %v", mode, err)
	}
	return nil
}

// TestViewersLeave: the subscriber count drops as viewers hang up; the
// task's stream stays while its watcher runs, and goes with it.
func TestViewersLeave(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.tasks.set(8, mangrove.TaskRunning, 0, "")
	var vs []*viewer
	for i := range 8 {
		v := h.open(t, 8, modes[i%2])
		v.until(t, "first status", isStatus)
		vs = append(vs, v)
	}
	if n := h.streams.Subscribers(); n != len(vs) {
		t.Fatalf("%d subscribers, want %d", n, len(vs))
	}
	for _, v := range vs {
		v.close()
	}
	waitFor(t, "every viewer to be let go", func() bool { return h.streams.Subscribers() == 0 })
	if n := h.streams.Open(); n != 1 {
		t.Errorf("%d streams open while the task's watcher runs, want 1", n)
	}
	h.tasks.set(8, mangrove.TaskComplete, 100, "")
	waitFor(t, "the stream to go with its watcher", func() bool { return h.streams.Open() == 0 })
}

func TestHeartbeat(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{heartbeat: 5 * time.Millisecond})
	h.tasks.set(9, mangrove.TaskRunning, 0, "")
	for _, mode := range modes {
		v := h.open(t, 9, mode)
		for {
			ev, err := v.rd.Next()
			if err != nil {
				t.Fatalf("%s: no heartbeat: %v", mode, err)
			}
			if ev.Comment == heartbeatComment && ev.Event == "" && ev.Data == nil {
				break
			}
		}
	}
}

// TestNoGoroutineLeak: viewers coming and going, tasks finishing under
// their viewers, and Close leave no goroutine behind. Not parallel: it
// counts the process's goroutines.
func TestNoGoroutineLeak(t *testing.T) {
	base := runtime.NumGoroutine()
	h := newHarness(t, harnessOptions{heartbeat: 2 * time.Millisecond})
	for id := int64(1); id <= 3; id++ {
		h.tasks.set(id, mangrove.TaskRunning, 0, "")
	}
	for i := range 30 {
		v := h.open(t, int64(1+i%3), modes[i%2])
		v.until(t, "first status", isStatus)
		v.close()
	}
	var vs []*viewer
	for i := range 6 {
		v := h.open(t, int64(1+i%3), modes[i%2])
		v.until(t, "first status", isStatus)
		vs = append(vs, v)
	}
	for id := int64(1); id <= 3; id++ {
		h.tasks.set(id, mangrove.TaskComplete, 100, "")
	}
	for _, v := range vs {
		v.until(t, "done", isDone)
		if _, err := v.next(); !errors.Is(err, io.EOF) {
			t.Fatalf("after done: %v", err)
		}
		v.close()
	}
	waitFor(t, "every stream and watcher to stop", func() bool {
		return h.streams.Open() == 0 && h.streams.Subscribers() == 0 && h.pool.Active() == 0
	})
	h.close()
	if !wait.Until(context.Background(), waitTimeout, func() bool { return runtime.NumGoroutine() <= base }) {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
	}
}

// TestStreamEndsWhenTheWatcherGivesUp: a task that never finishes does not
// hold its viewers' streams forever: when the watcher gives up, they get a
// last status and a done event saying so, and the response ends.
func TestStreamEndsWhenTheWatcherGivesUp(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{lifetime: 80 * time.Millisecond})
	h.tasks.set(1, mangrove.TaskRunning, 10, "stuck")
	v := h.open(t, 1, detached)
	v.until(t, "first status", isStatus)
	done := v.until(t, "done", isDone)
	if string(done.Data) != gaveUpData {
		t.Fatalf("done %+v, want data %q", done, gaveUpData)
	}
	if ev, err := v.next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after done: %+v, %v; want the end of the response", ev, err)
	}
}
