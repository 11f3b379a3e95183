package handlers_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/internal/testapp"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// These tests assert that the dashboard holds no goroutine and no memory
// per connection or per task once they are gone. They are not parallel:
// they count the whole process's goroutines.

const (
	goroutineMargin = 10      // goroutines allowed above the start after settling
	heapMargin      = 4 << 20 // bytes of live heap allowed above the start
)

type usage struct {
	goroutines int
	heap       uint64
}

func measure() usage {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return usage{goroutines: runtime.NumGoroutine(), heap: m.HeapAlloc}
}

// settle waits up to 10s for the process to come back within the margins
// of base, and fails the test with a goroutine dump when it does not.
func settle(t *testing.T, base usage, what string, idle func()) usage {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var u usage
	for {
		idle()
		u = measure()
		if u.goroutines <= base.goroutines+goroutineMargin && u.heap <= base.heap+heapMargin {
			break
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("after %s: %d goroutines (start %d) and %.1f MiB heap (start %.1f MiB) did not settle within 10s\n%s",
				what, u.goroutines, base.goroutines, mib(u.heap), mib(base.heap), buf)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("after %s: %d goroutines (start %d), heap %.1f MiB (start %.1f MiB)", what, u.goroutines, base.goroutines, mib(u.heap), mib(base.heap))
	return u
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// streamOnce subscribes to a task's events and leaves: after the first
// event, or (early) as soon as the response headers arrive.
func streamOnce(client *http.Client, u string, early bool) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp, err := testapp.OpenEvents(ctx, client, u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	if early {
		return nil
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "event: ") {
			return nil
		}
	}
	return fmt.Errorf("the stream ended before its first event: %v", sc.Err())
}

func TestNoLeakAfter2000StreamCycles(t *testing.T) {
	// A long task (60 batches of 1s) keeps the stream live throughout.
	app := testapp.Start(t, testapp.Options{StepDelay: time.Second, PollInterval: 200 * time.Millisecond})
	b := app.SignedIn(t)
	id := app.LedgerByName(t, "Net Carbon Removal").ID
	start, _ := time.Parse(time.DateOnly, "2024-01-01")
	end, _ := time.Parse(time.RFC3339, "2025-03-31T23:59:59Z")
	task, err := app.Client.StartGeneration(context.Background(), app.Tokens.ReadWrite, id, mangrove.GenerationRequest{StartTime: start, EndTime: end})
	if err != nil {
		t.Fatal(err)
	}
	u := app.URL + "/tasks/" + strconv.FormatInt(task.ID, 10) + "/events"
	transport := b.HTTP.Transport
	if transport == nil {
		transport = http.DefaultTransport
	}
	idle := func() {
		if ci, ok := transport.(interface{ CloseIdleConnections() }); ok {
			ci.CloseIdleConnections()
		}
	}
	// Warm up: the watcher, the stream and the connection pools exist now.
	for range 10 {
		if err := streamOnce(b.HTTP, u, false); err != nil {
			t.Fatal(err)
		}
	}
	testapp.WaitFor(t, 15*time.Second, "the warm-up subscribers to leave", func() bool { return app.Streams.Subscribers() == 0 })
	base := settle(t, measure(), "warm-up", idle)

	const cycles, workers = 2000, 8
	var next, failed atomic.Int64
	var firstErr atomic.Value
	began := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := next.Add(1)
				if n > cycles {
					return
				}
				var err error
				if n%5 == 1 { // HTTP/1.0: served in place rather than detached
					err = joinInPlace(app, b, strings.TrimPrefix(u, app.URL), 10*time.Second)
				} else {
					err = streamOnce(b.HTTP, u, n%4 == 0)
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d stream connect/disconnect cycles in %s (%d workers)", cycles, time.Since(began).Round(time.Millisecond), workers)
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of %d cycles failed, first: %v", n, cycles, firstErr.Load())
	}
	if latest, ok := app.Watchers.Latest(task.ID); !ok || latest.Terminal() {
		t.Fatal("the task ended during the cycles; the test needs it running")
	}
	testapp.WaitFor(t, 15*time.Second, "every subscriber to leave", func() bool { return app.Streams.Subscribers() == 0 })
	settle(t, base, fmt.Sprintf("%d stream cycles", cycles), idle)
	if n := app.Streams.Open(); n != 1 {
		t.Errorf("%d event streams open, want the running task's 1", n)
	}
}

func TestNoLeakAfter200WatchedTasks(t *testing.T) {
	app := testapp.Start(t, testapp.Options{StepDelay: 0, PollInterval: 20 * time.Millisecond, RateLimit: 1_000_000})
	ncr := app.LedgerByName(t, "Net Carbon Removal").ID
	others, err := app.Client.AllLedgers(context.Background(), app.Tokens.Other)
	if err != nil || len(others) == 0 {
		t.Fatalf("the other project's ledgers: %v", err)
	}
	kiln := others[0].ID
	// Tasks in both projects (their generations run side by side), viewed
	// with three tokens: the watchers' poll budget is per token.
	viewers := []*testapp.Browser{app.NewBrowser(t), app.NewBrowser(t), app.NewBrowser(t)}
	viewers[0].SignIn(app.Tokens.ReadWrite)
	viewers[1].SignIn(app.Tokens.ReadOnly)
	viewers[2].SignIn(app.Tokens.Other)
	idle := func() {
		for _, v := range viewers {
			v.HTTP.CloseIdleConnections()
		}
	}
	ctx := context.Background()
	month := func(i int) (time.Time, time.Time) {
		s := time.Date(2024, time.Month(1+i%15), 1, 0, 0, 0, 0, time.UTC)
		return s, s.AddDate(0, 1, 0).Add(-time.Second)
	}
	var watchedLive atomic.Int64
	watch := func(i int) error {
		s, e := month(i)
		token, ledger, viewer := app.Tokens.ReadWrite, ncr, viewers[i%2]
		if i%3 == 2 {
			token, ledger, viewer = app.Tokens.Other, kiln, viewers[2]
		}
		task, err := app.Client.StartGeneration(ctx, token, ledger, mangrove.GenerationRequest{StartTime: s, EndTime: e})
		if err != nil {
			return err
		}
		evs, err := readAll(viewer.HTTP, app.URL+"/tasks/"+strconv.FormatInt(task.ID, 10)+"/events")
		if err != nil {
			return fmt.Errorf("task %d: %w", task.ID, err)
		}
		if n := len(evs); n < 2 || evs[n-1].name != "done" || evs[n-1].data != "complete" {
			return fmt.Errorf("task %d: stream ended without done/complete: %+v", task.ID, evs)
		}
		if len(evs) > 2 {
			watchedLive.Add(1) // seen running, not only its final state
		}
		return nil
	}
	if err := watch(0); err != nil {
		t.Fatal(err)
	}
	testapp.WaitFor(t, 15*time.Second, "the warm-up watcher to stop", func() bool {
		return app.Watchers.Active() == 0 && app.Streams.Open() == 0
	})
	base := settle(t, measure(), "warm-up", idle)
	watchedLive.Store(0)

	const tasks, wave = 200, 12
	began := time.Now()
	for w := 0; w < tasks; w += wave {
		var wg sync.WaitGroup
		errs := make(chan error, wave)
		for i := w; i < w+wave; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := watch(i); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	t.Logf("%d tasks watched to completion in %s (%d seen running over the stream, the rest only at their end); %d watcher polls",
		tasks, time.Since(began).Round(time.Millisecond), watchedLive.Load(), app.Watchers.Polls())
	if watchedLive.Load() < tasks/2 {
		t.Errorf("only %d of %d tasks were watched while running; the test should exercise live watchers", watchedLive.Load(), tasks)
	}
	testapp.WaitFor(t, 15*time.Second, "every watcher and stream to stop", func() bool {
		return app.Watchers.Active() == 0 && app.Streams.Open() == 0 && app.Streams.Subscribers() == 0
	})
	settle(t, base, fmt.Sprintf("%d watched tasks", tasks), idle)
}

// readAll reads an event stream to its end.
func readAll(client *http.Client, u string) ([]sseEvent, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := testapp.OpenEvents(ctx, client, u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	evs := scanEvents(resp.Body, -1)
	return evs, ctx.Err()
}

// joinInPlace subscribes over HTTP/1.0 (served in place, not detached: each
// join broadcasts the task's state to every subscriber) and leaves after
// the first event.
func joinInPlace(app *testapp.App, b *testapp.Browser, path string, timeout time.Duration) error {
	u, _ := url.Parse(app.URL)
	conn, err := net.DialTimeout("tcp", u.Host, timeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	var cookies []string
	for _, c := range b.HTTP.Jar.Cookies(u) {
		cookies = append(cookies, c.Name+"="+c.Value)
	}
	fmt.Fprintf(conn, "GET %s HTTP/1.0\r\nHost: %s\r\nAccept: text/event-stream\r\nCookie: %s\r\n\r\n", path, u.Host, strings.Join(cookies, "; "))
	sc := bufio.NewScanner(conn)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "event: status") {
			return nil
		}
	}
	return fmt.Errorf("no first event: %v", sc.Err())
}
