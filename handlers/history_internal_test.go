package handlers

import (
	"reflect"
	"testing"

	"github.com/carbon-dash/mangrove-dashboard/forms"
	"github.com/carbon-dash/mangrove-dashboard/store"
	"github.com/carbon-dash/mangrove-dashboard/views"
)

func TestHistoryPager(t *testing.T) {
	tests := []struct {
		name      string
		q         forms.HistoryQuery
		total     int
		wantPages int
		wantURL   string // of page 3
	}{
		{"Unfiltered", forms.HistoryQuery{Page: 1}, 0, 1, "/tasks?page=3"},
		{"KeepsFilters", forms.HistoryQuery{Page: 2, Ledger: "lgr_a", State: "failed", User: "Ana & Ben"}, 120, 3,
			"/tasks?ledger=lgr_a&page=3&state=failed&user=Ana+%26+Ben"},
		{"ExactPages", forms.HistoryQuery{Page: 1}, 100, 2, "/tasks?page=3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := historyPager(tt.q, tt.total)
			if p.TotalPages != tt.wantPages || p.Page != tt.q.Page || p.TotalItems != tt.total || p.One != "generation" {
				t.Errorf("pager %+v", p)
			}
			if got := p.PageURL(3); got != tt.wantURL {
				t.Errorf("page 3 at %q, want %q", got, tt.wantURL)
			}
		})
	}
}

func TestHistoryChoices(t *testing.T) {
	stored := store.GenerationChoices{Ledgers: []store.LedgerChoice{{ID: "lgr_a", Name: "A"}, {ID: "lgr_b"}}, Users: []string{"Ana"}}
	tests := []struct {
		name        string
		q           forms.HistoryQuery
		wantLedgers []views.KeyValue
		wantUsers   []string
	}{
		{"AsStored", forms.HistoryQuery{Ledger: "lgr_a", User: "Ana"},
			[]views.KeyValue{{Key: "lgr_a", Value: "A"}, {Key: "lgr_b", Value: "lgr_b"}}, []string{"Ana"}},
		{"AppliedValuesKept", forms.HistoryQuery{Ledger: "lgr_z", User: "Zoe"},
			[]views.KeyValue{{Key: "lgr_a", Value: "A"}, {Key: "lgr_b", Value: "lgr_b"}, {Key: "lgr_z", Value: "lgr_z"}}, []string{"Ana", "Zoe"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := historyChoices(stored, tt.q)
			if !reflect.DeepEqual(got.Ledgers, tt.wantLedgers) || !reflect.DeepEqual(got.Users, tt.wantUsers) ||
				!reflect.DeepEqual(got.States, store.States) {
				t.Errorf("choices %+v", got)
			}
		})
	}
	if len(stored.Users) != 1 {
		t.Errorf("the store's list was changed: %v", stored.Users)
	}
}
