package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/carbon-dash/mangrove-dashboard/internal/testapp"
	"github.com/carbon-dash/mangrove-dashboard/views"
)

// TestLedgerCoverage: the seeded Net Carbon Removal ledger's page shows its
// coverage: 2024 generated (the nut shells' August in error), Q1 2025
// missing (the demo's data runs to March 2025), and a link to the preview
// of each gap.
func TestLedgerCoverage(t *testing.T) {
	t.Parallel()
	app := testapp.Start(t, testapp.Options{})
	b := app.SignedIn(t)
	id := app.LedgerByName(t, "Net Carbon Removal").ID
	r := b.Get("/ledgers/" + id)
	if r.Status != http.StatusOK {
		t.Fatalf("status %d", r.Status)
	}
	section := doc(t, r.Body).Find("section.coverage")
	table := section.Find("table")
	if table.Length() != 1 {
		t.Fatal("no coverage table")
	}
	if c := strings.TrimSpace(table.Find("caption").Text()); c != "Coverage by month and partition" {
		t.Errorf("caption %q", c)
	}
	if !strings.Contains(section.Text(), "Batches per month and partition, Jan 2024 to Mar 2025.") {
		t.Errorf("the coverage does not say its range: %q", strings.Join(strings.Fields(section.Text()), " "))
	}
	var periods []string
	table.Find(`thead th[scope="col"] .visually-hidden`).Each(func(_ int, s *goquery.Selection) { periods = append(periods, s.Text()) })
	if len(periods) != 15 || periods[0] != "January 2024" || periods[14] != "March 2025" {
		t.Fatalf("periods %q, want January 2024 to March 2025", periods)
	}
	cells := map[string][]string{} // partition → the state read out per period
	table.Find("tbody tr").Each(func(_ int, row *goquery.Selection) {
		name := strings.TrimSpace(row.Find(`th[scope="row"]`).Text())
		row.Find("td .visually-hidden").Each(func(_ int, s *goquery.Selection) { cells[name] = append(cells[name], s.Text()) })
	})
	for _, name := range []string{"Nut shells", "Wood chips"} {
		states := cells[name]
		if len(states) != 15 {
			t.Fatalf("%s: %d cells %q", name, len(states), states)
		}
		for i, s := range states {
			want := "complete"
			switch {
			case i >= 12:
				want = "missing"
			case i == 7 && name == "Nut shells":
				want = "error"
			}
			if s != want {
				t.Errorf("%s, %s: %q, want %q", name, periods[i], s, want)
			}
		}
	}

	links := map[string]string{}
	doc(t, r.Body).Find("section.coverage .coverage-gaps a").Each(func(_ int, a *goquery.Selection) {
		links[strings.TrimSpace(a.Text())] = a.AttrOr("href", "")
	})
	for label, want := range map[string][3]string{ // start, end, the preview's range
		"Generate Jan–Mar 2025": {"2025-01-01", "2025-03-31", "1 January 2025 to 31 March 2025"},
		"Generate Aug 2024":     {"2024-08-01", "2024-08-31", "1 August 2024 to 31 August 2024"},
	} {
		href, ok := links[label]
		if !ok {
			t.Errorf("no %q link among %v", label, links)
			continue
		}
		u, err := url.Parse(href)
		if err != nil || u.Path != "/ledgers/"+id+"/preview" || u.Query().Get("start_time") != want[0] || u.Query().Get("end_time") != want[1] {
			t.Errorf("%q links to %q, want the preview of %s to %s", label, href, want[0], want[1])
			continue
		}
		// The link lands on the preview of exactly that range.
		if p := b.Get(href); p.Status != http.StatusOK || !strings.Contains(p.Body, want[2]) {
			t.Errorf("GET %s: %d, without %q", href, p.Status, want[2])
		}
	}
	if len(links) != 2 {
		t.Errorf("gap links %v, want 2", links)
	}

	t.Run("ReadOnlyHasNoLinks", func(t *testing.T) {
		t.Parallel()
		app := testapp.Start(t, testapp.Options{ReadOnly: true})
		b := app.SignedIn(t)
		d := doc(t, b.Get("/ledgers/"+app.LedgerByName(t, "Net Carbon Removal").ID).Body)
		gaps := d.Find("section.coverage .coverage-gaps")
		if gaps.Find("a").Length() != 0 || !strings.Contains(gaps.Text(), "Jan–Mar 2025") {
			t.Errorf("read-only gaps %q", strings.TrimSpace(gaps.Text()))
		}
		if !strings.Contains(d.Find("section.coverage").Text(), views.ReadOnlyReason) {
			t.Error("the read-only coverage does not say why its gaps link nowhere")
		}
	})

	t.Run("DataRangeUnknown", func(t *testing.T) {
		t.Parallel()
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
		section := doc(t, b.Get("/ledgers/"+app.LedgerByName(t, "Net Carbon Removal").ID).Body).Find("section.coverage")
		text := strings.Join(strings.Fields(section.Text()), " ")
		if !strings.Contains(text, "Jan 2024 to Dec 2024") || !strings.Contains(text, "When data was recorded is unknown") {
			t.Errorf("without the data's range: %q", text)
		}
		if gaps := section.Find(".coverage-gaps a"); gaps.Length() != 1 || gaps.Text() != "Generate Aug 2024" {
			t.Errorf("gaps %q, want Aug 2024 alone", gaps.Text())
		}
	})

	t.Run("NoBatches", func(t *testing.T) {
		t.Parallel()
		d := doc(t, b.Get("/ledgers/"+app.LedgerByName(t, "Biochar Inventory").ID).Body)
		section := d.Find("section.coverage")
		// The token sees two projects and a ledger without a model names none
		// of them (internal/owners): whose data would place its periods is
		// unknown, and nothing could generate them.
		text := strings.Join(strings.Fields(section.Text()), " ")
		if section.Find("table").Length() != 0 || section.Find(".coverage-gaps a").Length() != 0 || !strings.Contains(text, "when data was recorded is unknown") {
			t.Errorf("a ledger without a model: %q", text)
		}
	})

	t.Run("OwnProjectsData", func(t *testing.T) {
		t.Parallel()
		// The second site's ledger has no batches; its project's data is Q1
		// 2025 (the first site's runs from January 2024 are not its data).
		d := doc(t, b.Get("/ledgers/"+app.LedgerByName(t, "Biochar Output").ID).Body)
		section := d.Find("section.coverage")
		text := strings.Join(strings.Fields(section.Text()), " ")
		if !strings.Contains(text, "Jan 2025 to Mar 2025") || strings.Contains(text, "2024") {
			t.Errorf("second site's coverage: %q", text)
		}
		if gaps := section.Find(".coverage-gaps a"); gaps.Length() != 1 || gaps.Text() != "Generate Jan–Mar 2025" {
			t.Errorf("gaps %q, want Jan–Mar 2025", gaps.Text())
		}
	})
}
