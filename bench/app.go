package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/carbon-dash/mangrove-dashboard/handlers"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/mangrove/sandbox"
	"github.com/carbon-dash/mangrove-dashboard/metrics"
	"github.com/carbon-dash/mangrove-dashboard/store"
)

// appOptions configure a dashboard on a fresh sandbox, wired as main.go wires
// them, with real HTTP on both sides.
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

// app is a running sandbox and dashboard.
type app struct {
	opts     appOptions
	dbPath   string
	sb       *sandbox.Server
	sbMu     sync.RWMutex // held for writing while the sandbox restarts
	sbLn     net.Listener
	sbSrv    *http.Server
	SBURL    string // API base, with /api/v1
	URL      string // dashboard
	Tokens   sandbox.Tokens
	H        *handlers.Handlers
	Store    *store.Store
	Client   *mangrove.Client
	dashLn   net.Listener
	dashSrv  *http.Server
	closed   bool
	closeMux sync.Mutex
	// upstream, when set, answers the API's requests instead of the sandbox.
	upstream atomic.Pointer[http.Handler]
}

func startApp(o appOptions) (*app, error) {
	if o.PollInterval == 0 {
		o.PollInterval = time.Second
	}
	a := &app{opts: o, dbPath: filepath.Join(o.Dir, "sandbox.db")}
	sb, err := sandbox.Open(sandbox.Options{DBPath: a.dbPath, StepDelay: o.StepDelay, RateLimit: o.RateLimit})
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	a.sb = sb
	a.Tokens = sb.Tokens()
	if o.Prepare != nil {
		if err := o.Prepare(sb); err != nil {
			sb.Close()
			return nil, err
		}
	}
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o := a.upstream.Load(); o != nil {
			(*o).ServeHTTP(w, r)
			return
		}
		a.sbMu.RLock()
		s := a.sb
		a.sbMu.RUnlock()
		s.Handler().ServeHTTP(w, r)
	})
	if o.Wrap != nil {
		h = o.Wrap(h)
	}
	if a.sbLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	a.sbSrv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = a.sbSrv.Serve(a.sbLn) }()
	a.SBURL = "http://" + a.sbLn.Addr().String() + "/api/v1"

	if a.Store, err = store.Open(filepath.Join(o.Dir, "dashboard.db")); err != nil {
		return nil, err
	}
	cookies := sessions.NewCookieStore([]byte(strings.Repeat("h", 32)), []byte(strings.Repeat("b", 32)))
	cookies.MaxAge(12 * 60 * 60)
	m := metrics.New(prometheus.NewRegistry())
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64 // the default 2 makes every burst of page calls dial anew
	limit := mangrove.DefaultRateLimit
	if o.RateLimit > 0 {
		limit = o.RateLimit
	}
	a.Client = mangrove.NewClient(a.SBURL,
		mangrove.WithRateLimit(limit),
		mangrove.WithRequestIDFunc(handlers.RequestIDFromContext),
		mangrove.WithHTTPClient(&http.Client{Transport: m.UpstreamTransport(tr, a.SBURL)}))
	deps := handlers.Deps{
		Client: a.Client, Store: a.Store, Sessions: cookies, PollInterval: o.PollInterval,
		Logger:  slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Sandbox: &handlers.SandboxInfo{DemoToken: a.Tokens.ReadWrite, ReadOnlyToken: a.Tokens.ReadOnly},
		Metrics: m,
	}
	if o.ServerToken {
		deps.ServerToken = a.Tokens.ReadWrite
	}
	if a.H, err = handlers.New(deps); err != nil {
		return nil, err
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	a.H.Register(e)
	if a.dashLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	// The same server settings as main.go.
	a.dashSrv = &http.Server{
		Handler:           e,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          nil,
	}
	a.dashSrv.RegisterOnShutdown(a.H.Close)
	go func() { _ = a.dashSrv.Serve(a.dashLn) }()
	a.URL = "http://" + a.dashLn.Addr().String()
	return a, nil
}

// Sandbox returns the running sandbox.
func (a *app) Sandbox() *sandbox.Server {
	a.sbMu.RLock()
	defer a.sbMu.RUnlock()
	return a.sb
}

// restartSandbox closes the sandbox and opens it again on the same file, with
// requests held meanwhile: the running generation is failed by the restart
// and pending ones run at once, so every watched task ends on demand.
func (a *app) restartSandbox(stepDelay time.Duration) error {
	a.sbMu.Lock()
	defer a.sbMu.Unlock()
	if err := a.sb.Close(); err != nil {
		return err
	}
	sb, err := sandbox.Open(sandbox.Options{DBPath: a.dbPath, StepDelay: stepDelay, RateLimit: a.opts.RateLimit})
	if err != nil {
		return err
	}
	a.sb = sb
	return nil
}

func (a *app) Close() {
	a.closeMux.Lock()
	defer a.closeMux.Unlock()
	if a.closed {
		return
	}
	a.closed = true
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a.H.Close()
	_ = a.dashSrv.Shutdown(ctx)
	_ = a.sbSrv.Shutdown(ctx)
	_ = a.Sandbox().Close()
	_ = a.Store.Close()
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
