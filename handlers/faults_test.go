package handlers_test

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/internal/testapp"
	"github.com/carbon-dash/mangrove-dashboard/mangrove/sandbox"
	"github.com/carbon-dash/mangrove-dashboard/store"
	"github.com/carbon-dash/mangrove-dashboard/taskstream"
)

// These tests run the dashboard against the sandbox with injected faults
// (mangrove/sandbox/faults.go): added latency, 5xx answers, 429s, dropped
// connections and generations that fail midway.

const batchGenerationsRoute = "POST /api/v1/ledgers/{ledger_id}/batch_generations"

func mustFaults(t *testing.T, spec string) sandbox.Faults {
	t.Helper()
	f, err := sandbox.ParseFaults(spec)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func setFaults(t *testing.T, app *testapp.App, spec string) {
	t.Helper()
	if err := app.Sandbox.SetFaults(mustFaults(t, spec)); err != nil {
		t.Fatal(err)
	}
	app.ClearCaches() // pages ask the API again
}

// getWith fetches a path with extra request headers.
func getWith(t *testing.T, b *testapp.Browser, u string, hdr map[string]string) testapp.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := b.HTTP.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&sb)
	return testapp.Response{Status: resp.StatusCode, Header: resp.Header, Body: sb.String(), Location: resp.Header.Get("Location")}
}

// TestFaultsBecomeClearPages: with every upstream call failing in each way
// the sandbox can fail, every page answers with a specific message and none
// answers 500.
func TestFaultsBecomeClearPages(t *testing.T) {
	t.Parallel()
	const unavailable = "Mangrove is unavailable or busy right now"
	specs := []string{
		"error_rate=1,status=500",
		"error_rate=1,status=502",
		"error_rate=1,status=503",
		"error_rate=1,status=504",
		"rate_limit=1,retry_after=1s",
		"drop=1",
		"latency=700ms", // above the client's 150ms timeout
		"error_rate=1,methods=POST",
	}
	for _, spec := range specs {
		t.Run(spec, func(t *testing.T) {
			t.Parallel()
			opts := testapp.Options{StepDelay: time.Second}
			if strings.HasPrefix(spec, "latency") {
				// Only here: under the parallel tests' load a normal call
				// can take longer than this.
				opts.ClientTimeout = 150 * time.Millisecond
			}
			app := testapp.Start(t, opts)
			b := app.SignedIn(t)
			ncr := app.LedgerByName(t, "Net Carbon Removal").ID
			b.Get("/ledgers/" + ncr + "/generate") // a CSRF token for the preview
			taskID := strconv.FormatInt(startTask(t, app), 10)
			setFaults(t, app, spec)
			postOnly := strings.Contains(spec, "methods=POST")

			pages := []struct {
				name, path string
				hdr        map[string]string
				// query is sent on a page whose upstream call is a POST
				// (the preview asks generate_preview).
				query url.Values
				want  string
			}{
				{name: "ledgers", path: "/ledgers", want: unavailable},
				{name: "ledger", path: "/ledgers/" + ncr, want: unavailable},
				{name: "form", path: "/ledgers/" + ncr + "/generate", want: unavailable},
				{name: "preview", path: "/ledgers/" + ncr + "/preview", query: url.Values{"start_time": {"2025-01-01"}, "end_time": {"2025-03-31"}}, want: unavailable},
				{name: "task", path: "/tasks/" + taskID, want: unavailable},
				{name: "events", path: "/tasks/" + taskID + "/events", hdr: map[string]string{"Accept": "text/event-stream"}, want: unavailable},
				{name: "batches fragment", path: "/tasks/" + taskID + "/batches", hdr: map[string]string{"HX-Request": "true"}, want: unavailable},
				{name: "history", path: "/tasks", want: "Generation history"},
			}
			for _, p := range pages {
				if postOnly && p.name == "events" {
					continue // a working stream stays open while the task runs
				}
				var r testapp.Response
				if p.query != nil {
					r = b.Get(p.path + "?" + p.query.Encode())
				} else {
					r = getWith(t, b, app.URL+p.path, p.hdr)
				}
				if r.Status == http.StatusInternalServerError {
					t.Errorf("%s: 500 under %s: %.300s", p.name, spec, r.Body)
					continue
				}
				if postOnly && p.query == nil {
					if r.Status != http.StatusOK {
						t.Errorf("%s: %d with only POSTs failing", p.name, r.Status)
					}
					continue
				}
				if !strings.Contains(r.Body, p.want) {
					t.Errorf("%s under %s: status %d without %q: %.300s", p.name, spec, r.Status, p.want, r.Body)
				}
				if p.want == unavailable && r.Status != http.StatusServiceUnavailable {
					t.Errorf("%s under %s: status %d, want 503", p.name, spec, r.Status)
				}
				if strings.Contains(r.Body, "injected fault") {
					t.Errorf("%s: the upstream error body leaked into the page", p.name)
				}
			}
		})
	}
}

