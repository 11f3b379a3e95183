package handlers_test

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/internal/testapp"
)

// TestTwoTokensShareOnePoller: two people of one project, each signed in
// with their own token (the read-write and the read-only demo tokens), watch
// the same running generation: one watcher polls it for both, the second
// token costing one authorisation call and no poller of its own.
func TestTwoTokensShareOnePoller(t *testing.T) {
	t.Parallel()
	const interval = time.Second
	app := testapp.Start(t, testapp.Options{StepDelay: 400 * time.Millisecond, PollInterval: interval})
	taskID := startTask(t, app) // 12 batches: about 5 s of running
	path := "/tasks/" + strconv.FormatInt(taskID, 10)

	rw := app.SignedIn(t)
	ro := app.NewBrowser(t)
	ro.SignIn(app.Tokens.ReadOnly)
	if app.Tokens.ReadOnly == app.Tokens.ReadWrite {
		t.Fatal("the sandbox's two demo tokens are the same")
	}

	// Each opens the task page, then its event stream, and keeps it open.
	type stream struct {
		who  string
		body io.ReadCloser
	}
	var streams []stream
	for _, v := range []struct {
		who string
		b   *testapp.Browser
	}{{"read-write", rw}, {"read-only", ro}} {
		if r := v.b.Get(path); r.Status != http.StatusOK {
			t.Fatalf("%s token: task page %d", v.who, r.Status)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		t.Cleanup(cancel)
		resp, err := testapp.OpenEvents(ctx, v.b.HTTP, app.URL+path+"/events")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s token: events %d", v.who, resp.StatusCode)
		}
		if evs := scanEvents(resp.Body, 1); len(evs) != 1 || evs[0].name != "status" {
			t.Fatalf("%s token: first event %+v, want the state at once", v.who, evs)
		}
		streams = append(streams, stream{v.who, resp.Body})
	}
	if snap, ok := app.Watchers.Latest(taskID); !ok || snap.Terminal() {
		t.Fatalf("the task is not running while both watch it (watched %v, %+v): the test proves nothing", ok, snap.Task)
	}

	if n := app.Watchers.Active(); n != 1 {
		t.Errorf("%d task watchers for one task viewed with two tokens, want 1", n)
	}
	if n := opsMetrics(t, app)["dashboard_task_watchers_active"]; n != 1 {
		t.Errorf("dashboard_task_watchers_active is %v for one task viewed with two tokens, want 1", n)
	}

	// Every request from here to the end is a poll: one poller makes at
	// most one per interval (less 10% jitter), two would make twice that.
	before := app.Sandbox.RequestCount("GET /api/v1/async_tasks/{id}")
	from := time.Now()
	done := make(chan []sseEvent, len(streams))
	for _, s := range streams {
		go func() { done <- scanEvents(s.body, -1) }()
	}
	for _, s := range streams {
		select {
		case evs := <-done:
			if len(evs) == 0 || evs[len(evs)-1].name != "done" {
				t.Errorf("a stream did not end with done: %+v", evs)
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("the %s token's stream did not end", s.who)
		}
	}
	elapsed := time.Since(from)
	polls := app.Sandbox.RequestCount("GET /api/v1/async_tasks/{id}") - before
	limit := int64(float64(elapsed)/(0.9*float64(interval))) + 1
	t.Logf("two tokens over %s: %d upstream task requests (one poller: at most %d)", elapsed.Round(time.Millisecond), polls, limit)
	if polls > limit {
		t.Errorf("%d upstream task requests over %s for one task viewed with two tokens, want at most %d (one poller)", polls, elapsed.Round(time.Millisecond), limit)
	}
}
