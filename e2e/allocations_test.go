package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/carbon-dash/mangrove-dashboard/internal/testapp"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// decemberBiochar is the seeded Biochar Produced batch of December 2024
// with the most left unallocated: the upstream batch the test allocates.
func decemberBiochar(t *testing.T, app *testapp.App) mangrove.Batch {
	t.Helper()
	bp := app.LedgerByName(t, "Biochar Produced").ID
	l, err := app.Client.LedgerBatches(context.Background(), app.Tokens.ReadWrite, bp, mangrove.ListOptions{PageSize: 100, Sort: []string{"-start_time"}})
	if err != nil {
		t.Fatal(err)
	}
	var best mangrove.Batch
	for _, b := range l.Data {
		if b.StartTime.Format("2006-01") == "2024-12" && b.LedgerBalance != nil && (best.LedgerBalance == nil || *b.LedgerBalance > *best.LedgerBalance) {
			best = b
		}
	}
	if best.LedgerBalance == nil || *best.LedgerBalance <= 0 {
		t.Fatal("no December 2024 Biochar Produced batch with an unallocated amount in the seed")
	}
	return best
}

// optionsJS lists the options of the first allocation row's batch select.
const optionsJS = `Array.from(document.querySelectorAll("#alloc-0-batch option")).map(o => ({value: o.value, text: o.textContent}))`

type option struct {
	Value string `json:"value"`
	Text  string `json:"text"`
}

// besideJS tells where the amount's message sits: right under the amount
// field, in its column.
const besideJS = `(() => {
  const f = document.querySelector("#alloc-0-amount"), e = document.querySelector("#alloc-0-amount-error");
  if (!f || !e) return {found: false};
  const a = f.getBoundingClientRect(), b = e.getBoundingClientRect();
  return {found: true, visible: b.height > 0 && b.width > 0, gap: b.top - a.bottom,
    overlap: Math.min(a.right, b.right) - Math.max(a.left, b.left),
    overflow: document.documentElement.scrollWidth > innerWidth};
})()`

type beside struct {
	Found    bool    `json:"found"`
	Visible  bool    `json:"visible"`
	Gap      float64 `json:"gap"`
	Overlap  float64 `json:"overlap"`
	Overflow bool    `json:"overflow"`
}

// TestAllocationRowsInTheBrowser (issue 10): on Net Carbon Removal, whose
// manual-select input is fed by Biochar Produced, the batch-amount rows
// offer Biochar Produced's batches with their unallocated amounts; an amount
// above the chosen batch's is refused beside the field, the values kept;
// one within it is previewed with the allocation in the decision. At 1440
// and 390 px wide (axe-core checks both), and without JavaScript.
func TestAllocationRowsInTheBrowser(t *testing.T) {
	requireBrowser(t)
	app := testapp.Start(t, testapp.Options{StepDelay: 0})
	ncr := app.LedgerByName(t, ncrName)
	up := decemberBiochar(t, app)
	left := *up.LedgerBalance
	tracking := mangrove.Deref(up.TrackingID)

	for _, tc := range []struct {
		name  string
		js    bool
		width int64
	}{{"JavaScript", true, 1440}, {"JavaScriptPhone", true, phoneWidth}, {"NoJavaScriptPhone", false, phoneWidth}} {
		t.Run(tc.name, func(t *testing.T) {
			b := signedInTab(t, app, app.Tokens.ReadWrite, "E2E Tester")
			shot := func(name string) { b.screenshot(fmt.Sprintf("%s-%d", name, tc.width)) }
			if tc.width == phoneWidth {
				b.emulatePhone()
				shot = func(name string) { b.phoneShot(fmt.Sprintf("%s-%d", name, tc.width)) }
			}
			if !tc.js {
				shot = func(string) {}
			}
			axe := func(page string) {
				if tc.js { // axe-core runs in the page
					b.axeCheck(page)
				}
			}
			if !tc.js {
				b.disableJavaScript()
			}
			if st := b.navigate("/ledgers/" + ncr.ID + "/generate?start_time=2024-12-01&end_time=2024-12-31"); st != http.StatusOK {
				t.Fatalf("form: %d", st)
			}
			b.do("opening the optional part", chromedp.Click(chromedp.CSS("details > summary")), chromedp.WaitVisible(chromedp.CSS("#alloc-0-batch")))
			if legend := b.text("fieldset.allocations legend"); !strings.Contains(legend, "Biochar Produced") {
				t.Errorf("the allocation rows are headed %q", legend)
			}
			if hint := b.text("fieldset.allocations .hint"); !strings.HasPrefix(hint, "An allocation takes part of an upstream batch’s unallocated output") {
				t.Errorf("the rows are explained as %q", hint)
			}
			opts := eval[[]option](b, optionsJS)
			var chosen option
			for _, o := range opts {
				if o.Value == up.ID {
					chosen = o
				}
				if o.Value != "" && !strings.Contains(o.Text, " t unallocated · ") {
					t.Errorf("option %q does not show its unallocated amount", o.Text)
				}
			}
			wantText := fmt.Sprintf("%s · %.2f t unallocated · Dec 2024", tracking, left)
			if !strings.HasPrefix(chosen.Text, wantText) {
				t.Fatalf("the December batch is offered as %q (of %d options), want %q…", chosen.Text, len(opts), wantText)
			}
			shot("allocations-form")
			axe("the form with its allocation rows open")

			// Keyboard order in a row: batch, then amount, then the next row.
			b.do("tabbing through a row", chromedp.Focus(chromedp.CSS("#alloc-0-batch")), chromedp.KeyEvent(kb.Tab))
			if id := eval[string](b, `document.activeElement.id`); id != "alloc-0-amount" {
				t.Errorf("Tab from the batch goes to #%s, want its amount", id)
			}
			b.do("tabbing on", chromedp.KeyEvent(kb.Tab))
			if id := eval[string](b, `document.activeElement.id`); id != "alloc-1-batch" {
				t.Errorf("Tab from the amount goes to #%s, want the next row's batch", id)
			}

			too := strconv.FormatFloat(left+40, 'f', -1, 64)
			b.do("choosing the batch and an amount above it",
				chromedp.SetValue(chromedp.CSS("#alloc-0-batch"), up.ID),
				chromedp.SendKeys(chromedp.CSS("#alloc-0-amount"), too))
			if st := b.submit("previewing", chromedp.Click(chromedp.CSS("#preview"))); st != http.StatusUnprocessableEntity {
				t.Fatalf("preview above the balance: status %d, want 422", st)
			}
			want := fmt.Sprintf("%.2f t is more than the %.2f t left unallocated on %s", left+40, left, tracking)
			if got := b.text("#alloc-0-amount-error"); got != want {
				t.Errorf("beside the amount: %q, want %q", got, want)
			}
			if pos := eval[beside](b, besideJS); !pos.Found || !pos.Visible || pos.Gap < -1 || pos.Gap > 24 || pos.Overlap <= 0 || pos.Overflow {
				t.Errorf("the message is not right beside the amount: %+v", pos)
			}
			if by, _ := b.attr("#alloc-0-amount", "aria-describedby"); !strings.Contains(by, "alloc-0-amount-error") {
				t.Errorf("the amount is described by %q", by)
			}
			if v := b.value("#alloc-0-amount"); v != too {
				t.Errorf("typed amount %q not kept", v)
			}
			if v := b.value("#alloc-0-batch"); v != up.ID {
				t.Errorf("chosen batch %q not kept", v)
			}
			shot("allocations-refused")
			axe("the form with an allocation refused")

			b.do("correcting the amount",
				chromedp.Clear(chromedp.CSS("#alloc-0-amount")), chromedp.SendKeys(chromedp.CSS("#alloc-0-amount"), "10"))
			if st := b.submit("previewing again", chromedp.Click(chromedp.CSS("#preview"))); st != http.StatusOK {
				t.Fatalf("preview: status %d", st)
			}
			if got := strings.Join(strings.Fields(b.text("#decision-allocations")), " "); !strings.Contains(got, "10.00 t of Biochar Produced "+tracking) {
				t.Errorf("the decision shows %q, want the allocation", got)
			}
			shot("allocations-preview")
		})
	}
}

