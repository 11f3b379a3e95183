package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/views"
)

// validLedgerID keeps garbage out of upstream paths; real ids look like
// lgr_abc123def456.
var validLedgerID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,100}$`)

func ledgerIDParam(c echo.Context) (string, error) {
	id := c.Param("id")
	if !validLedgerID.MatchString(id) {
		return "", notFound("There is no ledger with that id.")
	}
	return id, nil
}

// batchStates are offered in the ledger page's state filter.
var batchStates = []string{"complete", "processing", "error", "failed"}

func (h *Handlers) showLedgers(c echo.Context) error {
	ledgers, err := h.cachedLedgers(c.Request().Context(), h.currentToken(c))
	if err != nil {
		return err
	}
	rows := make([]views.LedgerRow, len(ledgers))
	for i, l := range ledgers {
		rows[i] = ledgerRow(l)
	}
	return render(c, http.StatusOK, views.LedgersPage(views.LedgersPageProps{
		Layout:  h.layout(c, "Ledgers", "ledgers"),
		Ledgers: rows,
	}))
}

func (h *Handlers) showLedger(c echo.Context) error {
	id, err := ledgerIDParam(c)
	if err != nil {
		return err
	}
	q, qerrs := ParseBatchListQuery(c.QueryParams())
	ctx, token := c.Request().Context(), h.currentToken(c)

	// The three calls are independent; make them at once.
	var (
		wg               sync.WaitGroup
		ledger           *mangrove.Ledger
		inputs           []mangrove.RequiredInput
		batches          *mangrove.List[mangrove.Batch]
		lerr, ierr, berr error
	)
	wg.Add(3)
	go func() { defer wg.Done(); ledger, lerr = h.cachedLedger(ctx, token, id) }()
	go func() { defer wg.Done(); inputs, ierr = h.cachedInputs(ctx, token, id) }()
	go func() {
		defer wg.Done()
		batches, berr = h.client.LedgerBatches(ctx, token, id, batchListOptions(q))
	}()
	wg.Wait()
	if lerr != nil {
		return lerr
	}
	if berr != nil {
		return berr
	}
	row := ledgerRow(*ledger)
	p := views.LedgerPageProps{
		Layout:       h.layout(c, ledger.Name, "ledgers"),
		Ledger:       row,
		Filter:       views.BatchFilter{Sort: q.Sort, State: q.State, PageSize: q.PageSize},
		FilterErrors: qerrs,
		StateOptions: batchStates,
		ExportURL:    batchesExportURL(id, q),
	}
	p.Chart = h.ledgerChart(ctx, token, id, row.Unit)
	if p.Chart != nil {
		p.Layout.Styles = append(p.Layout.Styles, uplotCSS)
		p.Layout.Scripts = append(p.Layout.Scripts, uplotJS, "js/chart.js")
	}
	if row.HasModel() {
		if ierr != nil {
			p.InputsError = inputsErrorMessage(ierr)
		} else {
			p.RequiredInputs = inputRows(inputs)
		}
	}
	for _, b := range batches.Data {
		p.Batches = append(p.Batches, batchRow(b))
	}
	p.Pager = pager(batches.Info, q.Page, q.PageSize, len(batches.Data), func(page int) string {
		v := url.Values{}
		v.Set("page", strconv.Itoa(page))
		v.Set("page_size", strconv.Itoa(q.PageSize))
		v.Set("sort", q.Sort)
		if q.State != "" {
			v.Set("state", q.State)
		}
		return views.LedgerPath(id) + "?" + v.Encode() + "#batches"
	})
	return render(c, http.StatusOK, views.LedgerPage(p))
}

func batchListOptions(q BatchListQuery) mangrove.ListOptions {
	// Batches of one period (one per feedstock) tie on time: break the tie
	// by id in the same direction, so the running balance reads in order.
	tie := "id"
	if strings.HasPrefix(q.Sort, "-") {
		tie = "-id"
	}
	opts := mangrove.ListOptions{Page: q.Page, PageSize: q.PageSize, Sort: []string{q.Sort, tie}}
	if q.State != "" {
		opts.Filters = append(opts.Filters, mangrove.Filter{Field: "state", Op: "eq", Value: q.State})
	}
	return opts
}

func inputsErrorMessage(err error) string {
	if apiErr, ok := err.(*mangrove.APIError); ok && apiErr.Message != "" {
		return "The required inputs could not be loaded: " + apiErr.Message
	}
	return "The required inputs could not be loaded right now."
}

// pager builds the pagination props, tolerating an absent info block.
func pager(info *mangrove.Info, page, pageSize, items int, pageURL func(int) string) views.Pager {
	p := views.Pager{Page: page, TotalPages: page, TotalItems: items, PageURL: pageURL}
	if info != nil {
		p.TotalItems = info.TotalItems
		if pageSize > 0 {
			p.TotalPages = (info.TotalItems + pageSize - 1) / pageSize
		}
		if info.CurrentPage > 0 {
			p.Page = info.CurrentPage
		}
	}
	if p.TotalPages < 1 {
		p.TotalPages = 1
	}
	return p
}

func ledgerRow(l mangrove.Ledger) views.LedgerRow {
	r := views.LedgerRow{
		ID:            l.ID,
		Name:          l.Name,
		Unit:          deref(l.Unit),
		Cadence:       deref(l.Cadence),
		PartitionType: deref(l.PartitionType),
		UpdatedAt:     l.UpdatedAt,
	}
	if l.LatestModel != nil {
		r.ModelName = l.LatestModel.Name
		if r.ModelName == "" {
			r.ModelName = l.LatestModel.ID
		}
	}
	return r
}

func inputRows(in []mangrove.RequiredInput) []views.RequiredInputRow {
	rows := make([]views.RequiredInputRow, len(in))
	for i, r := range in {
		rows[i] = views.RequiredInputRow{
			ID: r.ID, Name: r.Name, Slug: r.Slug, Unit: deref(r.Unit),
			Category: r.Category, Subcategory: r.Subcategory, IsManualSelect: r.IsManualSelect,
			FromLedgers: ledgerNames(r.OutputOfLedgers),
		}
	}
	return rows
}

// ledgerNames reads names from arrays whose item shape is not documented
// (output_of_ledgers, a batch's feedstocks): objects with a name (or id), or
// plain strings.
func ledgerNames(raw []json.RawMessage) []string {
	var names []string
	for _, r := range raw {
		var obj struct {
			ID   json.RawMessage // a string or a number
			Name string
		}
		if json.Unmarshal(r, &obj) == nil && (obj.Name != "" || len(obj.ID) > 0) {
			names = append(names, firstNonEmpty(obj.Name, strings.Trim(string(obj.ID), `"`)))
			continue
		}
		var s string
		if json.Unmarshal(r, &s) == nil && s != "" {
			names = append(names, s)
		}
	}
	return names
}

