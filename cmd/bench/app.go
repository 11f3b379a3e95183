package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/internal/app"
	"github.com/carbon-dash/mangrove-dashboard/mangrove/sandbox"
)

// How the tool runs the dashboard.
const (
	// loopbackAnyPort is where the dashboard and its sandbox listen: a free
	// loopback port each.
	loopbackAnyPort = "127.0.0.1:0"
	// defaultPollInterval is the watchers' interval when a section sets none:
	// the shortest POLL_INTERVAL allowed.
	defaultPollInterval = app.MinPollInterval
	// benchIdleConnsPerHost keeps connections to the sandbox for the load
	// sections' bursts (net/http keeps 2, and each burst would dial anew).
	benchIdleConnsPerHost = 64
	// benchStreamCap lifts the per-session and per-address stream caps: every
	// simulated viewer of a section comes from 127.0.0.1.
	benchStreamCap = 1 << 20
	// benchSessionSecret keys the session cookies (no section signs in: every
	// one uses the server-wide token); set so nothing is written to the data dir.
	benchSessionSecret = "mangrove-bench session secret, 32+ characters"
	// shutdownTimeout bounds the dashboard's graceful shutdown at the end of a section.
	shutdownTimeout = 5 * time.Second
	// sandboxFile is the embedded sandbox's SQLite file in the data dir (as internal/app names it).
	sandboxFile = "sandbox.db"
)

// appOptions configure a dashboard on a fresh sandbox, wired by internal/app
// as main wires it, with real HTTP on both sides.
type appOptions struct {
	Dir          string        // where the SQLite files go
	StepDelay    time.Duration // sandbox time per batch
	PollInterval time.Duration // watcher interval; default 1s
	ServerToken  bool          // every request acts with the sandbox's read-write token (no sign-in)
	// RateLimit raises the sandbox's per-token quota (and the dashboard client's
	// matching limiter) for measurements that make more calls than the real API's
	// 1,000 a minute; 0 keeps the real default.
	RateLimit int
	// Prepare runs on the sandbox before the dashboard starts (seeding).
	Prepare func(*sandbox.Server) error
	// Wrap wraps the sandbox's handler (request observers).
	Wrap func(http.Handler) http.Handler
}

// dashboard is a running dashboard and sandbox, wired by app.New, plus what
// the tool needs around them: a sandbox it can restart on the same file with
// requests held meanwhile, and an upstream override that answers the API's
// requests instead of the sandbox.
type dashboard struct {
	*app.App
	opts    appOptions
	dbPath  string
	tempDir string // removed by Close when set

	sbMu sync.RWMutex // held for writing while the sandbox restarts
	sb   *sandbox.Server
	// upstream, when set, answers the API's requests instead of the sandbox.
	upstream atomic.Pointer[http.Handler]

	closeOnce sync.Once
}

// startDashboard wires a dashboard with app.New and serves it. The sandbox
// app.New opens is the first one the tool's own sandbox variable holds; its
// server's handler (WrapSandbox) routes every request through that variable,
// so a restart swaps the sandbox under the same address.
func startDashboard(o appOptions) (*dashboard, error) {
	if o.PollInterval == 0 {
		o.PollInterval = defaultPollInterval
	}
	d := &dashboard{opts: o, dbPath: filepath.Join(o.Dir, sandboxFile)}
	a, err := app.New(app.Config{
		Addr:                   loopbackAnyPort,
		SandboxAddr:            loopbackAnyPort,
		DataDir:                o.Dir,
		StepDelay:              o.StepDelay,
		PollInterval:           o.PollInterval,
		SessionSecret:          benchSessionSecret,
		Logger:                 slog.New(slog.NewJSONHandler(io.Discard, nil)),
		RateLimit:              o.RateLimit,
		ServerTokenFromSandbox: o.ServerToken,
		MaxIdleConnsPerHost:    benchIdleConnsPerHost,
		// Every simulated viewer comes from 127.0.0.1, many on one session.
		StreamsPerSession: benchStreamCap, StreamsPerClient: benchStreamCap,
		PrepareSandbox: d.prepare,
		WrapSandbox:    d.wrap,
	})
	if err != nil {
		return nil, err
	}
	d.App = a
	go func() { _ = a.Server.Serve(a.Listener) }()
	return d, nil
}

// startDashboardIn starts a dashboard in a new temporary directory, which
// Close removes.
func startDashboardIn(prefix string, o appOptions) (*dashboard, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, err
	}
	o.Dir = dir
	d, err := startDashboard(o)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	d.tempDir = dir
	return d, nil
}

// prepare keeps the sandbox app.New opened and runs the section's Prepare on it.
func (d *dashboard) prepare(sb *sandbox.Server) error {
	d.sbMu.Lock()
	d.sb = sb
	d.sbMu.Unlock()
	if d.opts.Prepare != nil {
		return d.opts.Prepare(sb)
	}
	return nil
}

// wrap replaces the sandbox's handler with one that serves the upstream
// override or the current sandbox, under the section's Wrap.
func (d *dashboard) wrap(http.Handler) http.Handler {
	var h http.Handler = http.HandlerFunc(d.serveAPI)
	if d.opts.Wrap != nil {
		h = d.opts.Wrap(h)
	}
	return h
}

func (d *dashboard) serveAPI(w http.ResponseWriter, r *http.Request) {
	if o := d.upstream.Load(); o != nil {
		(*o).ServeHTTP(w, r)
		return
	}
	d.liveSandbox().Handler().ServeHTTP(w, r)
}

// liveSandbox returns the running sandbox: app.New's until a restart, the
// reopened one after.
func (d *dashboard) liveSandbox() *sandbox.Server {
	d.sbMu.RLock()
	defer d.sbMu.RUnlock()
	return d.sb
}

// dashboardAddr is the dashboard's host:port, for the raw SSE subscribers.
func (d *dashboard) dashboardAddr() string { return d.Listener.Addr().String() }

// restartSandbox closes the sandbox and opens it again on the same file, with
// requests held meanwhile: the running generation is failed by the restart
// and pending ones run at once, so every watched task ends on demand.
func (d *dashboard) restartSandbox(stepDelay time.Duration) error {
	d.sbMu.Lock()
	defer d.sbMu.Unlock()
	if err := d.sb.Close(); err != nil {
		return err
	}
	sb, err := sandbox.Open(sandbox.Options{DBPath: d.dbPath, StepDelay: stepDelay, RateLimit: d.opts.RateLimit})
	if err != nil {
		return err
	}
	d.sb = sb
	return nil
}

// Close shuts the dashboard down, closes everything app.New made and the
// sandbox a restart opened, and removes the temporary directory. It is
// idempotent.
func (d *dashboard) Close() {
	d.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		_ = d.Server.Shutdown(ctx)
		d.App.Close()               // closes app.New's sandbox (idempotent if a restart did)
		_ = d.liveSandbox().Close() // the reopened one, if any
		if d.tempDir != "" {
			_ = os.RemoveAll(d.tempDir)
		}
	})
}

// apiDo makes one call to the sandbox API with token and returns the body.
func apiDo(ctx context.Context, hc *http.Client, method, url, token, body string) (int, []byte, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

var errTimeout = errors.New("timed out")
