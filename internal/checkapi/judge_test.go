package checkapi

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// doc decodes JSON the way the checker does (numbers kept as json.Number).
func doc(t *testing.T, s string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return v
}

func TestJudgeField(t *testing.T) {
	tests := []struct {
		name      string
		field     Field
		docs      []string
		want      Status
		wantFatal bool
		wantNote  string
	}{
		{name: "Present", field: Field{Path: "value", Kind: Number}, docs: []string{`{"value":100.5}`}, want: Present},
		{name: "PresentInEveryItem", field: Field{Path: "id", Kind: String}, docs: []string{`{"id":"a"}`, `{"id":"b"}`}, want: Present, wantNote: "in all 2"},
		{name: "Missing", field: Field{Path: "latest_model", Kind: Object, Nullable: true}, docs: []string{`{"id":"lgr_1"}`}, want: Missing, wantNote: "absent in 1 of 1"},
		{name: "MissingInOneItem", field: Field{Path: "latest_model", Kind: Object, Nullable: true}, docs: []string{`{"latest_model":null}`, `{}`}, want: Missing, wantNote: "absent in 1 of 2"},
		{name: "StringForNumber", field: Field{Path: "primary_output.value", Kind: Number}, docs: []string{`{"primary_output":{"value":"100.5"}}`}, want: WrongType, wantFatal: true, wantNote: "string in 1 of 1, want number"},
		{name: "NullNotNullable", field: Field{Path: "ledger_balance", Kind: Number}, docs: []string{`{"ledger_balance":null}`}, want: WrongType, wantNote: "null in 1 of 1, want number"},
		{name: "NullNullable", field: Field{Path: "unit", Kind: String, Nullable: true}, docs: []string{`{"unit":null}`}, want: Present},
		{name: "NullableWrongType", field: Field{Path: "unit", Kind: String, Nullable: true}, docs: []string{`{"unit":5}`}, want: WrongType, wantFatal: true, wantNote: "want string or null"},
		{name: "IntegerWithFraction", field: Field{Path: "id", Kind: Integer}, docs: []string{`{"id":1.5}`}, want: WrongType, wantFatal: true, wantNote: "number with a fraction (1.5)"},
		{name: "Integer", field: Field{Path: "id", Kind: Integer}, docs: []string{`{"id":12}`}, want: Present},
		{name: "IntegerAsString", field: Field{Path: "id", Kind: Integer}, docs: []string{`{"id":"12"}`}, want: WrongType, wantFatal: true},
		{name: "Time", field: Field{Path: "start_time", Kind: Time}, docs: []string{`{"start_time":"2025-01-01T00:00:00.000Z"}`}, want: Present},
		{name: "TimeNotRFC3339", field: Field{Path: "start_time", Kind: Time}, docs: []string{`{"start_time":"01/01/2025"}`}, want: WrongType, wantFatal: true, wantNote: "not an RFC 3339 time"},
		{name: "TimeAsNumber", field: Field{Path: "start_time", Kind: Time}, docs: []string{`{"start_time":1735689600}`}, want: WrongType, wantFatal: true},
		{name: "Bool", field: Field{Path: "is_manual_select", Kind: Bool}, docs: []string{`{"is_manual_select":"false"}`}, want: WrongType, wantFatal: true},
		{name: "ArrayElements", field: Field{Path: "model_run.calculations[].value", Kind: Number}, docs: []string{`{"model_run":{"calculations":[{"value":1},{"value":"2"}]}}`}, want: WrongType, wantFatal: true, wantNote: "string in 1 of 2"},
		{name: "EmptyArrayCannotTell", field: Field{Path: "model_run.calculations[].value", Kind: Number}, docs: []string{`{"model_run":{"calculations":[]}}`}, want: CouldNotTell},
		{name: "EmptyListCannotTell", field: Field{Path: "id", Kind: String}, docs: nil, want: CouldNotTell},
		{name: "NullParentCannotTell", field: Field{Path: "latest_model.id", Kind: String}, docs: []string{`{"latest_model":null}`}, want: CouldNotTell},
		{name: "NullParentSkipped", field: Field{Path: "latest_model.id", Kind: String}, docs: []string{`{"latest_model":null}`, `{"latest_model":{"id":"mdl_1"}}`}, want: Present},
		{name: "ChildOfMissingParent", field: Field{Path: "latest_model.id", Kind: String}, docs: []string{`{}`}, want: Missing},
		{name: "AnyTakesEverything", field: Field{Path: "ghg", Kind: Any}, docs: []string{`{"ghg":true}`, `{"ghg":"co2e"}`, `{"ghg":null}`}, want: Present},
		{name: "ArrayKind", field: Field{Path: "allocation_groups", Kind: Array}, docs: []string{`{"allocation_groups":{}}`}, want: WrongType, wantFatal: true, wantNote: "object in 1 of 1, want array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var docs []any
			for _, s := range tt.docs {
				docs = append(docs, doc(t, s))
			}
			got := JudgeField(tt.field, docs...)
			if got.Status != tt.want || got.Fatal != tt.wantFatal || !strings.Contains(got.Note, tt.wantNote) {
				t.Errorf("JudgeField = %+v, want status %s, fatal %v, note containing %q", got, tt.want, tt.wantFatal, tt.wantNote)
			}
		})
	}
}

