package handlers

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

// Fuzz tests for the parsers of user input that forms_fuzz_test.go does
// not cover: redirect targets, path ids, quick ranges and years. Their
// seeds are committed here (f.Add); go test runs them, go test -fuzz
// explores further.

// resolvesLocally reports whether a browser following Location: loc from
// https://dash.example/ stays on dash.example. It mimics what browsers do
// first: drop tabs and new lines, trim C0 controls and spaces, read
// backslashes as slashes.
func resolvesLocally(loc string) bool {
	clean := strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		if r == '\\' {
			return '/'
		}
		return r
	}, loc)
	clean = strings.TrimFunc(clean, func(r rune) bool { return r <= ' ' })
	base, _ := url.Parse("https://dash.example/tasks/")
	u, err := base.Parse(clean)
	return err == nil && u.Scheme == "https" && u.Host == "dash.example" && u.User == nil
}

var localPathCases = []struct{ in, want string }{
	{"/tasks/12", "/tasks/12"},
	{"/ledgers/lgr_x?page=2&sort=-start_time#batches", "/ledgers/lgr_x?page=2&sort=-start_time#batches"},
	{"/", "/"},
	{"", "/ledgers"},
	{"tasks", "/ledgers"},
	{"//evil.example", "/ledgers"},
	{"///evil.example", "/ledgers"},
	{"/\\evil.example", "/ledgers"},
	{"\\\\evil.example", "/ledgers"},
	{"/\\/evil.example", "/ledgers"},
	{"https://evil.example", "/ledgers"},
	{"http:evil.example", "/ledgers"},
	{"HTTPS://evil.example/", "/ledgers"},
	{"javascript:alert(1)", "/ledgers"},
	{"JaVaScRiPt:alert(1)", "/ledgers"},
	{"data:text/html,<script>alert(1)</script>", "/ledgers"},
	{"/%2F%2Fevil.example", "/%2F%2Fevil.example"}, // a path on this site
	{"/%5C%5Cevil.example", "/%5C%5Cevil.example"},
	{"/\t/evil.example", "/ledgers"},
	{"/\n/evil.example", "/ledgers"},
	{"/ledgers\r\nSet-Cookie: x=1", "/ledgers"},
	{"/x\x00", "/ledgers"},
	{"/\x7f", "/ledgers"},
	{" /ledgers", "/ledgers"},
	{"\x01//evil.example", "/ledgers"},
	{"/@evil.example", "/@evil.example"},
	{"//user@evil.example", "/ledgers"},
	{"/.//evil.example", "/.//evil.example"},
	{"／／evil.example", "/ledgers"},
	{"/ledgers/%0d%0aLocation:%20//evil", "/ledgers/%0d%0aLocation:%20//evil"},
}

func TestLocalPath(t *testing.T) {
	for _, tc := range localPathCases {
		got := localPath(tc.in)
		if got != tc.want {
			t.Errorf("localPath(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if !resolvesLocally(got) {
			t.Errorf("localPath(%q) = %q leaves the site", tc.in, got)
		}
	}
}

func FuzzLocalPath(f *testing.F) {
	for _, tc := range localPathCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := localPath(in)
		if got != in && got != "/ledgers" {
			t.Fatalf("localPath(%q) = %q: neither the input nor the default", in, got)
		}
		if !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.HasPrefix(got, "/\\") {
			t.Fatalf("localPath(%q) = %q is not a local path", in, got)
		}
		if strings.ContainsFunc(got, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("localPath(%q) = %q has a control character", in, got)
		}
		if !resolvesLocally(got) {
			t.Fatalf("localPath(%q) = %q leaves the site in a browser", in, got)
		}
	})
}

func paramContext(value string) echo.Context {
	e := echo.New()
	c := e.NewContext(httptest.NewRequest(http.MethodGet, "/", nil), httptest.NewRecorder())
	c.SetParamNames("id")
	c.SetParamValues(value)
	return c
}

var safeLedgerID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,100}$`)

func FuzzRouteIDs(f *testing.F) {
	for _, s := range []string{"1", "42", "0", "-1", "+1", "01", "9223372036854775807", "9223372036854775808", "1e3", "0x10", "٣", " 1", "1 ",
		"lgr_3047w5rbxmym", "lgr_" + strings.Repeat("x", 100), "..", "a/b", "a%2Fb", "é", "", "_", "-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := taskIDParam(paramContext(s))
		if err == nil {
			if id <= 0 || strconv.FormatInt(id, 10) != strings.TrimLeft(strings.TrimPrefix(s, "+"), "0") {
				t.Fatalf("task id %q parsed as %d", s, id)
			}
		} else if pe, ok := err.(*pageError); !ok || pe.Status != http.StatusNotFound || pe.Message == "" {
			t.Fatalf("task id %q: error %v, want a 404 page with a message", s, err)
		}
		lid, err := ledgerIDParam(paramContext(s))
		if err == nil {
			// Accepted ids go into upstream paths unchanged: nothing to escape.
			if lid != s || !safeLedgerID.MatchString(lid) || url.PathEscape(lid) != lid || lid == "." || lid == ".." {
				t.Fatalf("ledger id %q accepted as %q", s, lid)
			}
		} else if pe, ok := err.(*pageError); !ok || pe.Status != http.StatusNotFound {
			t.Fatalf("ledger id %q: error %v, want a 404 page", s, err)
		}
	})
}

func FuzzPrintableASCIIToken(f *testing.F) {
	for _, s := range []string{"sbx_rw_0123", "tok en", "tok\x00", "tök", "", "a\tb", "~!@#$%^&*()"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ok := printableASCII(s)
		// Whatever passes can be sent in an Authorization header.
		req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:1/", nil)
		req.Header.Set("Authorization", "Bearer "+s)
		if ok && (strings.ContainsAny(s, " \t\r\n") || strings.ContainsRune(s, 0)) {
			t.Fatalf("printableASCII(%q) accepted a space or control", s)
		}
	})
}

func TestAttemptLimiter(t *testing.T) {
	l := newAttemptLimiter(3, time.Minute)
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		if !l.allow("a", t0.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("attempt %d refused", i+1)
		}
	}
	if l.allow("a", t0.Add(3*time.Second)) {
		t.Fatal("the 4th attempt within a minute was allowed")
	}
	if !l.allow("b", t0.Add(3*time.Second)) {
		t.Fatal("another client was limited")
	}
	// The window slides: the first attempt leaves it 60s later.
	if l.allow("a", t0.Add(59*time.Second)) {
		t.Fatal("allowed before the window moved")
	}
	if !l.allow("a", t0.Add(61*time.Second)) {
		t.Fatal("refused after the first attempt left the window")
	}
	// Many one-off clients do not grow the map without bound.
	for i := range 20000 {
		l.allow("k"+strconv.Itoa(i), t0.Add(time.Duration(i)*10*time.Millisecond))
	}
	if n := len(l.seen); n > 10001+6000 {
		t.Fatalf("%d keys kept", n)
	}
}
