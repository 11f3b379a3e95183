package handlers

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/carbon-dash/mangrove-dashboard/views"
)

// The CSRF token is a random value kept in a cookie and repeated in every
// state-changing request, in the form field or the header (never the query
// string, which leaks into logs and Referer headers).
const (
	csrfField        = "_csrf"
	csrfHeader       = "X-CSRF-Token"
	csrfCookie       = "mgd_csrf"
	csrfTokenBytes   = 32
	csrfCookieMaxAge = 24 * time.Hour
	csrfContextKey   = "csrf"
)

// csrfHostCookie is the cookie's name over HTTPS: browsers accept a
// "__Host-" cookie only from this very host, Secure and for Path=/, so a
// sibling subdomain cannot plant one of its own choosing.
const csrfHostCookie = "__Host-" + csrfCookie

var errCSRF = &pageError{Status: http.StatusForbidden, Heading: "This form has expired",
	Message: "The form was missing its security token or it no longer matches your session. Go back, reload the page and submit it again.",
	Action:  "Back to ledgers", ActionURL: views.LedgersPath()}

var errCrossSite = &pageError{Status: http.StatusForbidden, Heading: "Request from another site refused",
	Message: "This form was sent from another website. Open the dashboard itself and submit the form there.",
	Action:  "Back to ledgers", ActionURL: views.LedgersPath()}

// noFormRoutes render no form: their answers (cached assets, probes,
// metrics, event streams) carry no CSRF cookie.
var noFormRoutes = map[string]bool{
	"/healthz": true, "/readyz": true, "/metrics": true, "/static/*": true, "/tasks/:id/events": true,
}

// csrf requires the cookie's token on every request that is not GET, HEAD,
// OPTIONS or TRACE, whatever Sec-Fetch-Site says; a browser's cross-site
// request is refused before that as an extra layer.
func (h *Handlers) csrf(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if safeMethod(r.Method) && noFormRoutes[c.Path()] {
			return next(c) // no token to give: no cookie on cacheable or streamed answers
		}
		name := csrfCookie
		if c.Scheme() == "https" {
			name = csrfHostCookie
		}
		token := ""
		if ck, err := r.Cookie(name); err == nil && validCSRFToken(ck.Value) {
			token = ck.Value
		}
		if !safeMethod(r.Method) {
			if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
				return errCrossSite
			}
			sent := r.Header.Get(csrfHeader)
			if sent == "" {
				if err := r.ParseForm(); err != nil {
					var tooLarge *echo.HTTPError // a chunked body past the body limit
					if errors.As(err, &tooLarge) {
						return tooLarge
					}
				}
				sent = r.PostFormValue(csrfField) // the body only, not the query string
			}
			if token == "" || subtle.ConstantTimeCompare([]byte(sent), []byte(token)) != 1 {
				return errCSRF
			}
		}
		if token == "" {
			token = newCSRFToken()
		}
		c.SetCookie(&http.Cookie{Name: name, Value: token, Path: "/", MaxAge: int(csrfCookieMaxAge.Seconds()),
			Secure: name == csrfHostCookie, HttpOnly: true, SameSite: http.SameSiteLaxMode})
		c.Set(csrfContextKey, token)
		c.Response().Header().Add(echo.HeaderVary, echo.HeaderCookie)
		return next(c)
	}
}

// safeMethod reports whether a request of this method changes nothing.
func safeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

func newCSRFToken() string {
	var b [csrfTokenBytes]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// validCSRFToken reports whether a cookie holds a token newCSRFToken could
// have made; anything else is replaced.
func validCSRFToken(s string) bool {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && len(b) == csrfTokenBytes
}