// TestGETsRecoverWithinTheRetryBudget: with a share of upstream requests
// failing, the client's retries (3 attempts in testapp) make almost every
// page view succeed.
func TestGETsRecoverWithinTheRetryBudget(t *testing.T) {
	t.Parallel()
	const views = 100
	for _, tc := range []struct {
		spec    string
		atLeast int
	}{
		// One ledgers page is one API call: it fails only when all three
		// attempts do (0.3^3 = 2.7%).
		{"error_rate=0.3,seed=1", 90},
		{"rate_limit=0.3,seed=2", 90},
		{"drop=0.3,seed=3", 90},
		// 35% of attempts fail: 4.3% of views should (measured: 92 of 100).
		{"latency=5ms,error_rate=0.2,status=502,rate_limit=0.1,drop=0.05,seed=4", 85},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			t.Parallel()
			app := testapp.Start(t, testapp.Options{})
			b := app.SignedIn(t)
			setFaults(t, app, tc.spec)
			before := app.Sandbox.RequestCount("GET /api/v1/ledgers")
			ok := 0
			for range views {
				app.ClearCaches() // each view asks the API
				r := b.Get("/ledgers")
				switch {
				case r.Status == http.StatusOK:
					ok++
				case r.Status == http.StatusInternalServerError:
					t.Fatalf("a 500 under %s: %.300s", tc.spec, r.Body)
				case !strings.Contains(r.Body, "Mangrove is unavailable"):
					t.Fatalf("status %d without a clear message: %.300s", r.Status, r.Body)
				}
			}
			upstream := app.Sandbox.RequestCount("GET /api/v1/ledgers") - before
			t.Logf("%s: %d of %d ledgers pages answered 200 (%d upstream requests)", tc.spec, ok, views, upstream)
			if ok < tc.atLeast {
				t.Fatalf("only %d of %d page views recovered, want at least %d", ok, views, tc.atLeast)
			}
		})
	}
}

// confirmThroughUI previews a Q1 2025 generation and confirms it; it returns
// the confirm response.
func confirmThroughUI(t *testing.T, b *testapp.Browser, ledger, start, end string) (testapp.Response, url.Values) {
	t.Helper()
	r := preview(t, b, ledger, url.Values{"start_time": {start}, "end_time": {end}})
	if r.Status != http.StatusOK {
		t.Fatalf("preview: %d %.300s", r.Status, r.Body)
	}
	confirm := formValues(t, r.Body, `form[action$="/generations"]`)
	return b.Post("/ledgers/"+ledger+"/generations", confirm), confirm
}

func taskIDFrom(t *testing.T, location string) int64 {
	t.Helper()
	id, err := strconv.ParseInt(strings.TrimPrefix(location, "/tasks/"), 10, 64)
	if err != nil || !strings.HasPrefix(location, "/tasks/") {
		t.Fatalf("not a task location: %q", location)
	}
	return id
}

