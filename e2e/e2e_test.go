package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/carbon-dash/mangrove-dashboard/internal/testapp"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/store"
)

const (
	ncrName          = "Net Carbon Removal"
	generationsRoute = "POST /api/v1/ledgers/{ledger_id}/batch_generations"
	previewRoute     = "POST /api/v1/ledgers/{ledger_id}/generate_preview"
)

// TestSignInWithDemoToken signs in with the token the sandbox shows and
// lands on the list of every ledger, the one without a model marked.
func TestSignInWithDemoToken(t *testing.T) {
	requireBrowser(t)
	app := testapp.Start(t, testapp.Options{})
	b := newTab(t, app)

	// A signed-out visit is sent to the sign-in page.
	if st := b.navigate("/ledgers"); st != http.StatusOK {
		t.Fatalf("GET /ledgers signed out: final status %d", st)
	}
	if p := b.path(); !strings.HasPrefix(p, "/signin") {
		t.Fatalf("signed out, /ledgers led to %s, want the sign-in page", p)
	}
	if st := b.navigate("/signin"); st != http.StatusOK {
		t.Fatalf("GET /signin: status %d", st)
	}
	demo := b.text("code#demo-token")
	if demo != app.Tokens.ReadWrite {
		t.Fatalf("the page shows the demo token %q, the sandbox's is %q", demo, app.Tokens.ReadWrite)
	}
	b.do("typing the demo token",
		chromedp.SendKeys(chromedp.CSS("#token"), demo),
		chromedp.SendKeys(chromedp.CSS("#name"), "E2E Tester"),
	)
	if st := b.submit("signing in", chromedp.Click(chromedp.CSS(`form[action="/signin"] button[type="submit"]`))); st != http.StatusOK {
		t.Fatalf("sign in: status %d", st)
	}
	if p := b.path(); p != "/ledgers" {
		t.Fatalf("after sign in the tab is at %s, want /ledgers", p)
	}
	if h := b.text("main h1"); h != "Ledgers" {
		t.Errorf("h1 %q, want Ledgers", h)
	}
	if u := b.text("header .user"); u != "E2E Tester" {
		t.Errorf("the header shows the user %q, want the name typed at sign-in", u)
	}

	ledgers, err := app.Client.AllLedgers(context.Background(), app.Tokens.ReadWrite)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Href    string `json:"href"`
		Name    string `json:"name"`
		NoModel bool   `json:"noModel"`
		Text    string `json:"text"`
	}
	rows := eval[[]row](b, `Array.from(document.querySelectorAll("main table tbody tr")).map(tr => {
		const a = tr.querySelector("th a");
		const badge = Array.from(tr.querySelectorAll(".badge")).some(s => s.textContent.trim() === "No model");
		return {href: a ? a.getAttribute("href") : "", name: a ? a.textContent.trim() : "", noModel: badge, text: tr.innerText};
	})`)
	if len(rows) != len(ledgers) {
		t.Fatalf("the list has %d rows, the API has %d ledgers", len(rows), len(ledgers))
	}
	byHref := map[string]row{}
	for _, r := range rows {
		byHref[r.Href] = r
	}
	noModel := 0
	for _, l := range ledgers {
		r, ok := byHref["/ledgers/"+l.ID]
		if !ok {
			t.Errorf("ledger %q (%s) is not linked from the list", l.Name, l.ID)
			continue
		}
		if r.Name != l.Name {
			t.Errorf("ledger %s is listed as %q, want %q", l.ID, r.Name, l.Name)
		}
		if want := l.LatestModel == nil; r.NoModel != want {
			t.Errorf("ledger %q: marked \"No model\" = %v, want %v (row: %q)", l.Name, r.NoModel, want, r.Text)
		}
		if l.LatestModel == nil {
			noModel++
			if !strings.Contains(r.Text, "Cannot generate") {
				t.Errorf("ledger %q has no model but its row offers to generate: %q", l.Name, r.Text)
			}
		}
	}
	if noModel == 0 {
		t.Errorf("the demo data should have a ledger without a model")
	}
	b.screenshot("01-ledgers")
}

