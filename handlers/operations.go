package handlers

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// countRequests records every request in the metrics by its route pattern
// (c.Path(), never the raw URL) once the error handler has set the status.
func (h *Handlers) countRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		route := c.Path()
		if !h.routes[c.Request().Method+" "+route] {
			route = "unmatched" // 404 or 405: name no path that has no route
		}
		stream := strings.HasPrefix(c.Response().Header().Get(echo.HeaderContentType), "text/event-stream")
		h.metrics.ObserveRequest(route, c.Request().Method, c.Response().Status, time.Since(start), stream)
		return err
	}
}

// rememberRoutes records the registered routes, so requests that matched
// none are labelled "unmatched" in the metrics.
func (h *Handlers) rememberRoutes(e *echo.Echo) {
	h.routes = map[string]bool{}
	for _, r := range e.Routes() {
		h.routes[r.Method+" "+r.Path] = true
	}
}

// showMetrics serves the Prometheus metrics.
func (h *Handlers) showMetrics(c echo.Context) error {
	h.metrics.Handler().ServeHTTP(c.Response(), c.Request())
	return nil
}

// Readiness checks: how long each may take, and how long the upstream
// answer is reused by default.
const (
	storeCheckTimeout    = 2 * time.Second
	upstreamCheckTimeout = 3 * time.Second
	defaultReadyCacheTTL = 10 * time.Second
)

// readyzResponse is the body of GET /readyz.
type readyzResponse struct {
	Status string            `json:"status"` // "ready" or "not ready"
	Checks map[string]string `json:"checks"` // "ok" or the reason it is not
	// UpstreamCheckedAt is when the API was last asked; the answer is reused
	// for a few seconds so that /readyz cannot be used to hammer the API.
	UpstreamCheckedAt time.Time `json:"upstream_checked_at"`
}

// readyz reports whether the dashboard can serve: its database answers
// (PostgreSQL or SQLite), with several replicas their shared polling's
// connections are up, and the Mangrove API is reachable. It answers 503 with the reasons otherwise.
func (h *Handlers) readyz(c echo.Context) error {
	ctx := c.Request().Context()
	res := readyzResponse{Status: "ready", Checks: map[string]string{"store": "ok"}}
	sctx, cancel := context.WithTimeout(ctx, storeCheckTimeout)
	err := h.store.Ping(sctx)
	cancel()
	if err != nil {
		res.Checks["store"] = "the dashboard database (" + h.store.Backend() + ") does not answer"
		h.log.Error("readiness: store", "err", err)
	}
	if h.fleet != nil {
		res.Checks["fleet"] = "ok"
		fctx, cancel := context.WithTimeout(ctx, storeCheckTimeout)
		ferr := h.fleet.Ping(fctx)
		cancel()
		if ferr != nil {
			res.Checks["fleet"] = "the connections that share task polling with the other replicas (PostgreSQL) are down"
			h.log.Error("readiness: fleet", "err", ferr)
			err = cmp.Or(err, ferr)
		}
	}
	up := h.ready.upstream(ctx, h.now(), h.checkUpstream)
	res.Checks["upstream"] = up.reason
	res.UpstreamCheckedAt = up.at.UTC()
	status := http.StatusOK
	if err != nil || up.reason != "ok" {
		res.Status, status = "not ready", http.StatusServiceUnavailable
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.JSON(status, res)
}

// checkUpstream makes one cheap API call. Any answer from the API proves it
// reachable; with a server-wide token the answer must also accept it.
func (h *Handlers) checkUpstream(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, upstreamCheckTimeout)
	defer cancel()
	err := h.ledgers.CheckToken(ctx, h.identity.serverToken)
	var apiErr *mangrove.APIError
	switch {
	case err == nil:
		return "ok"
	case h.identity.serverToken != "" && (errors.Is(err, mangrove.ErrUnauthorized) || errors.Is(err, mangrove.ErrForbidden)):
		h.log.Error("readiness: the API refused the server-wide token", "err", err)
		return "the Mangrove API refused the server-wide token (MANGROVE_API_TOKEN)"
	case errors.Is(err, mangrove.ErrRateLimited):
		return "ok" // it answered; busy is not down
	case errors.As(err, &apiErr) && apiErr.Status < 500:
		return "ok" // without a token 401 is the expected answer
	default:
		h.log.Warn("readiness: the API is unreachable", "err", err)
		return "the Mangrove API is unreachable (" + mangrove.Describe(err) + ")"
	}
}

// readiness caches the upstream check; one check runs at a time and the
// others wait for its answer.
type readiness struct {
	ttl  time.Duration
	mu   sync.Mutex
	last upstreamCheck
}

type upstreamCheck struct {
	reason string
	at     time.Time
}

func newReadiness(ttl time.Duration) *readiness {
	if ttl <= 0 {
		ttl = defaultReadyCacheTTL
	}
	return &readiness{ttl: ttl}
}

func (r *readiness) upstream(ctx context.Context, now time.Time, check func(context.Context) string) upstreamCheck {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.last.at.IsZero() && now.Sub(r.last.at) < r.ttl && now.Sub(r.last.at) >= 0 {
		return r.last
	}
	// The check outlives a caller that hangs up: its answer serves the next.
	r.last = upstreamCheck{reason: check(context.WithoutCancel(ctx)), at: now}
	return r.last
}
