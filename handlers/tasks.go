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
	return h.renderTaskPage(c, t)
}

// renderTaskPage renders a task's full page from what Task read.
func (h *Handlers) renderTaskPage(c echo.Context, t *generation.Task) error {
	id := t.Snapshot.Task.ID
	p := views.TaskPageProps{
		Layout: h.layout(c, fmt.Sprintf("Task %d", id), "tasks"),
		Status: statusProps(t.Snapshot, t.Generation),
	}
	if t.Snapshot.Terminal() {
		// The start was announced on the way here; the state says more now.
		p.Layout.Flashes = withoutWhileRunning(p.Layout.Flashes)
	} else {
		p.EventsURL = views.TaskEventsPath(id)
	}
	if g := t.Generation; g != nil {
		p.Generation = views.TaskGeneration{LedgerName: g.LedgerName, Start: g.StartTime, End: g.EndTime}
		p.Layout.Title = fmt.Sprintf("Task %d · %s", id, p.Generation.Heading())
		p.StartedBy = g.UserLabel
		created := g.CreatedAt
		p.Confirmed = &created
		p.Params = paramList(*g)
		if t.Snapshot.Terminal() {
			o := taskOutcome(t)
			p.Status.Outcome = &o
		}
	}
	return h.render(c, http.StatusOK, views.TaskPage(p))
}

// showTaskBatches is the part the page loads when a task ends while it is
// open: what the run wrote. Opened directly (not by htmx), it is the whole
// task page.
func (h *Handlers) showTaskBatches(c echo.Context) error {
	id, err := taskIDParam(c)
	if err != nil {
		return err
	}
	if c.Request().Header.Get("HX-Request") != "true" {
		return h.showTask(c)
	}
	t, err := h.generation.TaskBatches(c.Request().Context(), h.currentToken(c), id)
	if err != nil {
		return err
	}
	if t.Generation == nil || !t.Snapshot.Terminal() {
		return h.render(c, http.StatusOK, views.NotOursPart())
	}
	return h.render(c, http.StatusOK, views.TaskOutcomePart(taskOutcome(t)))
}
