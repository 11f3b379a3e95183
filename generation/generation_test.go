package generation

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/forms"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/store"
	"github.com/carbon-dash/mangrove-dashboard/watcher"
)

const (
	token    = "tok_user_a"
	ledgerID = "lgr_ncr"
)

func q1Form() forms.GenerationForm {
	return forms.ParseGenerationForm(url.Values{"start_time": {"2025-01-01"}, "end_time": {"2025-03-31"}})
}

// previewed runs a preview of Q1 and returns its confirmation.
func previewed(t *testing.T, r *rig) Confirmation {
	t.Helper()
	p, err := r.svc.Preview(context.Background(), token, ledgerID, q1Form())
	if err != nil || p.Refused() {
		t.Fatalf("preview: %v %+v", err, p)
	}
	return Confirmation{Token: token, UserLabel: "Ada", LedgerID: ledgerID, Key: p.Key, Form: q1Form()}
}

func TestPreview(t *testing.T) {
	t.Run("InvalidForm", func(t *testing.T) {
		r := newRig()
		f := forms.ParseGenerationForm(url.Values{"start_time": {"2025-03-31"}, "end_time": {"2025-01-01"}})
		p, err := r.svc.Preview(context.Background(), token, ledgerID, f)
		if err != nil || !p.Refused() || p.FieldErrors["end_time"] == "" || p.Key != "" {
			t.Fatalf("preview %+v, %v: want the form refused beside end_time and no key", p, err)
		}
	})
	t.Run("RefusedUpstream", func(t *testing.T) {
		r := newRig()
		r.api.preview = func() ([]mangrove.PreviewEntry, error) {
			return nil, &mangrove.APIError{Status: 422, Message: "Unknown data point in_x"}
		}
		p, err := r.svc.Preview(context.Background(), token, ledgerID, q1Form())
		if err != nil || p.FormError != "Unknown data point in_x" || p.Key != "" {
			t.Fatalf("preview %+v, %v: want Mangrove's message beside the form", p, err)
		}
	})
	t.Run("Counts", func(t *testing.T) {
		r := newRig()
		r.api.batches = []mangrove.Batch{{ID: "b1", StartTime: time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC), EndTime: time.Date(2025, 2, 28, 23, 59, 59, 0, time.UTC)},
			{ID: "b_old", StartTime: time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC), EndTime: time.Date(2024, 2, 28, 0, 0, 0, 0, time.UTC)}}
		p, err := r.svc.Preview(context.Background(), token, ledgerID, q1Form())
		if err != nil {
			t.Fatal(err)
		}
		// The fake API lists the same batches for both ledgers: one in the range each.
		if p.Total != 12 || len(p.Entries) != 2 || p.Overlapping() != 2 || p.Key == "" {
			t.Fatalf("total %d, entries %d, overlapping %d, key %q", p.Total, len(p.Entries), p.Overlapping(), p.Key)
		}
		if fresh, again := p.Split(p.Entries[0]); fresh != 5 || again != 1 {
			t.Errorf("split %d fresh, %d again; want 5 and 1", fresh, again)
		}
		if got := p.UnpickedManualInputs(); len(got) != 1 || got[0].Slug != "biochar-mass" {
			t.Errorf("unpicked manual inputs %+v", got)
		}
		for _, d := range p.InputData {
			if d.State != InputUnknown {
				t.Errorf("input %s is %q, want unknown where the API cannot tell", d.Slug, d.State)
			}
		}
		k := r.store.keys[p.Key]
		if k.tokenHash != mangrove.TokenHash(token) || k.paramsHash != forms.BindingHash(ledgerID, p.Params) || len(k.preview) != 2 || k.preview[1].LedgerName != "Biochar Produced" {
			t.Errorf("key bound to %+v", k)
		}
		if ex := k.preview[0].Existing; len(ex) != 1 || ex[0].BatchID != "b1" {
			t.Errorf("the key's preview keeps the existing batches %+v, want b1", ex)
		}
	})
}

