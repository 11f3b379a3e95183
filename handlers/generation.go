package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
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
	ledger, err := h.generation.LoadLedger(c.Request().Context(), h.currentToken(c), id)
	if err != nil {
		return err
	}
	return h.render(c, http.StatusOK, views.GenerationFormPage(h.formProps(c, ledger, f, nil, "", year)))
}

func (h *Handlers) formProps(c echo.Context, l *generation.Ledger, f forms.GenerationForm, errs forms.FieldErrors, formErr string, year int) views.GenerationFormProps {
	var quick []views.QuickRange
	for _, p := range forms.Presets(year, h.now()) {
		quick = append(quick, views.QuickRange{Name: p.Name, Label: p.Label, Start: p.Start.Format(time.DateOnly), End: p.End.Format(time.DateOnly)})
	}
	return views.GenerationFormProps{
		Layout:         h.layout(c, "Generate on "+l.Name, "ledgers"),
		Ledger:         ledgerRow(l.Ledger),
		RequiredInputs: inputRows(l.Inputs),
		Values:         formValues(f),
		Errors:         errs,
		FormError:      formErr,
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
		return h.render(c, http.StatusUnprocessableEntity, views.GenerationFormPage(h.formProps(c, p.Ledger, p.Form, p.FieldErrors, p.FormError, year)))
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
	for _, a := range p.Params.BatchAmounts {
		props.BatchAmounts = append(props.BatchAmounts, views.BatchAmountValues{BatchID: a.BatchID, Amount: strconv.FormatFloat(a.Amount, 'f', -1, 64), AllocationGroup: a.AllocationGroup})
	}
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
		if o.FormError != "" {
			return h.render(c, http.StatusUnprocessableEntity, views.GenerationFormPage(h.formProps(c, o.Ledger, f, nil, o.FormError, h.now().Year())))
		}
		return generationRefused(o.LedgerID, o.Message)
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
