package generation

import (
	"context"
	"encoding/json"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/forms"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/store"
)

// allocAPI is fakeAPI with a manual-select input fed by Biochar Produced
// (lgr_bp): its list of recent batches (listed) and every batch a lookup by
// id finds (held).
type allocAPI struct {
	*fakeAPI
	inputs []mangrove.RequiredInput
	listed map[string][]mangrove.Batch
	held   map[string][]mangrove.Batch
	errOf  map[string]error

	mu      sync.Mutex
	queries []mangrove.ListOptions // of the feeding ledgers
	sent    []mangrove.GenerationRequest
}

func (a *allocAPI) RequiredInputs(context.Context, string, string) ([]mangrove.RequiredInput, error) {
	return a.inputs, nil
}

func (a *allocAPI) LedgerBatches(ctx context.Context, tok, ledgerID string, o mangrove.ListOptions) (*mangrove.List[mangrove.Batch], error) {
	if _, feeding := a.held[ledgerID]; !feeding {
		return a.fakeAPI.LedgerBatches(ctx, tok, ledgerID, o) // the preview's own reads
	}
	a.mu.Lock()
	a.queries = append(a.queries, o)
	a.mu.Unlock()
	if err := a.errOf[ledgerID]; err != nil {
		return nil, err
	}
	data := a.listed[ledgerID]
	for _, f := range o.Filters {
		if f.Field == "id" {
			data = nil
			for _, b := range a.held[ledgerID] {
				if b.ID == f.Value {
					data = append(data, b)
				}
			}
		}
	}
	return &mangrove.List[mangrove.Batch]{Data: data, Info: &mangrove.Info{TotalItems: len(data)}}, nil
}

func (a *allocAPI) StartGeneration(ctx context.Context, tok, id string, req mangrove.GenerationRequest) (*mangrove.AsyncTask, error) {
	a.mu.Lock()
	a.sent = append(a.sent, req)
	a.mu.Unlock()
	return a.fakeAPI.StartGeneration(ctx, tok, id, req)
}

func raws(items ...string) []json.RawMessage {
	out := make([]json.RawMessage, len(items))
	for i, s := range items {
		out[i] = json.RawMessage(s)
	}
	return out
}

func month(y int, m time.Month) (time.Time, time.Time) {
	s := time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	return s, s.AddDate(0, 1, 0).Add(-time.Second)
}

func upstream(id, tracking string, y int, m time.Month, state string, output float64, balance *float64) mangrove.Batch {
	s, e := month(y, m)
	return mangrove.Batch{ID: id, TrackingID: &tracking, StartTime: s, EndTime: e, State: state,
		PrimaryOutput: &mangrove.PrimaryOutput{Name: "Biochar produced", Unit: "t", Value: output}, LedgerBalance: balance}
}

func ptr(v float64) *float64 { return &v }

// biocharInput is the manual-select input fed by Biochar Produced, with its
// one allocation group.
var biocharInput = mangrove.RequiredInput{ID: 12, Name: "Biochar mass produced", Slug: "biochar-mass", IsManualSelect: true,
	AllocationGroups: raws(`{"id":"biochar-produced","name":"Biochar produced"}`),
	OutputOfLedgers:  raws(`{"id":"lgr_bp","name":"Biochar Produced"}`)}

