//go:build linux

package handlers_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/internal/testapp"
)

// stuckViewer opens a task's event stream on a connection with a tiny
// receive buffer and never reads it: a suspended laptop, a dead proxy.
func stuckViewer(t *testing.T, app *testapp.App, b *testapp.Browser, path, proto string) net.Conn {
	t.Helper()
	u, _ := url.Parse(app.URL)
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048) })
	}}
	conn, err := d.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var cookies []string
	for _, c := range b.HTTP.Jar.Cookies(u) {
		cookies = append(cookies, c.Name+"="+c.Value)
	}
	fmt.Fprintf(conn, "GET %s %s\r\nHost: %s\r\nAccept: text/event-stream\r\nCookie: %s\r\n\r\n", path, proto, u.Host, strings.Join(cookies, "; "))
	return conn
}

// TestStuckViewerDoesNotStallOthers: viewers whose connections stopped
// reading (one detached, one served in place) fill their buffers while the
// task's state is broadcast; each write has a deadline (10s), so they are
// dropped and the other viewers go on. Without the deadlines every viewer
// of the task would wait for them forever.
func TestStuckViewerDoesNotStallOthers(t *testing.T) {
	t.Parallel()
	// Small send buffers on the dashboard's side (autotuning would let a
	// stuck connection swallow megabytes first).
	lc := &net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4096) })
	}}
	app := testapp.Start(t, testapp.Options{StepDelay: 2 * time.Second, ListenConfig: lc})
	b := app.SignedIn(t)
	path := "/tasks/" + strconv.FormatInt(startTask(t, app), 10) + "/events"
	if err := joinInPlace(app, b, path, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	stuckViewer(t, app, b, path, "HTTP/1.1")
	stuckViewer(t, app, b, path, "HTTP/1.0")

	const joins = 400
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	var worst time.Duration
	began := time.Now()
	for i := range joins {
		start := time.Now()
		if err := joinInPlace(app, b, path, 16*time.Second); err != nil {
			t.Fatalf("join %d after %s: %v: the stuck viewers stall the stream", i+1, time.Since(began).Round(time.Millisecond), err)
		}
		worst = max(worst, time.Since(start))
		if ctx.Err() != nil {
			t.Fatalf("only %d joins in 40s", i+1)
		}
	}
	t.Logf("%d joins (each a broadcast to the stuck viewers too) in %s; the longest waited %s", joins, time.Since(began).Round(time.Millisecond), worst.Round(time.Millisecond))
}