// busyConfirmJS tells whether the 409's message and Confirm are both in the
// first screen, the message above Confirm, and whether the page scrolls
// sideways.
const busyConfirmJS = `(() => {
  const inView = e => { if (!e) return false; const r = e.getBoundingClientRect();
    return r.top >= 0 && r.bottom <= innerHeight && r.left >= 0 && r.right <= innerWidth; };
  const m = document.querySelector("#confirm-error"), c = document.querySelector("#confirm");
  return {message: inView(m), confirm: inView(c), above: !!m && !!c && m.getBoundingClientRect().bottom <= c.getBoundingClientRect().top,
    overflow: document.documentElement.scrollWidth > innerWidth};
})()`

type busyConfirm struct {
	Message  bool `json:"message"`
	Confirm  bool `json:"confirm"`
	Above    bool `json:"above"`
	Overflow bool `json:"overflow"`
}

// TestConfirmWhileRunningInTheBrowser: when Mangrove answers Confirm with
// 409 (a generation already runs on the ledger), the preview comes back
// with the API's message right above a fresh Confirm, in the first screen
// at 1440 px and on a phone.
func TestConfirmWhileRunningInTheBrowser(t *testing.T) {
	requireBrowser(t)
	const msg = "A batch generation is already running for this ledger"
	app := testapp.Start(t, testapp.Options{WrapSandbox: func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/batch_generations") {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusConflict)
				_, _ = w.Write([]byte(`{"message":"` + msg + `"}`))
				return
			}
			next.ServeHTTP(w, r)
		})
	}})
	ncr := app.LedgerByName(t, ncrName)
	for _, phone := range []bool{false, true} {
		name := "1440"
		if phone {
			name = "390"
		}
		t.Run(name, func(t *testing.T) {
			b := signedInTab(t, app, app.Tokens.ReadWrite, "E2E Tester")
			shot := b.screenshot
			if phone {
				b.emulatePhone()
				shot = b.phoneShot
			}
			if st := b.navigate("/ledgers/" + ncr.ID + "/preview?start_time=2025-01-01&end_time=2025-03-31"); st != http.StatusOK {
				t.Fatalf("preview: %d", st)
			}
			if st := b.submit("confirming", chromedp.Click(chromedp.CSS("#confirm"))); st != http.StatusConflict {
				t.Fatalf("confirm: status %d, want 409", st)
			}
			if got := b.text("#confirm-error"); !strings.Contains(got, msg) {
				t.Errorf("beside Confirm: %q", got)
			}
			if v := eval[busyConfirm](b, busyConfirmJS); !v.Message || !v.Confirm || !v.Above || v.Overflow {
				t.Errorf("the message and Confirm: %+v, want both in the first screen, the message above, no sideways scroll", v)
			}
			shot("allocations-busy-" + name)
			b.axeCheck("the preview after a 409")
		})
	}
}