// newAllocRig is a rig whose ledger has biocharInput, fed by lgr_bp with:
// Jan 2025 (12.5 t of 50 t left), Feb 2025 (all 40 t left), Mar 2025 still
// processing, Dec 2024 fully allocated, and, held but past the listed
// page, Jan 2020 (10 t left).
func newAllocRig(input mangrove.RequiredInput) (*rig, *allocAPI) {
	jan := upstream("bat_jan", "Jan-2025-001", 2025, time.January, "complete", 50, ptr(12.5))
	feb := upstream("bat_feb", "Feb-2025-001", 2025, time.February, "complete", 40, ptr(40))
	mar := upstream("bat_mar", "Mar-2025-001", 2025, time.March, "processing", 30, ptr(30))
	dec := upstream("bat_dec", "Dec-2024-001", 2024, time.December, "complete", 45, ptr(0))
	old := upstream("bat_old", "Jan-2020-001", 2020, time.January, "complete", 20, ptr(10))
	api := &allocAPI{
		fakeAPI: &fakeAPI{},
		inputs:  []mangrove.RequiredInput{{ID: 11, Name: "Feedstock mass", Slug: "feedstock-mass"}, input},
		listed:  map[string][]mangrove.Batch{"lgr_bp": {mar, feb, jan, dec}},
		held:    map[string][]mangrove.Batch{"lgr_bp": {mar, feb, jan, dec, old}},
	}
	return newRig(func(o *Options) { o.API = api }), api
}

// allocForm is Q1 2025 with batch_amounts rows of batch id, amount, group.
func allocForm(rows ...[3]string) forms.GenerationForm {
	v := url.Values{"start_time": {"2025-01-01"}, "end_time": {"2025-03-31"}}
	for i, r := range rows {
		n := "batch_amounts[" + string(rune('0'+i)) + "]"
		v.Set(n+"[batch_id]", r[0])
		v.Set(n+"[primary_output_amount]", r[1])
		v.Set(n+"[allocation_group]", r[2])
	}
	return forms.ParseGenerationForm(v)
}

func TestFeedsReadUndocumentedShapesTolerantly(t *testing.T) {
	l := &Ledger{Inputs: []mangrove.RequiredInput{
		{ID: 1, Name: "Not manual", OutputOfLedgers: raws(`{"id":"lgr_a","name":"A"}`)},
		{ID: 2, Name: "Manual, fed by nothing", IsManualSelect: true},
		{ID: 3, Name: "Groups of every shape", IsManualSelect: true,
			AllocationGroups: raws(`{"id":"g1","name":"Group one"}`, `{"id":7}`, `"plain"`, `{"name":"no id"}`, `42`, `{"id":""}`),
			OutputOfLedgers:  raws(`{"id":"lgr_a","name":"A"}`, `"lgr_b"`, `"Ledger C"`, `{"id":456}`, `[1]`)},
	}}
	feeds := l.Feeds()
	if len(feeds) != 1 || feeds[0].Input.ID != 3 {
		t.Fatalf("feeds %+v, want only the manual-select input fed by ledgers", feeds)
	}
	wantGroups := []AllocationGroup{{"g1", "Group one"}, {"7", "7"}, {"plain", "plain"}}
	if !reflect.DeepEqual(feeds[0].Groups, wantGroups) {
		t.Errorf("groups %+v, want %+v", feeds[0].Groups, wantGroups)
	}
	var refs []LedgerRef
	for _, s := range feeds[0].Sources {
		refs = append(refs, s.Ledger)
	}
	wantRefs := []LedgerRef{{"lgr_a", "A"}, {"lgr_b", "lgr_b"}, {"", "Ledger C"}, {"456", "456"}}
	if !reflect.DeepEqual(refs, wantRefs) {
		t.Errorf("sources %+v, want %+v", refs, wantRefs)
	}
}