// TestLedgerBatchesSort shows the batches of Net Carbon Removal and
// re-sorts them with the filter form.
func TestLedgerBatchesSort(t *testing.T) {
	requireBrowser(t)
	app := testapp.Start(t, testapp.Options{})
	ncr := app.LedgerByName(t, ncrName)
	b := signedInTab(t, app, app.Tokens.ReadWrite, "E2E Tester")

	if st := b.navigate("/ledgers/" + ncr.ID); st != http.StatusOK {
		t.Fatalf("ledger page: status %d", st)
	}
	if h := b.text("main h1"); h != ncrName {
		t.Errorf("h1 %q, want %q", h, ncrName)
	}
	type batch struct {
		ID     string `json:"id"`
		Period string `json:"period"` // "2025-01-01 00:00:00 UTC – 2025-01-31 23:59:59 UTC"
	}
	const rowsJS = `Array.from(document.querySelectorAll("h2#batches ~ .table-wrap table tbody tr")).map(tr => ({
		id: (tr.querySelector("th span[title]") || {title: ""}).title,
		period: (tr.querySelector("td span[title]") || {title: ""}).title,
	}))`
	before := eval[[]batch](b, rowsJS)
	if len(before) == 0 {
		t.Fatalf("the ledger page lists no batches")
	}
	sortBefore := b.value("#sort")
	target := "start_time"
	if sortBefore == target {
		target = "-start_time"
	}
	b.do("choosing another sort", chromedp.SetValue(chromedp.CSS("#sort"), target))
	if st := b.submit("clicking Apply", chromedp.Click(chromedp.CSS(`form.filters button[type="submit"]`))); st != http.StatusOK {
		t.Fatalf("applying the sort: status %d", st)
	}
	if p := b.path(); !strings.Contains(p, "sort="+target) {
		t.Errorf("after Apply the tab is at %s, want a sort=%s query", p, target)
	}
	if v := b.value("#sort"); v != target {
		t.Errorf("the sort select shows %q after Apply, want %q", v, target)
	}
	after := eval[[]batch](b, rowsJS)
	if len(after) == 0 {
		t.Fatalf("no batches after re-sorting")
	}
	ids := func(bs []batch) []string {
		out := make([]string, len(bs))
		for i, x := range bs {
			out[i] = x.ID
		}
		return out
	}
	if slices.Equal(ids(before), ids(after)) {
		t.Errorf("sorting by %q (was %q) did not change the order: %v", target, sortBefore, ids(after))
	}
	starts := func(bs []batch) []time.Time {
		var out []time.Time
		for _, x := range bs {
			s, _, _ := strings.Cut(x.Period, " – ")
			ts, err := time.Parse("2006-01-02 15:04:05 UTC", s)
			if err != nil {
				t.Fatalf("period %q: %v", x.Period, err)
			}
			out = append(out, ts)
		}
		return out
	}
	asc := func(ts []time.Time) bool {
		return slices.IsSortedFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	}
	desc := func(ts []time.Time) bool {
		return slices.IsSortedFunc(ts, func(a, b time.Time) int { return b.Compare(a) })
	}
	if target == "start_time" && !asc(starts(after)) {
		t.Errorf("sorted by period, oldest first, but the periods are %v", starts(after))
	}
	if target == "-start_time" && !desc(starts(after)) {
		t.Errorf("sorted by period, newest first, but the periods are %v", starts(after))
	}
	b.screenshot("02-ledger")
}

// taskView is what the task page shows of a task at one moment.
type taskView struct {
	Value   int    `json:"value"`   // progress#task-progress value attribute, -1 when absent
	Percent string `json:"percent"` // #task-percent
	State   string `json:"state"`   // the state badge in #task-status
	Marker  int    `json:"marker"`  // window.__marker: 0 after a reload
	Batches int    `json:"batches"` // rows of #task-outcome's tables, -1 when absent
}

const taskViewJS = `(() => {
	const p = document.querySelector("progress#task-progress");
	const pc = document.querySelector("#task-percent");
	const st = document.querySelector("#task-status .badge");
	const tb = document.querySelector("#task-outcome");
	return {
		value: p && p.hasAttribute("value") ? Number(p.getAttribute("value")) : -1,
		percent: pc ? pc.textContent.trim() : "",
		state: st ? st.textContent.trim() : "",
		marker: window.__marker || 0,
		batches: tb ? tb.querySelectorAll("tbody tr").length : -1,
	};
})()`