func TestConfirmStartsOnce(t *testing.T) {
	r := newRig()
	c := previewed(t, r)
	o, err := r.svc.Confirm(context.Background(), c)
	if err != nil || o.Kind != Started || o.TaskID != 42 {
		t.Fatalf("confirm: %+v, %v", o, err)
	}
	g := r.store.only(t)
	if g.State != store.StateStarted || g.TaskID == nil || *g.TaskID != 42 || g.UserLabel != "Ada" || len(g.Preview) != 2 {
		t.Errorf("audit row %+v", g)
	}
	if len(r.watchers.tracked) != 1 || r.watchers.tracked[0] != 42 {
		t.Errorf("tracked %v, want task 42", r.watchers.tracked)
	}
	if len(r.changed) != 1 || r.changed[0] != token {
		t.Errorf("caches told %v", r.changed)
	}
	// A double click, a reload, a second tab: the same task, nothing new.
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, err := r.svc.Confirm(context.Background(), c)
			if err != nil || o.Kind != AlreadyStarted || o.TaskID != 42 {
				t.Errorf("repeated confirm: %+v, %v", o, err)
			}
		}()
	}
	wg.Wait()
	if n := r.api.startCount(); n != 1 {
		t.Errorf("%d POSTs, want 1", n)
	}
	if v := r.counter(t, "dashboard_generations_started_total", "outcome", "started"); v != 1 {
		t.Errorf("started counter %v, want 1", v)
	}
}

func TestConfirmOutcomes(t *testing.T) {
	tests := []struct {
		name      string
		start     func() (*mangrove.AsyncTask, error)
		wantKind  OutcomeKind
		wantErr   error
		wantState string
		wantForm  bool
		metric    string
	}{
		{name: "Refused422", start: func() (*mangrove.AsyncTask, error) {
			return nil, &mangrove.APIError{Status: 422, Method: "POST", Message: "End time must be after start time"}
		}, wantKind: Rejected, wantState: store.StateRejected, wantForm: true, metric: "rejected"},
		{name: "Forbidden", start: func() (*mangrove.AsyncTask, error) {
			return nil, &mangrove.APIError{Status: 403, Method: "POST", Message: "Forbidden"}
		}, wantKind: Rejected, wantErr: mangrove.ErrForbidden, wantState: store.StateRejected, metric: "rejected"},
		{name: "ServerError", start: func() (*mangrove.AsyncTask, error) {
			return nil, &mangrove.APIError{Status: 500, Method: "POST"}
		}, wantKind: Unknown, wantState: store.StateUnknown, metric: "unknown"},
		{name: "NoAnswer", start: func() (*mangrove.AsyncTask, error) { return nil, errNoAnswer },
			wantKind: Unknown, wantState: store.StateUnknown, metric: "unknown"},
		{name: "GatewayTimeout", start: func() (*mangrove.AsyncTask, error) {
			return nil, &mangrove.APIError{Status: 504, Method: "POST"}
		}, wantKind: Unknown, wantState: store.StateUnknown, metric: "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig()
			r.api.start = tt.start
			c := previewed(t, r)
			o, err := r.svc.Confirm(context.Background(), c)
			if o.Kind != tt.wantKind || (tt.wantErr == nil) != (err == nil) || (tt.wantErr != nil && !isErr(err, tt.wantErr)) {
				t.Fatalf("outcome %+v, err %v; want kind %d, err %v", o, err, tt.wantKind, tt.wantErr)
			}
			if (o.FormError != "") != tt.wantForm || (tt.wantForm && o.Ledger == nil) {
				t.Errorf("form error %q, ledger %v", o.FormError, o.Ledger)
			}
			if g := r.store.only(t); g.State != tt.wantState || g.TaskID != nil || g.Error == "" {
				t.Errorf("audit row %+v, want %s with a reason", g, tt.wantState)
			}
			if v := r.counter(t, "dashboard_generations_started_total", "outcome", tt.metric); v != 1 {
				t.Errorf("%s counter %v, want 1", tt.metric, v)
			}
			// Confirming again never sends it again.
			o2, err := r.svc.Confirm(context.Background(), c)
			if err != nil || o2.Kind != tt.wantKind {
				t.Errorf("repeated confirm %+v, %v", o2, err)
			}
			if n := r.api.startCount(); n != 1 {
				t.Errorf("%d POSTs, want 1: a retry could generate twice", n)
			}
		})
	}
}

