package handlers_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/internal/testapp"
)

// openStream opens a task's event stream with b's cookies and returns the
// response (the caller closes it) and a cancel that hangs up.
func openStream(t *testing.T, b *testapp.Browser, u string) (*http.Response, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	resp, err := testapp.OpenEvents(ctx, b.HTTP, u)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	return resp, cancel
}

// TestStreamCaps: a session may hold StreamsPerSession streams and a client
// address StreamsPerClient; the next gets 429 with the cap in words, and a
// stream that ends frees its slot.
func TestStreamCaps(t *testing.T) {
	t.Parallel()
	const perSession, perClient = 3, 5
	app := testapp.Start(t, testapp.Options{StepDelay: time.Second, StreamsPerSession: perSession, StreamsPerClient: perClient})
	events := app.URL + "/tasks/" + strconv.FormatInt(startTask(t, app), 10) + "/events"
	first := app.SignedIn(t)
	var hangUps []context.CancelFunc
	for i := range perSession {
		resp, hangUp := openStream(t, first, events)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("stream %d of the session: %d", i+1, resp.StatusCode)
		}
		hangUps = append(hangUps, hangUp)
	}
	resp, _ := openStream(t, first, events)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(body), "already has "+strconv.Itoa(perSession)+" live progress streams open") {
		t.Fatalf("stream over the session's cap: %d %.300s", resp.StatusCode, body)
	}

	// Another session from the same address fills the address's cap.
	second := app.SignedIn(t)
	for i := range perClient - perSession {
		if resp, _ := openStream(t, second, events); resp.StatusCode != http.StatusOK {
			t.Fatalf("stream %d of the second session: %d", i+1, resp.StatusCode)
		}
	}
	resp, _ = openStream(t, second, events)
	body, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(body), "Your network address already has "+strconv.Itoa(perClient)) {
		t.Fatalf("stream over the address's cap: %d %.300s", resp.StatusCode, body)
	}

	// One stream ends: its slot is free again.
	hangUps[0]()
	testapp.WaitFor(t, 10*time.Second, "a freed slot to be taken", func() bool {
		resp, hangUp := openStream(t, first, events)
		defer hangUp()
		return resp.StatusCode == http.StatusOK
	})
}

