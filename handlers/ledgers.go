package handlers

import (
	"cmp"
	"net/http"
	"net/url"
	"regexp"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/carbon-dash/mangrove-dashboard/forms"
	"github.com/carbon-dash/mangrove-dashboard/ledgers"
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

func (h *Handlers) showLedgers(c echo.Context) error {
	list, err := h.ledgers.LedgerList(c.Request().Context(), h.currentToken(c))
	if err != nil {
		return err
	}
	p := ledgerGroups(list)
	p.Layout = h.layout(c, "Ledgers", "ledgers")
	return h.render(c, http.StatusOK, views.LedgersPage(p))
}

// Notes of the ledgers list when projects cannot be told apart.
const (
	untoldNote = "A ledger does not name its project: the dashboard places it by its model, " +
		"which its project lists. These ledgers have no model, or one no project lists."
	ungroupedNote = "The ledgers are not grouped by project: the projects could not be read."
)

// ledgerGroups lays the list out: one table when the token sees one
// project (or its projects could not be read, which the page says), else a
// section per project, and the ledgers whose project cannot be told last,
// under "Other".
func ledgerGroups(list *ledgers.LedgerList) views.LedgersPageProps {
	rows := func(ls []mangrove.Ledger) []views.LedgerRow {
		out := make([]views.LedgerRow, len(ls))
		for i, l := range ls {
			out[i] = ledgerRow(l)
		}
		return out
	}
	var p views.LedgersPageProps
	switch {
	case list.ProjectsErr != nil:
		p.Groups = []views.LedgerGroup{{Ledgers: rows(list.Untold)}}
		if len(list.Untold) > 0 {
			p.Note = ungroupedNote
		}
	case len(list.Projects) == 1 && len(list.Untold) == 0:
		p.Groups = []views.LedgerGroup{{Ledgers: rows(list.Projects[0].Ledgers)}}
	default:
		for _, pl := range list.Projects {
			id := strconv.FormatInt(pl.Project.ID, 10)
			p.Groups = append(p.Groups, views.LedgerGroup{Heading: cmp.Or(pl.Project.Name, "Project "+id), ID: "project-" + id,
				Ledgers: rows(pl.Ledgers)})
		}
		if len(list.Untold) > 0 {
			p.Groups = append(p.Groups, views.LedgerGroup{Heading: "Other", ID: "project-other", Note: untoldNote, Ledgers: rows(list.Untold)})
		}
	}
	return p
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
		StateOptions: forms.BatchStateOptions(q.State, listedStates(page)...),
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
	p.Pager = pager(page.Batches, q.Page, q.PageSize, func(n int) string {
		return batchListURL(id, q, n)
	})
	return h.render(c, http.StatusOK, views.LedgerPage(p))
}

// listedStates are the states of the batches the page has read: the
// table's page and the chart's most recent batches.
func listedStates(page *ledgers.Page) []string {
	var states []string
	if page.Batches != nil {
		for _, b := range page.Batches.Data {
			states = append(states, b.State)
		}
	}
	if page.Chart != nil {
		states = append(states, page.Chart.States...)
	}
	return states
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
