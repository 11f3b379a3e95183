package handlers_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/carbon-dash/mangrove-dashboard/forms"
	"github.com/carbon-dash/mangrove-dashboard/internal/testapp"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/store"
)

func doc(t *testing.T, body string) *goquery.Document {
	t.Helper()
	d, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// formValues collects the inputs of the form matched by sel, as a browser
// would submit them.
func formValues(t *testing.T, body, sel string) url.Values {
	t.Helper()
	form := doc(t, body).Find(sel)
	if form.Length() == 0 {
		t.Fatalf("no form %q in page", sel)
	}
	v := url.Values{}
	form.Find("input").Each(func(_ int, s *goquery.Selection) {
		name, _ := s.Attr("name")
		val, _ := s.Attr("value")
		if name != "" {
			v.Add(name, val)
		}
	})
	return v
}

func TestHealthz(t *testing.T) {
	app := testapp.Start(t, testapp.Options{})
	r := app.NewBrowser(t).Get("/healthz")
	if r.Status != http.StatusOK {
		t.Fatalf("status %d", r.Status)
	}
}

func TestSignIn(t *testing.T) {
	app := testapp.Start(t, testapp.Options{})
	b := app.NewBrowser(t)

	t.Run("SignedOutRedirects", func(t *testing.T) {
		for _, path := range []string{"/", "/ledgers", "/tasks", "/tasks/1"} {
			r := b.Get(path)
			if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/signin") {
				t.Errorf("GET %s: status %d location %q, want a redirect to /signin", path, r.Status, r.Location)
			}
		}
	})
	t.Run("SandboxOffersDemoToken", func(t *testing.T) {
		r := b.Get("/signin")
		if !strings.Contains(r.Body, app.Tokens.ReadWrite) || !strings.Contains(r.Body, "Sandbox mode") {
			t.Fatalf("sign-in page does not offer the demo token in sandbox mode")
		}
	})
	t.Run("BadToken", func(t *testing.T) {
		r := b.Post("/signin", url.Values{"token": {"not-a-real-token"}, "name": {"Ann"}})
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "did not accept this token") {
			t.Fatalf("status %d, body %.300s", r.Status, r.Body)
		}
		if !strings.Contains(r.Body, `value="Ann"`) {
			t.Errorf("the name was not kept")
		}
	})
	t.Run("EmptyToken", func(t *testing.T) {
		r := b.Post("/signin", url.Values{"token": {"  "}})
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Paste your Mangrove API token") {
			t.Fatalf("status %d", r.Status)
		}
	})
	t.Run("NextIsLocalOnly", func(t *testing.T) {
		b2 := app.NewBrowser(t)
		r := b2.Post("/signin", url.Values{"token": {app.Tokens.ReadWrite}, "next": {"//evil.example/x"}})
		if r.Status != http.StatusSeeOther || r.Location != "/ledgers" {
			t.Fatalf("status %d location %q", r.Status, r.Location)
		}
	})
	t.Run("GoodTokenThenSignOut", func(t *testing.T) {
		b.SignIn(app.Tokens.ReadWrite)
		if r := b.Get("/ledgers"); r.Status != http.StatusOK {
			t.Fatalf("ledgers after sign-in: %d", r.Status)
		}
		if r := b.Post("/signout", nil); r.Status != http.StatusSeeOther {
			t.Fatalf("sign out: %d", r.Status)
		}
		if r := b.Get("/ledgers"); r.Status != http.StatusSeeOther {
			t.Fatalf("after sign-out /ledgers answered %d, want a redirect", r.Status)
		}
	})
	t.Run("PostWithoutCSRFRefused", func(t *testing.T) {
		r := app.NewBrowser(t).PostRaw("/signin", url.Values{"token": {app.Tokens.ReadWrite}})
		if r.Status != http.StatusForbidden {
			t.Fatalf("status %d, want 403", r.Status)
		}
	})
}

func TestServerWideTokenSkipsSignIn(t *testing.T) {
	app := testapp.Start(t, testapp.Options{ServerToken: true})
	b := app.NewBrowser(t)
	r := b.Get("/ledgers")
	if r.Status != http.StatusOK {
		t.Fatalf("status %d", r.Status)
	}
	if strings.Contains(r.Body, app.Tokens.ReadWrite) {
		t.Fatal("the server-wide token appears in the page")
	}
}

