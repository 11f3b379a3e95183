package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/internal/pgtest"
	"github.com/carbon-dash/mangrove-dashboard/internal/testapp"
	"github.com/carbon-dash/mangrove-dashboard/internal/testkit"
	"github.com/carbon-dash/mangrove-dashboard/mangrove/sandbox"
	"github.com/carbon-dash/mangrove-dashboard/taskstream"
)

// The replicas test's plan. The generation covers 2024-01 … 2025-03 on Net
// Carbon Removal: 59 batches (with the upstream ledgers' batches), which at
// replicasStepDelay run for about 30 s, long enough for the viewers to join,
// the counting window, the kill and the failover to happen while it runs.
const (
	replicasPoll       = time.Second // POLL_INTERVAL, the shortest allowed
	replicasStepDelay  = 500 * time.Millisecond
	replicasFrom       = "2024-01-01"
	replicasTo         = "2025-03-31"
	replicasConfirms   = 20 // concurrent confirmations of one key
	replicasViewers    = 50 // event streams per replica
	replicasStreamCap  = 200
	replicasWindow     = 6 * replicasPoll // the counting window
	replicasMaxPerPoll = 1.5              // fleet-wide polls per interval (≈1 with the fleet, 2 without)
	// replicasFailoverMargin is added to two poll intervals for the
	// failover bound. The survivor tries to lead at each of its ticks
	// (jittered to at most 1.1 intervals) and PostgreSQL drops a killed
	// client's advisory locks as soon as its backend reads the closed
	// socket, so a poll is expected about one interval after the kill; the
	// second interval covers a tick that raced the backend's exit, and the
	// margin covers the lock query, the poll's own round trip and
	// scheduling of two race-instrumented processes serving 100 streams on
	// 2 cores.
	replicasFailoverMargin = 500 * time.Millisecond
)

// viewer is one event stream of a task, read on its own goroutine.
type viewer struct {
	replica string
	mu      sync.Mutex
	events  []viewerEvent
}

type viewerEvent struct {
	name string
	seq  int64 // a status event's id; 0 for others
	data string
	at   time.Time
}

func (v *viewer) read(body io.ReadCloser) {
	defer body.Close()
	rd := taskstream.NewReader(body)
	for {
		ev, err := rd.Next()
		if err != nil {
			return // the stream ended, or its replica was killed
		}
		if ev.Event == "" && ev.Data == nil {
			continue // a heartbeat or a retry hint
		}
		seq, _ := strconv.ParseInt(ev.ID, 10, 64)
		v.mu.Lock()
		v.events = append(v.events, viewerEvent{name: ev.Event, seq: seq, data: string(ev.Data), at: time.Now()})
		v.mu.Unlock()
	}
}

// snapshot returns a copy of the events received so far.
func (v *viewer) snapshot() []viewerEvent {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.events)
}

// lastSeq is the highest status id received so far.
func (v *viewer) lastSeq() int64 {
	var seq int64
	for _, ev := range v.snapshot() {
		seq = max(seq, ev.seq)
	}
	return seq
}

// firstAfter is the first event (of name, or any when empty) received after
// t with an id above seq.
func (v *viewer) firstAfter(t time.Time, seq int64, name string) (viewerEvent, bool) {
	for _, ev := range v.snapshot() {
		if ev.at.After(t) && (name == "" || ev.name == name) && (ev.name != "status" || ev.seq > seq) {
			return ev, true
		}
	}
	return viewerEvent{}, false
}

// countViewers counts the viewers of which cond holds.
func countViewers(vs []*viewer, cond func(*viewer) bool) int {
	n := 0
	for _, v := range vs {
		if cond(v) {
			n++
		}
	}
	return n
}

var (
	tasksLedRE     = regexp.MustCompile(`(?m)^dashboard_fleet_tasks_led (\d+)$`)
	leadsAcquireRE = regexp.MustCompile(`(?m)^dashboard_fleet_task_leads_total\{event="acquired"\} (\d+)$`)
	batchOfNRE     = regexp.MustCompile(`Processing batch (\d+) of (\d+)`)
)

// fleetMetrics reads a replica's fleet gauge and acquired leads from /metrics.
func fleetMetrics(t *testing.T, b *testapp.Browser) (led, acquired int) {
	t.Helper()
	r := b.Get("/metrics")
	m, a := tasksLedRE.FindStringSubmatch(r.Body), leadsAcquireRE.FindStringSubmatch(r.Body)
	if r.Status != http.StatusOK || m == nil || a == nil {
		t.Fatalf("/metrics: %d, no fleet gauge or leads counter in %.300s", r.Status, r.Body)
	}
	led, _ = strconv.Atoi(m[1])
	acquired, _ = strconv.Atoi(a[1])
	return led, acquired
}