func TestJudgePageSize(t *testing.T) {
	eleven := `[` + strings.Repeat(`{},`, 10) + `{}]`
	tests := []struct {
		name string
		body string
		want Status
	}{
		{"InfoPageSize", `{"data":[],"info":{"page_size":100}}`, Holds},
		{"InfoCapped", `{"data":[],"info":{"page_size":50}}`, DoesNotHold},
		{"MoreThanDefaultNoInfo", `{"data":` + eleven + `}`, Holds},
		{"FewNoInfo", `{"data":[{}]}`, CouldNotTell},
		{"TotalsShowCap", `{"data":[{},{}],"info":{"total_items":30}}`, DoesNotHold},
		{"TotalsAllOnPage", `{"data":[{},{}],"info":{"total_items":2}}`, Holds},
		{"NotAList", `{"id":1}`, CouldNotTell},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := JudgePageSize(100, doc(t, tt.body)); got.Status != tt.want {
				t.Errorf("JudgePageSize = %+v, want %s", got, tt.want)
			}
		})
	}
}

func TestJudgeOrder(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2025, 1, d, 0, 0, 0, 0, time.UTC) }
	tests := []struct {
		name  string
		times []time.Time
		desc  bool
		want  Status
	}{
		{"Ascending", []time.Time{day(1), day(1), day(2)}, false, Holds},
		{"Descending", []time.Time{day(3), day(2), day(2)}, true, Holds},
		{"AscendingAskedDescending", []time.Time{day(1), day(2)}, true, DoesNotHold},
		{"Unordered", []time.Time{day(1), day(3), day(2)}, false, DoesNotHold},
		{"AllEqual", []time.Time{day(1), day(1)}, false, CouldNotTell},
		{"One", []time.Time{day(1)}, true, CouldNotTell},
		{"None", nil, true, CouldNotTell},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := JudgeOrder(tt.times, tt.desc); got.Status != tt.want {
				t.Errorf("JudgeOrder = %+v, want %s", got, tt.want)
			}
		})
	}
}

func TestJudgeFilterEq(t *testing.T) {
	tests := []struct {
		name   string
		items  string
		others bool
		want   Status
	}{
		{"Narrowed", `[{"id":"bat_1","state":"error"}]`, true, Holds},
		{"Ignored", `[{"id":"bat_1","state":"error"},{"id":"bat_2","state":"complete"}]`, true, DoesNotHold},
		{"Empty", `[]`, true, DoesNotHold},
		{"AllMatchAnyway", `[{"id":"bat_1","state":"error"}]`, false, CouldNotTell},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items, _ := doc(t, tt.items).([]any)
			if got := JudgeFilterEq("state", "error", items, tt.others); got.Status != tt.want {
				t.Errorf("JudgeFilterEq = %+v, want %s", got, tt.want)
			}
		})
	}
}

func TestJudgeNoSuchState(t *testing.T) {
	tests := []struct {
		name string
		a    *answer
		want Status
	}{
		{"ListsNone", &answer{status: 200, body: map[string]any{"data": []any{}}}, Holds},
		{"ListsSome", &answer{status: 200, body: map[string]any{"data": []any{map[string]any{}}}}, DoesNotHold},
		{"Refused", &answer{status: 400, body: map[string]any{"message": "unknown state"}}, CouldNotTell},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := judgeNoSuchState(tt.a, "complete"); got.Status != tt.want {
				t.Errorf("judgeNoSuchState = %+v, want %s", got, tt.want)
			}
		})
	}
}

func TestJudgeOverlap(t *testing.T) {
	at := time.Date(2025, 2, 15, 0, 0, 0, 0, time.UTC)
	feb := `{"id":"bat_feb","start_time":"2025-02-01T00:00:00.000Z","end_time":"2025-02-28T23:59:59.000Z"}`
	jan := `{"id":"bat_jan","start_time":"2025-01-01T00:00:00.000Z","end_time":"2025-01-31T23:59:59.000Z"}`
	tests := []struct {
		name     string
		items    string
		narrower bool
		want     Status
	}{
		{"Narrowed", `[` + feb + `]`, true, Holds},
		{"Ignored", `[` + jan + `,` + feb + `]`, false, DoesNotHold},
		{"Empty", `[]`, true, DoesNotHold},
		{"NothingToNarrow", `[` + feb + `]`, false, CouldNotTell},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items, _ := doc(t, tt.items).([]any)
			if got := JudgeOverlap(at, items, tt.narrower); got.Status != tt.want {
				t.Errorf("JudgeOverlap = %+v, want %s", got, tt.want)
			}
		})
	}
}

