package handlers

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

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
	want := []string{"bat_1", "'=1+1", "2025-01-01T00:00:00Z", "2025-01-31T23:59:59Z", "complete", "'@wood", "1.5", "t", "-3.25", "2025-02-01T07:00:00Z", ""}
	if len(got) != len(batchCSVHeader) {
		t.Fatalf("%d cells for %d columns", len(got), len(batchCSVHeader))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("column %s = %q, want %q", batchCSVHeader[i], got[i], want[i])
		}
	}
}

func TestCleanUserName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"alice@example.org", "alice@example.org"},
		{"  Bob \t", "Bob"},
		{"eve\r\nX-Injected: 1", "eve X-Injected: 1"},
		{string([]byte{0xff, 'a'}), ""},
		{"Ann   \u00a0 Lee", "Ann Lee"},
		{"\x1b[31mred\x1b[0m", "[31mred[0m"},
		{"admin\u202egpj.exe", "admingpj.exe"},
		{"zero\u200bwidth\u2066isolate\u2069", "zerowidthisolate"},
		{"\u0000\u0007", ""},
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

func FuzzCleanUserName(f *testing.F) {
	for _, s := range []string{"alice", " a\tb\n", "x\u202ey", "\x1b[0m", strings.Repeat("é ", 60)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := cleanUserName(in)
		if !utf8.ValidString(out) || len([]rune(out)) > maxUserNameLen {
			t.Fatalf("cleanUserName(%q) = %q: invalid or too long", in, out)
		}
		if strings.ContainsFunc(out, func(r rune) bool { return unicode.In(r, unicode.Cc, unicode.Cf) || (unicode.IsSpace(r) && r != ' ') }) ||
			strings.Contains(out, "  ") || out != strings.TrimSpace(out) {
			t.Fatalf("cleanUserName(%q) = %q: keeps a control, format or extra space", in, out)
		}
		if again := cleanUserName(out); again != out {
			t.Fatalf("not idempotent: %q then %q", out, again)
		}
	})
}