func TestLedgers(t *testing.T) {
	app := testapp.Start(t, testapp.Options{})
	b := app.SignedIn(t)
	r := b.Get("/ledgers")
	if r.Status != http.StatusOK {
		t.Fatalf("status %d", r.Status)
	}
	d := doc(t, r.Body)
	all, err := app.Client.AllLedgers(context.Background(), app.Tokens.ReadWrite)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Find("tbody tr").Length(); got != len(all) {
		t.Fatalf("%d rows, the API has %d ledgers", got, len(all))
	}
	for _, l := range all {
		row := d.Find("tbody tr").FilterFunction(func(_ int, s *goquery.Selection) bool {
			return s.Find("th").Text() == l.Name
		})
		if row.Length() != 1 {
			t.Errorf("ledger %q not listed once", l.Name)
			continue
		}
		generate := row.Find(`a[href$="/generate"]`).Length() == 1
		if l.LatestModel == nil && (generate || !strings.Contains(row.Text(), "No model")) {
			t.Errorf("%q has no model but is not marked as such", l.Name)
		}
		if l.LatestModel != nil && (!generate || !strings.Contains(row.Text(), l.LatestModel.Name)) {
			t.Errorf("%q: model or generate link missing", l.Name)
		}
	}
}

func TestLedgerPage(t *testing.T) {
	app := testapp.Start(t, testapp.Options{})
	b := app.SignedIn(t)
	id := app.LedgerByName(t, "Net Carbon Removal").ID

	r := b.Get("/ledgers/" + id + "?page_size=10&sort=start_time")
	if r.Status != http.StatusOK {
		t.Fatalf("status %d", r.Status)
	}
	d := doc(t, r.Body)
	list, err := app.Client.LedgerBatches(context.Background(), app.Tokens.ReadWrite, id, mangrove.ListOptions{Page: 1, PageSize: 10, Sort: []string{"start_time"}})
	if err != nil {
		t.Fatal(err)
	}
	rows := d.Find("#batches ~ .table-wrap tbody tr")
	if rows.Length() != len(list.Data) || len(list.Data) == 0 {
		t.Fatalf("%d batch rows, API page has %d", rows.Length(), len(list.Data))
	}
	first := rows.First().Text()
	if !strings.Contains(first, *list.Data[0].TrackingID) {
		t.Errorf("first row %q lacks tracking id %q", first, *list.Data[0].TrackingID)
	}
	if !strings.Contains(r.Body, "Manual select") {
		t.Error("manual-select input not marked")
	}
	if list.Info.TotalPages > 1 && d.Find(`nav.pager a[rel="next"]`).Length() != 1 {
		t.Error("no next-page link")
	}

	t.Run("BadQueryGetsMessageNot500", func(t *testing.T) {
		r := b.Get("/ledgers/" + id + "?page=-3&sort=drop+table&page_size=9999&state=%3Cscript%3E")
		if r.Status != http.StatusOK {
			t.Fatalf("status %d", r.Status)
		}
		if doc(t, r.Body).Find(".field-error").Length() == 0 {
			t.Error("no message for the invalid parameters")
		}
	})
	t.Run("StateFilter", func(t *testing.T) {
		r := b.Get("/ledgers/" + id + "?state=failed")
		if r.Status != http.StatusOK {
			t.Fatalf("status %d", r.Status)
		}
	})
	t.Run("UnknownLedger", func(t *testing.T) {
		if r := b.Get("/ledgers/lgr_doesnotexist"); r.Status != http.StatusNotFound {
			t.Fatalf("status %d", r.Status)
		}
		if r := b.Get("/ledgers/..%2f..%2fetc"); r.Status != http.StatusNotFound {
			t.Fatalf("status %d", r.Status)
		}
	})
}

// preview submits the generation form (a GET) and returns the preview page.
func preview(t *testing.T, b *testapp.Browser, id string, form url.Values) testapp.Response {
	t.Helper()
	b.Get("/ledgers/" + id + "/generate")
	return b.Get("/ledgers/" + id + "/preview?" + form.Encode())
}

