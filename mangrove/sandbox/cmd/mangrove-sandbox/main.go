// Command mangrove-sandbox runs the local, API-compatible Mangrove sandbox on its own.
//
// Flags (each with an environment twin): -addr (SANDBOX_ADDR, default 127.0.0.1:8081),
// -data-dir (DATA_DIR, default ./data; the database is DATA_DIR/sandbox.db, and both are
// made owner-only, 0700 and 0600, even when they already exist), -token
// (SANDBOX_TOKEN, the demo read-write token; generated once when empty) and
// -step-delay (SANDBOX_STEP_DELAY, default 750ms, time spent per batch) and -faults
// (SANDBOX_FAULTS, default none: faults to inject, e.g. latency=300ms,error_rate=0.2; the
// syntax is in the sandbox's README).
package main

import (
	"context"
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
	"syscall"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/mangrove/sandbox"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "mangrove-sandbox:", err)
		os.Exit(1)
	}
}

type config struct {
	addr      string
	dataDir   string
	token     string
	stepDelay time.Duration
	faults    sandbox.Faults
}

// parseConfig reads flags, defaulting each to its environment variable, then to the built-in default.
func parseConfig(args []string, getenv func(string) string) (config, error) {
	env := func(k, def string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return def
	}
	var c config
	fs := flag.NewFlagSet("mangrove-sandbox", flag.ContinueOnError)
	fs.StringVar(&c.addr, "addr", env("SANDBOX_ADDR", "127.0.0.1:8081"), "listen address (SANDBOX_ADDR)")
	fs.StringVar(&c.dataDir, "data-dir", env("DATA_DIR", "./data"), "directory of the sandbox database (DATA_DIR)")
	fs.StringVar(&c.token, "token", env("SANDBOX_TOKEN", ""), "read-write demo token; generated once when empty (SANDBOX_TOKEN)")
	delay := fs.String("step-delay", env("SANDBOX_STEP_DELAY", "750ms"), "time spent per batch while generating (SANDBOX_STEP_DELAY)")
	faults := fs.String("faults", env("SANDBOX_FAULTS", ""), "faults to inject, e.g. latency=300ms,error_rate=0.2,status=503,rate_limit=0.1,drop=0.05,fail_generation=0.5 (SANDBOX_FAULTS)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	d, err := time.ParseDuration(*delay)
	if err != nil || d < 0 {
		return c, fmt.Errorf("step delay %q: want a non-negative duration such as 750ms", *delay)
	}
	c.stepDelay = d
	if c.faults, err = sandbox.ParseFaults(*faults); err != nil {
		return c, fmt.Errorf("faults (SANDBOX_FAULTS): %w", err)
	}
	return c, nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	c, err := parseConfig(args, getenv)
	if err != nil {
		return err
	}
	if err := sandbox.PrepareDataDir(c.dataDir); err != nil { // 0700: the database holds the tokens
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	sb, err := sandbox.Open(sandbox.Options{DBPath: filepath.Join(c.dataDir, "sandbox.db"), StepDelay: c.stepDelay, Token: c.token, Logger: log, Faults: c.faults})
	if err != nil {
		return err
	}
	defer sb.Close()

	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	srv := sandbox.NewHTTPServer(sb.Handler())
	srv.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	t := sb.Tokens()
	fmt.Fprintf(stdout, "Mangrove sandbox: http://%s/api/v1\n", ln.Addr())
	fmt.Fprintf(stdout, "  read-write token (Cedar Ridge Biochar, Juniper Flats Biochar): %s\n", t.ReadWrite)
	fmt.Fprintf(stdout, "  read-only token  (Cedar Ridge Biochar, Juniper Flats Biochar): %s\n", t.ReadOnly)
	fmt.Fprintf(stdout, "  token of Other Project:                                        %s\n", t.Other)
	if c.faults.Active() {
		fmt.Fprintf(stdout, "  injected faults (SANDBOX_FAULTS):       %s\n", c.faults)
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
