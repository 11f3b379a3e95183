package generation

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/forms"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/store"
)

// overlapPageSize is how many overlapping batches one call reads; past it
// the list's total is used.
const overlapPageSize = 100

// Preview is what Mangrove says a generation would do, with the checks the
// page shows beside it and a confirmation key bound to exactly these
// parameters. When the form is refused (FieldErrors or FormError), only
// Ledger and Form are set.
type Preview struct {
	Ledger *Ledger
	Form   forms.GenerationForm
	// FieldErrors are the form's own errors; FormError is Mangrove's refusal
	// (a 400 or 422), which belongs beside the form too.
	FieldErrors forms.FieldErrors
	FormError   string

	Params  forms.GenerationParams
	Entries []mangrove.PreviewEntry
	Total   int
	// Overlapping counts existing batches of the ledger in the range; -1
	// when they could not be checked.
	Overlapping int
	InputData   []InputData
	Key         string
}

// Refused reports whether the form must be shown again instead.
func (p *Preview) Refused() bool { return p.FieldErrors.Any() || p.FormError != "" }

// Preview validates the form, asks Mangrove what the generation would do,
// checks overlapping batches and input data, and issues the confirmation key.
func (s *Service) Preview(ctx context.Context, token, ledgerID string, f forms.GenerationForm) (*Preview, error) {
	ledger, err := s.LoadLedger(ctx, token, ledgerID)
	if err != nil {
		return nil, err
	}
	p := &Preview{Ledger: ledger, Form: f}
	params, errs := f.Validate(ledger.SkippableInputs())
	if errs.Any() {
		p.FieldErrors = errs
		return p, nil
	}
	p.Params = params
	p.Entries, err = s.api.PreviewGeneration(ctx, token, ledgerID, mangrove.PreviewRequest{
		StartTime: params.Start, EndTime: params.End, DataPointIDs: params.DataPointIDs,
	})
	if msg, ok := ValidationMessage(err); ok {
		p.FormError = msg
		return p, nil
	}
	if err != nil {
		return nil, err
	}
	for _, e := range p.Entries {
		p.Total += e.Count
	}
	// Two hints for the page, independent of each other.
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		p.Overlapping = s.overlappingBatches(ctx, token, ledgerID, params.Start, params.End)
	}()
	go func() {
		defer wg.Done()
		p.InputData = s.inputData(ctx, token, ledger.Inputs, params.SkippedTypeIDs, params.Start, params.End)
	}()
	wg.Wait()

	seen := make([]store.PreviewEntry, len(p.Entries))
	for i, e := range p.Entries {
		seen[i] = store.PreviewEntry{LedgerID: e.ID, LedgerName: e.Name, Count: e.Count}
	}
	p.Key, err = s.store.IssueConfirmKey(ctx, mangrove.TokenHash(token), forms.BindingHash(ledgerID, params), seen)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// ValidationMessage extracts the API's message from a 400 or 422, which
// belongs next to the form rather than on an error page.
func ValidationMessage(err error) (string, bool) {
	var apiErr *mangrove.APIError
	if !errors.As(err, &apiErr) || (apiErr.Status != http.StatusUnprocessableEntity && apiErr.Status != http.StatusBadRequest) {
		return "", false
	}
	if apiErr.Message == "" {
		return "The request was refused without a reason.", true
	}
	return apiErr.Message, true
}

// overlappingBatches counts existing batches of the ledger that overlap the
// range. It is a warning only, so a failure reports -1 instead of failing.
func (s *Service) overlappingBatches(ctx context.Context, token, ledgerID string, start, end time.Time) int {
	list, err := s.api.LedgerBatches(ctx, token, ledgerID, mangrove.ListOptions{
		Page: 1, PageSize: overlapPageSize, Sort: []string{"start_time"},
		Filters: []mangrove.Filter{
			{Field: "start_time", Op: mangrove.OpLeq, Value: end.UTC().Format(time.RFC3339)},
			{Field: "end_time", Op: mangrove.OpGeq, Value: start.UTC().Format(time.RFC3339)},
		},
	})
	if err != nil {
		s.log.Warn("checking overlapping batches failed", "ledger_id", ledgerID, "err", err)
		return -1
	}
	n := 0
	for _, b := range list.Data { // the filters may be ignored upstream: check each
		if !b.StartTime.After(end) && !b.EndTime.Before(start) {
			n++
		}
	}
	if list.Info != nil && list.Info.TotalItems > len(list.Data) && n == len(list.Data) {
		n = list.Info.TotalItems
	}
	return n
}