func TestGenerationFlow(t *testing.T) {
	app := testapp.Start(t, testapp.Options{StepDelay: 150 * time.Millisecond, PollInterval: time.Second})
	b := app.SignedIn(t)
	id := app.LedgerByName(t, "Net Carbon Removal").ID
	ctx := context.Background()

	r := preview(t, b, id, url.Values{"start_time": {"2025-01-01"}, "end_time": {"2025-03-31"}})
	if r.Status != http.StatusOK {
		t.Fatalf("preview: status %d %.500s", r.Status, r.Body)
	}
	start, _ := time.Parse(time.RFC3339, "2025-01-01T00:00:00Z")
	end, _ := time.Parse(time.RFC3339, "2025-03-31T23:59:59Z")
	want, err := app.Client.PreviewGeneration(ctx, app.Tokens.ReadWrite, id, mangrove.PreviewRequest{StartTime: start, EndTime: end})
	if err != nil {
		t.Fatal(err)
	}
	d := doc(t, r.Body)
	if len(want) < 2 {
		t.Fatalf("the seeded ledger should run concurrently with another: %d preview entries", len(want))
	}
	for _, e := range want {
		cell := d.Find(`#preview-counts td[data-ledger="` + e.ID + `"]`)
		if cell.Text() != strconv.Itoa(e.Count) {
			t.Errorf("preview shows %q for %s, API says %d", cell.Text(), e.Name, e.Count)
		}
	}
	if !strings.Contains(d.Find("#range-words").Text(), "Q1 2025") {
		t.Errorf("range in words: %q", d.Find("#range-words").Text())
	}

	confirm := formValues(t, r.Body, `form[action$="/generations"]`)
	r = b.Post("/ledgers/"+id+"/generations", confirm)
	if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/tasks/") {
		t.Fatalf("confirm: status %d location %q body %.300s", r.Status, r.Location, r.Body)
	}
	taskID, _ := strconv.ParseInt(strings.TrimPrefix(r.Location, "/tasks/"), 10, 64)

	// The audit row exists before the redirect.
	gen, err := app.Store.GenerationByTask(ctx, taskID)
	if err != nil {
		t.Fatalf("no audit row for task %d: %v", taskID, err)
	}
	if gen.LedgerID != id || gen.UserLabel != "Test User" {
		t.Errorf("audit row: %+v", gen)
	}
	if !recordsCount(gen.Preview, id, countFor(want, id)) {
		t.Errorf("audit row's preview %+v lacks the count shown", gen.Preview)
	}

	page := b.Get(r.Location)
	if page.Status != http.StatusOK || !strings.Contains(page.Body, `id="task-progress"`) {
		t.Fatalf("task page: %d", page.Status)
	}

	events := readEvents(t, b, app.URL+"/tasks/"+strconv.FormatInt(taskID, 10)+"/events", 60*time.Second)
	if len(events) < 2 || events[len(events)-1].name != "done" || events[len(events)-1].data != "complete" {
		t.Fatalf("stream did not end with done/complete: %+v", events)
	}
	var progress []int
	for _, ev := range events {
		if ev.name == "status" {
			pd := doc(t, ev.data)
			v, _ := pd.Find("progress").Attr("value")
			n, _ := strconv.Atoi(v)
			progress = append(progress, n)
		}
	}
	if progress[len(progress)-1] != 100 {
		t.Errorf("last status progress %v", progress)
	}

	// The finished task lists the batches written on every ledger the
	// preview named, each against its count.
	page = b.Get(r.Location)
	pd := doc(t, page.Body)
	total := 0
	for _, e := range want {
		total += e.Count
		if got := pd.Find(`section[aria-labelledby="written-` + e.ID + `"] tbody tr`).Length(); got != e.Count {
			t.Errorf("task page lists %d batches on %s, preview said %d", got, e.Name, e.Count)
		}
	}
	if got, w := strings.Join(strings.Fields(pd.Find("#written-total strong").Text()), " "), fmt.Sprintf("%d of %d written", total, total); got != w {
		t.Errorf("task page total %q, want %q", got, w)
	}
	// The part the page loads when the run ends: the same, alone; opened
	// directly, the whole page.
	part := getWith(t, b, app.URL+r.Location+"/batches", map[string]string{"HX-Request": "true"})
	if pd := doc(t, part.Body); part.Status != http.StatusOK || pd.Find("html head title").Length() != 0 || pd.Find("#task-outcome tbody tr").Length() != total {
		t.Errorf("batches part: status %d, %d rows", part.Status, pd.Find("#task-outcome tbody tr").Length())
	}
	if full := b.Get(r.Location + "/batches"); full.Status != http.StatusOK || !strings.Contains(full.Body, "<title>") || !strings.Contains(full.Body, `id="task-outcome"`) {
		t.Errorf("batches opened directly: status %d, not the whole page", full.Status)
	}
	gen, _ = app.Store.GenerationByTask(ctx, taskID)
	if gen.State != "complete" {
		t.Errorf("audit state %q, want complete", gen.State)
	}

	hist := b.Get("/tasks")
	if !strings.Contains(hist.Body, "/tasks/"+strconv.FormatInt(taskID, 10)) {
		t.Error("history does not list the task")
	}

	// The same confirmation again starts nothing and leads to the same task.
	r2 := b.Post("/ledgers/"+id+"/generations", confirm)
	if r2.Location != r.Location {
		t.Errorf("second confirm went to %q, want %q", r2.Location, r.Location)
	}
	if n := app.Sandbox.RequestCount("POST /api/v1/ledgers/{ledger_id}/batch_generations"); n != 1 {
		t.Errorf("%d batch generation POSTs upstream, want 1", n)
	}
}

