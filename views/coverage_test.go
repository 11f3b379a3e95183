package views

import (
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
)

func TestCoverageHeading(t *testing.T) {
	at := time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC)
	tests := []struct{ cadence, short, group, full string }{
		{"monthly", "Jan", "2025", "January 2025"},
		{"quarterly", "Q1", "2025", "Q1 2025"},
		{"yearly", "2025", "", "2025"},
		{"weekly", "6", "Jan 2025", "Week of 6 January 2025"},
		{"daily", "6", "Jan 2025", "6 January 2025"},
	}
	for _, tt := range tests {
		if s, g, f := coverageHeading(tt.cadence, at); s != tt.short || g != tt.group || f != tt.full {
			t.Errorf("%s: %q %q %q, want %q %q %q", tt.cadence, s, g, f, tt.short, tt.group, tt.full)
		}
	}
}

func TestCoverage(t *testing.T) {
	month := func(m time.Month) time.Time { return time.Date(2025, m, 1, 0, 0, 0, 0, time.UTC) }
	end := func(m time.Month) time.Time { return month(m + 1).Add(-time.Second) }
	shown := CoverageProps{
		Cadence: "monthly", Partitions: []string{"Nut shells", "Wood chips"}, DataKnown: true, MaxBatches: 2000,
		Periods: []CoveragePeriod{
			{Start: month(1), End: end(1), Cells: []string{CoverageComplete, CoverageError}},
			{Start: month(2), End: end(2), Cells: []string{CoverageProcessing, CoverageMissing}},
			{Start: month(3), End: end(3), Cells: []string{CoverageUnknown, CoverageMissing}},
		},
		Gaps: []CoverageGap{{Start: month(1), End: end(3), URL: "/ledgers/lgr_1/preview?end_time=2025-03-31&start_time=2025-01-01"}},
	}
	text := func(c CoverageProps) string {
		return strings.Join(strings.Fields(renderDoc(t, Coverage(c)).Find("section.coverage").Text()), " ")
	}

	t.Run("Table", func(t *testing.T) {
		d := renderDoc(t, Coverage(shown))
		if d.Find("table caption").Length() != 1 || d.Find(`thead th[scope="col"]`).Length() != 4 || d.Find(`tbody th[scope="row"]`).Length() != 2 {
			t.Fatal("the table lacks its caption or header cells")
		}
		var said []string
		d.Find("tbody td").Each(func(_ int, s *goquery.Selection) {
			said = append(said, s.Find(".visually-hidden").Text())
			if s.Find(`[aria-hidden="true"]`).Text() == "" {
				t.Errorf("cell %q has no glyph", s.Text())
			}
		})
		if got := strings.Join(said, " "); got != "complete processing unknown error missing missing" {
			t.Errorf("cells read out as %q", got)
		}
		if n := d.Find(".coverage-legend li").Length(); n != len(coverageLegend) {
			t.Errorf("legend has %d states", n)
		}
		a := d.Find(".coverage-gaps a")
		if a.Text() != "Generate Jan–Mar 2025" || a.AttrOr("href", "") != shown.Gaps[0].URL {
			t.Errorf("gap link %q → %q", a.Text(), a.AttrOr("href", ""))
		}
	})

	t.Run("GapWithoutLink", func(t *testing.T) {
		c := shown
		c.Gaps, c.NoGenerate = []CoverageGap{{Start: month(8), End: end(8)}}, ReadOnlyReason
		d := renderDoc(t, Coverage(c))
		if d.Find(".coverage-gaps a").Length() != 0 || strings.TrimSpace(d.Find(".coverage-gaps li").Text()) != "Aug 2025" {
			t.Errorf("gap without a URL: %q", d.Find(".coverage-gaps").Text())
		}
		if !strings.Contains(d.Text(), ReadOnlyReason) {
			t.Error("no reason why the gap links nowhere")
		}
	})

	for _, tt := range []struct {
		name string
		edit func(*CoverageProps)
		want string
	}{
		{"Unavailable", func(c *CoverageProps) { *c = CoverageProps{Unavailable: true} }, "could not be read"},
		{"UnknownCadence", func(c *CoverageProps) { *c = CoverageProps{DataKnown: true} }, "Unknown cadence"},
		{"NothingToShow", func(c *CoverageProps) { *c = CoverageProps{Cadence: "monthly"} }, "No batches yet"},
		{"CadenceInferred", func(c *CoverageProps) { c.CadenceInferred = true }, "The ledger's cadence is unknown; its batches' periods are monthly."},
		{"Truncated", func(c *CoverageProps) { c.Truncated = true }, "Only the 2000 most recent batches were read: the coverage starts at Jan 2025."},
		{"DataUnknown", func(c *CoverageProps) { c.DataKnown = false }, "When data was recorded is unknown"},
		{"NoGaps", func(c *CoverageProps) { c.Gaps = nil }, "Every period shown has its batches."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := shown
			tt.edit(&c)
			if got := text(c); !strings.Contains(got, tt.want) {
				t.Errorf("%q lacks %q", got, tt.want)
			}
		})
	}
}
