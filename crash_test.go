package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/carbon-dash/mangrove-dashboard/internal/app"
	"github.com/carbon-dash/mangrove-dashboard/internal/testapp"
	"github.com/carbon-dash/mangrove-dashboard/mangrove/sandbox"
)

// crashChildEnv marks the test binary run as a dashboard process for
// TestCrashRecovery; crashStartTimeoutEnv sets its POST timeout.
const (
	crashChildEnv        = "MGD_CRASH_CHILD"
	crashStartTimeoutEnv = "MGD_CRASH_START_TIMEOUT"
)

// TestCrashRecoveryChild is the dashboard process TestCrashRecovery starts
// and kills: the real wiring (app.New from the environment) serving until
// the process is killed.
func TestCrashRecoveryChild(t *testing.T) {
	if os.Getenv(crashChildEnv) != "1" {
		t.Skip("the dashboard process of TestCrashRecovery; runs only as its child")
	}
	cfg, err := app.ParseConfig(nil, os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	if d := os.Getenv(crashStartTimeoutEnv); d != "" {
		if cfg.StartTimeout, err = time.ParseDuration(d); err != nil {
			t.Fatal(err)
		}
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	a, err := app.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("listening %s\n", a.URL)
	_ = a.Serve(context.Background()) // until SIGKILL
}

// child is a dashboard process.
type child struct {
	url string
	cmd *exec.Cmd
}

func startChild(t *testing.T, env []string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashRecoveryChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), append(env, crashChildEnv+"=1")...)
	cmd.Stderr = io.Discard
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				found <- u
			}
		}
	}()
	select {
	case u := <-found:
		return &child{url: u, cmd: cmd}
	case <-time.After(60 * time.Second):
		t.Fatal("the dashboard process did not start within 60s")
	}
	return nil
}

// kill ends the process with SIGKILL: nothing of it runs after.
func (c *child) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = c.cmd.Wait()
}

// heldStart lets the sandbox start one generation and then keeps its
// answer back: the task runs upstream, the dashboard waits for the answer.
type heldStart struct {
	hold    chan struct{} // closed: hold the next start
	arrived chan struct{} // closed once the held start ran upstream
}

func (h *heldStart) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-h.hold:
		default:
			next.ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/batch_generations") {
			next.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(httptest.NewRecorder(), r.WithContext(context.WithoutCancel(r.Context())))
		close(h.arrived)
		<-r.Context().Done() // the dashboard is killed before it hears back
	})
}