// recordsCount reports whether the recorded preview gives ledger id count batches.
func recordsCount(preview []store.PreviewEntry, id string, count int) bool {
	for _, e := range preview {
		if e.LedgerID == id && e.Count == count {
			return true
		}
	}
	return false
}

func countFor(entries []mangrove.PreviewEntry, id string) int {
	for _, e := range entries {
		if e.ID == id {
			return e.Count
		}
	}
	return -1
}

type sseEvent struct{ id, name, data string }

// readEvents reads an event stream until it ends.
func readEvents(t *testing.T, b *testapp.Browser, u string, timeout time.Duration) []sseEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	resp, err := testapp.OpenEvents(ctx, b.HTTP, u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("events: status %d type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return scanEvents(resp.Body, -1)
}

// scanEvents reads the events of a stream; max < 0 reads to the end.
func scanEvents(r io.Reader, max int) []sseEvent {
	evs, _ := testapp.ReadEvents(r, max)
	out := make([]sseEvent, len(evs))
	for i, ev := range evs {
		out[i] = sseEvent{id: ev.ID, name: ev.Event, data: string(ev.Data)}
	}
	return out
}

func TestGenerationFormErrors(t *testing.T) {
	app := testapp.Start(t, testapp.Options{})
	b := app.SignedIn(t)
	id := app.LedgerByName(t, "Net Carbon Removal").ID

	r := preview(t, b, id, url.Values{"start_time": {"2025-03-31"}, "end_time": {"2025-01-01"}, "data_point_ids": {"in_abc, in_def"}})
	if r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("status %d", r.Status)
	}
	d := doc(t, r.Body)
	if d.Find("#end_time-error").Text() == "" {
		t.Error("no message next to end_time")
	}
	if v, _ := d.Find("#start_time").Attr("value"); v != "2025-03-31" {
		t.Errorf("start_time not kept: %q", v)
	}
	if d.Find("#data_point_ids").Text() != "in_abc, in_def" {
		t.Errorf("data point ids not kept: %q", d.Find("#data_point_ids").Text())
	}
	if inv, _ := d.Find("#end_time").Attr("aria-invalid"); inv != "true" {
		t.Error("end_time not marked invalid")
	}

	t.Run("UnknownDataPointFromAPI", func(t *testing.T) {
		r := preview(t, b, id, url.Values{"start_time": {"2025-01-01"}, "end_time": {"2025-03-31"}, "data_point_ids": {"in_doesnotexist"}})
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Mangrove did not accept this request") {
			t.Fatalf("status %d %.300s", r.Status, r.Body)
		}
	})
	t.Run("NoModelLedger", func(t *testing.T) {
		for _, l := range mustLedgers(t, app) {
			if l.LatestModel == nil {
				r := b.Get("/ledgers/" + l.ID + "/generate")
				if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "no linked model") {
					t.Fatalf("status %d", r.Status)
				}
				return
			}
		}
		t.Fatal("the sandbox has no ledger without a model")
	})
	t.Run("QuickRangeWithoutJS", func(t *testing.T) {
		r := b.Get("/ledgers/" + id + "/generate?quick=q1&quick_year=2025&data_point_ids=in_x")
		d := doc(t, r.Body)
		s, _ := d.Find("#start_time").Attr("value")
		e, _ := d.Find("#end_time").Attr("value")
		if s != "2025-01-01" || e != "2025-03-31" || d.Find("#data_point_ids").Text() != "in_x" {
			t.Errorf("quick range gave %q..%q, ids %q", s, e, d.Find("#data_point_ids").Text())
		}
	})
	t.Run("ForgedConfirmKey", func(t *testing.T) {
		r := b.Post("/ledgers/"+id+"/generations", url.Values{"confirm_key": {strings.Repeat("A", 43)}, "start_time": {"2025-01-01"}, "end_time": {"2025-03-31"}})
		if r.Status != http.StatusConflict {
			t.Fatalf("status %d", r.Status)
		}
	})
}

