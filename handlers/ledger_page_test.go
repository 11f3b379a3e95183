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

// Whole-app tests of the ledger page: its chart, the preview's input data
// and the reuse of ledger metadata.

func TestLedgerChartData(t *testing.T) {
	app := testapp.Start(t, testapp.Options{})
	b := app.SignedIn(t)
	id := app.LedgerByName(t, "Net Carbon Removal").ID

	// The chart ignores the table's filters and page: the same data on any page.
	r := b.Get("/ledgers/" + id + "?page_size=10&page=2&state=complete")
	if r.Status != http.StatusOK {
		t.Fatalf("status %d", r.Status)
	}
	d := doc(t, r.Body)
	script := d.Find(`script#chart-data[type="application/json"]`)
	if script.Length() != 1 {
		t.Fatal("no JSON chart data in the page")
	}
	var chart struct {
		Unit       string     `json:"unit"`
		X          []int64    `json:"x"`
		Output     []*float64 `json:"output"`
		Cumulative []*float64 `json:"cumulative"`
		Batches    []int      `json:"batches"`
	}
	if err := json.Unmarshal([]byte(script.Text()), &chart); err != nil {
		t.Fatalf("chart data %q: %v", script.Text(), err)
	}

	// Compare with the API: batches grouped by period start.
	all := allBatches(t, app, id, mangrove.ListOptions{Sort: []string{"-start_time"}})
	type period struct {
		n      int
		output float64
	}
	want := map[int64]*period{}
	for _, bt := range all {
		p := want[bt.StartTime.Unix()]
		if p == nil {
			p = &period{}
			want[bt.StartTime.Unix()] = p
		}
		p.n++
		if bt.PrimaryOutput != nil {
			p.output += bt.PrimaryOutput.Value
		}
	}
	if len(chart.X) != len(want) || len(chart.Output) != len(want) || len(chart.Cumulative) != len(want) || len(chart.Batches) != len(want) {
		t.Fatalf("chart has %d periods (%d/%d/%d), the API %d", len(chart.X), len(chart.Output), len(chart.Cumulative), len(chart.Batches), len(want))
	}
	if chart.Unit != "t" {
		t.Errorf("unit %q", chart.Unit)
	}
	cumulative := 0.0
	for i, x := range chart.X {
		if i > 0 && x <= chart.X[i-1] {
			t.Errorf("periods not in ascending order at %d", i)
		}
		p := want[x]
		if p == nil {
			t.Errorf("period %s is not in the API", time.Unix(x, 0).UTC())
			continue
		}
		if chart.Batches[i] != p.n || chart.Output[i] == nil || diff(*chart.Output[i], p.output) > 1e-6 {
			t.Errorf("period %s: %d batches output %v; API %d batches output %v", time.Unix(x, 0).UTC(), chart.Batches[i], chart.Output[i], p.n, p.output)
		}
		// The line is the outputs added up from the chart's first period,
		// not any API figure (ledger_balance is per batch).
		cumulative += p.output
		if chart.Cumulative[i] == nil || diff(*chart.Cumulative[i], cumulative) > 1e-6 {
			t.Errorf("period %s: cumulative %v, want %v", time.Unix(x, 0).UTC(), chart.Cumulative[i], cumulative)
		}
	}

	// Hidden until the script draws it; the drawing is hidden from screen
	// readers and the caption points to the table.
	if _, hidden := d.Find("#chart-section").Attr("hidden"); !hidden {
		t.Error("the chart section is visible without JavaScript")
	}
	if v, _ := d.Find("#ledger-chart").Attr("aria-hidden"); v != "true" {
		t.Error("the chart canvas is not aria-hidden")
	}
	if d.Find(`figcaption a[href="#batches"]`).Length() != 1 {
		t.Error("the caption does not point to the batches table")
	}
	var scripts []string
	d.Find("head script[src]").Each(func(_ int, s *goquery.Selection) { scripts = append(scripts, s.AttrOr("src", "")) })
	joined := strings.Join(scripts, " ")
	if !strings.Contains(joined, "/static/vendor/uPlot-1.6.32.iife.min.") || !strings.Contains(joined, "/static/js/chart.") {
		t.Errorf("scripts %v lack uPlot or chart.js", scripts)
	}
	if d.Find(`head link[rel="stylesheet"][href*="uPlot-1.6.32.min."]`).Length() != 1 {
		t.Error("no uPlot stylesheet")
	}
	// Every asset the page names is served.
	for _, src := range scripts {
		if r := b.Get(src); r.Status != http.StatusOK {
			t.Errorf("GET %s: %d", src, r.Status)
		}
	}

	t.Run("CachedUntilAGenerationStarts", func(t *testing.T) {
		const route = "GET /api/v1/ledgers/{ledger_id}/batches"
		b.Get("/ledgers/" + id)
		before := app.Sandbox.RequestCount(route)
		b.Get("/ledgers/" + id + "?page=2&page_size=10")
		if n := app.Sandbox.RequestCount(route) - before; n != 1 {
			t.Errorf("a second view read batches %d times, want 1 (the table's page; the chart is cached)", n)
		}
		r := preview(t, b, id, url.Values{"start_time": {"2025-01-01"}, "end_time": {"2025-01-31"}})
		b.Post("/ledgers/"+id+"/generations", formValues(t, r.Body, `form[action$="/generations"]`))
		before = app.Sandbox.RequestCount(route)
		b.Get("/ledgers/" + id)
		if n := app.Sandbox.RequestCount(route) - before; n < 2 {
			t.Errorf("after a generation started the view read batches %d times: the chart was not refreshed", n)
		}
	})

	t.Run("NoBatchesNoChart", func(t *testing.T) {
		for _, l := range mustLedgers(t, app) {
			list, err := app.Client.LedgerBatches(context.Background(), app.Tokens.ReadWrite, l.ID, mangrove.ListOptions{Page: 1, PageSize: 1})
			if err != nil {
				t.Fatal(err)
			}
			if len(list.Data) > 0 {
				continue
			}
			d := doc(t, b.Get("/ledgers/"+l.ID).Body)
			if d.Find("#chart-data").Length() != 0 || d.Find(`script[src*="/js/chart."]`).Length() != 0 {
				t.Errorf("ledger %q without batches has a chart", l.Name)
			}
			return
		}
		t.Skip("every seeded ledger has batches")
	})
}

