package app

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func testConfig(t *testing.T) Config {
	return Config{
		Addr: "127.0.0.1:0", SandboxAddr: "127.0.0.1:0", DataDir: t.TempDir(),
		PollInterval: time.Second, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	}
}

// TestCloseIsSafeTwiceAtOnce: the server's shutdown hook and the end of
// Serve may close at the same time.
func TestCloseIsSafeTwiceAtOnce(t *testing.T) {
	a, err := New(testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); a.Close() }()
	}
	wg.Wait()
	a.Close()
}

// TestServeWiresEverything: one wiring serves the pages, the sandbox and
// the metrics of the services it built, and stops when its context ends.
func TestServeWiresEverything(t *testing.T) {
	a, err := New(testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	if a.Sandbox == nil || a.Tokens.ReadWrite == "" || a.APIURL == "" {
		t.Fatalf("no embedded sandbox: %+v", a)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	for _, path := range []string{"/healthz", "/signin", "/static/css/app.css"} {
		resp, err := http.Get(a.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", path, resp.StatusCode)
		}
	}
	if _, err := a.Ledgers.LedgerList(ctx, a.Tokens.ReadWrite); err != nil {
		t.Errorf("the ledgers service cannot reach the sandbox: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(ShutdownTimeout + 5*time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
}

// TestNewFailsCleanly: an address in use is an error naming it, not a
// panic, and what New had opened (the sandbox and its port) is released.
func TestNewFailsCleanly(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := testConfig(t)
	cfg.Addr = busy.Addr().String()
	sandboxLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.SandboxAddr = sandboxLn.Addr().String()
	sandboxLn.Close()
	a, err := New(cfg)
	if err == nil || a != nil || !strings.Contains(err.Error(), "dashboard listen") {
		t.Fatalf("New on a busy address: %v, %v", a, err)
	}
	again, err := net.Listen("tcp", cfg.SandboxAddr)
	if err != nil {
		t.Fatalf("the sandbox's port is still held after New failed: %v", err)
	}
	again.Close()
}

// TestDataDirIsTheOwnersOnly: a DATA_DIR that already exists with wide
// modes (0755, files 0644) is narrowed at start-up: the directory to 0700,
// the session key, the dashboard's and the sandbox's databases to 0600
// (sandbox.db holds tokens, dashboard.db the confirmation keys).
func TestDataDirIsTheOwnersOnly(t *testing.T) {
	cfg := testConfig(t)
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(cfg.DataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(cfg.DataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// A first run creates the files; then they are widened, as a copy or a
	// careless chmod would leave them.
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	files, _ := filepath.Glob(filepath.Join(cfg.DataDir, "*"))
	for _, f := range append(files, cfg.DataDir) {
		if err := os.Chmod(f, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	a, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if fi, _ := os.Stat(cfg.DataDir); fi.Mode().Perm() != 0o700 {
		t.Errorf("DATA_DIR mode %v, want 0700", fi.Mode().Perm())
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
		if fi, err := os.Stat(f); err == nil && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", filepath.Base(f), fi.Mode().Perm())
		}
	}
	for _, want := range []string{"dashboard.db", "sandbox.db"} {
		if !slices.Contains(names, want) {
			t.Errorf("no %s in DATA_DIR (%v)", want, names)
		}
	}
}