func mustLedgers(t *testing.T, app *testapp.App) []mangrove.Ledger {
	t.Helper()
	ls, err := app.Client.AllLedgers(context.Background(), app.Tokens.ReadWrite)
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

func TestConfirmKeyBoundToParameters(t *testing.T) {
	app := testapp.Start(t, testapp.Options{})
	b := app.SignedIn(t)
	id := app.LedgerByName(t, "Net Carbon Removal").ID
	r := preview(t, b, id, url.Values{"start_time": {"2025-01-01"}, "end_time": {"2025-03-31"}})
	confirm := formValues(t, r.Body, `form[action$="/generations"]`)
	confirm.Set("end_time", "2025-06-30")
	r = b.Post("/ledgers/"+id+"/generations", confirm)
	if r.Status != http.StatusConflict {
		t.Fatalf("changed parameters: status %d, want 409", r.Status)
	}
	if n := app.Sandbox.RequestCount("POST /api/v1/ledgers/{ledger_id}/batch_generations"); n != 0 {
		t.Fatalf("%d POSTs upstream", n)
	}
}

func TestConcurrentConfirmationsStartOne(t *testing.T) {
	app := testapp.Start(t, testapp.Options{StepDelay: 20 * time.Millisecond})
	b := app.SignedIn(t)
	id := app.LedgerByName(t, "Net Carbon Removal").ID
	r := preview(t, b, id, url.Values{"start_time": {"2025-01-01"}, "end_time": {"2025-03-31"}})
	confirm := formValues(t, r.Body, `form[action$="/generations"]`)

	confirmAtOnce(t, app, b, id, confirm, 50)
}

// confirmAtOnce submits one confirmation form n times at once: every
// submission must lead to the same task, with one POST upstream. It
// returns the task's path.
func confirmAtOnce(t *testing.T, app *testapp.App, b *testapp.Browser, ledgerID string, confirm url.Values, n int) string {
	t.Helper()
	locations := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { locations[i] = b.Post("/ledgers/"+ledgerID+"/generations", confirm).Location })
	}
	wg.Wait()
	for i, loc := range locations {
		if loc != locations[0] || !strings.HasPrefix(loc, "/tasks/") {
			t.Fatalf("submission %d went to %q, the first to %q", i, loc, locations[0])
		}
	}
	if got := app.Sandbox.RequestCount("POST /api/v1/ledgers/{ledger_id}/batch_generations"); got != 1 {
		t.Fatalf("%d POSTs upstream for %d submissions of one key, want 1", got, n)
	}
	return locations[0]
}

func TestReadOnlyTokenGetsPermissionMessage(t *testing.T) {
	app := testapp.Start(t, testapp.Options{})
	b := app.NewBrowser(t)
	b.SignIn(app.Tokens.ReadOnly)
	id := app.LedgerByName(t, "Net Carbon Removal").ID
	r := preview(t, b, id, url.Values{"start_time": {"2025-01-01"}, "end_time": {"2025-03-31"}})
	if r.Status != http.StatusOK {
		t.Fatalf("preview with a read-only token: %d", r.Status)
	}
	r = b.Post("/ledgers/"+id+"/generations", formValues(t, r.Body, `form[action$="/generations"]`))
	if r.Status != http.StatusForbidden || !strings.Contains(r.Body, "lacks Production Accounting write permission") {
		t.Fatalf("status %d %.300s", r.Status, r.Body)
	}
	gens, _, err := app.Store.Generations(context.Background(), "", store.GenerationFilter{}, 10, 0)
	if err != nil || len(gens) != 1 || gens[0].State != "rejected" {
		t.Fatalf("audit rows %+v (%v), want one rejected", gens, err)
	}
	// The refusal page leads back to the same preview, values kept.
	back, _ := doc(t, r.Body).Find("main a.btn-primary").Attr("href")
	if !strings.Contains(back, "/preview?") || !strings.Contains(back, "start_time=2025-01-01") {
		t.Errorf("the permission page links to %q, want the preview with its values", back)
	}
	// From now on the dashboard says so up front.
	d := doc(t, b.Get("/ledgers/"+id).Body)
	if _, disabled := d.Find("#generate").Attr("disabled"); !disabled || d.Find("#read-only-reason").Length() != 1 {
		t.Error("the ledger page still offers Generate to a token refused a generation")
	}
	if !strings.Contains(d.Find("header").Text(), "Read-only") {
		t.Error("the header does not say Read-only")
	}
	d = doc(t, preview(t, b, id, url.Values{"start_time": {"2025-01-01"}, "end_time": {"2025-03-31"}}).Body)
	if d.Find("#confirm").Length() != 0 || d.Find("#read-only-reason").Length() != 1 {
		t.Error("the preview still offers Confirm to a token refused a generation")
	}
	// Another user's token is not affected.
	rw := app.SignedIn(t)
	if _, disabled := doc(t, rw.Get("/ledgers/"+id).Body).Find("#generate").Attr("disabled"); disabled {
		t.Error("the read-write token lost Generate")
	}
}