// TestLedgerPageStatesAndLabels: the state filter offers the documented
// states and those the listed batches carry (not error or failed for their
// own sake), keeps a selected one, and the per-batch ledger_balance is
// "Unallocated", explained on the page; nothing is called a ledger balance.
func TestLedgerPageStatesAndLabels(t *testing.T) {
	app := testapp.Start(t, testapp.Options{})
	b := app.SignedIn(t)
	id := app.LedgerByName(t, "Net Carbon Removal").ID

	options := func(d *goquery.Document) []string {
		var v []string
		d.Find("select#state option").Each(func(_ int, o *goquery.Selection) { v = append(v, o.AttrOr("value", "?")) })
		return v
	}
	r := b.Get("/ledgers/" + id)
	if r.Status != http.StatusOK {
		t.Fatalf("status %d", r.Status)
	}
	d := doc(t, r.Body)
	// The page lists its table's page and the chart's most recent batches.
	listed := map[string]bool{"": true, "complete": true, "processing": true}
	for _, bt := range allBatches(t, app, id, mangrove.ListOptions{Sort: []string{"-start_time"}}) {
		listed[bt.State] = true
	}
	got := options(d)
	if len(got) < 3 || got[0] != "" || got[1] != "complete" || got[2] != "processing" {
		t.Errorf("options %q, want Any, complete, processing first", got)
	}
	for _, o := range got {
		if !listed[o] {
			t.Errorf("state %q offered, but neither documented nor on a listed batch", o)
		}
	}

	t.Run("SelectedKept", func(t *testing.T) {
		d := doc(t, b.Get("/ledgers/"+id+"?state=failed").Body)
		if sel := d.Find("select#state option[selected]"); sel.AttrOr("value", "") != "failed" {
			t.Errorf("selected %q, options %q", sel.AttrOr("value", ""), options(d))
		}
		if d.Find(".field-error").Length() != 0 {
			t.Error("state=failed is refused")
		}
	})

	t.Run("Unallocated", func(t *testing.T) {
		var heads []string
		d.Find("#batches-table thead th").Each(func(_ int, th *goquery.Selection) { heads = append(heads, strings.TrimSpace(th.Text())) })
		if !strings.Contains(strings.Join(heads, "|"), "|Unallocated|") {
			t.Errorf("headers %q lack Unallocated", heads)
		}
		if c := d.Find("#batches-table caption").Text(); !strings.Contains(c, "not yet allocated") {
			t.Errorf("caption %q does not explain Unallocated", c)
		}
		if strings.Contains(strings.ToLower(r.Body), "ledger balance") {
			t.Error(`the page still says "ledger balance"`)
		}
	})
}

func diff(a, b float64) float64 {
	if a > b {
		return a - b
	}
	return b - a
}

