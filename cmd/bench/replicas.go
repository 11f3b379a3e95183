package main

import (
	"bufio"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/carbon-dash/mangrove-dashboard/internal/app"
	"github.com/carbon-dash/mangrove-dashboard/internal/testkit"
	"github.com/carbon-dash/mangrove-dashboard/internal/wait"
	"github.com/carbon-dash/mangrove-dashboard/mangrove/sandbox"
)

// Section 7: two replicas of the dashboard sharing one PostgreSQL database
// and one Mangrove API, each a separate process serving its own viewers of
// one long task: what the fleet costs the API, and how long viewers wait
// when the replica that polls for all of them is killed.

const (
	replicasNum   = 7
	replicasTitle = "Several replicas"

	// replicaChildFlag runs the tool as one dashboard replica: app.New from
	// the environment, as main wires it.
	replicaChildFlag = "-replica-child"

	replicasInterval = time.Second // POLL_INTERVAL, the shortest allowed
	// replicasStepDelay is under the interval (with its ±10% jitter), so
	// every poll sees a new batch and every poll's state is an event: the
	// viewers' next event after a failover is the survivor's first poll.
	// The long range's 59 batches then run for about 53 s.
	replicasStepDelay = 900 * time.Millisecond
	// replicasViewers are the SSE viewers on each replica.
	replicasViewers      = 500
	quickReplicasViewers = 100
	// replicasWindow is the counting window, in poll intervals.
	replicasWindow      = 15
	quickReplicasWindow = 5
	// replicasKills is how many times the polling replica is killed.
	replicasKills      = 5
	quickReplicasKills = 1
	// replicasRoundNeeds is the task time a kill round needs left: the
	// failover, the viewers' next event, and a replacement replica with its
	// viewers for the next round.
	replicasRoundNeeds = 8 * time.Second
	// Targets.
	replicasPollTarget     = 1.1 // fleet-wide polls per interval
	replicasFailoverTarget = 2.0 // poll intervals from the kill to the survivor's first poll

	// replicaStreamCap lifts STREAMS_PER_SESSION, STREAMS_PER_CLIENT and
	// MAX_CONNECTIONS: every viewer comes from 127.0.0.1 with one token.
	replicaStreamCap = 100000
	// replicaStartTimeout bounds a replica's start (migrations included),
	// replicaStopTimeout its graceful stop, replicaLeaderTimeout the wait for
	// one replica to say it leads the task, replicaNextTimeout the wait for
	// a failover's poll and the survivors' next event.
	replicaStartTimeout  = 60 * time.Second
	replicaStopTimeout   = 10 * time.Second
	replicaLeaderTimeout = 15 * time.Second
	replicaNextTimeout   = 15 * time.Second
	// replicaDBTimeout bounds creating and dropping the run's database.
	replicaDBTimeout = 30 * time.Second
)

// replicasSkipped is the section's text when no PostgreSQL server is given.
const replicasSkipped = "skipped: no PostgreSQL (set TEST_DATABASE_URL)"

// replicaPlan is the section's sizes, full or quick.
type replicaPlan struct {
	viewers int
	window  time.Duration
	kills   int
}

func planReplicas(cfg config) replicaPlan {
	if cfg.quick {
		return replicaPlan{quickReplicasViewers, quickReplicasWindow * replicasInterval, quickReplicasKills}
	}
	return replicaPlan{replicasViewers, replicasWindow * replicasInterval, replicasKills}
}

// runReplicaChild is a dashboard replica: the configuration comes from the
// environment, as main reads it. It prints its URL as one JSON line and
// serves until its standard input closes or it gets SIGTERM (the parent
// SIGKILLs it to measure a failover).
func runReplicaChild() error {
	raiseFileLimit()
	cfg, err := app.ParseConfig(nil, os.Getenv)
	if err != nil {
		return err
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := app.New(cfg)
	if err != nil {
		return err
	}
	if err := json.NewEncoder(os.Stdout).Encode(map[string]any{"url": a.URL, "pid": os.Getpid()}); err != nil {
		a.Close()
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); cancel() }()
	return a.Serve(ctx)
}

// replicaAPI is the sandbox the replicas share, served on loopback with
// the task calls logged.
type replicaAPI struct {
	dir   string
	sb    *sandbox.Server
	srv   *http.Server
	url   string // with /api/v1
	polls *testkit.TaskPolls
}

