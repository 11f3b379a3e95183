package app

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/internal/connlimit"
	"github.com/carbon-dash/mangrove-dashboard/mangrove/sandbox"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(Config) bool
		wantErr string
	}{
		{name: "Defaults", check: func(c Config) bool {
			return c.Addr == "127.0.0.1:8080" && c.APIURL == "" && c.SandboxAddr == "127.0.0.1:8081" &&
				c.StepDelay == 750*time.Millisecond && c.DataDir == "./data" && c.PollInterval == 2*time.Second &&
				c.WatchLifetime == time.Hour
		}},
		{name: "WatchLifetime", env: map[string]string{"WATCH_MAX_LIFETIME": "90m"}, check: func(c Config) bool { return c.WatchLifetime == 90*time.Minute }},
		{name: "WatchLifetimeTooShort", env: map[string]string{"WATCH_MAX_LIFETIME": "30s"}, wantErr: "WATCH_MAX_LIFETIME"},
		{name: "WatchLifetimeNotADuration", env: map[string]string{"WATCH_MAX_LIFETIME": "forever"}, wantErr: "WATCH_MAX_LIFETIME"},
		{name: "Environment", env: map[string]string{"ADDR": ":9000", "MANGROVE_API_URL": "https://api.example.test/api/v1/", "SANDBOX_STEP_DELAY": "0", "POLL_INTERVAL": "5s"},
			check: func(c Config) bool {
				return c.Addr == ":9000" && c.APIURL == "https://api.example.test/api/v1" && c.StepDelay == 0 && c.PollInterval == 5*time.Second
			}},
		{name: "FlagBeatsEnvironment", args: []string{"-addr", ":7000"}, env: map[string]string{"ADDR": ":9000"},
			check: func(c Config) bool { return c.Addr == ":7000" }},
		{name: "BadStepDelay", env: map[string]string{"SANDBOX_STEP_DELAY": "soon"}, wantErr: "SANDBOX_STEP_DELAY"},
		{name: "NegativeStepDelay", env: map[string]string{"SANDBOX_STEP_DELAY": "-1s"}, wantErr: "SANDBOX_STEP_DELAY"},
		{name: "PollTooFast", env: map[string]string{"POLL_INTERVAL": "500ms"}, wantErr: "POLL_INTERVAL"},
		{name: "PollTooSlow", env: map[string]string{"POLL_INTERVAL": "6s"}, wantErr: "POLL_INTERVAL"},
		{name: "APIURLWithoutScheme", env: map[string]string{"MANGROVE_API_URL": "app.example.test"}, wantErr: "MANGROVE_API_URL"},
		{name: "UnknownFlag", args: []string{"-nope"}, wantErr: "nope"},
		{name: "ReadOnly", env: map[string]string{"MANGROVE_READ_ONLY": "true"}, check: func(c Config) bool { return c.ReadOnly }},
		{name: "NotReadOnlyByDefault", check: func(c Config) bool { return !c.ReadOnly }},
		{name: "CapsDefault", check: func(c Config) bool {
			return c.MaxConnections == connlimit.DefaultMax() && c.StreamsPerSession == 16 && c.StreamsPerClient == 64
		}},
		{name: "Caps", env: map[string]string{"MAX_CONNECTIONS": "500", "STREAMS_PER_SESSION": "4"}, args: []string{"-streams-per-client", "8"},
			check: func(c Config) bool {
				return c.MaxConnections == 500 && c.StreamsPerSession == 4 && c.StreamsPerClient == 8
			}},
		{name: "CapZero", env: map[string]string{"MAX_CONNECTIONS": "0"}, wantErr: "MAX_CONNECTIONS"},
		{name: "CapNotANumber", env: map[string]string{"STREAMS_PER_SESSION": "many"}, wantErr: "STREAMS_PER_SESSION"},
		{name: "NoProxyTrustedByDefault", check: func(c Config) bool { return len(c.TrustedProxies) == 0 && c.UserHeader == "" }},
		{name: "TrustedProxies", env: map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7", "USER_HEADER": "X-Forwarded-User"},
			check: func(c Config) bool {
				return len(c.TrustedProxies) == 2 && c.TrustedProxies[0].String() == "10.0.0.0/8" && c.TrustedProxies[1].String() == "192.0.2.7/32" &&
					c.UserHeader == "X-Forwarded-User"
			}},
		{name: "TrustedProxiesFlag", args: []string{"-trusted-proxies", "::1", "-user-header", "X-Auth-Request-Email"}, env: map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8"},
			check: func(c Config) bool {
				return len(c.TrustedProxies) == 1 && c.TrustedProxies[0].String() == "::1/128" && c.UserHeader == "X-Auth-Request-Email"
			}},
		{name: "BadTrustedProxy", env: map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8,proxy.internal"}, wantErr: "TRUSTED_PROXIES"},
		{name: "UserHeaderNeedsTrustedProxies", env: map[string]string{"USER_HEADER": "X-Forwarded-User"}, wantErr: "TRUSTED_PROXIES"},
		{name: "SQLiteByDefault", check: func(c Config) bool { return c.DatabaseURL == "" }},
		{name: "DatabaseURL", env: map[string]string{"DATABASE_URL": "postgres://dash:pw@db:5432/dash", "SESSION_SECRET": strings.Repeat("s", 32)},
			check: func(c Config) bool { return c.DatabaseURL == "postgres://dash:pw@db:5432/dash" }},
		{name: "DatabaseURLNeedsSessionSecret", env: map[string]string{"DATABASE_URL": "postgresql://dash:pw@db/dash"}, wantErr: "SESSION_SECRET is not"},
		{name: "DatabaseURLNotPostgres", env: map[string]string{"DATABASE_URL": "mysql://dash:pw@db/dash", "SESSION_SECRET": strings.Repeat("s", 32)}, wantErr: "postgres://"},
		{name: "BadUserHeader", env: map[string]string{"TRUSTED_PROXIES": "10.0.0.1", "USER_HEADER": "X Forwarded User"}, wantErr: "USER_HEADER"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConfig(tt.args, envOf(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Fatalf("unexpected config %+v", c)
			}
		})
	}
}

