// Command mangrove-dashboard serves the batch generation dashboard. With no
// MANGROVE_API_URL it starts the embedded sandbox, a local Mangrove with
// demo data, and uses it.
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/term"

	"github.com/carbon-dash/mangrove-dashboard/handlers"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/mangrove/sandbox"
	"github.com/carbon-dash/mangrove-dashboard/metrics"
	"github.com/carbon-dash/mangrove-dashboard/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) == 2 && os.Args[1] == "-healthcheck" {
		os.Exit(healthcheck(os.Getenv))
	}
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, nil); err != nil {
		fmt.Fprintln(os.Stderr, "mangrove-dashboard:", err)
		os.Exit(1)
	}
}

// config is the dashboard's configuration: environment variables, each with
// a flag of the same meaning that wins over it.
type config struct {
	Addr         string
	APIURL       string
	APIToken     string
	SandboxAddr  string
	SandboxToken string
	StepDelay    time.Duration
	// SandboxFaults are injected by the embedded sandbox (SANDBOX_FAULTS); off by default.
	SandboxFaults sandbox.Faults
	DataDir       string
	SessionSecret string
	PollInterval  time.Duration
	// TrustedProxies are the proxies whose forwarding headers are believed.
	TrustedProxies []*net.IPNet
	UserHeader     string
}

// validHeaderName is an HTTP header name (RFC 9110 token characters).
var validHeaderName = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")

