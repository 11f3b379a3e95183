package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/internal/pgtest"
	"github.com/carbon-dash/mangrove-dashboard/internal/testapp"
	"github.com/carbon-dash/mangrove-dashboard/store"
)

// TestWholeFlowOnPostgres: with DATABASE_URL the whole dashboard runs on
// PostgreSQL: sign-in, preview, concurrent confirms of one key (one POST),
// the task watched to its end through the fleet, the history, sign-out,
// /readyz with its fleet check and the fleet's metrics.
func TestWholeFlowOnPostgres(t *testing.T) {
	app := testapp.Start(t, testapp.Options{StepDelay: 50 * time.Millisecond, PollInterval: time.Second, DatabaseURL: pgtest.URL(t)})
	if got := app.Store.Backend(); got != "postgres" {
		t.Fatalf("store backend %q, want postgres", got)
	}
	if app.Fleet == nil {
		t.Fatal("no fleet with DATABASE_URL")
	}
	st, body := getReadyz(t, app)
	if st != http.StatusOK || body.Checks["store"] != "ok" || body.Checks["fleet"] != "ok" {
		t.Fatalf("readyz: %d %+v", st, body)
	}

	b := app.SignedIn(t)
	id := app.LedgerByName(t, "Net Carbon Removal").ID
	r := preview(t, b, id, url.Values{"start_time": {"2025-01-01"}, "end_time": {"2025-03-31"}})
	if r.Status != http.StatusOK {
		t.Fatalf("preview: %d", r.Status)
	}
	confirm := formValues(t, r.Body, `form[action$="/generations"]`)
	task := confirmAtOnce(t, app, b, id, confirm, 10)
	taskID, _ := strconv.ParseInt(strings.TrimPrefix(task, "/tasks/"), 10, 64)

	events := readEvents(t, b, app.URL+task+"/events", 60*time.Second)
	if last := events[len(events)-1]; last.name != "done" || last.data != "complete" {
		t.Fatalf("stream ended with %+v", last)
	}
	testapp.WaitFor(t, 10*time.Second, "the audit row in PostgreSQL records the end", func() bool {
		g, err := app.Store.GenerationByTask(context.Background(), taskID)
		return err == nil && g.State == store.StateComplete && len(g.Run.Steps) > 0
	})
	if page := b.Get("/tasks"); !strings.Contains(page.Body, `href="/tasks/`+strconv.FormatInt(taskID, 10)+`"`) {
		t.Error("the history does not list the task")
	}
	// The one replica led the task while it ran, and let go at its end.
	testapp.WaitFor(t, 10*time.Second, "metrics: one lead taken, none held", func() bool {
		metrics := b.Get("/metrics").Body
		return strings.Contains(metrics, `dashboard_fleet_task_leads_total{event="acquired"} 1`+"\n") &&
			strings.Contains(metrics, "dashboard_fleet_tasks_led 0\n")
	})

	// Signing out ends the session in PostgreSQL: the cookie no longer works.
	cookies := b.HTTP.Jar.Cookies(mustURL(t, app.URL))
	b.Post("/signout", url.Values{})
	replay := app.NewBrowser(t)
	replay.HTTP.Jar.SetCookies(mustURL(t, app.URL), cookies)
	if r := replay.Get("/ledgers"); r.Status != http.StatusSeeOther {
		t.Fatalf("the signed-out cookie still opens /ledgers: %d", r.Status)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
