// Package testapp starts the whole dashboard on an embedded sandbox for
// tests: real HTTP on both sides, fresh SQLite files per test.
package testapp

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/internal/app"
	"github.com/carbon-dash/mangrove-dashboard/internal/wait"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/mangrove/sandbox"
	"github.com/carbon-dash/mangrove-dashboard/taskstream"
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
	// ReadOnly is MANGROVE_READ_ONLY.
	ReadOnly bool
	// ListenConfig, when set, opens the dashboard's listener (on 127.0.0.1),
	// e.g. to shrink the socket buffers of its connections.
	ListenConfig *net.ListenConfig
	// MaxConnections, StreamsPerSession and StreamsPerClient are the caps of
	// the same names; zero keeps the defaults.
	MaxConnections, StreamsPerSession, StreamsPerClient int
	// DatabaseURL is DATABASE_URL: the store and the task polling on
	// PostgreSQL (internal/pgtest gives a fresh database) instead of SQLite.
	DatabaseURL string
}

// SessionSecret is the SESSION_SECRET of every test app.
var SessionSecret = strings.Repeat("s", 32)

// SessionKeys are the session cookie keys of every test app, for tests that
// forge cookies.
func SessionKeys() (hashKey, blockKey []byte) { return app.SessionKeys([]byte(SessionSecret)) }

// App is a running dashboard and its sandbox, wired by internal/app.
type App struct {
	*app.App
	SandboxURL string // base URL of the sandbox API, with /api/v1
}

// Start runs a dashboard on a fresh sandbox; everything stops at test end.
func Start(t testing.TB, opts Options) *App {
	t.Helper()
	dir := t.TempDir()
	logw := cmp.Or[io.Writer](opts.LogWriter, io.Discard)
	proxies, err := app.ParseTrustedProxies(opts.TrustedProxies)
	if err != nil {
		t.Fatal(err)
	}
	cfg := app.Config{
		Addr: "127.0.0.1:0", SandboxAddr: "127.0.0.1:0", DataDir: dir,
		StepDelay: opts.StepDelay, SandboxFaults: opts.Faults,
		PollInterval:   cmp.Or(opts.PollInterval, time.Second),
		SessionSecret:  SessionSecret,
		DatabaseURL:    opts.DatabaseURL,
		TrustedProxies: proxies, UserHeader: opts.UserHeader,
		Logger:                 slog.New(slog.NewJSONHandler(logw, &slog.HandlerOptions{Level: slog.LevelDebug})),
		RateLimit:              opts.RateLimit,
		WrapSandbox:            opts.WrapSandbox,
		ReadyCacheTTL:          opts.ReadyCacheTTL,
		ServerTokenFromSandbox: opts.ServerToken,
		ReadOnly:               opts.ReadOnly,
		MaxConnections:         opts.MaxConnections,
		StreamsPerSession:      opts.StreamsPerSession,
		StreamsPerClient:       opts.StreamsPerClient,
		ClientOptions:          []mangrove.Option{mangrove.WithRetry(3, 20*time.Millisecond, 200*time.Millisecond)},
	}
	if opts.ClientTimeout > 0 {
		cfg.ClientOptions = append(cfg.ClientOptions, mangrove.WithTimeout(opts.ClientTimeout))
	}
	if opts.ListenConfig != nil {
		ln, err := opts.ListenConfig.Listen(context.Background(), "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		cfg.Listener = ln
	}
	a, err := app.New(cfg)
	if err != nil {
		t.Fatalf("app: %v", err)
	}
	go func() { _ = a.Server.Serve(a.Listener) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), app.ShutdownTimeout)
		defer cancel()
		a.Streams.Close()
		_ = a.Server.Shutdown(ctx)
		a.Close()
	})
	return &App{App: a, SandboxURL: a.APIURL}
}

// Browser is an HTTP client with a cookie jar that does not follow
// redirects, so tests see each 303.
type Browser struct {
	t        testing.TB
	baseURL  string
	HTTP     *http.Client
	mu       sync.Mutex
	lastCSRF string
}

// NewBrowser returns a fresh, signed-out browser.
func (a *App) NewBrowser(t testing.TB) *Browser {
	return NewBrowserAt(t, a.URL)
}

// SignedIn returns a fresh browser signed in with the sandbox's read-write
// demo token.
func (a *App) SignedIn(t testing.TB) *Browser {
	t.Helper()
	b := a.NewBrowser(t)
	b.SignIn(a.Tokens.ReadWrite)
	return b
}

// NewBrowserAt returns a fresh, signed-out browser for a dashboard served
// elsewhere (one started by main's run, say).
func NewBrowserAt(t testing.TB, baseURL string) *Browser {
	jar, _ := cookiejar.New(nil)
	return &Browser{t: t, baseURL: baseURL, HTTP: &http.Client{
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
	req, _ := http.NewRequest(http.MethodGet, b.baseURL+path, nil)
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
	req, _ := http.NewRequest(http.MethodPost, b.baseURL+path, strings.NewReader(form.Encode()))
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
	var task *mangrove.AsyncTask
	WaitFor(t, timeout, fmt.Sprintf("task %d to end", id), func() bool {
		var err error
		if task, err = a.Client.AsyncTask(ctx, token, id); err != nil {
			t.Fatalf("task %d: %v", id, err)
		}
		return task.Terminal()
	})
	return task
}

// WaitFor checks cond until it holds, and fails the test when timeout
// passes first: tests wait for the state they assert, never sleep.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !wait.Until(context.Background(), timeout, cond) {
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
}

// LedgerByName finds a seeded ledger through the API.
func (a *App) LedgerByName(t testing.TB, name string) mangrove.Ledger {
	t.Helper()
	ls, err := a.Client.AllLedgers(context.Background(), a.Tokens.ReadWrite)
	if err != nil {
		t.Fatalf("listing ledgers: %v", err)
	}
	for _, l := range ls {
		if l.Name == name {
			return l
		}
	}
	t.Fatalf("no ledger named %q", name)
	return mangrove.Ledger{}
}

// OpenEvents opens an event stream at u as EventSource does; it ends with
// ctx. The caller checks the status and closes the body.
func OpenEvents(ctx context.Context, client *http.Client, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	return client.Do(req)
}

// ReadEvents reads the events of a stream from r until it ends, or until
// max events when max > 0. Blocks without data or a name (keep-alive
// comments, a bare retry) are skipped.
func ReadEvents(r io.Reader, max int) ([]taskstream.Event, error) {
	var out []taskstream.Event
	rd := taskstream.NewReader(r)
	for max <= 0 || len(out) < max {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if ev.Event != "" || len(ev.Data) > 0 {
			out = append(out, ev)
		}
	}
	return out, nil
}
