package handlers

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/carbon-dash/mangrove-dashboard/generation"
	"github.com/carbon-dash/mangrove-dashboard/views"
)

func taskIDParam(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, notFound("There is no task with that id.")
	}
	return id, nil
}

// showTask renders the task with its current state; while it runs the page
// subscribes to the task's event stream.
func (h *Handlers) showTask(c echo.Context) error {
	id, err := taskIDParam(c)
	if err != nil {
		return err
	}
	t, err := h.generation.Task(c.Request().Context(), h.currentToken(c), id)
	if err != nil {
		return err
	}
	p := views.TaskPageProps{
		Layout: h.layout(c, fmt.Sprintf("Task %d", id), "tasks"),
		Status: statusProps(t.Snapshot, t.Generation),
	}
	if t.Generation != nil && t.Snapshot.Task.State == "complete" {
		p.Status.Batches, p.Status.BatchesError = producedRows(t)
	}
	if !t.Snapshot.Terminal() {
		p.EventsURL = views.TaskEventsPath(id)
	}
	if g := t.Generation; g != nil {
		p.StartedBy = g.UserLabel
		created := g.CreatedAt
		p.Confirmed = &created
		p.Params = paramList(*g)
	}
	return h.render(c, http.StatusOK, views.TaskPage(p))
}

// showTaskBatches is the fragment the page loads when a task completes
// while it is open.
func (h *Handlers) showTaskBatches(c echo.Context) error {
	id, err := taskIDParam(c)
	if err != nil {
		return err
	}
	t, err := h.generation.TaskBatches(c.Request().Context(), h.currentToken(c), id)
	if err != nil {
		return err
	}
	if t.Generation == nil {
		return h.render(c, http.StatusOK, views.TaskBatches(nil, views.NotOurTask))
	}
	rows, msg := producedRows(t)
	return h.render(c, http.StatusOK, views.TaskBatches(rows, msg))
}

func producedRows(t *generation.Task) ([]views.BatchRow, string) {
	if t.BatchesError != nil {
		return nil, "The batches could not be loaded right now; open the ledger to see them."
	}
	return batchRows(t.Batches), ""
}
