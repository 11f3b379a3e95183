package handlers_test

import (
	"context"
	"encoding/csv"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/handlers"
	"github.com/carbon-dash/mangrove-dashboard/internal/testapp"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/store"
)

func parseCSV(t *testing.T, body string) [][]string {
	t.Helper()
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("CSV: %v\n%.500s", err, body)
	}
	return rows
}

// allBatches pages through the API the way a person would check the export.
func allBatches(t *testing.T, app *testapp.App, id string, opts mangrove.ListOptions) []mangrove.Batch {
	t.Helper()
	var out []mangrove.Batch
	for page := 1; ; page++ {
		opts.Page, opts.PageSize = page, 10
		l, err := app.Client.LedgerBatches(context.Background(), app.Tokens.ReadWrite, id, opts)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, l.Data...)
		if l.Info == nil || l.Info.NextPage == nil {
			return out
		}
	}
}

func TestExportBatchesCSV(t *testing.T) {
	defer handlers.SetExportPageSize(7)() // several pages from the 24 seeded batches
	app := testapp.Start(t, testapp.Options{})
	b := app.SignedIn(t)
	id := app.LedgerByName(t, "Net Carbon Removal").ID

	// The ledger page links the export with its filters.
	page := doc(t, b.Get("/ledgers/"+id+"?state=complete&sort=start_time&page_size=10").Body)
	href, _ := page.Find(`a[href*="/batches.csv"]`).Attr("href")
	if href != "/ledgers/"+id+"/batches.csv?sort=start_time&state=complete" {
		t.Fatalf("export link %q", href)
	}

	tests := []struct {
		name  string
		query string
		opts  mangrove.ListOptions
	}{
		{"Filtered", "?sort=start_time&state=complete", mangrove.ListOptions{Sort: []string{"start_time"}, Filters: []mangrove.Filter{{Field: "state", Op: "eq", Value: "complete"}}}},
		{"Defaults", "", mangrove.ListOptions{Sort: []string{"-start_time"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := b.Get("/ledgers/" + id + "/batches.csv" + tt.query)
			if r.Status != http.StatusOK {
				t.Fatalf("status %d %.300s", r.Status, r.Body)
			}
			if ct := r.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			if cd := r.Header.Get("Content-Disposition"); cd != `attachment; filename="batches-`+id+`.csv"` {
				t.Errorf("Content-Disposition %q", cd)
			}
			rows := parseCSV(t, r.Body)
			want := allBatches(t, app, id, tt.opts)
			if len(want) <= 7 {
				t.Fatalf("the test needs more than one export page: %d batches", len(want))
			}
			if strings.Join(rows[0], ",") != "id,tracking_id,start_time,end_time,state,feedstock,primary_output,unit,ledger_balance,created_at,error_message" {
				t.Fatalf("header %v", rows[0])
			}
			if len(rows)-1 != len(want) {
				t.Fatalf("%d rows, the API has %d batches", len(rows)-1, len(want))
			}
			// Batches sharing a period may come in either order from one
			// page size to another: match rows by id, and check the sort.
			byID := map[string][]string{}
			for i, row := range rows[1:] {
				byID[row[0]] = row
				if i > 0 {
					prev, cur := rows[i][2], row[2]
					if (tt.opts.Sort[0] == "start_time" && cur < prev) || (tt.opts.Sort[0] == "-start_time" && cur > prev) {
						t.Errorf("row %d starts %s after %s: not sorted by %s", i+1, cur, prev, tt.opts.Sort[0])
					}
				}
			}
			for _, bt := range want {
				row, ok := byID[bt.ID]
				if !ok {
					t.Errorf("batch %s missing from the export", bt.ID)
					continue
				}
				if row[1] != deref(bt.TrackingID) || row[2] != bt.StartTime.UTC().Format(time.RFC3339) ||
					row[3] != bt.EndTime.UTC().Format(time.RFC3339) || row[4] != bt.State || row[9] != bt.CreatedAt.UTC().Format(time.RFC3339) {
					t.Errorf("row %v does not match batch %s", row, bt.ID)
				}
				switch {
				case bt.Failed(): // the API's 0 is no result: left empty, the reason last
					if row[6] != "" || row[10] == "" {
						t.Errorf("failed batch %s: output %q, error %q; want none and the reason", bt.ID, row[6], row[10])
					}
				case bt.PrimaryOutput != nil:
					if v, err := strconv.ParseFloat(row[6], 64); err != nil || v != bt.PrimaryOutput.Value || row[7] != bt.PrimaryOutput.Unit {
						t.Errorf("batch %s output %q %q, API %v %s", bt.ID, row[6], row[7], bt.PrimaryOutput.Value, bt.PrimaryOutput.Unit)
					}
				}
				if bt.LedgerBalance != nil {
					if v, err := strconv.ParseFloat(row[8], 64); err != nil || v != *bt.LedgerBalance {
						t.Errorf("batch %s balance %q, API %v", bt.ID, row[8], *bt.LedgerBalance)
					}
				}
				if row[5] == "" {
					t.Errorf("batch %s has no feedstock (the seeded ledger is partitioned by feedstock)", bt.ID)
				}
				if tt.opts.Filters != nil && row[4] != "complete" {
					t.Errorf("batch %s in state %s passed the state filter", bt.ID, row[4])
				}
			}
		})
	}
	t.Run("UnknownLedger", func(t *testing.T) {
		r := b.Get("/ledgers/lgr_doesnotexist/batches.csv")
		if r.Status != http.StatusNotFound || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("status %d type %q", r.Status, r.Header.Get("Content-Type"))
		}
	})
	t.Run("SignedOut", func(t *testing.T) {
		r := app.NewBrowser(t).Get("/ledgers/" + id + "/batches.csv")
		if r.Status != http.StatusSeeOther {
			t.Fatalf("status %d", r.Status)
		}
	})
}

