package handlers

import (
	"github.com/labstack/echo/v4"

	"github.com/carbon-dash/mangrove-dashboard/taskstream"
)

// streamTaskEvents serves GET /tasks/{id}/events: the task's status as
// server-sent events until it ends (protocol in package taskstream). The
// viewer's own token is checked against the task first. Each stream takes a
// slot of its session's and its address's caps, and ends at sign-out.
func (h *Handlers) streamTaskEvents(c echo.Context) error {
	id, err := taskIDParam(c)
	if err != nil {
		return err
	}
	signedIn, release, err := h.streamSlots.acquire(h.sessionID(c), c.RealIP())
	if err != nil {
		return err
	}
	return h.streams.Serve(c.Response(), c.Request(), id, taskstream.Viewer{Token: h.currentToken(c), Until: signedIn, Left: release})
}
