package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/carbon-dash/mangrove-dashboard/internal/testapp"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// chromiumPath is Debian's Chromium; the tests use no other browser.
const chromiumPath = "/usr/bin/chromium"

// actionTimeout bounds each browser step, so a stuck page fails the test
// instead of hanging the package.
const actionTimeout = 30 * time.Second

var (
	// browserCtx is the chromedp context of the one browser of this test
	// process; each test opens its own tab in a fresh browser context
	// (its own cookie jar) under it.
	browserCtx context.Context
	// browserSkip says why there is no browser when Chromium is not
	// installed; browserErr is set when it is installed but did not start.
	browserSkip string
	browserErr  error
)

// allocatorOptions are the flags Chromium runs with, exactly these: no
// chromedp defaults are added (NewExecAllocator uses only what it is given;
// it appends --remote-debugging-pipe and the first page, about:blank).
func allocatorOptions(userDataDir string) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(userDataDir),
		chromedp.WindowSize(windowWidth(), windowHeight),
	}
}

// The browser window: 1440 px wide unless E2E_WIDTH says otherwise (390 to
// see the pages as on a phone, with E2E_SCREENSHOTS).
const (
	defaultWindowWidth = 1440
	windowHeight       = 900
)

func windowWidth() int {
	if w, err := strconv.Atoi(os.Getenv("E2E_WIDTH")); err == nil && w > 0 {
		return w
	}
	return defaultWindowWidth
}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if _, err := os.Stat(chromiumPath); err != nil {
		browserSkip = fmt.Sprintf("browser tests need Debian's Chromium at %s (apt-get install -y --no-install-recommends chromium): %v", chromiumPath, err)
		return m.Run()
	}
	// TestMain has no *testing.T, so the fresh profile directory is made
	// and removed here rather than with t.TempDir.
	dir, err := os.MkdirTemp("", "e2e-chromium-profile-")
	if err != nil {
		browserErr = err
		return m.Run()
	}
	defer os.RemoveAll(dir)

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), allocatorOptions(dir)...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	// Start the browser now, with no timeout on this first call: its
	// context owns the browser process.
	if err := chromedp.Do(ctx); err != nil {
		browserErr = fmt.Errorf("starting %s: %w", chromiumPath, err)
		return m.Run()
	}
	browserCtx = ctx
	return m.Run()
}

// requireBrowser skips the test when Chromium is missing, except under
// CI=true where that is a failure.
func requireBrowser(t *testing.T) {
	t.Helper()
	if browserSkip != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true: %s", browserSkip)
		}
		t.Skip(browserSkip)
	}
	if browserErr != nil {
		t.Fatalf("the browser did not start: %v", browserErr)
	}
}

// tab is one browser tab with its own cookie jar, driving one app.
type tab struct {
	t   *testing.T
	app *testapp.App
	ctx context.Context // the tab's chromedp context

	mu         sync.Mutex
	exceptions []string // uncaught JavaScript exceptions
	console    []string // console errors and warnings
}

// newTab opens a tab in a new browser context (fresh cookies and storage)
// and closes it when the test ends.
func newTab(t *testing.T, app *testapp.App) *tab {
	t.Helper()
	requireBrowser(t)
	ctx, cancel := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
	b := &tab{t: t, app: app, ctx: ctx}
	t.Cleanup(func() {
		if t.Failed() {
			b.dumpOnFailure()
		}
		cancel()
	})
	if err := chromedp.Do(ctx); err != nil { // open the tab
		t.Fatalf("opening a tab: %v", err)
	}
	if err := chromedp.Listen(ctx, b.onEvent); err != nil {
		t.Fatalf("listening to the tab: %v", err)
	}
	t.Cleanup(func() { // runs before cancel above
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, c := range b.console {
			t.Logf("browser console: %s", c)
		}
		for _, e := range b.exceptions {
			t.Errorf("uncaught JavaScript exception: %s", e)
		}
	})
	return b
}

// signedInTab opens a tab (newTab) and signs in with token as name.
func signedInTab(t *testing.T, app *testapp.App, token, name string) *tab {
	t.Helper()
	b := newTab(t, app)
	b.signIn(token, name)
	return b
}

