// Package handlers is the dashboard's Echo layer: each handler parses and
// validates input, calls one service and renders one view. Errors are
// returned and end in one place, the HTTPErrorHandler in errors.go.
package handlers

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/gorilla/sessions"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/metrics"
	"github.com/carbon-dash/mangrove-dashboard/store"
	"github.com/carbon-dash/mangrove-dashboard/watcher"
)

// SandboxInfo describes the embedded sandbox, when the dashboard runs on it.
type SandboxInfo struct {
	DemoToken     string
	ReadOnlyToken string
}

// Deps are the dashboard's dependencies, built in main.
type Deps struct {
	Client   *mangrove.Client
	Store    *store.Store
	Sessions *sessions.CookieStore
	// ServerToken, when set, is used for every user and sign-in is skipped.
	ServerToken string
	// Sandbox is non-nil when the dashboard runs on its embedded sandbox.
	Sandbox      *SandboxInfo
	PollInterval time.Duration
	Logger       *slog.Logger
	Now          func() time.Time
	// Metrics records Prometheus metrics and serves /metrics; when nil a
	// private registry is used.
	Metrics *metrics.Metrics
	// TrustedProxies are the networks whose X-Forwarded-For,
	// X-Forwarded-Proto and UserHeader are believed; none by default.
	TrustedProxies []*net.IPNet
	// UserHeader, when set, names a header a trusted proxy (an SSO proxy,
	// say) sets to the signed-in user; it names the user in the audit log
	// when a server-wide token is used.
	UserHeader string
	// ReadyCacheTTL is how long /readyz reuses its upstream check; default 10s.
	ReadyCacheTTL time.Duration
}

// Handlers holds the dependencies of every route.
type Handlers struct {
	client      *mangrove.Client
	store       *store.Store
	sessions    *sessions.CookieStore
	serverToken string
	sandbox     *SandboxInfo
	log         *slog.Logger
	now         func() time.Time
	watchers    *watcher.Pool
	streams     *taskStreams
	signinLimit *attemptLimiter

	metrics        *metrics.Metrics
	trustedProxies []*net.IPNet
	userHeader     string
	ready          *readiness
	routes         map[string]bool // "GET /ledgers/:id": the registered routes, for metric labels
	charts         *chartCache
	pages          *pageCache // ledger metadata per token hash (cache.go)
	finalMu        sync.Mutex // makes recordFinal's check-then-mark atomic, so each finish counts once
}

// New checks the dependencies and builds the handlers, including the task
// watcher pool and the event streams it publishes to.
func New(d Deps) (*Handlers, error) {
	if d.Client == nil || d.Store == nil || d.Sessions == nil {
		return nil, errors.New("handlers: client, store and sessions are required")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Metrics == nil {
		d.Metrics = metrics.New(prometheus.NewRegistry())
	}
	h := &Handlers{
		client:      d.Client,
		store:       d.Store,
		sessions:    d.Sessions,
		serverToken: d.ServerToken,
		sandbox:     d.Sandbox,
		log:         d.Logger,
		now:         d.Now,
		signinLimit: newAttemptLimiter(10, time.Minute),

		metrics:        d.Metrics,
		trustedProxies: d.TrustedProxies,
		userHeader:     d.UserHeader,
		ready:          newReadiness(d.ReadyCacheTTL),
		charts:         newChartCache(),
		pages:          newPageCache(pageCacheTTL, d.Now),
	}
	h.streams = newTaskStreams(h)
	h.watchers = watcher.NewPool(d.Client, h.streams, watcher.Options{
		Interval: d.PollInterval,
		Logger:   d.Logger,
		Now:      d.Now,
	})
	h.streams.pool = h.watchers
	h.metrics.RegisterGauges(h.StreamSubscribers, h.watchers.Active)
	return h, nil
}

// Close ends the event streams politely and stops the task watchers.
func (h *Handlers) Close() {
	h.streams.Close()
	h.watchers.Close()
}

// Watchers exposes the task watcher pool, for tests and metrics.
func (h *Handlers) Watchers() *watcher.Pool { return h.watchers }
