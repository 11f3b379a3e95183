package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"
)

// Section 1: how many upstream task polls N viewers cost.

// ncrLedger is the sandbox's seeded Net Carbon Removal ledger (its README).
const ncrLedger = "lgr_3047w5rbxmym"

const taskPollRoute = "GET /api/v1/async_tasks/{id}"

var apiClient = &http.Client{Timeout: 30 * time.Second}

// startGeneration starts a generation on the sandbox directly and returns the task id.
func startGeneration(ctx context.Context, a *app, ledger, from, to string) (int64, error) {
	body := fmt.Sprintf(`{"start_time":%q,"end_time":%q}`, from, to)
	code, b, err := apiDo(ctx, apiClient, "POST", a.SBURL+"/ledgers/"+ledger+"/batch_generations", a.Tokens.ReadWrite, body)
	if err != nil || code != http.StatusAccepted {
		return 0, fmt.Errorf("batch_generations: %d %s %v", code, b, err)
	}
	var t struct{ ID int64 }
	err = json.Unmarshal(b, &t)
	return t.ID, err
}

func runFanout(ctx context.Context, cfg config) (section, error) {
	sec := section{Num: 1, Title: "Upstream fan-out"}
	const interval = time.Second
	window := 10 * interval
	sizes := []int{1, 10, 100, 1000}
	manyTasks, manyWindow := 50, 30*time.Second
	if cfg.quick {
		sizes, window, manyTasks, manyWindow = []int{1, 10, 100}, 5*interval, 20, 10*time.Second
	}

	// Part A: N viewers of one running task.
	dir, err := os.MkdirTemp("", "mangrove-bench-fanout-")
	if err != nil {
		return sec, err
	}
	defer os.RemoveAll(dir)
	obs := newTaskObserver()
	a, err := startApp(appOptions{Dir: dir, StepDelay: 3 * time.Second, PollInterval: interval, ServerToken: true, Wrap: obs.wrap})
	if err != nil {
		return sec, err
	}
	defer a.Close()
	task, err := startGeneration(ctx, a, ncrLedger, "2024-01-01T00:00:00Z", "2025-04-01T00:00:00Z") // 59 batches, ~3 minutes
	if err != nil {
		return sec, err
	}
	subs := newSubSet(a.dashLn.Addr().String(), nil)
	defer subs.closeAll()
	type stage struct {
		n            int
		calls        int64
		polls        int64
		connect      time.Duration
		intervals    float64
		perInterval  float64
		authorizeAPI int64
	}
	var stages []stage
	for _, n := range sizes {
		before, pBefore := a.Sandbox().RequestCount(taskPollRoute), a.H.Watchers().Polls()
		t0 := time.Now()
		if err := subs.add(ctx, n-subs.count(), 100, func(int) string { return eventsPath(task) }); err != nil {
			return sec, err
		}
		if !waitUntil(ctx, 60*time.Second, func() bool { return subs.first.Load() >= int64(n) }) {
			return sec, fmt.Errorf("%d subscribers: only %d got the first state", n, subs.first.Load())
		}
		connect := time.Since(t0)
		time.Sleep(interval) // let the joins' snapshots drain
		c0, p0 := a.Sandbox().RequestCount(taskPollRoute), a.H.Watchers().Polls()
		w0 := time.Now()
		time.Sleep(window)
		c1, p1 := a.Sandbox().RequestCount(taskPollRoute), a.H.Watchers().Polls()
		elapsed := time.Since(w0)
		st := stage{n: n, calls: c1 - c0, polls: p1 - p0, connect: connect, intervals: float64(elapsed) / float64(interval), authorizeAPI: (c0 - before) - (p0 - pBefore)}
		st.perInterval = float64(st.calls) / st.intervals
		stages = append(stages, st)
		cfg.logf("fan-out: %d subscribers: %d upstream task calls in %.1f intervals (%d token checks to connect, in %s)", n, st.calls, st.intervals, st.authorizeAPI, connect.Round(time.Millisecond))
		if subs.ended.Load() > 0 {
			return sec, fmt.Errorf("%d streams ended early", subs.ended.Load())
		}
	}
	subs.closeAll()
	a.Close()

	// Part B: many tasks under one token.
	dir2, err := os.MkdirTemp("", "mangrove-bench-fanout2-")
	if err != nil {
		return sec, err
	}
	defer os.RemoveAll(dir2)
	obs2 := newTaskObserver()
	b, err := startApp(appOptions{Dir: dir2, StepDelay: 20 * time.Second, PollInterval: interval, ServerToken: true, Wrap: obs2.wrap})
	if err != nil {
		return sec, err
	}
	defer b.Close()
	var ids []int64
	for range manyTasks {
		// One runs (12 batches, 20 s each); the others wait for the ledger: all stay unfinished.
		id, err := startGeneration(ctx, b, ncrLedger, "2025-01-01T00:00:00Z", "2025-04-01T00:00:00Z")
		if err != nil {
			return sec, err
		}
		ids = append(ids, id)
	}
	subs2 := newSubSet(b.dashLn.Addr().String(), nil)
	defer subs2.closeAll()
	if err := subs2.add(ctx, len(ids), 10, func(i int) string { return eventsPath(ids[i]) }); err != nil {
		return sec, err
	}
	if !waitUntil(ctx, 60*time.Second, func() bool { return b.H.Watchers().Active() == len(ids) && subs2.first.Load() == int64(len(ids)) }) {
		return sec, fmt.Errorf("%d tasks: %d watchers active", len(ids), b.H.Watchers().Active())
	}
	// Each watcher stretches its interval after its first poll; then measure.
	time.Sleep(10 * time.Second)
	c0 := b.Sandbox().RequestCount(taskPollRoute)
	w0 := time.Now()
	time.Sleep(manyWindow)
	c1 := b.Sandbox().RequestCount(taskPollRoute)
	elapsed := time.Since(w0)
	many := c1 - c0
	perMinute := float64(many) * float64(time.Minute) / float64(elapsed)
	baselinePerMinute := float64(len(ids)) * float64(time.Minute) / float64(interval)
	limited := obs2.status(http.StatusTooManyRequests)
	cfg.logf("fan-out: %d tasks: %d calls in %s = %.0f a minute, %d answered 429", len(ids), many, elapsed.Round(time.Millisecond), perMinute, limited)

	sec.Header = []string{"scenario", "viewers (SSE subscribers)", "upstream GET /async_tasks/{id} in the window", "per poll interval", "baseline: N tabs polling the API", "reduction"}
	worst := 0.0
	for _, st := range stages {
		worst = max(worst, st.perInterval)
		sec.Rows = append(sec.Rows, []string{
			"1 running task", fmt.Sprint(st.n), fmt.Sprintf("%d in %.1f intervals", st.calls, st.intervals),
			fmt.Sprintf("%.2f", st.perInterval), fmt.Sprintf("%d per interval", st.n), ratio(float64(st.n), st.perInterval) + " fewer",
		})
	}
	effective := time.Duration(float64(elapsed) * float64(len(ids)) / float64(max(many, 1)))
	sec.Rows = append(sec.Rows, []string{
		fmt.Sprintf("%d tasks at once, one token", len(ids)), fmt.Sprint(len(ids)),
		fmt.Sprintf("%d in %s", many, elapsed.Round(time.Second)),
		fmt.Sprintf("%.0f a minute (each task every %s)", perMinute, effective.Round(100*time.Millisecond)),
		fmt.Sprintf("%.0f a minute", baselinePerMinute), ratio(baselinePerMinute, perMinute) + " fewer",
	})
	sec.Method = fmt.Sprintf(`
The dashboard runs on a fresh sandbox in the same process, with POLL_INTERVAL %s (the
shortest allowed) and a server-wide token, so every viewer acts with one token. A generation is
started directly on the sandbox (59 monthly batches, StepDelay 3 s, so it runs for the whole
measurement); then 1, 10, 100 and 1,000 SSE subscribers (raw HTTP/1.1 connections reading
GET /tasks/{id}/events) join it, each stage adding to the previous one. Once every subscriber
has its first state, the tool counts the sandbox's own RequestCount("%s") over %s (%d poll
intervals). The interval carries ±10%% jitter, so a window holds about one poll per interval.
The baseline is the issue's: N browser tabs polling the API themselves make N calls per interval.

Then a second fresh app: %d generations are started under the same token (one runs, the rest
wait for the ledger, so all stay unfinished), one subscriber watches each, and after 10 s of
settling the tool counts the task polls over %s. The baseline is %d watchers polling at the
interval (%.0f a minute); the API allows 1,000 requests a minute per token, page views included.`,
		interval, taskPollRoute, window, int(window/interval), manyTasks, manyWindow, manyTasks, baselinePerMinute)
	sec.Targets = []string{
		fmt.Sprintf("One upstream call per interval at every N: %s (at most %.2f per interval, N up to %d; ±10%% jitter)", metOrMissed(worst <= 1.15), worst, sizes[len(sizes)-1]),
		fmt.Sprintf("%d tasks under one token stay under 1,000 requests a minute: %s (%.0f a minute, poll budget 600; %d answers were 429)", len(ids), metOrMissed(perMinute < 1000 && limited == 0), perMinute, limited),
	}
	var notes, checks []string
	for _, st := range stages {
		notes = append(notes, fmt.Sprintf("%d: %s", st.n, st.connect.Round(time.Millisecond)))
		checks = append(checks, fmt.Sprint(st.authorizeAPI))
	}
	sec.Notes = "Time for each stage's new subscribers to connect and receive their first state: " + strings.Join(notes, ", ") +
		". Besides the watcher's polls, joining costs one token check per token while the watcher lives (cached after that): " +
		"the stages made " + strings.Join(checks, ", ") + " such calls."
	return sec, nil
}
