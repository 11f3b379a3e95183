package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/carbon-dash/mangrove-dashboard/internal/testapp"
)

// foldJS reports where the decision sits in the first screen: whether the
// total and Confirm are wholly inside the viewport, and whether the page is
// wider than the window (it must not scroll sideways).
const foldJS = `(() => {
  const inView = sel => { const e = document.querySelector(sel); if (!e) return false;
    const r = e.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight && r.left >= 0 && r.right <= innerWidth; };
  return {total: inView("#decision-total"), confirm: inView("#confirm"),
    overflow: document.documentElement.scrollWidth > innerWidth};
})()`

type fold struct {
	Total    bool `json:"total"`
	Confirm  bool `json:"confirm"`
	Overflow bool `json:"overflow"`
}

// TestPreviewDecisionFirst types a range and presses Enter: the preview of
// that range shows the total and Confirm in the first screen, at 1440×900
// and at phone width without sideways scrolling; after Confirm, Back shows
// the preview again.
func TestPreviewDecisionFirst(t *testing.T) {
	requireBrowser(t)
	app := testapp.Start(t, testapp.Options{StepDelay: 0})
	ncr := app.LedgerByName(t, ncrName)
	b := signedInTab(t, app, app.Tokens.ReadWrite, "E2E Tester")

	if st := b.navigate("/ledgers/" + ncr.ID + "/generate"); st != http.StatusOK {
		t.Fatalf("form: %d", st)
	}
	b.do("typing a range",
		chromedp.Clear(chromedp.CSS("#start_time")), chromedp.SendKeys(chromedp.CSS("#start_time"), "2025-02-01"),
		chromedp.Clear(chromedp.CSS("#end_time")), chromedp.SendKeys(chromedp.CSS("#end_time"), "2025-02-28"))
	if st := b.submit("pressing Enter in the end date", chromedp.SendKeys(chromedp.CSS("#end_time"), "\r")); st != http.StatusOK {
		t.Fatalf("Enter: status %d", st)
	}
	if p := b.path(); !strings.HasPrefix(p, "/ledgers/"+ncr.ID+"/preview?") || !strings.Contains(p, "end_time=2025-02-28") {
		t.Fatalf("Enter went to %s, want the preview of the typed range", p)
	}
	if got := b.text("#range-words"); !strings.HasPrefix(got, "February 2025") {
		t.Errorf("the preview is of %q, want February 2025 as typed", got)
	}

	for _, size := range []struct{ w, h int64 }{{1440, 900}, {390, 844}} {
		b.do("resizing", chromedp.EmulateViewport(size.w, size.h))
		f := eval[fold](b, foldJS)
		if !f.Total || !f.Confirm {
			t.Errorf("at %dx%d the total (%v) or Confirm (%v) is not in the first screen", size.w, size.h, f.Total, f.Confirm)
		}
		if f.Overflow {
			t.Errorf("at %dx%d the preview scrolls sideways", size.w, size.h)
		}
	}
	b.do("back to the desktop size", chromedp.EmulateViewport(1440, 900))

	link := b.path()
	if st := b.submit("confirming", chromedp.Click(chromedp.CSS("#confirm"))); st != http.StatusOK {
		t.Fatalf("confirm: %d", st)
	}
	if !strings.HasPrefix(b.path(), "/tasks/") {
		t.Fatalf("confirm led to %s", b.path())
	}
	if st := b.submit("going back", chromedp.NavigateBack()); st != http.StatusOK {
		t.Fatalf("Back: status %d", st)
	}
	if p := b.path(); p != link || b.count("#decision-total") != 1 {
		t.Errorf("Back after Confirm shows %s, want the preview %s again", p, link)
	}
}

// TestNothingToConfirmInTheBrowser: a range with nothing to write has no
// Confirm button.
func TestNothingToConfirmInTheBrowser(t *testing.T) {
	requireBrowser(t)
	app := testapp.Start(t, testapp.Options{})
	ncr := app.LedgerByName(t, ncrName)
	b := signedInTab(t, app, app.Tokens.ReadWrite, "E2E Tester")
	q := url.Values{"start_time": {"2023-01-01"}, "end_time": {"2023-01-31"}}
	if st := b.navigate("/ledgers/" + ncr.ID + "/preview?" + q.Encode()); st != http.StatusOK {
		t.Fatalf("preview: %d", st)
	}
	if n := b.count("#confirm"); n != 0 {
		t.Errorf("a 0-batch preview shows Confirm")
	}
	if !strings.Contains(b.text("#decision-split"), "Nothing to write") {
		t.Errorf("the decision says %q", b.text("#decision-split"))
	}
}
