package handlers

import (
	"github.com/labstack/echo/v4"

	"github.com/carbon-dash/mangrove-dashboard/mangrove"
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
	sid := h.sessionID(c)
	signedIn, release, err := h.streamSlots.acquire(sid, c.RealIP())
	if err != nil {
		return err
	}
	// A sign-out between the session check and acquire ended no stream of
	// this one: look again now that sign-out would end it.
	if sid != "" {
		if active, err := h.store.SessionActive(c.Request().Context(), sid, mangrove.TokenHash(h.sessionToken(c))); err != nil || !active {
			release()
			return errSignedOut
		}
	}
	return h.streams.Serve(c.Response(), c.Request(), id, taskstream.Viewer{Token: h.currentToken(c), Until: signedIn, Left: release})
}
