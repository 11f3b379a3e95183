// Package app is the dashboard's only wiring: it builds the store, the
// embedded sandbox (when no API URL is set), the API client, the services,
// the event streams and the handlers from a Config. main, the whole-app
// tests (internal/testapp) and the benchmarks (cmd/bench) all run it.
package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/carbon-dash/mangrove-dashboard/generation"
	"github.com/carbon-dash/mangrove-dashboard/handlers"
	"github.com/carbon-dash/mangrove-dashboard/internal/apicache"
	"github.com/carbon-dash/mangrove-dashboard/internal/connlimit"
	"github.com/carbon-dash/mangrove-dashboard/internal/fleet"
	"github.com/carbon-dash/mangrove-dashboard/internal/memrelease"
	"github.com/carbon-dash/mangrove-dashboard/internal/owners"
	"github.com/carbon-dash/mangrove-dashboard/ledgers"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/mangrove/sandbox"
	"github.com/carbon-dash/mangrove-dashboard/metrics"
	"github.com/carbon-dash/mangrove-dashboard/store"
	"github.com/carbon-dash/mangrove-dashboard/taskstream"
	"github.com/carbon-dash/mangrove-dashboard/watcher"
)

// Server limits of the dashboard.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second // event streams lift it per request
	idleTimeout       = 30 * time.Second // a keep-alive connection between requests holds a descriptor
	maxHeaderBytes    = 64 << 10
	// ShutdownTimeout bounds a graceful shutdown.
	ShutdownTimeout        = 15 * time.Second
	sandboxShutdownTimeout = 5 * time.Second
)

// App is a wired dashboard, ready to serve.
type App struct {
	// Handler serves the dashboard; Server serves Handler on Listener.
	Handler  http.Handler
	Server   *http.Server
	Listener net.Listener
	// URL is the dashboard's base URL; APIURL the Mangrove API's.
	URL, APIURL string
	// Sandbox is the embedded sandbox, nil against a real API.
	Sandbox *sandbox.Server
	Tokens  sandbox.Tokens

	Echo       *echo.Echo
	Store      *store.Store
	Client     *mangrove.Client
	Reads      *apicache.Client // the client's reads the pages share, kept a few seconds per token
	Metrics    *metrics.Metrics
	Watchers   *watcher.Pool
	Fleet      *fleet.Fleet // nil on SQLite: one replica polls alone
	Streams    *taskstream.Streams
	Ledgers    *ledgers.Service
	Generation *generation.Service
	Logger     *slog.Logger

	closers   []func()
	closeOnce sync.Once
}

// New wires the dashboard. Nothing is served until Serve (or
// Server.Serve(Listener)); Close releases everything. When wiring fails,
// what was opened is closed again and the error says what failed.
func New(cfg Config) (*App, error) {
	a := &App{Logger: cfg.Logger}
	if err := a.build(cfg); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// build opens and wires everything, registering each closer as it goes.
func (a *App) build(cfg Config) error {
	if a.Logger == nil {
		a.Logger = newLogger(os.Stderr)
	}
	// DATA_DIR holds tokens (sandbox.db), confirmation keys (dashboard.db)
	// and the session key: the owner's only (store.Open narrows it when it
	// existed already).
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return err
	}
	cfg.MaxConnections = cmp.Or(cfg.MaxConnections, connlimit.DefaultMax()) // tests and the bench leave it zero
	a.APIURL = cfg.APIURL
	if a.APIURL == "" {
		if err := a.startSandbox(cfg); err != nil {
			return err
		}
	}
	if err := a.openStore(cfg); err != nil {
		return err
	}
	a.Metrics = metrics.New(newRegistry())
	if err := a.openFleet(cfg); err != nil {
		return err
	}
	a.Client = newClient(cfg, a.APIURL, a.Metrics)
	if cfg.UserHeader != "" && cfg.APIToken == "" && !cfg.ServerTokenFromSandbox {
		a.Logger.Warn("USER_HEADER is only used with a server-wide token (MANGROVE_API_TOKEN); users who sign in name themselves")
	}
	if err := a.wireServices(cfg); err != nil {
		return err
	}
	return a.listen(cfg)
}

// openStore opens the dashboard's database: PostgreSQL at DATABASE_URL,
// shared by the replicas, or SQLite in DATA_DIR.
func (a *App) openStore(cfg Config) error {
	var err error
	if cfg.DatabaseURL != "" {
		a.Store, err = store.OpenPostgres(cfg.DatabaseURL)
	} else {
		a.Store, err = store.Open(filepath.Join(cfg.DataDir, "dashboard.db"))
	}
	if err != nil {
		return err
	}
	a.closers = append(a.closers, func() { _ = a.Store.Close() })
	return nil
}

// fleetOpenTimeout bounds connecting the fleet's two connections at start.
const fleetOpenTimeout = 30 * time.Second

