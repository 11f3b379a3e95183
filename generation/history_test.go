package generation

import (
	"context"
	"testing"

	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/store"
	"github.com/carbon-dash/mangrove-dashboard/watcher"
)

// TestHistory: a page of the history carries the live state of each
// watched task and the token's filter choices, whatever the filter; the
// export reads what the filter matches.
func TestHistory(t *testing.T) {
	r := newRig()
	ctx := context.Background()
	if o, err := r.svc.Confirm(ctx, previewed(t, r)); err != nil || o.Kind != Started {
		t.Fatal(o, err)
	}
	r.watchers.mu.Lock()
	r.watchers.current[42] = watcher.Snapshot{Task: mangrove.AsyncTask{ID: 42, State: mangrove.TaskRunning, Progress: 40}}
	r.watchers.mu.Unlock()

	page, err := r.svc.History(ctx, token, store.GenerationFilter{}, 1)
	if err != nil || page.Total != 1 || len(page.Entries) != 1 {
		t.Fatalf("page %+v, %v", page, err)
	}
	if e := page.Entries[0]; e.LiveState != mangrove.TaskRunning || e.LiveProgress != 40 || e.LedgerID != ledgerID {
		t.Errorf("entry %+v, want the live state of task 42", e)
	}
	if len(page.Choices.Ledgers) != 1 || page.Choices.Ledgers[0].ID != ledgerID || len(page.Choices.Users) != 1 || page.Choices.Users[0] != "Ada" {
		t.Errorf("choices %+v", page.Choices)
	}

	none, err := r.svc.History(ctx, token, store.GenerationFilter{LedgerID: "lgr_other"}, 1)
	if err != nil || none.Total != 0 || len(none.Entries) != 0 || len(none.Choices.Ledgers) != 1 {
		t.Errorf("filtered to another ledger: %+v, %v; want no entries and the same choices", none, err)
	}

	for _, tt := range []struct {
		state string
		want  int
	}{{store.StateStarted, 1}, {store.StateComplete, 0}} {
		got, calls := 0, 0
		err := r.svc.EachGeneration(ctx, token, store.GenerationFilter{State: tt.state}, func(gens []store.Generation) error {
			got, calls = got+len(gens), calls+1
			return nil
		})
		if err != nil || got != tt.want || calls != 1 {
			t.Errorf("export of %s: %d rows in %d calls (%v), want %d in one", tt.state, got, calls, err, tt.want)
		}
	}
}
