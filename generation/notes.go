package generation

import (
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// Skipped are the required inputs the generation leaves out.
func (p *Preview) Skipped() []mangrove.RequiredInput {
	skip := p.skipSet()
	var out []mangrove.RequiredInput
	for _, in := range p.Ledger.Inputs {
		if skip[in.ID] {
			out = append(out, in)
		}
	}
	return out
}

// UnpickedManualInputs are the manual-select inputs the generation uses
// although no data point ids were given and the input check found no data
// points for them in the range (or could not tell): Mangrove may leave
// them out. One whose data was found needs no picking.
func (p *Preview) UnpickedManualInputs() []mangrove.RequiredInput {
	if len(p.Params.DataPointIDs) > 0 {
		return nil
	}
	skip := p.skipSet()
	found := map[string]bool{}
	for _, d := range p.InputData {
		if d.State == InputFound || d.State == InputEarlier {
			found[d.Slug] = true
		}
	}
	var out []mangrove.RequiredInput
	for _, in := range p.Ledger.Inputs {
		if in.IsManualSelect && !skip[in.ID] && !found[in.Slug] {
			out = append(out, in)
		}
	}
	return out
}

func (p *Preview) skipSet() map[int64]bool {
	skip := make(map[int64]bool, len(p.Params.SkippedTypeIDs))
	for _, id := range p.Params.SkippedTypeIDs {
		skip[id] = true
	}
	return skip
}
