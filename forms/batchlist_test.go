package forms

import (
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestBatchStateOptions(t *testing.T) {
	tests := []struct {
		name     string
		selected string
		seen     []string
		want     []string
	}{
		{"DocumentedOnly", "", nil, []string{"complete", "processing"}},
		// The reference shows only complete and processing: error and
		// failed are offered when a listed batch carries them.
		{"SeenStates", "", []string{"processing", "error", "complete", "error", "queued"}, []string{"complete", "processing", "error", "queued"}},
		{"SelectedKept", "failed", []string{"complete"}, []string{"complete", "processing", "failed"}},
		{"SelectedAlsoSeen", "error", []string{"error"}, []string{"complete", "processing", "error"}},
		{"SelectedDocumented", "complete", nil, []string{"complete", "processing"}},
		// What the parser refuses is not offered: it would not filter.
		{"UnfilterableLeftOut", "", []string{"", "any", "In Progress", "a&b", strings.Repeat("a", 33), "weird-state"}, []string{"complete", "processing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := slices.Clone(tt.seen)
			got := BatchStateOptions(tt.selected, seen...)
			if !slices.Equal(got, tt.want) {
				t.Errorf("options %q, want %q", got, tt.want)
			}
			if !slices.Equal(seen, tt.seen) {
				t.Errorf("the seen states changed: %q", seen)
			}
		})
	}
	if DocumentedBatchStates[0] != "complete" || len(DocumentedBatchStates) != 2 {
		t.Errorf("the documented states changed: %q", DocumentedBatchStates)
	}
}

// TestParseBatchListStates: any short lower-case state filters, offered or
// not, so a link with state=error keeps working.
func TestParseBatchListStates(t *testing.T) {
	for _, s := range []string{"error", "failed", "complete", "processing", "in_progress", "queued"} {
		q, errs := ParseBatchListQuery(url.Values{"state": {s}})
		if q.State != s || errs != nil {
			t.Errorf("state %q: query %+v, errs %v", s, q, errs)
		}
	}
	for _, s := range []string{"Error", "a b", "a-b", "état", strings.Repeat("x", 33)} {
		if q, errs := ParseBatchListQuery(url.Values{"state": {s}}); q.State != "" || errs["state"] == "" {
			t.Errorf("state %q accepted: query %+v, errs %v", s, q, errs)
		}
	}
}

// FuzzBatchStateOptions: the documented states come first, each option is
// listed once and filters (the parser takes it as it is), and a selected
// state the parser accepts is among them.
//
//	go test ./forms/ -run '^$' -fuzz '^FuzzBatchStateOptions$' -fuzztime 30s
func FuzzBatchStateOptions(f *testing.F) {
	f.Add("", "complete", "error")
	f.Add("error", "", "")
	f.Add("a ", "0", "0")
	f.Add("failed", "processing", "failed")
	f.Add("Complete", "a&b", strings.Repeat("a", 40))
	f.Add("any", "any", "\x00")
	f.Fuzz(func(t *testing.T, state, seen1, seen2 string) {
		// As the ledger page does: the selected state is the parsed one.
		q, _ := ParseBatchListQuery(url.Values{"state": {state}})
		opts := BatchStateOptions(q.State, seen1, seen2)
		if !slices.Equal(opts[:len(DocumentedBatchStates)], DocumentedBatchStates) {
			t.Fatalf("options %q do not start with the documented states", opts)
		}
		for i, o := range opts {
			if slices.Contains(opts[:i], o) {
				t.Fatalf("%q offered twice: %q", o, opts)
			}
			q, errs := ParseBatchListQuery(url.Values{"state": {o}})
			if errs != nil || q.State != o {
				t.Fatalf("option %q does not filter: query %+v, errs %v", o, q, errs)
			}
		}
		if q.State != "" && !slices.Contains(opts, q.State) {
			t.Fatalf("selected state %q not offered: %q", q.State, opts)
		}
		if len(opts) > len(DocumentedBatchStates)+3 {
			t.Fatalf("more options than states given: %q", opts)
		}
	})
}
