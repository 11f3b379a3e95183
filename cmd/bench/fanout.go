package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/internal/wait"
)

// Section 1: how many upstream task polls N viewers cost.

// ncrLedger is the sandbox's seeded Net Carbon Removal ledger (its README).
const ncrLedger = "lgr_3047w5rbxmym"

const taskPollRoute = "GET /api/v1/async_tasks/{id}"

// Generation ranges the sections start on the demo data.
const (
	// longRangeFrom → longRangeTo is 59 monthly batches (about 3 minutes at
	// StepDelay 3 s): a task that runs for the whole measurement.
	longRangeFrom = "2024-01-01T00:00:00Z"
	longRangeTo   = "2025-04-01T00:00:00Z"
	// quarterFrom → quarterTo is 12 batches.
	quarterFrom = "2025-01-01T00:00:00Z"
	quarterTo   = "2025-04-01T00:00:00Z"
)

// Shared timeouts and dial parallelism of the subscriber sets.
const (
	apiTimeout        = 30 * time.Second // apiClient's per-request timeout
	firstStateTimeout = 60 * time.Second // for every subscriber of a stage to get its first state
	stageParallel     = 100              // dials at a time when a stage's subscribers join
)

var apiClient = &http.Client{Timeout: apiTimeout}

const (
	fanoutNum   = 1
	fanoutTitle = "Upstream fan-out"
	// fanoutInterval is POLL_INTERVAL, the shortest allowed.
	fanoutInterval = time.Second
	// fanoutStepDelay keeps the long range running for the whole measurement.
	fanoutStepDelay = 3 * time.Second
	// manyStepDelay keeps every task of the many-tasks part unfinished.
	manyStepDelay = 20 * time.Second
	// fanoutWindowIntervals and quickFanoutWindowIntervals are each stage's
	// counting window, in poll intervals.
	fanoutWindowIntervals      = 10
	quickFanoutWindowIntervals = 5
	fanoutManyTasks            = 50
	quickFanoutManyTasks       = 20
	fanoutManyWindow           = 30 * time.Second
	quickFanoutManyWindow      = 10 * time.Second
	// manySettle lets each watcher stretch its interval after its first poll.
	manySettle   = 10 * time.Second
	manyParallel = 10 // dials at a time for the many-tasks subscribers
	// fanoutPerIntervalBound is one call per interval with the interval's ±10%
	// jitter and some rounding.
	fanoutPerIntervalBound = 1.15
	// apiPerMinuteLimit is the API's quota per token.
	apiPerMinuteLimit = 1000
)

var (
	fanoutSizes      = []int{1, 10, 100, 1000}
	quickFanoutSizes = []int{1, 10, 100}
)

// startGeneration starts a generation on the sandbox directly and returns the task id.
func startGeneration(ctx context.Context, a *dashboard, ledger, from, to string) (int64, error) {
	body := fmt.Sprintf(`{"start_time":%q,"end_time":%q}`, from, to)
	code, b, err := apiDo(ctx, apiClient, "POST", a.APIURL+"/ledgers/"+ledger+"/batch_generations", a.Tokens.ReadWrite, body)
	if err != nil || code != http.StatusAccepted {
		return 0, fmt.Errorf("batch_generations: %d %s %v", code, b, err)
	}
	var t struct{ ID int64 }
	err = json.Unmarshal(b, &t)
	return t.ID, err
}

// fanoutPlan is the section's sizes, full or quick.
type fanoutPlan struct {
	sizes      []int
	window     time.Duration
	manyTasks  int
	manyWindow time.Duration
}

func planFanout(cfg config) fanoutPlan {
	if cfg.quick {
		return fanoutPlan{quickFanoutSizes, quickFanoutWindowIntervals * fanoutInterval, quickFanoutManyTasks, quickFanoutManyWindow}
	}
	return fanoutPlan{fanoutSizes, fanoutWindowIntervals * fanoutInterval, fanoutManyTasks, fanoutManyWindow}
}

// fanoutStage is what one stage of viewers of one running task cost.
type fanoutStage struct {
	n            int
	calls        int64
	polls        int64
	connect      time.Duration
	intervals    float64
	perInterval  float64
	authorizeAPI int64
}

// fanoutMany is the many-tasks part's count.
type fanoutMany struct {
	tasks   int
	calls   int64
	elapsed time.Duration
	limited int
}

type fanoutResult struct {
	plan   fanoutPlan
	stages []fanoutStage
	many   fanoutMany
}

func runFanout(ctx context.Context, cfg config) (section, error) {
	res := fanoutResult{plan: planFanout(cfg)}
	failed := section{Num: fanoutNum, Title: fanoutTitle}
	// Part A: N viewers of one running task.
	rig, err := setupFanout(ctx)
	if err != nil {
		return failed, err
	}
	res.stages, err = measureFanout(ctx, cfg, rig, res.plan)
	rig.close()
	if err != nil {
		return failed, err
	}
	// Part B: many tasks under one token.
	many, err := setupFanoutMany(ctx, res.plan)
	if err != nil {
		return failed, err
	}
	defer many.close()
	if res.many, err = measureFanoutMany(ctx, cfg, many, res.plan); err != nil {
		return failed, err
	}
	return reportFanout(res), nil
}