// eventStream opens a task's event stream; next returns the next event.
type eventStream struct {
	events chan sseEvent
	close  func()
}

func openEvents(t *testing.T, b *testapp.Browser, u string) *eventStream {
	t.Helper()
	resp, cancel := openStream(t, b, u)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("events: status %d", resp.StatusCode)
	}
	s := &eventStream{events: make(chan sseEvent, 1024)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(s.events)
		rd := taskstream.NewReader(resp.Body)
		for {
			ev, err := rd.Next()
			if err != nil {
				return
			}
			if ev.Event != "" || len(ev.Data) > 0 {
				s.events <- sseEvent{id: ev.ID, name: ev.Event, data: string(ev.Data)}
			}
		}
	}()
	s.close = func() { cancel(); resp.Body.Close(); <-done }
	t.Cleanup(s.close)
	return s
}

// until reads events until match accepts one; it fails the test when the
// stream ends or the time runs out first.
func (s *eventStream) until(t *testing.T, timeout time.Duration, what string, match func(sseEvent) bool) sseEvent {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				t.Fatalf("the stream ended before %s", what)
			}
			if match(ev) {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %s within %s", what, timeout)
		}
	}
}

// TestWatcherRetriesThroughAnOutage: while the task endpoint fails, the
// watcher backs off and tells every viewer it is retrying; once the API
// answers again the stream delivers the task's true final state.
func TestWatcherRetriesThroughAnOutage(t *testing.T) {
	t.Parallel()
	app := testapp.Start(t, testapp.Options{StepDelay: 100 * time.Millisecond, PollInterval: 50 * time.Millisecond})
	b := app.SignedIn(t)
	ncr := app.LedgerByName(t, "Net Carbon Removal").ID
	r, _ := confirmThroughUI(t, b, ncr, "2025-01-01", "2025-03-31")
	taskID := taskIDFrom(t, r.Location)
	path := "/tasks/" + strconv.FormatInt(taskID, 10)

	events := openEvents(t, b, app.URL+path+"/events")
	events.until(t, 5*time.Second, "a first status", func(ev sseEvent) bool { return ev.name == "status" })

	setFaults(t, app, "error_rate=1,status=503,paths=/async_tasks")
	outage := time.Now()
	retrying := events.until(t, 10*time.Second, "a retrying notice", func(ev sseEvent) bool {
		return ev.name == "status" && strings.Contains(ev.data, `id="task-retrying"`)
	})
	if !strings.Contains(retrying.data, "retrying") || !strings.Contains(retrying.data, "status 503") {
		t.Errorf("the retrying notice does not say what happens: %s", retrying.data)
	}
	// A page view during the outage shows the same notice, not an error.
	if page := b.Get(path); page.Status != http.StatusOK || !strings.Contains(page.Body, `id="task-retrying"`) {
		t.Errorf("task page during the outage: %d, retrying callout present: %v", page.Status, strings.Contains(page.Body, "task-retrying"))
	}
	// The generation goes on upstream (12 batches of 100ms); keep the outage
	// until it has surely ended, so the end happens while nobody can see it.
	time.Sleep(time.Until(outage.Add(2500 * time.Millisecond)))
	polledDuring := app.Sandbox.RequestCount("GET /api/v1/async_tasks/{id}")
	setFaults(t, app, "off")
	t.Logf("outage of %s; %d task requests upstream so far", time.Since(outage).Round(time.Millisecond), polledDuring)

	status := events.until(t, 40*time.Second, "the final state", func(ev sseEvent) bool {
		return ev.name == "status" && strings.Contains(ev.data, `data-state="complete"`)
	})
	if strings.Contains(status.data, "task-retrying") || !strings.Contains(status.data, `value="100"`) {
		t.Errorf("final status still retrying or not at 100%%: %s", status.data)
	}
	done := events.until(t, 5*time.Second, "the done event", func(ev sseEvent) bool { return ev.name == "done" })
	if done.data != "complete" {
		t.Errorf("done event %q, want complete", done.data)
	}
	gen, err := app.Store.GenerationByTask(context.Background(), taskID)
	if err != nil || gen.State != store.StateComplete {
		t.Errorf("audit row after the outage: %+v %v", gen.State, err)
	}
}