func isErr(err, target error) bool {
	return errors.Is(err, target)
}

func TestConfirmExpired(t *testing.T) {
	r := newRig()
	c := previewed(t, r)
	tests := map[string]Confirmation{
		"BadFormat":   {Token: token, LedgerID: ledgerID, Key: "not-a-key", Form: q1Form()},
		"OtherUser":   {Token: "tok_user_b", LedgerID: ledgerID, Key: c.Key, Form: q1Form()},
		"OtherLedger": {Token: token, LedgerID: "lgr_other", Key: c.Key, Form: q1Form()},
		"OtherRange": {Token: token, LedgerID: ledgerID, Key: c.Key,
			Form: forms.ParseGenerationForm(url.Values{"start_time": {"2025-01-01"}, "end_time": {"2025-02-28"}})},
		"InvalidForm": {Token: token, LedgerID: ledgerID, Key: c.Key, Form: forms.GenerationForm{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o, err := r.svc.Confirm(context.Background(), tc)
			if err != nil || o.Kind != Expired {
				t.Fatalf("outcome %+v, %v; want Expired", o, err)
			}
		})
	}
	if n := r.api.startCount(); n != 0 {
		t.Errorf("%d POSTs for refused keys", n)
	}
}

func TestConfirmWhileSubmitting(t *testing.T) {
	r := newRig()
	entered, release := make(chan struct{}), make(chan struct{})
	r.api.start = func() (*mangrove.AsyncTask, error) {
		close(entered)
		<-release
		return &mangrove.AsyncTask{ID: 7}, nil
	}
	c := previewed(t, r)
	first := make(chan Outcome, 1)
	go func() { o, _ := r.svc.Confirm(context.Background(), c); first <- o }()
	<-entered // the first confirmation is waiting for Mangrove

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	o, err := r.svc.Confirm(ctx, c)
	if err != nil || o.Kind != Submitting {
		t.Fatalf("second confirm while the first waits: %+v, %v", o, err)
	}
	// Once Mangrove answers, a waiting repeat gets the task.
	second := make(chan Outcome, 1)
	go func() { o, _ := r.svc.Confirm(context.Background(), c); second <- o }()
	close(release)
	if o := <-first; o.Kind != Started || o.TaskID != 7 {
		t.Errorf("first %+v", o)
	}
	if o := <-second; o.Kind != AlreadyStarted || o.TaskID != 7 {
		t.Errorf("waiting repeat %+v", o)
	}
}

