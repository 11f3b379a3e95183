package owners

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

type fakeAPI struct {
	models map[int64][]string // project → model ids
	fail   int64              // a project whose read fails
	reads  atomic.Int64
}

func (f *fakeAPI) ProjectModels(_ context.Context, _ string, id int64) ([]mangrove.Model, error) {
	f.reads.Add(1)
	if id == f.fail {
		return nil, errors.New("boom")
	}
	var out []mangrove.Model
	for _, m := range f.models[id] {
		out = append(out, mangrove.Model{ID: m})
	}
	return out, nil
}

func ledger(model string) mangrove.Ledger {
	l := mangrove.Ledger{ID: "lgr_" + model}
	if model != "" {
		l.LatestModel = &mangrove.ModelRef{ID: model}
	}
	return l
}

func TestOwners(t *testing.T) {
	a, b := mangrove.Project{ID: 1, Name: "A"}, mangrove.Project{ID: 2, Name: "B"}
	tests := []struct {
		name     string
		projects []mangrove.Project
		api      *fakeAPI
		want     map[string]int64 // model of the ledger ("" none) → project id, 0 untold
		reads    int64
		err      bool
	}{
		{"OneProjectOwnsAll", []mangrove.Project{a}, &fakeAPI{},
			map[string]int64{"m1": 1, "": 1, "unlisted": 1}, 0, false},
		{"ByModel", []mangrove.Project{a, b}, &fakeAPI{models: map[int64][]string{1: {"m1", "m2"}, 2: {"m3"}}},
			map[string]int64{"m1": 1, "m2": 1, "m3": 2, "": 0, "unlisted": 0}, 2, false},
		{"FilterIgnored", []mangrove.Project{a, b}, &fakeAPI{models: map[int64][]string{1: {"m1", "m3"}, 2: {"m1", "m3"}}},
			map[string]int64{"m1": 0, "m3": 0}, 2, false},
		{"ReadFails", []mangrove.Project{a, b}, &fakeAPI{models: map[int64][]string{1: {"m1"}}, fail: 2},
			map[string]int64{"m1": 0}, 2, true},
		{"NoProjects", nil, &fakeAPI{}, map[string]int64{"m1": 0}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Read(context.Background(), tt.api, "tok", tt.projects)
			if (o.Err() != nil) != tt.err {
				t.Errorf("err %v", o.Err())
			}
			if tt.api.reads.Load() != tt.reads {
				t.Errorf("%d reads, want %d", tt.api.reads.Load(), tt.reads)
			}
			for model, want := range tt.want {
				p, ok := o.Of(ledger(model))
				if ok != (want != 0) || p.ID != want {
					t.Errorf("ledger of model %q: %+v %v, want project %d", model, p, ok, want)
				}
			}
		})
	}
	t.Run("TooMany", func(t *testing.T) {
		ps := make([]mangrove.Project, MaxProjects+1)
		for i := range ps {
			ps[i].ID = int64(i + 1)
		}
		api := &fakeAPI{}
		o := Read(context.Background(), api, "tok", ps)
		if !errors.Is(o.Err(), ErrTooManyProjects) || api.reads.Load() != 0 {
			t.Errorf("err %v after %d reads", o.Err(), api.reads.Load())
		}
		if _, ok := o.Of(ledger("m1")); ok {
			t.Error("a ledger told among too many projects")
		}
	})
}