func TestJudgeTotalPages(t *testing.T) {
	tests := []struct {
		name, body string
		want       Status
	}{
		{"Consistent", `{"info":{"total_items":15,"page_size":10,"total_pages":2}}`, Holds},
		// The Pagination page's own example (reference 2.4).
		{"DocsExample", `{"info":{"items":10,"page_size":10,"total_items":15,"current_page":1,"next_page":2,"previous_page":null,"total_pages":1}}`, DoesNotHold},
		{"Empty", `{"info":{"total_items":0,"page_size":10,"total_pages":0}}`, Holds},
		{"NoInfo", `{"data":[]}`, CouldNotTell},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := JudgeTotalPages(doc(t, tt.body)); got.Status != tt.want {
				t.Errorf("JudgeTotalPages = %+v, want %s", got, tt.want)
			}
		})
	}
}

func TestJudgeElements(t *testing.T) {
	tests := []struct {
		name  string
		items string
		ok    func(any) string
		want  Status
	}{
		{"LedgerRefs", `[{"id":"lgr_1","name":"Biochar Produced"}]`, ledgerRef, Holds},
		{"LedgerNames", `["Biochar Produced"]`, ledgerRef, DoesNotHold},
		{"NoneCannotTell", `[]`, ledgerRef, CouldNotTell},
		{"GroupNames", `["feedstock", {"id":1}, {"name":"g"}]`, named, Holds},
		{"GroupNumbers", `[7]`, named, DoesNotHold},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items, _ := doc(t, tt.items).([]any)
			if got := JudgeElements(items, tt.ok); got.Status != tt.want {
				t.Errorf("JudgeElements = %+v, want %s", got, tt.want)
			}
		})
	}
}

func TestJudgeCadences(t *testing.T) {
	tests := []struct {
		name, items string
		want        Status
	}{
		{"Known", `[{"cadence":"monthly"},{"cadence":"Quarterly"},{"cadence":null}]`, Holds},
		{"Unknown", `[{"cadence":"monthly"},{"cadence":"per-event"}]`, DoesNotHold},
		{"None", `[{"cadence":null},{}]`, CouldNotTell},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items, _ := doc(t, tt.items).([]any)
			if got := judgeCadences(items); got.Status != tt.want {
				t.Errorf("judgeCadences = %+v, want %s", got, tt.want)
			}
		})
	}
}

func TestReportPrint(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		rep := &Report{BaseURL: "http://x/api/v1", Requests: 3, Rows: []Row{
			{Endpoint: "GET /ledgers", Check: "info", Basis: Guess, Status: Missing},
			{Endpoint: "GET /ledgers", Check: "data", Needed: true, Status: Present},
		}}
		var out bytes.Buffer
		if err := rep.Print(&out); err != nil {
			t.Fatal(err)
		}
		if !rep.OK() || !strings.HasSuffix(out.String(), "OK: nothing the dashboard needs is broken.\n") {
			t.Errorf("OK %v, output:\n%s", rep.OK(), out.String())
		}
	})
	t.Run("Broken", func(t *testing.T) {
		rep := &Report{Rows: []Row{
			{Endpoint: "GET /ledgers/{id}", Check: "latest_model", Needed: true, Status: Missing},
			{Endpoint: "GET /batches/{id}", Check: "primary_output.value", Needed: true, Status: WrongType},
			{Endpoint: "GET /ledgers", Check: "page_size=100 honoured", Status: DoesNotHold},
		}}
		var out bytes.Buffer
		if err := rep.Print(&out); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		want := "FAIL: the dashboard needs what is broken: GET /ledgers/{id} latest_model (missing); GET /batches/{id} primary_output.value (wrong type)"
		if rep.OK() || lines[len(lines)-1] != want {
			t.Errorf("last line %q, want %q", lines[len(lines)-1], want)
		}
		if !strings.Contains(out.String(), "BROKEN: missing") || !strings.Contains(out.String(), "1 finding the dashboard copes with") {
			t.Errorf("table:\n%s", out.String())
		}
	})
}

func TestJudgeOwners(t *testing.T) {
	model := func(id string) *mangrove.ModelRef { return &mangrove.ModelRef{ID: id} }
	ledgers := []mangrove.Ledger{{ID: "lgr_a", LatestModel: model("mdl_a")}, {ID: "lgr_b", LatestModel: model("mdl_b")}, {ID: "lgr_none"}}
	told := func(ids ...string) func(mangrove.Ledger) (mangrove.Project, bool) {
		return func(l mangrove.Ledger) (mangrove.Project, bool) {
			return mangrove.Project{ID: 1}, slices.Contains(ids, l.ID)
		}
	}
	if v := judgeOwners(ledgers, told("lgr_a", "lgr_b"), 2); v.Status != Holds || !strings.Contains(v.Note, "2 ledgers with a model") {
		t.Errorf("all told: %+v", v)
	}
	if v := judgeOwners(ledgers, told("lgr_a"), 2); v.Status != DoesNotHold || !strings.Contains(v.Note, "lgr_b") || strings.Contains(v.Note, "lgr_none") {
		t.Errorf("one untold: %+v, want lgr_b named and the ledger without a model left out", v)
	}
}