// TestGenerateAndWatchProgress is the main flow: form, preview with the
// API's counts, confirm, then the task page follows the progress live,
// without a reload, to completion and lists the batches written.
func TestGenerateAndWatchProgress(t *testing.T) {
	requireBrowser(t)
	app := testapp.Start(t, testapp.Options{StepDelay: 700 * time.Millisecond, PollInterval: time.Second})
	ncr := app.LedgerByName(t, ncrName)
	b := signedInTab(t, app, app.Tokens.ReadWrite, "E2E Tester")

	// The form, then the preview.
	if st := b.previewRange(ncr.ID, "2025-01-01", "2025-03-31"); st != http.StatusOK {
		t.Fatalf("preview: status %d", st)
	}
	if w := b.text("#range-words"); !strings.HasPrefix(w, "Q1 2025") {
		t.Errorf("the range in words is %q, want Q1 2025", w)
	}
	entries := apiPreview(t, app, app.Tokens.ReadWrite, ncr.ID)
	if len(entries) < 2 {
		t.Errorf("the API previews %d ledgers, the demo data has two run together", len(entries))
	}
	if n := b.count("#preview-counts tbody tr"); n != len(entries) {
		t.Errorf("the preview lists %d ledgers, the API %d", n, len(entries))
	}
	ncrCount, total := -1, 0
	for _, e := range entries {
		total += e.Count
		if e.ID == ncr.ID {
			ncrCount = e.Count
		}
		got := b.text(fmt.Sprintf(`#preview-counts td[data-ledger=%q]`, e.ID))
		if got != strconv.Itoa(e.Count) {
			t.Errorf("the preview shows %q batches for %s, the API %d", got, e.Name, e.Count)
		}
	}
	if ncrCount <= 0 {
		t.Fatalf("the API previews %d batches for %s, want some (entries %+v)", ncrCount, ncrName, entries)
	}
	// Exactly the total: a substring would let "112 batches" pass for 12.
	batches := strconv.Itoa(total) + " batches"
	if total == 1 {
		batches = "1 batch"
	}
	if c := strings.Join(strings.Fields(b.text("#confirm")), " "); c != "Confirm and generate "+batches {
		t.Errorf("the confirm button says %q, want exactly %q (the total of every ledger)", c, "Confirm and generate "+batches)
	}
	if d := strings.Join(strings.Fields(b.text("#decision-total strong")), " "); d != batches {
		t.Errorf("the decision's total says %q, want exactly %q", d, batches)
	}
	b.screenshot("03-preview")

	// Confirm: the browser follows the 303 to the task page.
	if st := b.submit("clicking Confirm", chromedp.Click(chromedp.CSS("#confirm"))); st != http.StatusOK {
		t.Fatalf("confirm: status %d", st)
	}
	taskID := taskIDFromPath(t, b.path())
	if h := b.text("main h1"); h != ncrName+", Jan–Mar 2025" {
		t.Errorf("task page h1 %q, want the ledger and the range in words", h)
	}
	if m := b.text("main"); !strings.Contains(m, fmt.Sprintf("Generation task %d", taskID)) {
		t.Errorf("the task page does not name task %d", taskID)
	}
	if n := b.count("[data-while-running]"); n != 1 {
		t.Errorf("%d start notices on the running task's page, want 1", n)
	}
	if eval[int](b, `window.__marker = 1`) != 1 {
		t.Fatal("could not set the reload marker")
	}

	// Watch the DOM every 100 ms until the task completes.
	var (
		seen         []taskView
		intermediate []int
		shotRunning  bool
	)
	deadline := time.Now().Add(60 * time.Second)
	for {
		v := eval[taskView](b, taskViewJS)
		if len(seen) == 0 || v != seen[len(seen)-1] {
			seen = append(seen, v)
		}
		if v.Marker != 1 {
			t.Fatalf("the task page was reloaded (the marker is gone) after %d changes: %+v", len(seen), seen)
		}
		if v.Value > 0 && v.Value < 100 && !slices.Contains(intermediate, v.Value) {
			intermediate = append(intermediate, v.Value)
			if !shotRunning {
				shotRunning = true
				b.screenshot("04-task-running")
			}
		}
		if v.State == "complete" || v.State == "failed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the task page did not show an end within 60 s; it showed %+v", seen)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("progress values seen without a reload: %v", intermediate)
	for _, v := range seen {
		t.Logf("  %+v", v)
	}
	last := seen[len(seen)-1]
	if last.State != "complete" {
		t.Fatalf("the task ended %q: %+v", last.State, last)
	}
	if len(intermediate) < 2 {
		t.Errorf("the progress bar showed %d distinct values strictly between 0 and 100 (%v), want at least 2", len(intermediate), intermediate)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i].Value >= 0 && seen[i].Value < seen[i-1].Value {
			t.Errorf("the progress went back from %d to %d", seen[i-1].Value, seen[i].Value)
		}
	}

	// The batches are loaded into the page once complete: every ledger
	// the preview named, each against its count.
	b.do("waiting for the batches written",
		chromedp.WaitVisible(chromedp.CSS("#task-outcome")))
	final := eval[taskView](b, taskViewJS)
	if final.Value != 100 || final.Percent != "100%" || final.State != "complete" {
		t.Errorf("at the end the page shows %+v, want complete at 100%%", final)
	}
	if final.Marker != 1 {
		t.Errorf("the task page was reloaded")
	}
	if final.Batches != total {
		t.Errorf("the page lists %d batches written, the preview counted %d across its ledgers", final.Batches, total)
	}
	if got, want := strings.Join(strings.Fields(b.text("#written-total strong")), " "), fmt.Sprintf("%d of %d written", total, total); got != want {
		t.Errorf("the total says %q, want %q", got, want)
	}
	if n := b.count("#task-outcome section.written-ledger"); n != len(entries) {
		t.Errorf("%d ledger groups, want the preview's %d", n, len(entries))
	}
	for _, e := range entries {
		h := strings.Join(strings.Fields(b.text(fmt.Sprintf(`#written-%s`, e.ID))), " ")
		if want := fmt.Sprintf("%s %d of %d written", e.Name, e.Count, e.Count); h != want {
			t.Errorf("group heading %q, want %q", h, want)
		}
	}
	if n := b.count("[data-while-running]"); n != 0 {
		t.Errorf("the start notice is still shown above the finished task")
	}
	if p := b.path(); p != fmt.Sprintf("/tasks/%d", taskID) {
		t.Errorf("the tab moved to %s", p)
	}
	if task := app.WaitTask(t, app.Tokens.ReadWrite, taskID, 10*time.Second); task.State != mangrove.TaskComplete {
		t.Errorf("the API says the task is %s", task.State)
	}
	b.screenshot("05-task-complete")
}

