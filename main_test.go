package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(config) bool
		wantErr string
	}{
		{name: "Defaults", check: func(c config) bool {
			return c.Addr == "127.0.0.1:8080" && c.APIURL == "" && c.SandboxAddr == "127.0.0.1:8081" &&
				c.StepDelay == 750*time.Millisecond && c.DataDir == "./data" && c.PollInterval == 2*time.Second
		}},
		{name: "Environment", env: map[string]string{"ADDR": ":9000", "MANGROVE_API_URL": "https://api.example.test/api/v1/", "SANDBOX_STEP_DELAY": "0", "POLL_INTERVAL": "5s"},
			check: func(c config) bool {
				return c.Addr == ":9000" && c.APIURL == "https://api.example.test/api/v1" && c.StepDelay == 0 && c.PollInterval == 5*time.Second
			}},
		{name: "FlagBeatsEnvironment", args: []string{"-addr", ":7000"}, env: map[string]string{"ADDR": ":9000"},
			check: func(c config) bool { return c.Addr == ":7000" }},
		{name: "BadStepDelay", env: map[string]string{"SANDBOX_STEP_DELAY": "soon"}, wantErr: "SANDBOX_STEP_DELAY"},
		{name: "NegativeStepDelay", env: map[string]string{"SANDBOX_STEP_DELAY": "-1s"}, wantErr: "SANDBOX_STEP_DELAY"},
		{name: "PollTooFast", env: map[string]string{"POLL_INTERVAL": "500ms"}, wantErr: "POLL_INTERVAL"},
		{name: "PollTooSlow", env: map[string]string{"POLL_INTERVAL": "6s"}, wantErr: "POLL_INTERVAL"},
		{name: "APIURLWithoutScheme", env: map[string]string{"MANGROVE_API_URL": "app.example.test"}, wantErr: "MANGROVE_API_URL"},
		{name: "UnknownFlag", args: []string{"-nope"}, wantErr: "nope"},
		{name: "NoProxyTrustedByDefault", check: func(c config) bool { return len(c.TrustedProxies) == 0 && c.UserHeader == "" }},
		{name: "TrustedProxies", env: map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7", "USER_HEADER": "X-Forwarded-User"},
			check: func(c config) bool {
				return len(c.TrustedProxies) == 2 && c.TrustedProxies[0].String() == "10.0.0.0/8" && c.TrustedProxies[1].String() == "192.0.2.7/32" &&
					c.UserHeader == "X-Forwarded-User"
			}},
		{name: "TrustedProxiesFlag", args: []string{"-trusted-proxies", "::1", "-user-header", "X-Auth-Request-Email"}, env: map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8"},
			check: func(c config) bool {
				return len(c.TrustedProxies) == 1 && c.TrustedProxies[0].String() == "::1/128" && c.UserHeader == "X-Auth-Request-Email"
			}},
		{name: "BadTrustedProxy", env: map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8,proxy.internal"}, wantErr: "TRUSTED_PROXIES"},
		{name: "UserHeaderNeedsTrustedProxies", env: map[string]string{"USER_HEADER": "X-Forwarded-User"}, wantErr: "TRUSTED_PROXIES"},
		{name: "BadUserHeader", env: map[string]string{"TRUSTED_PROXIES": "10.0.0.1", "USER_HEADER": "X Forwarded User"}, wantErr: "USER_HEADER"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseConfig(tt.args, envOf(tt.env))
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
	h1, b1, err := sessionKeys(config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(dir, "session.key"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v mode %v", err, info.Mode())
	}
	h2, b2, _ := sessionKeys(config{DataDir: dir})
	if !bytes.Equal(h1, h2) || !bytes.Equal(b1, b2) {
		t.Fatal("keys changed across restarts")
	}
	if _, _, err := sessionKeys(config{DataDir: dir, SessionSecret: "short"}); err == nil {
		t.Fatal("a short SESSION_SECRET was accepted")
	}
}

// TestRunServesAndStops starts the real program on the embedded sandbox,
// checks it serves, and stops it as SIGTERM would.
func TestRunServesAndStops(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"ADDR": "127.0.0.1:0", "SANDBOX_ADDR": "127.0.0.1:0", "DATA_DIR": dir, "SANDBOX_STEP_DELAY": "0"}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, envOf(env), &out, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("run ended early: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("not ready after 30s")
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", err, resp)
	}
	resp.Body.Close()
	for path, want := range map[string]string{
		"/readyz":  `"status":"ready"`,
		"/metrics": `dashboard_http_requests_total{method="GET",route="/healthz",status="200"} 1`,
	} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d, want a body with %s", path, resp.StatusCode, want)
		}
		if path == "/metrics" && !strings.Contains(string(body), "go_goroutines") {
			t.Error("/metrics lacks the Go runtime metrics")
		}
	}
	if !strings.Contains(out.String(), "Demo token (read-write): ") || !strings.Contains(out.String(), "Sandbox API: http://") {
		t.Errorf("start-up output lacks the sandbox URL or demo token:\n%s", out.String())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("did not stop within 20s")
	}
	if healthcheck(envOf(map[string]string{"ADDR": addr})) == 0 {
		t.Error("healthcheck passes against a stopped server")
	}
}