func parseConfig(args []string, getenv func(string) string) (config, error) {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	var c config
	var stepDelay, poll, proxies, faults string
	fs := flag.NewFlagSet("mangrove-dashboard", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.Addr, "addr", env("ADDR", "127.0.0.1:8080"), "dashboard listen address (ADDR)")
	fs.StringVar(&c.APIURL, "mangrove-api-url", env("MANGROVE_API_URL", ""), "base URL of a real Mangrove API; empty starts the sandbox (MANGROVE_API_URL)")
	fs.StringVar(&c.APIToken, "mangrove-api-token", env("MANGROVE_API_TOKEN", ""), "optional server-wide API token (MANGROVE_API_TOKEN)")
	fs.StringVar(&c.SandboxAddr, "sandbox-addr", env("SANDBOX_ADDR", "127.0.0.1:8081"), "sandbox listen address (SANDBOX_ADDR)")
	fs.StringVar(&c.SandboxToken, "sandbox-token", env("SANDBOX_TOKEN", ""), "the sandbox's read-write demo token (SANDBOX_TOKEN)")
	fs.StringVar(&stepDelay, "sandbox-step-delay", env("SANDBOX_STEP_DELAY", "750ms"), "time the sandbox spends per batch (SANDBOX_STEP_DELAY)")
	fs.StringVar(&faults, "sandbox-faults", env("SANDBOX_FAULTS", ""), "faults the sandbox injects, e.g. latency=300ms,error_rate=0.2; empty for none (SANDBOX_FAULTS)")
	fs.StringVar(&c.DataDir, "data-dir", env("DATA_DIR", "./data"), "where SQLite files and generated secrets live (DATA_DIR)")
	fs.StringVar(&c.SessionSecret, "session-secret", env("SESSION_SECRET", ""), "secret the session keys derive from; empty generates keys in DATA_DIR (SESSION_SECRET)")
	fs.StringVar(&poll, "poll-interval", env("POLL_INTERVAL", "2s"), "how often a running task is polled, 1s to 5s (POLL_INTERVAL)")
	fs.StringVar(&proxies, "trusted-proxies", env("TRUSTED_PROXIES", ""), "comma-separated CIDRs of reverse proxies whose X-Forwarded-For/-Proto are believed; empty trusts none (TRUSTED_PROXIES)")
	fs.StringVar(&c.UserHeader, "user-header", env("USER_HEADER", ""), "header a trusted proxy sets to the user's name, recorded in the audit log with a server-wide token, e.g. X-Forwarded-User (USER_HEADER)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	var err error
	if c.StepDelay, err = time.ParseDuration(stepDelay); err != nil || c.StepDelay < 0 {
		return config{}, fmt.Errorf("SANDBOX_STEP_DELAY %q: want a duration such as 750ms", stepDelay)
	}
	if c.SandboxFaults, err = sandbox.ParseFaults(faults); err != nil {
		return config{}, fmt.Errorf("SANDBOX_FAULTS: %w", err)
	}
	if c.PollInterval, err = time.ParseDuration(poll); err != nil || c.PollInterval < time.Second || c.PollInterval > 5*time.Second {
		return config{}, fmt.Errorf("POLL_INTERVAL %q: want a duration from 1s to 5s", poll)
	}
	if c.APIURL != "" && !strings.HasPrefix(c.APIURL, "http://") && !strings.HasPrefix(c.APIURL, "https://") {
		return config{}, fmt.Errorf("MANGROVE_API_URL %q: want an http or https URL", c.APIURL)
	}
	c.APIURL = strings.TrimRight(c.APIURL, "/")
	if c.APIURL != "" && c.SandboxFaults.Active() {
		return config{}, errors.New("SANDBOX_FAULTS applies to the embedded sandbox only: unset it, or unset MANGROVE_API_URL")
	}
	if c.TrustedProxies, err = handlers.ParseTrustedProxies(proxies); err != nil {
		return config{}, err
	}
	if c.UserHeader != "" {
		if !validHeaderName.MatchString(c.UserHeader) {
			return config{}, fmt.Errorf("USER_HEADER %q: want a header name such as X-Forwarded-User", c.UserHeader)
		}
		if len(c.TrustedProxies) == 0 {
			return config{}, errors.New("USER_HEADER needs TRUSTED_PROXIES: the header is only believed from a trusted proxy")
		}
	}
	if c.DataDir == "" {
		return config{}, errors.New("DATA_DIR must not be empty")
	}
	return c, nil
}

// run starts everything, serves until ctx ends, then shuts down in order.
// ready, when non-nil, receives the dashboard's address once it listens.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer, ready chan<- string) error {
	cfg, err := parseConfig(args, getenv)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return err
	}
	logger := newLogger(os.Stderr)

	apiURL := cfg.APIURL
	var sandboxInfo *handlers.SandboxInfo
	if apiURL == "" {
		sb, sbURL, shutdownSandbox, err := startSandbox(cfg, logger)
		if err != nil {
			return err
		}
		defer shutdownSandbox()
		apiURL = sbURL
		t := sb.Tokens()
		sandboxInfo = &handlers.SandboxInfo{DemoToken: t.ReadWrite, ReadOnlyToken: t.ReadOnly}
	}

	st, err := store.Open(filepath.Join(cfg.DataDir, "dashboard.db"))
	if err != nil {
		return err
	}
	defer st.Close()

	hashKey, blockKey, err := sessionKeys(cfg)
	if err != nil {
		return err
	}
	cookies := sessions.NewCookieStore(hashKey, blockKey)
	cookies.MaxAge(12 * 60 * 60)

	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
	)
	m := metrics.New(reg)
	client := mangrove.NewClient(apiURL,
		mangrove.WithRequestIDFunc(handlers.RequestIDFromContext),
		mangrove.WithHTTPClient(&http.Client{Transport: m.UpstreamTransport(http.DefaultTransport.(*http.Transport).Clone(), apiURL)}),
	)
	if cfg.UserHeader != "" && cfg.APIToken == "" {
		logger.Warn("USER_HEADER is only used with a server-wide token (MANGROVE_API_TOKEN); users who sign in name themselves")
	}
	h, err := handlers.New(handlers.Deps{
		Client:         client,
		Store:          st,
		Sessions:       cookies,
		ServerToken:    cfg.APIToken,
		Sandbox:        sandboxInfo,
		PollInterval:   cfg.PollInterval,
		Logger:         logger,
		Metrics:        m,
		TrustedProxies: cfg.TrustedProxies,
		UserHeader:     cfg.UserHeader,
	})
	if err != nil {
		return err
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	h.Register(e)

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("dashboard listen: %w", err)
	}
	srv := &http.Server{
		Handler:           e,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second, // event streams lift it per request
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(h.Close) // streams never go idle: end them so Shutdown can finish

	fmt.Fprintf(stdout, "Dashboard:   http://%s\n", ln.Addr())
	if sandboxInfo != nil {
		fmt.Fprintf(stdout, "Sandbox API: %s\n", apiURL)
		if cfg.SandboxFaults.Active() {
			fmt.Fprintf(stdout, "Sandbox faults (SANDBOX_FAULTS): %s\n", cfg.SandboxFaults)
		}
		fmt.Fprintf(stdout, "Demo token (read-write): %s\n", sandboxInfo.DemoToken)
		fmt.Fprintf(stdout, "Demo token (read-only):  %s\n", sandboxInfo.ReadOnlyToken)
	} else {
		fmt.Fprintf(stdout, "Mangrove API: %s\n", apiURL)
	}
	if ready != nil {
		ready <- ln.Addr().String()
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		h.Close()
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	h.Close()
	return err
}

// startSandbox opens the embedded sandbox and serves it on SANDBOX_ADDR.
func startSandbox(cfg config, logger *slog.Logger) (*sandbox.Server, string, func(), error) {
	sb, err := sandbox.Open(sandbox.Options{
		DBPath:    filepath.Join(cfg.DataDir, "sandbox.db"),
		StepDelay: cfg.StepDelay,
		Faults:    cfg.SandboxFaults,
		Token:     cfg.SandboxToken,
		Logger:    logger.With("component", "sandbox"),
	})
	if err != nil {
		return nil, "", nil, fmt.Errorf("sandbox: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.SandboxAddr)
	if err != nil {
		sb.Close()
		return nil, "", nil, fmt.Errorf("sandbox listen: %w", err)
	}
	srv := &http.Server{Handler: sb.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	shutdown := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = sb.Close()
	}
	return sb, "http://" + ln.Addr().String() + "/api/v1", shutdown, nil
}

// sessionKeys derives the cookie keys from SESSION_SECRET, or generates them
// once and keeps them in DATA_DIR so a restart does not sign everyone out.
func sessionKeys(cfg config) (hashKey, blockKey []byte, err error) {
	secret := []byte(cfg.SessionSecret)
	if len(secret) == 0 {
		path := filepath.Join(cfg.DataDir, "session.key")
		raw, err := os.ReadFile(path)
		switch {
		case err == nil:
			secret, err = hex.DecodeString(strings.TrimSpace(string(raw)))
			if err != nil || len(secret) < 32 {
				return nil, nil, fmt.Errorf("%s is damaged: delete it to generate new keys (everyone will be signed out)", path)
			}
		case errors.Is(err, os.ErrNotExist):
			secret = make([]byte, 64)
			if _, err := rand.Read(secret); err != nil {
				return nil, nil, err
			}
			if err := os.WriteFile(path, []byte(hex.EncodeToString(secret)+"\n"), 0o600); err != nil {
				return nil, nil, err
			}
		default:
			return nil, nil, err
		}
	} else if len(secret) < 32 {
		return nil, nil, errors.New("SESSION_SECRET must be at least 32 characters")
	}
	h := sha256.Sum256(append([]byte("mangrove-dashboard session hash\x00"), secret...))
	b := sha256.Sum256(append([]byte("mangrove-dashboard session block\x00"), secret...))
	return h[:], b[:], nil
}

// healthcheck probes the running dashboard's /healthz, for container
// HEALTHCHECKs on images without curl. It returns the exit code.
func healthcheck(getenv func(string) string) int {
	addr := getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	if strings.HasPrefix(addr, ":") {
		addr = "127.0.0.1" + addr
	}
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get("http://" + addr + "/healthz")
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "healthcheck: status", resp.StatusCode)
		return 1
	}
	return 0
}

// newLogger writes JSON lines, or readable text on a terminal.
func newLogger(w *os.File) *slog.Logger {
	if term.IsTerminal(int(w.Fd())) {
		return slog.New(slog.NewTextHandler(w, nil))
	}
	return slog.New(slog.NewJSONHandler(w, nil))
}
