// Package testapp starts the whole dashboard on an embedded sandbox for
// tests: real HTTP on both sides, fresh SQLite files per test.
package testapp

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
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

// Options tune the app under test.
type Options struct {
	StepDelay    time.Duration // sandbox time per batch
	PollInterval time.Duration // watcher interval; default 1s
	ServerToken  bool          // run with the sandbox's read-write token as MANGROVE_API_TOKEN
	LogWriter    io.Writer     // where the dashboard logs; default discard
	// WrapSandbox wraps the sandbox's handler, e.g. to inject faults.
	WrapSandbox func(http.Handler) http.Handler
	// TrustedProxies (TRUSTED_PROXIES) and UserHeader (USER_HEADER) as in
	// main; tests connect from 127.0.0.1.
	TrustedProxies string
	UserHeader     string
	// ReadyCacheTTL is how long /readyz reuses its upstream check; default 10s.
	ReadyCacheTTL time.Duration
	// ClientTimeout bounds each API call of the dashboard's client; default
	// the client's own (15s). Fault tests shorten it to provoke timeouts.
	ClientTimeout time.Duration
	// RateLimit raises the sandbox's and the client's requests a minute per
	// token (default 1,000, the real API's), for load tests.
	RateLimit int
	// Faults are the sandbox's injected faults from the start; App.Sandbox's
	// SetFaults changes them at run time.
	Faults sandbox.Faults
	// ListenConfig, when set, opens the dashboard's listener (on 127.0.0.1),
	// e.g. to shrink the socket buffers of its connections.
	ListenConfig *net.ListenConfig
}

// App is a running dashboard and its sandbox.
type App struct {
	URL        string
	SandboxURL string // base URL of the sandbox API, with /api/v1
	Sandbox    *sandbox.Server
	Tokens     sandbox.Tokens
	Handlers   *handlers.Handlers
	Store      *store.Store
	Client     *mangrove.Client
	// Metrics has its own registry per app: read it with Metrics.Registry().
	Metrics *metrics.Metrics
	// Echo serves the dashboard; its Routes() are the route table.
	Echo   *echo.Echo
	server *httptest.Server
}

