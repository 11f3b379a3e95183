package app

import (
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
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/handlers"
	"github.com/carbon-dash/mangrove-dashboard/internal/connlimit"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/mangrove/sandbox"
	"github.com/carbon-dash/mangrove-dashboard/store"
	"github.com/carbon-dash/mangrove-dashboard/watcher"
	"golang.org/x/term"
)

// Config is the dashboard's configuration: environment variables, each with
// a flag of the same meaning that wins over it.
type Config struct {
	Addr         string
	APIURL       string
	APIToken     string
	SandboxAddr  string
	SandboxToken string
	StepDelay    time.Duration
	// SandboxFaults are injected by the embedded sandbox (SANDBOX_FAULTS); off by default.
	SandboxFaults sandbox.Faults
	DataDir       string
	// DatabaseURL, a postgres:// URL, puts the dashboard's own database in
	// PostgreSQL so several replicas share it (DATABASE_URL); empty keeps
	// SQLite in DataDir.
	DatabaseURL   string
	SessionSecret string
	PollInterval  time.Duration
	// WatchLifetime is how long a watcher follows a task that does not finish.
	WatchLifetime time.Duration
	// TrustedProxies are the proxies whose forwarding headers are believed.
	TrustedProxies []*net.IPNet
	UserHeader     string
	// ReadOnly says the server-wide token cannot generate
	// (MANGROVE_READ_ONLY): pages say so and nothing is confirmed.
	ReadOnly bool
	// CheckAPI runs the read-only conformance check of the API (or of the
	// embedded sandbox) instead of serving (-check-api); CheckAPITask is an
	// async task id for it to read (-check-api-task).
	CheckAPI     bool
	CheckAPITask int64
	// MaxConnections caps the dashboard's open client connections
	// (MAX_CONNECTIONS); StreamsPerSession and StreamsPerClient cap its
	// event streams per session and per client address.
	MaxConnections, StreamsPerSession, StreamsPerClient int

	// The fields below are not configuration people set: tests and the
	// benchmarks use them to run the same wiring.

	// Logger, when set, replaces the stderr logger.
	Logger *slog.Logger
	// Listener, when set, is where the dashboard serves instead of Addr.
	Listener net.Listener
	// RateLimit, when set, raises the sandbox's requests a minute per token
	// and the client's matching limiter (the real API's 1,000 otherwise).
	RateLimit int
	// MaxIdleConnsPerHost, when set, keeps that many idle connections to the
	// API (net/http keeps 2), for load tests whose bursts would dial anew.
	MaxIdleConnsPerHost int
	// ClientOptions are added to the API client's options.
	ClientOptions []mangrove.Option
	// WrapSandbox wraps the embedded sandbox's handler (faults, observers).
	WrapSandbox func(http.Handler) http.Handler
	// PrepareSandbox runs on the embedded sandbox before the dashboard starts.
	PrepareSandbox func(*sandbox.Server) error
	// ReadyCacheTTL is how long /readyz reuses its upstream check.
	ReadyCacheTTL time.Duration
	// ServerTokenFromSandbox uses the sandbox's read-write token as the
	// server-wide token (MANGROVE_API_TOKEN).
	ServerTokenFromSandbox bool
	// StartTimeout, when set, replaces the POST timeout of a confirmation
	// (generation.DefaultStartTimeout), and with it how old a row left
	// submitting must be before start-up recovery calls it unknown.
	StartTimeout time.Duration
}

// DefaultAddr is where the dashboard listens without ADDR.
const DefaultAddr = "127.0.0.1:8080"

// Bounds of WATCH_MAX_LIFETIME.
const (
	MinWatchLifetime = time.Minute
	MaxWatchLifetime = 24 * time.Hour
)

// Bounds of POLL_INTERVAL.
const (
	MinPollInterval = time.Second
	MaxPollInterval = 5 * time.Second
)

// validHeaderName is an HTTP header name (RFC 9110 token characters).
var validHeaderName = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")

// rawFlags are the values ParseConfig checks before they go into a Config.
type rawFlags struct {
	stepDelay, poll, proxies, faults, watchLife   string
	maxConns, streamsPerSession, streamsPerClient string
}