// TestGenerationFailingMidway: a generation that fails half way shows as
// failed, with its message, on the stream, the task page and the history,
// and its audit row records it.
func TestGenerationFailingMidway(t *testing.T) {
	t.Parallel()
	app := testapp.Start(t, testapp.Options{StepDelay: 20 * time.Millisecond, PollInterval: 50 * time.Millisecond,
		Faults: sandbox.Faults{FailGeneration: 1}})
	b := app.SignedIn(t)
	ncr := app.LedgerByName(t, "Net Carbon Removal").ID
	r, _ := confirmThroughUI(t, b, ncr, "2025-01-01", "2025-03-31")
	taskID := taskIDFrom(t, r.Location)
	path := "/tasks/" + strconv.FormatInt(taskID, 10)
	const msg = "model run aborted after 6 of 12 batches"

	evs := readEvents(t, b, app.URL+path+"/events", 30*time.Second)
	n := len(evs)
	if n < 2 || evs[n-1].name != "done" || evs[n-1].data != "failed" {
		t.Fatalf("stream did not end with done/failed: %+v", evs)
	}
	if last := evs[n-2].data; !strings.Contains(last, `data-state="failed"`) || !strings.Contains(last, "The generation failed.") || !strings.Contains(last, msg) {
		t.Errorf("last status fragment lacks the failure and its message: %s", last)
	}
	page := b.Get(path)
	if page.Status != http.StatusOK || !strings.Contains(page.Body, "The generation failed.") || !strings.Contains(page.Body, msg) {
		t.Errorf("task page: %d, failure shown: %v", page.Status, strings.Contains(page.Body, msg))
	}
	hist := doc(t, b.Get("/tasks").Body)
	row := hist.Find(`a[href="` + path + `"]`).Closest("tr")
	if row.Length() != 1 || !strings.Contains(row.Text(), "failed") || !strings.Contains(row.Text(), msg) {
		t.Errorf("history row: %q", row.Text())
	}
	gen, err := app.Store.GenerationByTask(context.Background(), taskID)
	if err != nil || gen.State != store.StateFailed || !strings.Contains(gen.Error, msg) {
		t.Errorf("audit row: state %q error %q (%v)", gen.State, gen.Error, err)
	}
}

