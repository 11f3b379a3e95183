package handlers

import (
	"github.com/labstack/echo/v4"
)

// streamTaskEvents serves GET /tasks/{id}/events: the task's status as
// server-sent events until it ends (protocol in package taskstream). The
// viewer's own token is checked against the task first.
func (h *Handlers) streamTaskEvents(c echo.Context) error {
	id, err := taskIDParam(c)
	if err != nil {
		return err
	}
	return h.streams.Serve(c.Response(), c.Request(), id, h.currentToken(c))
}
