package handlers

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/carbon-dash/mangrove-dashboard/forms"
	"github.com/carbon-dash/mangrove-dashboard/generation"
	"github.com/carbon-dash/mangrove-dashboard/store"
	"github.com/carbon-dash/mangrove-dashboard/views"
)

// showHistory lists the generations confirmed with the user's token that
// match the query's filters.
func (h *Handlers) showHistory(c echo.Context) error {
	q, errs := forms.ParseHistoryQuery(c.QueryParams(), store.States)
	page, err := h.generation.History(c.Request().Context(), h.currentToken(c), historyFilter(q), q.Page)
	if err != nil {
		return err
	}
	return h.render(c, http.StatusOK, views.TasksPage(views.TasksPageProps{
		Layout:       h.layout(c, "Generation history", "tasks"),
		Rows:         historyRows(page.Entries),
		Filter:       views.HistoryFilter{Ledger: q.Ledger, State: q.State, User: q.User},
		FilterErrors: errs,
		Choices:      historyChoices(page.Choices, q),
		Pager:        historyPager(q, page.Total),
		ClearURL:     views.TasksPath(),
		ExportURL:    withQuery(views.TasksCSVPath(), q.FilterValues()),
	}))
}

// historyPager pages through total generations, keeping the filters.
func historyPager(q forms.HistoryQuery, total int) views.Pager {
	size := generation.HistoryPageSize
	return views.Pager{Page: q.Page, TotalItems: total, TotalPages: max(1, (total+size-1)/size),
		One: "generation", Many: "generations",
		PageURL: func(n int) string {
			v := q.FilterValues()
			v.Set("page", strconv.Itoa(n))
			return withQuery(views.TasksPath(), v)
		}}
}

// historyFilter is the store's filter for the history's query.
func historyFilter(q forms.HistoryQuery) store.GenerationFilter {
	return store.GenerationFilter{LedgerID: q.Ledger, State: q.State, UserLabel: q.User}
}

// withQuery is path with v as its query, if any.
func withQuery(path string, v url.Values) string {
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}

func historyRows(entries []generation.HistoryEntry) []views.HistoryRow {
	rows := make([]views.HistoryRow, len(entries))
	for i, e := range entries {
		g := e.Generation
		r := views.HistoryRow{
			ID: g.ID, CreatedAt: g.CreatedAt, UserLabel: g.UserLabel,
			LedgerID: g.LedgerID, LedgerName: g.LedgerName, Start: g.StartTime, End: g.EndTime,
			TaskID: g.TaskID, State: g.State, Error: g.Error,
			LiveState: e.LiveState, LiveProgress: e.LiveProgress,
			Duration: generationDuration(g), Previewed: -1, Written: -1,
		}
		if n, ok := g.PreviewedTotal(); ok {
			r.Previewed = n
		}
		if n, ok := g.Run.WrittenTotal(); ok {
			r.Written = n
		}
		rows[i] = r
	}
	return rows
}

// generationDuration is the time from confirmation to the end; nil until
// the generation ended.
func generationDuration(g store.Generation) *time.Duration {
	if g.FinishedAt == nil {
		return nil
	}
	d := g.FinishedAt.Sub(g.CreatedAt)
	return &d
}

// historyChoices are the filters' options. A value that is filtered by but
// not among the choices (from a link, or past store.MaxGenerationChoices)
// is added, so the form shows what is applied.
func historyChoices(c store.GenerationChoices, q forms.HistoryQuery) views.HistoryChoices {
	out := views.HistoryChoices{States: store.States, Users: c.Users}
	for _, l := range c.Ledgers {
		out.Ledgers = append(out.Ledgers, views.KeyValue{Key: l.ID, Value: cmp.Or(l.Name, l.ID)})
	}
	if q.Ledger != "" && !slices.ContainsFunc(out.Ledgers, func(kv views.KeyValue) bool { return kv.Key == q.Ledger }) {
		out.Ledgers = append(out.Ledgers, views.KeyValue{Key: q.Ledger, Value: q.Ledger})
	}
	if q.User != "" && !slices.Contains(out.Users, q.User) {
		out.Users = append(slices.Clip(out.Users), q.User)
	}
	return out
}