// Start runs a dashboard on a fresh sandbox; everything stops at test end.
func Start(t testing.TB, opts Options) *App {
	t.Helper()
	dir := t.TempDir()
	sb, err := sandbox.Open(sandbox.Options{DBPath: dir + "/sandbox.db", StepDelay: opts.StepDelay, RateLimit: opts.RateLimit, Faults: opts.Faults})
	if err != nil {
		t.Fatalf("sandbox: %v", err)
	}
	var sbHandler http.Handler = sb.Handler()
	if opts.WrapSandbox != nil {
		sbHandler = opts.WrapSandbox(sbHandler)
	}
	sbSrv := httptest.NewServer(sbHandler)
	st, err := store.Open(dir + "/dashboard.db")
	if err != nil {
		t.Fatalf("store: %v", err)
	}
	cookies := sessions.NewCookieStore([]byte(strings.Repeat("h", 32)), []byte(strings.Repeat("b", 32)))
	cookies.MaxAge(12 * 60 * 60)
	m := metrics.New(prometheus.NewRegistry())
	var clientOpts []mangrove.Option
	if opts.ClientTimeout > 0 {
		clientOpts = append(clientOpts, mangrove.WithTimeout(opts.ClientTimeout))
	}
	if opts.RateLimit > 0 {
		clientOpts = append(clientOpts, mangrove.WithRateLimit(opts.RateLimit))
	}
	client := mangrove.NewClient(sbSrv.URL+"/api/v1", append(clientOpts,
		mangrove.WithRetry(3, 20*time.Millisecond, 200*time.Millisecond),
		mangrove.WithRequestIDFunc(handlers.RequestIDFromContext),
		mangrove.WithHTTPClient(&http.Client{Transport: m.UpstreamTransport(nil, sbSrv.URL+"/api/v1")}))...)
	proxies, err := handlers.ParseTrustedProxies(opts.TrustedProxies)
	if err != nil {
		t.Fatal(err)
	}
	logw := opts.LogWriter
	if logw == nil {
		logw = io.Discard
	}
	poll := opts.PollInterval
	if poll == 0 {
		poll = time.Second
	}
	deps := handlers.Deps{
		Client: client, Store: st, Sessions: cookies, PollInterval: poll,
		Logger:  slog.New(slog.NewJSONHandler(logw, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Sandbox: &handlers.SandboxInfo{DemoToken: sb.Tokens().ReadWrite, ReadOnlyToken: sb.Tokens().ReadOnly},
		Metrics: m, TrustedProxies: proxies, UserHeader: opts.UserHeader, ReadyCacheTTL: opts.ReadyCacheTTL,
	}
	if opts.ServerToken {
		deps.ServerToken = sb.Tokens().ReadWrite
	}
	h, err := handlers.New(deps)
	if err != nil {
		t.Fatalf("handlers: %v", err)
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	h.Register(e)
	srv := httptest.NewUnstartedServer(e)
	if opts.ListenConfig != nil {
		ln, err := opts.ListenConfig.Listen(context.Background(), "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		srv.Listener.Close()
		srv.Listener = ln
	}
	srv.Config.RegisterOnShutdown(h.Close)
	srv.Start()
	t.Cleanup(func() {
		h.Close()
		srv.CloseClientConnections()
		srv.Close()
		sbSrv.CloseClientConnections()
		sbSrv.Close()
		_ = sb.Close()
		_ = st.Close()
	})
	return &App{URL: srv.URL, SandboxURL: sbSrv.URL + "/api/v1", Sandbox: sb, Tokens: sb.Tokens(), Handlers: h, Store: st, Client: client, Metrics: m, Echo: e, server: srv}
}

// Browser is an HTTP client with a cookie jar that does not follow
// redirects, so tests see each 303.
type Browser struct {
	t        testing.TB
	app      *App
	HTTP     *http.Client
	mu       sync.Mutex
	lastCSRF string
}

// NewBrowser returns a fresh, signed-out browser.
func (a *App) NewBrowser(t testing.TB) *Browser {
	return NewBrowserAt(t, a.URL)
}

// NewBrowserAt returns a fresh, signed-out browser for a dashboard served
// elsewhere (one started by main's run, say).
func NewBrowserAt(t testing.TB, baseURL string) *Browser {
	jar, _ := cookiejar.New(nil)
	return &Browser{t: t, app: &App{URL: baseURL}, HTTP: &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// Response is a read response.
type Response struct {
	Status   int
	Header   http.Header
	Body     string
	Location string
}

var csrfInput = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

func (b *Browser) do(req *http.Request) Response {
	b.t.Helper()
	resp, err := b.HTTP.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	r := Response{Status: resp.StatusCode, Header: resp.Header, Body: string(body), Location: resp.Header.Get("Location")}
	if m := csrfInput.FindStringSubmatch(r.Body); m != nil {
		b.mu.Lock()
		b.lastCSRF = m[1]
		b.mu.Unlock()
	}
	return r
}

// Get fetches a path of the dashboard.
func (b *Browser) Get(path string) Response {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.app.URL+path, nil)
	return b.do(req)
}

// CSRF returns the last CSRF token seen in a page, fetching one if needed.
func (b *Browser) CSRF() string {
	b.mu.Lock()
	tok := b.lastCSRF
	b.mu.Unlock()
	if tok == "" {
		b.Get("/signin")
		b.mu.Lock()
		tok = b.lastCSRF
		b.mu.Unlock()
	}
	return tok
}

// Post submits a form with the CSRF token a page gave.
func (b *Browser) Post(path string, form url.Values) Response {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if form.Get("_csrf") == "" {
		form.Set("_csrf", b.CSRF())
	}
	return b.PostRaw(path, form)
}

// PostRaw submits a form as is.
func (b *Browser) PostRaw(path string, form url.Values) Response {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.app.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// SignIn signs in with a token and fails the test if that does not work.
func (b *Browser) SignIn(token string) {
	b.t.Helper()
	r := b.Post("/signin", url.Values{"token": {token}, "name": {"Test User"}})
	if r.Status != http.StatusSeeOther {
		b.t.Fatalf("sign in: status %d, body %.400s", r.Status, r.Body)
	}
}

// WaitTask polls the API until the task is terminal.
func (a *App) WaitTask(t testing.TB, token string, id int64, timeout time.Duration) *mangrove.AsyncTask {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		task, err := a.Client.AsyncTask(ctx, token, id)
		if err != nil {
			t.Fatalf("task %d: %v", id, err)
		}
		if task.Terminal() {
			return task
		}
		select {
		case <-ctx.Done():
			t.Fatalf("task %d still %s after %s", id, task.State, timeout)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
