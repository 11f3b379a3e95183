package generation

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/forms"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/store"
)

// The existing batches in a previewed range are read a page of
// overlapPageSize at a time, at most maxExistingPages pages per ledger
// (five years of monthly batches for 16 partitions).
const (
	overlapPageSize  = 100
	maxExistingPages = 10
)

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

	// Feeds are the ledger's inputs fed by other ledgers, with the batches
	// the form offers to allocate from; read when the form has allocations
	// or is shown again.
	Feeds []Feed
	// Allocations are the checked batch_amounts, in the form's order.
	Allocations []Allocation

	Params  forms.GenerationParams
	Entries []mangrove.PreviewEntry
	Total   int
	// Existing are the batches already in the range, per ledger of the
	// preview; ExistingUnknown is set when some could not be read.
	Existing        map[string][]mangrove.Batch
	ExistingUnknown bool
	InputData       []InputData
	Key             string
}

// Overlapping counts the batches already in the range over every ledger of
// the preview; -1 when they could not all be read.
func (p *Preview) Overlapping() int {
	if p.ExistingUnknown {
		return -1
	}
	n := 0
	for _, bs := range p.Existing {
		n += len(bs)
	}
	return n
}

// Split says how many of a ledger's previewed batches fall in periods
// without a batch yet (fresh) and how many in periods that have one
// (again): generating again writes those periods anew.
func (p *Preview) Split(e mangrove.PreviewEntry) (fresh, again int) {
	again = min(len(p.Existing[e.ID]), e.Count)
	return e.Count - again, again
}

// Refused reports whether the form must be shown again instead.
func (p *Preview) Refused() bool { return p.FieldErrors.Any() || p.FormError != "" }

// Preview validates the form, asks Mangrove what the generation would do,
// checks overlapping batches and input data, checks the allocations
// (batch_amounts) against the feeding ledgers' batches (CheckAllocations),
// and issues the confirmation key.
//
// Allocations add the feeding ledgers' batches to the second round (read
// with the form view's options, so cached) and, only for a batch their
// lists leave out, a lookup by id in a third.
//
// It costs two rounds of API calls. The preview call needs only the range and
// data point ids, so it starts with the ledger's reads, the project list and
// the ledger's own batches in the range; then the batches of the other
// ledgers the preview names and the events of the ledger's project (with
// several projects, their models, which tell it, and their events at once). If the ledger's
// inputs refuse the form (a skipped type it does not have), what was started
// for it is dropped: generate_preview writes nothing.
func (s *Service) Preview(ctx context.Context, token, ledgerID string, f forms.GenerationForm) (*Preview, error) {
	syntax, syntaxErrs := f.Validate(nil) // everything but which inputs may be skipped
	var (
		wg          sync.WaitGroup
		ledger      *Ledger
		lerr        error
		entries     []mangrove.PreviewEntry
		perr        error
		projects    []mangrove.Project
		projectsErr error
		own         existing
	)
	wg.Go(func() { ledger, lerr = s.LoadLedger(ctx, token, ledgerID) })
	if !syntaxErrs.Any() {
		wg.Go(func() {
			entries, perr = s.api.PreviewGeneration(ctx, token, ledgerID, mangrove.PreviewRequest{
				StartTime: syntax.Start, EndTime: syntax.End, DataPointIDs: syntax.DataPointIDs,
			})
		})
		wg.Go(func() { projects, projectsErr = s.api.Projects(ctx, token) })
		wg.Go(func() { own = s.existingIn(ctx, token, ledgerID, syntax.Start, syntax.End) })
	}
	wg.Wait()
	if lerr != nil {
		return nil, lerr
	}
	p := &Preview{Ledger: ledger, Form: f}
	params, errs := f.Validate(ledger.SkippableInputs())
	if errs.Any() {
		p.FieldErrors = errs
		p.Feeds = s.LoadFeeds(ctx, token, ledger)
		return p, nil
	}
	p.Params, p.Entries = params, entries
	if msg, ok := ValidationMessage(perr); ok {
		p.FormError = msg
		p.Feeds = s.LoadFeeds(ctx, token, ledger)
		return p, nil
	}
	if perr != nil {
		return nil, perr
	}
	for _, e := range p.Entries {
		p.Total += e.Count
	}
	// Two hints for the page, independent of each other.
	wg.Go(func() {
		p.Existing, p.ExistingUnknown = s.existingBatches(ctx, token, p.Entries, ledgerID, own, params.Start, params.End)
	})
	wg.Go(func() {
		p.InputData = s.inputData(ctx, token, ledger.Ledger, ledger.Inputs, params.SkippedTypeIDs, projects, projectsErr, params.Start, params.End)
	})
	var allocErrs forms.FieldErrors
	if len(params.BatchAmounts) > 0 { // the allocations' check, beside the hints
		wg.Go(func() {
			p.Feeds = s.LoadFeeds(ctx, token, ledger)
			var resolved []forms.BatchAmountInput
			resolved, p.Allocations, allocErrs = s.CheckAllocations(ctx, token, ledger, p.Feeds, params.BatchAmounts)
			if !allocErrs.Any() {
				p.resolveGroups(resolved)
			}
		})
	}
	wg.Wait()
	if allocErrs.Any() {
		p.FieldErrors = allocErrs
		return p, nil
	}

	var err error
	p.Key, err = s.store.IssueConfirmKey(ctx, mangrove.TokenHash(token), forms.BindingHash(ledgerID, p.Params), p.seen())
	if err != nil {
		return nil, err
	}
	return p, nil
}