func TestRecordFinal(t *testing.T) {
	finished := time.Date(2025, 4, 1, 10, 0, 0, 0, time.UTC)
	msg := "model run aborted"
	for _, state := range []string{mangrove.TaskComplete, mangrove.TaskFailed} {
		t.Run(state, func(t *testing.T) {
			r := newRig()
			if o, err := r.svc.Confirm(context.Background(), previewed(t, r)); err != nil || o.Kind != Started {
				t.Fatal(o, err)
			}
			task := mangrove.AsyncTask{ID: 42, State: state, FinishedAt: &finished}
			if state == mangrove.TaskFailed {
				task.ErrorMessage = &msg
			}
			r.svc.Publish(42, watcher.Snapshot{Task: mangrove.AsyncTask{ID: 42, State: mangrove.TaskRunning}})
			if g := r.store.only(t); g.State != store.StateStarted {
				t.Fatalf("a running snapshot changed the row: %+v", g)
			}
			var wg sync.WaitGroup
			for range 8 { // the watcher, page views and streams may all see the end at once
				wg.Add(1)
				go func() { defer wg.Done(); r.svc.Publish(42, watcher.Snapshot{Task: task}) }()
			}
			wg.Wait()
			g := r.store.only(t)
			if g.State != state || g.FinishedAt == nil || !g.FinishedAt.Equal(finished) || (state == mangrove.TaskFailed && g.Error != msg) {
				t.Errorf("audit row %+v", g)
			}
			if r.store.finishes != 1 {
				t.Errorf("%d finish writes, want 1", r.store.finishes)
			}
			if v := r.counter(t, "dashboard_generations_finished_total", "outcome", state); v != 1 {
				t.Errorf("finished{%s} = %v, want 1", state, v)
			}
			if len(r.changed) != 2 || r.changed[1] != "" {
				t.Errorf("caches told %v, want the start and the end", r.changed)
			}
		})
	}
	// Replicas sharing a database all see the end; the one whose
	// MarkFinished moved the row counts it, the others do nothing more.
	t.Run("AnotherReplicaRecordedIt", func(t *testing.T) {
		st := newFakeStore()
		r := newRig(func(o *Options) { o.Store = otherReplicaFinishes{st} })
		if o, err := r.svc.Confirm(context.Background(), previewed(t, r)); err != nil || o.Kind != Started {
			t.Fatal(o, err)
		}
		r.svc.RecordFinal(context.Background(), mangrove.AsyncTask{ID: 42, State: mangrove.TaskComplete, FinishedAt: &finished})
		if v := r.counter(t, "dashboard_generations_finished_total", "outcome", "complete"); v != 0 {
			t.Errorf("finished{complete} = %v, want 0: another replica counted it", v)
		}
		if len(r.changed) != 1 {
			t.Errorf("caches told %v, want the start only", r.changed)
		}
	})
	t.Run("NotStartedHere", func(t *testing.T) {
		r := newRig()
		r.svc.RecordFinal(context.Background(), mangrove.AsyncTask{ID: 99, State: mangrove.TaskComplete})
		if v := r.counter(t, "dashboard_generations_finished_total", "outcome", "complete"); v != 0 {
			t.Errorf("a foreign task was counted")
		}
	})
	t.Run("AfterUnknownOutcome", func(t *testing.T) {
		r := newRig()
		r.api.start = func() (*mangrove.AsyncTask, error) { return nil, errNoAnswer }
		c := previewed(t, r)
		if o, _ := r.svc.Confirm(context.Background(), c); o.Kind != Unknown {
			t.Fatalf("outcome %+v", o)
		}
		// The task turns up later (seen in the ledger, say) and is recorded.
		g := r.store.only(t)
		if err := r.store.MarkStarted(context.Background(), g.ID, 5); err != nil {
			t.Fatal(err)
		}
		r.svc.RecordFinal(context.Background(), mangrove.AsyncTask{ID: 5, State: mangrove.TaskComplete})
		if g := r.store.only(t); g.State != store.StateComplete {
			t.Errorf("row %+v", g)
		}
	})
}

