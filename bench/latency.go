package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"sync"
	"time"
)

// Section 2: from a change of progress in the sandbox to the event at a subscriber.

// progressLog records when the sandbox changed a task's progress, read from the
// sandbox's own file: the engine stamps updated_at (unix ms) as it writes each
// "Processing batch i of n"; the tool reads the row every 2 ms, far more often than
// it changes, so it sees every step.
type progressLog struct {
	mu      sync.Mutex
	changed map[int]time.Time
}

func watchProgress(ctx context.Context, dbPath string, task int64) (*progressLog, func(), error) {
	db, err := sql.Open("sqlite", "file:"+dbPath+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		return nil, nil, err
	}
	pl := &progressLog{changed: map[int]time.Time{}}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer db.Close()
		for ctx.Err() == nil {
			var desc sql.NullString
			var updated int64
			if err := db.QueryRowContext(ctx, `SELECT progress_description, updated_at FROM async_tasks WHERE id = ?`, task).Scan(&desc, &updated); err == nil {
				if step, ok := stepOf([]byte(desc.String)); ok {
					pl.mu.Lock()
					if _, seen := pl.changed[step]; !seen {
						pl.changed[step] = time.UnixMilli(updated)
					}
					pl.mu.Unlock()
				}
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return pl, func() { cancel(); <-done }, nil
}

func (pl *progressLog) at(step int) (time.Time, bool) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	t, ok := pl.changed[step]
	return t, ok
}

type receipt struct {
	sub, step int
	at        time.Time
}

func runLatency(ctx context.Context, cfg config) (section, error) {
	sec := section{Num: 2, Title: "Event latency"}
	const interval = time.Second
	stepDelay := 1300 * time.Millisecond // longer than the interval: most steps are seen
	sizes := []int{10, 1000}
	windows := []time.Duration{25 * time.Second, 35 * time.Second}
	if cfg.quick {
		sizes, windows = []int{10, 100}, []time.Duration{8 * time.Second, 8 * time.Second}
	}
	dir, err := os.MkdirTemp("", "mangrove-bench-latency-")
	if err != nil {
		return sec, err
	}
	defer os.RemoveAll(dir)
	obs := newTaskObserver()
	a, err := startApp(appOptions{Dir: dir, StepDelay: stepDelay, PollInterval: interval, ServerToken: true, Wrap: obs.wrap})
	if err != nil {
		return sec, err
	}
	defer a.Close()
	task, err := startGeneration(ctx, a, ncrLedger, "2024-01-01T00:00:00Z", "2025-04-01T00:00:00Z") // 59 batches
	if err != nil {
		return sec, err
	}
	pl, stop, err := watchProgress(ctx, a.dbPath, task)
	if err != nil {
		return sec, err
	}
	defer stop()

	var mu sync.Mutex
	var got []receipt
	subs := newSubSet(a.dashLn.Addr().String(), func(i int, ev sseEvent) {
		if ev.Name != "status" {
			return
		}
		if step, ok := stepOf(ev.Data); ok {
			mu.Lock()
			got = append(got, receipt{sub: i, step: step, at: ev.At})
			mu.Unlock()
		}
	})
	defer subs.closeAll()

	type result struct {
		n              int
		samples        int
		e2e, wait, fan []time.Duration
		steps          int
		window         time.Duration
	}
	var results []result
	for k, n := range sizes {
		if err := subs.add(ctx, n-subs.count(), 100, func(int) string { return eventsPath(task) }); err != nil {
			return sec, err
		}
		if !waitUntil(ctx, 60*time.Second, func() bool { return subs.first.Load() >= int64(n) }) {
			return sec, fmt.Errorf("%d subscribers: only %d got the first state", n, subs.first.Load())
		}
		time.Sleep(500 * time.Millisecond) // the joins' snapshot resends drain
		from := time.Now()
		mu.Lock()
		got = got[:0]
		mu.Unlock()
		time.Sleep(windows[k])
		until := time.Now()
		mu.Lock()
		rs := append([]receipt(nil), got...)
		mu.Unlock()

		// The first receipt of each step by each subscriber, for steps that changed
		// inside the window (every subscriber was connected by then).
		first := map[[2]int]time.Time{}
		for _, r := range rs {
			k := [2]int{r.sub, r.step}
			if t, ok := first[k]; !ok || r.at.Before(t) {
				first[k] = r.at
			}
		}
		res := result{n: n, window: windows[k]}
		steps := map[int]bool{}
		for k, at := range first {
			changed, ok := pl.at(k[1])
			if !ok || changed.Before(from) || changed.After(until) {
				continue
			}
			served, ok := obs.servedAt(task, k[1])
			if !ok {
				continue
			}
			steps[k[1]] = true
			res.e2e = append(res.e2e, at.Sub(changed))
			res.wait = append(res.wait, served.Sub(changed))
			res.fan = append(res.fan, at.Sub(served))
		}
		res.samples, res.steps = len(res.e2e), len(steps)
		if res.samples == 0 {
			return sec, fmt.Errorf("%d subscribers: no progress events measured", n)
		}
		results = append(results, res)
		cfg.logf("latency: %d subscribers: %d samples over %d steps, p50 %s p99 %s", n, res.samples, res.steps,
			percentile(sortedCopy(res.e2e), 50), percentile(sortedCopy(res.e2e), 99))
	}

	sec.Header = []string{"subscribers", "samples (steps)", "change → subscriber p50", "p99", "max",
		"of which waiting for the poll (p50 / p99)", "dashboard's share: answer → subscriber (p50 / p99 / max)", "p50 and p99 vs pure polling (T/2, T)"}
	var last result
	for _, r := range results {
		e, w, f := sortedCopy(r.e2e), sortedCopy(r.wait), sortedCopy(r.fan)
		p50, p99 := percentile(e, 50), percentile(e, 99)
		sec.Rows = append(sec.Rows, []string{
			fmt.Sprint(r.n), fmt.Sprintf("%d (%d)", r.samples, r.steps),
			ms(p50), ms(p99), ms(e[len(e)-1]),
			ms(percentile(w, 50)) + " / " + ms(percentile(w, 99)),
			ms(percentile(f, 50)) + " / " + ms(percentile(f, 99)) + " / " + ms(f[len(f)-1]),
			ratio(float64(p50), float64(interval/2)) + " · " + ratio(float64(p99), float64(interval)),
		})
		last = r
	}
	e, f := sortedCopy(last.e2e), sortedCopy(last.fan)
	p99, fan99 := percentile(e, 99), percentile(f, 99)
	sec.Method = fmt.Sprintf(`
Same setup as table 1 (POLL_INTERVAL T = %s, server-wide token), with a generation whose steps
take %s, longer than T, so most "Processing batch i of n" states are seen by the watcher. Three
clocks, all in this process:

- **change**: when the sandbox wrote the new progress, its own updated_at stamp (ms), read from
  its SQLite file every 2 ms by the tool;
- **answer**: when the sandbox's handler finished answering the watcher's GET /async_tasks/{id}
  with that step for the first time (a wrapper around the sandbox's handler);
- **subscriber**: when the event's last line reached each SSE subscriber (raw connections in the
  same process, so their reading shares the 2 cores with the server).

For each subscriber and step it keeps the first receipt, for steps that changed within the window
(%s with 10 subscribers, %s with 1,000, after all had connected). Pure polling (change at a random
moment, seen at the next poll) waits T/2 on average and up to T (up to 1.1 T with the ±10%% jitter
of the interval): the last column divides the measured p50 by T/2 and p99 by T, so 1.00 is the bound
any poller has; the "dashboard's share" column is what the dashboard adds on top of the poll.`,
		interval, stepDelay, windows[0], windows[len(windows)-1])
	sec.Targets = []string{
		fmt.Sprintf("p99 within the poll interval + 50 ms at %d subscribers: %s (p99 %s against %s; the interval alone, with its ±10%% jitter, allows up to %s)",
			last.n, metOrMissed(p99 <= interval+50*time.Millisecond), ms(p99), ms(interval+50*time.Millisecond), ms(interval*11/10)),
		fmt.Sprintf("The dashboard's own share (answer → subscriber) under 50 ms at p99 with %d subscribers: %s (%s)", last.n, metOrMissed(fan99 < 50*time.Millisecond), ms(fan99)),
	}
	return sec, nil
}
