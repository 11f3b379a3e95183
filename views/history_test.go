package views

import (
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
)

func TestHistoryRowCounts(t *testing.T) {
	tests := []struct {
		name               string
		state              string
		previewed, written int
		want               string
		mismatch           bool
	}{
		{"Same", "complete", 12, 12, "12 of 12 written", false},
		{"One", "complete", 1, 1, "1 of 1 written", false},
		{"Fewer", "failed", 12, 6, "6 of 12 written", true},
		{"WrittenUnknown", "complete", 12, -1, "12 previewed, written: unknown", false},
		{"Running", "started", 3, -1, "3 previewed, written: unknown", false},
		{"PreviewUnknown", "complete", -1, 1, "1 batch written, preview not recorded", false},
		{"Rejected", "rejected", 4, -1, "4 previewed, none started", false},
		{"NothingKnown", "unknown", -1, -1, "written: unknown", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := HistoryRow{State: tt.state, Previewed: tt.previewed, Written: tt.written}
			if got := r.counts(); got != tt.want {
				t.Errorf("counts() = %q, want %q", got, tt.want)
			}
			if r.Mismatch() != tt.mismatch {
				t.Errorf("Mismatch() = %v", r.Mismatch())
			}
		})
	}
}

func TestTasksPage(t *testing.T) {
	confirmed := time.Date(2025, 4, 2, 10, 3, 0, 0, time.UTC)
	took := 95 * time.Second
	id := func(n int64) *int64 { return &n }
	q1 := func(r HistoryRow) HistoryRow {
		r.CreatedAt, r.LedgerID, r.UserLabel = confirmed, "lgr_ncr", "Ana"
		r.Start, r.End = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 3, 31, 23, 59, 59, 0, time.UTC)
		return r
	}
	rows := []HistoryRow{
		q1(HistoryRow{LedgerName: "Net Carbon Removal", TaskID: id(12), State: "failed", Duration: &took, Previewed: 12, Written: 6}),
		q1(HistoryRow{LedgerName: "Net Carbon Removal", TaskID: id(11), State: "started", LiveState: "running", LiveProgress: 40, Previewed: 12, Written: -1}),
		q1(HistoryRow{State: "rejected", Error: "422: range too long", Previewed: 3, Written: -1}),
		q1(HistoryRow{LedgerName: "Biochar Produced", State: "unknown", Previewed: -1, Written: -1}),
	}
	d := renderDoc(t, TasksPage(TasksPageProps{
		Layout: Layout{Title: "Generation history", SignedIn: true},
		Rows:   rows,
		Filter: HistoryFilter{Ledger: "lgr_ncr"},
		Choices: HistoryChoices{Ledgers: []KeyValue{{Key: "lgr_bp", Value: "Biochar Produced"}, {Key: "lgr_ncr", Value: "Net Carbon Removal"}},
			States: []string{"complete", "failed"}, Users: []string{"Ana"}},
		ClearURL: "/tasks", ExportURL: "/tasks.csv?ledger=lgr_ncr",
		Pager: Pager{Page: 1, TotalPages: 1, TotalItems: 1, One: "generation", Many: "generations"},
	}))

	text := func(s *goquery.Selection) string { return strings.Join(strings.Fields(s.Text()), " ") }
	trs := d.Find("main table tbody tr")
	if trs.Length() != len(rows) {
		t.Fatalf("%d rows", trs.Length())
	}
	tests := []struct {
		first, link, duration, batches, state string
	}{
		{"Net Carbon Removal Jan–Mar 2025 Task 12", "/tasks/12", "1 min 35 s", "6 of 12 written mismatch", "failed"},
		{"Net Carbon Removal Jan–Mar 2025 Task 11", "/tasks/11", "running", "12 previewed, written: unknown", "started running 40%"},
		{"lgr_ncr Jan–Mar 2025 No task: the API refused the generation", "", "—", "3 previewed, none started", "rejected 422: range too long"},
		{"Biochar Produced Jan–Mar 2025 No task id: the outcome is unknown, check the ledger", "", "—", "written: unknown", "unknown"},
	}
	for i, tt := range tests {
		tr := trs.Eq(i)
		first := tr.Find("th[scope=row]")
		if got := text(first); got != tt.first {
			t.Errorf("row %d first cell %q, want %q", i, got, tt.first)
		}
		link := first.Find("a")
		href, _ := link.Attr("href")
		if href != tt.link || (tt.link != "" && text(link) != tt.first) {
			t.Errorf("row %d link %q %q: the whole first cell must be the link", i, href, text(link))
		}
		for label, want := range map[string]string{"By": "Ana", "Confirmed": "2025-04-02 10:03:00 UTC", "Duration": tt.duration, "Batches": tt.batches, "State": tt.state} {
			if got := text(tr.Find(`td[data-label="` + label + `"]`)); got != want {
				t.Errorf("row %d %s %q, want %q", i, label, got, want)
			}
		}
	}
	if dt, _ := trs.Eq(0).Find("time").Attr("datetime"); dt != "2025-04-02T10:03:00Z" {
		t.Errorf("confirmed datetime %q", dt)
	}
	if trs.Eq(0).Find(".count-mismatch").Length() != 1 {
		t.Error("the mismatch is not marked")
	}

	// The filter form keeps its values and offers to clear them.
	if v, _ := d.Find("#ledger option[selected]").Attr("value"); v != "lgr_ncr" {
		t.Errorf("ledger selected %q", v)
	}
	for _, sel := range []string{"label[for=ledger]", "label[for=state]", "label[for=user]"} {
		if d.Find(sel).Length() != 1 {
			t.Errorf("no %s", sel)
		}
	}
	if href, _ := d.Find("a.filters-clear").Attr("href"); href != "/tasks" || text(d.Find("a.filters-clear")) != "Clear filters" {
		t.Errorf("clear link %q", href)
	}
	if href, _ := d.Find("a.filters-export").Attr("href"); href != "/tasks.csv?ledger=lgr_ncr" {
		t.Errorf("export link %q", href)
	}
	if got := text(d.Find("main p.muted").Last()); got != "1 generation" {
		t.Errorf("count %q", got)
	}
}

