// Package handlers is the dashboard's Echo layer: each handler parses and
// validates input, calls one service and renders one view. Errors are
// returned and end in one place, the HTTPErrorHandler in errors.go.
package handlers

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"math"
	"net"
	"time"

	"github.com/gorilla/sessions"

	"github.com/carbon-dash/mangrove-dashboard/generation"
	"github.com/carbon-dash/mangrove-dashboard/ledgers"
	"github.com/carbon-dash/mangrove-dashboard/metrics"
	"github.com/carbon-dash/mangrove-dashboard/store"
	"github.com/carbon-dash/mangrove-dashboard/taskstream"
)

// SandboxInfo describes the embedded sandbox, when the dashboard runs on it.
type SandboxInfo struct {
	DemoToken     string
	ReadOnlyToken string
}

// Sign-in attempts allowed per client address in a window.
const (
	signInAttempts = 10
	signInWindow   = time.Minute
)

// Deps are the dashboard's dependencies, built by internal/app.
type Deps struct {
	Ledgers    *ledgers.Service
	Generation *generation.Service
	Streams    *taskstream.Streams
	// Store keeps the server-side sessions.
	Store    *store.Store
	Sessions *sessions.CookieStore
	// ServerToken, when set, is used for every user and sign-in is skipped.
	ServerToken string
	// Sandbox is non-nil when the dashboard runs on its embedded sandbox.
	Sandbox *SandboxInfo
	Logger  *slog.Logger
	Now     func() time.Time // nil: time.Now
	// Metrics records Prometheus metrics and serves /metrics.
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
	// StreamsPerSession and StreamsPerClient cap the event streams open at
	// once per signed-in session and per client address; zero means
	// DefaultStreamsPerSession and DefaultStreamsPerClient. MaxStreams caps
	// them for the whole dashboard, below its connection cap; zero means no
	// cap of its own.
	StreamsPerSession, StreamsPerClient, MaxStreams int
	// Budget tells whether a token's API quota is nearly spent, for the
	// pages' warning; nil never warns.
	Budget Budget
	// Fleet, when several replicas share PostgreSQL, is their coordination:
	// /readyz checks its connections, and a sign-out here is announced
	// through it so the other replicas end the session's streams
	// (EndSessionStreams). Nil with SQLite.
	Fleet Fleet
}

// Fleet is what the handlers use of the replicas' coordination.
type Fleet interface {
	Ping(ctx context.Context) error
	AnnounceSessionEnded(ctx context.Context, idHash string) error
}

// signOutAnnounceTimeout bounds telling the other replicas of a sign-out.
const signOutAnnounceTimeout = 5 * time.Second

// Budget is the API client's view of each token's rate-limit budget
// (*mangrove.Client implements it).
type Budget interface {
	BudgetLow(token string) bool
}

// Handlers holds what the routes need: the services, the session store,
// the logger and the clock.
type Handlers struct {
	ledgers    *ledgers.Service
	generation *generation.Service
	streams    *taskstream.Streams
	store      *store.Store
	sessions   *sessions.CookieStore
	identity   identity
	log        *slog.Logger
	now        func() time.Time
	metrics    *metrics.Metrics
	budget     Budget
	fleet      Fleet // nil with one replica

	signinLimit *attemptLimiter
	streamSlots *streamSlots
	ready       *readiness
	routes      map[string]bool // "GET /ledgers/:id": the registered routes, for metric labels
}

// identity is how users are told apart and named.
type identity struct {
	serverToken    string
	sandbox        *SandboxInfo
	trustedProxies []*net.IPNet
	userHeader     string
}

// New checks the dependencies and builds the handlers.
func New(d Deps) (*Handlers, error) {
	if d.Ledgers == nil || d.Generation == nil || d.Streams == nil || d.Store == nil || d.Sessions == nil || d.Logger == nil || d.Metrics == nil {
		return nil, errors.New("handlers: ledgers, generation, streams, store, sessions, logger and metrics are required")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Handlers{
		ledgers:    d.Ledgers,
		generation: d.Generation,
		streams:    d.Streams,
		store:      d.Store,
		sessions:   d.Sessions,
		identity: identity{serverToken: d.ServerToken, sandbox: d.Sandbox,
			trustedProxies: d.TrustedProxies, userHeader: d.UserHeader},
		log:         d.Logger,
		now:         d.Now,
		metrics:     d.Metrics,
		budget:      d.Budget,
		fleet:       d.Fleet,
		signinLimit: newAttemptLimiter(signInAttempts, signInWindow),
		streamSlots: newStreamSlots(cmp.Or(d.StreamsPerSession, DefaultStreamsPerSession), cmp.Or(d.StreamsPerClient, DefaultStreamsPerClient),
			cmp.Or(d.MaxStreams, math.MaxInt)),
		ready: newReadiness(d.ReadyCacheTTL),
	}, nil
}
