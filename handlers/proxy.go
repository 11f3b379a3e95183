package handlers

import (
	"net"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// trustOptions trust exactly the configured proxies: Echo's defaults would
// also trust loopback and private networks.
func (h *Handlers) trustOptions() []echo.TrustOption {
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, n := range h.identity.trustedProxies {
		opts = append(opts, echo.TrustIPRange(n))
	}
	return opts
}

// configureProxies decides where the client address and the scheme come
// from. Without trusted proxies: the connection itself, forwarding headers
// ignored. With them: X-Forwarded-For and X-Forwarded-Proto, only when the
// request comes straight from one of them. The scheme decides Secure
// cookies and HSTS.
func (h *Handlers) configureProxies(e *echo.Echo) {
	if len(h.identity.trustedProxies) == 0 {
		e.IPExtractor = echo.ExtractIPDirect()
		e.SchemeExtractor = echo.ExtractSchemeDirect()
		return
	}
	e.IPExtractor = echo.ExtractIPFromXFFHeader(h.trustOptions()...)
	e.SchemeExtractor = echo.ExtractSchemeFromHeaders(h.trustOptions()...)
}

// fromTrustedProxy reports whether the request's direct peer is a trusted
// proxy.
func (h *Handlers) fromTrustedProxy(r *http.Request) bool {
	if len(h.identity.trustedProxies) == 0 {
		return false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return false
	}
	for _, n := range h.identity.trustedProxies {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// proxyUserOr names the user a trusted proxy vouches for in USER_HEADER,
// when a server-wide token is in use; otherwise it returns fallback. The
// value is cleaned: printable, one line, at most 80 characters.
func (h *Handlers) proxyUserOr(c echo.Context, fallback string) string {
	if h.identity.userHeader == "" || h.identity.serverToken == "" || !h.fromTrustedProxy(c.Request()) {
		return fallback
	}
	if u := cleanUserName(c.Request().Header.Get(h.identity.userHeader)); u != "" {
		return u
	}
	return fallback
}

// maxUserNameLen bounds a user's name, in characters.
const maxUserNameLen = 80

// cleanUserName makes a name, typed at sign-in or vouched for by a proxy,
// safe to show, log and export: no control or format characters (terminal
// escapes, bidirectional overrides and zero-width characters could reorder
// or hide what follows), white space of any kind collapsed to one space, at
// most maxUserNameLen characters. Invalid UTF-8 (no browser sends it) gives "".
func cleanUserName(s string) string {
	if !utf8.ValidString(s) {
		return ""
	}
	s = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsSpace(r):
			return ' '
		case unicode.In(r, unicode.Cc, unicode.Cf):
			return -1
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > maxUserNameLen {
		s = strings.TrimSpace(string(r[:maxUserNameLen]))
	}
	return s
}