func TestLoadFeeds(t *testing.T) {
	t.Run("OffersCompleteBatchesWithSomethingLeft", func(t *testing.T) {
		r, api := newAllocRig(biocharInput)
		l, feeds, err := r.svc.LoadForm(context.Background(), token, ledgerID)
		if err != nil || l == nil {
			t.Fatal(err)
		}
		if len(feeds) != 1 || len(feeds[0].Sources) != 1 {
			t.Fatalf("feeds %+v", feeds)
		}
		var ids []string
		for _, b := range feeds[0].Sources[0].Batches {
			ids = append(ids, b.ID)
		}
		if want := []string{"bat_feb", "bat_jan"}; !slices.Equal(ids, want) {
			t.Errorf("offered %v, want %v (complete, with an unallocated amount, most recent first)", ids, want)
		}
		q := api.queries[0]
		if q.PageSize != MaxUpstreamBatches || !slices.Equal(q.Sort, []string{"-start_time"}) ||
			len(q.Filters) != 1 || q.Filters[0] != (mangrove.Filter{Field: "state", Op: mangrove.OpEq, Value: "complete"}) {
			t.Errorf("asked %+v, want the %d most recent complete batches, documented parameters only", q, MaxUpstreamBatches)
		}
	})
	t.Run("UnreadableLedger", func(t *testing.T) {
		r, api := newAllocRig(biocharInput)
		api.errOf = map[string]error{"lgr_bp": &mangrove.APIError{Status: 503}}
		_, feeds, err := r.svc.LoadForm(context.Background(), token, ledgerID)
		if err != nil || len(feeds) != 1 || feeds[0].Sources[0].Err == nil || len(feeds[0].Sources[0].Batches) != 0 {
			t.Fatalf("feeds %+v, %v: want the source marked unreadable, the form still shown", feeds, err)
		}
	})
	t.Run("SourceWithoutID", func(t *testing.T) {
		in := biocharInput
		in.OutputOfLedgers = raws(`"Biochar Produced"`)
		r, api := newAllocRig(in)
		_, feeds, _ := r.svc.LoadForm(context.Background(), token, ledgerID)
		if len(feeds) != 1 || feeds[0].Sources[0].Err == nil || len(api.queries) != 0 {
			t.Fatalf("feeds %+v, %d queries: a ledger named without an id cannot be read", feeds, len(api.queries))
		}
	})
}

