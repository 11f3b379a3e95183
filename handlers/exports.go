package handlers

import (
	"encoding/csv"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/store"
)

// exportPageSize is the page size used to read lists for an export (a
// variable for tests).
var exportPageSize = 100

const (
	// maxExportPages bounds a batches export (200,000 rows): past it the
	// download fails rather than end short and look complete.
	maxExportPages = 2000
	// exportWriteWindow is how long one page may take to reach the client.
	exportWriteWindow = 30 * time.Second
)

var batchCSVHeader = []string{"id", "tracking_id", "start_time", "end_time", "state", "feedstock", "primary_output", "unit", "ledger_balance", "created_at"}

var historyCSVHeader = []string{"id", "confirmed_at", "user", "ledger_id", "ledger_name", "start_time", "end_time",
	"parameters", "preview_seen", "task_id", "state", "error", "finished_at"}

// exportBatches streams every batch of a ledger that matches the page's
// filters and sort (all pages) as CSV.
func (h *Handlers) exportBatches(c echo.Context) error {
	id, err := ledgerIDParam(c)
	if err != nil {
		return err
	}
	q, _ := ParseBatchListQuery(c.QueryParams()) // invalid values fall back to defaults, as on the page
	ctx, token := c.Request().Context(), h.currentToken(c)
	opts := batchListOptions(q)
	opts.PageSize = exportPageSize

	// The first page is read before anything is written, so an unknown
	// ledger or a refused token still gets a proper error page.
	opts.Page = 1
	list, err := h.client.LedgerBatches(ctx, token, id, opts)
	if err != nil {
		return err
	}
	w := h.startCSV(c, "batches-"+id+".csv", batchCSVHeader)
	for page := 1; ; page++ {
		for _, b := range list.Data {
			_ = w.Write(batchRecord(b))
		}
		if err := h.flushCSV(c, w); err != nil {
			return nil // the client went away
		}
		if list.Info == nil || list.Info.NextPage == nil || *list.Info.NextPage <= page || len(list.Data) == 0 {
			return nil
		}
		if page >= maxExportPages {
			h.abortExport(c, "too many pages", nil)
		}
		opts.Page = *list.Info.NextPage
		if list, err = h.client.LedgerBatches(ctx, token, id, opts); err != nil {
			h.abortExport(c, "reading a page failed", err)
		}
	}
}

// exportHistory streams the generation history of the user's token as CSV.
func (h *Handlers) exportHistory(c echo.Context) error {
	ctx := c.Request().Context()
	th := tokenHash(h.currentToken(c))
	const pageSize = 500
	gens, total, err := h.store.Generations(ctx, th, pageSize, 0)
	if err != nil {
		return err
	}
	w := h.startCSV(c, "generation-history.csv", historyCSVHeader)
	for offset := 0; ; {
		for _, g := range gens {
			_ = w.Write(historyRecord(g))
		}
		if err := h.flushCSV(c, w); err != nil {
			return nil
		}
		offset += len(gens)
		if len(gens) == 0 || offset >= total {
			return nil
		}
		if gens, _, err = h.store.Generations(ctx, th, pageSize, offset); err != nil {
			h.abortExport(c, "reading the audit log failed", err)
		}
	}
}

// startCSV writes the headers of a CSV download and its header row.
func (h *Handlers) startCSV(c echo.Context, filename string, header []string) *csv.Writer {
	hd := c.Response().Header()
	hd.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	hd.Set(echo.HeaderContentDisposition, `attachment; filename="`+filename+`"`)
	hd.Set(echo.HeaderCacheControl, "no-store")
	c.Response().WriteHeader(http.StatusOK)
	w := csv.NewWriter(c.Response())
	w.UseCRLF = true
	_ = w.Write(header)
	return w
}

// flushCSV sends what was written, with a fresh write deadline so a long
// export is not cut by the server's WriteTimeout.
func (h *Handlers) flushCSV(c echo.Context, w *csv.Writer) error {
	rc := http.NewResponseController(c.Response())
	_ = rc.SetWriteDeadline(time.Now().Add(exportWriteWindow))
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	return rc.Flush()
}

// abortExport ends a download that cannot be completed by breaking the
// connection: the headers are sent, so this is the only way to make the
// browser report a failed download instead of keeping a short file.
func (h *Handlers) abortExport(c echo.Context, why string, err error) {
	r := c.Request()
	if r.Context().Err() == nil { // not when the client went away
		h.log.Error("export aborted: "+why, "request_id", RequestIDFromContext(r.Context()), "path", r.URL.Path, "err", err)
	}
	panic(http.ErrAbortHandler)
}

func batchRecord(b mangrove.Batch) []string {
	r := batchRow(b)
	var output, unit string
	if r.Output != nil {
		output, unit = csvNumber(*r.Output), r.OutputUnit
	}
	balance := ""
	if r.LedgerBalance != nil {
		balance = csvNumber(*r.LedgerBalance)
	}
	return []string{
		csvText(r.ID), csvText(r.TrackingID), csvTime(r.Start), csvTime(r.End), csvText(r.State),
		csvText(strings.Join(ledgerNames(b.Feedstocks), "; ")), output, csvText(unit), balance, csvTime(r.CreatedAt),
	}
}

func historyRecord(g store.Generation) []string {
	task := ""
	if g.TaskID != nil {
		task = strconv.FormatInt(*g.TaskID, 10)
	}
	finished := ""
	if g.FinishedAt != nil {
		finished = csvTime(*g.FinishedAt)
	}
	return []string{
		strconv.FormatInt(g.ID, 10), csvTime(g.CreatedAt), csvText(g.UserLabel), csvText(g.LedgerID), csvText(g.LedgerName),
		csvTime(g.StartTime), csvTime(g.EndTime), csvText(string(g.Params)), csvText(previewSummary(g.Preview)),
		task, csvText(g.State), csvText(g.Error), finished,
	}
}

// csvText makes a text cell safe to open in a spreadsheet: a cell starting
// with = + - @ (or their full-width forms), a tab or a carriage return
// could run as a formula, so it gets a leading single quote.
func csvText(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	for _, p := range []string{"＝", "＋", "－", "＠"} {
		if strings.HasPrefix(s, p) {
			return "'" + s
		}
	}
	return s
}

// csvNumber writes a number the dashboard formats itself; a leading minus
// sign here is a negative number, never a formula.
func csvNumber(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