// flagSet defines every flag, each defaulting to its environment variable
// (read with getenv) or else to its built-in default. It prints nothing:
// ParseConfig returns its errors and Usage writes the help.
func flagSet(c *Config, raw *rawFlags, getenv func(string) string) *flag.FlagSet {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("mangrove-dashboard", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.Addr, "addr", env("ADDR", DefaultAddr), "dashboard listen address (ADDR)")
	fs.StringVar(&c.APIURL, "mangrove-api-url", env("MANGROVE_API_URL", ""), "base URL of a real Mangrove API; empty starts the sandbox (MANGROVE_API_URL)")
	fs.StringVar(&c.APIToken, "mangrove-api-token", env("MANGROVE_API_TOKEN", ""), "optional server-wide API token (MANGROVE_API_TOKEN)")
	fs.StringVar(&c.SandboxAddr, "sandbox-addr", env("SANDBOX_ADDR", "127.0.0.1:8081"), "sandbox listen address (SANDBOX_ADDR)")
	fs.StringVar(&c.SandboxToken, "sandbox-token", env("SANDBOX_TOKEN", ""), "the sandbox's read-write demo token (SANDBOX_TOKEN)")
	fs.StringVar(&raw.stepDelay, "sandbox-step-delay", env("SANDBOX_STEP_DELAY", "750ms"), "time the sandbox spends per batch (SANDBOX_STEP_DELAY)")
	fs.StringVar(&raw.faults, "sandbox-faults", env("SANDBOX_FAULTS", ""), "faults the sandbox injects, e.g. latency=300ms,error_rate=0.2; empty for none (SANDBOX_FAULTS)")
	fs.StringVar(&c.DataDir, "data-dir", env("DATA_DIR", "./data"), "where SQLite files and generated secrets live (DATA_DIR)")
	fs.StringVar(&c.DatabaseURL, "database-url", env("DATABASE_URL", ""), "postgres:// URL of a PostgreSQL database that replicas share for the audit log, confirmation keys, sessions and task polling; needs SESSION_SECRET; prefer the variable, as a flag shows its password in the process list; empty keeps SQLite in DATA_DIR (DATABASE_URL)")
	fs.StringVar(&c.SessionSecret, "session-secret", env("SESSION_SECRET", ""), "secret the session keys derive from, at least 32 characters, the same on every replica; empty generates keys in DATA_DIR (SESSION_SECRET)")
	fs.StringVar(&raw.poll, "poll-interval", env("POLL_INTERVAL", "2s"), "how often a running task is polled, "+MinPollInterval.String()+" to "+MaxPollInterval.String()+" (POLL_INTERVAL)")
	fs.StringVar(&raw.watchLife, "watch-max-lifetime", env("WATCH_MAX_LIFETIME", watcher.DefaultMaxLifetime.String()), "how long a task is followed before the dashboard gives up and says so (a task stuck in a state it does not know), "+MinWatchLifetime.String()+" to "+MaxWatchLifetime.String()+" (WATCH_MAX_LIFETIME)")
	fs.StringVar(&raw.proxies, "trusted-proxies", env("TRUSTED_PROXIES", ""), "comma-separated CIDRs of reverse proxies whose X-Forwarded-For/-Proto are believed; empty trusts none (TRUSTED_PROXIES)")
	fs.StringVar(&c.UserHeader, "user-header", env("USER_HEADER", ""), "header a trusted proxy sets to the user's name, recorded in the audit log with a server-wide token, e.g. X-Forwarded-User (USER_HEADER)")
	fs.StringVar(&raw.maxConns, "max-connections", env("MAX_CONNECTIONS", strconv.Itoa(connlimit.DefaultMax())), "client connections open at once, sized by default from the process's file limit; at the cap the longest-idle one is closed, and with none idle a new one gets 503 (MAX_CONNECTIONS)")
	fs.StringVar(&raw.streamsPerSession, "streams-per-session", env("STREAMS_PER_SESSION", strconv.Itoa(handlers.DefaultStreamsPerSession)), "live progress streams one signed-in session may have open; 429 beyond (STREAMS_PER_SESSION)")
	fs.StringVar(&raw.streamsPerClient, "streams-per-client", env("STREAMS_PER_CLIENT", strconv.Itoa(handlers.DefaultStreamsPerClient)), "live progress streams one client address may have open; 429 beyond (STREAMS_PER_CLIENT)")
	fs.BoolVar(&c.CheckAPI, "check-api", false, "check MANGROVE_API_URL with MANGROVE_API_TOKEN (GET requests only; with no URL, a fresh embedded sandbox), print what the dashboard relies on and whether it holds, and exit: 0 when nothing it needs is broken, 1 otherwise")
	fs.Int64Var(&c.CheckAPITask, "check-api-task", 0, "with -check-api: an async task id to read too (a task the token started), as no API call lists tasks")
	fs.BoolVar(&c.ReadOnly, "mangrove-read-only", env("MANGROVE_READ_ONLY", "") == "true", "the API token cannot generate: say so up front and offer no Confirm (MANGROVE_READ_ONLY=true)")
	return fs
}

