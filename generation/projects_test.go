package generation

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// ncr is the previewed ledger of the input check's tests.
var ncr = mangrove.Ledger{ID: "lgr_ncr", Name: "Net Carbon Removal", LatestModel: &mangrove.ModelRef{ID: "mdl_ncr"}}

// fakeAPI's token sees no project (Projects answers 404): no models are read.
func (f *fakeAPI) ProjectModels(context.Context, string, int64) ([]mangrove.Model, error) {
	return nil, mangrove.ErrNotFound
}

// sitesAPI is a token that sees two projects, each with its own events in
// the range: the first site (101) owns mdl_ncr, the second (303) mdl_out.
type sitesAPI struct {
	fakeAPI
	events    map[int64][]mangrove.Event // newest first, one page
	modelsErr error
	// many, when set, adds projects 1..many without models or events.
	many  int
	mu    sync.Mutex
	reads map[int64]int // event pages read per project
}

func (a *sitesAPI) Projects(context.Context, string) ([]mangrove.Project, error) {
	ps := []mangrove.Project{{ID: 101, Name: "Cedar Ridge Biochar"}, {ID: 303, Name: "Juniper Flats Biochar"}}
	for i := range a.many {
		ps = append(ps, mangrove.Project{ID: int64(i + 1)})
	}
	return ps, nil
}

func (a *sitesAPI) ProjectModels(_ context.Context, _ string, id int64) ([]mangrove.Model, error) {
	if a.modelsErr != nil {
		return nil, a.modelsErr
	}
	return map[int64][]mangrove.Model{101: {{ID: "mdl_ncr"}, {ID: "mdl_bp"}}, 303: {{ID: "mdl_out"}}}[id], nil
}

func (a *sitesAPI) ProjectEvents(_ context.Context, _ string, id int64, o mangrove.ListOptions) (*mangrove.List[mangrove.Event], error) {
	a.mu.Lock()
	if a.reads == nil {
		a.reads = map[int64]int{}
	}
	a.reads[id]++
	a.mu.Unlock()
	if o.Page > 1 {
		return &mangrove.List[mangrove.Event]{Info: &mangrove.Info{CurrentPage: o.Page}}, nil
	}
	return &mangrove.List[mangrove.Event]{Data: a.events[id], Info: &mangrove.Info{CurrentPage: 1, TotalPages: 1}}, nil
}

// TestInputDataPerProject: with two projects, the input check counts only
// the previewed ledger's project's data points, although the other project
// has data of the same types in the range; a ledger whose project cannot be
// told, or models that cannot be read, give "unknown", not a count of some
// project's data.
func TestInputDataPerProject(t *testing.T) {
	start, end := day(2025, 1, 1), day(2025, 3, 31)
	inputs := []mangrove.RequiredInput{{ID: 11, Name: "Feedstock mass", Slug: "feedstock-mass"}, {ID: 4, Name: "Biochar mass", Slug: "biochar-mass-produced"}}
	events := map[int64][]mangrove.Event{
		101: {ev(day(2025, 2, 1), "feedstock-mass", "feedstock-mass"), ev(day(2024, 12, 1), "biochar-mass-produced")},
		// The second site's runs in the range: not the first site's data.
		303: {ev(day(2025, 3, 7), "biochar-mass-produced"), ev(day(2025, 1, 7), "biochar-mass-produced", "feedstock-mass")},
	}
	out := mangrove.Ledger{ID: "lgr_out", LatestModel: &mangrove.ModelRef{ID: "mdl_out"}}
	noModel := mangrove.Ledger{ID: "lgr_inv"}
	tests := []struct {
		name      string
		ledger    mangrove.Ledger
		modelsErr error
		want      map[string]InputData // by slug: state and count
	}{
		{"FirstSite", ncr, nil, map[string]InputData{
			"feedstock-mass":        {State: InputFound, Count: 2},
			"biochar-mass-produced": {State: InputEarlier}}},
		{"SecondSite", out, nil, map[string]InputData{
			"feedstock-mass":        {State: InputFound, Count: 1},
			"biochar-mass-produced": {State: InputFound, Count: 2}}},
		{"ProjectUntold", noModel, nil, map[string]InputData{
			"feedstock-mass":        {State: InputUnknown},
			"biochar-mass-produced": {State: InputUnknown}}},
		{"ModelsUnreadable", ncr, errors.New("boom"), map[string]InputData{
			"feedstock-mass":        {State: InputUnknown},
			"biochar-mass-produced": {State: InputUnknown}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &sitesAPI{events: events, modelsErr: tt.modelsErr}
			r := newRig(func(o *Options) { o.API = api })
			projects, _ := api.Projects(context.Background(), token)
			for _, row := range r.svc.inputData(context.Background(), token, tt.ledger, inputs, nil, projects, nil, start, end) {
				w := tt.want[row.Slug]
				if row.State != w.State || row.Count != w.Count {
					t.Errorf("%s: %s (%d), want %s (%d)", row.Slug, row.State, row.Count, w.State, w.Count)
				}
			}
		})
	}
}

// TestInputDataManyProjects: past maxProjectsRead projects, the ledger's
// project is told first and only its events are read.
func TestInputDataManyProjects(t *testing.T) {
	api := &sitesAPI{many: maxProjectsRead, events: map[int64][]mangrove.Event{
		101: {ev(day(2025, 2, 1), "feedstock-mass")},
		303: {ev(day(2025, 2, 1), "feedstock-mass", "feedstock-mass")},
	}}
	r := newRig(func(o *Options) { o.API = api })
	projects, _ := api.Projects(context.Background(), token)
	inputs := []mangrove.RequiredInput{{ID: 11, Name: "Feedstock mass", Slug: "feedstock-mass"}}
	rows := r.svc.inputData(context.Background(), token, ncr, inputs, nil, projects, nil, day(2025, 1, 1), day(2025, 3, 31))
	if len(rows) != 1 || rows[0].State != InputFound || rows[0].Count != 1 {
		t.Fatalf("rows %+v, want the first site's one data point", rows)
	}
	if len(api.reads) != 1 || api.reads[101] == 0 {
		t.Errorf("events read per project %v, want the ledger's project's only", api.reads)
	}
}
