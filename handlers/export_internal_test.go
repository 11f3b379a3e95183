package handlers

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// SetExportPageSize lets the external tests page through small lists; it
// returns a function restoring the default.
func SetExportPageSize(n int) (restore func()) {
	old := exportPageSize
	exportPageSize = n
	return func() { exportPageSize = old }
}

func TestCSVText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"},
		{"+1+1", "'+1+1"},
		{"-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"},
		{"@SUM(1)", "'@SUM(1)"},
		{"\tx", "'\tx"},
		{"\rx", "'\rx"},
		{"＝1+1", "'＝1+1"},
		{"a=b", "a=b"},
		{"Jan-2025-001", "Jan-2025-001"},
	}
	for _, tt := range tests {
		if got := csvText(tt.in); got != tt.want {
			t.Errorf("csvText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// Numbers the dashboard formats stay numbers, negative ones included.
	if got := csvNumber(-12.5); got != "-12.5" {
		t.Errorf("csvNumber(-12.5) = %q", got)
	}
}

func TestBatchRecordEscapesText(t *testing.T) {
	tracking := "=1+1"
	bal := -3.25
	b := mangrove.Batch{
		ID: "bat_1", TrackingID: &tracking, State: "complete",
		StartTime:     time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		EndTime:       time.Date(2025, 1, 31, 23, 59, 59, 0, time.UTC),
		CreatedAt:     time.Date(2025, 2, 1, 8, 0, 0, 0, time.FixedZone("CET", 3600)),
		PrimaryOutput: &mangrove.PrimaryOutput{Value: 1.5, Unit: "t"},
		LedgerBalance: &bal,
		Feedstocks:    []json.RawMessage{json.RawMessage(`{"id":1,"name":"@wood"}`)},
	}
	got := batchRecord(b)
	want := []string{"bat_1", "'=1+1", "2025-01-01T00:00:00Z", "2025-01-31T23:59:59Z", "complete", "'@wood", "1.5", "t", "-3.25", "2025-02-01T07:00:00Z"}
	if len(got) != len(batchCSVHeader) {
		t.Fatalf("%d cells for %d columns", len(got), len(batchCSVHeader))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("column %s = %q, want %q", batchCSVHeader[i], got[i], want[i])
		}
	}
}

func TestChartData(t *testing.T) {
	day := func(m time.Month) time.Time { return time.Date(2025, m, 1, 0, 0, 0, 0, time.UTC) }
	f := func(v float64) *float64 { return &v }
	ids := func(s string) *string { return &s }
	batches := []mangrove.Batch{ // newest first, as the API lists them
		{ID: "b4", TrackingID: ids("Feb-002"), StartTime: day(2), PrimaryOutput: &mangrove.PrimaryOutput{Value: 5, Unit: "t"}, LedgerBalance: f(35)},
		{ID: "b3", TrackingID: ids("Feb-001"), StartTime: day(2), PrimaryOutput: &mangrove.PrimaryOutput{Value: 10, Unit: "t"}, LedgerBalance: f(30)},
		{ID: "b2", TrackingID: ids("Jan-002"), StartTime: day(1), LedgerBalance: f(20)},
		{ID: "b1", TrackingID: ids("Jan-001"), StartTime: day(1), PrimaryOutput: &mangrove.PrimaryOutput{Value: 20, Unit: "t"}, LedgerBalance: f(20)},
	}
	d := chartData(batches, "")
	if d == nil || d.Len() != 2 || d.BatchCount() != 4 {
		t.Fatalf("chart %+v", d)
	}
	if d.Unit != "t" || d.Start[0] != day(1).Unix() || d.Start[1] != day(2).Unix() {
		t.Errorf("unit %q, x %v", d.Unit, d.Start)
	}
	if *d.Output[0] != 20 || *d.Output[1] != 15 {
		t.Errorf("outputs %v %v, want 20 and 15 (the period's sum)", *d.Output[0], *d.Output[1])
	}
	if *d.Balance[0] != 20 || *d.Balance[1] != 35 {
		t.Errorf("balances %v %v, want the period's last batch's: 20 and 35", *d.Balance[0], *d.Balance[1])
	}
	if chartData([]mangrove.Batch{{ID: "x", StartTime: day(1)}}, "t") != nil {
		t.Error("a chart without any figure should be nil")
	}
	if chartData(nil, "t") != nil {
		t.Error("no batches, no chart")
	}
}

func TestParseTrustedProxies(t *testing.T) {
	nets, err := ParseTrustedProxies(" 10.0.0.0/8, 192.0.2.7 ,2001:db8::/32,::1")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32", "::1/128"}
	if len(nets) != len(want) {
		t.Fatalf("%v", nets)
	}
	for i, n := range nets {
		if n.String() != want[i] {
			t.Errorf("net %d = %s, want %s", i, n, want[i])
		}
	}
	if nets, err := ParseTrustedProxies(""); err != nil || len(nets) != 0 {
		t.Errorf("empty: %v %v", nets, err)
	}
	for _, bad := range []string{"nope", "10.0.0.0/33", "10.0.0.0/8,,x"} {
		if _, err := ParseTrustedProxies(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestCleanUserName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"alice@example.org", "alice@example.org"},
		{"  Bob \t", "Bob"},
		{"eve\r\nX-Injected: 1", "eveX-Injected: 1"},
		{string([]byte{0xff, 'a'}), ""},
	}
	for _, tt := range tests {
		if got := cleanUserName(tt.in); got != tt.want {
			t.Errorf("cleanUserName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	long := cleanUserName("ééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé")
	if n := len([]rune(long)); n != 80 {
		t.Errorf("long name kept %d runes, want 80", n)
	}
}