// TestCrashRecovery kills a dashboard process (SIGKILL) while one
// generation's task runs and another's POST waits for Mangrove's answer
// (which started the task upstream), then starts a fresh process on the
// same DATA_DIR, with nobody viewing anything: the first generation's end
// is recorded (audit row and metrics), and the second, which can get no
// answer any more, is recorded unknown with the reason; confirming it again
// says so at once instead of "still being submitted".
func TestCrashRecovery(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sb, err := sandbox.Open(sandbox.Options{DBPath: filepath.Join(dir, "sandbox.db"), StepDelay: 250 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	held := &heldStart{hold: make(chan struct{}), arrived: make(chan struct{})}
	api := httptest.NewServer(held.wrap(sb.Handler()))
	t.Cleanup(api.Close)
	env := []string{"MANGROVE_API_URL=" + api.URL + "/api/v1", "DATA_DIR=" + filepath.Join(dir, "data"),
		"SESSION_SECRET=" + testapp.SessionSecret, "ADDR=127.0.0.1:0", "POLL_INTERVAL=1s"}

	first := startChild(t, env)
	b := testapp.NewBrowserAt(t, first.url)
	b.SignIn(sb.Tokens().ReadWrite)
	ledger := ledgerPath(t, b, "Net Carbon Removal")

	// The first generation starts and runs (12 batches, 3 s upstream).
	running := b.Get(ledger + "/preview?start_time=2025-01-01&end_time=2025-03-31")
	r := b.PostRaw(ledger+"/generations", confirmForm(t, running.Body))
	if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/tasks/") {
		t.Fatalf("confirm: %d %s", r.Status, r.Location)
	}
	runningTask := strings.TrimPrefix(r.Location, "/tasks/")

	// The second one's POST reaches Mangrove, which starts it; the answer
	// never comes back before the crash.
	interrupted := confirmForm(t, b.Get(ledger+"/preview?start_time=2024-01-01&end_time=2024-01-31").Body)
	close(held.hold)
	go func() {
		resp, err := b.HTTP.PostForm(first.url+ledger+"/generations", interrupted)
		if err == nil {
			resp.Body.Close()
		}
	}()
	select {
	case <-held.arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("the second generation's POST never reached the sandbox")
	}
	first.kill(t)

	second := startChild(t, append(env, crashStartTimeoutEnv+"=1ms"))
	b2 := testapp.NewBrowserAt(t, second.url)
	b2.HTTP.Jar = b.HTTP.Jar // the same browser: its session outlives the process
	var rows map[string][]string
	testapp.WaitFor(t, 60*time.Second, "both generations settled without a viewer", func() bool {
		rows = historyRows(t, b2)
		return len(rows) == 2 && rows[runningTask] != nil && rows[runningTask][10] == "complete" && rows[""] != nil && rows[""][10] == "unknown"
	})
	if reason := rows[""][11]; !strings.Contains(reason, "the dashboard stopped") {
		t.Errorf("the interrupted generation's reason is %q, want it to say the dashboard stopped", reason)
	}
	metrics := b2.Get("/metrics").Body
	for _, want := range []string{`dashboard_generations_finished_total{outcome="complete"} 1`, `dashboard_generations_started_total{outcome="unknown"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("the restarted process's metrics lack %s", want)
		}
	}
	// Confirming the interrupted one again: unknown at once, never a second POST.
	if r := b2.PostRaw(ledger+"/generations", interrupted); r.Status != http.StatusBadGateway || !strings.Contains(r.Body, "Outcome unknown") {
		t.Errorf("confirming the interrupted generation again: %d, want 502 and the unknown-outcome page", r.Status)
	}
}

// ledgerPath finds a ledger's page on /ledgers by its name.
func ledgerPath(t *testing.T, b *testapp.Browser, name string) string {
	t.Helper()
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(b.Get("/ledgers").Body))
	if err != nil {
		t.Fatal(err)
	}
	path := ""
	doc.Find(`a[href^="/ledgers/"]`).EachWithBreak(func(_ int, a *goquery.Selection) bool {
		if strings.TrimSpace(a.Text()) == name {
			path, _ = a.Attr("href")
			return false
		}
		return true
	})
	if path == "" {
		t.Fatalf("no ledger %q on /ledgers", name)
	}
	return path
}

// confirmForm is the preview page's confirmation form, as a browser sends it.
func confirmForm(t *testing.T, page string) url.Values {
	t.Helper()
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{}
	doc.Find(`form[action$="/generations"] input[name]`).Each(func(_ int, in *goquery.Selection) {
		name, _ := in.Attr("name")
		value, _ := in.Attr("value")
		form.Add(name, value)
	})
	if form.Get("confirm_key") == "" {
		t.Fatalf("no confirmation form in the preview: %.500s", page)
	}
	return form
}

// historyRows reads /tasks.csv into rows by task id ("" for none).
func historyRows(t *testing.T, b *testapp.Browser) map[string][]string {
	t.Helper()
	r := b.Get("/tasks.csv")
	if r.Status != http.StatusOK {
		t.Fatalf("/tasks.csv: %d", r.Status)
	}
	records, err := csv.NewReader(strings.NewReader(r.Body)).ReadAll()
	if err != nil || len(records) == 0 || records[0][9] != "task_id" || records[0][10] != "state" || records[0][11] != "error" {
		t.Fatalf("/tasks.csv: %v %v", err, records)
	}
	rows := map[string][]string{}
	for _, rec := range records[1:] {
		rows[rec[9]] = rec
	}
	return rows
}
