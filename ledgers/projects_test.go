package ledgers

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/forms"
	"github.com/carbon-dash/mangrove-dashboard/internal/testkit"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// countingAPI's token sees one project: its models are never needed.
func (a *countingAPI) ProjectModels(context.Context, string, int64) ([]mangrove.Model, error) {
	a.count("models")
	return nil, nil
}

func (b *barrierAPI) ProjectModels(ctx context.Context, tok string, id int64) ([]mangrove.Model, error) {
	if err := b.Hold(ctx); err != nil {
		return nil, err
	}
	return b.countingAPI.ProjectModels(ctx, tok, id)
}

// Two sites, as the sandbox's demo token sees them: the first with Net Carbon
// Removal and a ledger without a model, the second with Biochar Output. The
// second site's data runs to June 2025, the first's to March.
var (
	firstSite   = mangrove.Project{ID: 101, Name: "Cedar Ridge Biochar"}
	secondSite  = mangrove.Project{ID: 303, Name: "Juniper Flats Biochar"}
	ncrLedger   = mangrove.Ledger{ID: "lgr_ncr", Name: "Net Carbon Removal", LatestModel: &mangrove.ModelRef{ID: "mdl_ncr"}}
	invLedger   = mangrove.Ledger{ID: "lgr_inv", Name: "Biochar Inventory"}
	outLedger   = mangrove.Ledger{ID: "lgr_out", Name: "Biochar Output", LatestModel: &mangrove.ModelRef{ID: "mdl_out"}}
	siteModels  = map[int64][]mangrove.Model{101: {{ID: "mdl_ncr"}}, 303: {{ID: "mdl_out"}}}
	siteLedgers = map[string]mangrove.Ledger{"lgr_ncr": ncrLedger, "lgr_inv": invLedger, "lgr_out": outLedger}
	siteData    = map[int64]DataRange{
		101: {First: demoFirstEvent, Last: demoLastEvent, Known: true},
		303: {First: time.Date(2025, 1, 7, 0, 0, 0, 0, time.UTC), Last: time.Date(2025, 6, 15, 0, 0, 0, 0, time.UTC), Known: true},
	}
)

// sitesAPI serves the two sites; with rounds set, every call waits for its
// round (testkit.Rounds).
type sitesAPI struct {
	countingAPI
	rounds      *testkit.Rounds
	projectsErr error
	modelsErr   error
}

func (a *sitesAPI) hold(ctx context.Context) error {
	if a.rounds == nil {
		return nil
	}
	return a.rounds.Hold(ctx)
}

func (a *sitesAPI) AllLedgers(ctx context.Context, _ string) ([]mangrove.Ledger, error) {
	a.count("ledgers")
	return []mangrove.Ledger{ncrLedger, invLedger, outLedger}, a.hold(ctx)
}

func (a *sitesAPI) Ledger(ctx context.Context, _, id string) (*mangrove.Ledger, error) {
	a.count("ledger")
	l := siteLedgers[id]
	return &l, a.hold(ctx)
}

func (a *sitesAPI) RequiredInputs(ctx context.Context, tok, id string) ([]mangrove.RequiredInput, error) {
	if err := a.hold(ctx); err != nil {
		return nil, err
	}
	return a.countingAPI.RequiredInputs(ctx, tok, id)
}

func (a *sitesAPI) LedgerBatches(ctx context.Context, tok, id string, o mangrove.ListOptions) (*mangrove.List[mangrove.Batch], error) {
	if err := a.hold(ctx); err != nil {
		return nil, err
	}
	return a.countingAPI.LedgerBatches(ctx, tok, id, o)
}

func (a *sitesAPI) Projects(ctx context.Context, _ string) ([]mangrove.Project, error) {
	a.count("projects")
	if err := a.hold(ctx); err != nil {
		return nil, err
	}
	return []mangrove.Project{firstSite, secondSite}, a.projectsErr
}

func (a *sitesAPI) ProjectModels(ctx context.Context, _ string, id int64) ([]mangrove.Model, error) {
	a.count("models")
	if err := a.hold(ctx); err != nil {
		return nil, err
	}
	return siteModels[id], a.modelsErr
}

func (a *sitesAPI) ProjectEvents(ctx context.Context, _ string, id int64, o mangrove.ListOptions) (*mangrove.List[mangrove.Event], error) {
	a.count("events")
	if err := a.hold(ctx); err != nil {
		return nil, err
	}
	at := siteData[id].Last
	if len(o.Sort) > 0 && o.Sort[0] == "start_time" {
		at = siteData[id].First
	}
	return &mangrove.List[mangrove.Event]{Data: []mangrove.Event{{ID: "evt_1", StartTime: at}}}, nil
}