// TestDoubleConfirmStartsOneTask clicks Confirm twice in several ways:
// one task is started upstream and the browser ends on its page.
func TestDoubleConfirmStartsOneTask(t *testing.T) {
	requireBrowser(t)
	cases := []struct {
		name  string
		click func(b *tab)
	}{
		{"DoubleClickAction", func(b *tab) {
			// chromedp's DoubleClick: one press/release with clickCount 2.
			b.submit("double-clicking Confirm", chromedp.DoubleClick(chromedp.CSS("#confirm")))
		}},
		{"TwoMouseClicks", func(b *tab) {
			// What a person's double click sends: two full clicks.
			type point struct {
				X float64 `json:"x"`
				Y float64 `json:"y"`
			}
			p := eval[point](b, `(() => {
				const el = document.querySelector("#confirm");
				el.scrollIntoView({block: "center"});
				const r = el.getBoundingClientRect();
				return {x: r.left + r.width / 2, y: r.top + r.height / 2};
			})()`)
			b.submit("clicking Confirm twice",
				chromedp.MouseClickXY(p.X, p.Y),
				chromedp.MouseClickXY(p.X, p.Y, chromedp.ClickCount(2)))
		}},
		{"ScriptClickTwice", func(b *tab) {
			b.submit("clicking Confirm twice from script",
				chromedp.Evaluate[chromedp.Void](`(() => { const c = document.querySelector("#confirm"); c.click(); c.click(); })()`))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			app := testapp.Start(t, testapp.Options{StepDelay: 20 * time.Millisecond, PollInterval: time.Second})
			ncr := app.LedgerByName(t, ncrName)
			b := signedInTab(t, app, app.Tokens.ReadWrite, "E2E Tester")
			if st := b.previewRange(ncr.ID, "2025-01-01", "2025-03-31"); st != http.StatusOK {
				t.Fatalf("preview: status %d", st)
			}
			tc.click(b)
			testapp.WaitFor(t, 10*time.Second, "the task page", func() bool { return strings.HasPrefix(b.path(), "/tasks/") })
			taskID := taskIDFromPath(t, b.path())
			b.do("waiting for the task page", chromedp.WaitVisible(chromedp.CSS("#task-status")))
			time.Sleep(300 * time.Millisecond) // a second submission would have reached the server by now
			if n := app.Sandbox.RequestCount(generationsRoute); n != 1 {
				t.Errorf("%d generation POSTs upstream, want 1", n)
			}
			gens, total, err := app.Store.Generations(context.Background(), mangrove.TokenHash(app.Tokens.ReadWrite), store.GenerationFilter{}, 10, 0)
			if err != nil {
				t.Fatal(err)
			}
			if total != 1 || len(gens) != 1 || gens[0].TaskID == nil || *gens[0].TaskID != taskID {
				t.Errorf("the audit log has %d generations (%+v), want one for task %d", total, gens, taskID)
			}
		})
	}

	// Past the page's own guard: two submissions of the same form reach the
	// server, whose one-time key starts one task and sends both to it.
	t.Run("TwoRequestsPastTheScript", func(t *testing.T) {
		app := testapp.Start(t, testapp.Options{StepDelay: 20 * time.Millisecond, PollInterval: time.Second})
		ncr := app.LedgerByName(t, ncrName)
		b := signedInTab(t, app, app.Tokens.ReadWrite, "E2E Tester")
		if st := b.previewRange(ncr.ID, "2025-01-01", "2025-03-31"); st != http.StatusOK {
			t.Fatalf("preview: status %d", st)
		}
		type result struct {
			Status int    `json:"status"`
			URL    string `json:"url"`
		}
		res := run(b, "posting the confirm form twice", chromedp.Evaluate[[]result](`(async () => {
			const f = document.querySelector('form[action$="/generations"]');
			const send = () => fetch(f.action, {method: "POST", body: new URLSearchParams(new FormData(f))})
				.then(r => ({status: r.status, url: r.url}));
			return await Promise.all([send(), send()]);
		})()`, func(p *runtime.EvaluateParams) { p.AwaitPromise = new(true) }))
		if len(res) != 2 {
			t.Fatalf("results %+v", res)
		}
		for _, r := range res {
			if r.Status != http.StatusOK || !strings.Contains(r.URL, "/tasks/") || r.URL != res[0].URL {
				t.Errorf("the two submissions ended at %+v, want the same task page", res)
				break
			}
		}
		if n := app.Sandbox.RequestCount(generationsRoute); n != 1 {
			t.Errorf("%d generation POSTs upstream, want 1", n)
		}
	})
}