func TestPreviewInputData(t *testing.T) {
	app := testapp.Start(t, testapp.Options{})
	b := app.SignedIn(t)
	id := app.LedgerByName(t, "Net Carbon Removal").ID
	ctx := context.Background()
	inputs, err := app.Client.RequiredInputs(ctx, app.Tokens.ReadWrite, id)
	if err != nil {
		t.Fatal(err)
	}
	// The token sees two projects; the ledger is the first site's, and the
	// second site has pyrolysis runs in the range, which must not be counted.
	projects, err := app.Client.Projects(ctx, app.Tokens.ReadWrite)
	if err != nil || len(projects) != 2 || projects[0].Name != "Cedar Ridge Biochar" {
		t.Fatalf("projects %v %v", projects, err)
	}
	own, other := projects[0].ID, projects[1].ID
	inRange := func(project int64, typeID int64) int {
		t.Helper()
		list, err := app.Client.DataPoints(ctx, app.Tokens.ReadWrite, project, mangrove.ListOptions{Page: 1, PageSize: 1, Filters: []mangrove.Filter{
			{Field: "data_point_type_id", Value: strconv.FormatInt(typeID, 10)},
			{Field: "start_time", Op: "geq", Value: "2025-01-01T00:00:00Z"},
			{Field: "start_time", Op: "leq", Value: "2025-03-31T23:59:59Z"},
		}})
		if err != nil {
			t.Fatal(err)
		}
		return list.Info.TotalItems
	}
	var produced mangrove.RequiredInput
	for _, in := range inputs {
		if in.Slug == "biochar-mass-produced" {
			produced = in
		}
	}
	if produced.ID == 0 || inRange(other, produced.ID) == 0 {
		t.Fatal("the second site has no biochar-mass-produced data in the range: the test would prove nothing")
	}
	skipped := inputs[1]
	r := preview(t, b, id, url.Values{"start_time": {"2025-01-01"}, "end_time": {"2025-03-31"},
		"skipped_data_point_type_ids": {strconv.FormatInt(skipped.ID, 10)}})
	if r.Status != http.StatusOK {
		t.Fatalf("preview: %d %.300s", r.Status, r.Body)
	}
	d := doc(t, r.Body)
	rows := d.Find("#input-data tbody tr")
	if rows.Length() != len(inputs) {
		t.Fatalf("%d rows for %d required inputs", rows.Length(), len(inputs))
	}
	start, _ := time.Parse(time.RFC3339, "2025-01-01T00:00:00Z")
	end, _ := time.Parse(time.RFC3339, "2025-03-31T23:59:59Z")
	states := map[string]int{}
	for _, in := range inputs {
		row := d.Find(`#input-data tr[data-input="` + in.Slug + `"]`)
		state := row.AttrOr("data-state", "")
		states[state]++
		cell := strings.TrimSpace(row.Find("td").Text())
		if in.ID == skipped.ID {
			if state != "skipped" || cell != "Skipped" {
				t.Errorf("skipped input %s: state %q cell %q", in.Slug, state, cell)
			}
			continue
		}
		list, err := app.Client.DataPoints(ctx, app.Tokens.ReadWrite, own, mangrove.ListOptions{Page: 1, PageSize: 1, Filters: []mangrove.Filter{
			{Field: "data_point_type_id", Value: strconv.FormatInt(in.ID, 10)},
			{Field: "start_time", Op: "geq", Value: start.Format(time.RFC3339)},
			{Field: "start_time", Op: "leq", Value: end.Format(time.RFC3339)},
		}})
		if err != nil {
			t.Fatal(err)
		}
		switch n := list.Info.TotalItems; {
		case n > 0 && (state != "found" || cell != strconv.Itoa(n)):
			t.Errorf("input %s: page says %q (%s), the API counts %d", in.Slug, cell, state, n)
		case n == 0 && state != "none" && state != "earlier":
			t.Errorf("input %s has no data in range but shows %q (%s)", in.Slug, cell, state)
		}
	}
	if states["found"] == 0 {
		t.Error("no input shows data: the demo quarter has data")
	}
	// The site's soil temperature is recorded once, before the range: it applies.
	soil := d.Find(`#input-data tr[data-input="soil-temperature"]`)
	if soil.AttrOr("data-state", "") != "earlier" || !strings.Contains(soil.Text(), "applies") {
		t.Errorf("static soil temperature shows %q (%s)", strings.TrimSpace(soil.Find("td").Text()), soil.AttrOr("data-state", ""))
	}

	t.Run("GapWarns", func(t *testing.T) {
		// 2023 has no data at all in the demo project.
		r := preview(t, b, id, url.Values{"start_time": {"2023-01-01"}, "end_time": {"2023-01-31"}})
		d := doc(t, r.Body)
		none := d.Find(`#input-data tr[data-state="none"]`)
		if none.Length() == 0 || !none.First().HasClass("row-warning") || none.Find(".badge-warning").Length() == 0 {
			t.Fatalf("no highlighted gap for an empty range: %d rows", none.Length())
		}
		if !strings.Contains(d.Find(".callout-warning").Text(), "No data points in this range for") {
			t.Error("no warning names the inputs without data")
		}
	})

	t.Run("EndpointMissingShowsUnknown", func(t *testing.T) {
		app := testapp.Start(t, testapp.Options{WrapSandbox: func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasPrefix(r.URL.Path, "/api/v1/projects") {
					http.Error(w, `{"message":"Not found"}`, http.StatusNotFound)
					return
				}
				next.ServeHTTP(w, r)
			})
		}})
		b := app.SignedIn(t)
		r := preview(t, b, app.LedgerByName(t, "Net Carbon Removal").ID, url.Values{"start_time": {"2025-01-01"}, "end_time": {"2025-03-31"}})
		if r.Status != http.StatusOK {
			t.Fatalf("preview without the data point endpoint: %d", r.Status)
		}
		d := doc(t, r.Body)
		if n := d.Find(`#input-data tr[data-state="unknown"]`).Length(); n != len(inputs) {
			t.Errorf("%d of %d inputs unknown", n, len(inputs))
		}
		if !strings.Contains(d.Find("#input-data").Text(), "Unknown") {
			t.Error("no \"Unknown\" shown")
		}
	})
}