// TestLedgerList: a token that sees two projects gets its ledgers by project,
// told by their models; a ledger without a model is untold. When the
// projects cannot be read, every ledger is untold and the list says why.
func TestLedgerList(t *testing.T) {
	t.Run("TwoProjects", func(t *testing.T) {
		api := &sitesAPI{}
		l, err := New(api, Options{}).LedgerList(context.Background(), "tok")
		if err != nil {
			t.Fatal(err)
		}
		if l.ProjectsErr != nil || len(l.Projects) != 2 {
			t.Fatalf("list %+v", l)
		}
		got := map[int64][]string{}
		for _, p := range l.Projects {
			for _, x := range p.Ledgers {
				got[p.Project.ID] = append(got[p.Project.ID], x.ID)
			}
		}
		if len(got[101]) != 1 || got[101][0] != "lgr_ncr" || len(got[303]) != 1 || got[303][0] != "lgr_out" {
			t.Errorf("ledgers by project %v", got)
		}
		if len(l.Untold) != 1 || l.Untold[0].ID != "lgr_inv" {
			t.Errorf("untold %v, want the ledger without a model", l.Untold)
		}
		if api.n("models") != 2 {
			t.Errorf("%d model reads, want one per project", api.n("models"))
		}
	})
	t.Run("OneProject", func(t *testing.T) {
		api := &countingAPI{}
		l, err := New(api, Options{}).LedgerList(context.Background(), "tok")
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Projects) != 1 || len(l.Projects[0].Ledgers) != 1 || len(l.Untold) != 0 || api.n("models") != 0 {
			t.Fatalf("list %+v after %d model reads", l, api.n("models"))
		}
	})
	for name, api := range map[string]*sitesAPI{
		"ProjectsFail": {projectsErr: errors.New("boom")},
		"ModelsFail":   {modelsErr: errors.New("boom")},
	} {
		t.Run(name, func(t *testing.T) {
			l, err := New(api, Options{}).LedgerList(context.Background(), "tok")
			if err != nil {
				t.Fatal(err)
			}
			if l.ProjectsErr == nil || len(l.Projects) != 0 || len(l.Untold) != 3 {
				t.Fatalf("list %+v", l)
			}
		})
	}
}

// TestCoverageDataOfLedgersProject: the coverage's data range is the
// ledger's project's, not the token's every project's; a ledger whose
// project cannot be told has it unknown. What was read is kept: another
// ledger of the same token reads no models, and its project's events only
// when they were not read yet.
func TestCoverageDataOfLedgersProject(t *testing.T) {
	ctx := context.Background()
	api := &sitesAPI{}
	s := New(api, Options{})
	reads := coverageReads{projects: []mangrove.Project{firstSite, secondSite}}
	if d := s.dataRange(ctx, "tok", ncrLedger, reads); d != siteData[101] {
		t.Errorf("first site's ledger: range %+v, want %+v", d, siteData[101])
	}
	if api.n("models") != 2 || api.n("events") != 4 {
		t.Errorf("%d model and %d event reads, want 2 and 4 (both projects at once)", api.n("models"), api.n("events"))
	}
	o, ok := s.owners.Get("tok")
	if !ok {
		t.Fatal("the token's owners were not kept")
	}
	kept := coverageReads{owners: o, ownersKept: true}
	if d := s.dataRange(ctx, "tok", outLedger, kept); d != siteData[303] {
		t.Errorf("second site's ledger: range %+v, want %+v", d, siteData[303])
	}
	if d := s.dataRange(ctx, "tok", invLedger, kept); d.Known {
		t.Errorf("a ledger of no told project has a range %+v", d)
	}
	if api.n("models") != 2 || api.n("events") != 4 {
		t.Errorf("kept reads made again: %d model and %d event reads", api.n("models"), api.n("events"))
	}

	t.Run("ModelsFail", func(t *testing.T) {
		s := New(&sitesAPI{modelsErr: errors.New("boom")}, Options{})
		if d := s.dataRange(ctx, "tok", ncrLedger, reads); d.Known {
			t.Errorf("range %+v although the ledger's project could not be told", d)
		}
	})
}

// TestLedgerPageTwoProjectsRounds: with two projects, a token's first view
// of a ledger page is still two rounds: the projects' models and events are
// read at once in the second.
func TestLedgerPageTwoProjectsRounds(t *testing.T) {
	first := 3 + chartPages + 1 // ledger, inputs, table, chart pages, projects
	api := &sitesAPI{rounds: testkit.NewRounds(first, 2+4)}
	s := New(api, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := s.LedgerPage(ctx, "tok", "lgr_out", forms.BatchListQuery{Page: 1, PageSize: 25, Sort: "-start_time"})
	if err != nil {
		t.Fatalf("the first view's calls were not in two rounds (%d arrived): %v", api.rounds.Arrived(), err)
	}
	if p.Coverage == nil || !p.Coverage.DataKnown {
		t.Fatalf("coverage %+v without the data's range", p.Coverage)
	}
}