func TestSessionKeysPersist(t *testing.T) {
	dir := t.TempDir()
	h1, b1, err := sessionKeys(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(dir, "session.key"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v mode %v", err, info.Mode())
	}
	h2, b2, _ := sessionKeys(Config{DataDir: dir})
	if !bytes.Equal(h1, h2) || !bytes.Equal(b1, b2) {
		t.Fatal("keys changed across restarts")
	}
	if _, _, err := sessionKeys(Config{DataDir: dir, SessionSecret: "short"}); err == nil {
		t.Fatal("a short SESSION_SECRET was accepted")
	}
}

func TestParseConfigSandboxFaults(t *testing.T) {
	c, err := ParseConfig(nil, envOf(map[string]string{"SANDBOX_FAULTS": "latency=300ms,error_rate=0.2,status=503,rate_limit=0.1,drop=0.05,fail_generation=0.5"}))
	if err != nil {
		t.Fatal(err)
	}
	want := sandbox.Faults{Latency: 300 * time.Millisecond, ErrorRate: 0.2, Status: 503, RateLimit: 0.1, Drop: 0.05, FailGeneration: 0.5}
	if c.SandboxFaults.String() != want.String() {
		t.Fatalf("faults %s, want %s", c.SandboxFaults, want)
	}
	if c, _ := ParseConfig(nil, envOf(nil)); c.SandboxFaults.Active() {
		t.Fatal("faults are on by default")
	}
	if c, _ := ParseConfig([]string{"-sandbox-faults", "off"}, envOf(map[string]string{"SANDBOX_FAULTS": "drop=1"})); c.SandboxFaults.Active() {
		t.Fatal("the flag does not win over SANDBOX_FAULTS")
	}
	for env, wantErr := range map[string]string{
		"error_rate=2":     `SANDBOX_FAULTS: error_rate "2"`,
		"drop":             "SANDBOX_FAULTS",
		"kaboom=1":         `unknown fault "kaboom"`,
		"latency=1s,url=x": "unknown fault",
	} {
		if _, err := ParseConfig(nil, envOf(map[string]string{"SANDBOX_FAULTS": env})); err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("SANDBOX_FAULTS=%s: %v, want an error with %q", env, err, wantErr)
		}
	}
	_, err = ParseConfig(nil, envOf(map[string]string{"SANDBOX_FAULTS": "drop=0.1", "MANGROVE_API_URL": "https://api.example.test/api/v1"}))
	if err == nil || !strings.Contains(err.Error(), "embedded sandbox only") {
		t.Fatalf("faults with a real API: %v", err)
	}
}
