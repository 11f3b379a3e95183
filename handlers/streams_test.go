package handlers_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/internal/testapp"
)

// Whole-app tests of the task event streams: detached connections, and
// how they end at shutdown.

// TestDetachedStreamOnTheWire reads an event stream as raw HTTP/1.1: the
// response of a hijacked (detached) stream carries the same headers as any page,
// is chunked, starts with the task's state, and the subscriber is let go as
// soon as it hangs up.
func TestDetachedStreamOnTheWire(t *testing.T) {
	t.Parallel()
	app := testapp.Start(t, testapp.Options{StepDelay: time.Second, ServerToken: true})
	id := startTask(t, app)
	addr := strings.TrimPrefix(app.URL, "http://")
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	req, _ := http.NewRequest(http.MethodGet, app.URL+"/tasks/"+strconv.FormatInt(id, 10)+"/events", nil)
	req.Header.Set("Accept", "text/event-stream")
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"Content-Type":            "text/event-stream",
		"Cache-Control":           "no-cache",
		"X-Accel-Buffering":       "no",
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": "default-src 'self'",
	} {
		if got := resp.Header.Get(k); !strings.HasPrefix(got, want) {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if resp.Header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id")
	}
	if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" || !resp.Close {
		t.Errorf("framing: transfer-encoding %v, close %v", resp.TransferEncoding, resp.Close)
	}
	evs := scanEvents(resp.Body, 1)
	if len(evs) != 1 || evs[0].name != "status" || !strings.Contains(evs[0].data, "task-status") {
		t.Fatalf("first event: %+v", evs)
	}
	if n := app.Streams.Subscribers(); n != 1 {
		t.Fatalf("%d subscribers, want 1", n)
	}
	conn.Close()
	testapp.WaitFor(t, 2*time.Second, "a subscriber that hung up to stop being counted", func() bool { return app.Streams.Subscribers() == 0 })
}

// TestManyViewersJoinQuickly: hundreds of viewers of one task each get the
// task's state as they join, without every join being sent to every viewer.
func TestManyViewersJoinQuickly(t *testing.T) {
	t.Parallel()
	const viewers = 300
	// Every viewer comes from 127.0.0.1: raise the per-address cap.
	app := testapp.Start(t, testapp.Options{StepDelay: time.Second, ServerToken: true, StreamsPerClient: viewers})
	id := startTask(t, app)
	u := app.URL + "/tasks/" + strconv.FormatInt(id, 10) + "/events"
	type result struct {
		err   error
		first time.Duration
	}
	results := make(chan result, viewers)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	began := time.Now()
	for range viewers {
		conn, err := net.DialTimeout("tcp", strings.TrimPrefix(app.URL, "http://"), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, conn)
		go func() {
			_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
			req, _ := http.NewRequest(http.MethodGet, u, nil)
			if err := req.Write(conn); err != nil {
				results <- result{err: err}
				return
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), req)
			if err != nil {
				results <- result{err: err}
				return
			}
			evs := scanEvents(resp.Body, 1)
			if len(evs) != 1 || evs[0].name != "status" {
				results <- result{err: fmt.Errorf("first events %+v", evs)}
				return
			}
			results <- result{first: time.Since(began)}
		}()
	}
	var slowest time.Duration
	for range viewers {
		r := <-results
		if r.err != nil {
			t.Fatal(r.err)
		}
		slowest = max(slowest, r.first)
	}
	t.Logf("%d viewers had the task's state within %s", viewers, slowest)
	if slowest > 10*time.Second {
		t.Errorf("%d viewers took %s to get the task's state", viewers, slowest)
	}
}

// TestStreamsEndAfterClose: a viewer that subscribes after the streams were
// closed for shutdown (its request was already in flight) is not left
// hanging, and one that was subscribed sees its stream end.
func TestStreamsEndAfterClose(t *testing.T) {
	app := testapp.Start(t, testapp.Options{StepDelay: time.Second})
	b := app.SignedIn(t)
	u := app.URL + "/tasks/" + strconv.FormatInt(startTask(t, app), 10) + "/events"

	open := func() (chan struct{}, func()) {
		ctx, cancel := context.WithCancel(context.Background())
		resp, err := testapp.OpenEvents(ctx, b.HTTP, u)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		ended := make(chan struct{})
		go func() {
			defer close(ended)
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
			}
		}()
		return ended, cancel
	}
	before, cancelBefore := open()
	defer cancelBefore()
	time.Sleep(100 * time.Millisecond)
	app.Streams.Close()
	select {
	case <-before:
	case <-time.After(3 * time.Second):
		t.Fatal("a subscribed stream did not end when the streams closed")
	}
	after, cancelAfter := open()
	defer cancelAfter()
	select {
	case <-after:
	case <-time.After(3 * time.Second):
		t.Fatal("a stream opened after Close hangs: shutdown would wait for it")
	}
	// Once the watchers are closed too, a page that needs one says the
	// dashboard is restarting, not that something went wrong.
	app.Watchers.Close()
	if r := b.Get(strings.TrimSuffix(strings.TrimPrefix(u, app.URL), "/events")); r.Status != http.StatusServiceUnavailable || !strings.Contains(r.Body, "restarting") {
		t.Errorf("task page during shutdown: %d %.200s", r.Status, r.Body)
	}
}