// TestBadRangeFieldError submits an end before the start: the form comes
// back with the message on the end field and the values as typed.
func TestBadRangeFieldError(t *testing.T) {
	requireBrowser(t)
	app := testapp.Start(t, testapp.Options{})
	ncr := app.LedgerByName(t, ncrName)
	b := signedInTab(t, app, app.Tokens.ReadWrite, "E2E Tester")

	if st := b.previewRange(ncr.ID, "2025-03-31", "2025-01-01"); st != http.StatusUnprocessableEntity {
		t.Errorf("an end before the start: status %d, want 422", st)
	}
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#end_time-error"))); err != nil {
		t.Fatalf("#end_time-error is not visible: %v", err)
	}
	if msg := b.text("#end_time-error"); msg == "" {
		t.Errorf("#end_time-error is empty")
	} else {
		t.Logf("the end field says: %q", msg)
	}
	if v, ok := b.attr("#end_time", "aria-invalid"); !ok || v != "true" {
		t.Errorf("#end_time aria-invalid = %q (present %v), want \"true\"", v, ok)
	}
	if v, _ := b.attr("#end_time", "aria-describedby"); !strings.Contains(v, "end_time-error") {
		t.Errorf("#end_time aria-describedby = %q, want it to name end_time-error", v)
	}
	if s, e := b.value("#start_time"), b.value("#end_time"); s != "2025-03-31" || e != "2025-01-01" {
		t.Errorf("the form came back with %q / %q, want the values as typed", s, e)
	}
	if n := app.Sandbox.RequestCount(previewRoute); n != 0 {
		t.Errorf("an invalid range was sent to the API for preview %d times", n)
	}
	b.screenshot("06-field-error")
}