// confirmAnswer is one answer to a confirmation POST.
type confirmAnswer struct {
	replica  string
	status   int
	location string
	body     string
	err      error
}

// postConfirm posts form to a replica with the browser's client (its cookie
// jar; redirects are not followed), for use off the test's goroutine.
func postConfirm(client *http.Client, replica, u string, form url.Values) confirmAnswer {
	resp, err := client.PostForm(u, form)
	if err != nil {
		return confirmAnswer{replica: replica, err: err}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return confirmAnswer{replica: replica, status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(body)}
}

// TestReplicasShareOneTruth runs two dashboard processes on one PostgreSQL
// database and one sandbox: a sign-in on one is a sign-in on the other, and
// a sign-out on one a sign-out on both; one confirmation key sent 20 times
// at once to both starts one generation; the task's 100 viewers across both
// cost one upstream poll per interval; and when the polling replica is
// killed, the other takes over within two intervals and its viewers see the
// task to its end.
func TestReplicasShareOneTruth(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.URL(t) // skips without TEST_DATABASE_URL
	dir := t.TempDir()
	sb, err := sandbox.Open(sandbox.Options{DBPath: filepath.Join(dir, "sandbox.db"), StepDelay: replicasStepDelay,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	up := &testkit.TaskPolls{}
	api := httptest.NewServer(up.Wrap(sb.Handler()))
	t.Cleanup(api.Close)
	token := sb.Tokens().ReadWrite

	env := func(name string) []string {
		return []string{"MANGROVE_API_URL=" + api.URL + "/api/v1", "DATA_DIR=" + filepath.Join(dir, name),
			"DATABASE_URL=" + dbURL, "SESSION_SECRET=" + testapp.SessionSecret, "ADDR=127.0.0.1:0",
			"POLL_INTERVAL=" + replicasPoll.String(),
			"STREAMS_PER_SESSION=" + strconv.Itoa(replicasStreamCap), "STREAMS_PER_CLIENT=" + strconv.Itoa(replicasStreamCap)}
	}
	children := map[string]*child{"A": startChild(t, env("a")), "B": startChild(t, env("b"))}
	// Each step browses with its own t; the viewers' browser is one cookie jar.
	browse := func(t *testing.T, replica string, jar http.CookieJar) *testapp.Browser {
		b := testapp.NewBrowserAt(t, children[replica].url)
		if jar != nil {
			b.HTTP.Jar = jar
		}
		return b
	}
	jar, _ := cookiejar.New(nil)

	// a. A sign-in on A is a sign-in on B: the session lives in the shared table.
	var ledger string
	ok := t.Run("signed in on A is signed in on B", func(t *testing.T) {
		onA, onB := browse(t, "A", jar), browse(t, "B", jar)
		onA.SignIn(token)
		r := onB.Get("/ledgers")
		if r.Status != http.StatusOK || !strings.Contains(r.Body, "Net Carbon Removal") || !strings.Contains(r.Body, `action="/signout"`) {
			t.Fatalf("B with A's cookie: %d %s, want the signed-in ledgers page", r.Status, r.Location)
		}
		ledger = ledgerPath(t, onB, "Net Carbon Removal")
	})
	if !ok {
		t.FailNow()
	}

	// b. One confirmation key sent 20 times at once, alternately to A and
	// B: one upstream POST, and every answer leads to its task.
	var taskID int64
	ok = t.Run("concurrent confirms of one key start one generation", func(t *testing.T) {
		onA := browse(t, "A", jar)
		form := confirmForm(t, onA.Get(ledger+"/preview?start_time="+replicasFrom+"&end_time="+replicasTo).Body)
		answers := make([]confirmAnswer, replicasConfirms)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range answers {
			replica := []string{"A", "B"}[i%2]
			wg.Go(func() {
				<-start
				answers[i] = postConfirm(onA.HTTP, replica, children[replica].url+ledger+"/generations", form)
			})
		}
		close(start)
		wg.Wait()
		if n := int(sb.RequestCount("POST /api/v1/ledgers/{ledger_id}/batch_generations")); n != 1 {
			t.Errorf("%d upstream POSTs of batch_generations for one confirmation key, want 1", n)
		}
		var task string
		redirects := 0
		for _, a := range answers {
			switch {
			case a.err != nil:
				t.Errorf("confirm on %s: %v", a.replica, a.err)
			case a.status == http.StatusSeeOther && strings.HasPrefix(a.location, "/tasks/"):
				redirects++
				if task == "" {
					task = a.location
				} else if a.location != task {
					t.Errorf("confirm on %s led to %s, another to %s", a.replica, a.location, task)
				}
			}
		}
		if task == "" {
			t.Fatalf("no confirmation led to a task: %+v", answers[0])
		}
		for _, a := range answers {
			if a.err == nil && a.status != http.StatusSeeOther {
				// A page instead of the redirect must still name the task.
				if !strings.Contains(a.body, `href="`+task+`"`) {
					t.Errorf("confirm on %s: %d %s, a page that does not name %s: %.300s", a.replica, a.status, a.location, task, a.body)
				}
			}
		}
		t.Logf("%d confirmations (%d on A, %d on B): 1 upstream POST, %d answered 303 %s, %d with a page naming it",
			len(answers), (len(answers)+1)/2, len(answers)/2, redirects, task, len(answers)-redirects)
		if taskID, err = strconv.ParseInt(strings.TrimPrefix(task, "/tasks/"), 10, 64); err != nil {
			t.Fatal(err)
		}
	})
	if !ok {
		t.FailNow()
	}

	// e (before the kill, while both run). A sign-out on A signs the same
	// cookie out on B. A second browser, so the viewers' session stays.
	ok = t.Run("signed out on A is signed out on B", func(t *testing.T) {
		second := browse(t, "A", nil)
		second.SignIn(token)
		aURL, _ := url.Parse(children["A"].url)
		cookies := second.HTTP.Jar.Cookies(aURL)
		replay := func(replica string) testapp.Response {
			jar, _ := cookiejar.New(nil)
			u, _ := url.Parse(children[replica].url)
			jar.SetCookies(u, cookies)
			return browse(t, replica, jar).Get("/ledgers")
		}
		if r := replay("B"); r.Status != http.StatusOK {
			t.Fatalf("B with the second browser's cookie before sign-out: %d %s, want the ledgers page", r.Status, r.Location)
		}
		// The second browser watches the task on B; signing out on A ends
		// that stream too, as a sign-out ends its streams on one replica.
		bURL, _ := url.Parse(children["B"].url)
		streamJar, _ := cookiejar.New(nil)
		streamJar.SetCookies(bURL, cookies)
		sctx, scancel := context.WithCancel(context.Background())
		defer scancel()
		resp, err := testapp.OpenEvents(sctx, &http.Client{Jar: streamJar}, children["B"].url+fmt.Sprintf("/tasks/%d/events", taskID))
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("the second browser's stream on B: %v %v", resp, err)
		}
		watching := &viewer{replica: "B"}
		ended := make(chan struct{})
		go func() { defer close(ended); watching.read(resp.Body) }()
		testapp.WaitFor(t, 10*time.Second, "the stream on B sends its first event", func() bool { return len(watching.snapshot()) > 0 })
		signedOutAt := time.Now()
		if r := second.Post("/signout", nil); r.Status != http.StatusSeeOther || r.Location != "/signin" {
			t.Fatalf("sign out on A: %d %s", r.Status, r.Location)
		}
		select {
		case <-ended:
			t.Logf("the signed-out session's stream on B ended %s after the sign-out on A", time.Since(signedOutAt).Round(time.Millisecond))
		case <-time.After(10 * time.Second):
			t.Error("the signed-out session's stream on B was still open 10 s after the sign-out on A")
		}
		for _, replica := range []string{"B", "A"} {
			if r := replay(replica); r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/signin") {
				t.Errorf("%s with the signed-out cookie: %d %q, want a redirect to /signin", replica, r.Status, r.Location)
			}
		}
		if r := browse(t, "B", jar).Get("/ledgers"); r.Status != http.StatusOK {
			t.Errorf("the first browser's session on B after the second's sign-out: %d %s", r.Status, r.Location)
		}
	})
	if !ok {
		t.FailNow()
	}

	// c. 50 viewers on each replica; the fleet polls once per interval.
	ctx, cancel := context.WithCancel(context.Background())
	streams := &http.Client{Jar: jar, Transport: &http.Transport{MaxIdleConnsPerHost: 2 * replicasViewers}}
	var readers sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		readers.Wait()
		streams.CloseIdleConnections()
	})
	viewers := map[string][]*viewer{}
	var all []*viewer
	leader, survivor := "", ""
	ok = t.Run("the fleet polls once per interval", func(t *testing.T) {
		for _, replica := range []string{"A", "B"} {
			for range replicasViewers {
				resp, err := testapp.OpenEvents(ctx, streams, children[replica].url+fmt.Sprintf("/tasks/%d/events", taskID))
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != http.StatusOK {
					resp.Body.Close()
					t.Fatalf("events on %s: %d", replica, resp.StatusCode)
				}
				v := &viewer{replica: replica}
				viewers[replica] = append(viewers[replica], v)
				all = append(all, v)
				readers.Go(func() { v.read(resp.Body) })
			}
		}
		testapp.WaitFor(t, 30*time.Second, "every viewer's first event", func() bool {
			return countViewers(all, func(v *viewer) bool { return len(v.snapshot()) > 0 }) == len(all)
		})

		// The window: the fleet's polls of the task, counted as they arrive.
		from := time.Now()
		window := time.NewTimer(replicasWindow)
		<-window.C
		to := time.Now()
		polls := up.Between(taskID, from, to)
		perInterval := float64(polls) / (float64(to.Sub(from)) / float64(replicasPoll))
		t.Logf("fleet-wide upstream polls of task %d: %d in %s = %.2f per interval with %d viewers on each replica (target ≈ 1, at most %.1f; 2 without the fleet)",
			taskID, polls, to.Sub(from).Round(time.Millisecond), perInterval, replicasViewers, replicasMaxPerPoll)
		if perInterval > replicasMaxPerPoll {
			t.Errorf("%.2f polls per interval across the fleet, want at most %.1f", perInterval, replicasMaxPerPoll)
		}

		// Which replica polls: the one whose gauge says it leads the task.
		testapp.WaitFor(t, 10*time.Second, "exactly one replica leading the task", func() bool {
			ledA, _ := fleetMetrics(t, browse(t, "A", nil))
			ledB, _ := fleetMetrics(t, browse(t, "B", nil))
			switch {
			case ledA == 1 && ledB == 0:
				leader, survivor = "A", "B"
			case ledA == 0 && ledB == 1:
				leader, survivor = "B", "A"
			default:
				return false
			}
			return true
		})
		last := viewers[survivor][0].snapshot()
		t.Logf("replica %s leads (dashboard_fleet_tasks_led 1), %s follows; %s's viewers are at %q", leader, survivor, survivor,
			batchOfNRE.FindString(last[len(last)-1].data))
	})
	if !ok {
		t.FailNow()
	}

	// d. Kill the leader: the survivor polls within two intervals and its
	// viewers follow the task to its end.
	t.Run("the survivor takes over when the leader is killed", func(t *testing.T) {
		watchers := viewers[survivor]
		onSurvivor := browse(t, survivor, nil)
		_, acquiredBefore := fleetMetrics(t, onSurvivor)
		seqs := make([]int64, len(watchers))
		for i, v := range watchers {
			seqs[i] = v.lastSeq()
		}
		killedAt := time.Now()
		children[leader].kill(t)
		reaped := time.Now() // no poll of the killed process arrives after this

		var polled time.Time
		testapp.WaitFor(t, 10*time.Second, "the survivor's first poll after the kill", func() bool {
			var ok bool
			polled, ok = up.FirstAfter(taskID, reaped)
			return ok
		})
		failover := polled.Sub(killedAt)
		bound := 2*replicasPoll + replicasFailoverMargin
		t.Logf("failover: the survivor %s polled %s after the kill (%.2f intervals; bound %s)", survivor,
			failover.Round(time.Millisecond), float64(failover)/float64(replicasPoll), bound)
		if failover > bound {
			t.Errorf("the survivor polled %s after the kill, want at most %s", failover.Round(time.Millisecond), bound)
		}

		var led, acquired int
		testapp.WaitFor(t, 10*time.Second, "the survivor's metrics to show it took the lead", func() bool {
			led, acquired = fleetMetrics(t, onSurvivor)
			return acquired > acquiredBefore
		})
		t.Logf("survivor %s: dashboard_fleet_tasks_led %d, leads acquired %d → %d", survivor, led, acquiredBefore, acquired)

		testapp.WaitFor(t, 10*time.Second, "a new progress event on every survivor viewer after the kill", func() bool {
			for i, v := range watchers {
				if _, ok := v.firstAfter(killedAt, seqs[i], "status"); !ok {
					return false
				}
			}
			return true
		})
		var next []time.Duration
		for i, v := range watchers {
			ev, _ := v.firstAfter(killedAt, seqs[i], "status")
			next = append(next, ev.at.Sub(killedAt))
		}
		slices.Sort(next)
		t.Logf("the survivor's %d viewers' next progress event came %s (median) to %s (max) after the kill",
			len(next), next[len(next)/2].Round(time.Millisecond), next[len(next)-1].Round(time.Millisecond))

		testapp.WaitFor(t, 60*time.Second, "the done event on every survivor viewer", func() bool {
			return countViewers(watchers, func(v *viewer) bool { _, ok := v.firstAfter(killedAt, 0, "done"); return ok }) == len(watchers)
		})
		for _, v := range watchers {
			if ev, _ := v.firstAfter(killedAt, 0, "done"); ev.data != "complete" {
				t.Errorf("a survivor viewer's done event says %q, want complete", ev.data)
				break
			}
		}
		progress := ""
		for _, ev := range watchers[0].snapshot() {
			progress = cmp.Or(batchOfNRE.FindString(ev.data), progress)
		}
		t.Logf("task %d complete; a survivor viewer saw %d events, the last progress %q", taskID, len(watchers[0].snapshot()), progress)
	})
}
