package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/carbon-dash/mangrove-dashboard/internal/testapp"
)

// axeFile is axe-core from the npm registry (e2e/testdata/MANIFEST.md). It
// is injected through the DevTools protocol, which the pages' CSP does not
// restrict; the dashboard never serves it.
const axeFile = "axe-4.14.1.min.js"

// axeViolation is one failed axe rule with the elements that fail it.
type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// axeCheck injects axe-core into the tab's page, runs every rule of the
// WCAG 2.x A and AA tags and best practices, and fails the test with each
// violation found.
func (b *tab) axeCheck(page string) {
	b.t.Helper()
	violations := b.axeRun(page)
	for _, v := range violations {
		b.t.Errorf("axe on %s: %s (%s): %s\n\t%s", page, v.ID, v.Impact, v.Help, strings.Join(v.Nodes, "\n\t"))
	}
	b.t.Logf("axe on %s: %d violations", page, len(violations))
}

// axeRun returns the axe violations of the tab's page.
func (b *tab) axeRun(page string) []axeViolation {
	b.t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", axeFile))
	if err != nil {
		b.t.Fatalf("reading %s: %v", axeFile, err)
	}
	if !run(b, "injecting axe-core", chromedp.Evaluate[bool](string(src)+"\n;typeof window.axe === 'object'")) {
		b.t.Fatal("axe-core did not load")
	}
	const runAxe = `axe.run(document, {
		runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]},
		resultTypes: ["violations"]
	}).then(r => r.violations.map(v => ({
		id: v.id, impact: v.impact || "", help: v.help,
		nodes: v.nodes.map(n => n.target.join(" ") + " — " + (n.failureSummary || "").replace(/\s+/g, " "))
	})))`
	return run(b, "running axe on "+page, chromedp.Evaluate[[]axeViolation](runAxe, chromedp.EvalAwaitPromise))
}

// TestAccessibility runs axe-core on every page of the dashboard, as a user
// reaches it, at desktop and at phone width: sign-in, ledgers, a ledger with
// its chart, the generation form, the preview, a running and a finished
// task, the history and an error page.
func TestAccessibility(t *testing.T) {
	requireBrowser(t)
	for _, width := range []int64{defaultWindowWidth, phoneWidth} {
		t.Run(fmt.Sprintf("%dpx", width), func(t *testing.T) { checkAccessibility(t, width) })
	}
}

// phoneWidth is a phone's viewport width, where wide tables scroll.
const phoneWidth = 390

func checkAccessibility(t *testing.T, width int64) {
	app := testapp.Start(t, testapp.Options{StepDelay: 700 * time.Millisecond, PollInterval: time.Second})
	ncr := app.LedgerByName(t, ncrName)
	b := newTab(t, app)
	b.do("sizing the window", chromedp.EmulateViewport(width, windowHeight))

	if st := b.navigate("/signin"); st != 200 {
		t.Fatalf("sign-in page: %d", st)
	}
	b.axeCheck("the sign-in page")
	b.signIn(app.Tokens.ReadWrite, "A11y Tester")
	b.axeCheck("the ledgers list")

	if st := b.navigate("/ledgers/" + ncr.ID); st != 200 {
		t.Fatalf("ledger page: %d", st)
	}
	b.do("waiting for the chart", chromedp.WaitVisible(chromedp.CSS(`#ledger-chart[data-drawn="true"] canvas`)))
	b.axeCheck("a ledger page with its chart")
	ledgers, err := app.Client.AllLedgers(context.Background(), app.Tokens.ReadWrite)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ledgers {
		if l.LatestModel == nil {
			b.navigate("/ledgers/" + l.ID)
			b.axeCheck("a ledger without a model")
			break
		}
	}

	b.navigate("/ledgers/" + ncr.ID + "/generate")
	b.axeCheck("the generation form")
	b.do("typing a bad range",
		chromedp.Clear(chromedp.CSS("#start_time")), chromedp.SendKeys(chromedp.CSS("#start_time"), "2025-03-31"),
		chromedp.Clear(chromedp.CSS("#end_time")), chromedp.SendKeys(chromedp.CSS("#end_time"), "never"))
	b.submit("previewing a bad range", chromedp.Click(chromedp.CSS(`form[action$="/preview"] button.btn-primary`)))
	b.axeCheck("the generation form with errors")

	if st := b.previewRange(ncr.ID, "2025-01-01", "2025-03-31"); st != 200 {
		t.Fatalf("preview: %d", st)
	}
	b.axeCheck("the preview")

	b.submit("confirming", chromedp.Click(chromedp.CSS("#confirm")))
	taskID := taskIDFromPath(t, b.path())
	b.do("waiting for the task to run", chromedp.WaitVisible(chromedp.CSS(`#task-status [data-state="running"]`)))
	b.axeCheck("a running task")
	app.WaitTask(t, app.Tokens.ReadWrite, taskID, 90*time.Second)
	b.do("waiting for the page to show the end", chromedp.WaitVisible(chromedp.CSS(`#task-status [data-state="complete"] .task-batches`)))
	b.axeCheck("a finished task, updated live")
	b.navigate(fmt.Sprintf("/tasks/%d", taskID))
	b.axeCheck("a finished task")

	b.navigate("/tasks")
	b.axeCheck("the generation history")

	if st := b.navigate("/ledgers/lgr_doesnotexist"); st != 404 {
		t.Fatalf("error page: %d", st)
	}
	b.axeCheck("an error page")

	// The check can fail: an image without a text alternative is caught.
	eval[bool](b, `(() => { const i = document.createElement("img"); i.src = "/static/none.png"; document.querySelector("main").append(i); return true; })()`)
	found := false
	for _, v := range b.axeRun("a page with a broken image") {
		found = found || v.ID == "image-alt"
	}
	if !found {
		t.Error("axe did not report an image without alt text: the check is not working")
	}
}