// TestReadOnlyDashboard: with MANGROVE_READ_ONLY nothing is offered for
// confirmation and a confirmation posted anyway sends nothing upstream.
func TestReadOnlyDashboard(t *testing.T) {
	app := testapp.Start(t, testapp.Options{ReadOnly: true})
	b := app.SignedIn(t)
	id := app.LedgerByName(t, "Net Carbon Removal").ID
	q := url.Values{"start_time": {"2025-01-01"}, "end_time": {"2025-03-31"}}
	if d := doc(t, preview(t, b, id, q).Body); d.Find("#confirm").Length() != 0 {
		t.Fatal("a read-only dashboard offers Confirm")
	}
	r := b.Post("/ledgers/"+id+"/generations", url.Values{"confirm_key": {issueKey(t, app, id, q)}, "start_time": q["start_time"], "end_time": q["end_time"]})
	if r.Status != http.StatusForbidden {
		t.Fatalf("confirm on a read-only dashboard: %d", r.Status)
	}
	if n := app.Sandbox.RequestCount("POST /api/v1/ledgers/{ledger_id}/batch_generations"); n != 0 {
		t.Errorf("%d generation POSTs from a read-only dashboard", n)
	}
}

// startTask starts a Q1 2025 generation through the API and returns its id.
func startTask(t *testing.T, app *testapp.App) int64 {
	t.Helper()
	id := app.LedgerByName(t, "Net Carbon Removal").ID
	start, _ := time.Parse(time.DateOnly, "2025-01-01")
	end, _ := time.Parse(time.RFC3339, "2025-03-31T23:59:59Z")
	task, err := app.Client.StartGeneration(context.Background(), app.Tokens.ReadWrite, id, mangrove.GenerationRequest{StartTime: start, EndTime: end})
	if err != nil {
		t.Fatal(err)
	}
	return task.ID
}

