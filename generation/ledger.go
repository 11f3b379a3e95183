package generation

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// NoModelError says a ledger has no linked model, so nothing can be
// generated on it.
type NoModelError struct{ LedgerID, LedgerName string }

func (e *NoModelError) Error() string {
	return fmt.Sprintf("ledger %s (%s) has no linked model", e.LedgerID, e.LedgerName)
}

// IsNoModel reports whether err is a NoModelError.
func IsNoModel(err error) (*NoModelError, bool) {
	var e *NoModelError
	return e, errors.As(err, &e)
}

// Ledger is a ledger that can generate, with its model's required inputs.
type Ledger struct {
	mangrove.Ledger
	Inputs []mangrove.RequiredInput
}

// LoadLedger reads a ledger and its required inputs at once; the ledger
// must have a model. Through the app's read cache, the form view's reads
// serve the preview that follows it.
func (s *Service) LoadLedger(ctx context.Context, token, id string) (*Ledger, error) {
	var (
		wg     sync.WaitGroup
		ledger *mangrove.Ledger
		inputs []mangrove.RequiredInput
		lerr   error
		ierr   error
	)
	wg.Go(func() { ledger, lerr = s.api.Ledger(ctx, token, id) })
	wg.Go(func() { inputs, ierr = s.api.RequiredInputs(ctx, token, id) })
	wg.Wait()
	if lerr != nil {
		return nil, lerr
	}
	if ledger.LatestModel == nil {
		return nil, &NoModelError{LedgerID: id, LedgerName: ledger.Name}
	}
	if ierr != nil {
		return nil, ierr
	}
	return &Ledger{Ledger: *ledger, Inputs: inputs}, nil
}

// SkippableInputs are the data point type ids the form may skip: the
// ledger's required inputs.
func (l *Ledger) SkippableInputs() map[int64]bool {
	m := make(map[int64]bool, len(l.Inputs))
	for _, in := range l.Inputs {
		m[in.ID] = true
	}
	return m
}

// LoadForm reads what the generation form shows: the ledger with its
// inputs, then the batches its allocation rows offer from the ledgers
// feeding its manual-select inputs (LoadFeeds).
func (s *Service) LoadForm(ctx context.Context, token, id string) (*Ledger, []Feed, error) {
	l, err := s.LoadLedger(ctx, token, id)
	if err != nil {
		return nil, nil, err
	}
	return l, s.LoadFeeds(ctx, token, l), nil
}
