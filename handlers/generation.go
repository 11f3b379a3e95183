package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/carbon-dash/mangrove-dashboard/forms"
	"github.com/carbon-dash/mangrove-dashboard/generation"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/views"
)

// showGenerationForm renders the form, prefilled from the query string so
// "Edit" on the preview and the no-JavaScript quick ranges keep the values.
func (h *Handlers) showGenerationForm(c echo.Context) error {
	id, err := ledgerIDParam(c)
	if err != nil {
		return err
	}
	q := c.QueryParams()
	f := forms.ParseGenerationForm(q)
	year := forms.QuickYear(q.Get("quick_year"), h.now())
	if start, end, ok := forms.QuickRange(q.Get("quick"), year, h.now()); ok {
		f.StartTime, f.EndTime = start.Format(time.DateOnly), end.Format(time.DateOnly)
	}
	ledger, feeds, err := h.generation.LoadForm(c.Request().Context(), h.currentToken(c), id)
	if err != nil {
		return err
	}
	return h.render(c, http.StatusOK, views.GenerationFormPage(h.formProps(c, ledger, feeds, f, nil, "", year)))
}

func (h *Handlers) formProps(c echo.Context, l *generation.Ledger, feeds []generation.Feed, f forms.GenerationForm, errs forms.FieldErrors, formErr string, year int) views.GenerationFormProps {
	var quick []views.QuickRange
	for _, p := range forms.Presets(year, h.now()) {
		quick = append(quick, views.QuickRange{Name: p.Name, Label: p.Label, Start: p.Start.Format(time.DateOnly), End: p.End.Format(time.DateOnly)})
	}
	errs = unshownAllocations(l, feeds, f, errs)
	return views.GenerationFormProps{
		Layout:         h.layout(c, "Generate on "+l.Name, "ledgers"),
		Ledger:         ledgerRow(l.Ledger),
		RequiredInputs: inputRows(l.Inputs),
		Values:         formValues(f),
		Errors:         errs,
		FormError:      formErr,
		Allocations:    allocationSections(feeds, f, errs),
		QuickRanges:    quick,
		QuickYear:      year,
		YearOptions:    forms.QuickYears(h.now()),
	}
}

// ledgerForm reads the ledger id of the path and the posted form of the
// generation routes.
func ledgerForm(c echo.Context) (string, url.Values, error) {
	id, err := ledgerIDParam(c)
	if err != nil {
		return "", nil, err
	}
	form, err := c.FormParams()
	if err != nil {
		return "", nil, unreadableForm(id)
	}
	return id, form, nil
}

// previewGeneration shows what Mangrove would do with the parameters in
// the query, with a confirmation key bound to exactly them. It is a GET, so
// Back, a reload or a pasted link show the same preview (with a fresh key).
func (h *Handlers) previewGeneration(c echo.Context) error {
	id, err := ledgerIDParam(c)
	if err != nil {
		return err
	}
	return h.showPreview(c, id, c.QueryParams())
}

// maxPreviewURLLen bounds the address a posted form is redirected to; a
// valid form's is far shorter, and servers refuse very long ones.
const maxPreviewURLLen = 32 << 10

// redirectToPreview answers the form posted by older pages with the
// preview's own address (one too long for that is answered in place).
func (h *Handlers) redirectToPreview(c echo.Context) error {
	id, form, err := ledgerForm(c)
	if err != nil {
		return err
	}
	u := previewURL(id, forms.ParseGenerationForm(form))
	if len(u) > maxPreviewURLLen {
		return h.showPreview(c, id, form)
	}
	return redirect(c, u)
}

// showPreview renders the preview of the form values q, or the form again
// with what is wrong.
func (h *Handlers) showPreview(c echo.Context, id string, q url.Values) error {
	p, err := h.generation.Preview(c.Request().Context(), h.currentToken(c), id, forms.ParseGenerationForm(q))
	if err != nil {
		return err
	}
	if p.Refused() {
		year := forms.QuickYear(q.Get("quick_year"), h.now())
		return h.render(c, http.StatusUnprocessableEntity, views.GenerationFormPage(h.formProps(c, p.Ledger, p.Feeds, p.Form, p.FieldErrors, p.FormError, year)))
	}
	return h.render(c, http.StatusOK, views.PreviewPage(h.previewProps(c, p)))
}

// previewURL is the address of the preview of f on a ledger.
func previewURL(ledgerID string, f forms.GenerationForm) string {
	return views.PreviewPath(ledgerID) + "?" + f.Values().Encode()
}