// A page that fails after the download started breaks the connection: the
// browser reports a failed download instead of keeping a short file.
func TestExportBatchesFailsMidway(t *testing.T) {
	defer handlers.SetExportPageSize(5)()
	var failPage2 atomic.Bool
	app := testapp.Start(t, testapp.Options{WrapSandbox: func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if failPage2.Load() && strings.HasSuffix(r.URL.Path, "/batches") && r.URL.Query().Get("page") == "2" {
				http.Error(w, `{"message":"boom"}`, http.StatusInternalServerError)
				return
			}
			next.ServeHTTP(w, r)
		})
	}})
	b := app.SignedIn(t)
	id := app.LedgerByName(t, "Net Carbon Removal").ID
	failPage2.Store(true)
	resp, err := b.HTTP.Get(app.URL + "/ledgers/" + id + "/batches.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Fatal("the download ended normally although a page failed")
	}
}

func TestExportHistoryCSV(t *testing.T) {
	app := testapp.Start(t, testapp.Options{})
	b := app.SignedIn(t)
	id := app.LedgerByName(t, "Net Carbon Removal").ID
	var locations []string
	for _, rng := range [][2]string{{"2025-01-01", "2025-01-31"}, {"2025-02-01", "2025-02-28"}} {
		r := preview(t, b, id, url.Values{"start_time": {rng[0]}, "end_time": {rng[1]}})
		r = b.Post("/ledgers/"+id+"/generations", formValues(t, r.Body, `form[action$="/generations"]`))
		if r.Status != http.StatusSeeOther {
			t.Fatalf("confirm: %d", r.Status)
		}
		locations = append(locations, r.Location)
	}
	// Another token's generation is not in this export.
	other := app.NewBrowser(t)
	other.SignIn(app.Tokens.ReadOnly)
	r := preview(t, other, id, url.Values{"start_time": {"2025-03-01"}, "end_time": {"2025-03-31"}})
	other.Post("/ledgers/"+id+"/generations", formValues(t, r.Body, `form[action$="/generations"]`))

	// The export is compared with the store below. Each run's row changes
	// once more when its watcher sees the task end (state, finished_at), so
	// wait until both are recorded as finished: then neither read can catch
	// a row the other does not.
	th := mangrove.TokenHash(app.Tokens.ReadWrite)
	testapp.WaitFor(t, 60*time.Second, "both generations to be recorded as finished", func() bool {
		gens, total, err := app.Store.Generations(context.Background(), th, store.GenerationFilter{}, 100, 0)
		if err != nil {
			t.Fatalf("store: %v", err)
		}
		if total != len(locations) {
			return false
		}
		for _, g := range gens {
			if !g.Terminal() {
				return false
			}
		}
		return true
	})

	if href, _ := doc(t, b.Get("/tasks").Body).Find(`a[href="/tasks.csv"]`).Attr("href"); href == "" {
		t.Error("the history page does not link the export")
	}
	r = b.Get("/tasks.csv")
	if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "text/csv; charset=utf-8" ||
		r.Header.Get("Content-Disposition") != `attachment; filename="generation-history.csv"` {
		t.Fatalf("status %d headers %v", r.Status, r.Header)
	}
	rows := parseCSV(t, r.Body)
	// The first thirteen columns keep their names and places; new ones are appended.
	if strings.Join(rows[0], ",") != "id,confirmed_at,user,ledger_id,ledger_name,start_time,end_time,parameters,preview_seen,task_id,state,error,finished_at,"+
		"duration_seconds,previewed,written" {
		t.Fatalf("header %v", rows[0])
	}
	gens, total, err := app.Store.Generations(context.Background(), th, store.GenerationFilter{}, 100, 0)
	if err != nil || total != 2 {
		t.Fatalf("store: %d generations (%v)", total, err)
	}
	if len(rows)-1 != len(gens) {
		t.Fatalf("%d rows, %d generations for the token", len(rows)-1, len(gens))
	}
	for i, g := range gens {
		row := rows[i+1]
		if row[0] != strconv.FormatInt(g.ID, 10) || row[2] != "Test User" || row[3] != id || row[4] != g.LedgerName ||
			row[5] != g.StartTime.UTC().Format(time.RFC3339) || row[10] != g.State || row[9] != strconv.FormatInt(*g.TaskID, 10) {
			t.Errorf("row %d %v does not match generation %+v", i+1, row, g)
		}
		if !strings.Contains(strings.Join(locations, " "), "/tasks/"+row[9]) {
			t.Errorf("row %d names task %s, not one this user started", i+1, row[9])
		}
		if !strings.Contains(row[8], "Net Carbon Removal:") {
			t.Errorf("row %d preview %q", i+1, row[8])
		}
		// The written count is empty until the run's batches were counted,
		// never a guess.
		if n, _ := g.PreviewedTotal(); row[13] == "" || row[14] != strconv.Itoa(n) || (row[15] != "" && row[15] != strconv.Itoa(n)) {
			t.Errorf("row %d duration %q previewed %q written %q, want a duration, %d and empty or %[5]d", i+1, row[13], row[14], row[15], n)
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
