package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

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

// TestAccessibility runs axe-core on every page of the dashboard
// (tourPages), as a user reaches it, at desktop and at phone width.
func TestAccessibility(t *testing.T) {
	requireBrowser(t)
	for _, width := range []int64{defaultWindowWidth, phoneWidth} {
		t.Run(fmt.Sprintf("%dpx", width), func(t *testing.T) { checkAccessibility(t, width) })
	}
}

// phoneWidth is a phone's viewport width in CSS px (e2e/phone_test.go).
const phoneWidth = 390

func checkAccessibility(t *testing.T, width int64) {
	app := testapp.Start(t, tourOptions)
	b := newTab(t, app)
	b.do("sizing the window", chromedp.EmulateViewport(width, windowHeight))
	tourPages(t, app, b, b.axeCheck)

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
