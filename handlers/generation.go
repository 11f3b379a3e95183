package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/metrics"
	"github.com/carbon-dash/mangrove-dashboard/store"
	"github.com/carbon-dash/mangrove-dashboard/views"
)

// showGenerationForm renders the form, prefilled from the query string so
// "Edit" on the preview and the no-JavaScript quick ranges keep the values.
func (h *Handlers) showGenerationForm(c echo.Context) error {
	id, err := ledgerIDParam(c)
	if err != nil {
		return err
	}
	ledger, inputs, err := h.loadLedger(c.Request().Context(), h.currentToken(c), id)
	if err != nil {
		return err
	}
	q := c.QueryParams()
	f := ParseGenerationForm(q)
	year := h.quickYear(q.Get("quick_year"))
	if name := q.Get("quick"); name != "" {
		if start, end, ok := QuickRange(name, year, h.now()); ok {
			f.StartTime, f.EndTime = start.Format(time.DateOnly), end.Format(time.DateOnly)
		}
	}
	return render(c, http.StatusOK, views.GenerationFormPage(h.formProps(c, ledger, inputs, f, nil, "", year)))
}

func (h *Handlers) quickYear(raw string) int {
	now := h.now().UTC()
	y, err := strconv.Atoi(raw)
	if err != nil || y < now.Year()-10 || y > now.Year()+1 {
		return now.Year()
	}
	return y
}

func (h *Handlers) formProps(c echo.Context, l *mangrove.Ledger, inputs []mangrove.RequiredInput, f GenerationForm, errs FieldErrors, formErr string, year int) views.GenerationFormProps {
	now := h.now().UTC()
	var quick []views.QuickRange
	for _, q := range []struct{ name, label string }{{"last-month", "Last month"}, {"last-quarter", "Last quarter"}} {
		if s, e, ok := QuickRange(q.name, year, now); ok {
			quick = append(quick, views.QuickRange{Name: q.name, Label: q.label, Start: s.Format(time.DateOnly), End: e.Format(time.DateOnly)})
		}
	}
	var years []int
	for y := now.Year() + 1; y >= now.Year()-5; y-- {
		years = append(years, y)
	}
	return views.GenerationFormProps{
		Layout:         h.layout(c, "Generate on "+l.Name, "ledgers"),
		Ledger:         ledgerRow(*l),
		RequiredInputs: inputRows(inputs),
		Values:         formValues(f),
		Errors:         errs,
		FormError:      formErr,
		QuickRanges:    quick,
		QuickYear:      year,
		YearOptions:    years,
	}
}

func formValues(f GenerationForm) views.GenerationValues {
	v := views.GenerationValues{
		StartTime:      f.StartTime,
		EndTime:        f.EndTime,
		DataPointIDs:   f.DataPointIDs,
		SkippedTypeIDs: map[string]bool{},
	}
	for _, id := range f.SkippedTypeIDs {
		v.SkippedTypeIDs[id] = true
	}
	for _, r := range f.BatchAmounts {
		v.BatchAmounts = append(v.BatchAmounts, views.BatchAmountValues{BatchID: r.BatchID, Amount: r.Amount, AllocationGroup: r.AllocationGroup})
	}
	return v
}

func allowedSkips(inputs []mangrove.RequiredInput) map[int64]bool {
	m := make(map[int64]bool, len(inputs))
	for _, in := range inputs {
		m[in.ID] = true
	}
	return m
}

// bindingHash ties a confirmation key to one ledger and one set of
// parameters.
func bindingHash(ledgerID string, p GenerationParams) string {
	sum := sha256.Sum256([]byte(ledgerID + "\x00" + p.Hash()))
	return hex.EncodeToString(sum[:])
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
		return "", nil, &pageError{Status: http.StatusBadRequest, Heading: "Unreadable form", Message: "The form could not be read. Go back and submit it again.", Action: "Back to the form", ActionURL: views.GeneratePath(id)}
	}
	return id, form, nil
}

