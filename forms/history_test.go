package forms

import (
	"net/url"
	"strings"
	"testing"
)

var testStates = []string{"submitting", "started", "unknown", "rejected", "complete", "failed"}

func TestParseHistoryQuery(t *testing.T) {
	def := HistoryQuery{Page: 1}
	tests := []struct {
		name     string
		values   url.Values
		want     HistoryQuery
		wantErrs []string // keys
	}{
		{"Defaults", url.Values{}, def, nil},
		{"EmptyValues", url.Values{"page": {""}, "ledger": {" "}, "state": {""}, "user": {"  "}}, def, nil},
		{"All", url.Values{"page": {"3"}, "ledger": {"lgr_3047w5rbxmym"}, "state": {"complete"}, "user": {"Ana Lima"}},
			HistoryQuery{Page: 3, Ledger: "lgr_3047w5rbxmym", State: "complete", User: "Ana Lima"}, nil},
		{"Trimmed", url.Values{"ledger": {" lgr_x "}, "user": {" token 1a2b3c4d "}}, HistoryQuery{Page: 1, Ledger: "lgr_x", User: "token 1a2b3c4d"}, nil},
		{"EachState", url.Values{"state": {"rejected"}}, HistoryQuery{Page: 1, State: "rejected"}, nil},
		{"UserUnicode", url.Values{"user": {"Zoë Ødegård"}}, HistoryQuery{Page: 1, User: "Zoë Ødegård"}, nil},
		{"UserAtLimit", url.Values{"user": {strings.Repeat("é", MaxHistoryUserLen)}}, HistoryQuery{Page: 1, User: strings.Repeat("é", MaxHistoryUserLen)}, nil},
		{"MaxPage", url.Values{"page": {"10000"}}, HistoryQuery{Page: 10000}, nil},
		{"PageZero", url.Values{"page": {"0"}}, def, []string{"page"}},
		{"PageTooLarge", url.Values{"page": {"10001"}}, def, []string{"page"}},
		{"PageText", url.Values{"page": {"next"}}, def, []string{"page"}},
		{"LedgerSymbols", url.Values{"ledger": {"lgr_x' OR 1=1"}}, def, []string{"ledger"}},
		{"LedgerSlash", url.Values{"ledger": {"../lgr"}}, def, []string{"ledger"}},
		{"LedgerTooLong", url.Values{"ledger": {strings.Repeat("a", 101)}}, def, []string{"ledger"}},
		{"StateUnknown", url.Values{"state": {"running"}}, def, []string{"state"}},
		{"StateUpper", url.Values{"state": {"Complete"}}, def, []string{"state"}},
		{"StateAny", url.Values{"state": {"any"}}, def, []string{"state"}},
		{"UserTooLong", url.Values{"user": {strings.Repeat("a", MaxHistoryUserLen+1)}}, def, []string{"user"}},
		{"UserControl", url.Values{"user": {"Ana\x1b[31m"}}, def, []string{"user"}},
		{"UserBidiOverride", url.Values{"user": {"Ana\u202e"}}, def, []string{"user"}},
		{"UserInvalidUTF8", url.Values{"user": {"Ana\xff"}}, def, []string{"user"}},
		{"MixedKeepsValid", url.Values{"page": {"x"}, "ledger": {"lgr_a"}, "state": {"bogus"}, "user": {"Ben"}},
			HistoryQuery{Page: 1, Ledger: "lgr_a", User: "Ben"}, []string{"page", "state"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := ParseHistoryQuery(tt.values, testStates)
			if got != tt.want {
				t.Errorf("query = %+v, want %+v", got, tt.want)
			}
			if len(errs) != len(tt.wantErrs) {
				t.Errorf("errs = %v, want keys %v", errs, tt.wantErrs)
			}
			for _, k := range tt.wantErrs {
				if errs[k] == "" {
					t.Errorf("no message for %q (errs %v)", k, errs)
				}
			}
		})
	}
}

func TestHistoryQueryFilterValues(t *testing.T) {
	tests := []struct {
		name     string
		q        HistoryQuery
		want     string
		filtered bool
	}{
		{"None", HistoryQuery{Page: 4}, "", false},
		{"Ledger", HistoryQuery{Page: 2, Ledger: "lgr_a"}, "ledger=lgr_a", true},
		{"All", HistoryQuery{Ledger: "lgr_a", State: "failed", User: "Ana & Ben"}, "ledger=lgr_a&state=failed&user=Ana+%26+Ben", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.q.FilterValues().Encode(); got != tt.want {
				t.Errorf("FilterValues = %q, want %q", got, tt.want)
			}
			if tt.q.Filtered() != tt.filtered {
				t.Errorf("Filtered = %v", tt.q.Filtered())
			}
		})
	}
}
