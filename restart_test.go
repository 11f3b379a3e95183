package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/carbon-dash/mangrove-dashboard/internal/testapp"
	"github.com/carbon-dash/mangrove-dashboard/mangrove/sandbox"
)

// startRun starts the real program and returns its base URL and a stop
// function that cancels it as SIGTERM does and returns run's error.
func startRun(t *testing.T, env map[string]string) (string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, envOf(env), io.Discard, ready) }()
	select {
	case addr := <-ready:
		stopped := false
		var runErr error
		stop := func() error {
			if stopped {
				return runErr
			}
			stopped = true
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("the dashboard did not stop within 20s")
			}
			return runErr
		}
		t.Cleanup(func() { _ = stop() })
		return "http://" + addr, stop
	case err := <-done:
		cancel()
		t.Fatalf("run ended early: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("not ready after 30s")
	}
	return "", nil
}

// TestRestartIsSafe stops the dashboard (as SIGTERM does) while a page is
// being served and a browser watches a running generation, then starts it
// again on the same DATA_DIR: the page was served, the stream ended
// politely, the audit log is intact, the session survived, and the task is
// watched again when viewed, to its true end.
func TestRestartIsSafe(t *testing.T) {
	// The API outlives the dashboard, as the real one does.
	sb, err := sandbox.Open(sandbox.Options{DBPath: filepath.Join(t.TempDir(), "sandbox.db"), StepDelay: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	sbSrv := httptest.NewServer(sb.Handler())
	t.Cleanup(func() { sbSrv.CloseClientConnections(); sbSrv.Close(); _ = sb.Close() })
	env := map[string]string{"ADDR": "127.0.0.1:0", "DATA_DIR": t.TempDir(), "MANGROVE_API_URL": sbSrv.URL + "/api/v1", "POLL_INTERVAL": "1s"}

	base, stop := startRun(t, env)
	b := testapp.NewBrowserAt(t, base)
	b.SignIn(sb.Tokens().ReadWrite)
	ledgers := b.Get("/ledgers")
	d, _ := goquery.NewDocumentFromReader(strings.NewReader(ledgers.Body))
	var ncr string
	d.Find("tbody tr").Each(func(_ int, s *goquery.Selection) {
		if s.Find("th").Text() == "Net Carbon Removal" {
			href, _ := s.Find(`a[href^="/ledgers/"]`).First().Attr("href")
			ncr = strings.TrimPrefix(href, "/ledgers/")
			ncr, _, _ = strings.Cut(ncr, "/")
		}
	})
	if ncr == "" {
		t.Fatalf("no Net Carbon Removal ledger on the page")
	}
	// 15 months on two concurrent ledgers: 60 batches of 200ms, 12s of work.
	b.Get("/ledgers/" + ncr + "/generate")
	r := b.Get("/ledgers/" + ncr + "/preview?" + url.Values{"start_time": {"2024-01-01"}, "end_time": {"2025-03-31"}}.Encode())
	pd, _ := goquery.NewDocumentFromReader(strings.NewReader(r.Body))
	confirm := url.Values{}
	pd.Find(`form[action$="/generations"] input`).Each(func(_ int, s *goquery.Selection) {
		n, _ := s.Attr("name")
		v, _ := s.Attr("value")
		if n != "" {
			confirm.Add(n, v)
		}
	})
	r = b.Post("/ledgers/"+ncr+"/generations", confirm)
	if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/tasks/") {
		t.Fatalf("confirm: %d %q %.300s", r.Status, r.Location, r.Body)
	}
	taskPath := r.Location

	// A browser watches the task.
	streamCtx, cancelStream := context.WithCancel(context.Background())
	defer cancelStream()
	req, _ := http.NewRequestWithContext(streamCtx, http.MethodGet, base+taskPath+"/events", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := b.HTTP.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("events: %v %v", err, resp)
	}
	streamEnded := make(chan int, 1)
	go func() {
		defer resp.Body.Close()
		n := 0
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "event: ") {
				n++
			}
		}
		streamEnded <- n
	}()

	// A slow page is being served when the stop comes.
	if err := sb.SetFaults(sandbox.Faults{Latency: 700 * time.Millisecond, Methods: []string{"GET"}, Paths: []string{"/required_inputs"}}); err != nil {
		t.Fatal(err)
	}
	slow := make(chan int, 1)
	go func() {
		resp, err := b.HTTP.Get(base + "/ledgers/" + ncr)
		if err != nil {
			slow <- -1
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		slow <- resp.StatusCode
	}()
	time.Sleep(200 * time.Millisecond)

	stopAt := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("run after SIGTERM: %v", err)
	}
	took := time.Since(stopAt)
	if status := <-slow; status != http.StatusOK {
		t.Errorf("the page in flight at shutdown got %d, want 200 (drained)", status)
	}
	select {
	case n := <-streamEnded:
		t.Logf("shutdown took %s; the event stream ended after %d events", took.Round(time.Millisecond), n)
	case <-time.After(5 * time.Second):
		t.Fatal("the event stream did not end with the shutdown")
	}
	if took > 10*time.Second {
		t.Errorf("shutdown took %s: a stream held it up", took)
	}
	_ = sb.SetFaults(sandbox.Faults{})

	// The next start, on the same DATA_DIR.
	base2, stop2 := startRun(t, env)
	old, _ := url.Parse(base)
	now, _ := url.Parse(base2)
	b.HTTP.Jar.SetCookies(now, b.HTTP.Jar.Cookies(old))
	b2 := testapp.NewBrowserAt(t, base2)
	b2.HTTP = b.HTTP // the same browser, with its session cookie

	page := b2.Get(taskPath)
	if page.Status != http.StatusOK {
		t.Fatalf("task page after restart: %d (session lost?) %.300s", page.Status, page.Body)
	}
	if !strings.Contains(page.Body, `sse-connect="`+taskPath+`/events"`) || !strings.Contains(page.Body, `data-state="running"`) {
		t.Errorf("after restart the running task is not live: %.600s", page.Body)
	}
	if !strings.Contains(page.Body, "Test User") {
		t.Error("the task page lost who started it")
	}
	hist := b2.Get("/tasks")
	if !strings.Contains(hist.Body, taskPath) || !strings.Contains(hist.Body, "Test User") || !strings.Contains(hist.Body, "Net Carbon Removal") {
		t.Fatalf("the audit log lost the generation: %.600s", hist.Body)
	}

	// The task is watched again, to its true end.
	sreq, _ := http.NewRequest(http.MethodGet, base2+taskPath+"/events", nil)
	sreq.Header.Set("Accept", "text/event-stream")
	sresp, err := b2.HTTP.Do(sreq)
	if err != nil || sresp.StatusCode != http.StatusOK {
		t.Fatalf("events after restart: %v %v", err, sresp)
	}
	body, _ := io.ReadAll(sresp.Body)
	sresp.Body.Close()
	if !strings.Contains(string(body), "id: done\ndata: complete\nevent: done") || !strings.Contains(string(body), `data-state="complete"`) {
		t.Fatalf("the stream after restart did not end with done/complete: %s", body)
	}
	hist = b2.Get("/tasks")
	hd, _ := goquery.NewDocumentFromReader(strings.NewReader(hist.Body))
	if row := hd.Find(`a[href="` + taskPath + `"]`).Closest("tr"); !strings.Contains(row.Text(), "complete") {
		t.Errorf("the audit row did not record the end after restart: %q", row.Text())
	}
	if err := stop2(); err != nil {
		t.Fatal(err)
	}
}