// previewGeneration validates the form, asks Mangrove what would happen and
// shows it with a confirmation key bound to exactly these parameters.
func (h *Handlers) previewGeneration(c echo.Context) error {
	id, form, err := ledgerForm(c)
	if err != nil {
		return err
	}
	ctx, token := c.Request().Context(), h.currentToken(c)
	ledger, inputs, err := h.loadLedger(ctx, token, id)
	if err != nil {
		return err
	}
	f := ParseGenerationForm(form)
	params, errs := f.Validate(allowedSkips(inputs))
	year := h.quickYear(form.Get("quick_year"))
	if errs.Any() {
		return render(c, http.StatusUnprocessableEntity, views.GenerationFormPage(h.formProps(c, ledger, inputs, f, errs, "", year)))
	}
	entries, err := h.client.PreviewGeneration(ctx, token, id, mangrove.PreviewRequest{
		StartTime: params.Start, EndTime: params.End, DataPointIDs: params.DataPointIDs,
	})
	if msg, ok := validationMessage(err); ok {
		return render(c, http.StatusUnprocessableEntity, views.GenerationFormPage(h.formProps(c, ledger, inputs, f, nil, msg, year)))
	}
	if err != nil {
		return err
	}
	// Two hints for the page, independent of each other.
	var (
		overlapping int
		inputData   []views.InputDataRow
		wg          sync.WaitGroup
	)
	wg.Add(2)
	go func() { defer wg.Done(); overlapping = h.overlappingBatches(ctx, token, id, params.Start, params.End) }()
	go func() {
		defer wg.Done()
		inputData = h.inputData(ctx, token, inputs, params.SkippedTypeIDs, params.Start, params.End)
	}()
	wg.Wait()

	seen := make([]views.PreviewEntry, len(entries))
	for i, e := range entries {
		seen[i] = views.PreviewEntry{LedgerID: e.ID, Name: e.Name, Count: e.Count}
	}
	seenJSON, _ := json.Marshal(seen)
	key, err := h.store.IssueConfirmKey(ctx, tokenHash(token), bindingHash(id, params), seenJSON)
	if err != nil {
		return err
	}
	p := views.PreviewPageProps{
		Layout:       h.layout(c, "Review generation", "ledgers"),
		Ledger:       ledgerRow(*ledger),
		Start:        params.Start,
		End:          params.End,
		RangeInWords: rangeInWords(params.Start, params.End),
		DataPointIDs: params.DataPointIDs,
		ConfirmKey:   key,
		Values:       formValues(f),
	}
	p.Entries = seen
	for _, e := range entries {
		p.TotalCount += e.Count
	}
	for _, a := range params.BatchAmounts {
		p.BatchAmounts = append(p.BatchAmounts, views.BatchAmountValues{BatchID: a.BatchID, Amount: strconv.FormatFloat(a.Amount, 'f', -1, 64), AllocationGroup: a.AllocationGroup})
	}
	p.Skipped, p.Warnings = previewNotes(inputs, params, p.TotalCount, overlapping)
	p.InputData = inputData
	if w := inputGapWarning(inputData); w != "" {
		p.Warnings = append(p.Warnings, w)
	}
	return render(c, http.StatusOK, views.PreviewPage(p))
}

