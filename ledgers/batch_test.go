package ledgers

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/internal/testkit"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

func (a *countingAPI) Batch(_ context.Context, _, id string) (*mangrove.BatchDetail, error) {
	a.count("batch")
	return &mangrove.BatchDetail{Batch: mangrove.Batch{ID: id}, ModelRun: &mangrove.ModelRun{Calculations: ncrCalculations()}}, nil
}

func (b *barrierAPI) Batch(ctx context.Context, tok, id string) (*mangrove.BatchDetail, error) {
	if err := b.Hold(ctx); err != nil {
		return nil, err
	}
	return b.countingAPI.Batch(ctx, tok, id)
}

// calc is a calculation as the API sends it; role "" sends a null lca_role.
func calc(name string, value float64, unit, role, category string) mangrove.Calculation {
	c := mangrove.Calculation{Name: name, Value: value, Unit: unit, Category: category}
	if role != "" {
		c.LCARole, _ = json.Marshal(role)
	}
	return c
}

// ncrCalculations are the sandbox's December 2024 wood chips batch,
// abridged: every line with an lca_role, and two without.
func ncrCalculations() []mangrove.Calculation {
	return []mangrove.Calculation{
		calc("Feedstock dry mass", 236.4172, "t", "", "feedstock"),
		calc("Emissions from feedstock transport", 1.85127, "t CO2e", "emission", "emissions"),
		calc("Durability factor (200-year, Isometric soil)", 0.884104, "fraction", "", "durability"),
		calc("Gross carbon stored", 178.506086, "t CO2e", "removal", "removal"),
		calc("Durable carbon stored", 157.81801, "t CO2e", "removal", "removal"),
		calc("Emissions from production energy", 5.976403, "t CO2e", "emission", "emissions"),
		calc("Emissions from pyrolysis methane", 0.1036, "t CO2e", "emission", "emissions"),
		calc("Emissions from biochar transport", 0.21528, "t CO2e", "emission", "emissions"),
		calc("Total emissions", 8.146553, "t CO2e", "emission", "emissions"),
		calc("Net Carbon Removal", 149.671458, "t", "net", "removal"),
	}
}

func TestBatchWaterfall(t *testing.T) {
	t.Run("GrossDurableEachEmissionNet", func(t *testing.T) {
		w := NewWaterfall(ncrCalculations())
		if w == nil {
			t.Fatal("no waterfall")
		}
		want := []Step{
			{Name: "Gross carbon stored", To: 178.506086},
			{Name: "Durable carbon stored", To: 157.81801},
			{Name: "Emissions from feedstock transport", From: 157.81801, To: 155.96674, Emission: true},
			{Name: "Emissions from production energy", From: 155.96674, To: 149.990337, Emission: true},
			{Name: "Emissions from pyrolysis methane", From: 149.990337, To: 149.886737, Emission: true},
			{Name: "Emissions from biochar transport", From: 149.886737, To: 149.671457, Emission: true},
			{Name: "Net Carbon Removal", To: 149.671458},
		}
		if len(w.Steps) != len(want) {
			t.Fatalf("%d steps, want %d (the total left out): %+v", len(w.Steps), len(want), w.Steps)
		}
		for i, s := range w.Steps {
			if s.Name != want[i].Name || s.Emission != want[i].Emission || math.Abs(s.From-want[i].From) > 1e-6 || math.Abs(s.To-want[i].To) > 1e-6 {
				t.Errorf("step %d = %+v, want %+v", i, s, want[i])
			}
		}
		if w.Unit != "t CO2e" {
			t.Errorf("unit %q", w.Unit)
		}
	})
	tests := []struct {
		name  string
		calcs []mangrove.Calculation
	}{
		{"NoCalculations", nil}, // a failed model run
		{"NoStoredAmount", []mangrove.Calculation{calc("Net", 1, "t", "net", "removal")}},
		{"NoNet", ncrCalculations()[:9]},
		{"TwoNets", append(ncrCalculations(), calc("Net again", 149.671458, "t", "net", "removal"))},
		{"DoesNotAddUp", append(ncrCalculations()[:9], calc("Net Carbon Removal", 150, "t", "net", "removal"))},
		{"RoleOfAnotherKind", func() []mangrove.Calculation {
			cs := ncrCalculations()
			for i := range cs {
				if lcaRole(cs[i]) != "" {
					cs[i].LCARole = json.RawMessage(`true`)
				}
			}
			return cs
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if w := NewWaterfall(tt.calcs); w != nil {
				t.Errorf("waterfall %+v, want none", w)
			}
		})
	}
	t.Run("WithoutATotal", func(t *testing.T) {
		var cs []mangrove.Calculation
		for _, c := range ncrCalculations() {
			if c.Name != "Total emissions" {
				cs = append(cs, c)
			}
		}
		if w := NewWaterfall(cs); w == nil || len(w.Steps) != 7 {
			t.Errorf("waterfall %+v, want 7 steps", w)
		}
	})
}

func TestBatchPage(t *testing.T) {
	t.Run("OneRound", func(t *testing.T) {
		api := &barrierAPI{Rounds: testkit.NewRounds(3)}
		s := New(api, Options{})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		p, err := s.Batch(ctx, "tok", "b1", "lgr_1")
		if err != nil {
			t.Fatalf("the batch, its ledger and the check were not all in flight at once (%d arrived): %v", api.Arrived(), err)
		}
		if p.Batch.ID != "b1" || p.Ledger == nil || p.Ledger.ID != "lgr_1" || p.Waterfall == nil {
			t.Errorf("page %+v", p)
		}
	})
	t.Run("NoLedger", func(t *testing.T) {
		api := &countingAPI{}
		p, err := New(api, Options{}).Batch(context.Background(), "tok", "b1", "")
		if err != nil {
			t.Fatal(err)
		}
		if p.Ledger != nil || api.n("ledger") != 0 || api.n("batches") != 0 {
			t.Errorf("ledger %+v read with no ledger named (%d, %d calls)", p.Ledger, api.n("ledger"), api.n("batches"))
		}
	})
	t.Run("NotOnLedger", func(t *testing.T) {
		_, err := New(&countingAPI{}, Options{}).Batch(context.Background(), "tok", "b2", "lgr_1")
		if !errors.Is(err, ErrNotOnLedger) {
			t.Errorf("err %v, want ErrNotOnLedger", err)
		}
	})
}
