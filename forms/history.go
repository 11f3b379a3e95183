package forms

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// History query limits.
const (
	MaxHistoryPage = 10000
	// MaxHistoryUserLen bounds the user filter, in characters: far above
	// any user label the dashboard records, so a longer value could match
	// nothing.
	MaxHistoryUserLen = 200
)

// historyLedgerRe is the shape of a ledger id, as the ledger routes accept it.
var historyLedgerRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,100}$`)

// HistoryQuery is the history page's query: the page from 1 and the
// filters, each "" for any.
type HistoryQuery struct {
	Page   int
	Ledger string // a ledger id
	State  string // one of the states given to ParseHistoryQuery
	User   string // a user label, exactly as recorded
}

// ParseHistoryQuery reads page, ledger, state and user; states are the
// accepted states. A missing value takes its default silently; an invalid
// one takes its default and adds a message under its own key.
func ParseHistoryQuery(v url.Values, states []string) (HistoryQuery, FieldErrors) {
	q := HistoryQuery{Page: 1}
	errs := FieldErrors{}

	if s := strings.TrimSpace(v.Get("page")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxHistoryPage {
			errs["page"] = fmt.Sprintf("The page must be a whole number from 1 to %d; showing page 1", MaxHistoryPage)
		} else {
			q.Page = n
		}
	}
	if s := strings.TrimSpace(v.Get("ledger")); s != "" {
		if !historyLedgerRe.MatchString(s) {
			errs["ledger"] = "That is not a ledger id; showing every ledger"
		} else {
			q.Ledger = s
		}
	}
	if s := strings.TrimSpace(v.Get("state")); s != "" {
		if !slices.Contains(states, s) {
			errs["state"] = "Unknown state; showing generations in any state"
		} else {
			q.State = s
		}
	}
	if s := strings.TrimSpace(v.Get("user")); s != "" {
		if !plainText(s, MaxHistoryUserLen) {
			errs["user"] = fmt.Sprintf("A user is at most %d characters of plain text; showing every user", MaxHistoryUserLen)
		} else {
			q.User = s
		}
	}
	if !errs.Any() {
		return q, nil
	}
	return q, errs
}

// plainText reports whether s is valid UTF-8 of at most limit characters,
// without control or format characters.
func plainText(s string, limit int) bool {
	return utf8.ValidString(s) && utf8.RuneCountInString(s) <= limit &&
		!strings.ContainsFunc(s, func(r rune) bool { return unicode.In(r, unicode.Cc, unicode.Cf) })
}

// Filtered reports whether any filter is set.
func (q HistoryQuery) Filtered() bool {
	return q.Ledger != "" || q.State != "" || q.User != ""
}

// FilterValues are the filters that are set, without the page: the query
// of the filter form as the links carry it (other pages, the export).
func (q HistoryQuery) FilterValues() url.Values {
	v := url.Values{}
	for _, f := range []struct{ key, value string }{{"ledger", q.Ledger}, {"state", q.State}, {"user", q.User}} {
		if f.value != "" {
			v.Set(f.key, f.value)
		}
	}
	return v
}