func TestTasksPageEmpty(t *testing.T) {
	t.Run("NothingYet", func(t *testing.T) {
		d := renderDoc(t, TasksPage(TasksPageProps{Layout: Layout{SignedIn: true}, ClearURL: "/tasks"}))
		if !strings.Contains(d.Find("p.empty").Text(), "No generation has been confirmed") || d.Find("form.filters").Length() != 0 {
			t.Error("an empty history shows filters or no explanation")
		}
	})
	t.Run("PastTheLastPage", func(t *testing.T) {
		d := renderDoc(t, TasksPage(TasksPageProps{Layout: Layout{SignedIn: true}, ClearURL: "/tasks",
			Choices: HistoryChoices{Ledgers: []KeyValue{{Key: "lgr_a", Value: "A"}}}}))
		if href, _ := d.Find("p.empty a").Attr("href"); href != "/tasks" || strings.Contains(d.Find("p.empty").Text(), "filters") {
			t.Errorf("a page past the end: %q", d.Find("p.empty").Text())
		}
	})
	t.Run("NothingMatches", func(t *testing.T) {
		d := renderDoc(t, TasksPage(TasksPageProps{Layout: Layout{SignedIn: true}, ClearURL: "/tasks",
			Filter: HistoryFilter{State: "failed"}, Choices: HistoryChoices{States: []string{"failed"}}}))
		if href, _ := d.Find("p.empty a").Attr("href"); href != "/tasks" || d.Find("form.filters").Length() != 1 {
			t.Errorf("no way back from an empty filter: %q", d.Find("main").Text())
		}
		if d.Find("a.filters-export").Length() != 0 {
			t.Error("an export of nothing is offered")
		}
	})
}

func TestPagerCount(t *testing.T) {
	tests := []struct {
		p    Pager
		want string
	}{
		{Pager{Page: 1, TotalPages: 1, TotalItems: 1}, "1 item"},
		{Pager{Page: 1, TotalPages: 1, TotalItems: 2}, "2 items"},
		{Pager{Page: 1, TotalPages: 1, TotalItems: 1, One: "batch", Many: "batches"}, "1 batch"},
		{Pager{Page: 2, TotalPages: 3, TotalItems: 120, One: "generation", Many: "generations", PageURL: func(int) string { return "/x" }}, "Page 2 of 3 (120 generations)"},
	}
	for _, tt := range tests {
		d := renderDoc(t, PagerNav(tt.p))
		got := strings.Join(strings.Fields(d.Find("p.muted, nav.pager span").Text()), " ")
		if got != tt.want {
			t.Errorf("pager %+v says %q, want %q", tt.p, got, tt.want)
		}
	}
}