func TestTaskListsWrittenBatchesPerLedger(t *testing.T) {
	r := newRig()
	now := time.Now()
	jan := func(id string, output float64, updated time.Time) mangrove.Batch {
		return mangrove.Batch{ID: id, StartTime: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), EndTime: time.Date(2025, 1, 31, 23, 59, 59, 0, time.UTC),
			UpdatedAt: updated, PrimaryOutput: &mangrove.PrimaryOutput{Value: output, Unit: "t"}}
	}
	// At preview time the ledger has one batch in the range, output 10.
	r.api.batchesOf = map[string][]mangrove.Batch{"lgr_ncr": {jan("b_old", 10, now.Add(-time.Hour))}}
	if o, err := r.svc.Confirm(context.Background(), previewed(t, r)); err != nil || o.Kind != Started {
		t.Fatal(o, err)
	}
	started, finished := now.Add(-time.Minute), now.Add(-20*time.Second)
	otherRange := jan("b_2024", 1, now.Add(-30*time.Second))
	otherRange.StartTime, otherRange.EndTime = otherRange.StartTime.AddDate(-1, 0, 0), otherRange.EndTime.AddDate(-1, 0, 0)
	r.api.mu.Lock()
	r.api.batchesOf = map[string][]mangrove.Batch{
		// newest updated first, as asked
		"lgr_ncr": {jan("b_later", 3, now), jan("b_old", 12, now.Add(-30*time.Second)), jan("b_new", 5, now.Add(-40*time.Second)), otherRange, jan("b_before", 7, now.Add(-2*time.Minute))},
		"lgr_bp":  {jan("b_bp", 40, now.Add(-30*time.Second))},
	}
	r.api.mu.Unlock()

	for _, state := range []string{mangrove.TaskFailed, mangrove.TaskComplete} {
		r.watchers.current[42] = watcher.Snapshot{Task: mangrove.AsyncTask{ID: 42, State: state, StartedAt: &started, FinishedAt: &finished}}
		task, err := r.svc.Task(context.Background(), token, 42)
		if err != nil || task.Generation == nil || task.WrittenError != nil {
			t.Fatalf("%s: task %+v, %v", state, task, err)
		}
		if len(task.Written) != 2 {
			t.Fatalf("%s: written on %d ledgers, want the preview's 2", state, len(task.Written))
		}
		ncr, bp := task.Written[0], task.Written[1]
		if ncr.LedgerID != "lgr_ncr" || ncr.Previewed != 6 || ids(ncr.Batches) != "b_old b_new" {
			t.Errorf("%s: Net Carbon Removal %+v, want b_old and b_new (in range, updated while the task ran)", state, ncr)
		}
		if old, ok := ncr.Replaced["b_old"]; !ok || old.Output == nil || *old.Output != 10 {
			t.Errorf("%s: replaced %+v, want b_old with its output at confirmation, 10", state, ncr.Replaced)
		}
		if bp.LedgerID != "lgr_bp" || bp.Previewed != 6 || ids(bp.Batches) != "b_bp" {
			t.Errorf("%s: Biochar Produced %+v", state, bp)
		}
	}
	g := r.store.only(t)
	want := []store.LedgerWritten{{LedgerID: "lgr_ncr", Count: 2}, {LedgerID: "lgr_bp", Count: 1}}
	if !slices.Equal(g.Run.Written, want) {
		t.Errorf("recorded counts %+v, want %+v", g.Run.Written, want)
	}
}

func ids(bs []mangrove.Batch) string {
	var out []string
	for _, b := range bs {
		out = append(out, b.ID)
	}
	return strings.Join(out, " ")
}

func TestOriginIsReadOnce(t *testing.T) {
	r := newRig()
	if g, err := r.svc.Origin(context.Background(), 42); g != nil || err != nil {
		t.Fatalf("before the task exists: %+v, %v", g, err)
	}
	if o, err := r.svc.Confirm(context.Background(), previewed(t, r)); err != nil || o.Kind != Started {
		t.Fatal(o, err)
	}
	g, err := r.svc.Origin(context.Background(), 42)
	if err != nil || g == nil || g.LedgerName != "Net Carbon Removal" {
		t.Fatalf("origin %+v, %v", g, err)
	}
	r.store.mu.Lock()
	r.store.gens = nil // the row is kept: no second read
	r.store.mu.Unlock()
	if g2, err := r.svc.Origin(context.Background(), 42); err != nil || g2 != g {
		t.Fatalf("second origin %+v, %v: want the kept row", g2, err)
	}
}

func TestConfirmNothingToGenerate(t *testing.T) {
	r := newRig()
	r.api.preview = func() ([]mangrove.PreviewEntry, error) {
		return []mangrove.PreviewEntry{{ID: "lgr_ncr", Name: "Net Carbon Removal", Count: 0}}, nil
	}
	c := previewed(t, r)
	for range 2 {
		o, err := r.svc.Confirm(context.Background(), c)
		if err != nil || o.Kind != NothingToGenerate {
			t.Fatalf("outcome %+v, %v; want NothingToGenerate", o, err)
		}
	}
	if n := r.api.startCount(); n != 0 {
		t.Errorf("%d POSTs for an empty preview", n)
	}
	if g := r.store.only(t); g.State != store.StateRejected || g.Error != nothingToGenerate {
		t.Errorf("audit row %+v", g)
	}
}

