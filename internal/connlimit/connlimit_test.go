package connlimit

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/internal/wait"
)

// serve starts an HTTP server on a Listener capped at max; /block waits
// until release is closed.
func serve(t *testing.T, max int, release <-chan struct{}) (*Listener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := New(ln, max)
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("/block", func(w http.ResponseWriter, r *http.Request) { <-release })
	srv := &http.Server{Handler: mux, ConnState: l.ConnState, ReadHeaderTimeout: time.Minute}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l, "http://" + ln.Addr().String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func dialIdle(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	var cs []net.Conn
	for range n {
		c, err := net.Dial("tcp", strings.TrimPrefix(addr, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		cs = append(cs, c)
	}
	return cs
}

func waitOpen(t *testing.T, l *Listener, want int) {
	t.Helper()
	if !wait.Until(context.Background(), 10*time.Second, func() bool { return l.Stats().Open == want }) {
		t.Fatalf("%d connections open, want %d", l.Stats().Open, want)
	}
}

// TestIdleConnectionsMakeRoom: with the cap full of connections that never
// send a request, a new client is still served; the longest-idle one goes.
func TestIdleConnectionsMakeRoom(t *testing.T) {
	const max = 8
	l, url := serve(t, max, nil)
	idle := dialIdle(t, url, max)
	waitOpen(t, l, max)
	for i := range 3 {
		if code, body := get(t, url+"/ok"); code != http.StatusOK || body != "ok" {
			t.Fatalf("request %d at the cap: %d %q", i, code, body)
		}
	}
	// The first request made room; the next ones may find their
	// predecessor's connection not yet closed by the server, and make room
	// again.
	if s := l.Stats(); s.Evicted < 1 || s.Evicted > 3 || s.Refused != 0 || s.Open > max {
		t.Errorf("stats %+v, want 1 to 3 evicted, none refused, at most %d open", s, max)
	}
	// The first idle connection was the one closed first.
	_ = idle[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idle[0].Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Errorf("the longest-idle connection is still open: %v", err)
	}
	for _, c := range idle {
		c.Close()
	}
	waitOpen(t, l, 0)
}

// TestBusyConnectionsRefuse: with every slot serving a request, a new
// connection gets 503 with a message; once they finish, service resumes.
func TestBusyConnectionsRefuse(t *testing.T) {
	const max = 4
	release := make(chan struct{})
	l, url := serve(t, max, release)
	done := make(chan int, max)
	for range max {
		go func() {
			c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
			resp, err := c.Get(url + "/block")
			if err != nil {
				done <- 0
				return
			}
			resp.Body.Close()
			done <- resp.StatusCode
		}()
	}
	if !wait.Until(context.Background(), 10*time.Second, func() bool { l.mu.Lock(); defer l.mu.Unlock(); return l.open == max && len(l.idle) == 0 }) {
		t.Fatal("the blocked requests never filled the cap")
	}
	code, body := get(t, url+"/ok")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "connection limit") {
		t.Errorf("at the cap, all busy: %d %q, want 503 and the message", code, body)
	}
	close(release)
	for range max {
		if c := <-done; c != http.StatusOK {
			t.Errorf("a blocked request ended %d", c)
		}
	}
	if code, _ := get(t, url+"/ok"); code != http.StatusOK {
		t.Errorf("after the busy ones ended: %d", code)
	}
	if s := l.Stats(); s.Refused != 1 {
		t.Errorf("%d refused, want 1", s.Refused)
	}
	waitOpen(t, l, 0)
}

// TestRequestBeingReceivedIsNotEvicted: a connection whose request has
// begun to arrive is busy, even before its head is complete; the one that
// never sent a byte goes instead, though it is younger.
func TestRequestBeingReceivedIsNotEvicted(t *testing.T) {
	const max = 2
	l, url := serve(t, max, nil)
	addr := strings.TrimPrefix(url, "http://")
	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if _, err := io.WriteString(slow, "GET /ok HTTP/1.1\r\nHost: x\r\n"); err != nil { // the head, not yet ended
		t.Fatal(err)
	}
	if !wait.Until(context.Background(), 10*time.Second, func() bool { l.mu.Lock(); defer l.mu.Unlock(); return len(l.idle) == 0 }) {
		t.Fatal("the connection whose request began is still counted idle")
	}
	dialIdle(t, url, 1)
	waitOpen(t, l, max)
	if code, _ := get(t, url+"/ok"); code != http.StatusOK {
		t.Fatalf("request at the cap: %d", code)
	}
	if _, err := io.WriteString(slow, "Connection: close\r\n\r\n"); err != nil {
		t.Fatalf("the connection receiving a request was closed: %v", err)
	}
	_ = slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(slow), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the slow request's answer: %v, %v", resp, err)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func TestDefaultMax(t *testing.T) {
	if n := DefaultMax(); n < 64 || n > maxDefault {
		t.Errorf("DefaultMax() = %d, want 64 to %d", n, maxDefault)
	}
	for _, tt := range []struct{ files, want int }{
		{300, 150}, {1024, 768}, {65536, 65280}, {1 << 20, maxDefault},
	} {
		if got := fromFileLimit(tt.files); got != tt.want {
			t.Errorf("fromFileLimit(%d) = %d, want %d", tt.files, got, tt.want)
		}
	}
}
