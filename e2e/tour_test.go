package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/carbon-dash/mangrove-dashboard/internal/testapp"
)

// tourOptions are the sandbox settings tourPages needs: batches slow enough
// that the task page is seen running.
var tourOptions = testapp.Options{StepDelay: 700 * time.Millisecond, PollInterval: time.Second}

// tourPages walks every page of the dashboard in a signed-out tab, as a user
// reaches it with the seeded sandbox, and calls visit on each once it has
// settled: sign-in, ledgers, a ledger with its chart and with filters, a
// batch with its waterfall and one with its model run's error, a ledger
// without a model, the generation form with and without errors, the
// preview, a running and a finished task, the task's batches on their own,
// the history (filtered too) and an error page. The accessibility and phone
// tests both walk it, so a new page is added here once.
func tourPages(t *testing.T, app *testapp.App, b *tab, visit func(page string)) {
	t.Helper()
	ncr := app.LedgerByName(t, ncrName)

	if st := b.navigate("/signin"); st != 200 {
		t.Fatalf("sign-in page: %d", st)
	}
	visit("the sign-in page")
	b.signIn(app.Tokens.ReadWrite, "Tour Tester")
	visit("the ledgers list")

	if st := b.navigate("/ledgers/" + ncr.ID); st != 200 {
		t.Fatalf("ledger page: %d", st)
	}
	b.do("waiting for the chart", chromedp.WaitVisible(chromedp.CSS(`#ledger-chart[data-drawn="true"] canvas`)))
	visit("a ledger page with its chart")
	if st := b.navigate("/ledgers/" + ncr.ID + "?state=error&sort=start_time&page_size=10"); st != 200 {
		t.Fatalf("filtered ledger page: %d", st)
	}
	visit("a ledger page, filtered")
	failed := seededBatch(t, app, ncr.ID, "error", time.Date(2024, 8, 1, 0, 0, 0, 0, time.UTC))
	complete := seededBatch(t, app, ncr.ID, "complete", time.Date(2024, 12, 1, 0, 0, 0, 0, time.UTC))
	b.navigate("/batches/" + complete + "?ledger=" + ncr.ID)
	b.do("waiting for the waterfall", chromedp.WaitVisible(chromedp.CSS(`#waterfall[data-drawn="true"] canvas`)))
	visit("a batch page with its waterfall")
	b.navigate("/batches/" + failed + "?ledger=" + ncr.ID)
	visit("a batch page with its model run's error")
	ledgers, err := app.Client.AllLedgers(context.Background(), app.Tokens.ReadWrite)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ledgers {
		if l.LatestModel == nil {
			b.navigate("/ledgers/" + l.ID)
			visit("a ledger without a model")
			break
		}
	}

	b.navigate("/ledgers/" + ncr.ID + "/generate")
	visit("the generation form")
	b.do("typing a bad range",
		chromedp.Clear(chromedp.CSS("#start_time")), chromedp.SendKeys(chromedp.CSS("#start_time"), "2025-03-31"),
		chromedp.Clear(chromedp.CSS("#end_time")), chromedp.SendKeys(chromedp.CSS("#end_time"), "never"))
	b.submit("previewing a bad range", chromedp.Click(chromedp.CSS(`form[action$="/preview"] button.btn-primary`)))
	visit("the generation form with errors")

	if st := b.previewRange(ncr.ID, "2025-01-01", "2025-03-31"); st != 200 {
		t.Fatalf("preview: %d", st)
	}
	visit("the preview")

	b.submit("confirming", chromedp.Click(chromedp.CSS("#confirm")))
	taskID := taskIDFromPath(t, b.path())
	b.do("waiting for the task to run", chromedp.WaitVisible(chromedp.CSS(`#task-status [data-state="running"]`)))
	visit("a running task")
	app.WaitTask(t, app.Tokens.ReadWrite, taskID, 90*time.Second)
	b.do("waiting for the page to show the end", chromedp.WaitVisible(chromedp.CSS(`#task-status [data-state="complete"] .task-outcome`)))
	visit("a finished task, updated live")
	b.navigate(fmt.Sprintf("/tasks/%d", taskID))
	visit("a finished task")
	b.navigate(fmt.Sprintf("/tasks/%d/batches", taskID))
	visit("a finished task's batches on their own")

	b.navigate("/tasks")
	visit("the generation history")
	b.navigate("/tasks?ledger=" + ncr.ID + "&state=complete&user=Tour+Tester")
	visit("the generation history, filtered")
	b.navigate("/tasks?state=failed&user=nobody")
	visit("the generation history, nothing matching")

	if st := b.navigate("/ledgers/lgr_doesnotexist"); st != 404 {
		t.Fatalf("error page: %d", st)
	}
	visit("an error page")
}