func TestCheckAllocations(t *testing.T) {
	twoGroups := biocharInput
	twoGroups.AllocationGroups = raws(`{"id":"soil","name":"Soil"}`, `{"id":"concrete","name":"Concrete"}`)
	noGroups := biocharInput
	noGroups.AllocationGroups = nil

	tests := []struct {
		name  string
		input mangrove.RequiredInput
		rows  [][3]string
		err   error // of reading lgr_bp
		// wantErrs maps each expected key to a substring of its message;
		// no other key may be present.
		wantErrs map[string]string
		// wantGroups are the resolved groups when accepted.
		wantGroups []string
	}{
		{name: "WithinBalance", input: biocharInput, rows: [][3]string{{"bat_jan", "12", ""}, {"bat_feb", "40", "biochar-produced"}},
			wantGroups: []string{"biochar-produced", "biochar-produced"}},
		{name: "ExactlyTheBalance", input: biocharInput, rows: [][3]string{{"bat_jan", "12.5", ""}}, wantGroups: []string{"biochar-produced"}},
		{name: "AboveBalance", input: biocharInput, rows: [][3]string{{"bat_feb", "1", ""}, {"bat_jan", "40", ""}},
			wantErrs: map[string]string{"batch_amounts[1][primary_output_amount]": "40.00 t is more than the 12.50 t left unallocated on Jan-2025-001"}},
		{name: "JustAboveBalance", input: biocharInput, rows: [][3]string{{"bat_jan", "12.501", ""}},
			wantErrs: map[string]string{"batch_amounts[0][primary_output_amount]": "12.501 t is more than the 12.500 t left unallocated on Jan-2025-001"}},
		{name: "Zero", input: biocharInput, rows: [][3]string{{"bat_jan", "0", ""}},
			wantErrs: map[string]string{"batch_amounts[0][primary_output_amount]": "Enter an amount above 0"}},
		{name: "Negative", input: biocharInput, rows: [][3]string{{"bat_jan", "-3", ""}},
			wantErrs: map[string]string{"batch_amounts[0][primary_output_amount]": "Enter an amount above 0"}},
		{name: "NotAFeedingLedgersBatch", input: biocharInput, rows: [][3]string{{"bat_elsewhere", "1", ""}},
			wantErrs: map[string]string{"batch_amounts[0][batch_id]": "bat_elsewhere is not a batch of Biochar Produced"}},
		{name: "OlderBatchIsLookedUp", input: biocharInput, rows: [][3]string{{"bat_old", "10", ""}}, wantGroups: []string{"biochar-produced"}},
		{name: "FullyAllocatedBatchIsLookedUp", input: biocharInput, rows: [][3]string{{"bat_dec", "1", ""}},
			wantErrs: map[string]string{"batch_amounts[0][primary_output_amount]": "1.00 t is more than the 0.00 t left unallocated on Dec-2024-001"}},
		{name: "UnreadableLedger", input: biocharInput, rows: [][3]string{{"bat_jan", "1", ""}}, err: &mangrove.APIError{Status: 503},
			wantErrs: map[string]string{"batch_amounts[0][batch_id]": "bat_jan could not be checked: the batches of Biochar Produced could not be read"}},
		{name: "NotTheInputsGroup", input: biocharInput, rows: [][3]string{{"bat_jan", "1", "soil"}},
			wantErrs: map[string]string{"batch_amounts[0][allocation_group]": `"soil" is not an allocation group of Biochar mass produced; choose Biochar produced`}},
		{name: "GroupChosenOfSeveral", input: twoGroups, rows: [][3]string{{"bat_jan", "1", "concrete"}}, wantGroups: []string{"concrete"}},
		{name: "GroupMissingOfSeveral", input: twoGroups, rows: [][3]string{{"bat_jan", "1", ""}},
			wantErrs: map[string]string{"batch_amounts[0][allocation_group]": "Choose the allocation group"}},
		{name: "NoGroups", input: noGroups, rows: [][3]string{{"bat_jan", "1", ""}}, wantGroups: []string{""}},
		{name: "GroupWhereNone", input: noGroups, rows: [][3]string{{"bat_jan", "1", "soil"}},
			wantErrs: map[string]string{"batch_amounts[0][allocation_group]": "has no allocation groups"}},
		{name: "EverythingWrong", input: biocharInput, rows: [][3]string{{"bat_nope", "1", ""}, {"bat_feb", "41", "x"}},
			wantErrs: map[string]string{
				"batch_amounts[0][batch_id]":              "bat_nope is not a batch",
				"batch_amounts[1][primary_output_amount]": "41.00 t is more than the 40.00 t",
				"batch_amounts[1][allocation_group]":      `"x" is not an allocation group`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, api := newAllocRig(tt.input)
			if tt.err != nil {
				api.errOf = map[string]error{"lgr_bp": tt.err}
			}
			ctx := context.Background()
			l, feeds, err := r.svc.LoadForm(ctx, token, ledgerID)
			if err != nil {
				t.Fatal(err)
			}
			params, ferrs := allocForm(tt.rows...).Validate(nil)
			if ferrs.Any() {
				t.Fatalf("the form refused %v", ferrs)
			}
			resolved, picked, errs := r.svc.CheckAllocations(ctx, token, l, feeds, params.BatchAmounts)
			if len(tt.wantErrs) > 0 {
				for k, sub := range tt.wantErrs {
					if !strings.Contains(errs[k], sub) {
						t.Errorf("errs[%q] = %q, want it to contain %q", k, errs[k], sub)
					}
				}
				for k, msg := range errs {
					if _, ok := tt.wantErrs[k]; !ok {
						t.Errorf("unexpected errs[%q] = %q", k, msg)
					}
				}
				if resolved != nil || picked != nil {
					t.Errorf("refused, yet returned %v %v", resolved, picked)
				}
				return
			}
			if errs.Any() {
				t.Fatalf("unexpected errors %v", errs)
			}
			var groups []string
			for i, a := range resolved {
				groups = append(groups, a.AllocationGroup)
				if a.BatchID != params.BatchAmounts[i].BatchID || a.Amount != params.BatchAmounts[i].Amount ||
					picked[i].Batch.ID != a.BatchID || picked[i].Ledger.ID != "lgr_bp" || picked[i].Input.ID != 12 {
					t.Errorf("row %d: %+v, picked %+v", i, a, picked[i])
				}
			}
			if !slices.Equal(groups, tt.wantGroups) {
				t.Errorf("groups %q, want %q", groups, tt.wantGroups)
			}
		})
	}
	t.Run("NothingFeedsTheLedger", func(t *testing.T) {
		r := newRig() // its manual-select input names no feeding ledger
		ctx := context.Background()
		l, feeds, err := r.svc.LoadForm(ctx, token, ledgerID)
		if err != nil || len(feeds) != 0 {
			t.Fatalf("feeds %+v, %v", feeds, err)
		}
		params, _ := allocForm([3]string{"bat_jan", "1", ""}).Validate(nil)
		_, _, errs := r.svc.CheckAllocations(ctx, token, l, feeds, params.BatchAmounts)
		if len(errs) != 1 || !strings.Contains(errs["batch_amounts"], "Net Carbon Removal has no manual-select input fed by another ledger") {
			t.Errorf("errs %v", errs)
		}
	})
}

