package handlers_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/carbon-dash/mangrove-dashboard/internal/testapp"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// TestBatchPage opens batches of the seeded Net Carbon Removal ledger the
// way its table links them, and checks the page against GET /batches/{id}.
func TestBatchPage(t *testing.T) {
	app := testapp.Start(t, testapp.Options{})
	b := app.SignedIn(t)
	ncr := app.LedgerByName(t, "Net Carbon Removal").ID
	var complete, failed *mangrove.Batch
	all := allBatches(t, app, ncr, mangrove.ListOptions{Sort: []string{"start_time"}})
	for i, bt := range all {
		switch {
		case bt.State == "complete" && complete == nil:
			complete = &all[i]
		case bt.State == "error" && bt.StartTime.Equal(time.Date(2024, 8, 1, 0, 0, 0, 0, time.UTC)):
			failed = &all[i]
		}
	}
	if complete == nil || failed == nil {
		t.Fatalf("the seed lacks a complete batch (%v) or the Aug 2024 error batch (%v)", complete, failed)
	}
	page := func(t *testing.T, path string) *goquery.Document {
		t.Helper()
		r := b.Get(path)
		if r.Status != http.StatusOK {
			t.Fatalf("GET %s: status %d", path, r.Status)
		}
		return doc(t, r.Body)
	}
	onLedger := func(id string) string { return "/batches/" + id + "?ledger=" + ncr }

	t.Run("Complete", func(t *testing.T) {
		d := page(t, onLedger(complete.ID))
		detail, err := app.Client.Batch(context.Background(), app.Tokens.ReadWrite, complete.ID)
		if err != nil {
			t.Fatal(err)
		}
		calcs := detail.ModelRun.Calculations
		if len(calcs) == 0 {
			t.Fatal("the API's batch has no calculations")
		}
		// One tbody per category, in the order the categories first appear,
		// each calculation in its category's group.
		var categories []string
		rows := map[string][]string{}
		for _, c := range calcs {
			if _, seen := rows[c.Category]; !seen {
				categories = append(categories, c.Category)
			}
			rows[c.Category] = append(rows[c.Category], c.Name)
		}
		groups := d.Find("#calculations-table tbody")
		if groups.Length() != len(categories) {
			t.Fatalf("%d groups, want %d categories %v", groups.Length(), len(categories), categories)
		}
		groups.Each(func(i int, g *goquery.Selection) {
			if got := strings.TrimSpace(g.Find(`th[scope="rowgroup"]`).Text()); got != categories[i] {
				t.Errorf("group %d is %q, want %q", i, got, categories[i])
			}
			names := g.Find(`th[scope="row"]`).Map(func(_ int, s *goquery.Selection) string { return s.Text() })
			if strings.Join(names, "|") != strings.Join(rows[categories[i]], "|") {
				t.Errorf("group %q lists %v, want %v", categories[i], names, rows[categories[i]])
			}
		})
		net := d.Find(`#calculations-table th[scope="row"]:contains("Net Carbon Removal")`).Parent().Find("td")
		if got, want := strings.ReplaceAll(net.Eq(0).Text(), ",", ""), strconv.FormatFloat(detail.PrimaryOutput.Value, 'f', -1, 64); got != want {
			t.Errorf("Net Carbon Removal shows %q, want every decimal of %s", got, want)
		}

		inputs := d.Find(`table:has(#inputs-caption) tbody tr`)
		if inputs.Length() != len(detail.InputData) || len(detail.InputData) == 0 {
			t.Fatalf("%d input rows, the API %d", inputs.Length(), len(detail.InputData))
		}
		for i, in := range detail.InputData {
			row := inputs.Eq(i).Text()
			if !strings.Contains(row, in.DataPoint.ID) || !strings.Contains(row, in.DataPoint.DataPointType) || !strings.Contains(row, in.Event.EventType) {
				t.Errorf("input row %d %q lacks %s, %s or %s", i, row, in.DataPoint.ID, in.DataPoint.DataPointType, in.Event.EventType)
			}
		}
		if n := d.Find(`table:has(#outputs-caption) tbody tr`).Length(); n != len(detail.ModelRun.OutputDataPoints) {
			t.Errorf("%d output rows, the API %d", n, len(detail.ModelRun.OutputDataPoints))
		}

		var w struct {
			Unit  string `json:"unit"`
			Steps []struct {
				Name string  `json:"name"`
				From float64 `json:"from"`
				To   float64 `json:"to"`
			} `json:"steps"`
		}
		if err := json.Unmarshal([]byte(d.Find(`script#waterfall-data[type="application/json"]`).Text()), &w); err != nil {
			t.Fatalf("waterfall data: %v", err)
		}
		if len(w.Steps) < 3 || w.Steps[0].Name != "Gross carbon stored" || w.Steps[len(w.Steps)-1].Name != "Net Carbon Removal" {
			t.Errorf("waterfall steps %+v, want gross stored first and the net last", w.Steps)
		}
		if label, _ := d.Find("#waterfall").Attr("aria-label"); !strings.Contains(label, "minus Emissions from") {
			t.Errorf("the chart's label %q does not say what it draws", label)
		}
		if _, hidden := d.Find("#waterfall-section").Attr("hidden"); !hidden {
			t.Error("the chart is shown without JavaScript")
		}
		if d.Find(`#batch-ledger a[href="/ledgers/`+ncr+`"]`).Length() != 1 || d.Find(`#open-ledger[href="/ledgers/`+ncr+`"]`).Length() != 1 {
			t.Error("no link to the ledger")
		}
		if title, _ := d.Find(`dt:contains("Unallocated")`).Attr("title"); !strings.Contains(title, "not yet allocated") {
			t.Errorf("Unallocated is not explained: %q", title)
		}
	})

	t.Run("ModelRunError", func(t *testing.T) {
		d := page(t, onLedger(failed.ID))
		if got := d.Find("#run-error").Text(); got != "required input missing: biochar-mass-produced" {
			t.Errorf("error %q", got)
		}
		if !strings.Contains(d.Find("#batch-summary").Text(), "Nut shells") {
			t.Error("the feedstock is not shown")
		}
		// The API reports the failed batch's output as 0: no result, not a figure.
		if failed.PrimaryOutput == nil || failed.PrimaryOutput.Value != 0 {
			t.Fatalf("the seeded failed batch's output is %+v, the test expects the API's 0", failed.PrimaryOutput)
		}
		output := strings.Join(strings.Fields(d.Find(`dt:contains("Primary output") + dd`).Text()), " ")
		if !strings.HasPrefix(output, "no result") || strings.Contains(output, "0.00") {
			t.Errorf("the failed batch's output reads %q, want no result and no figure", output)
		}
		if d.Find("#waterfall").Length() != 0 {
			t.Error("a waterfall is drawn without calculations")
		}
		href, _ := d.Find("a#regenerate").Attr("href")
		u, err := url.Parse(href)
		if err != nil || u.Path != "/ledgers/"+ncr+"/preview" || u.Query().Get("start_time") != "2024-08-01" || u.Query().Get("end_time") != "2024-08-31" {
			t.Fatalf("Regenerate links to %q, want the preview of 2024-08-01 to 2024-08-31", href)
		}
		if !strings.HasPrefix(doc(t, b.Get(href).Body).Find("#range-words").Text(), "August 2024") {
			t.Error("the regenerate link's preview is not of August 2024")
		}
	})

	t.Run("LinkedFromTheLedgerTable", func(t *testing.T) {
		d := page(t, "/ledgers/"+ncr+"?page_size=100")
		if d.Find(`#batches ~ .table-wrap tbody th a[href="`+onLedger(failed.ID)+`"]`).Length() != 1 {
			t.Errorf("the ledger table does not link %s to its page", failed.ID)
		}
	})

	t.Run("LedgerUnknown", func(t *testing.T) {
		d := page(t, "/batches/"+complete.ID)
		if got := d.Find("#batch-ledger").Text(); !strings.Contains(got, "unknown") {
			t.Errorf("ledger %q, want unknown", got)
		}
		if d.Find("#regenerate, #open-ledger").Length() != 0 {
			t.Error("actions offered without a ledger")
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		produced := app.LedgerByName(t, "Biochar Produced").ID
		for _, p := range []string{"/batches/bat_doesnotexist", "/batches/..%2f..%2fetc", "/batches/" + complete.ID + "?ledger=lgr_doesnotexist", "/batches/" + complete.ID + "?ledger=" + produced} {
			if r := b.Get(p); r.Status != http.StatusNotFound || !strings.Contains(r.Body, "<h1") {
				t.Errorf("GET %s: %d, want the 404 page", p, r.Status)
			}
		}
	})

	t.Run("GarbageLedger", func(t *testing.T) {
		for _, q := range []string{"%3Cscript%3E", "..%2f..", strings.Repeat("x", 101)} {
			r := b.Get("/batches/" + complete.ID + "?ledger=" + q)
			if r.Status != http.StatusBadRequest || !strings.Contains(doc(t, r.Body).Find("main").Text(), "not a ledger id") {
				t.Errorf("?ledger=%s: status %d, want 400 with a message", q, r.Status)
			}
		}
	})
}

// TestFailedBatchHasNoResult: the Aug 2024 batch whose model run failed
// (the API reports its output as 0) reads "no result" in the ledger's
// table, and its CSV row has no primary_output but the error message.
func TestFailedBatchHasNoResult(t *testing.T) {
	app := testapp.Start(t, testapp.Options{})
	b := app.SignedIn(t)
	ncr := app.LedgerByName(t, "Net Carbon Removal").ID
	var failed *mangrove.Batch
	all := allBatches(t, app, ncr, mangrove.ListOptions{})
	for i, bt := range all {
		if bt.Failed() {
			failed = &all[i]
		}
	}
	if failed == nil || failed.PrimaryOutput == nil || failed.PrimaryOutput.Value != 0 {
		t.Fatalf("the seed's failed batch: %+v, want one with the API's output 0", failed)
	}
	q := "?state=" + failed.State
	d := doc(t, b.Get("/ledgers/"+ncr+q).Body)
	row := d.Find(`a[href^="/batches/` + failed.ID + `"]`).Closest("tr")
	if got := strings.TrimSpace(row.Find(`td[data-label="Primary output"]`).Text()); got != "no result" {
		t.Errorf("the failed batch's output cell reads %q, want no result", got)
	}
	// The preview of its period lists it as existing, without a figure.
	p := doc(t, b.Get("/ledgers/"+ncr+"/preview?start_time="+failed.StartTime.Format("2006-01-02")+"&end_time="+failed.EndTime.Format("2006-01-02")).Body)
	if got := strings.Join(strings.Fields(p.Find(`li:has(a[href^="/batches/`+failed.ID+`"])`).Text()), " "); !strings.HasSuffix(got, "· no result") {
		t.Errorf("the preview lists the failed batch as %q, want no result", got)
	}
	r := b.Get("/ledgers/" + ncr + "/batches.csv" + q)
	rows := parseCSV(t, r.Body)
	var found bool
	for _, rec := range rows[1:] {
		if rec[0] == failed.ID {
			found = true
			if rec[6] != "" || rec[7] != "" || rec[len(rec)-1] == "" {
				t.Errorf("CSV row %q: want empty primary_output and unit, and the error message last", rec)
			}
		}
	}
	if !found {
		t.Errorf("the CSV lacks the failed batch %s", failed.ID)
	}
}