// onEvent runs in the tab's message loop: it only records.
func (b *tab) onEvent(ev any) {
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			msg += " " + d.Exception.Description
		}
		b.mu.Lock()
		b.exceptions = append(b.exceptions, fmt.Sprintf("%s (%s:%d)", msg, d.URL, d.LineNumber+1))
		b.mu.Unlock()
	case *runtime.EventConsoleAPICalled:
		if ev.Type != "error" && ev.Type != "warning" {
			return
		}
		var parts []string
		for _, a := range ev.Args {
			if a.Description != "" {
				parts = append(parts, a.Description)
			} else {
				parts = append(parts, string(a.Value))
			}
		}
		b.mu.Lock()
		b.console = append(b.console, string(ev.Type)+": "+strings.Join(parts, " "))
		b.mu.Unlock()
	}
}

// dumpOnFailure logs where the tab is and what it shows, and saves a
// screenshot when E2E_SCREENSHOTS is set.
func (b *tab) dumpOnFailure() {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if len(body) > 1500 {
		body = body[:1500] + "…"
	}
	b.t.Logf("the tab was at %s showing:\n%s", loc, body)
	if dir := os.Getenv("E2E_SCREENSHOTS"); dir != "" {
		if png, err := chromedp.Run(ctx, fullPage); err == nil {
			name := "failed-" + strings.NewReplacer("/", "_", " ", "_").Replace(b.t.Name()) + ".png"
			_ = os.WriteFile(filepath.Join(dir, name), png, 0o644)
		}
	}
}

// run runs one action that returns a value, bounded by actionTimeout.
func run[T any](b *tab, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// do runs actions with no value, bounded by actionTimeout.
func (b *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](b *tab, js string) T {
	b.t.Helper()
	return run(b, "evaluating "+js, chromedp.Evaluate[T](js))
}

// navigate loads a path of the app and returns the status of the document
// (after redirects).
func (b *tab) navigate(path string) int64 {
	b.t.Helper()
	resp := run(b, "navigating to "+path, chromedp.NavigateResponse(b.app.URL+path))
	if resp == nil {
		b.t.Fatalf("navigating to %s: no response", path)
	}
	return resp.Status
}

// submit runs the steps (a click, typically), waits for the page they load
// and returns its status.
func (b *tab) submit(what string, steps ...chromedp.Action[chromedp.Void]) int64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, steps...)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	if resp == nil {
		b.t.Fatalf("%s: no response", what)
	}
	return resp.Status
}

// path is the path (and query) the tab shows.
func (b *tab) path() string {
	b.t.Helper()
	loc := run(b, "reading the location", chromedp.Location())
	u, err := url.Parse(loc)
	if err != nil {
		b.t.Fatalf("location %q: %v", loc, err)
	}
	if u.RawQuery != "" {
		return u.Path + "?" + u.RawQuery
	}
	return u.Path
}

// text is the visible text of the first element matching sel.
func (b *tab) text(sel string) string {
	b.t.Helper()
	return strings.TrimSpace(run(b, "reading the text of "+sel, chromedp.Text(chromedp.CSS(sel))))
}

// value is the current value of a form field.
func (b *tab) value(sel string) string {
	b.t.Helper()
	return run(b, "reading the value of "+sel, chromedp.Value(chromedp.CSS(sel)))
}

// attr is an attribute of the first element matching sel; ok is false when
// the element lacks it.
func (b *tab) attr(sel, name string) (string, bool) {
	b.t.Helper()
	r := run(b, "reading "+name+" of "+sel, chromedp.AttributeValue(chromedp.CSS(sel), name))
	return r.Value, r.Exists
}

// count is how many elements match sel now (no waiting).
func (b *tab) count(sel string) int {
	b.t.Helper()
	return eval[int](b, fmt.Sprintf(`document.querySelectorAll(%q).length`, sel))
}