// validationMessage extracts the API's message from a 400 or 422, which
// belongs next to the form rather than on an error page.
func validationMessage(err error) (string, bool) {
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
func (h *Handlers) overlappingBatches(ctx context.Context, token, ledgerID string, start, end time.Time) int {
	list, err := h.client.LedgerBatches(ctx, token, ledgerID, mangrove.ListOptions{
		Page: 1, PageSize: 100, Sort: []string{"start_time"},
		Filters: []mangrove.Filter{
			{Field: "start_time", Op: "leq", Value: end.UTC().Format(time.RFC3339)},
			{Field: "end_time", Op: "geq", Value: start.UTC().Format(time.RFC3339)},
		},
	})
	if err != nil {
		h.log.Warn("checking overlapping batches failed", "ledger_id", ledgerID, "err", err)
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

// previewNotes lists what is skipped and what deserves a second look.
func previewNotes(inputs []mangrove.RequiredInput, p GenerationParams, total, overlapping int) (skipped, warnings []string) {
	skip := map[int64]bool{}
	for _, id := range p.SkippedTypeIDs {
		skip[id] = true
	}
	for _, in := range inputs {
		if skip[in.ID] {
			skipped = append(skipped, in.Name)
		}
	}
	if total == 0 {
		warnings = append(warnings, "Nothing will be generated: Mangrove found no batches to write for this range. Check the range and whether the required inputs have data in it.")
	}
	if len(p.DataPointIDs) == 0 {
		for _, in := range inputs {
			if in.IsManualSelect && !skip[in.ID] {
				from := ""
				if names := ledgerNames(in.OutputOfLedgers); len(names) > 0 {
					from = " (it comes from " + strings.Join(names, ", ") + ")"
				}
				warnings = append(warnings, fmt.Sprintf("“%s” is a manual-select input%s and no data point ids were given: Mangrove may leave it out unless you pick its data points.", in.Name, from))
			}
		}
	}
	switch {
	case overlapping > 0:
		warnings = append(warnings, fmt.Sprintf("%d existing %s on this ledger overlap the range: generating again recalculates and updates them.", overlapping, pluralWord(overlapping, "batch", "batches")))
	case overlapping < 0:
		warnings = append(warnings, "Existing batches could not be checked for overlap with this range.")
	}
	return skipped, warnings
}

func pluralWord(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// rangeInWords describes a range the way people say it: "March 2025",
// "Q1 2025", "2024", or the first and last day.
func rangeInWords(start, end time.Time) string {
	s, e := start.UTC(), end.UTC()
	days := int(e.Sub(s).Round(time.Hour).Hours()/24 + 0.5)
	dayRange := s.Format("2 January 2006") + " to " + e.Format("2 January 2006")
	if s.Hour() != 0 || s.Minute() != 0 || s.Second() != 0 || e.Hour() != 23 || e.Minute() != 59 {
		return s.Format("2 January 2006 15:04") + " to " + e.Format("2 January 2006 15:04") + " UTC"
	}
	if s.Day() == 1 {
		endOf := func(months int) time.Time { return s.AddDate(0, months, 0).Add(-time.Second) }
		sameDay := func(a, b time.Time) bool { return a.Format(time.DateOnly) == b.Format(time.DateOnly) }
		switch {
		case sameDay(e, endOf(1)):
			return s.Format("January 2006") + " (" + dayRange + ")"
		case sameDay(e, endOf(3)) && (s.Month()-1)%3 == 0:
			return fmt.Sprintf("Q%d %d (%s)", (int(s.Month())-1)/3+1, s.Year(), dayRange)
		case sameDay(e, endOf(12)) && s.Month() == time.January:
			return fmt.Sprintf("%d (%s)", s.Year(), dayRange)
		}
	}
	return fmt.Sprintf("%s (%d %s)", dayRange, days, pluralWord(days, "day", "days"))
}

// confirmGeneration starts the previewed generation once per confirmation
// key: a repeated key (double click, reload, second tab) starts nothing and
// leads to the same task. The audit row is written before the API call.
func (h *Handlers) confirmGeneration(c echo.Context) error {
	id, form, err := ledgerForm(c)
	if err != nil {
		return err
	}
	key := form.Get("confirm_key")
	f := ParseGenerationForm(form)
	params, errs := f.Validate(nil)
	if !store.ValidConfirmKeyFormat(key) || errs.Any() {
		return expiredConfirmation(id, f)
	}
	ctx, token := c.Request().Context(), h.currentToken(c)
	ledger, err := h.client.Ledger(ctx, token, id)
	if err != nil {
		return err
	}
	paramsJSON, _ := json.Marshal(generationRequest(params))
	gen, created, err := h.store.BeginGeneration(ctx, key, bindingHash(id, params), store.Generation{
		UserLabel:  h.userLabel(c),
		TokenHash:  tokenHash(token),
		LedgerID:   id,
		LedgerName: ledger.Name,
		StartTime:  params.Start,
		EndTime:    params.End,
		Params:     paramsJSON, // the preview the key was issued for is recorded by the store
	})
	if errors.Is(err, store.ErrKeyInvalid) {
		return expiredConfirmation(id, f)
	}
	if err != nil {
		return err
	}
	if !created {
		return h.showExistingGeneration(c, gen)
	}

	// The POST must finish and be recorded even if the browser goes away,
	// and it is never retried: a retry could generate twice.
	postCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
	defer cancel()
	task, err := h.client.StartGeneration(postCtx, token, id, generationRequest(params))
	if err != nil {
		return h.recordFailedStart(c, gen, ledger, f, err)
	}
	h.metrics.GenerationStarted(metrics.OutcomeStarted)
	h.charts.clear()
	h.pages.forgetToken(token)
	if err := h.store.MarkStarted(postCtx, gen.ID, task.ID); err != nil {
		h.log.Error("recording a started generation failed", "generation_id", gen.ID, "task_id", task.ID, "err", err)
	}
	if err := h.watchers.Track(postCtx, task.ID, token); err != nil {
		h.log.Warn("watching a new task failed; it is watched again when viewed", "task_id", task.ID, "err", err)
	}
	return h.flashAndRedirect(c, "success", "Generation started on "+ledger.Name+".", views.TaskPath(task.ID))
}

func generationRequest(p GenerationParams) mangrove.GenerationRequest {
	r := mangrove.GenerationRequest{
		StartTime: p.Start, EndTime: p.End,
		DataPointIDs: p.DataPointIDs, SkippedDataPointTypeIDs: p.SkippedTypeIDs,
	}
	for _, a := range p.BatchAmounts {
		ba := mangrove.BatchAmount{BatchID: a.BatchID, PrimaryOutputAmount: a.Amount}
		if a.AllocationGroup != "" {
			g := a.AllocationGroup
			ba.AllocationGroup = &g
		}
		r.BatchAmounts = append(r.BatchAmounts, ba)
	}
	return r
}

func expiredConfirmation(ledgerID string, f GenerationForm) error {
	v := url.Values{}
	v.Set("start_time", f.StartTime)
	v.Set("end_time", f.EndTime)
	return &pageError{Status: http.StatusConflict, Heading: "This confirmation is no longer valid",
		Message: "The confirmation expired, was made for other parameters or by another user. Nothing was started. Preview the generation again to get a fresh confirmation.",
		Action:  "Preview again", ActionURL: views.GeneratePath(ledgerID) + "?" + v.Encode()}
}

// showExistingGeneration answers a repeated confirmation with what the first
// one did, waiting briefly while it is still being submitted.
func (h *Handlers) showExistingGeneration(c echo.Context, gen store.Generation) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 20*time.Second)
	defer cancel()
	settled, err := h.store.WaitSettled(ctx, gen.ID)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if err == nil {
		gen = settled
	}
	switch {
	case gen.TaskID != nil:
		return h.flashAndRedirect(c, "info", "This generation was already confirmed; here is its task. Nothing new was started.", views.TaskPath(*gen.TaskID))
	case gen.State == store.StateRejected:
		return &pageError{Status: http.StatusConflict, Heading: "This generation was refused",
			Message: "This confirmation was already used and Mangrove refused it: " + orText(gen.Error, "no reason given") + ". Nothing was started.",
			Action:  "Back to the ledger", ActionURL: views.LedgerPath(gen.LedgerID)}
	case gen.State == store.StateUnknown:
		return unknownOutcome(gen.LedgerID)
	default:
		return &pageError{Status: http.StatusAccepted, Heading: "Still being submitted",
			Message: "This confirmation is being submitted to Mangrove right now. Its task appears in the generation history as soon as Mangrove answers.",
			Action:  "Open the generation history", ActionURL: views.TasksPath()}
	}
}

func orText(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

func unknownOutcome(ledgerID string) error {
	return &pageError{Status: http.StatusBadGateway, Heading: "Outcome unknown: check the ledger",
		Message: "Mangrove did not answer in time, so we cannot tell whether the generation started. It was not retried, to avoid generating twice. Check the ledger's newest batches and the generation history before trying again.",
		Action:  "Check the ledger's batches", ActionURL: views.LedgerPath(ledgerID) + "?sort=-created_at"}
}

// recordFailedStart completes the audit row of a POST that did not return a
// task, and tells the user what it means.
func (h *Handlers) recordFailedStart(c echo.Context, gen store.Generation, ledger *mangrove.Ledger, f GenerationForm, err error) error {
	ctx := context.WithoutCancel(c.Request().Context())
	var apiErr *mangrove.APIError
	isAPI := errors.As(err, &apiErr)
	if mangrove.IsUnknownOutcome(err) || (isAPI && apiErr.Status >= 500) || !isAPI {
		h.metrics.GenerationStarted(metrics.OutcomeUnknown)
		if merr := h.store.MarkUnknown(ctx, gen.ID, "no answer from Mangrove: "+shortError(err)); merr != nil {
			h.log.Error("recording an unknown outcome failed", "generation_id", gen.ID, "err", merr)
		}
		h.log.Warn("batch generation outcome unknown", "generation_id", gen.ID, "ledger_id", gen.LedgerID, "err", err)
		return unknownOutcome(gen.LedgerID)
	}
	h.metrics.GenerationStarted(metrics.OutcomeRejected)
	if merr := h.store.MarkRejected(ctx, gen.ID, orText(apiErr.Message, http.StatusText(apiErr.Status))); merr != nil {
		h.log.Error("recording a refused generation failed", "generation_id", gen.ID, "err", merr)
	}
	if msg, ok := validationMessage(err); ok {
		_, inputs, lerr := h.loadLedger(ctx, h.currentToken(c), ledger.ID)
		if lerr != nil {
			return err
		}
		return render(c, http.StatusUnprocessableEntity, views.GenerationFormPage(h.formProps(c, ledger, inputs, f, nil, msg, h.now().Year())))
	}
	return err
}

// shortError describes an upstream failure without details that could
// carry secrets.
func shortError(err error) string {
	var apiErr *mangrove.APIError
	switch {
	case errors.As(err, &apiErr):
		return "status " + strconv.Itoa(apiErr.Status)
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	default:
		return "connection failed"
	}
}