// openFleet joins the replicas sharing DATABASE_URL in polling each task
// once (internal/fleet); one replica on SQLite polls alone.
func (a *App) openFleet(cfg Config) error {
	if cfg.DatabaseURL == "" {
		return nil
	}
	var f *fleet.Fleet
	fm := a.Metrics.RegisterFleet(func() int {
		if f == nil {
			return 0
		}
		return f.Leading()
	})
	ctx, cancel := context.WithTimeout(context.Background(), fleetOpenTimeout)
	defer cancel()
	f, err := fleet.Open(ctx, cfg.DatabaseURL, fleet.Options{
		Key: FleetKey([]byte(cfg.SessionSecret)), Logger: a.Logger.With("component", "fleet"), Metrics: fm,
	})
	if err != nil {
		return err
	}
	a.Fleet = f
	a.closers = append(a.closers, func() { _ = f.Close() })
	return nil
}

// wireServices builds the watcher pool, the services, the event streams and
// the handlers, and subscribes the streams and the audit to the pool.
func (a *App) wireServices(cfg Config) error {
	opts := watcher.Options{Interval: cfg.PollInterval, MaxLifetime: cfg.WatchLifetime, Logger: a.Logger}
	if a.Fleet != nil { // a nil *fleet.Fleet in the interface would not be nil
		opts.Fleet = a.Fleet
	}
	a.Watchers = watcher.NewPool(a.Client, opts)
	a.closers = append(a.closers, a.Watchers.Close)
	a.Reads = apicache.New(a.Client, apicache.Options{})
	// Which project a token's ledgers belong to, told once for the list,
	// the ledger pages and the preview.
	projectOwners := owners.NewCache(nil)
	a.Ledgers = ledgers.New(a.Reads, ledgers.Options{Logger: a.Logger, Owners: projectOwners})
	hashKey, blockKey, err := sessionKeys(cfg)
	if err != nil {
		return err
	}
	a.Generation = generation.New(generation.Options{
		API: a.Reads, Store: a.Store, Watchers: a.Watchers, Metrics: a.Metrics, Logger: a.Logger,
		Changed: a.batchesChanged, ReadOnly: cfg.ReadOnly,
		Sealer: newTokenSealer(hashKey, blockKey), StartTimeout: cfg.StartTimeout, Owners: projectOwners,
		SharedStore: cfg.DatabaseURL != "",
	})
	a.Streams = taskstream.New(taskstream.Options{
		Watchers: a.Watchers, Render: handlers.StatusRenderer(a.Generation, a.Logger), Logger: a.Logger,
	})
	// Streams close before the watchers stop, so viewers are let go first.
	a.closers = append(a.closers, a.Streams.Close)
	// The audit first: a task's end is recorded before any viewer is told
	// it ended, so the history a viewer opens next already shows it.
	a.Watchers.Subscribe(a.Generation)
	a.Watchers.Subscribe(a.Streams)
	a.Metrics.RegisterGauges(a.Streams.Subscribers, a.Watchers.Active)
	// When many streams close, their memory goes back to the OS within
	// seconds, not at the runtime's next GC minutes later (issue 13).
	a.closers = append(a.closers, memrelease.Start(a.Streams.Subscribers, memrelease.Options{Logger: a.Logger}).Close)
	a.Metrics.RegisterBudget(a.Client.TokensLowOnBudget)
	a.recoverGenerations()

	cookies := sessions.NewCookieStore(hashKey, blockKey)
	cookies.MaxAge(handlers.SessionMaxAge)
	serverToken := cfg.APIToken
	if cfg.ServerTokenFromSandbox {
		serverToken = a.Tokens.ReadWrite
	}
	deps := handlers.Deps{
		Ledgers: a.Ledgers, Generation: a.Generation, Streams: a.Streams, Store: a.Store, Sessions: cookies,
		ServerToken: serverToken, Logger: a.Logger, Metrics: a.Metrics,
		TrustedProxies: cfg.TrustedProxies, UserHeader: cfg.UserHeader, ReadyCacheTTL: cfg.ReadyCacheTTL,
		StreamsPerSession: cfg.StreamsPerSession, StreamsPerClient: cfg.StreamsPerClient,
		MaxStreams: maxStreams(cfg.MaxConnections), Budget: a.Client,
	}
	if a.Fleet != nil {
		deps.Fleet = a.Fleet
	}
	if a.Sandbox != nil {
		deps.Sandbox = &handlers.SandboxInfo{DemoToken: a.Tokens.ReadWrite, ReadOnlyToken: a.Tokens.ReadOnly}
	}
	h, err := handlers.New(deps)
	if err != nil {
		return err
	}
	if a.Fleet != nil {
		a.Fleet.FollowSessionEnds(h.EndSessionStreams)
	}
	a.Echo = echo.New()
	a.Echo.HideBanner, a.Echo.HidePort = true, true
	h.Register(a.Echo)
	a.Handler = a.Echo
	return nil
}

// connectionsKeptFromStreams are the connections under MAX_CONNECTIONS
// event streams may not take (they never go idle, so the cap could not
// make room): pages, health checks and scrapes keep them.
const connectionsKeptFromStreams = 32

