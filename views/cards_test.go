package views

import (
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"
)

// TestCardLabels checks the tables that turn into cards on a phone (class
// "cards", static/css/app.css "Phones"): each data cell's data-label, the
// name shown above its value there, is its column's header, so the card
// says what the table says. Only a cell whose header is visually hidden
// (a row's actions) goes without.
func TestCardLabels(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	jan := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	batch := BatchRow{ID: "bat_1", TrackingID: "Jan-2025-001", Feedstock: "Wood chips", Start: jan, End: jan.AddDate(0, 1, 0).Add(-time.Second),
		State: "error", Error: "required input missing", Output: f(1), OutputUnit: "t", Unallocated: f(2), CreatedAt: jan, LedgerID: "lgr_a"}
	tests := []struct {
		name string
		c    templ.Component
	}{
		{"Ledgers", LedgersPage(LedgersPageProps{Groups: []LedgerGroup{{Ledgers: []LedgerRow{
			{ID: "lgr_a", Name: "Net Carbon Removal", Unit: "t", Cadence: "monthly", PartitionType: "feedstock", ModelName: "Biochar v1", UpdatedAt: jan},
			{ID: "lgr_b", Name: "Biochar Inventory", UpdatedAt: jan},
		}}}})},
		{"Batches", BatchesTable([]BatchRow{batch})},
		{"Written", TaskOutcomePart(TaskOutcome{TaskID: 1, State: "complete", Ledgers: []WrittenLedger{
			{LedgerID: "lgr_a", LedgerName: "Net Carbon Removal", Previewed: 2, Unit: "t",
				Rows: []WrittenRow{{BatchRow: batch, Replaced: true, Old: f(3)}, {BatchRow: batch}}},
		}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := renderDoc(t, tt.c)
			tables := d.Find(".table-wrap.cards table")
			if tables.Length() == 0 {
				t.Fatal("no table in a .table-wrap.cards")
			}
			tables.Each(func(_ int, table *goquery.Selection) {
				heads := table.Find("thead th")
				table.Find("tbody tr").Each(func(r int, tr *goquery.Selection) {
					tr.Children().Each(func(i int, cell *goquery.Selection) {
						head := heads.Eq(i)
						label, ok := cell.Attr("data-label")
						switch {
						case goquery.NodeName(cell) == "th":
							if ok {
								t.Errorf("row %d: the row header has a data-label %q: it is the card's title", r, label)
							}
						case head.Find(".visually-hidden").Length() > 0:
							if ok {
								t.Errorf("row %d, cell %d: data-label %q under a hidden header", r, i, label)
							}
						case label != head.Text():
							t.Errorf("row %d, cell %d: data-label %q (present %v), header %q", r, i, label, ok, head.Text())
						}
					})
				})
			})
		})
	}
}