func batchRow(b mangrove.Batch) views.BatchRow {
	r := views.BatchRow{
		ID: b.ID, TrackingID: deref(b.TrackingID), Start: b.StartTime, End: b.EndTime,
		State: b.State, LedgerBalance: b.LedgerBalance, CreatedAt: b.CreatedAt,
		Error: deref(b.ErrorMessage), Feedstock: strings.Join(ledgerNames(b.Feedstocks), ", "),
	}
	if b.PrimaryOutput != nil {
		v := b.PrimaryOutput.Value
		r.Output = &v
		r.OutputUnit = b.PrimaryOutput.Unit
	}
	if r.Error == "" && b.ModelRun != nil {
		r.Error = deref(b.ModelRun.ErrorMessage)
	}
	return r
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// loadLedger fetches a ledger and its required inputs for the generation
// pages; the ledger must have a model.
func (h *Handlers) loadLedger(ctx context.Context, token, id string) (*mangrove.Ledger, []mangrove.RequiredInput, error) {
	var (
		wg     sync.WaitGroup
		ledger *mangrove.Ledger
		inputs []mangrove.RequiredInput
		lerr   error
		ierr   error
	)
	wg.Add(2)
	go func() { defer wg.Done(); ledger, lerr = h.client.Ledger(ctx, token, id) }()
	go func() { defer wg.Done(); inputs, ierr = h.client.RequiredInputs(ctx, token, id) }()
	wg.Wait()
	if lerr != nil {
		return nil, nil, lerr
	}
	if ledger.LatestModel == nil {
		return nil, nil, &pageError{Status: http.StatusUnprocessableEntity, Heading: "No model on this ledger",
			Message: "“" + ledger.Name + "” has no linked model, so Mangrove cannot generate batches on it. Link a model to the ledger in Mangrove first.",
			Action:  "Back to the ledger", ActionURL: views.LedgerPath(id)}
	}
	if ierr != nil {
		return nil, nil, ierr
	}
	return ledger, inputs, nil
}
