package handlers

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/carbon-dash/mangrove-dashboard/forms"
	"github.com/carbon-dash/mangrove-dashboard/ledgers"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/store"
)

// exportPageSize is the page size exports read lists with (a variable for
// tests).
var exportPageSize = ledgers.ExportPageSize

// exportWriteWindow is how long one page may take to reach the client.
const exportWriteWindow = 30 * time.Second

// batchCSVHeader names the columns after the API's fields, for consumers
// that read them by name: ledger_balance is each batch's unallocated amount
// (its output less what was allocated from it to downstream batches and
// reports; the page's "Unallocated"), not a running total of the ledger.
// A batch whose model run failed has no primary_output (the API's 0 is no
// result) and says why in error_message, the last column (new columns go
// at the end).
var batchCSVHeader = []string{"id", "tracking_id", "start_time", "end_time", "state", "feedstock", "primary_output", "unit", "ledger_balance", "created_at", "error_message"}

// historyCSVHeader: new columns go at the end, so that spreadsheets and
// scripts reading the columns by position keep working.
var historyCSVHeader = []string{"id", "confirmed_at", "user", "ledger_id", "ledger_name", "start_time", "end_time",
	"parameters", "preview_seen", "task_id", "state", "error", "finished_at", "duration_seconds", "previewed", "written"}

// exportBatches streams every batch of a ledger that matches the page's
// filters and sort (all pages) as CSV.
func (h *Handlers) exportBatches(c echo.Context) error {
	id, err := ledgerIDParam(c)
	if err != nil {
		return err
	}
	q, _ := forms.ParseBatchListQuery(c.QueryParams()) // invalid values fall back to defaults, as on the page
	var w *csv.Writer
	err = h.ledgers.EachBatch(c.Request().Context(), h.currentToken(c), id, q, exportPageSize, func(page []mangrove.Batch) error {
		if w == nil {
			w = h.startCSV(c, "batches-"+id+".csv", batchCSVHeader)
		}
		for _, b := range page {
			_ = w.Write(batchRecord(b))
		}
		return h.flushCSV(c, w)
	})
	return h.endExport(c, w != nil, err)
}

// exportHistory streams the generations of the user's token that match the
// history page's filters as CSV.
func (h *Handlers) exportHistory(c echo.Context) error {
	q, _ := forms.ParseHistoryQuery(c.QueryParams(), store.States) // invalid values fall back to defaults, as on the page
	var w *csv.Writer
	err := h.generation.EachGeneration(c.Request().Context(), h.currentToken(c), historyFilter(q), func(gens []store.Generation) error {
		if w == nil {
			w = h.startCSV(c, "generation-history.csv", historyCSVHeader)
		}
		for _, g := range gens {
			_ = w.Write(historyRecord(g))
		}
		return h.flushCSV(c, w)
	})
	return h.endExport(c, w != nil, err)
}

// endExport settles a download: an error before anything was written gets
// an error page; one after it breaks the connection, so the browser reports
// a failed download instead of keeping a short file. A client that went
// away needs nothing.
func (h *Handlers) endExport(c echo.Context, started bool, err error) error {
	switch {
	case err == nil:
		return nil
	case !started:
		return err
	case c.Request().Context().Err() != nil:
		return nil
	}
	r := c.Request()
	h.log.Error("export aborted", "request_id", RequestIDFromContext(r.Context()), "path", r.URL.Path, "err", err)
	panic(http.ErrAbortHandler)
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

func batchRecord(b mangrove.Batch) []string {
	r := batchRow(b)
	var output, unit string
	if r.Output != nil {
		output, unit = csvNumber(*r.Output), r.OutputUnit
	}
	unallocated := ""
	if r.Unallocated != nil {
		unallocated = csvNumber(*r.Unallocated)
	}
	return []string{
		csvText(r.ID), csvText(r.TrackingID), csvTime(r.Start), csvTime(r.End), csvText(r.State),
		csvText(strings.Join(mangrove.Names(b.Feedstocks), "; ")), output, csvText(unit), unallocated, csvTime(r.CreatedAt),
		csvText(r.Error),
	}
}

func historyRecord(g store.Generation) []string {
	task := ""
	if g.TaskID != nil {
		task = strconv.FormatInt(*g.TaskID, 10)
	}
	finished, duration := "", ""
	if g.FinishedAt != nil {
		finished = csvTime(*g.FinishedAt)
		duration = strconv.FormatInt(int64(generationDuration(g).Round(time.Second).Seconds()), 10)
	}
	return []string{
		strconv.FormatInt(g.ID, 10), csvTime(g.CreatedAt), csvText(g.UserLabel), csvText(g.LedgerID), csvText(g.LedgerName),
		csvTime(g.StartTime), csvTime(g.EndTime), csvText(paramsJSON(g.Params)), csvText(previewSummary(g.Preview)),
		task, csvText(g.State), csvText(g.Error), finished, duration, csvCount(g.PreviewedTotal()), csvCount(g.Run.WrittenTotal()),
	}
}

// csvCount is a count, or empty when it is not known.
func csvCount(n int, ok bool) string {
	if !ok {
		return ""
	}
	return strconv.Itoa(n)
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

// paramsJSON is the parameters column of the history export: the recorded
// parameters as JSON, or empty when none could be read.
func paramsJSON(p store.GenerationParams) string {
	if p.Version == 0 {
		return ""
	}
	b, err := json.Marshal(p)
	if err != nil {
		return ""
	}
	return string(b)
}