// fanoutRig is a dashboard with one running task and its subscribers.
type fanoutRig struct {
	d    *dashboard
	obs  *taskObserver
	task int64
	ids  []int64 // the many-tasks part's tasks
	subs *subSet
}

func (r *fanoutRig) close() {
	if r.subs != nil {
		r.subs.closeAll()
	}
	r.d.Close()
}

// setupFanout starts a dashboard and one long generation on its sandbox.
func setupFanout(ctx context.Context) (*fanoutRig, error) {
	obs := newTaskObserver()
	d, err := startDashboardIn("mangrove-bench-fanout-", appOptions{StepDelay: fanoutStepDelay, PollInterval: fanoutInterval, ServerToken: true, Wrap: obs.wrap})
	if err != nil {
		return nil, err
	}
	rig := &fanoutRig{d: d, obs: obs}
	if rig.task, err = startGeneration(ctx, d, ncrLedger, longRangeFrom, longRangeTo); err != nil {
		rig.close()
		return nil, err
	}
	rig.subs = newSubSet(d.dashboardAddr(), nil)
	return rig, nil
}

// measureFanout adds each stage's subscribers to the previous ones and counts
// the task polls of the window.
func measureFanout(ctx context.Context, cfg config, rig *fanoutRig, plan fanoutPlan) ([]fanoutStage, error) {
	var stages []fanoutStage
	for _, n := range plan.sizes {
		st, err := measureFanoutStage(ctx, rig, n, plan.window)
		if err != nil {
			return nil, err
		}
		stages = append(stages, st)
		cfg.logf("fan-out: %d subscribers: %d upstream task calls in %.1f intervals (%d token checks to connect, in %s)", n, st.calls, st.intervals, st.authorizeAPI, st.connect.Round(time.Millisecond))
		if rig.subs.ended.Load() > 0 {
			return nil, fmt.Errorf("%d streams ended early", rig.subs.ended.Load())
		}
	}
	return stages, nil
}

func measureFanoutStage(ctx context.Context, rig *fanoutRig, n int, window time.Duration) (fanoutStage, error) {
	d, subs := rig.d, rig.subs
	before, pBefore := d.liveSandbox().RequestCount(taskPollRoute), d.Watchers.Polls()
	t0 := time.Now()
	if err := subs.add(ctx, n-subs.count(), stageParallel, func(int) string { return eventsPath(rig.task) }); err != nil {
		return fanoutStage{}, err
	}
	if !wait.Until(ctx, firstStateTimeout, func() bool { return subs.first.Load() >= int64(n) }) {
		return fanoutStage{}, fmt.Errorf("%d subscribers: only %d got the first state", n, subs.first.Load())
	}
	connect := time.Since(t0)
	time.Sleep(fanoutInterval) // let the joins' snapshots drain
	c0, p0 := d.liveSandbox().RequestCount(taskPollRoute), d.Watchers.Polls()
	w0 := time.Now()
	time.Sleep(window)
	c1, p1 := d.liveSandbox().RequestCount(taskPollRoute), d.Watchers.Polls()
	elapsed := time.Since(w0)
	st := fanoutStage{n: n, calls: c1 - c0, polls: p1 - p0, connect: connect, intervals: float64(elapsed) / float64(fanoutInterval), authorizeAPI: (c0 - before) - (p0 - pBefore)}
	st.perInterval = float64(st.calls) / st.intervals
	return st, nil
}

// setupFanoutMany starts a second fresh dashboard with plan.manyTasks
// unfinished generations, one subscriber watching each.
func setupFanoutMany(ctx context.Context, plan fanoutPlan) (*fanoutRig, error) {
	obs := newTaskObserver()
	d, err := startDashboardIn("mangrove-bench-fanout2-", appOptions{StepDelay: manyStepDelay, PollInterval: fanoutInterval, ServerToken: true, Wrap: obs.wrap})
	if err != nil {
		return nil, err
	}
	rig := &fanoutRig{d: d, obs: obs}
	for range plan.manyTasks {
		// One runs (12 batches, 20 s each); the others wait for the ledger: all stay unfinished.
		id, err := startGeneration(ctx, d, ncrLedger, quarterFrom, quarterTo)
		if err != nil {
			rig.close()
			return nil, err
		}
		rig.ids = append(rig.ids, id)
	}
	rig.subs = newSubSet(d.dashboardAddr(), nil)
	if err := rig.subs.add(ctx, len(rig.ids), manyParallel, func(i int) string { return eventsPath(rig.ids[i]) }); err != nil {
		rig.close()
		return nil, err
	}
	return rig, nil
}

