package ledgers

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"sync"

	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// ErrNotOnLedger says the ledger a batch link named has no such batch: the
// link is out of date or was edited.
var ErrNotOnLedger = errors.New("ledgers: the batch is not on that ledger")

// BatchPage is what a batch's page shows.
type BatchPage struct {
	Batch *mangrove.BatchDetail
	// Ledger is the ledger the link came from, checked to hold the batch;
	// nil when the link named none (the batch object names no ledger).
	Ledger *mangrove.Ledger
	// Waterfall is nil when the calculations do not make one.
	Waterfall *Waterfall
}

// Batch reads a batch and, when ledgerID is set, that ledger and whether
// the batch is on it, all at once: one round of API calls.
func (s *Service) Batch(ctx context.Context, token, id, ledgerID string) (*BatchPage, error) {
	var (
		wg               sync.WaitGroup
		p                BatchPage
		on               *mangrove.List[mangrove.Batch]
		berr, lerr, oerr error
	)
	wg.Go(func() { p.Batch, berr = s.api.Batch(ctx, token, id) })
	if ledgerID != "" {
		wg.Go(func() { p.Ledger, lerr = s.api.Ledger(ctx, token, ledgerID) })
		wg.Go(func() { on, oerr = s.api.LedgerBatches(ctx, token, ledgerID, onLedger(id)) })
	}
	wg.Wait()
	if err := errors.Join(berr, lerr, oerr); err != nil {
		return nil, err
	}
	if ledgerID != "" && !holds(on, id) {
		return nil, ErrNotOnLedger
	}
	if p.Batch.ModelRun != nil {
		p.Waterfall = NewWaterfall(p.Batch.ModelRun.Calculations)
	}
	return &p, nil
}

// onLedger asks a ledger's batch list for one batch: the API documents
// filter[id][eq] there, so the answer says whether the ledger holds it.
func onLedger(batchID string) mangrove.ListOptions {
	return mangrove.ListOptions{Page: 1, PageSize: 1, Filters: []mangrove.Filter{{Field: "id", Op: mangrove.OpEq, Value: batchID}}}
}

func holds(l *mangrove.List[mangrove.Batch], id string) bool {
	if l == nil {
		return false
	}
	for _, b := range l.Data {
		if b.ID == id {
			return true
		}
	}
	return false
}

// The lca_role values a waterfall is built from, as the API documents them
// (mangrove-api-reference.md, model runs) and the sandbox's model sets them.
const (
	roleRemoval  = "removal"  // carbon stored: gross, then what is durable
	roleEmission = "emission" // subtracted from what is stored
	roleNet      = "net"      // what remains
)

// sumTolerance is how far sums may differ and still agree: the API rounds
// each value to six decimals, so a sum of a dozen may be off by about 1e-5
// (relative to amounts above 1, for the float error of large ones).
const sumTolerance = 1e-5

// Waterfall is a batch's removal accounting as bars: each stored amount
// from zero, each emission down from the last stored amount, the net from
// zero.
type Waterfall struct {
	Unit  string
	Steps []Step
}

// Step is one bar of a waterfall, from From to To.
type Step struct {
	Name     string
	From, To float64
	Emission bool // a step down from the running amount, not a total
}

// NewWaterfall builds the waterfall from the calculations' lca_role, or
// returns nil when they do not make one that adds up: no stored amount, not
// exactly one net, or a net that is not the last stored amount minus the
// emissions. An emission that is the sum of the others (a total) is left
// out so it is not subtracted twice.
func NewWaterfall(calcs []mangrove.Calculation) *Waterfall {
	var stored, emitted, net []mangrove.Calculation
	for _, c := range calcs {
		switch lcaRole(c) {
		case roleRemoval:
			stored = append(stored, c)
		case roleEmission:
			emitted = append(emitted, c)
		case roleNet:
			net = append(net, c)
		}
	}
	if len(stored) == 0 || len(net) != 1 {
		return nil
	}
	emitted = withoutTotal(emitted)
	level := stored[len(stored)-1].Value
	w := &Waterfall{Unit: stored[0].Unit}
	for _, c := range stored {
		w.Steps = append(w.Steps, Step{Name: c.Name, To: c.Value})
	}
	for _, c := range emitted {
		w.Steps = append(w.Steps, Step{Name: c.Name, From: level, To: level - c.Value, Emission: true})
		level -= c.Value
	}
	if !agree(level, net[0].Value, stored[0].Value) {
		return nil
	}
	w.Steps = append(w.Steps, Step{Name: net[0].Name, To: net[0].Value})
	return w
}

// lcaRole is a calculation's lca_role when it is a string ("" otherwise:
// the docs also show other kinds).
func lcaRole(c mangrove.Calculation) string {
	var s string
	if json.Unmarshal(c.LCARole, &s) != nil {
		return ""
	}
	return s
}

// withoutTotal drops the last emission that is the sum of all the others.
func withoutTotal(emitted []mangrove.Calculation) []mangrove.Calculation {
	if len(emitted) < 2 {
		return emitted
	}
	sum := 0.0
	for _, c := range emitted {
		sum += c.Value
	}
	for i := len(emitted) - 1; i >= 0; i-- {
		if agree(emitted[i].Value, sum-emitted[i].Value, sum) {
			return append(emitted[:i:i], emitted[i+1:]...)
		}
	}
	return emitted
}

// agree reports whether a and b are equal to within the rounding of values
// of scale's size.
func agree(a, b, scale float64) bool {
	return math.Abs(a-b) <= sumTolerance*math.Max(1, math.Abs(scale))
}
