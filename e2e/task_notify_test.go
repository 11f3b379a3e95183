package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"

	"github.com/carbon-dash/mangrove-dashboard/internal/testapp"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// TestTaskNotifiesInBackground: a user asks to be notified, allows
// notifications, and leaves the tab; when the generation ends the tab's
// title says so and one desktop notification is shown.
func TestTaskNotifiesInBackground(t *testing.T) {
	requireBrowser(t)
	app := testapp.Start(t, testapp.Options{StepDelay: 600 * time.Millisecond, PollInterval: time.Second})
	ncr := app.LedgerByName(t, ncrName)
	b := signedInTab(t, app, app.Tokens.ReadWrite, "E2E Tester")
	if st := b.previewRange(ncr.ID, "2025-01-01", "2025-03-31"); st != 200 {
		t.Fatalf("preview: %d", st)
	}
	b.submit("confirming", chromedp.Click(chromedp.CSS("#confirm")))
	taskID := taskIDFromPath(t, b.path())

	b.do("waiting for the notify button", chromedp.WaitVisible(chromedp.CSS("#notify-button")))
	if got := b.text("#notify-button"); got != "Notify me when it finishes" {
		t.Errorf("button %q", got)
	}
	b.screenshot("09-task-notify-button")

	// The user allows notifications when the browser asks.
	bctx := chromedp.FromContext(b.ctx).BrowserContextID
	b.do("allowing notifications", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: "notifications"}, Setting: browser.PermissionSettingGranted,
			Origin: b.app.URL, BrowserContextID: bctx,
		})
		return err
	}))
	b.do("clicking the button", chromedp.Click(chromedp.CSS("#notify-button")))
	testapp.WaitFor(t, 5*time.Second, "the permission to be confirmed", func() bool {
		return strings.Contains(b.text("#notify-status"), "desktop notification when it finishes")
	})
	if vis := eval[bool](b, `!document.getElementById("notify-button").hidden`); vis {
		t.Error("the button stays after permission was given")
	}
	b.screenshot("10-task-notify-allowed")

	// The tab goes to the background; notifications are recorded as shown.
	eval[bool](b, `(() => {
		Object.defineProperty(document, "hidden", {configurable: true, get: () => true});
		Object.defineProperty(document, "visibilityState", {configurable: true, get: () => "hidden"});
		window.__shown = [];
		const Real = window.Notification;
		function Recorder(title, opts) { window.__shown.push({title: title, body: opts && opts.body, tag: opts && opts.tag}); return {close() {}}; }
		Recorder.permission = Real.permission;
		Recorder.requestPermission = Real.requestPermission.bind(Real);
		window.Notification = Recorder;
		return true;
	})()`)
	testapp.WaitFor(t, 10*time.Second, "the title to show the progress", func() bool {
		return strings.Contains(eval[string](b, `document.title`), fmt.Sprintf("· Task %d running", taskID))
	})
	app.WaitTask(t, app.Tokens.ReadWrite, taskID, 90*time.Second)
	want := fmt.Sprintf("✓ Complete · Task %d", taskID)
	testapp.WaitFor(t, 15*time.Second, "the title to say the task is complete", func() bool {
		return eval[string](b, `document.title`) == want
	})
	type shown struct {
		Title string `json:"title"`
		Body  string `json:"body"`
		Tag   string `json:"tag"`
	}
	notes := eval[[]shown](b, `window.__shown`)
	if len(notes) != 1 || notes[0].Title != want || !strings.Contains(notes[0].Body, "on "+ncrName+" finished") {
		t.Fatalf("notifications %+v, want one %q naming the ledger", notes, want)
	}
	if vis := eval[bool](b, `!document.getElementById("task-notify").hidden`); vis {
		t.Error("the notify controls stay on a finished task")
	}
	b.screenshot("11-task-notified")
}

// TestTaskNotifyOnlyWhileRunning: the button exists only where
// it can work.
func TestTaskNotifyOnlyWhileRunning(t *testing.T) {
	requireBrowser(t)
	app := testapp.Start(t, testapp.Options{StepDelay: 10 * time.Millisecond})
	ncr := app.LedgerByName(t, ncrName)
	b := signedInTab(t, app, app.Tokens.ReadWrite, "E2E Tester")
	b.previewRange(ncr.ID, "2025-01-01", "2025-01-31")
	b.submit("confirming", chromedp.Click(chromedp.CSS("#confirm")))
	taskID := taskIDFromPath(t, b.path())
	app.WaitTask(t, app.Tokens.ReadWrite, taskID, 60*time.Second)
	testapp.WaitFor(t, 10*time.Second, "the watcher to see the end", func() bool {
		b.navigate(fmt.Sprintf("/tasks/%d", taskID))
		// Rendered finished by the server: no event stream to follow (a page
		// rendered running and then updated by its stream is not the case here).
		return b.count(`#task-status [data-state="complete"]`) == 1 && b.count(`[data-sse-connect]`) == 0
	})
	if n := b.count("#notify-button"); n != 0 {
		t.Errorf("a finished task offers %d notify buttons", n)
	}
	if title := eval[string](b, `document.title`); !strings.HasPrefix(title, fmt.Sprintf("Task %d ·", taskID)) {
		t.Errorf("title %q changed on a task that was already finished", title)
	}
}

// TestTaskSaysWhenLiveProgressPauses: when the task's event stream is
// refused (here: the one stream this address may hold is taken), the page
// says its progress may be out of date instead of silently showing an old
// figure; once a stream is free again the note goes.
func TestTaskSaysWhenLiveProgressPauses(t *testing.T) {
	requireBrowser(t)
	app := testapp.Start(t, testapp.Options{StepDelay: 600 * time.Millisecond, PollInterval: time.Second, StreamsPerClient: 1})
	ncr := app.LedgerByName(t, ncrName)
	start, _ := time.Parse(time.DateOnly, "2025-01-01")
	end, _ := time.Parse(time.RFC3339, "2025-03-31T23:59:59Z")
	task, err := app.Client.StartGeneration(context.Background(), app.Tokens.ReadWrite, ncr.ID, mangrove.GenerationRequest{StartTime: start, EndTime: end})
	if err != nil {
		t.Fatal(err)
	}
	// Another client from the same address holds the only stream.
	ctx, hangUp := context.WithCancel(context.Background())
	defer hangUp()
	other := app.SignedIn(t)
	resp, err := testapp.OpenEvents(ctx, other.HTTP, fmt.Sprintf("%s/tasks/%d/events", app.URL, task.ID))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("the other client's stream: %v %v", resp, err)
	}
	defer resp.Body.Close()

	b := signedInTab(t, app, app.Tokens.ReadWrite, "E2E Tester")
	b.navigate(fmt.Sprintf("/tasks/%d", task.ID))
	testapp.WaitFor(t, 10*time.Second, "the page to say live progress is paused", func() bool {
		return strings.HasPrefix(b.text("#live-status"), "Live progress is paused")
	})
	b.screenshot("11-task-live-progress-paused")

	hangUp()
	testapp.WaitFor(t, 30*time.Second, "the note to go once the stream is back", func() bool {
		return b.text("#live-status") == ""
	})
}