// TestRepeatedViewsReuseLedgerMetadata: browsing back and forth reads a ledger's
// metadata and batch lists once per short window; confirming a generation
// forgets them.
func TestRepeatedViewsReuseLedgerMetadata(t *testing.T) {
	t.Parallel()
	app := testapp.Start(t, testapp.Options{StepDelay: 10 * time.Millisecond})
	b := app.SignedIn(t)
	ncr := app.LedgerByName(t, "Net Carbon Removal").ID
	count := func(route string) int64 { return app.Sandbox.RequestCount(route) }
	lists0, ledger0, inputs0 := count("GET /api/v1/ledgers"), count("GET /api/v1/ledgers/{ledger_id}"), count("GET /api/v1/ledgers/{ledger_id}/required_inputs")
	batches0 := count("GET /api/v1/ledgers/{ledger_id}/batches")
	for range 3 {
		if r := b.Get("/ledgers"); r.Status != http.StatusOK {
			t.Fatalf("ledgers: %d", r.Status)
		}
		if r := b.Get("/ledgers/" + ncr); r.Status != http.StatusOK {
			t.Fatalf("ledger: %d", r.Status)
		}
	}
	if n := count("GET /api/v1/ledgers") - lists0; n != 1 {
		t.Errorf("3 views of the list read the ledgers %d times, want 1", n)
	}
	if n := count("GET /api/v1/ledgers/{ledger_id}") - ledger0; n != 1 {
		t.Errorf("3 views of a ledger read it %d times, want 1", n)
	}
	if n := count("GET /api/v1/ledgers/{ledger_id}/required_inputs") - inputs0; n != 1 {
		t.Errorf("3 views of a ledger read its inputs %d times, want 1", n)
	}
	// The first view reads the table's page and the chart's two pages at once;
	// the next two are served from the cache.
	if n := count("GET /api/v1/ledgers/{ledger_id}/batches") - batches0; n != 3 {
		t.Errorf("3 views of a ledger read batch lists %d times, want 3 (the first view's table and chart pages)", n)
	}

	// A confirmed generation forgets what the token read.
	b.Get("/ledgers/" + ncr + "/generate")
	if r, _ := confirmThroughUI(t, b, ncr, "2025-01-01", "2025-01-31"); r.Status != http.StatusSeeOther {
		t.Fatalf("confirm: %d %.300s", r.Status, r.Body)
	}
	ledger1, batches1 := count("GET /api/v1/ledgers/{ledger_id}"), count("GET /api/v1/ledgers/{ledger_id}/batches")
	b.Get("/ledgers/" + ncr)
	if n := count("GET /api/v1/ledgers/{ledger_id}") - ledger1; n != 1 {
		t.Errorf("the ledger page after a confirmed generation read the ledger %d times, want 1", n)
	}
	if n := count("GET /api/v1/ledgers/{ledger_id}/batches") - batches1; n != 3 {
		t.Errorf("the ledger page after a confirmed generation read batch lists %d times, want 3 (read anew)", n)
	}
}