// TestReadOnlyTokenCannotConfirm confirms with a read-only token and gets
// the permission page.
func TestReadOnlyTokenCannotConfirm(t *testing.T) {
	requireBrowser(t)
	app := testapp.Start(t, testapp.Options{})
	ncr := app.LedgerByName(t, ncrName)
	b := signedInTab(t, app, app.Tokens.ReadOnly, "Read Only")

	if st := b.previewRange(ncr.ID, "2025-01-01", "2025-03-31"); st != http.StatusOK {
		t.Fatalf("preview with a read-only token: status %d", st)
	}
	st := b.submit("clicking Confirm", chromedp.Click(chromedp.CSS("#confirm")))
	if st != http.StatusForbidden {
		t.Errorf("confirm with a read-only token: status %d, want 403", st)
	}
	body := eval[string](b, `document.body.innerText`)
	if !strings.Contains(body, "lacks Production Accounting write permission") {
		t.Errorf("the page does not explain the missing permission: %.400s", body)
	}
	if p := b.path(); strings.HasPrefix(p, "/tasks/") {
		t.Errorf("a read-only confirm led to a task page %s", p)
	}
	if n := app.Sandbox.RequestCount(generationsRoute); n > 1 {
		t.Errorf("the refused generation was sent upstream %d times, want at most once (never retried)", n)
	}
	b.screenshot("07-permission")

	// After that first refusal the dashboard says so before anyone tries.
	if st := b.navigate("/ledgers/" + ncr.ID); st != http.StatusOK {
		t.Fatalf("ledger page: %d", st)
	}
	if disabled := eval[bool](b, `document.querySelector("#generate").disabled`); !disabled {
		t.Error("Generate is still enabled for a token Mangrove refused")
	}
	if !strings.Contains(b.text("header"), "Read-only") {
		t.Error("the header does not say Read-only")
	}
}

// TestTaskPageWithoutJavaScript shows a finished task with scripts off:
// the server renders its state and its batches.
func TestTaskPageWithoutJavaScript(t *testing.T) {
	requireBrowser(t)
	app := testapp.Start(t, testapp.Options{StepDelay: 20 * time.Millisecond, PollInterval: time.Second})
	ncr := app.LedgerByName(t, ncrName)
	b := signedInTab(t, app, app.Tokens.ReadWrite, "E2E Tester")
	if st := b.previewRange(ncr.ID, "2025-01-01", "2025-03-31"); st != http.StatusOK {
		t.Fatalf("preview: status %d", st)
	}
	total := 0
	for _, e := range apiPreview(t, app, app.Tokens.ReadWrite, ncr.ID) {
		total += e.Count
	}
	b.submit("clicking Confirm", chromedp.Click(chromedp.CSS("#confirm")))
	taskID := taskIDFromPath(t, b.path())
	if task := app.WaitTask(t, app.Tokens.ReadWrite, taskID, 30*time.Second); task.State != mangrove.TaskComplete {
		t.Fatalf("the task ended %s", task.State)
	}

	b.disableJavaScript()
	if st := b.navigate(fmt.Sprintf("/tasks/%d", taskID)); st != http.StatusOK {
		t.Fatalf("task page: status %d", st)
	}
	if eval[string](b, `typeof window.htmx`) != "undefined" {
		t.Fatalf("scripts still ran: htmx is loaded")
	}
	// The dashboard shows its watcher's latest snapshot, which can be up to
	// one poll interval old: a page rendered before the watcher saw the end
	// says "running" and, without JavaScript, refreshes itself (a
	// <noscript> meta refresh) until it shows the end.
	v := eval[taskView](b, taskViewJS)
	if v.State != "complete" {
		t.Logf("first rendered without JavaScript as %+v; waiting for the page to refresh itself", v)
		eval[int](b, `window.__marker = 1`)
		deadline := time.Now().Add(15 * time.Second)
		for v.State != "complete" {
			if time.Now().After(deadline) {
				t.Fatalf("without JavaScript the page of a finished task still shows %+v after 15 s", v)
			}
			time.Sleep(200 * time.Millisecond)
			v = eval[taskView](b, taskViewJS)
		}
		if v.Marker != 0 {
			t.Errorf("the page shows the end without having reloaded, with scripts off")
		}
		if eval[string](b, `typeof window.htmx`) != "undefined" {
			t.Fatalf("scripts ran after the refresh: htmx is loaded")
		}
	}
	if v.State != "complete" || v.Value != 100 || v.Percent != "100%" {
		t.Errorf("without JavaScript the task page shows %+v, want complete at 100%%", v)
	}
	if v.Batches != total {
		t.Errorf("without JavaScript the page lists %d batches written, want the preview's %d across its ledgers", v.Batches, total)
	}
	if n := b.count("[data-hx-get]"); n != 0 {
		t.Errorf("without JavaScript the page still waits for %d fragments to load", n)
	}
	if n := b.count("[data-sse-connect]"); n != 0 {
		t.Errorf("a finished task's page still subscribes to events")
	}
	// The relative times stay as the server wrote them.
	if ts := eval[string](b, `(document.querySelector("time[data-relative]") || {textContent: ""}).textContent`); ts != "" && !strings.HasSuffix(ts, "UTC") {
		t.Errorf("a time reads %q: a script rewrote it", ts)
	}
	b.screenshot("08-task-without-javascript")
}
