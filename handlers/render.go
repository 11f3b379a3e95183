package handlers

import (
	"bytes"
	"net/http"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"
)

// render writes a component into a buffer first, so a failed render becomes
// an error page instead of half a page with a 200. When the page showed the
// session's flashes it saves the session without them.
func (h *Handlers) render(c echo.Context, status int, comp templ.Component) error {
	var buf bytes.Buffer
	if err := comp.Render(c.Request().Context(), &buf); err != nil {
		return err
	}
	if shown, _ := c.Get(flashesShownKey).(bool); shown {
		c.Set(flashesShownKey, false)
		_ = h.saveSession(c, h.session(c)) // a failure only shows the flashes again
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.HTMLBlob(status, buf.Bytes())
}

// redirect answers a form post with 303 See Other (post/redirect/get).
func redirect(c echo.Context, to string) error {
	return c.Redirect(http.StatusSeeOther, to)
}