func startReplicaAPI(prefix string) (*replicaAPI, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, err
	}
	sb, err := sandbox.Open(sandbox.Options{DBPath: filepath.Join(dir, sandboxFile), StepDelay: replicasStepDelay})
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	ln, err := net.Listen("tcp", loopbackAnyPort)
	if err != nil {
		_ = sb.Close()
		_ = os.RemoveAll(dir)
		return nil, err
	}
	api := &replicaAPI{dir: dir, sb: sb, polls: &testkit.TaskPolls{}, url: "http://" + ln.Addr().String() + "/api/v1"}
	api.srv = &http.Server{Handler: api.polls.Wrap(sb.Handler()), ReadHeaderTimeout: apiTimeout}
	go func() { _ = api.srv.Serve(ln) }()
	return api, nil
}

func (a *replicaAPI) close() {
	_ = a.srv.Close()
	_ = a.sb.Close()
	_ = os.RemoveAll(a.dir)
}

// startTask starts the long generation (59 batches) on the sandbox and
// returns its task id.
func (a *replicaAPI) startTask(ctx context.Context) (int64, error) {
	body := fmt.Sprintf(`{"start_time":%q,"end_time":%q}`, longRangeFrom, longRangeTo)
	code, b, err := apiDo(ctx, apiClient, "POST", a.url+"/ledgers/"+ncrLedger+"/batch_generations", a.sb.Tokens().ReadWrite, body)
	if err != nil || code != http.StatusAccepted {
		return 0, fmt.Errorf("batch_generations: %d %s %v", code, b, err)
	}
	var t struct{ ID int64 }
	err = json.Unmarshal(b, &t)
	return t.ID, err
}

// replicaProc is one dashboard replica process and its viewers.
type replicaProc struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	url   string
	addr  string
	subs  *subSet
	clock *eventClock
	alive bool
}