func (h *Handlers) previewProps(c echo.Context, p *generation.Preview) views.PreviewPageProps {
	props := views.PreviewPageProps{
		Layout:       h.layout(c, "Review: "+p.Ledger.Name+", "+views.RangeInWords(p.Params.Start, p.Params.End), "ledgers"),
		Ledger:       ledgerRow(p.Ledger.Ledger),
		Start:        p.Params.Start,
		End:          p.Params.End,
		RangeInWords: views.RangeInWords(p.Params.Start, p.Params.End),
		DataPointIDs: p.Params.DataPointIDs,
		ConfirmKey:   p.Key,
		Values:       formValues(p.Form),
		TotalCount:   p.Total,
		Skipped:      inputNames(p.Skipped()),
		InputData:    inputDataRows(p.InputData),
	}
	for _, e := range p.Entries {
		fresh, again := p.Split(e)
		props.Entries = append(props.Entries, views.PreviewEntry{LedgerID: e.ID, Name: e.Name, Count: e.Count, New: fresh, Again: again})
	}
	props.Existing = p.Overlapping()
	props.Grid = previewGrid(p)
	props.Allocations = allocationSummaries(p.Allocations, p.Params.Start, p.Params.End)
	props.Warnings = views.PreviewWarnings(p.Total, props.Existing, manualInputs(p.UnpickedManualInputs()), props.InputData)
	return props
}

// confirmGeneration starts the previewed generation once per confirmation
// key and leads to its task, or says why it did not start.
func (h *Handlers) confirmGeneration(c echo.Context) error {
	id, form, err := ledgerForm(c)
	if err != nil {
		return err
	}
	f := forms.ParseGenerationForm(form)
	o, err := h.generation.Confirm(c.Request().Context(), generation.Confirmation{
		Token: h.currentToken(c), UserLabel: h.userLabel(c), LedgerID: id, Key: form.Get("confirm_key"), Form: f,
	})
	if errors.Is(err, mangrove.ErrForbidden) || errors.Is(err, generation.ErrReadOnly) {
		return cannotGenerate(id, f)
	}
	if err != nil {
		return err
	}
	switch o.Kind {
	case generation.Started:
		return h.flashAndRedirect(c, flashStarted, "Generation started on "+o.LedgerName+".", views.TaskPath(o.TaskID))
	case generation.AlreadyStarted:
		return h.flashAndRedirect(c, "info", "This generation was already confirmed; here is its task. Nothing new was started.", views.TaskPath(o.TaskID))
	case generation.Rejected:
		return h.showRejection(c, o, f)
	case generation.Unknown:
		return unknownOutcome(o.LedgerID)
	case generation.Submitting:
		return stillSubmitting()
	case generation.NothingToGenerate:
		return nothingToGenerate(id, f)
	default:
		return expiredConfirmation(id, f)
	}
}

// showRejection shows Mangrove's refusal of a confirmation. A 409 (a
// generation already runs on the ledger) shows the preview again, with the
// message beside a fresh Confirm; a refusal of the parameters shows the form
// with the message beside it; any other, an error page.
func (h *Handlers) showRejection(c echo.Context, o generation.Outcome, f forms.GenerationForm) error {
	switch {
	case o.Busy && o.Preview != nil:
		props := h.previewProps(c, o.Preview)
		props.ConfirmError = sentence(o.FormError)
		return h.render(c, http.StatusConflict, views.PreviewPage(props))
	case o.FormError != "" && o.Ledger != nil:
		status := http.StatusUnprocessableEntity
		if o.Busy {
			status = http.StatusConflict
		}
		return h.render(c, status, views.GenerationFormPage(h.formProps(c, o.Ledger, o.Feeds, f, nil, o.FormError, h.now().Year())))
	case o.Busy:
		return generationBusy(o.LedgerID, o.Message)
	}
	return generationRefused(o.LedgerID, o.Message)
}

// unshownAllocations: with no input fed by another ledger the form has no
// allocation rows, so allocations in the values (an old link, a changed
// model) cannot be shown or kept; one message says so in place of the rows'.
func unshownAllocations(l *generation.Ledger, feeds []generation.Feed, f forms.GenerationForm, errs forms.FieldErrors) forms.FieldErrors {
	if len(feeds) > 0 || len(f.BatchAmounts) == 0 {
		return errs
	}
	out := forms.FieldErrors{}
	for k, msg := range errs {
		if !strings.HasPrefix(k, "batch_amounts[") {
			out[k] = msg
		}
	}
	out["batch_amounts"] = l.Name + " has no manual-select input fed by another ledger, so there is no batch to allocate from: the allocations given are left out of the form."
	return out
}

// emptyAllocationRows is how many empty rows each allocation section adds
// to the typed ones: to allocate more, preview and edit (the typed rows come
// back, with two empty ones again).
const emptyAllocationRows = 2

