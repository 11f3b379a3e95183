package handlers_test

import (
	"context"
	"fmt"
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

// confirmRange previews a range of a ledger and confirms it, as a browser
// does, and returns the task id the confirmation redirected to.
func confirmRange(t *testing.T, b *testapp.Browser, ledgerID, start, end string) int64 {
	t.Helper()
	r := preview(t, b, ledgerID, url.Values{"start_time": {start}, "end_time": {end}})
	if r.Status != http.StatusOK {
		t.Fatalf("preview: %d %.300s", r.Status, r.Body)
	}
	r = b.Post("/ledgers/"+ledgerID+"/generations", formValues(t, r.Body, `form[action$="/generations"]`))
	id, err := strconv.ParseInt(strings.TrimPrefix(r.Location, "/tasks/"), 10, 64)
	if r.Status != http.StatusSeeOther || err != nil {
		t.Fatalf("confirm: %d to %q", r.Status, r.Location)
	}
	return id
}

// historyRow is a row of the history table, cell texts by column header.
type historyRow struct {
	link  string // the first cell's link
	cells map[string]string
}

func historyRows(t *testing.T, d *goquery.Document) []historyRow {
	t.Helper()
	var headers []string
	d.Find("main table thead th").Each(func(_ int, s *goquery.Selection) { headers = append(headers, s.Text()) })
	var rows []historyRow
	d.Find("main table tbody tr").Each(func(_ int, tr *goquery.Selection) {
		r := historyRow{cells: map[string]string{}}
		r.link, _ = tr.Find("th a").Attr("href")
		tr.Children().Each(func(i int, c *goquery.Selection) {
			r.cells[headers[i]] = strings.Join(strings.Fields(c.Text()), " ")
		})
		rows = append(rows, r)
	})
	return rows
}

// TestHistory confirms two generations on two ledgers by two users of one
// token, then reads the history as they would: every column, each filter,
// the form keeping its values, and the CSV following the filters.
func TestHistory(t *testing.T) {
	app := testapp.Start(t, testapp.Options{})
	ncr := app.LedgerByName(t, "Net Carbon Removal")
	bp := app.LedgerByName(t, "Biochar Produced")
	b := app.SignedIn(t) // "Test User"
	ana := app.NewBrowser(t)
	if r := ana.Post("/signin", url.Values{"token": {app.Tokens.ReadWrite}, "name": {"Ana Second"}}); r.Status != http.StatusSeeOther {
		t.Fatalf("sign in: %d", r.Status)
	}
	ncrTask := confirmRange(t, b, ncr.ID, "2025-01-01", "2025-03-31")
	bpTask := confirmRange(t, ana, bp.ID, "2025-02-01", "2025-02-28")

	th := mangrove.TokenHash(app.Tokens.ReadWrite)
	byTask := map[int64]store.Generation{}
	testapp.WaitFor(t, 60*time.Second, "both generations to be recorded as finished", func() bool {
		gens, _, err := app.Store.Generations(context.Background(), th, store.GenerationFilter{}, 10, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range gens {
			if !g.Terminal() {
				return false
			}
			byTask[*g.TaskID] = g
		}
		return len(gens) == 2
	})
	for _, g := range byTask {
		if g.State != store.StateComplete {
			t.Fatalf("generation %+v did not complete", g)
		}
	}
	previewed := func(task int64) int { n, _ := byTask[task].PreviewedTotal(); return n }

	// Opening a finished task counts the batches its run wrote.
	for _, id := range []int64{ncrTask, bpTask} {
		if r := b.Get(fmt.Sprintf("/tasks/%d", id)); r.Status != http.StatusOK {
			t.Fatalf("task %d: %d", id, r.Status)
		}
	}

	t.Run("Columns", func(t *testing.T) {
		d := doc(t, b.Get("/tasks").Body)
		rows := historyRows(t, d)
		if len(rows) != 2 {
			t.Fatalf("%d rows", len(rows))
		}
		wantRows := []struct {
			task          int64
			what, by, rng string
		}{
			{bpTask, "Biochar Produced", "Ana Second", "Feb 2025"},
			{ncrTask, "Net Carbon Removal", "Test User", "Jan–Mar 2025"},
		}
		for i, w := range wantRows {
			r, g := rows[i], byTask[w.task]
			if r.link != fmt.Sprintf("/tasks/%d", w.task) {
				t.Errorf("row %d links %q, want task %d", i, r.link, w.task)
			}
			if want := fmt.Sprintf("%s %s Task %d", w.what, w.rng, w.task); r.cells["Generation"] != want {
				t.Errorf("row %d first cell %q, want %q", i, r.cells["Generation"], want)
			}
			if r.cells["By"] != w.by {
				t.Errorf("row %d by %q, want %q", i, r.cells["By"], w.by)
			}
			if want := g.CreatedAt.UTC().Format("2006-01-02 15:04:05") + " UTC"; r.cells["Confirmed"] != want {
				t.Errorf("row %d confirmed %q, want %q", i, r.cells["Confirmed"], want)
			}
			if d := r.cells["Duration"]; !strings.HasSuffix(d, " s") || d == "running" {
				t.Errorf("row %d duration %q", i, d)
			}
			if want := fmt.Sprintf("%[1]d of %[1]d written", previewed(w.task)); r.cells["Batches"] != want {
				t.Errorf("row %d batches %q, want %q", i, r.cells["Batches"], want)
			}
			if r.cells["State"] != "complete" {
				t.Errorf("row %d state %q", i, r.cells["State"])
			}
		}
		if got := d.Find(".muted").Last().Text(); got != "2 generations" {
			t.Errorf("count %q", got)
		}
		// The filters offer this token's ledgers and users, and every state.
		for sel, want := range map[string]string{
			"#ledger option": "Any ledger|Biochar Produced|Net Carbon Removal",
			"#user option":   "Anyone|Ana Second|Test User",
			"#state option":  "Any state|" + strings.Join(store.States, "|"),
		} {
			if got := strings.Join(d.Find(sel).Map(func(_ int, s *goquery.Selection) string { return s.Text() }), "|"); got != want {
				t.Errorf("%s: %q, want %q", sel, got, want)
			}
		}
		if d.Find(`a.filters-clear`).Length() != 0 {
			t.Error("Clear filters shown without filters")
		}
		if href, _ := d.Find(`a.filters-export`).Attr("href"); href != "/tasks.csv" {
			t.Errorf("export link %q", href)
		}
	})

	tests := []struct {
		name    string
		query   url.Values
		tasks   []int64 // newest first
		errKeys []string
	}{
		{"ByLedger", url.Values{"ledger": {ncr.ID}}, []int64{ncrTask}, nil},
		{"ByOtherLedger", url.Values{"ledger": {bp.ID}}, []int64{bpTask}, nil},
		{"ByStateComplete", url.Values{"state": {"complete"}}, []int64{bpTask, ncrTask}, nil},
		{"ByStateFailed", url.Values{"state": {"failed"}}, nil, nil},
		{"ByUser", url.Values{"user": {"Test User"}}, []int64{ncrTask}, nil},
		{"ByAll", url.Values{"ledger": {bp.ID}, "state": {"complete"}, "user": {"Ana Second"}}, []int64{bpTask}, nil},
		{"UnknownUser", url.Values{"user": {"Nobody"}}, nil, nil},
		{"InvalidValuesIgnored", url.Values{"state": {"running"}, "ledger": {"no/such"}}, []int64{bpTask, ncrTask}, []string{"state", "ledger"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := b.Get("/tasks?" + tt.query.Encode())
			if r.Status != http.StatusOK {
				t.Fatalf("status %d", r.Status)
			}
			d := doc(t, r.Body)
			var got []int64
			for _, row := range historyRows(t, d) {
				id, _ := strconv.ParseInt(strings.TrimPrefix(row.link, "/tasks/"), 10, 64)
				got = append(got, id)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.tasks) {
				t.Errorf("tasks %v, want %v", got, tt.tasks)
			}
			for _, k := range tt.errKeys {
				if d.Find("#"+k+"-error").Text() == "" {
					t.Errorf("no message for %s", k)
				}
				if v, _ := d.Find("#" + k + " option[selected]").Attr("value"); v != "" {
					t.Errorf("%s keeps the invalid value %q", k, v)
				}
			}
			if len(tt.errKeys) > 0 {
				return
			}
			// The form shows what is applied, and offers to clear it.
			for _, k := range []string{"ledger", "state", "user"} {
				if v, _ := d.Find("#" + k + " option[selected]").Attr("value"); v != tt.query.Get(k) {
					t.Errorf("%s selected %q, want %q", k, v, tt.query.Get(k))
				}
			}
			if href, _ := d.Find("a.filters-clear").Attr("href"); href != "/tasks" {
				t.Errorf("Clear filters link %q", href)
			}
			if len(tt.tasks) == 0 {
				if !strings.Contains(d.Find("p.empty").Text(), "No generation matches these filters") {
					t.Errorf("no empty message: %q", d.Find("main").Text())
				}
				return
			}
			if href, _ := d.Find("a.filters-export").Attr("href"); href != "/tasks.csv?"+tt.query.Encode() {
				t.Errorf("export link %q, want the filters", href)
			}
			if want := "1 generation"; len(tt.tasks) == 1 && d.Find(".muted").Last().Text() != want {
				t.Errorf("count %q, want %q", d.Find(".muted").Last().Text(), want)
			}
		})
	}

	t.Run("CSVFollowsFilters", func(t *testing.T) {
		r := b.Get("/tasks.csv?" + url.Values{"ledger": {ncr.ID}}.Encode())
		if r.Status != http.StatusOK {
			t.Fatalf("status %d", r.Status)
		}
		rows := parseCSV(t, r.Body)
		if len(rows) != 2 {
			t.Fatalf("%d lines, want the header and the one Net Carbon Removal run:\n%s", len(rows), r.Body)
		}
		g := byTask[ncrTask]
		row := rows[1]
		n := previewed(ncrTask)
		wantDuration := strconv.Itoa(int(g.FinishedAt.Sub(g.CreatedAt).Round(time.Second).Seconds()))
		if row[3] != ncr.ID || row[9] != strconv.FormatInt(ncrTask, 10) || row[13] != wantDuration ||
			row[14] != strconv.Itoa(n) || row[15] != strconv.Itoa(n) {
			t.Errorf("row %q, want task %d on %s, %s s, %d previewed and written", row, ncrTask, ncr.ID, wantDuration, n)
		}
		r = b.Get("/tasks.csv?state=failed")
		if rows := parseCSV(t, r.Body); r.Status != http.StatusOK || len(rows) != 1 {
			t.Errorf("failed runs: status %d, %d lines, want the header alone", r.Status, len(rows))
		}
	})
}