// TestConfirmTimeoutIsUnknownAndNeverRetried: when the POST that starts a
// generation gets no answer in time, the user is told the outcome is
// unknown, the audit row says so, and nothing is sent again, whatever the
// user does.
func TestConfirmTimeoutIsUnknownAndNeverRetried(t *testing.T) {
	t.Parallel()
	app := testapp.Start(t, testapp.Options{ClientTimeout: 300 * time.Millisecond})
	b := app.SignedIn(t)
	ncr := app.LedgerByName(t, "Net Carbon Removal").ID
	ctx := context.Background()

	r := preview(t, b, ncr, url.Values{"start_time": {"2025-01-01"}, "end_time": {"2025-01-31"}})
	confirm := formValues(t, r.Body, `form[action$="/generations"]`)
	setFaults(t, app, "latency=1500ms,methods=POST,paths=/batch_generations")

	r = b.Post("/ledgers/"+ncr+"/generations", confirm)
	if r.Status != http.StatusBadGateway || !strings.Contains(r.Body, "Outcome unknown: check the ledger") || !strings.Contains(r.Body, "not retried") {
		t.Fatalf("timed-out confirm: %d %.400s", r.Status, r.Body)
	}
	if !strings.Contains(r.Body, "/ledgers/"+ncr+"?sort=-created_at") {
		t.Error("the unknown-outcome page does not link to the ledger's newest batches")
	}
	gens, _, err := app.Store.Generations(ctx, "", store.GenerationFilter{}, 10, 0)
	if err != nil || len(gens) != 1 || gens[0].State != store.StateUnknown || !strings.Contains(gens[0].Error, "timed out") {
		t.Fatalf("audit rows %+v (%v), want one in state unknown", gens, err)
	}
	// The user submits the same confirmation again, five times: still unknown, nothing sent.
	for range 5 {
		if r := b.Post("/ledgers/"+ncr+"/generations", confirm); r.Status != http.StatusBadGateway || !strings.Contains(r.Body, "Outcome unknown") {
			t.Fatalf("repeated confirm: %d", r.Status)
		}
	}
	if n := app.Sandbox.RequestCount(batchGenerationsRoute); n != 1 {
		t.Fatalf("%d POSTs upstream after a timeout and 5 resubmissions, want 1", n)
	}
	hist := b.Get("/tasks")
	if !strings.Contains(hist.Body, "unknown") {
		t.Error("the history does not show the unknown outcome")
	}

	// 50 concurrent submissions of a fresh key under the same slow API:
	// one POST, and every one of them is told the outcome is unknown.
	r = preview(t, b, ncr, url.Values{"start_time": {"2025-02-01"}, "end_time": {"2025-02-28"}})
	confirm = formValues(t, r.Body, `form[action$="/generations"]`)
	const n = 50
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := b.Post("/ledgers/"+ncr+"/generations", confirm)
			statuses[i] = r.Status
			if !strings.Contains(r.Body, "Outcome unknown") {
				statuses[i] = -r.Status
			}
		}()
	}
	wg.Wait()
	for i, s := range statuses {
		if s != http.StatusBadGateway {
			t.Errorf("submission %d: status %d (negative: no unknown-outcome message)", i, s)
		}
	}
	if got := app.Sandbox.RequestCount(batchGenerationsRoute); got != 2 {
		t.Fatalf("%d POSTs upstream for two keys, want 2", got)
	}
	gens, _, _ = app.Store.Generations(ctx, "", store.GenerationFilter{}, 10, 0)
	if len(gens) != 2 || gens[0].State != store.StateUnknown {
		t.Fatalf("audit rows %+v, want two, both unknown", gens)
	}
}

// TestConfirmDroppedOrFailedIsUnknown: a dropped connection or a 5xx on the
// POST is an unknown outcome too, never retried.
func TestConfirmDroppedOrFailedIsUnknown(t *testing.T) {
	t.Parallel()
	for _, spec := range []string{"drop=1", "error_rate=1,status=500", "error_rate=1,status=504"} {
		t.Run(spec, func(t *testing.T) {
			t.Parallel()
			app := testapp.Start(t, testapp.Options{})
			b := app.SignedIn(t)
			ncr := app.LedgerByName(t, "Net Carbon Removal").ID
			r := preview(t, b, ncr, url.Values{"start_time": {"2025-01-01"}, "end_time": {"2025-01-31"}})
			confirm := formValues(t, r.Body, `form[action$="/generations"]`)
			setFaults(t, app, spec+",methods=POST,paths=/batch_generations")
			r = b.Post("/ledgers/"+ncr+"/generations", confirm)
			if r.Status != http.StatusBadGateway || !strings.Contains(r.Body, "Outcome unknown: check the ledger") {
				t.Fatalf("%d %.300s", r.Status, r.Body)
			}
			if n := app.Sandbox.RequestCount(batchGenerationsRoute); n != 1 {
				t.Fatalf("%d POSTs upstream, want 1", n)
			}
			gens, _, _ := app.Store.Generations(context.Background(), "", store.GenerationFilter{}, 10, 0)
			if len(gens) != 1 || gens[0].State != store.StateUnknown {
				t.Fatalf("audit rows %+v", gens)
			}
		})
	}
}