// measureFanoutMany waits for every watcher, lets them settle and counts the
// task polls over the window.
func measureFanoutMany(ctx context.Context, cfg config, rig *fanoutRig, plan fanoutPlan) (fanoutMany, error) {
	d, ids := rig.d, rig.ids
	if !wait.Until(ctx, firstStateTimeout, func() bool { return d.Watchers.Active() == len(ids) && rig.subs.first.Load() == int64(len(ids)) }) {
		return fanoutMany{}, fmt.Errorf("%d tasks: %d watchers active", len(ids), d.Watchers.Active())
	}
	// Each watcher stretches its interval after its first poll; then measure.
	time.Sleep(manySettle)
	c0 := d.liveSandbox().RequestCount(taskPollRoute)
	w0 := time.Now()
	time.Sleep(plan.manyWindow)
	c1 := d.liveSandbox().RequestCount(taskPollRoute)
	m := fanoutMany{tasks: len(ids), calls: c1 - c0, elapsed: time.Since(w0), limited: rig.obs.status(http.StatusTooManyRequests)}
	cfg.logf("fan-out: %d tasks: %d calls in %s = %.0f a minute, %d answered 429", m.tasks, m.calls, m.elapsed.Round(time.Millisecond), m.perMinute(), m.limited)
	return m, nil
}

func (m fanoutMany) perMinute() float64 {
	return float64(m.calls) * float64(time.Minute) / float64(m.elapsed)
}

func (m fanoutMany) baselinePerMinute() float64 {
	return float64(m.tasks) * float64(time.Minute) / float64(fanoutInterval)
}

func reportFanout(res fanoutResult) section {
	sec := section{Num: fanoutNum, Title: fanoutTitle}
	sec.Header = []string{"scenario", "viewers (SSE subscribers)", "upstream GET /async_tasks/{id} in the window", "per poll interval", "baseline: N tabs polling the API", "reduction"}
	worst := 0.0
	for _, st := range res.stages {
		worst = max(worst, st.perInterval)
		sec.Rows = append(sec.Rows, []string{
			"1 running task", fmt.Sprint(st.n), fmt.Sprintf("%d in %.1f intervals", st.calls, st.intervals),
			fmt.Sprintf("%.2f", st.perInterval), fmt.Sprintf("%d per interval", st.n), ratio(float64(st.n), st.perInterval) + " fewer",
		})
	}
	m := res.many
	perMinute, baseline := m.perMinute(), m.baselinePerMinute()
	effective := time.Duration(float64(m.elapsed) * float64(m.tasks) / float64(max(m.calls, 1)))
	sec.Rows = append(sec.Rows, []string{
		fmt.Sprintf("%d tasks at once, one token", m.tasks), fmt.Sprint(m.tasks),
		fmt.Sprintf("%d in %s", m.calls, m.elapsed.Round(time.Second)),
		fmt.Sprintf("%.0f a minute (each task every %s)", perMinute, effective.Round(100*time.Millisecond)),
		fmt.Sprintf("%.0f a minute", baseline), ratio(baseline, perMinute) + " fewer",
	})
	p := res.plan
	sec.Method = fmt.Sprintf(fanoutMethod, fanoutInterval, taskPollRoute, p.window, int(p.window/fanoutInterval), p.manyTasks, p.manyWindow, p.manyTasks, baseline)
	sec.Targets = []string{
		fmt.Sprintf("One upstream call per interval at every N: %s (at most %.2f per interval, N up to %d; ±10%% jitter)", metOrMissed(worst <= fanoutPerIntervalBound), worst, p.sizes[len(p.sizes)-1]),
		fmt.Sprintf("%d tasks under one token stay under 1,000 requests a minute: %s (%.0f a minute, poll budget 600; %d answers were 429)", m.tasks, metOrMissed(perMinute < apiPerMinuteLimit && m.limited == 0), perMinute, m.limited),
	}
	sec.Notes = fanoutNotes(res.stages)
	return sec
}

func fanoutNotes(stages []fanoutStage) string {
	var notes, checks []string
	for _, st := range stages {
		notes = append(notes, fmt.Sprintf("%d: %s", st.n, st.connect.Round(time.Millisecond)))
		checks = append(checks, fmt.Sprint(st.authorizeAPI))
	}
	return "Time for each stage's new subscribers to connect and receive their first state: " + strings.Join(notes, ", ") +
		". Besides the watcher's polls, joining costs one token check per token while the watcher lives (cached after that): " +
		"the stages made " + strings.Join(checks, ", ") + " such calls."
}

// fanoutMethod is the section's method; its verbs take the interval, the
// polled route, the window and its intervals, the number of tasks, their
// window, the number of tasks again and their baseline a minute.
const fanoutMethod = `
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
interval (%.0f a minute); the API allows 1,000 requests a minute per token, page views included.`
