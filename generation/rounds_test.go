package generation

import (
	"context"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/internal/testkit"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// roundsAPI holds each call until every call of its round is in flight
// (testkit.Rounds).
type roundsAPI struct {
	fakeAPI
	*testkit.Rounds
}

func (a *roundsAPI) Ledger(ctx context.Context, tok, id string) (*mangrove.Ledger, error) {
	if err := a.Hold(ctx); err != nil {
		return nil, err
	}
	return a.fakeAPI.Ledger(ctx, tok, id)
}

func (a *roundsAPI) RequiredInputs(ctx context.Context, tok, id string) ([]mangrove.RequiredInput, error) {
	if err := a.Hold(ctx); err != nil {
		return nil, err
	}
	return a.fakeAPI.RequiredInputs(ctx, tok, id)
}

func (a *roundsAPI) PreviewGeneration(ctx context.Context, tok, id string, req mangrove.PreviewRequest) ([]mangrove.PreviewEntry, error) {
	if err := a.Hold(ctx); err != nil {
		return nil, err
	}
	return a.fakeAPI.PreviewGeneration(ctx, tok, id, req)
}

func (a *roundsAPI) LedgerBatches(ctx context.Context, tok, id string, o mangrove.ListOptions) (*mangrove.List[mangrove.Batch], error) {
	if err := a.Hold(ctx); err != nil {
		return nil, err
	}
	return a.fakeAPI.LedgerBatches(ctx, tok, id, o)
}

func (a *roundsAPI) Projects(ctx context.Context, _ string) ([]mangrove.Project, error) {
	if err := a.Hold(ctx); err != nil {
		return nil, err
	}
	return []mangrove.Project{{ID: 7}}, nil
}

// ProjectEvents answers with one event in the range and one before it, each
// with a data point of both inputs: one page.
func (a *roundsAPI) ProjectEvents(ctx context.Context, _ string, _ int64, o mangrove.ListOptions) (*mangrove.List[mangrove.Event], error) {
	if err := a.Hold(ctx); err != nil {
		return nil, err
	}
	if o.Page > 1 {
		return &mangrove.List[mangrove.Event]{Info: &mangrove.Info{CurrentPage: o.Page}}, nil
	}
	points := []mangrove.DataPoint{{Slug: "feedstock-mass"}, {Slug: "biochar-mass"}}
	return &mangrove.List[mangrove.Event]{Data: []mangrove.Event{
		{ID: "evt_2", StartTime: time.Date(2025, 2, 3, 0, 0, 0, 0, time.UTC), DataPoints: points},
		{ID: "evt_1", StartTime: time.Date(2024, 12, 3, 0, 0, 0, 0, time.UTC), DataPoints: points},
	}, Info: &mangrove.Info{CurrentPage: 1, TotalPages: 1}}, nil
}

// TestPreviewIsTwoRounds: a preview (with nothing cached) makes its calls in
// two rounds. First the ledger, its inputs, the preview call, the projects
// and the ledger's own batches in the range, all at once; then the other
// ledger's batches and the project's events (pages read two at a time).
func TestPreviewIsTwoRounds(t *testing.T) {
	api := &roundsAPI{Rounds: testkit.NewRounds(5, 3)}
	r := newRig(func(o *Options) { o.API = api })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := r.svc.Preview(ctx, token, ledgerID, q1Form())
	if err != nil {
		t.Fatalf("preview: %v (%d calls had arrived; want rounds of 5, then 3)", err, api.Arrived())
	}
	if p.Total != 12 || p.ExistingUnknown {
		t.Errorf("total %d, existing unknown %v", p.Total, p.ExistingUnknown)
	}
	for _, d := range p.InputData {
		if d.State != InputFound || d.Count != 1 {
			t.Errorf("input %s: %s, %d; want found, 1", d.Slug, d.State, d.Count)
		}
	}
}