// TestSignOutEndsStreams: signing out ends that session's open streams at
// once (the task runs on), and leaves another session's alone.
func TestSignOutEndsStreams(t *testing.T) {
	t.Parallel()
	app := testapp.Start(t, testapp.Options{StepDelay: time.Second})
	events := app.URL + "/tasks/" + strconv.FormatInt(startTask(t, app), 10) + "/events"
	leaving, staying := app.SignedIn(t), app.SignedIn(t)
	gone, _ := openStream(t, leaving, events)
	kept, _ := openStream(t, staying, events)
	for _, resp := range []*http.Response{gone, kept} {
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("stream: %d", resp.StatusCode)
		}
		if evs, err := testapp.ReadEvents(resp.Body, 1); err != nil || len(evs) != 1 || evs[0].Event != "status" {
			t.Fatalf("first event: %+v, %v", evs, err)
		}
	}
	if r := leaving.Post("/signout", nil); r.Status != http.StatusSeeOther {
		t.Fatalf("sign out: %d", r.Status)
	}
	ended := make(chan error, 1)
	go func() {
		_, err := testapp.ReadEvents(gone.Body, 0) // returns at the end of the stream
		ended <- err
	}()
	select {
	case err := <-ended:
		if err != nil {
			t.Errorf("the signed-out stream ended with %v, want its end", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the signed-out session's stream is still open 10s after sign-out")
	}
	// The other session still gets the task's progress.
	if evs, err := testapp.ReadEvents(kept.Body, 1); err != nil || len(evs) != 1 {
		t.Errorf("the other session's stream after the sign-out: %+v, %v", evs, err)
	}
}

// TestConnectionCapServesHealth: with MAX_CONNECTIONS idle connections open
// (none sent a request), /healthz and /metrics still answer: the idle ones
// make room.
func TestConnectionCapServesHealth(t *testing.T) {
	t.Parallel()
	const maxConns = 20
	app := testapp.Start(t, testapp.Options{MaxConnections: maxConns})
	addr := strings.TrimPrefix(app.URL, "http://")
	for range maxConns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
	client := &http.Client{Timeout: 10 * time.Second}
	for _, path := range []string{"/healthz", "/metrics", "/healthz"} {
		resp, err := client.Get(app.URL + path)
		if err != nil {
			t.Fatalf("GET %s at the cap: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s at the cap: %d", path, resp.StatusCode)
		}
		if path == "/metrics" && !strings.Contains(string(body), "dashboard_connections_evicted_total") {
			t.Error("/metrics lacks the connection figures")
		}
	}
}

// TestStreamsLeaveRoomForPages: event streams never go idle, so they may
// not take every connection under MAX_CONNECTIONS: past the dashboard-wide
// stream cap a stream gets 429, and pages and /healthz still answer.
func TestStreamsLeaveRoomForPages(t *testing.T) {
	t.Parallel()
	const maxConns = 6 // streams: half of it, 3
	app := testapp.Start(t, testapp.Options{StepDelay: time.Second, MaxConnections: maxConns})
	events := app.URL + "/tasks/" + strconv.FormatInt(startTask(t, app), 10) + "/events"
	b := app.SignedIn(t)
	for i := range maxConns / 2 {
		if resp, _ := openStream(t, b, events); resp.StatusCode != http.StatusOK {
			t.Fatalf("stream %d: %d", i+1, resp.StatusCode)
		}
	}
	resp, _ := openStream(t, b, events)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(body), "as many live progress streams as it serves at once") {
		t.Fatalf("stream past the dashboard's cap: %d %.300s", resp.StatusCode, body)
	}
	for _, path := range []string{"/healthz", "/ledgers"} {
		if r := b.Get(path); r.Status != http.StatusOK {
			t.Errorf("%s with the streams at their cap: %d", path, r.Status)
		}
	}
}

// TestStreamStampedeMakesOneTokenCheck: 50 viewers opening a running
// task's stream at once (every tab reconnecting after a deploy), with the
// API slow to answer, cost one token check upstream, and every viewer gets
// the task's state.
func TestStreamStampedeMakesOneTokenCheck(t *testing.T) {
	t.Parallel()
	const viewers = 50
	slowTasks := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "/async_tasks/") {
				time.Sleep(300 * time.Millisecond) // a slow API, so the viewers overlap
			}
			next.ServeHTTP(w, r)
		})
	}
	app := testapp.Start(t, testapp.Options{StepDelay: time.Second, PollInterval: 5 * time.Second, ServerToken: true,
		StreamsPerClient: viewers, WrapSandbox: slowTasks})
	events := app.URL + "/tasks/" + strconv.FormatInt(startTask(t, app), 10) + "/events"
	before := app.Sandbox.RequestCount("GET /api/v1/async_tasks/{id}")
	b := app.NewBrowser(t)
	b.HTTP.Transport = &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: viewers}
	start := make(chan struct{})
	errs := make(chan error, viewers)
	for range viewers {
		go func() {
			<-start
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			resp, err := testapp.OpenEvents(ctx, b.HTTP, events)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			evs, err := testapp.ReadEvents(resp.Body, 1)
			if err == nil && (len(evs) != 1 || evs[0].Event != "status") {
				err = fmt.Errorf("first events %+v", evs)
			}
			errs <- err
		}()
	}
	close(start)
	for range viewers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := app.Sandbox.RequestCount("GET /api/v1/async_tasks/{id}") - before; n != 1 {
		t.Errorf("%d task requests upstream for %d viewers arriving at once, want 1 token check", n, viewers)
	}
}