func TestRunIsRecorded(t *testing.T) {
	r := newRig(func(o *Options) { o.Sealer = prefixSealer{} })
	if o, err := r.svc.Confirm(context.Background(), previewed(t, r)); err != nil || o.Kind != Started {
		t.Fatal(o, err)
	}
	now := time.Now()
	started, finished := now.Add(-time.Minute), now
	jan := mangrove.Batch{ID: "b_1", StartTime: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), EndTime: time.Date(2025, 1, 31, 0, 0, 0, 0, time.UTC), UpdatedAt: now.Add(-time.Second)}
	r.api.mu.Lock()
	r.api.batchesOf = map[string][]mangrove.Batch{"lgr_ncr": {jan}}
	r.api.mu.Unlock()
	desc := func(s string) *string { return &s }
	for i, snap := range []watcher.Snapshot{
		{Task: mangrove.AsyncTask{ID: 42, State: mangrove.TaskRunning, Progress: 10, ProgressDescription: desc("Loading data")}, ObservedAt: started},
		{Task: mangrove.AsyncTask{ID: 42, State: mangrove.TaskRunning, Progress: 10, ProgressDescription: desc("Loading data")}, ObservedAt: started.Add(time.Second), Retrying: "x"},
		// Polled by another replica, which records its step.
		{Task: mangrove.AsyncTask{ID: 42, State: mangrove.TaskRunning, Progress: 50, ProgressDescription: desc("Relayed")}, ObservedAt: started.Add(2 * time.Second), Relayed: true},
		{Task: mangrove.AsyncTask{ID: 42, State: mangrove.TaskComplete, Progress: 100, StartedAt: &started, FinishedAt: &finished}, ObservedAt: finished},
	} {
		r.svc.Publish(42, snap)
		if i == 0 {
			r.svc.Publish(7, snap) // not started here: nothing recorded, no error
		}
	}
	r.svc.background.Wait()
	g := r.store.only(t)
	if len(g.Run.Steps) < 2 || g.Run.Steps[0].Description != "Loading data" || g.Run.Steps[len(g.Run.Steps)-1].Description != mangrove.TaskComplete {
		t.Errorf("steps %+v: want Loading data … complete", g.Run.Steps)
	}
	for _, st := range g.Run.Steps {
		if st.Description == "Relayed" {
			t.Errorf("a relayed state was recorded as a step here: %+v", g.Run.Steps)
		}
	}
	// Counted without a viewer, with the token the row kept sealed.
	if n, ok := g.Run.WrittenTotal(); !ok || n != 1 || g.State != store.StateComplete {
		t.Errorf("state %s, written %d %v: want complete with 1 batch counted", g.State, n, ok)
	}
}

// TestUnknownFinalStateIsRecordedAsUnknown: a task that ends in a state the
// reference does not list is recorded once, as unknown, with the state named.
func TestUnknownFinalStateIsRecordedAsUnknown(t *testing.T) {
	r := newRig()
	if o, err := r.svc.Confirm(context.Background(), previewed(t, r)); err != nil || o.Kind != Started {
		t.Fatal(o, err)
	}
	done := time.Now()
	task := mangrove.AsyncTask{ID: 42, State: "cancelled", FinishedAt: &done}
	for range 2 {
		r.svc.RecordFinal(context.Background(), task)
	}
	g := r.store.only(t)
	if g.State != store.StateUnknown || g.FinishedAt == nil || !strings.Contains(g.Error, `"cancelled"`) {
		t.Errorf("row %s finished %v error %q: want unknown, finished, naming the state", g.State, g.FinishedAt, g.Error)
	}
	if v := r.counter(t, "dashboard_generations_finished_total", "outcome", store.StateUnknown); v != 1 {
		t.Errorf("counted %v times as unknown, want once", v)
	}
}

// otherReplicaFinishes is a store where another replica always records a
// task's end first: MarkFinished finds the row already moved.
type otherReplicaFinishes struct{ *fakeStore }

func (otherReplicaFinishes) MarkFinished(context.Context, int64, string, string, time.Time) (bool, error) {
	return false, nil
}