// signIn signs in through the sign-in page with a token, as a person
// would, and checks that it lands on the ledgers list.
func (b *tab) signIn(token, name string) {
	b.t.Helper()
	if st := b.navigate("/signin"); st != 200 {
		b.t.Fatalf("GET /signin: status %d", st)
	}
	b.do("filling the sign-in form",
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.SendKeys(chromedp.CSS("#name"), name),
	)
	if st := b.submit("signing in", chromedp.Click(chromedp.CSS(`form[action="/signin"] button[type="submit"]`))); st != 200 {
		b.t.Fatalf("sign in: status %d", st)
	}
	if p := b.path(); p != "/ledgers" {
		b.t.Fatalf("after sign in the tab is at %s, want /ledgers", p)
	}
}

// previewRange fills the generation form of a ledger and submits it with
// the Preview button; it returns the status of the page it gets.
func (b *tab) previewRange(ledgerID, start, end string) int64 {
	b.t.Helper()
	if st := b.navigate("/ledgers/" + ledgerID + "/generate"); st != 200 {
		b.t.Fatalf("generation form: status %d", st)
	}
	b.do("typing the range",
		chromedp.WaitVisible(chromedp.CSS("#start_time")),
		chromedp.Clear(chromedp.CSS("#start_time")),
		chromedp.SendKeys(chromedp.CSS("#start_time"), start),
		chromedp.Clear(chromedp.CSS("#end_time")),
		chromedp.SendKeys(chromedp.CSS("#end_time"), end),
	)
	return b.submit("clicking Preview", chromedp.Click(chromedp.CSS(`form[action$="/preview"] button.btn-primary`)))
}

// screenshot saves a full-page PNG into $E2E_SCREENSHOTS, when set.
func (b *tab) screenshot(name string) {
	b.t.Helper()
	dir := os.Getenv("E2E_SCREENSHOTS")
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatalf("screenshots directory: %v", err)
	}
	png := run(b, "taking the screenshot "+name, fullPage)
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatalf("saving the screenshot %s: %v", name, err)
	}
}

// fullPage captures the whole page as a PNG, laid out as in the window's
// width: the viewport is stretched to the page's height for the capture (so
// no scrollbar narrows the layout, which chromedp's FullScreenshot clips),
// then restored.
func fullPage(ctx context.Context, t *chromedp.Target) ([]byte, error) {
	type size struct {
		W int64 `json:"w"`
		H int64 `json:"h"`
	}
	sz, err := chromedp.Evaluate[size](`({w: window.innerWidth, h: Math.max(document.documentElement.scrollHeight, window.innerHeight)})`)(ctx, t)
	if err != nil {
		return nil, err
	}
	if _, err := cdp.Call(ctx, t, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
		Width: sz.W, Height: sz.H, DeviceScaleFactor: 1,
	}); err != nil {
		return nil, err
	}
	defer cdp.Call(ctx, t, emulation.ClearDeviceMetricsOverride, cdp.Empty{}) //nolint:errcheck // best effort
	return chromedp.CaptureScreenshot()(ctx, t)
}

// disableJavaScript turns script execution off for the tab's next pages.
func (b *tab) disableJavaScript() {
	b.t.Helper()
	b.do("disabling JavaScript", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return err
	}))
}

// q1 is the demo data's collected but not generated quarter.
var (
	q1Start = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	q1End   = time.Date(2025, 3, 31, 23, 59, 59, 0, time.UTC)
)

// apiPreview asks the API directly what a generation of Q1 2025 would write.
func apiPreview(t *testing.T, app *testapp.App, token, ledgerID string) []mangrove.PreviewEntry {
	t.Helper()
	entries, err := app.Client.PreviewGeneration(context.Background(), token, ledgerID, mangrove.PreviewRequest{StartTime: q1Start, EndTime: q1End})
	if err != nil {
		t.Fatalf("API preview: %v", err)
	}
	return entries
}

// taskIDFromPath reads the id of /tasks/{id}.
func taskIDFromPath(t *testing.T, p string) int64 {
	t.Helper()
	var id int64
	if _, err := fmt.Sscanf(p, "/tasks/%d", &id); err != nil || id <= 0 {
		t.Fatalf("the tab is at %q, want /tasks/{id}", p)
	}
	return id
}
