package handlers

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/carbon-dash/mangrove-dashboard/forms"
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
	list, err := h.ledgers.Ledgers(c.Request().Context(), h.currentToken(c))
	if err != nil {
		return err
	}
	rows := make([]views.LedgerRow, len(list))
	for i, l := range list {
		rows[i] = ledgerRow(l)
	}
	return h.render(c, http.StatusOK, views.LedgersPage(views.LedgersPageProps{
		Layout:  h.layout(c, "Ledgers", "ledgers"),
		Ledgers: rows,
	}))
}

func (h *Handlers) showLedger(c echo.Context) error {
	id, err := ledgerIDParam(c)
	if err != nil {
		return err
	}
	q, qerrs := forms.ParseBatchListQuery(c.QueryParams())
	page, err := h.ledgers.LedgerPage(c.Request().Context(), h.currentToken(c), id, q)
	if err != nil {
		return err
	}
	row := ledgerRow(page.Ledger)
	p := views.LedgerPageProps{
		Layout:       h.layout(c, page.Ledger.Name, "ledgers"),
		Ledger:       row,
		Filter:       views.BatchFilter{Sort: q.Sort, State: q.State, PageSize: q.PageSize},
		FilterErrors: qerrs,
		StateOptions: batchStates,
		ExportURL:    batchesExportURL(id, q),
		Chart:        chartData(page.Chart),
		Batches:      ledgerBatchRows(id, page.Batches.Data),
	}
	p.Coverage = coverageProps(id, page.Coverage, noGenerateReason(row, p.Layout))
	if row.HasModel() {
		if page.InputsErr != nil {
			p.InputsError = inputsErrorMessage(page.InputsErr)
		} else {
			p.RequiredInputs = inputRows(page.Inputs)
		}
	}
	p.Pager = pager(page.Batches.Info, q.Page, q.PageSize, len(page.Batches.Data), func(n int) string {
		return batchListURL(id, q, n)
	})
	return h.render(c, http.StatusOK, views.LedgerPage(p))
}

// batchListURL is page n of the ledger's batch list with the query's other
// parameters kept.
func batchListURL(ledgerID string, q forms.BatchListQuery, n int) string {
	v := url.Values{}
	v.Set("page", strconv.Itoa(n))
	v.Set("page_size", strconv.Itoa(q.PageSize))
	v.Set("sort", q.Sort)
	if q.State != "" {
		v.Set("state", q.State)
	}
	return views.LedgerPath(ledgerID) + "?" + v.Encode() + "#batches"
}

// batchesExportURL is the CSV download of the batches matching the page's
// filters and sort.
func batchesExportURL(ledgerID string, q forms.BatchListQuery) string {
	v := url.Values{}
	v.Set("sort", q.Sort)
	if q.State != "" {
		v.Set("state", q.State)
	}
	return views.LedgerBatchesCSVPath(ledgerID) + "?" + v.Encode()
}
