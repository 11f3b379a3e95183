package handlers

import (
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/views"
)

const maxTokenLength = 4096

func (h *Handlers) showSignIn(c echo.Context) error {
	if h.currentToken(c) != "" {
		return redirect(c, localPath(c.QueryParam("next")))
	}
	return h.renderSignIn(c, http.StatusOK, "", "")
}

func (h *Handlers) renderSignIn(c echo.Context, status int, msg, name string) error {
	p := views.SignInPageProps{
		Layout: h.layout(c, "Sign in", ""),
		Error:  msg,
		Name:   name,
		Next:   localPath(c.FormValue("next")),
	}
	if h.sandbox != nil {
		p.DemoToken = h.sandbox.DemoToken
		p.ReadOnly = h.sandbox.ReadOnlyToken
	}
	return render(c, status, views.SignInPage(p))
}

// signIn checks the token with one API call and keeps it in the session.
func (h *Handlers) signIn(c echo.Context) error {
	if h.serverToken != "" {
		return redirect(c, "/ledgers")
	}
	token := strings.TrimSpace(c.FormValue("token"))
	token = strings.TrimPrefix(strings.TrimPrefix(token, "Bearer "), "bearer ")
	name := strings.TrimSpace(c.FormValue("name"))
	name = strings.ToValidUTF8(name, "")
	if r := []rune(name); len(r) > 80 {
		name = string(r[:80])
	}
	if !h.signinLimit.allow(c.RealIP(), h.now()) {
		return h.renderSignIn(c, http.StatusTooManyRequests, "Too many sign-in attempts from your address. Wait a minute and try again.", name)
	}
	switch {
	case token == "":
		return h.renderSignIn(c, http.StatusUnprocessableEntity, "Paste your Mangrove API token.", name)
	case len(token) > maxTokenLength || strings.ContainsAny(token, " \t\r\n") || !utf8.ValidString(token):
		return h.renderSignIn(c, http.StatusUnprocessableEntity, "That does not look like an API token: it must be a single line without spaces.", name)
	}
	_, err := h.client.Ledgers(c.Request().Context(), token, mangrove.ListOptions{Page: 1, PageSize: 1})
	switch {
	case errors.Is(err, mangrove.ErrUnauthorized):
		return h.renderSignIn(c, http.StatusUnprocessableEntity, "Mangrove did not accept this token. Check that you copied all of it and that it has not been revoked.", name)
	case errors.Is(err, mangrove.ErrForbidden):
		return h.renderSignIn(c, http.StatusUnprocessableEntity, "This token cannot read ledgers: it needs Production Accounting permission.", name)
	case err != nil:
		return err
	}
	s := h.session(c)
	s.Values = map[any]any{keyToken: token} // a fresh session: nothing carries over
	if name != "" {
		s.Values[keyUser] = name
	}
	return h.flashAndRedirect(c, "success", "Signed in.", localPath(c.FormValue("next")))
}

func (h *Handlers) signOut(c echo.Context) error {
	if err := h.endSession(c); err != nil {
		return err
	}
	return redirect(c, "/signin")
}