func TestTaskEvents(t *testing.T) {
	app := testapp.Start(t, testapp.Options{StepDelay: 400 * time.Millisecond, PollInterval: time.Second})
	b := app.SignedIn(t)
	taskID := startTask(t, app)
	eventsURL := app.URL + "/tasks/" + strconv.FormatInt(taskID, 10) + "/events"

	open := func() (io.Reader, func()) {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, eventsURL, nil)
		resp, err := b.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if resp.Header.Get("X-Accel-Buffering") != "no" || resp.Header.Get("Content-Encoding") != "" {
			t.Errorf("stream headers: %v", resp.Header)
		}
		return resp.Body, func() { cancel(); resp.Body.Close() }
	}

	t.Run("SubscriberGetsCurrentStateAtOnce", func(t *testing.T) {
		sc1, close1 := open()
		defer close1()
		first := make(chan []sseEvent, 1)
		go func() { first <- scanEvents(sc1, 1) }()
		select {
		case evs := <-first:
			if len(evs) != 1 || evs[0].name != "status" {
				t.Fatalf("first event %+v", evs)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("first subscriber got no state within 3s")
		}
		sc2, close2 := open()
		defer close2()
		second := make(chan []sseEvent, 1)
		go func() { second <- scanEvents(sc2, 1) }()
		select {
		case evs := <-second:
			if len(evs) != 1 || evs[0].name != "status" || !strings.Contains(evs[0].data, "task-progress") {
				t.Fatalf("second subscriber's first event %+v", evs)
			}
		case <-time.After(500 * time.Millisecond):
			t.Fatal("second subscriber did not get the current state at once")
		}
	})

	t.Run("OtherProjectCannotWatch", func(t *testing.T) {
		other := app.NewBrowser(t)
		other.SignIn(app.Tokens.Other)
		r := other.Get("/tasks/" + strconv.FormatInt(taskID, 10) + "/events")
		if r.Status != http.StatusNotFound {
			t.Fatalf("status %d, want 404", r.Status)
		}
		if r := other.Get("/tasks/" + strconv.FormatInt(taskID, 10)); r.Status != http.StatusNotFound {
			t.Fatalf("task page for another project's token: %d", r.Status)
		}
	})

	t.Run("FinishedTaskEndsStream", func(t *testing.T) {
		app.WaitTask(t, app.Tokens.ReadWrite, taskID, 60*time.Second)
		evs := readEvents(t, b, eventsURL, 10*time.Second)
		n := len(evs)
		if n < 2 || evs[n-2].name != "status" || !strings.Contains(evs[n-2].data, `data-state="complete"`) || evs[n-1].name != "done" || evs[n-1].id != "done" {
			t.Fatalf("events for a finished task: %+v", evs)
		}
		// Once the watcher has seen the end, a new stream is just the final state.
		evs = readEvents(t, b, eventsURL, 10*time.Second)
		if len(evs) != 2 || evs[0].name != "status" || evs[1].name != "done" {
			t.Fatalf("events for a finished task, second time: %+v", evs)
		}
		req, _ := http.NewRequest(http.MethodGet, eventsURL, nil)
		req.Header.Set("Last-Event-ID", "done")
		resp, err := b.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("reconnect after done: %d, want 204", resp.StatusCode)
		}
	})
}

