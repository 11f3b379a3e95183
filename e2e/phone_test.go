package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/carbon-dash/mangrove-dashboard/internal/testapp"
)

// The phone the layout is checked on: an iPhone 12 to 15's viewport in CSS
// px, at its device pixel ratio, as a mobile device (the viewport meta tag
// applies).
const (
	phoneHeight = 844
	phoneScale  = 3
)

// emulatePhone gives the tab a phone's viewport for its next pages.
func (b *tab) emulatePhone() {
	b.t.Helper()
	b.do("emulating a phone", chromedp.EmulateViewport(phoneWidth, phoneHeight,
		chromedp.EmulateScale(phoneScale), chromedp.EmulateMobile, chromedp.EmulatePortrait))
}

// phoneShot saves the whole page as the phone lays it out into
// $E2E_SCREENSHOTS, when set, at one pixel per CSS px. (The tab's
// screenshot would leave the phone's emulation, and lay the page out again
// with a scrollbar.)
func (b *tab) phoneShot(name string) {
	b.t.Helper()
	dir := os.Getenv("E2E_SCREENSHOTS")
	if dir == "" {
		return
	}
	png := run(b, "taking the screenshot "+name, func(ctx context.Context, t *chromedp.Target) ([]byte, error) {
		h, err := chromedp.Evaluate[float64](`document.documentElement.scrollHeight`)(ctx, t)
		if err != nil {
			return nil, err
		}
		r, err := cdp.Call(ctx, t, page.CaptureScreenshot, page.CaptureScreenshotParams{
			CaptureBeyondViewport: new(true),
			Clip:                  &page.Viewport{Width: phoneWidth, Height: h, Scale: 1.0 / phoneScale},
		})
		if err != nil {
			return nil, err
		}
		return r.Data, nil
	})
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatalf("saving the screenshot %s: %v", name, err)
	}
}

// pageWidth is what overflowReportJS measures.
type pageWidth struct {
	ScrollWidth int64    `json:"scrollWidth"`
	InnerWidth  int64    `json:"innerWidth"`
	StickingOut []string `json:"stickingOut"`
}

// overflowReportJS measures the page against a width (%d: the phone's) and
// names the elements that stick out past it: the outermost of each stretch
// (an element whose parent fits), leaving out what a box that scrolls or
// clips sideways holds (a wide table in its scrolling region widens no
// page). The width is the phone's, not innerWidth: a mobile browser zooms
// out to show a page wider than the screen, and innerWidth grows with it.
const overflowReportJS = `((vw) => {
	const sticks = el => {
		const r = el.getBoundingClientRect();
		return (r.width > 0 || r.height > 0) && r.right > vw + 0.5;
	};
	// held: a scrolling or clipping box in the element's chain of
	// containing blocks holds it. An absolutely positioned element skips
	// the boxes up to its positioned ancestor: a scroller that is not
	// positioned does not hold it, and it widens the page.
	const held = el => {
		let pos = getComputedStyle(el).position;
		for (let p = el.parentElement; p && p !== document.documentElement; p = p.parentElement) {
			const cs = getComputedStyle(p);
			if (pos === "fixed") return false;
			if (pos === "absolute" && cs.position === "static") continue;
			if (cs.overflowX !== "visible") return true;
			pos = cs.position;
		}
		return false;
	};
	const culprit = el => sticks(el) && !held(el);
	const name = el => {
		let s = el.tagName.toLowerCase();
		if (el.id) s += "#" + el.id;
		for (const c of el.classList) s += "." + c;
		const text = (el.innerText || el.textContent || "").replace(/\s+/g, " ").trim();
		if (text) s += " \"" + (text.length > 40 ? text.slice(0, 40) + "…" : text) + "\"";
		return s + " (right edge at " + Math.round(el.getBoundingClientRect().right) + " px)";
	};
	const out = [];
	for (const el of document.body.querySelectorAll("*")) {
		if (culprit(el) && !(el.parentElement && culprit(el.parentElement))) out.push(name(el));
	}
	return {scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth, stickingOut: out.slice(0, 12)};
})(%d)`