// Usage writes the help -h prints: every flag with its variable, built-in
// default and meaning (never the environment's values: a token could be
// among them).
func Usage(w io.Writer) {
	fmt.Fprint(w, `Usage: mangrove-dashboard [flags]
       mangrove-dashboard -healthcheck   (probe a running dashboard's /healthz at ADDR; exit 0 when healthy)
       mangrove-dashboard -check-api     (read-only check of MANGROVE_API_URL with MANGROVE_API_TOKEN; exit 0 when nothing the dashboard needs is broken)

Serves the batch generation dashboard. With no MANGROVE_API_URL it starts the
embedded sandbox, a local Mangrove with demo data, and uses it. Each flag has
an environment variable of the same meaning, named in brackets; the flag wins.

`)
	fs := flagSet(&Config{}, &rawFlags{}, func(string) string { return "" })
	fs.SetOutput(w)
	fs.PrintDefaults()
}

// ParseConfig reads the configuration from flags (args) and environment
// variables (getenv); a flag wins over its variable.
func ParseConfig(args []string, getenv func(string) string) (Config, error) {
	var c Config
	var raw rawFlags
	fs := flagSet(&c, &raw, getenv)
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return Config{}, err
	} else if err != nil {
		return Config{}, fmt.Errorf("%w (-h lists the flags)", err)
	}
	var err error
	for _, n := range []struct {
		name string
		raw  string
		dst  *int
	}{
		{"MAX_CONNECTIONS", raw.maxConns, &c.MaxConnections},
		{"STREAMS_PER_SESSION", raw.streamsPerSession, &c.StreamsPerSession},
		{"STREAMS_PER_CLIENT", raw.streamsPerClient, &c.StreamsPerClient},
	} {
		if *n.dst, err = strconv.Atoi(n.raw); err != nil || *n.dst < 1 {
			return Config{}, fmt.Errorf("%s %q: want a whole number, 1 or more", n.name, n.raw)
		}
	}
	if c.StepDelay, err = time.ParseDuration(raw.stepDelay); err != nil || c.StepDelay < 0 {
		return Config{}, fmt.Errorf("SANDBOX_STEP_DELAY %q: want a duration such as 750ms", raw.stepDelay)
	}
	if c.SandboxFaults, err = sandbox.ParseFaults(raw.faults); err != nil {
		return Config{}, fmt.Errorf("SANDBOX_FAULTS: %w", err)
	}
	if c.PollInterval, err = time.ParseDuration(raw.poll); err != nil || c.PollInterval < MinPollInterval || c.PollInterval > MaxPollInterval {
		return Config{}, fmt.Errorf("POLL_INTERVAL %q: want a duration from %s to %s", raw.poll, MinPollInterval, MaxPollInterval)
	}
	if c.WatchLifetime, err = time.ParseDuration(raw.watchLife); err != nil || c.WatchLifetime < MinWatchLifetime || c.WatchLifetime > MaxWatchLifetime {
		return Config{}, fmt.Errorf("WATCH_MAX_LIFETIME %q: want a duration from %s to %s", raw.watchLife, MinWatchLifetime, MaxWatchLifetime)
	}
	if c.APIURL != "" && !strings.HasPrefix(c.APIURL, "http://") && !strings.HasPrefix(c.APIURL, "https://") {
		return Config{}, fmt.Errorf("MANGROVE_API_URL %q: want an http or https URL", c.APIURL)
	}
	c.APIURL = strings.TrimRight(c.APIURL, "/")
	if c.APIURL != "" && c.SandboxFaults.Active() {
		return Config{}, errors.New("SANDBOX_FAULTS applies to the embedded sandbox only: unset it, or unset MANGROVE_API_URL")
	}
	if c.TrustedProxies, err = ParseTrustedProxies(raw.proxies); err != nil {
		return Config{}, err
	}
	if c.UserHeader != "" {
		if !validHeaderName.MatchString(c.UserHeader) {
			return Config{}, fmt.Errorf("USER_HEADER %q: want a header name such as X-Forwarded-User", c.UserHeader)
		}
		if len(c.TrustedProxies) == 0 {
			return Config{}, errors.New("USER_HEADER needs TRUSTED_PROXIES: the header is only believed from a trusted proxy")
		}
	}
	if c.DataDir == "" {
		return Config{}, errors.New("DATA_DIR must not be empty")
	}
	if err := checkDatabase(c); err != nil {
		return Config{}, err
	}
	return c, nil
}

