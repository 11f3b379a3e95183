package handlers

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/carbon-dash/mangrove-dashboard/generation"
	"github.com/carbon-dash/mangrove-dashboard/views"
)

// showHistory lists the generations confirmed with the user's token.
func (h *Handlers) showHistory(c echo.Context) error {
	page, _ := strconv.Atoi(c.QueryParam("page"))
	if page < 1 || page > generation.MaxHistoryPage {
		page = 1
	}
	entries, total, err := h.generation.History(c.Request().Context(), h.currentToken(c), page)
	if err != nil {
		return err
	}
	rows := make([]views.HistoryRow, len(entries))
	for i, g := range entries {
		rows[i] = views.HistoryRow{
			ID: g.ID, CreatedAt: g.CreatedAt, UserLabel: g.UserLabel,
			LedgerID: g.LedgerID, LedgerName: g.LedgerName, Start: g.StartTime, End: g.EndTime,
			Params: paramSummary(g.Params), PreviewSeen: previewSummary(g.Preview),
			TaskID: g.TaskID, State: g.State, Error: g.Error,
			LiveState: g.LiveState, LiveProgress: g.LiveProgress,
		}
	}
	size := generation.HistoryPageSize
	return h.render(c, http.StatusOK, views.TasksPage(views.TasksPageProps{
		Layout:    h.layout(c, "Generation history", "tasks"),
		Rows:      rows,
		ExportURL: views.TasksCSVPath(),
		Pager: views.Pager{Page: page, TotalItems: total, TotalPages: max(1, (total+size-1)/size),
			PageURL: func(p int) string { return views.TasksPath() + "?page=" + strconv.Itoa(p) }},
	}))
}