// TestPreviewChecksAllocations: the preview refuses an allocation above the
// balance beside its field (no key, the form's choices read again); an
// accepted one is shown, its group resolved into the form and the key, and
// Confirm sends and records it.
func TestPreviewChecksAllocations(t *testing.T) {
	ctx := context.Background()
	t.Run("Refused", func(t *testing.T) {
		r, _ := newAllocRig(biocharInput)
		p, err := r.svc.Preview(ctx, token, ledgerID, allocForm([3]string{"bat_jan", "40", ""}))
		if err != nil || !p.Refused() || p.Key != "" {
			t.Fatalf("preview %+v, %v: want refused without a key", p, err)
		}
		if got := p.FieldErrors["batch_amounts[0][primary_output_amount]"]; got != "40.00 t is more than the 12.50 t left unallocated on Jan-2025-001" {
			t.Errorf("message %q", got)
		}
		if len(p.Feeds) != 1 || len(p.Feeds[0].Sources[0].Batches) != 2 || p.Form.BatchAmounts[0].Amount != "40" {
			t.Errorf("feeds %+v, form %+v: the form is shown again with its choices and values", p.Feeds, p.Form)
		}
	})
	t.Run("RefusedByTheForm", func(t *testing.T) {
		r, _ := newAllocRig(biocharInput)
		p, err := r.svc.Preview(ctx, token, ledgerID, allocForm([3]string{"bat_jan", "ten", ""}))
		if err != nil || p.FieldErrors["batch_amounts[0]"] == "" || len(p.Feeds) != 1 {
			t.Fatalf("preview %+v, %v: want the form's message and the choices to show it again with", p, err)
		}
	})
	t.Run("AcceptedAndConfirmed", func(t *testing.T) {
		r, api := newAllocRig(biocharInput)
		f := allocForm([3]string{"bat_jan", "12.5", ""}, [3]string{"bat_old", "4", ""})
		p, err := r.svc.Preview(ctx, token, ledgerID, f)
		if err != nil || p.Refused() || p.Key == "" {
			t.Fatalf("preview %+v, %v", p, err)
		}
		if len(p.Allocations) != 2 || p.Allocations[0].Batch.ID != "bat_jan" || p.Allocations[0].Group == nil ||
			p.Allocations[0].Group.Name != "Biochar produced" || p.Allocations[1].Batch.ID != "bat_old" || p.Allocations[1].Unit() != "t" {
			t.Errorf("allocations %+v", p.Allocations)
		}
		if g := p.Form.BatchAmounts[0].AllocationGroup; g != "biochar-produced" {
			t.Errorf("the form carries group %q to Confirm, want the resolved id", g)
		}
		if f.BatchAmounts[0].AllocationGroup != "" {
			t.Error("the caller's form was changed")
		}
		o, err := r.svc.Confirm(ctx, Confirmation{Token: token, UserLabel: "Ada", LedgerID: ledgerID, Key: p.Key, Form: p.Form})
		if err != nil || o.Kind != Started {
			t.Fatalf("confirm %+v, %v: the key binds the resolved groups", o, err)
		}
		want := []mangrove.BatchAmount{
			{BatchID: "bat_jan", PrimaryOutputAmount: 12.5, AllocationGroup: ptrS("biochar-produced")},
			{BatchID: "bat_old", PrimaryOutputAmount: 4, AllocationGroup: ptrS("biochar-produced")},
		}
		if len(api.sent) != 1 || !reflect.DeepEqual(api.sent[0].BatchAmounts, want) {
			t.Errorf("sent %+v, want %+v", api.sent, want)
		}
		g := r.store.only(t)
		wantStored := []store.BatchAmount{
			{BatchID: "bat_jan", PrimaryOutputAmount: 12.5, AllocationGroup: "biochar-produced"},
			{BatchID: "bat_old", PrimaryOutputAmount: 4, AllocationGroup: "biochar-produced"},
		}
		if !reflect.DeepEqual(g.Params.BatchAmounts, wantStored) {
			t.Errorf("audit row keeps %+v, want %+v", g.Params.BatchAmounts, wantStored)
		}
	})
}

