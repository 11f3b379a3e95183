package handlers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/views"
	"github.com/labstack/echo/v4"
)

type ctxKey int

const requestIDKey ctxKey = iota

// RequestIDFromContext returns the request id of a dashboard request; the
// API client sends it upstream so one id follows a request everywhere.
func RequestIDFromContext(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{8,64}$`)

// requestID takes a well-formed X-Request-Id from a proxy or makes one, and
// puts it in the response header and the request context.
func (h *Handlers) requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(echo.HeaderXRequestID)
		if !validRequestID.MatchString(id) {
			var b [8]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		r := c.Request()
		c.SetRequest(r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
		return next(c)
	}
}

// recoverPanics turns a panic into an error for the error handler, logged
// with its stack, so the user gets an error page and the process lives on.
func (h *Handlers) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				h.log.Error("panic", "request_id", RequestIDFromContext(c.Request().Context()), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		return next(c)
	}
}

// logRequests writes one line per request. The query string is left out:
// it is user input and may carry anything.
func (h *Handlers) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		r := c.Request()
		h.log.Info("request",
			"request_id", RequestIDFromContext(r.Context()),
			"method", r.Method,
			"path", r.URL.Path,
			"route", c.Path(),
			"status", c.Response().Status,
			"bytes", c.Response().Size,
			"duration_ms", time.Since(start).Milliseconds(),
			"client_ip", c.RealIP(),
		)
		return nil
	}
}

// contentSecurityPolicy allows scripts and styles from this origin only.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"

// hsts asks browsers to use https for a year once they reached us over it.
const hsts = "max-age=31536000"

func secureHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		hd := c.Response().Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		if c.Scheme() == "https" {
			hd.Set("Strict-Transport-Security", hsts)
		}
		return next(c)
	}
}

func csrfToken(c echo.Context) string {
	t, _ := c.Get(csrfContextKey).(string)
	return t
}

// requireToken lets a request through when there is a token to call the API
// with; otherwise pages redirect to sign-in and everything else gets 401.
func (h *Handlers) requireToken(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if h.currentToken(c) != "" {
			return next(c)
		}
		r := c.Request()
		if r.Method == http.MethodGet && !strings.HasSuffix(r.URL.Path, "/events") {
			return redirect(c, "/signin?next="+url.QueryEscape(localPath(r.URL.RequestURI())))
		}
		return errSignedOut
	}
}

// localPath keeps a redirect target on this site: a path, never a scheme,
// host or protocol-relative URL.
func localPath(target string) string {
	if target == "" || !strings.HasPrefix(target, "/") || strings.HasPrefix(target, "//") || strings.HasPrefix(target, "/\\") {
		return views.LedgersPath()
	}
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return views.LedgersPath()
	}
	// Browsers drop tabs and new lines from URLs ("/\t/evil" becomes
	// "//evil"), and no control character belongs in a Location header.
	if strings.ContainsFunc(target, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return views.LedgersPath()
	}
	return target
}

// maxLimiterKeys is how many client addresses the sign-in limiter tracks
// before it sweeps the idle ones.
const maxLimiterKeys = 10000

// attemptLimiter allows a number of attempts per key in a sliding window;
// sign-in uses it per client address.
type attemptLimiter struct {
	mu     sync.Mutex
	max    int
	window time.Duration
	seen   map[string][]time.Time
}

func newAttemptLimiter(max int, window time.Duration) *attemptLimiter {
	return &attemptLimiter{max: max, window: window, seen: map[string][]time.Time{}}
}

// allow records an attempt and reports whether it is within the limit.
func (l *attemptLimiter) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	cutoff := now.Add(-l.window)
	kept := l.seen[key][:0]
	for _, t := range l.seen[key] {
		if t.After(cutoff) {
			kept = append(kept, t)
		}
	}
	if len(kept) >= l.max {
		l.seen[key] = kept
		return false
	}
	l.seen[key] = append(kept, now)
	if len(l.seen) > maxLimiterKeys { // forget old keys rather than grow without bound
		for k, ts := range l.seen {
			if len(ts) == 0 || ts[len(ts)-1].Before(cutoff) {
				delete(l.seen, k)
			}
		}
	}
	return true
}