// checkDatabase refuses a DATABASE_URL that is not PostgreSQL's, and one
// without SESSION_SECRET. Replicas sharing a database serve one another's
// users: a cookie signed, or a token sealed, with keys one replica made up
// would be refused by the next, signing people out at random. (The error
// never repeats the URL: it may hold a password.)
func checkDatabase(c Config) error {
	if c.DatabaseURL == "" {
		return nil
	}
	if !store.IsPostgresURL(c.DatabaseURL) {
		return errors.New("DATABASE_URL: want a postgres:// or postgresql:// URL (unset it to keep SQLite in DATA_DIR)")
	}
	if c.SessionSecret == "" {
		return errors.New("DATABASE_URL is set but SESSION_SECRET is not: replicas sharing a database must share their session keys, " +
			"or a cookie signed by one replica is refused by the others and the tokens of running generations sealed by one cannot be opened by another. " +
			"Set the same SESSION_SECRET (at least 32 characters) on every replica")
	}
	return nil
}

// sessionKeys derives the cookie keys from SESSION_SECRET, or generates them
// once and keeps them in DATA_DIR so a restart does not sign everyone out.
func sessionKeys(cfg Config) (hashKey, blockKey []byte, err error) {
	secret := []byte(cfg.SessionSecret)
	if len(secret) == 0 {
		path := filepath.Join(cfg.DataDir, "session.key")
		raw, err := os.ReadFile(path)
		switch {
		case err == nil:
			if err := os.Chmod(path, 0o600); err != nil {
				return nil, nil, err
			}
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
	hashKey, blockKey = SessionKeys(secret)
	return hashKey, blockKey, nil
}

// FleetKey derives from SESSION_SECRET the key that signs the replicas'
// announcements to each other (internal/fleet): replicas sharing a
// database share the secret already.
func FleetKey(secret []byte) []byte { return deriveKey("fleet", secret) }

// SessionKeys derives the session cookie's signing and encryption keys from
// a secret.
func SessionKeys(secret []byte) (hashKey, blockKey []byte) {
	return deriveKey("session hash", secret), deriveKey("session block", secret)
}

// deriveKey is the key for use, one of the keys SESSION_SECRET gives.
func deriveKey(use string, secret []byte) []byte {
	k := sha256.Sum256(append([]byte("mangrove-dashboard "+use+"\x00"), secret...))
	return k[:]
}

// newLogger writes JSON lines, or readable text on a terminal.
func newLogger(w *os.File) *slog.Logger {
	if term.IsTerminal(int(w.Fd())) {
		return slog.New(slog.NewTextHandler(w, nil))
	}
	return slog.New(slog.NewJSONHandler(w, nil))
}

// ParseTrustedProxies reads TRUSTED_PROXIES: comma-separated CIDRs
// ("10.0.0.0/8") or single addresses ("192.0.2.7", taken as /32 or /128).
// An empty string trusts no proxy.
func ParseTrustedProxies(s string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if !strings.Contains(part, "/") {
			ip := net.ParseIP(part)
			if ip == nil {
				return nil, fmt.Errorf("TRUSTED_PROXIES: %q is not an IP address or CIDR", part)
			}
			bits := 128
			if ip.To4() != nil {
				ip, bits = ip.To4(), 32
			}
			out = append(out, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
			continue
		}
		_, n, err := net.ParseCIDR(part)
		if err != nil {
			return nil, fmt.Errorf("TRUSTED_PROXIES: %q is not an IP address or CIDR", part)
		}
		out = append(out, n)
	}
	return out, nil
}
