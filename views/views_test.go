package views

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"
)

func renderDoc(t *testing.T, c templ.Component) *goquery.Document {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	d, err := goquery.NewDocumentFromReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestNumber(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0.00"}, {152.687, "152.69"}, {1234567.891, "1,234,567.89"}, {-5.5, "−5.50"}, {999.999, "1,000.00"},
	}
	for _, tt := range tests {
		if got := number(tt.in); got != tt.want {
			t.Errorf("number(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPeriod(t *testing.T) {
	d := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, s); return v }
	tests := []struct{ start, end, want string }{
		{"2025-03-01T00:00:00Z", "2025-03-31T23:59:59Z", "Mar 2025"},
		{"2025-03-01T00:00:00Z", "2025-03-31T23:59:59.999Z", "Mar 2025"},
		{"2025-01-01T00:00:00Z", "2025-03-31T23:59:59Z", "Jan–Mar 2025"},
		{"2024-11-01T00:00:00Z", "2025-02-28T23:59:59Z", "Nov 2024–Feb 2025"},
		{"2024-01-01T00:00:00Z", "2024-12-31T23:59:59Z", "Jan–Dec 2024"},
		{"2025-01-01T00:00:00Z", "2025-03-30T23:59:59Z", "1 Jan 2025 – 30 Mar 2025"},
		{"2025-01-02T00:00:00Z", "2025-03-31T23:59:59Z", "2 Jan 2025 – 31 Mar 2025"},
		{"2025-03-01T00:00:00Z", "2025-02-28T23:59:59Z", "1 Mar 2025 – 28 Feb 2025"},
		{"2025-03-05T00:00:00Z", "2025-03-05T23:59:59Z", "5 Mar 2025"},
	}
	for _, tt := range tests {
		if got := period(d(tt.start), d(tt.end)); got != tt.want {
			t.Errorf("period(%s, %s) = %q, want %q", tt.start, tt.end, got, tt.want)
		}
	}
}

func TestTaskStatus(t *testing.T) {
	started := time.Date(2025, 4, 1, 12, 0, 0, 0, time.UTC)
	t.Run("Running", func(t *testing.T) {
		d := renderDoc(t, TaskStatus(TaskStatusProps{TaskID: 4, State: "running", Progress: 42, Description: "Processing batch 2 of 3", StartedAt: &started, Elapsed: "12 s", Remaining: "about 8 s"}))
		p := d.Find("progress#task-progress")
		if v, _ := p.Attr("value"); v != "42" {
			t.Errorf("progress value %q", v)
		}
		if v, _ := p.Attr("aria-valuetext"); v != "42% Processing batch 2 of 3" {
			t.Errorf("aria-valuetext %q", v)
		}
		if got := d.Find("#task-remaining").Text(); got != "about 8 s" {
			t.Errorf("remaining %q", got)
		}
		if d.Find("[data-elapsed-since]").Length() != 1 {
			t.Error("elapsed time does not tick while running")
		}
	})
	t.Run("Failed", func(t *testing.T) {
		d := renderDoc(t, TaskStatus(TaskStatusProps{State: "failed", ErrorMessage: "required input missing: soil-temperature"}))
		if !strings.Contains(d.Find(`[role="alert"]`).Text(), "required input missing: soil-temperature") {
			t.Error("the failure message is not shown as an alert")
		}
		if d.Find("#task-remaining").Length() != 0 {
			t.Error("a failed task shows a remaining time")
		}
	})
	t.Run("FinishedLoadsOutcome", func(t *testing.T) {
		for _, state := range []string{"complete", "failed"} {
			d := renderDoc(t, TaskStatus(TaskStatusProps{TaskID: 9, State: state, Progress: 100, OutcomeURL: "/tasks/9/batches", LedgerID: "lgr_a", LedgerName: "NCR"}))
			if v, _ := d.Find("[data-hx-get]").Attr("data-hx-get"); v != "/tasks/9/batches" {
				t.Errorf("%s: outcome loader %q", state, v)
			}
		}
	})
	t.Run("UnknownStateFinished", func(t *testing.T) {
		d := renderDoc(t, TaskStatus(TaskStatusProps{State: "cancelled", Finished: true, Progress: 40}))
		if d.Find("[data-finished]").Length() != 1 || d.Find("#task-remaining").Length() != 0 {
			t.Error("a task finished in an unknown state is not marked finished")
		}
		if got := d.Find(".badge").Text(); got != "cancelled" {
			t.Errorf("state shown as %q, want it as it came", got)
		}
	})
	t.Run("GaveUp", func(t *testing.T) {
		d := renderDoc(t, TaskStatus(TaskStatusProps{State: "running", GaveUp: "Stopped following this task after 60 minutes"}))
		if !strings.Contains(d.Find("#task-gave-up").Text(), "Stopped following") || d.Find("[data-finished]").Length() != 0 {
			t.Error("giving up is not said, or the task is shown finished")
		}
	})
	t.Run("Retrying", func(t *testing.T) {
		d := renderDoc(t, TaskStatus(TaskStatusProps{State: "running", Retrying: "Mangrove is not answering"}))
		if d.Find("#task-retrying").Length() != 1 {
			t.Error("the retrying notice is missing")
		}
	})
}

func TestUntrustedTextIsEscaped(t *testing.T) {
	evil := `<script>alert(1)</script>"'&`
	var buf bytes.Buffer
	err := LedgersPage(LedgersPageProps{Layout: Layout{Title: evil, SignedIn: true},
		Groups: []LedgerGroup{{Heading: evil, ID: "project-1", Note: evil, Ledgers: []LedgerRow{{ID: "lgr_x", Name: evil, ModelName: evil}}}}}).Render(context.Background(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "<script>alert(1)") {
		t.Fatal("an API-supplied name was rendered as markup")
	}
	d, _ := goquery.NewDocumentFromReader(&buf)
	if d.Find("tbody th a").Text() != evil || !strings.HasPrefix(d.Find("title").Text(), evil) {
		t.Fatal("the name is not shown as text")
	}
	if v, _ := d.Find(`a[aria-label]`).Attr("aria-label"); v != "Generate batches on "+evil {
		t.Fatalf("attribute value %q", v)
	}
}

func TestPreviewPage(t *testing.T) {
	d := renderDoc(t, PreviewPage(PreviewPageProps{
		Ledger:       LedgerRow{ID: "lgr_a", Name: "NCR", ModelName: "m"},
		Entries:      []PreviewEntry{{LedgerID: "lgr_a", Name: "NCR", Count: 6}, {LedgerID: "lgr_b", Name: "Produced", Count: 6}},
		TotalCount:   12,
		Warnings:     []string{"check this"},
		ConfirmKey:   "key",
		Values:       GenerationValues{StartTime: "2025-01-01", EndTime: "2025-03-31", SkippedTypeIDs: map[string]bool{"7": true, "3": true}},
		RangeInWords: "Q1 2025",
	}))
	if got := d.Find("#preview-counts tbody tr").Length(); got != 2 {
		t.Errorf("%d ledger rows, want 2", got)
	}
	if got := d.Find("#preview-counts tfoot td").First().Text(); got != "12" {
		t.Errorf("total %q", got)
	}
	if got := strings.Join(strings.Fields(d.Find("#confirm").Text()), " "); got != "Confirm and generate 12 batches" {
		t.Errorf("confirm button %q", d.Find("#confirm").Text())
	}
	var skipped []string
	d.Find(`form[action$="/generations"] input[name="skipped_data_point_type_ids"]`).Each(func(_ int, s *goquery.Selection) {
		v, _ := s.Attr("value")
		skipped = append(skipped, v)
	})
	if strings.Join(skipped, ",") != "3,7" {
		t.Errorf("skipped ids carried as %v, want sorted 3,7", skipped)
	}
	if d.Find(".callout-warning li").Text() != "check this" {
		t.Error("warning missing")
	}
}

func TestTaskOutcome(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	jan := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	row := func(id string, out float64, replaced bool, old *float64) WrittenRow {
		return WrittenRow{BatchRow: BatchRow{ID: id, TrackingID: "T-" + id, Start: jan, End: jan.AddDate(0, 1, 0).Add(-time.Second), State: "complete", Output: f(out), OutputUnit: "t", LedgerID: "lgr_a"}, Replaced: replaced, Old: old}
	}
	o := TaskOutcome{TaskID: 9, State: "complete", Ledgers: []WrittenLedger{
		{LedgerID: "lgr_a", LedgerName: "Net Carbon Removal", Previewed: 2, Rows: []WrittenRow{row("a1", 12, true, f(10)), row("a2", 5, false, nil)}, Change: f(2), Unit: "t"},
		{LedgerID: "lgr_b", LedgerName: "Biochar Produced", Previewed: 2, Rows: []WrittenRow{row("b1", 40, true, f(41))}, Change: f(-1), Unit: "t", Untouched: 1},
	}, Steps: []TaskStep{{At: jan, Progress: 50, Description: "Processing 1 of 2"}}}
	d := renderDoc(t, TaskOutcomePart(o))
	if got := d.Find("#written-total").Text(); !strings.Contains(got, "3 of 4 written") || !strings.Contains(got, "2 ledgers") {
		t.Errorf("total %q", got)
	}
	if got := d.Find(".callout-warning").Text(); !strings.Contains(got, "The preview said 4 batches, but 3 batches were written") {
		t.Errorf("mismatch notice %q", got)
	}
	if n := d.Find("section.written-ledger").Length(); n != 2 {
		t.Fatalf("%d ledger groups, want 2", n)
	}
	first := d.Find("section.written-ledger").First()
	if got := first.Find("h3").Text(); !strings.Contains(got, "Net Carbon Removal") || !strings.Contains(got, "2 of 2 written") {
		t.Errorf("first group heading %q", got)
	}
	cells := first.Find("tbody tr").First().Find("td")
	if got := strings.Join([]string{cells.Eq(2).Text(), cells.Eq(3).Text(), cells.Eq(4).Text()}, "|"); got != "10.00 t|12.00 t|+2.00 t" {
		t.Errorf("replaced row before|output|change = %q", got)
	}
	if got := first.Find("tbody tr").Eq(1).Find("td").Eq(2).Text(); !strings.Contains(got, "new") {
		t.Errorf("a new batch's before cell %q", got)
	}
	if got := d.Find(".written-change").Eq(1).Text(); !strings.Contains(got, "−1.00 t") {
		t.Errorf("second ledger's change %q", got)
	}
	if got := d.Find(".step-log li").Text(); !strings.Contains(got, "Processing 1 of 2") {
		t.Errorf("step log %q", got)
	}
	if d.Find("a.btn").Length() != 0 {
		t.Error("a complete run offers a retry")
	}
	if d.Find("#written-not-complete").Length() != 0 {
		t.Error("a not-complete notice with every batch complete")
	}
	o.Ledgers[1].Rows[0].State = "error"
	d = renderDoc(t, TaskOutcomePart(o))
	if got := d.Find("#written-not-complete").Text(); !strings.Contains(got, "1 batch of those written is not complete") {
		t.Errorf("not-complete notice %q", got)
	}
	o.Ledgers[1].Rows[0].State = "complete"
	o.State, o.RetryURL = "failed", "/ledgers/lgr_a/preview?start_time=2025-01-01"
	d = renderDoc(t, TaskOutcomePart(o))
	if v, _ := d.Find("a.btn").Attr("href"); v != o.RetryURL || !strings.Contains(d.Find("a.btn").Text(), "Retry with the same parameters") {
		t.Errorf("retry link %q", v)
	}
	if d.Find(".callout-warning").Length() != 0 {
		t.Error("a failed run's partial count is shown as a mismatch warning")
	}
}
