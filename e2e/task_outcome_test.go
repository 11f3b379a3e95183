package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/carbon-dash/mangrove-dashboard/internal/testapp"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/mangrove/sandbox"
)

// TestRegenerationShowsOldToNew regenerates a range that already has
// batches: the finished task shows, for each batch it wrote again, the
// output at confirmation and the new one, and a total per ledger.
func TestRegenerationShowsOldToNew(t *testing.T) {
	requireBrowser(t)
	app := testapp.Start(t, testapp.Options{})
	ncr := app.LedgerByName(t, ncrName)
	b := signedInTab(t, app, app.Tokens.ReadWrite, "E2E Tester")

	if st := b.previewRange(ncr.ID, "2024-10-01", "2024-12-31"); st != http.StatusOK {
		t.Fatalf("preview: status %d", st)
	}
	entries := apiPreview(t, app, app.Tokens.ReadWrite, ncr.ID)
	// Each batch the preview says exists links to its page on its ledger.
	existing := 0
	for _, e := range entries {
		existing += e.Count
	}
	if n := b.count(`#preview-periods a[href^="/batches/bat_"][href*="?ledger="]`); n != existing {
		t.Errorf("the preview links %d existing batches to their pages, want %d", n, existing)
	}
	if st := b.submit("clicking Confirm", chromedp.Click(chromedp.CSS("#confirm"))); st != http.StatusOK {
		t.Fatalf("confirm: status %d", st)
	}
	taskID := taskIDFromPath(t, b.path())
	app.WaitTask(t, app.Tokens.ReadWrite, taskID, time.Minute)
	b.do("waiting for the batches written", chromedp.WaitVisible(chromedp.CSS("#task-outcome")))

	for _, e := range entries {
		group := fmt.Sprintf(`section[aria-labelledby="written-%s"]`, e.ID)
		rows := b.count(group + " tbody tr")
		if rows != e.Count {
			t.Errorf("%s: %d rows, want the preview's %d", e.Name, rows, e.Count)
		}
		// Q4 2024 was generated before: every batch written replaces one.
		for i := 1; i <= rows; i++ {
			cells := b.text(fmt.Sprintf(`%s tbody tr:nth-child(%d) td:nth-of-type(3)`, group, i))
			if strings.Contains(cells, "new") || strings.TrimSpace(cells) == "—" {
				t.Errorf("%s row %d: before = %q, want the output at confirmation", e.Name, i, cells)
			}
			if change := b.text(fmt.Sprintf(`%s tbody tr:nth-child(%d) td:nth-of-type(5)`, group, i)); strings.TrimSpace(change) == "—" {
				t.Errorf("%s row %d: no change shown", e.Name, i)
			}
		}
		if c := b.text(group + " .written-change"); !strings.Contains(c, "Total change on the batches written again") {
			t.Errorf("%s: total change %q", e.Name, c)
		}
	}
	b.screenshot("task-regenerated")
}

// TestTaskBatchesOpenedDirectly: the part a task page loads, opened as a
// page of its own, is the whole task page.
func TestTaskBatchesOpenedDirectly(t *testing.T) {
	requireBrowser(t)
	app := testapp.Start(t, testapp.Options{})
	ncr := app.LedgerByName(t, ncrName)
	b := signedInTab(t, app, app.Tokens.ReadWrite, "E2E Tester")
	if st := b.previewRange(ncr.ID, "2024-12-01", "2024-12-31"); st != http.StatusOK {
		t.Fatalf("preview: status %d", st)
	}
	if st := b.submit("clicking Confirm", chromedp.Click(chromedp.CSS("#confirm"))); st != http.StatusOK {
		t.Fatalf("confirm: status %d", st)
	}
	taskID := taskIDFromPath(t, b.path())
	app.WaitTask(t, app.Tokens.ReadWrite, taskID, time.Minute)
	if st := b.navigate(fmt.Sprintf("/tasks/%d/batches", taskID)); st != http.StatusOK {
		t.Fatalf("status %d", st)
	}
	if title := eval[string](b, `document.title`); !strings.Contains(title, ncrName) {
		t.Errorf("title %q, want the task page's", title)
	}
	// The page may have caught the task's last moments: it follows it to
	// the end and shows the outcome.
	b.do("waiting for the outcome", chromedp.WaitVisible(chromedp.CSS("#task-outcome")))
	if b.count("link[rel=stylesheet]") == 0 || b.count("#task-outcome") != 1 {
		t.Error("the batches opened directly are not a styled page with the outcome")
	}
}

// TestFailedTaskListsWhatWasWrittenAndRetries: a run that fails midway
// shows Mangrove's message, the batches written before it stopped, and a
// retry that leads to a fresh preview of the same parameters.
func TestFailedTaskListsWhatWasWrittenAndRetries(t *testing.T) {
	requireBrowser(t)
	app := testapp.Start(t, testapp.Options{Faults: sandbox.Faults{FailGeneration: 1}})
	ncr := app.LedgerByName(t, ncrName)
	b := signedInTab(t, app, app.Tokens.ReadWrite, "E2E Tester")
	if st := b.previewRange(ncr.ID, "2025-01-01", "2025-03-31"); st != http.StatusOK {
		t.Fatalf("preview: status %d", st)
	}
	if st := b.submit("clicking Confirm", chromedp.Click(chromedp.CSS("#confirm"))); st != http.StatusOK {
		t.Fatalf("confirm: status %d", st)
	}
	taskID := taskIDFromPath(t, b.path())
	if task := app.WaitTask(t, app.Tokens.ReadWrite, taskID, time.Minute); task.State != mangrove.TaskFailed {
		t.Fatalf("the task ended %s, want failed", task.State)
	}
	b.do("waiting for what was written", chromedp.WaitVisible(chromedp.CSS("#task-outcome")))
	if alert := b.text(`#task-status [role="alert"]`); !strings.Contains(alert, "The generation failed.") || !strings.Contains(alert, "model run aborted after") {
		t.Errorf("the failure says %q", alert)
	}
	written := b.count("#task-outcome tbody tr")
	if written == 0 || written >= 12 {
		t.Errorf("%d batches listed as written before the failure, want some of the 12", written)
	}
	if got := strings.Join(strings.Fields(b.text("#written-total strong")), " "); got != fmt.Sprintf("%d of 12 written", written) {
		t.Errorf("the total says %q", got)
	}
	if n := b.count("[data-while-running]"); n != 0 {
		t.Error("the start notice is still shown above the failure")
	}
	b.screenshot("task-failed")
	if st := b.submit("clicking Retry", chromedp.Click(chromedp.CSS("#task-outcome a.btn"))); st != http.StatusOK {
		t.Fatalf("retry: status %d", st)
	}
	if p := b.path(); !strings.HasPrefix(p, "/ledgers/"+ncr.ID+"/preview") {
		t.Errorf("retry went to %s, want the preview", p)
	}
	if w := b.text("#range-words"); !strings.HasPrefix(w, "Q1 2025") {
		t.Errorf("the retried preview's range is %q, want Q1 2025", w)
	}
}