func ptrS(s string) *string { return &s }

// TestConfirmBusy: a 409 (a generation already runs on the ledger) starts
// nothing, is recorded as rejected with Mangrove's message, and comes with a
// fresh preview of the same parameters to show it beside; a repeat of the
// same confirmation does not send it again.
func TestConfirmBusy(t *testing.T) {
	const msg = "A batch generation is already running for this ledger"
	r := newRig()
	r.api.start = func() (*mangrove.AsyncTask, error) {
		return nil, &mangrove.APIError{Status: 409, Method: "POST", Message: msg}
	}
	c := previewed(t, r)
	o, err := r.svc.Confirm(context.Background(), c)
	if err != nil || o.Kind != Rejected || !o.Busy || o.FormError != msg || o.Message != msg {
		t.Fatalf("outcome %+v, %v", o, err)
	}
	if o.Preview == nil || o.Preview.Key == "" || o.Preview.Key == c.Key || o.Preview.Total != 12 {
		t.Errorf("preview %+v: want a fresh one, with a new key", o.Preview)
	}
	if g := r.store.only(t); g.State != store.StateRejected || g.Error != msg || g.TaskID != nil {
		t.Errorf("audit row %+v, want rejected with Mangrove's message", g)
	}
	if v := r.counter(t, "dashboard_generations_started_total", "outcome", "rejected"); v != 1 {
		t.Errorf("rejected counter %v", v)
	}
	o2, err := r.svc.Confirm(context.Background(), c)
	if err != nil || o2.Kind != Rejected || o2.Message != msg || r.api.startCount() != 1 {
		t.Errorf("repeat %+v, %v, %d POSTs", o2, err, r.api.startCount())
	}
}

// TestConfirmUnknownUpstreamBatch: the 404 of an unknown batch_amounts
// batch belongs beside the form, with the allocation choices.
func TestConfirmUnknownUpstreamBatch(t *testing.T) {
	r, api := newAllocRig(biocharInput)
	p, err := r.svc.Preview(context.Background(), token, ledgerID, allocForm([3]string{"bat_feb", "5", ""}))
	if err != nil || p.Key == "" {
		t.Fatalf("preview %+v, %v", p, err)
	}
	api.start = func() (*mangrove.AsyncTask, error) {
		return nil, &mangrove.APIError{Status: 404, Method: "POST", Message: "Record not found"}
	}
	o, err := r.svc.Confirm(context.Background(), Confirmation{Token: token, LedgerID: ledgerID, Key: p.Key, Form: p.Form})
	if err != nil || o.Kind != Rejected || o.FormError != "Record not found" || o.Ledger == nil || len(o.Feeds) != 1 {
		t.Fatalf("outcome %+v, %v", o, err)
	}
	if g := r.store.only(t); g.State != store.StateRejected {
		t.Errorf("audit row %s", g.State)
	}
}
