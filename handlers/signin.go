package handlers

import (
	"errors"
	"net/http"
	"strings"

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
	if h.identity.sandbox != nil {
		p.DemoToken = h.identity.sandbox.DemoToken
		p.ReadOnly = h.identity.sandbox.ReadOnlyToken
	}
	return h.render(c, status, views.SignInPage(p))
}

// signIn checks the token with one API call and keeps it in the session.
func (h *Handlers) signIn(c echo.Context) error {
	if h.identity.serverToken != "" {
		return redirect(c, views.LedgersPath())
	}
	token := strings.TrimSpace(c.FormValue("token"))
	token = strings.TrimPrefix(strings.TrimPrefix(token, "Bearer "), "bearer ")
	name := cleanUserName(c.FormValue("name"))
	if !h.signinLimit.allow(c.RealIP(), h.now()) {
		return h.renderSignIn(c, http.StatusTooManyRequests, "Too many sign-in attempts from your address. Wait a minute and try again.", name)
	}
	switch {
	case token == "":
		return h.renderSignIn(c, http.StatusUnprocessableEntity, "Paste your Mangrove API token.", name)
	case len(token) > maxTokenLength || !printableASCII(token):
		return h.renderSignIn(c, http.StatusUnprocessableEntity, "That does not look like an API token: it is one line of letters, digits and punctuation, without spaces.", name)
	}
	err := h.ledgers.CheckToken(c.Request().Context(), token)
	switch {
	case errors.Is(err, mangrove.ErrUnauthorized):
		return h.renderSignIn(c, http.StatusUnprocessableEntity, "Mangrove did not accept this token. Check that you copied all of it and that it has not been revoked.", name)
	case errors.Is(err, mangrove.ErrForbidden):
		return h.renderSignIn(c, http.StatusUnprocessableEntity, "This token cannot read ledgers: it needs Production Accounting permission.", name)
	case err != nil:
		return err
	}
	s := h.session(c)
	if err := h.startSession(c, s, token); err != nil { // a fresh session: nothing carries over
		return err
	}
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

// printableASCII reports whether s is visible ASCII only, as API tokens
// are: no spaces, controls (a NUL could not even be sent in a header) or
// other characters.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
