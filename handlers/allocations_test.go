package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/carbon-dash/mangrove-dashboard/internal/testapp"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/store"
)

// upstreamBatch is a Biochar Produced batch of December 2024 as the API
// gives it: the seeded month before the demo quarter.
func upstreamBatch(t *testing.T, app *testapp.App) mangrove.Batch {
	t.Helper()
	bp := app.LedgerByName(t, "Biochar Produced").ID
	l, err := app.Client.LedgerBatches(context.Background(), app.Tokens.ReadWrite, bp, mangrove.ListOptions{PageSize: 100, Sort: []string{"-start_time"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range l.Data {
		if b.StartTime.Format("2006-01") == "2024-12" && b.LedgerBalance != nil && *b.LedgerBalance > 0 {
			return b
		}
	}
	t.Fatal("no December 2024 Biochar Produced batch with an unallocated amount in the seed")
	return mangrove.Batch{}
}

// TestAllocationRows: the form's batch-amount rows offer the Biochar
// Produced batches feeding Net Carbon Removal with their unallocated
// amounts; an amount above one is refused beside its field with the values
// kept; one within it is previewed, confirmed, recorded in the audit row and
// lowers the upstream batch's unallocated amount.
func TestAllocationRows(t *testing.T) {
	t.Parallel()
	app := testapp.Start(t, testapp.Options{StepDelay: 10 * time.Millisecond})
	b := app.SignedIn(t)
	ncr := app.LedgerByName(t, "Net Carbon Removal").ID
	up := upstreamBatch(t, app)
	left := *up.LedgerBalance
	dec := url.Values{"start_time": {"2024-12-01"}, "end_time": {"2024-12-31"}}

	r := b.Get("/ledgers/" + ncr + "/generate?" + dec.Encode())
	if r.Status != http.StatusOK {
		t.Fatalf("form: %d", r.Status)
	}
	d := doc(t, r.Body)
	sec := d.Find("fieldset.allocations")
	if sec.Length() != 1 || !strings.Contains(sec.Find("legend").Text(), "Allocate from Biochar Produced") {
		t.Fatalf("no allocation section from Biochar Produced: %q", sec.Find("legend").Text())
	}
	if !strings.Contains(sec.Text(), "An allocation takes part of an upstream batch’s unallocated output") {
		t.Error("the section does not say what an allocation does")
	}
	opt := d.Find(`select[name="batch_amounts[0][batch_id]"] option[value="` + up.ID + `"]`)
	want := mangrove.Deref(up.TrackingID) + " · " + strconv.FormatFloat(left, 'f', 2, 64) + " t unallocated · Dec 2024"
	if opt.Length() != 1 || !strings.HasPrefix(opt.Text(), want) {
		t.Fatalf("option of %s: %q, want %q…", up.ID, opt.Text(), want)
	}
	if g, _ := opt.Parent().Attr("label"); g != "Biochar Produced: in the range" {
		t.Errorf("the December batch is in option group %q", g)
	}
	checkLabelled(t, d)

	// Above the unallocated amount: refused beside the amount, values kept.
	too := left + 40
	q := url.Values{"start_time": {"2024-12-01"}, "end_time": {"2024-12-31"},
		"batch_amounts[0][batch_id]": {up.ID}, "batch_amounts[0][primary_output_amount]": {strconv.FormatFloat(too, 'f', -1, 64)}}
	r = b.Get("/ledgers/" + ncr + "/preview?" + q.Encode())
	if r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("preview above the balance: status %d", r.Status)
	}
	d = doc(t, r.Body)
	amount := d.Find(`input[name="batch_amounts[0][primary_output_amount]"]`)
	id, _ := amount.Attr("id")
	msg := strings.TrimSpace(d.Find("#" + id + "-error").Text())
	wantMsg := strconv.FormatFloat(too, 'f', 2, 64) + " t is more than the " + strconv.FormatFloat(left, 'f', 2, 64) + " t left unallocated on " + mangrove.Deref(up.TrackingID)
	if msg != wantMsg {
		t.Errorf("message beside the amount %q, want %q", msg, wantMsg)
	}
	if inv, _ := amount.Attr("aria-invalid"); inv != "true" {
		t.Error("the amount is not marked invalid")
	}
	if by, _ := amount.Attr("aria-describedby"); !strings.Contains(by, id+"-error") {
		t.Errorf("the amount is described by %q, not its message", by)
	}
	if v, _ := amount.Attr("value"); v != q.Get("batch_amounts[0][primary_output_amount]") {
		t.Errorf("typed amount not kept: %q", v)
	}
	if sel := d.Find(`select[name="batch_amounts[0][batch_id]"] option[selected]`); sel.AttrOr("value", "") != up.ID {
		t.Errorf("chosen batch not kept: %q", sel.AttrOr("value", ""))
	}
	if n := app.Sandbox.RequestCount("POST /api/v1/ledgers/{ledger_id}/batch_generations"); n != 0 {
		t.Fatalf("%d POSTs", n)
	}

	// Within it: previewed with the allocation, confirmed, recorded.
	q.Set("batch_amounts[0][primary_output_amount]", "40")
	if left < 40 {
		q.Set("batch_amounts[0][primary_output_amount]", strconv.FormatFloat(left, 'f', -1, 64))
	}
	amt, _ := strconv.ParseFloat(q.Get("batch_amounts[0][primary_output_amount]"), 64)
	r = b.Get("/ledgers/" + ncr + "/preview?" + q.Encode())
	if r.Status != http.StatusOK {
		t.Fatalf("preview: %d %.400s", r.Status, r.Body)
	}
	d = doc(t, r.Body)
	summary := strings.Join(strings.Fields(d.Find("#decision-allocations").Text()), " ")
	if !strings.Contains(summary, strconv.FormatFloat(amt, 'f', 2, 64)+" t of Biochar Produced "+mangrove.Deref(up.TrackingID)) || !strings.Contains(summary, "group Biochar produced") {
		t.Errorf("decision summary %q lacks the allocation", summary)
	}
	confirm := formValues(t, r.Body, `form[action$="/generations"]`)
	if g := confirm.Get("batch_amounts[0][allocation_group]"); g != "biochar-produced" {
		t.Errorf("Confirm carries group %q, want the input's only group", g)
	}
	r = b.Post("/ledgers/"+ncr+"/generations", confirm)
	if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/tasks/") {
		t.Fatalf("confirm: %d %q %.300s", r.Status, r.Location, r.Body)
	}
	taskID, _ := strconv.ParseInt(strings.TrimPrefix(r.Location, "/tasks/"), 10, 64)
	gen, err := app.Store.GenerationByTask(context.Background(), taskID)
	if err != nil {
		t.Fatal(err)
	}
	wantRow := []store.BatchAmount{{BatchID: up.ID, PrimaryOutputAmount: amt, AllocationGroup: "biochar-produced"}}
	if len(gen.Params.BatchAmounts) != 1 || gen.Params.BatchAmounts[0] != wantRow[0] {
		t.Errorf("audit row keeps %+v, want %+v", gen.Params.BatchAmounts, wantRow)
	}
	if task := app.WaitTask(t, app.Tokens.ReadWrite, taskID, 60*time.Second); task.State != mangrove.TaskComplete {
		t.Fatalf("task %s: %s", task.State, mangrove.Deref(task.ErrorMessage))
	}
	after, err := app.Client.Batch(context.Background(), app.Tokens.ReadWrite, up.ID)
	if err != nil {
		t.Fatal(err)
	}
	if after.LedgerBalance == nil || *after.LedgerBalance > left-amt+1e-6 || *after.LedgerBalance < left-amt-1e-6 {
		t.Errorf("upstream batch's unallocated amount %v after allocating %v of %v", after.LedgerBalance, amt, left)
	}
}

// checkLabelled fails unless every control of the allocation rows has a
// label and every described-by id exists.
func checkLabelled(t *testing.T, d *goquery.Document) {
	t.Helper()
	d.Find(".alloc-row select, .alloc-row input").Each(func(_ int, s *goquery.Selection) {
		id, _ := s.Attr("id")
		if id == "" || d.Find(`label[for="`+id+`"]`).Length() != 1 {
			t.Errorf("control %s (%s) has no label", id, s.AttrOr("name", ""))
		}
		for _, ref := range strings.Fields(s.AttrOr("aria-describedby", "")) {
			if d.Find("#"+ref).Length() != 1 {
				t.Errorf("control %s is described by missing #%s", id, ref)
			}
		}
	})
}

// busySandbox answers POST …/batch_generations with 409, as Mangrove does
// while a generation runs on the ledger (the sandbox itself runs
// generations side by side).
func busySandbox(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/batch_generations") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusConflict)
			_, _ = w.Write([]byte(`{"message":"A batch generation is already running for this ledger"}`))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// TestConfirmWhileAGenerationRuns: a 409 shows the preview again with the
// API's message beside Confirm (a fresh confirmation), and the audit row is
// rejected with the message; nothing was started.
func TestConfirmWhileAGenerationRuns(t *testing.T) {
	t.Parallel()
	const msg = "A batch generation is already running for this ledger"
	app := testapp.Start(t, testapp.Options{WrapSandbox: busySandbox})
	b := app.SignedIn(t)
	ncr := app.LedgerByName(t, "Net Carbon Removal").ID

	r := preview(t, b, ncr, url.Values{"start_time": {"2025-01-01"}, "end_time": {"2025-03-31"}})
	if r.Status != http.StatusOK {
		t.Fatalf("preview: %d", r.Status)
	}
	confirm := formValues(t, r.Body, `form[action$="/generations"]`)
	r = b.Post("/ledgers/"+ncr+"/generations", confirm)
	if r.Status != http.StatusConflict {
		t.Fatalf("confirm: status %d, want 409; %.400s", r.Status, r.Body)
	}
	d := doc(t, r.Body)
	if d.Find("#decision-total").Length() != 1 || d.Find("#confirm").Length() != 1 {
		t.Fatal("the answer is not the preview with Confirm")
	}
	if got := d.Find("#confirm-error").Text(); !strings.Contains(got, msg) || !strings.Contains(got, "Nothing was started") {
		t.Errorf("beside Confirm: %q", got)
	}
	if by, _ := d.Find("#confirm").Attr("aria-describedby"); by != "confirm-error" {
		t.Errorf("Confirm is described by %q", by)
	}
	again := formValues(t, r.Body, `form[action$="/generations"]`)
	if again.Get("confirm_key") == "" || again.Get("confirm_key") == confirm.Get("confirm_key") {
		t.Error("the preview shown again has no fresh confirmation")
	}
	gens, _, err := app.Store.Generations(context.Background(), mangrove.TokenHash(app.Tokens.ReadWrite), store.GenerationFilter{}, 10, 0)
	if err != nil || len(gens) != 1 {
		t.Fatalf("%d audit rows, %v", len(gens), err)
	}
	if g := gens[0]; g.State != store.StateRejected || g.Error != msg || g.TaskID != nil {
		t.Errorf("audit row %s %q, want rejected with the API's message", g.State, g.Error)
	}
}

// TestAllocationRefusedAtConfirm: the dashboard checks the amount, Mangrove
// has the final word. An allocation from a batch whose period lies outside
// the range is previewed with a mark; the sandbox refuses it (422) at
// Confirm, and the form comes back with the message and the row as chosen.
func TestAllocationRefusedAtConfirm(t *testing.T) {
	t.Parallel()
	app := testapp.Start(t, testapp.Options{})
	b := app.SignedIn(t)
	ncr := app.LedgerByName(t, "Net Carbon Removal").ID
	up := upstreamBatch(t, app)
	q := url.Values{"start_time": {"2025-01-01"}, "end_time": {"2025-03-31"},
		"batch_amounts[0][batch_id]": {up.ID}, "batch_amounts[0][primary_output_amount]": {"1"}}
	r := preview(t, b, ncr, q)
	if r.Status != http.StatusOK {
		t.Fatalf("preview: %d", r.Status)
	}
	if got := doc(t, r.Body).Find("#decision-allocations .badge").Text(); got != "period outside the range" {
		t.Errorf("the allocation's mark %q", got)
	}
	r = b.Post("/ledgers/"+ncr+"/generations", formValues(t, r.Body, `form[action$="/generations"]`))
	if r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("confirm: status %d, want the sandbox's 422 as the form", r.Status)
	}
	d := doc(t, r.Body)
	if !strings.Contains(d.Find(".callout-error").Text(), "Mangrove did not accept this request") {
		t.Errorf("no refusal beside the form: %q", d.Find(".callout-error").Text())
	}
	if sel := d.Find(`select[name="batch_amounts[0][batch_id]"] option[selected]`); sel.AttrOr("value", "") != up.ID {
		t.Errorf("chosen batch not kept: %q", sel.AttrOr("value", ""))
	}
	if v := d.Find(`input[name="batch_amounts[0][primary_output_amount]"]`).AttrOr("value", ""); v != "1" {
		t.Errorf("amount not kept: %q", v)
	}
}

// TestAllocationsWhereNothingFeeds: on a ledger with no input fed by
// another ledger (Biochar Produced) the form has no allocation rows; an
// allocation in the address is refused with one message saying why, and
// left out of the form.
func TestAllocationsWhereNothingFeeds(t *testing.T) {
	t.Parallel()
	app := testapp.Start(t, testapp.Options{})
	b := app.SignedIn(t)
	bp := app.LedgerByName(t, "Biochar Produced").ID
	if d := doc(t, b.Get("/ledgers/"+bp+"/generate").Body); d.Find("fieldset.allocations, .alloc-row").Length() != 0 {
		t.Error("allocation rows on a ledger nothing feeds")
	}
	for name, row := range map[string]string{"ValidRow": "1", "InvalidRow": "ten"} {
		t.Run(name, func(t *testing.T) {
			q := url.Values{"start_time": {"2025-01-01"}, "end_time": {"2025-03-31"},
				"batch_amounts[0][batch_id]": {"bat_x"}, "batch_amounts[0][primary_output_amount]": {row}}
			r := b.Get("/ledgers/" + bp + "/preview?" + q.Encode())
			d := doc(t, r.Body)
			if r.Status != http.StatusUnprocessableEntity || !strings.Contains(d.Find("#batch_amounts-error").Text(), "Biochar Produced has no manual-select input fed by another ledger") {
				t.Fatalf("status %d, message %q", r.Status, d.Find("#batch_amounts-error").Text())
			}
			if n := d.Find(`[name^="batch_amounts["]`).Length(); n != 0 {
				t.Errorf("%d allocation fields kept", n)
			}
			if got := d.Find(".callout-error").Text(); !strings.Contains(got, "correct the field below") {
				t.Errorf("summary %q, want one field", got)
			}
		})
	}
}