// measure runs overflowReportJS on the tab's page.
func (b *tab) measure() pageWidth {
	b.t.Helper()
	return eval[pageWidth](b, fmt.Sprintf(overflowReportJS, phoneWidth))
}

// checkFitsPhone fails the test when the page is wider than the phone's
// screen, naming what sticks out.
func (b *tab) checkFitsPhone(name string) {
	b.t.Helper()
	w := b.measure()
	if w.ScrollWidth > phoneWidth {
		b.t.Errorf("%s is %d px wide on a %d px screen (the browser zoomed out to %d); sticking out:\n\t%s",
			name, w.ScrollWidth, phoneWidth, w.InnerWidth, strings.Join(w.StickingOut, "\n\t"))
		return
	}
	if w.InnerWidth != phoneWidth {
		b.t.Errorf("%s: the window is %d px wide, want the phone's %d: the emulation did not hold", name, w.InnerWidth, phoneWidth)
	}
	b.t.Logf("%s: %d px wide, window %d", name, w.ScrollWidth, w.InnerWidth)
}

// keyCellsJS reads, in the first row of the ledger page's batches table,
// the cells under the Period, State and Primary output headers: their
// left and right edges. A cell missing or not shown is at -1.
const keyCellsJS = `(() => {
	const table = document.querySelector("#batches-table");
	if (!table) return null;
	const heads = [...table.querySelectorAll("thead th")].map(th => th.textContent.trim());
	const row = table.querySelector("tbody tr");
	const cells = row ? [...row.children] : [];
	const out = {};
	for (const h of ["Period", "State", "Primary output"]) {
		const cell = cells[heads.indexOf(h)];
		const r = cell ? cell.getBoundingClientRect() : null;
		out[h] = r && r.width > 0 ? [r.left, r.right] : [-1, -1];
	}
	return out;
})()`

// checkKeyColumns fails the test unless the first batch's period, state
// and primary output are on the phone's screen without scrolling sideways.
func (b *tab) checkKeyColumns(name string) {
	b.t.Helper()
	cells := eval[map[string][2]float64](b, keyCellsJS)
	if cells == nil {
		b.t.Errorf("%s has no #batches-table", name)
		return
	}
	for _, h := range []string{"Period", "State", "Primary output"} {
		e := cells[h]
		switch {
		case e[1] < 0:
			b.t.Errorf("%s: the first batch has no visible %s cell", name, h)
		case e[0] < 0 || e[1] > phoneWidth+0.5:
			b.t.Errorf("%s: the first batch's %s cell spans %.0f to %.0f px, off the %d px screen", name, h, e[0], e[1], phoneWidth)
		}
	}
}

// TestPhoneLayout walks every page (tourPages) in a phone's window and
// checks that none is wider than the window, so nothing sits off-screen
// without a hint; on the ledger page, with and without filters, the first
// batch's period, state and primary output are in view without scrolling
// the batches table.
func TestPhoneLayout(t *testing.T) {
	requireBrowser(t)
	app := testapp.Start(t, tourOptions)
	b := newTab(t, app)
	b.emulatePhone()
	tourPages(t, app, b, func(name string) {
		b.checkFitsPhone(name)
		b.phoneShot("phone-" + strings.NewReplacer(" ", "-", ",", "", "'", "").Replace(name))
	})

	ncr := app.LedgerByName(t, ncrName)
	for _, path := range []string{"/ledgers/" + ncr.ID, "/ledgers/" + ncr.ID + "?state=error"} {
		b.navigate(path)
		b.checkKeyColumns(path)
	}

	// The check can fail: a wide block is caught and named.
	eval[bool](b, `(() => { const d = document.createElement("div"); d.id = "too-wide"; d.textContent = "x"; d.style.width = "900px"; document.querySelector("main").append(d); return true; })()`)
	w := b.measure()
	if w.ScrollWidth <= phoneWidth || !slices.ContainsFunc(w.StickingOut, func(s string) bool { return strings.HasPrefix(s, "div#too-wide ") }) {
		t.Errorf("a 900 px block went unreported (%d px wide, sticking out %q): the check is not working", w.ScrollWidth, w.StickingOut)
	}
}