// replicaEnv is a replica's environment: only what the dashboard reads,
// so a DATABASE_URL set for the tool itself does not leak into the
// baseline's replicas.
func replicaEnv(api *replicaAPI, dataDir, databaseURL string) []string {
	env := []string{
		"MANGROVE_API_URL=" + api.url, "MANGROVE_API_TOKEN=" + api.sb.Tokens().ReadWrite,
		"DATA_DIR=" + dataDir, "SESSION_SECRET=" + benchSessionSecret, "ADDR=" + loopbackAnyPort,
		"POLL_INTERVAL=" + replicasInterval.String(),
		"STREAMS_PER_SESSION=" + strconv.Itoa(replicaStreamCap), "STREAMS_PER_CLIENT=" + strconv.Itoa(replicaStreamCap),
		"MAX_CONNECTIONS=" + strconv.Itoa(replicaStreamCap),
	}
	if databaseURL != "" {
		env = append(env, "DATABASE_URL="+databaseURL)
	}
	for _, k := range []string{"PATH", "HOME", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// startReplica runs the tool as a replica with env; its log (warnings and
// errors) goes to logPath.
func startReplica(name string, env []string, logPath string) (*replicaProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child holds its own descriptor
	cmd := exec.Command(exe, replicaChildFlag)
	cmd.Env = env
	cmd.Stderr = logFile
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	hello := make(chan []byte, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadBytes('\n')
		hello <- line
		_, _ = io.Copy(io.Discard, out)
	}()
	var line []byte
	select {
	case line = <-hello:
	case <-time.After(replicaStartTimeout):
	}
	var h struct{ URL string }
	if err := json.Unmarshal(line, &h); err != nil || h.URL == "" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		log, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("replica %s did not start (%q): %s", name, line, tail(string(log), 1000))
	}
	u, err := url.Parse(h.URL)
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, err
	}
	return &replicaProc{name: name, cmd: cmd, stdin: stdin, url: h.URL, addr: u.Host, clock: &eventClock{}, alive: true}, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// kill SIGKILLs the replica and waits until it is gone.
func (r *replicaProc) kill() {
	if r.alive {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.alive = false
	}
}

// stop ends the replica gracefully (it closes its streams), or kills it
// when it takes too long; then it closes its viewers.
func (r *replicaProc) stop() {
	if r.alive {
		_ = r.stdin.Close()
		done := make(chan struct{})
		go func() { _ = r.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(replicaStopTimeout):
			_ = r.cmd.Process.Kill()
			<-done
		}
		r.alive = false
	}
	if r.subs != nil {
		r.subs.closeAll()
	}
}

// connect opens n viewers of the task on the replica and waits for every
// one's first state.
func (r *replicaProc) connect(ctx context.Context, task int64, n int) (time.Duration, error) {
	t0 := time.Now()
	r.subs = newSubSet(r.addr, r.clock.onEvent)
	if err := r.subs.add(ctx, n, stageParallel, func(int) string { return eventsPath(task) }); err != nil {
		return 0, fmt.Errorf("replica %s: %w", r.name, err)
	}
	if !wait.Until(ctx, firstStateTimeout, func() bool { return r.subs.first.Load() >= int64(n) }) {
		return 0, fmt.Errorf("replica %s: %d of %d viewers got the first state (%d refused)", r.name, r.subs.first.Load(), n, r.subs.refused.Load())
	}
	return time.Since(t0), nil
}

var (
	tasksLedRE = regexp.MustCompile(`(?m)^dashboard_fleet_tasks_led (\d+)$`)
	acquiredRE = regexp.MustCompile(`(?m)^dashboard_fleet_task_leads_total\{event="acquired"\} (\d+)$`)
	lostRE     = regexp.MustCompile(`(?m)^dashboard_fleet_task_leads_total\{event="lost"\} (\d+)$`)
	batchesRE  = regexp.MustCompile(`Processing batch \d+ of (\d+)`)
)

// metric reads the values of the replica's metrics matched by res (each
// with one group, the value) from its /metrics.
func (r *replicaProc) metric(ctx context.Context, res ...*regexp.Regexp) ([]int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := apiClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out []int
	for _, re := range res {
		m := re.FindSubmatch(b)
		if m == nil {
			return nil, fmt.Errorf("replica %s: no %s in /metrics (%d)", r.name, re, resp.StatusCode)
		}
		n, _ := strconv.Atoi(string(m[1]))
		out = append(out, n)
	}
	return out, nil
}

// tasksLed reads the replica's dashboard_fleet_tasks_led.
func (r *replicaProc) tasksLed(ctx context.Context) (int, error) {
	v, err := r.metric(ctx, tasksLedRE)
	if err != nil {
		return 0, err
	}
	return v[0], nil
}

// leads reads the replica's dashboard_fleet_task_leads_total.
func (r *replicaProc) leads(ctx context.Context) (acquired, lost int, err error) {
	v, err := r.metric(ctx, acquiredRE, lostRE)
	if err != nil {
		return 0, 0, err
	}
	return v[0], v[1], nil
}

// eventClock follows a replica's viewers: the task's latest batch, and,
// once armed, when each viewer received its first status event after then.
type eventClock struct {
	step, batches atomic.Int64

	mu       sync.Mutex
	since    time.Time
	fromStep int64 // armed: only a later batch counts as a next event
	first    map[int]time.Time
}

func (c *eventClock) onEvent(i int, ev sseEvent) {
	if ev.Name != "status" {
		return
	}
	s, hasStep := stepOf(ev.Data)
	if hasStep {
		for cur := c.step.Load(); int64(s) > cur && !c.step.CompareAndSwap(cur, int64(s)); cur = c.step.Load() {
		}
		if m := batchesRE.FindSubmatch(ev.Data); m != nil {
			n, _ := strconv.ParseInt(string(m[1]), 10, 64)
			c.batches.Store(n)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.first != nil && ev.At.After(c.since) && (!hasStep || int64(s) > c.fromStep) {
		if _, seen := c.first[i]; !seen {
			c.first[i] = ev.At
		}
	}
}

// arm starts timing every viewer's next event from t: the first status
// event received after t of a batch later than the latest seen so far (so a
// state already shown, sent again, does not count).
func (c *eventClock) arm(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.since, c.fromStep, c.first = t, c.step.Load(), map[int]time.Time{}
}

// next returns, sorted, how long after the armed time each viewer that has
// had one received its next event.
func (c *eventClock) next() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var d []time.Duration
	for _, at := range c.first {
		d = append(d, at.Sub(c.since))
	}
	slices.Sort(d)
	return d
}

// remaining estimates the task's time left from the latest batch seen.
func (c *eventClock) remaining() time.Duration {
	return time.Duration(c.batches.Load()-c.step.Load()) * replicasStepDelay
}

// replicaFleet is one phase's replicas, with the run's files.
type replicaFleet struct {
	api         *replicaAPI
	databaseURL string
	procs       []*replicaProc
	started     int
}

func (f *replicaFleet) start(name string) (*replicaProc, error) {
	f.started++
	data := filepath.Join(f.api.dir, fmt.Sprintf("replica-%d", f.started))
	p, err := startReplica(name, replicaEnv(f.api, data, f.databaseURL), data+".log")
	if err != nil {
		return nil, err
	}
	f.procs = append(f.procs, p)
	return p, nil
}

func (f *replicaFleet) alive() []*replicaProc {
	var out []*replicaProc
	for _, p := range f.procs {
		if p.alive {
			out = append(out, p)
		}
	}
	return out
}

func (f *replicaFleet) close() {
	for _, p := range f.procs {
		p.stop()
	}
	f.api.close()
}

// windowCount is a window's count of the task's upstream calls.
type windowCount struct {
	calls     int
	intervals float64
	maxGap    time.Duration // the longest time between two calls
	connect   time.Duration // for every viewer on both replicas to get the first state
	leads     []string      // with the fleet: each replica's leads acquired/lost after the window
	moves     int           // with the fleet: leads acquired and lost, all replicas
}

func (w windowCount) perInterval() float64 { return float64(w.calls) / w.intervals }

// startPair starts two replicas, a fresh long task, and plan.viewers
// viewers on each, then counts the task's upstream calls over the window.
func (f *replicaFleet) startPair(ctx context.Context, cfg config, plan replicaPlan) (int64, windowCount, error) {
	for _, name := range []string{"A", "B"} {
		if _, err := f.start(name); err != nil {
			return 0, windowCount{}, err
		}
	}
	task, err := f.api.startTask(ctx)
	if err != nil {
		return 0, windowCount{}, err
	}
	t0 := time.Now()
	for _, p := range f.procs {
		if _, err := p.connect(ctx, task, plan.viewers); err != nil {
			return 0, windowCount{}, err
		}
	}
	w := windowCount{connect: time.Since(t0)}
	time.Sleep(replicasInterval) // let the joins' snapshots and token checks drain
	from := time.Now()
	time.Sleep(plan.window)
	to := time.Now()
	w.calls = f.api.polls.Between(task, from, to)
	w.intervals = float64(to.Sub(from)) / float64(replicasInterval)
	w.maxGap = f.api.polls.MaxGap(task, from, to)
	if f.databaseURL != "" {
		for _, p := range f.procs {
			acq, lost, err := p.leads(ctx)
			if err != nil {
				return 0, windowCount{}, err
			}
			w.leads = append(w.leads, fmt.Sprintf("%s %d/%d", p.name, acq, lost))
			w.moves += acq + lost
		}
	}
	for _, p := range f.procs {
		if n := p.subs.ended.Load(); n > 0 {
			return 0, windowCount{}, fmt.Errorf("replica %s: %d streams ended early", p.name, n)
		}
	}
	cfg.logf("replicas: %d calls of the task in %.1f intervals = %.2f per interval, longest gap %s (%d viewers on each of 2 replicas, connected in %s; leads acquired/lost: %v)",
		w.calls, w.intervals, w.perInterval(), w.maxGap.Round(time.Millisecond), plan.viewers, w.connect.Round(time.Millisecond), w.leads)
	return task, w, nil
}

// failover is one kill of the polling replica.
type failover struct {
	killed, survivor string
	poll             time.Duration   // kill → the survivor's first poll of the task
	next             []time.Duration // kill → each survivor viewer's next event, sorted
	viewers          int             // the survivor's viewers
}

// leader waits for exactly one live replica to report that it leads the task.
func (f *replicaFleet) leader(ctx context.Context) (*replicaProc, error) {
	var lead *replicaProc
	var lastErr error
	ok := wait.Until(ctx, replicaLeaderTimeout, func() bool {
		lead = nil
		for _, p := range f.alive() {
			n, err := p.tasksLed(ctx)
			if err != nil {
				lastErr = err
				return false
			}
			if n == 1 {
				if lead != nil {
					return false
				}
				lead = p
			}
		}
		return lead != nil
	})
	if !ok {
		return nil, fmt.Errorf("no single replica leads the task (%v)", lastErr)
	}
	return lead, nil
}

// killLeader SIGKILLs the replica that polls and times the survivor's
// takeover: its first poll of the task, and its viewers' next event.
func (f *replicaFleet) killLeader(ctx context.Context, task int64) (failover, error) {
	lead, err := f.leader(ctx)
	if err != nil {
		return failover{}, err
	}
	var survivor *replicaProc
	for _, p := range f.alive() {
		if p != lead {
			survivor = p
		}
	}
	if survivor == nil {
		return failover{}, errors.New("no replica left to take over")
	}
	killedAt := time.Now()
	survivor.clock.arm(killedAt)
	lead.kill()
	reaped := time.Now() // nothing of the killed process polls after this
	fo := failover{killed: lead.name, survivor: survivor.name, viewers: survivor.subs.count()}
	var polled time.Time
	if !wait.Until(ctx, replicaNextTimeout, func() bool {
		var ok bool
		polled, ok = f.api.polls.FirstAfter(task, reaped)
		return ok
	}) {
		return fo, fmt.Errorf("replica %s did not poll the task within %s of %s's kill", survivor.name, replicaNextTimeout, lead.name)
	}
	fo.poll = polled.Sub(killedAt)
	if !wait.Until(ctx, replicaNextTimeout, func() bool { return len(survivor.clock.next()) >= fo.viewers }) {
		return fo, fmt.Errorf("%d of replica %s's %d viewers got an event within %s of the kill", len(survivor.clock.next()), survivor.name, fo.viewers, replicaNextTimeout)
	}
	fo.next = survivor.clock.next()
	return fo, nil
}

// replicasResult is the section's figures.
type replicasResult struct {
	plan      replicaPlan
	baseline  windowCount
	fleet     windowCount
	failovers []failover
	stopped   string // why fewer kills than planned ran
}

func runReplicas(ctx context.Context, cfg config) (section, error) {
	failed := section{Num: replicasNum, Title: replicasTitle}
	admin := cmp.Or(os.Getenv("DATABASE_URL"), os.Getenv("TEST_DATABASE_URL"))
	if admin == "" {
		cfg.logf("replicas: %s", replicasSkipped)
		return section{Num: replicasNum, Title: replicasTitle, Skipped: replicasSkipped,
			Notes: "This section was " + replicasSkipped + "."}, nil
	}
	res := replicasResult{plan: planReplicas(cfg)}
	var err error

	// Baseline: the same two replicas without DATABASE_URL, each polling on its own.
	if res.baseline, err = runReplicaBaseline(ctx, cfg, res.plan); err != nil {
		return failed, fmt.Errorf("baseline: %w", err)
	}

	// The fleet: two replicas on a fresh PostgreSQL database.
	dbURL, drop, err := createBenchDatabase(ctx, admin)
	if err != nil {
		return failed, err
	}
	defer drop()
	api, err := startReplicaAPI("mangrove-bench-replicas-")
	if err != nil {
		return failed, err
	}
	fleet := &replicaFleet{api: api, databaseURL: dbURL}
	defer fleet.close()
	task, w, err := fleet.startPair(ctx, cfg, res.plan)
	if err != nil {
		return failed, err
	}
	res.fleet = w
	next := 'C'
	for k := range res.plan.kills {
		if k > 0 {
			// A fresh replica with its viewers replaces the killed one, to
			// be the follower of the next kill.
			p, err := fleet.start(string(next))
			if err != nil {
				return failed, err
			}
			next++
			if _, err := p.connect(ctx, task, res.plan.viewers); err != nil {
				return failed, err
			}
		}
		if left := fleet.alive()[0].clock.remaining(); left < replicasRoundNeeds {
			res.stopped = fmt.Sprintf("the task had %s left after %d kills", left.Round(time.Second), k)
			break
		}
		fo, err := fleet.killLeader(ctx, task)
		if err != nil {
			return failed, err
		}
		cfg.logf("replicas: killed %s, %s polled %s later; its %d viewers' next event after %s (median) to %s (max)",
			fo.killed, fo.survivor, fo.poll.Round(time.Millisecond), fo.viewers, ms(percentile(fo.next, 50)), ms(fo.next[len(fo.next)-1]))
		res.failovers = append(res.failovers, fo)
	}
	return reportReplicas(res), nil
}

// runReplicaBaseline counts the task calls of two replicas that share only
// the API: each on its own SQLite, each polling the task.
func runReplicaBaseline(ctx context.Context, cfg config, plan replicaPlan) (windowCount, error) {
	api, err := startReplicaAPI("mangrove-bench-replicas-base-")
	if err != nil {
		return windowCount{}, err
	}
	f := &replicaFleet{api: api}
	defer f.close()
	_, w, err := f.startPair(ctx, cfg, plan)
	return w, err
}

// createBenchDatabase creates a uniquely named database on the server of
// admin and returns its URL (admin's, with the database name changed) and
// a function dropping it.
func createBenchDatabase(ctx context.Context, admin string) (string, func(), error) {
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", nil, errors.New("DATABASE_URL/TEST_DATABASE_URL: want a postgres:// URL")
	}
	b := make([]byte, 6)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	name := "bench_replicas_" + hex.EncodeToString(b)
	ident := pgx.Identifier{name}.Sanitize()
	run := func(ctx context.Context, sql string) error {
		ctx, cancel := context.WithTimeout(ctx, replicaDBTimeout)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			return fmt.Errorf("connecting to PostgreSQL: %w", err)
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := run(ctx, "CREATE DATABASE "+ident); err != nil {
		return "", nil, fmt.Errorf("creating database %s: %w", name, err)
	}
	drop := func() {
		// FORCE ends the connections of replicas that were killed.
		if err := run(context.Background(), "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			fmt.Fprintf(os.Stderr, "bench: dropping database %s: %v\n", name, err)
		}
	}
	u.Path, u.RawPath = "/"+name, ""
	return u.String(), drop, nil
}

func reportReplicas(res replicasResult) section {
	sec := section{Num: replicasNum, Title: replicasTitle}
	p := res.plan
	base, fl := res.baseline, res.fleet
	var polls, nextMedians, nextMax []time.Duration
	for _, fo := range res.failovers {
		polls = append(polls, fo.poll)
		nextMedians = append(nextMedians, percentile(fo.next, 50))
		nextMax = append(nextMax, fo.next[len(fo.next)-1])
	}
	polls, nextMedians, nextMax = sortedCopy(polls), sortedCopy(nextMedians), sortedCopy(nextMax)
	intervals := func(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(replicasInterval)) }
	kills := fmt.Sprintf("%d kills", len(res.failovers))

	sec.Header = []string{"measure", "baseline: two replicas without DATABASE_URL", "two replicas sharing PostgreSQL", "target"}
	sec.Rows = [][]string{
		{fmt.Sprintf("upstream GET /async_tasks/{id} per poll interval, whole fleet (%d viewers on each replica)", p.viewers),
			fmt.Sprintf("%.2f (%d in %.1f intervals)", base.perInterval(), base.calls, base.intervals),
			fmt.Sprintf("**%.2f** (%d in %.1f intervals)", fl.perInterval(), fl.calls, fl.intervals),
			fmt.Sprintf("≤ %.1f", replicasPollTarget)},
	}
	if len(polls) > 0 {
		sec.Rows = append(sec.Rows,
			[]string{"failover: SIGKILL of the polling replica → the survivor's first poll of the task, in poll intervals (median / max of " + kills + ")",
				"– (nobody takes over: each replica polls for its own viewers)",
				fmt.Sprintf("**%s / %s** (%s / %s)", intervals(percentile(polls, 50)), intervals(polls[len(polls)-1]), ms(percentile(polls, 50)), ms(polls[len(polls)-1])),
				fmt.Sprintf("≤ %.0f intervals", replicasFailoverTarget)},
			[]string{"failover: SIGKILL → the survivor's viewers' next event (median of the per-kill medians / max over every viewer of " + kills + ")",
				"–",
				fmt.Sprintf("%s / %s", ms(percentile(nextMedians, 50)), ms(nextMax[len(nextMax)-1])),
				"(none; follows the poll)"})
	}
	sec.Method = fmt.Sprintf(replicasMethod, replicasInterval, replicasStepDelay, p.viewers, p.window, int(p.window/replicasInterval), p.kills)

	perInterval := fl.perInterval()
	sec.Targets = []string{
		fmt.Sprintf("At most %.1f upstream polls per interval for the whole fleet: %s (%.2f with %d viewers on each of two replicas; the baseline without the shared database made %.2f)",
			replicasPollTarget, metOrMissed(perInterval <= replicasPollTarget), perInterval, p.viewers, base.perInterval()),
	}
	if len(polls) > 0 {
		worst := float64(polls[len(polls)-1]) / float64(replicasInterval)
		sec.Targets = append(sec.Targets, fmt.Sprintf("The survivor polls within %.0f intervals of the polling replica's SIGKILL: %s (at most %.2f intervals over %s)",
			replicasFailoverTarget, metOrMissed(worst <= replicasFailoverTarget), worst, kills))
	} else {
		sec.Targets = append(sec.Targets, "The survivor polls within 2 intervals of the polling replica's SIGKILL: **missed** (no kill could be measured: "+res.stopped+")")
	}
	sec.Notes = replicasNotes(res)
	return sec
}

func replicasNotes(res replicasResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Every viewer of a pair had its first state %s (baseline) and %s (shared database) after the task started. "+
		"With the shared database, the longest time between two upstream calls of the task in the window was %s; "+
		"leads acquired/lost by the end of the window: %s (%s). "+
		"A poller waits the interval (±10%% jitter) after each answer, so its period is the interval plus the call's own time: "+
		"a window of N intervals holds N or N-1 polls of one poller, hence figures a little under 1 (and under 2 for the baseline).\n\n",
		res.baseline.connect.Round(time.Millisecond), res.fleet.connect.Round(time.Millisecond), ms(res.fleet.maxGap), strings.Join(res.fleet.leads, ", "), leadMoves(res.fleet.moves))
	if len(res.failovers) > 0 {
		b.WriteString("| kill | killed → survivor | survivor's first poll after the kill | its viewers' next event: median / max |\n|---|---|---|---|\n")
		for i, fo := range res.failovers {
			fmt.Fprintf(&b, "| %d | %s → %s (%d viewers) | %s | %s / %s |\n", i+1, fo.killed, fo.survivor, fo.viewers,
				ms(fo.poll), ms(percentile(fo.next, 50)), ms(fo.next[len(fo.next)-1]))
		}
		b.WriteString("\n")
	}
	if res.stopped != "" {
		fmt.Fprintf(&b, "Fewer kills than planned: %s.\n\n", res.stopped)
	}
	b.WriteString("The survivor tries to lead the task at each of its ticks (the poll interval with ±10% jitter); PostgreSQL " +
		"releases the killed replica's advisory lock as soon as its backend sees the connection close, so the takeover " +
		"waits for the survivor's next tick, at most 1.1 intervals, plus one lock query. A viewer's next event is the first " +
		"state that differs from the last one it was shown: the survivor's first poll's, or, when the dead leader had polled " +
		"just before the kill and the task had not advanced since (it advances a batch every " + replicasStepDelay.String() +
		"), the survivor's next poll's, one interval later.")
	return b.String()
}

