//go:build linux

package taskstream

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// stuckHarness serves with small send buffers (kernel autotuning would let
// a stuck connection swallow megabytes first) and a watcher that does not
// poll: the test publishes itself.
func stuckHarness(t *testing.T) *harness {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4096) })
	}}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, harnessOptions{interval: time.Hour, listener: ln})
	// The viewer stays stuck until the test lets it go: a write deadline
	// dropping it would unblock even a publisher that waits for it.
	h.streams.writeTimeout = time.Hour
	h.render.pad.Store(16 << 10) // per status: a few fill the kernel's buffers
	h.tasks.set(stuckTask, mangrove.TaskRunning, 0, "")
	return h
}

// stuckViewer opens the task's stream (detached) on a connection with a
// tiny receive buffer and does not read it: a suspended laptop, a dead proxy.
func stuckViewer(t *testing.T, h *harness) net.Conn {
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048) })
	}}
	conn, err := d.Dial("tcp", h.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET /tasks/%d/events?token=%s HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n", stuckTask, goodToken)
	// Its first event is rendered once r3labs has it as a subscriber.
	waitFor(t, "the stuck viewer to subscribe", func() bool { return h.render.renders.Load() >= 1 })
	return conn
}

// TestPublishNeverWaitsForAStuckViewer: with a viewer that never reads,
// on a real connection, Publish returns at once, and the viewer is let go
// when it hangs up. (blocked_test.go has the final events' retries.)
func TestPublishNeverWaitsForAStuckViewer(t *testing.T) {
	t.Parallel()
	h := stuckHarness(t)
	conn := stuckViewer(t, h)
	publishAll(t, h, 0)
	conn.Close()
	waitFor(t, "the stuck viewer to be let go", func() bool { return h.streams.Subscribers() == 0 })
}

// TestFinalEventsReachALateReader: a viewer that stops reading for a while
// still gets the final events once it reads again within the retry budget,
// in order, and never a status older than one it got.
func TestFinalEventsReachALateReader(t *testing.T) {
	t.Parallel()
	h := stuckHarness(t)
	h.streams.finalBudget = time.Hour // the test's reader decides when the buffer drains
	conn := stuckViewer(t, h)
	final := publishAll(t, h, 0)

	_ = conn.SetReadDeadline(time.Now().Add(streamTimeout))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	v := &viewer{resp: resp, rd: NewReader(resp.Body), cancel: func() {}}
	evs := v.all(t)
	n := len(evs)
	if n < 2 || !isDone(evs[n-1]) || string(evs[n-1].Data) != "complete" {
		t.Fatalf("the stream ended with %+v, want done", evs[max(0, n-2):])
	}
	if last := evs[n-2]; !isStatus(last) || last.ID != strconv.FormatInt(final, 10) {
		t.Fatalf("done after %+v, want after the final status %d", last, final)
	}
	t.Logf("the late reader got %d of %d statuses, the last one %d, then done", n-1, final, v.lastSeq)
	waitFor(t, "the viewer to be let go", func() bool { return h.streams.Subscribers() == 0 })
}
