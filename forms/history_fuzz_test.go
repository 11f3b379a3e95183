package forms

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzHistoryQuery: whatever the query, the result is in range, every
// value dropped is reported, and the filters read back from their own
// encoding unchanged (the pager and the export link carry them).
func FuzzHistoryQuery(f *testing.F) {
	f.Add("", "", "", "")
	f.Add("1", "lgr_3047w5rbxmym", "complete", "Ana Lima")
	f.Add("10000", "lgr-x_9", "failed", "token 1a2b3c4d")
	f.Add("0", "lgr x", "Complete", "Ana\x00")
	f.Add("-1", "../etc", "running", "\u202eevil")
	f.Add("99999999999999999999", strings.Repeat("l", 101), "any", strings.Repeat("é", MaxHistoryUserLen+1))
	f.Add("+7", " lgr_a ", " started ", " Zoë ")
	f.Add("1", "lgr_a", "rejected", "a\xffb")
	f.Fuzz(func(t *testing.T, page, ledger, state, user string) {
		v := url.Values{"page": {page}, "ledger": {ledger}, "state": {state}, "user": {user}}
		q, errs := ParseHistoryQuery(v, testStates)
		if q.Page < 1 || q.Page > MaxHistoryPage {
			t.Fatalf("page %d", q.Page)
		}
		if q.Ledger != "" && !historyLedgerRe.MatchString(q.Ledger) {
			t.Fatalf("ledger %q", q.Ledger)
		}
		if q.State != "" && !slices.Contains(testStates, q.State) {
			t.Fatalf("state %q", q.State)
		}
		if q.User != "" && (!utf8.ValidString(q.User) || utf8.RuneCountInString(q.User) > MaxHistoryUserLen || q.User != strings.TrimSpace(q.User)) {
			t.Fatalf("user %q", q.User)
		}
		for k, msg := range errs {
			if strings.TrimSpace(msg) == "" {
				t.Fatalf("empty message for %q", k)
			}
			switch k {
			case "page", "ledger", "state", "user":
			default:
				t.Fatalf("unknown key %q", k)
			}
		}
		// A value that was not used must have been reported.
		for _, c := range []struct{ key, in, got string }{{"ledger", ledger, q.Ledger}, {"state", state, q.State}, {"user", user, q.User}} {
			if s := strings.TrimSpace(c.in); s != c.got && errs[c.key] == "" {
				t.Fatalf("%s %q dropped silently", c.key, c.in)
			}
		}
		if s := strings.TrimSpace(page); s != "" && errs["page"] == "" && q.Page == 1 && strings.TrimLeft(s, "+0") != "1" {
			t.Fatalf("page %q dropped silently", page)
		}
		again, errs := ParseHistoryQuery(q.FilterValues(), testStates)
		if errs != nil || again != (HistoryQuery{Page: 1, Ledger: q.Ledger, State: q.State, User: q.User}) {
			t.Fatalf("filters %+v read back as %+v (%v)", q, again, errs)
		}
		if q.Filtered() != (len(q.FilterValues()) > 0) {
			t.Fatalf("Filtered %v for %+v", q.Filtered(), q)
		}
	})
}