// allocationSections lays out the form's batch_amounts rows, one section per
// input fed by other ledgers: the rows typed for it (a row belongs to the
// input whose feeding ledger lists its batch; to the first when none does)
// and empty ones, numbered in page order, in all at most
// forms.MaxBatchAmountRows unless more were typed. Each row carries its
// messages: the form's about the row (batch_amounts[N]) and the preview's
// about each field (batch_amounts[N][field]), N being the row's place in f.
func allocationSections(feeds []generation.Feed, f forms.GenerationForm, errs forms.FieldErrors) []views.AllocationSection {
	if len(feeds) == 0 {
		return nil
	}
	start, serr := forms.ParseDateStart(f.StartTime)
	end, eerr := forms.ParseDateEnd(f.EndTime)
	hasRange := serr == nil && eerr == nil && end.After(start)

	typed := make([][]int, len(feeds)) // per feed, indexes into f.BatchAmounts
	for i, r := range f.BatchAmounts {
		fi := feedOf(feeds, strings.TrimSpace(r.BatchID))
		typed[fi] = append(typed[fi], i)
	}
	secs := make([]views.AllocationSection, len(feeds))
	n := 0
	for fi, fd := range feeds {
		sec := views.AllocationSection{InputName: fd.Input.Name, Unit: mangrove.Deref(fd.Input.Unit), Limit: generation.MaxUpstreamBatches}
		for _, g := range fd.Groups {
			sec.Groups = append(sec.Groups, views.AllocationGroupOption{ID: g.ID, Name: g.Name})
		}
		for _, src := range fd.Sources {
			sec.From = append(sec.From, src.Ledger.Name)
			if src.Err != nil {
				sec.Unreadable = append(sec.Unreadable, src.Ledger.Name)
			}
			sec.Options = append(sec.Options, upstreamGroups(src, hasRange, start, end)...)
		}
		for _, i := range typed[fi] {
			r := f.BatchAmounts[i]
			key := "batch_amounts[" + strconv.Itoa(i) + "]"
			sec.Rows = append(sec.Rows, views.AllocationRow{
				N: n, BatchID: strings.TrimSpace(r.BatchID), Amount: r.Amount, Group: strings.TrimSpace(r.AllocationGroup),
				RowError: errs[key], BatchError: errs[key+"[batch_id]"],
				AmountError: errs[key+"[primary_output_amount]"], GroupError: errs[key+"[allocation_group]"],
			})
			n++
		}
		for range emptyAllocationRows {
			if n >= forms.MaxBatchAmountRows {
				break
			}
			sec.Rows = append(sec.Rows, views.AllocationRow{N: n})
			n++
		}
		secs[fi] = sec
	}
	return secs
}

// feedOf is the feed whose sources list the batch, else the first.
func feedOf(feeds []generation.Feed, batchID string) int {
	for fi, fd := range feeds {
		for _, src := range fd.Sources {
			for _, b := range src.Batches {
				if b.ID == batchID {
					return fi
				}
			}
		}
	}
	return 0
}

// upstreamGroups are a feeding ledger's batches as option groups: with a
// range, those whose period overlaps it first, then the other recent ones.
func upstreamGroups(src generation.Source, hasRange bool, start, end time.Time) []views.UpstreamBatchGroup {
	var in, other []views.UpstreamBatchOption
	for _, b := range src.Batches {
		o := views.UpstreamBatchOption{ID: b.ID, TrackingID: mangrove.Deref(b.TrackingID), Start: b.StartTime, End: b.EndTime,
			Feedstock: strings.Join(mangrove.Names(b.Feedstocks), ", "), Unallocated: b.LedgerBalance}
		if b.PrimaryOutput != nil {
			o.Unit = b.PrimaryOutput.Unit
		}
		if hasRange && !b.StartTime.After(end) && !b.EndTime.Before(start) {
			in = append(in, o)
		} else {
			other = append(other, o)
		}
	}
	if !hasRange {
		if len(other) == 0 {
			return nil
		}
		return []views.UpstreamBatchGroup{{Label: src.Ledger.Name, Batches: other}}
	}
	var out []views.UpstreamBatchGroup
	if len(in) > 0 {
		out = append(out, views.UpstreamBatchGroup{Label: src.Ledger.Name + ": in the range", Batches: in})
	}
	if len(other) > 0 {
		out = append(out, views.UpstreamBatchGroup{Label: src.Ledger.Name + ": other recent batches", Batches: other})
	}
	return out
}

// allocationSummaries are the checked allocations as the preview shows them.
func allocationSummaries(as []generation.Allocation, start, end time.Time) []views.AllocationSummary {
	out := make([]views.AllocationSummary, len(as))
	for i, a := range as {
		out[i] = views.AllocationSummary{
			BatchID: a.BatchID, LedgerID: a.Ledger.ID, TrackingID: mangrove.Deref(a.Batch.TrackingID), LedgerName: a.Ledger.Name,
			Start: a.Batch.StartTime, End: a.Batch.EndTime, Amount: a.Amount, Unit: a.Unit(),
			Outside: a.Batch.StartTime.After(end) || a.Batch.EndTime.Before(start),
		}
		if a.Group != nil {
			out[i].Group = a.Group.Name
		}
	}
	return out
}
