package handlers_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/carbon-dash/mangrove-dashboard/internal/testapp"
)

// TestLedgersByProject: the demo token sees two projects; /ledgers shows
// each project's ledgers under its name, and the ledger without a model,
// whose project Mangrove does not tell, under "Other" with a note. A token
// of one project gets one table without headings.
func TestLedgersByProject(t *testing.T) {
	t.Parallel()
	app := testapp.Start(t, testapp.Options{})
	projects, err := app.Client.Projects(context.Background(), app.Tokens.ReadWrite)
	if err != nil || len(projects) != 2 {
		t.Fatalf("projects %v %v", projects, err)
	}
	r := app.SignedIn(t).Get("/ledgers")
	if r.Status != http.StatusOK {
		t.Fatalf("status %d", r.Status)
	}
	d := doc(t, r.Body)
	got := map[string][]string{}
	var order []string
	d.Find("section.ledger-group").Each(func(_ int, s *goquery.Selection) {
		name := strings.TrimSpace(s.Find("h2").Contents().First().Text())
		order = append(order, name)
		s.Find("tbody th a").Each(func(_ int, a *goquery.Selection) { got[name] = append(got[name], a.Text()) })
	})
	want := map[string][]string{
		projects[0].Name: {"Net Carbon Removal", "Biochar Produced"},
		projects[1].Name: {"Biochar Output"},
		"Other":          {"Biochar Inventory"},
	}
	if strings.Join(order, "|") != projects[0].Name+"|"+projects[1].Name+"|Other" {
		t.Fatalf("sections %v, want the projects in the API's order, then Other", order)
	}
	for name, ls := range want {
		if strings.Join(got[name], "|") != strings.Join(ls, "|") {
			t.Errorf("%s lists %v, want %v", name, got[name], ls)
		}
	}
	if note := d.Find("#project-other").Parent().Find(".hint").Text(); !strings.Contains(note, "does not name its project") {
		t.Errorf("Other's note %q", note)
	}
	if d.Find("tbody tr").Length() != 4 {
		t.Errorf("%d rows, want the 4 ledgers once each", d.Find("tbody tr").Length())
	}

	t.Run("OneProject", func(t *testing.T) {
		b := app.NewBrowser(t)
		b.SignIn(app.Tokens.Other)
		d := doc(t, b.Get("/ledgers").Body)
		if d.Find("h2").Length() != 0 || d.Find("tbody tr").Length() != 1 || d.Find(".hint").Length() != 0 {
			t.Errorf("one project's list has headings or notes: %d h2, %d rows", d.Find("h2").Length(), d.Find("tbody tr").Length())
		}
	})
}