// maxStreams is the dashboard-wide stream cap for a connection cap.
func maxStreams(maxConnections int) int {
	return max(maxConnections-connectionsKeptFromStreams, maxConnections/2, 1)
}

// batchesChanged forgets the reads and charts a generation may have made stale.
func (a *App) batchesChanged(token string) {
	a.Reads.BatchesChanged(token)
	a.Ledgers.BatchesChanged(token)
}

// ClearCaches forgets every cached read and chart, so the next page view asks
// the API again; for load tests and benchmarks that measure the uncached path.
func (a *App) ClearCaches() {
	a.Reads.Clear()
	a.Ledgers.ClearCaches()
}

// recoverGenerations settles what a stopped process left in the audit log
// (generation.Service.Recover), in the background until Close: start-up
// does not wait on the API.
func (a *App) recoverGenerations() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Generation.RecoverUntil(ctx)
	}()
	a.closers = append(a.closers, func() { cancel(); <-done })
}

// listen opens the dashboard's listener and builds its server.
func (a *App) listen(cfg Config) error {
	a.Listener = cfg.Listener
	if a.Listener == nil {
		ln, err := net.Listen("tcp", cfg.Addr)
		if err != nil {
			return fmt.Errorf("dashboard listen: %w", err)
		}
		a.Listener = ln
	}
	a.URL = "http://" + a.Listener.Addr().String()
	limited := connlimit.New(a.Listener, cfg.MaxConnections)
	a.Listener = limited
	a.Metrics.RegisterConnections(limited.Stats)
	a.Server = &http.Server{
		Handler:           a.Handler,
		ConnState:         limited.ConnState,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(a.Logger.Handler(), slog.LevelWarn),
	}
	a.Server.RegisterOnShutdown(a.Streams.Close) // streams never go idle: end them so Shutdown can finish
	return nil
}

// Serve serves until ctx ends, then shuts down gracefully and closes
// everything.
func (a *App) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- a.Server.Serve(a.Listener) }()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		a.Logger.Info("shutting down")
		shutdownCtx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
		defer cancel()
		err = a.Server.Shutdown(shutdownCtx)
	}
	a.Close()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close ends the event streams, stops the watchers and closes the store and
// the sandbox, in the reverse order of their making. It is idempotent.
func (a *App) Close() {
	a.closeOnce.Do(func() {
		for i := len(a.closers) - 1; i >= 0; i-- {
			a.closers[i]()
		}
	})
}

// startSandbox opens the embedded sandbox and serves it on SandboxAddr.
func (a *App) startSandbox(cfg Config) error {
	sb, err := sandbox.Open(sandbox.Options{
		DBPath:    filepath.Join(cfg.DataDir, "sandbox.db"),
		StepDelay: cfg.StepDelay,
		Faults:    cfg.SandboxFaults,
		Token:     cfg.SandboxToken,
		RateLimit: cfg.RateLimit,
		Logger:    a.Logger.With("component", "sandbox"),
	})
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	a.closers = append(a.closers, func() { _ = sb.Close() })
	if cfg.PrepareSandbox != nil {
		if err := cfg.PrepareSandbox(sb); err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
	}
	ln, err := net.Listen("tcp", cfg.SandboxAddr)
	if err != nil {
		return fmt.Errorf("sandbox listen: %w", err)
	}
	var h http.Handler = sb.Handler()
	if cfg.WrapSandbox != nil {
		h = cfg.WrapSandbox(h)
	}
	srv := sandbox.NewHTTPServer(h)
	srv.ErrorLog = slog.NewLogLogger(a.Logger.Handler(), slog.LevelWarn)
	go func() { _ = srv.Serve(ln) }()
	a.closers = append(a.closers, func() {
		ctx, cancel := context.WithTimeout(context.Background(), sandboxShutdownTimeout)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	a.Sandbox, a.Tokens = sb, sb.Tokens()
	a.APIURL = "http://" + ln.Addr().String() + "/api/v1"
	return nil
}

// newRegistry is a Prometheus registry with the Go runtime and process
// metrics beside the dashboard's own.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
	)
	return reg
}

// newClient is the API client: per-token rate limit, request ids from the
// dashboard's requests, upstream metrics.
func newClient(cfg Config, apiURL string, m *metrics.Metrics) *mangrove.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.MaxIdleConnsPerHost > 0 {
		tr.MaxIdleConnsPerHost = cfg.MaxIdleConnsPerHost
	}
	opts := []mangrove.Option{
		mangrove.WithRequestIDFunc(handlers.RequestIDFromContext),
		mangrove.WithHTTPClient(&http.Client{Transport: m.UpstreamTransport(tr, apiURL)}),
	}
	if cfg.RateLimit > 0 {
		opts = append(opts, mangrove.WithRateLimit(cfg.RateLimit))
	}
	return mangrove.NewClient(apiURL, append(opts, cfg.ClientOptions...)...)
}
