package handlers

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// ParseTrustedProxies reads TRUSTED_PROXIES: comma-separated CIDRs
// ("10.0.0.0/8") or single addresses ("192.0.2.7", taken as /32 or /128).
// An empty string trusts no proxy.
func ParseTrustedProxies(s string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if !strings.Contains(part, "/") {
			ip := net.ParseIP(part)
			if ip == nil {
				return nil, fmt.Errorf("TRUSTED_PROXIES: %q is not an IP address or CIDR", part)
			}
			bits := 128
			if ip.To4() != nil {
				ip, bits = ip.To4(), 32
			}
			out = append(out, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
			continue
		}
		_, n, err := net.ParseCIDR(part)
		if err != nil {
			return nil, fmt.Errorf("TRUSTED_PROXIES: %q is not an IP address or CIDR", part)
		}
		out = append(out, n)
	}
	return out, nil
}

// trustOptions trust exactly the configured proxies: Echo's defaults would
// also trust loopback and private networks.
func (h *Handlers) trustOptions() []echo.TrustOption {
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, n := range h.trustedProxies {
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
	if len(h.trustedProxies) == 0 {
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
	if len(h.trustedProxies) == 0 {
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
	for _, n := range h.trustedProxies {
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
	if h.userHeader == "" || h.serverToken == "" || !h.fromTrustedProxy(c.Request()) {
		return fallback
	}
	if u := cleanUserName(c.Request().Header.Get(h.userHeader)); u != "" {
		return u
	}
	return fallback
}

func cleanUserName(s string) string {
	if !utf8.ValidString(s) {
		return ""
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > 80 {
		s = string(r[:80])
	}
	return s
}