// resolveGroups puts the allocations' resolved groups (an input's only
// group when none was chosen) into the parameters and the form, so the
// confirmation key binds, and Confirm sends, exactly what was checked.
func (p *Preview) resolveGroups(resolved []forms.BatchAmountInput) {
	p.Params.BatchAmounts = slices.Clone(p.Params.BatchAmounts)
	p.Form.BatchAmounts = slices.Clone(p.Form.BatchAmounts)
	for n, r := range resolved {
		p.Params.BatchAmounts[n].AllocationGroup = r.AllocationGroup
		p.Form.BatchAmounts[n].AllocationGroup = r.AllocationGroup
	}
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

// seen is the preview as the audit log keeps it, with the existing
// batches' outputs at this moment.
func (p *Preview) seen() []store.PreviewEntry {
	out := make([]store.PreviewEntry, len(p.Entries))
	for i, e := range p.Entries {
		out[i] = store.PreviewEntry{LedgerID: e.ID, LedgerName: e.Name, Count: e.Count}
		for _, b := range p.Existing[e.ID] {
			x := store.ExistingBatch{BatchID: b.ID, TrackingID: mangrove.Deref(b.TrackingID), StartTime: b.StartTime, EndTime: b.EndTime}
			if o := b.Result(); o != nil { // a failed batch had no result to compare with
				v := o.Value
				x.Output, x.Unit = &v, o.Unit
			}
			out[i].Existing = append(out[i].Existing, x)
		}
	}
	return out
}

// existing is one ledger's batches in a range, or why they are not known.
type existing struct {
	batches []mangrove.Batch
	err     error
}

func (s *Service) existingIn(ctx context.Context, token, ledgerID string, start, end time.Time) existing {
	bs, err := s.batchesInRange(ctx, token, ledgerID, start, end)
	return existing{batches: bs, err: err}
}

// existingBatches reads, for every ledger of the preview at once, its
// batches already in the range; the previewed ledger's (own) were read
// beside the preview call. It is a hint only: a ledger that cannot be read
// sets unknown instead of failing the preview.
func (s *Service) existingBatches(ctx context.Context, token string, entries []mangrove.PreviewEntry, ledgerID string, own existing, start, end time.Time) (map[string][]mangrove.Batch, bool) {
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		out     = make(map[string][]mangrove.Batch, len(entries))
		unknown bool
	)
	for _, e := range entries {
		wg.Go(func() {
			x := own
			if e.ID != ledgerID {
				x = s.existingIn(ctx, token, e.ID, start, end)
			}
			mu.Lock()
			defer mu.Unlock()
			if x.err != nil {
				s.log.Warn("reading a ledger's batches in the range failed", "ledger_id", e.ID, "err", x.err)
				unknown = true
				return
			}
			out[e.ID] = x.batches
		})
	}
	wg.Wait()
	return out, unknown
}

// errTooManyBatches: a ledger lists more than maxExistingPages pages for
// the range (or ignores the time filters, which are not documented): the
// batches in the range cannot all be known, so none are claimed.
var errTooManyBatches = errors.New("more batches than the preview reads")

// batchesInRange reads a ledger's batches that overlap the range, oldest
// first; errTooManyBatches when they do not fit in maxExistingPages pages.
func (s *Service) batchesInRange(ctx context.Context, token, ledgerID string, start, end time.Time) ([]mangrove.Batch, error) {
	var out []mangrove.Batch
	for page, read := 1, 0; read < maxExistingPages; read++ {
		list, err := s.api.LedgerBatches(ctx, token, ledgerID, mangrove.ListOptions{
			Page: page, PageSize: overlapPageSize, Sort: []string{"start_time", "id"},
			Filters: []mangrove.Filter{
				{Field: "start_time", Op: mangrove.OpLeq, Value: end.UTC().Format(time.RFC3339)},
				{Field: "end_time", Op: mangrove.OpGeq, Value: start.UTC().Format(time.RFC3339)},
			},
		})
		if err != nil {
			return nil, err
		}
		for _, b := range list.Data { // the filters may be ignored upstream: check each
			if !b.StartTime.After(end) && !b.EndTime.Before(start) {
				out = append(out, b)
			}
		}
		next, ok := list.NextPageAfter(page)
		if !ok {
			return out, nil
		}
		page = next
	}
	return nil, errTooManyBatches
}
