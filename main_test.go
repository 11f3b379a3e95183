package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
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

// TestHelpListsEveryFlag: -h (and -help, --help) writes every flag with its
// variable and built-in default to stdout and ends without error (exit 0),
// never showing the environment's values.
func TestHelpListsEveryFlag(t *testing.T) {
	for _, arg := range []string{"-h", "-help", "--help"} {
		var out strings.Builder
		env := envOf(map[string]string{"MANGROVE_API_TOKEN": "secret-token-value"})
		if err := run(context.Background(), []string{arg}, env, &out, nil); err != nil {
			t.Fatalf("run %s: %v", arg, err)
		}
		help := out.String()
		for _, want := range []string{
			"-addr", "(ADDR)", `(default "127.0.0.1:8080")`, "-mangrove-api-url", "(MANGROVE_API_URL)",
			"-mangrove-api-token", "-sandbox-addr", "-sandbox-token", "-sandbox-step-delay", "-sandbox-faults",
			"-data-dir", `(default "./data")`, "-session-secret", "-poll-interval", `(default "2s")`,
			"-trusted-proxies", "-user-header", "-mangrove-read-only", "-healthcheck", "-check-api", "-check-api-task",
		} {
			if !strings.Contains(help, want) {
				t.Errorf("%s: help lacks %q", arg, want)
			}
		}
		if strings.Contains(help, "secret-token-value") {
			t.Errorf("%s: help shows the environment's token", arg)
		}
	}
	err := run(context.Background(), []string{"-no-such-flag"}, envOf(nil), io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "-h lists the flags") {
		t.Errorf("unknown flag: %v, want a hint at -h", err)
	}
}
