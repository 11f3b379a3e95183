package views

import (
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
)

// TestLedgersPageGroups: ledgers of several projects are shown under their
// project's name, one table each, with the untold ones last under "Other"
// and its note; one project's ledgers are one table without a heading.
func TestLedgersPageGroups(t *testing.T) {
	row := func(id, name string) LedgerRow { return LedgerRow{ID: id, Name: name, ModelName: "m"} }
	d := renderDoc(t, LedgersPage(LedgersPageProps{Groups: []LedgerGroup{
		{Heading: "Cedar Ridge Biochar", ID: "project-101", Ledgers: []LedgerRow{row("lgr_a", "Net Carbon Removal"), row("lgr_b", "Biochar Produced")}},
		{Heading: "Juniper Flats Biochar", ID: "project-303", Ledgers: []LedgerRow{row("lgr_c", "Biochar Output")}},
		{Heading: "Empty Site", ID: "project-404"},
		{Heading: "Other", ID: "project-other", Note: "Mangrove does not say", Ledgers: []LedgerRow{{ID: "lgr_d", Name: "Biochar Inventory"}}},
	}}))
	want := map[string][]string{
		"Cedar Ridge Biochar":   {"Net Carbon Removal", "Biochar Produced"},
		"Juniper Flats Biochar": {"Biochar Output"},
		"Empty Site":            nil,
		"Other":                 {"Biochar Inventory"},
	}
	sections := d.Find("section.ledger-group")
	if sections.Length() != len(want) {
		t.Fatalf("%d project sections, want %d", sections.Length(), len(want))
	}
	for i := range sections.Length() {
		s := sections.Eq(i)
		h := s.Find("h2")
		id, _ := s.Attr("aria-labelledby")
		if hid, _ := h.Attr("id"); hid == "" || hid != id {
			t.Errorf("section %d labelled by %q, heading id %q", i, id, hid)
		}
		name := strings.TrimSpace(h.Contents().First().Text())
		names, ok := want[name]
		if !ok {
			t.Errorf("unexpected heading %q", h.Text())
			continue
		}
		var got []string
		s.Find("tbody th a").Each(func(_ int, a *goquery.Selection) { got = append(got, a.Text()) })
		if strings.Join(got, "|") != strings.Join(names, "|") {
			t.Errorf("%s lists %v, want %v", name, got, names)
		}
		if len(names) == 0 && s.Find(".empty").Length() != 1 {
			t.Errorf("%s without ledgers does not say so", name)
		}
		if label, _ := s.Find(".table-wrap").Attr("aria-label"); len(names) > 0 && label != "Ledgers of "+name {
			t.Errorf("%s table labelled %q", name, label)
		}
	}
	if note := sections.Last().Find(".hint").Text(); note != "Mangrove does not say" {
		t.Errorf("Other's note %q", note)
	}
	if got := strings.TrimSpace(sections.First().Find("h2 .muted").Text()); got != "2 ledgers" {
		t.Errorf("count %q", got)
	}

	one := renderDoc(t, LedgersPage(LedgersPageProps{Groups: []LedgerGroup{{Ledgers: []LedgerRow{row("lgr_a", "Net Carbon Removal")}}}}))
	if one.Find("h2").Length() != 0 || one.Find("section").Length() != 0 || one.Find("tbody tr").Length() != 1 {
		t.Error("one project's ledgers are not a single table without a heading")
	}
	none := renderDoc(t, LedgersPage(LedgersPageProps{Groups: []LedgerGroup{{Heading: "A", ID: "project-1"}}}))
	if none.Find(".empty").Text() != "No ledgers are visible to this token." || none.Find("h2").Length() != 0 {
		t.Error("no ledgers at all is not one empty state")
	}
}