func TestTenViewersCostOnePoller(t *testing.T) {
	app := testapp.Start(t, testapp.Options{StepDelay: 500 * time.Millisecond, PollInterval: time.Second})
	taskID := startTask(t, app)
	eventsURL := app.URL + "/tasks/" + strconv.FormatInt(taskID, 10) + "/events"
	before := app.Sandbox.RequestCount("GET /api/v1/async_tasks/{id}")

	var wg sync.WaitGroup
	startAt := time.Now()
	for range 10 {
		b := app.SignedIn(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			evs := readEvents(t, b, eventsURL, 60*time.Second)
			if len(evs) == 0 || evs[len(evs)-1].name != "done" {
				t.Errorf("a viewer's stream did not end with done: %d events", len(evs))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(startAt)
	calls := app.Sandbox.RequestCount("GET /api/v1/async_tasks/{id}") - before
	// One authorisation call for the shared token, then one poll per interval.
	limit := int64(elapsed/time.Second) + 3
	t.Logf("10 viewers over %s: %d upstream task requests", elapsed.Round(time.Millisecond), calls)
	if calls > limit {
		t.Fatalf("%d upstream task requests for 10 viewers over %s, want at most %d (one poller)", calls, elapsed, limit)
	}
}

func TestHistoryIsPerToken(t *testing.T) {
	app := testapp.Start(t, testapp.Options{})
	b := app.SignedIn(t)
	id := app.LedgerByName(t, "Net Carbon Removal").ID
	r := preview(t, b, id, url.Values{"start_time": {"2025-01-01"}, "end_time": {"2025-01-31"}})
	r = b.Post("/ledgers/"+id+"/generations", formValues(t, r.Body, `form[action$="/generations"]`))
	if r.Status != http.StatusSeeOther {
		t.Fatalf("confirm: %d", r.Status)
	}
	if !strings.Contains(b.Get("/tasks").Body, r.Location) {
		t.Fatal("own history lacks the task")
	}
	other := app.NewBrowser(t)
	other.SignIn(app.Tokens.Other)
	if strings.Contains(other.Get("/tasks").Body, r.Location) {
		t.Fatal("another token's history shows the task")
	}
}

func TestUnknownTask(t *testing.T) {
	app := testapp.Start(t, testapp.Options{})
	b := app.SignedIn(t)
	for _, p := range []string{"/tasks/999999", "/tasks/abc", "/tasks/-1", "/tasks/999999/events", "/nope"} {
		if r := b.Get(p); r.Status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, r.Status)
		}
	}
}

// TestPreviewIsALink: the preview is a GET of the form's values, so Back, a
// reload or a pasted link show it again, each time with a fresh key; the
// form posted by older pages is sent there.
func TestPreviewIsALink(t *testing.T) {
	app := testapp.Start(t, testapp.Options{})
	b := app.SignedIn(t)
	id := app.LedgerByName(t, "Net Carbon Removal").ID
	q := url.Values{"start_time": {"2025-01-01"}, "end_time": {"2025-03-31"}}
	link := "/ledgers/" + id + "/preview?" + q.Encode()

	keyAndTotal := func(r testapp.Response) (string, string) {
		t.Helper()
		if r.Status != http.StatusOK {
			t.Fatalf("preview: status %d %.300s", r.Status, r.Body)
		}
		d := doc(t, r.Body)
		key, _ := d.Find(`input[name="confirm_key"]`).Attr("value")
		return key, strings.TrimSpace(d.Find("#preview-counts tfoot td").First().Text())
	}
	k1, total1 := keyAndTotal(b.Get(link))
	k2, total2 := keyAndTotal(b.Get(link))
	if k1 == "" || k1 == k2 {
		t.Errorf("keys %q and %q: want a fresh key on each view", k1, k2)
	}
	if total1 != "12" || total2 != total1 {
		t.Errorf("totals %q and %q, want 12 both times", total1, total2)
	}

	r := b.Post("/ledgers/"+id+"/preview", q)
	if r.Status != http.StatusSeeOther || r.Location != link {
		t.Fatalf("posted form: %d to %q, want 303 to %q", r.Status, r.Location, link)
	}
	// Either key confirms once: the older one is still valid.
	c := b.Post("/ledgers/"+id+"/generations", url.Values{"confirm_key": {k1}, "start_time": q["start_time"], "end_time": q["end_time"]})
	if c.Status != http.StatusSeeOther || !strings.HasPrefix(c.Location, "/tasks/") {
		t.Fatalf("confirm with the first key: %d %q", c.Status, c.Location)
	}
}

// TestNothingToConfirm: a range with nothing to write offers no Confirm, and
// its key posted anyway is refused without asking Mangrove.
func TestNothingToConfirm(t *testing.T) {
	app := testapp.Start(t, testapp.Options{})
	b := app.SignedIn(t)
	id := app.LedgerByName(t, "Net Carbon Removal").ID
	q := url.Values{"start_time": {"2023-01-01"}, "end_time": {"2023-01-31"}}
	r := b.Get("/ledgers/" + id + "/preview?" + q.Encode())
	if r.Status != http.StatusOK {
		t.Fatalf("preview: %d", r.Status)
	}
	d := doc(t, r.Body)
	if d.Find("#confirm").Length() != 0 {
		t.Fatal("a preview of 0 batches offers Confirm")
	}
	if !strings.Contains(d.Find("main").Text(), "Nothing will be generated") {
		t.Error("the preview does not say why there is nothing to confirm")
	}
	key, _ := d.Find(`input[name="confirm_key"]`).Attr("value")
	if key != "" {
		t.Fatal("the page carries a confirmation key without a Confirm button")
	}
	// A key issued for this empty preview, posted by hand.
	c := b.Post("/ledgers/"+id+"/generations", url.Values{"confirm_key": {issueKey(t, app, id, q)}, "start_time": q["start_time"], "end_time": q["end_time"]})
	if c.Status != http.StatusConflict || !strings.Contains(c.Body, "Nothing to generate") {
		t.Fatalf("confirming 0 batches: %d %.300s", c.Status, c.Body)
	}
	if n := app.Sandbox.RequestCount("POST /api/v1/ledgers/{ledger_id}/batch_generations"); n != 0 {
		t.Errorf("%d generation POSTs for an empty preview, want none", n)
	}
}

// issueKey issues a confirmation key for the form values q on a ledger, as
// a preview that counted no batches does.
func issueKey(t *testing.T, app *testapp.App, ledgerID string, q url.Values) string {
	t.Helper()
	params, errs := forms.ParseGenerationForm(q).Validate(nil)
	if errs.Any() {
		t.Fatal(errs)
	}
	key, err := app.Store.IssueConfirmKey(context.Background(), mangrove.TokenHash(app.Tokens.ReadWrite), forms.BindingHash(ledgerID, params), nil)
	if err != nil {
		t.Fatal(err)
	}
	return key
}