func leadMoves(n int) string {
	if n == 1 {
		return "one replica took the lead and polled throughout"
	}
	return "the lead moved between the replicas"
}

// replicasMethod is the section's method; its verbs take the interval, the
// step delay, the viewers per replica, the window and its intervals, and the
// number of kills.
const replicasMethod = `
Each replica is a separate process (this tool re-executed as one dashboard, app.New from the
environment as main wires it), with POLL_INTERVAL %s, a server-wide token, and STREAMS_PER_SESSION,
STREAMS_PER_CLIENT and MAX_CONNECTIONS raised to 100,000 (every viewer comes from 127.0.0.1); the
replicas share one sandbox served from the tool's process, which timestamps the task calls as they
arrive. The task is the long range on Net Carbon Removal (59 batches, StepDelay %s: under the
interval, so nearly every poll sees a new batch). %d raw SSE viewers (GET /tasks/{id}/events) join
the task on each replica; once all have the first state, and one interval later, the tool counts
GET /api/v1/async_tasks/{id} over %s (%d poll intervals).

Baseline, measured first in the same run: the same two replicas without DATABASE_URL, each with its
own SQLite in DATA_DIR, so each polls the task for its own viewers: 2 calls per interval. Then the
same with DATABASE_URL on a fresh PostgreSQL database (created for the run and dropped after it):
the replicas share the task through the fleet (an advisory lock per task elects the poller, NOTIFY
relays its snapshots). Then, %d times while the task runs, the tool finds the replica whose
dashboard_fleet_tasks_led is 1, SIGKILLs it, and times from the kill to the survivor's first
poll of the task and to each of the survivor's viewers' next event; before each further kill a
fresh replica with its own viewers joins, to be the next survivor.`
