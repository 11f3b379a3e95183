// Command mangrove-dashboard serves the batch generation dashboard. With no
// MANGROVE_API_URL it starts the embedded sandbox, a local Mangrove with
// demo data, and uses it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/internal/app"
)

// healthcheckTimeout bounds the -healthcheck probe.
const healthcheckTimeout = 3 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) == 2 && os.Args[1] == "-healthcheck" {
		os.Exit(healthcheck(os.Getenv))
	}
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, nil); err != nil {
		if !errors.Is(err, app.ErrCheckFailed) { // -check-api's report has said what
			fmt.Fprintln(os.Stderr, "mangrove-dashboard:", err)
		}
		os.Exit(1)
	}
}

// run starts the dashboard, serves until ctx ends, then shuts down in order.
// ready, when non-nil, receives the dashboard's address once it listens.
// With -check-api it checks the API instead and returns.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer, ready chan<- string) error {
	cfg, err := app.ParseConfig(args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		app.Usage(stdout)
		return nil
	}
	if err != nil {
		return err
	}
	if cfg.CheckAPI {
		return app.CheckAPI(ctx, cfg, stdout)
	}
	a, err := app.New(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Dashboard:   %s\n", a.URL)
	if a.Sandbox != nil {
		fmt.Fprintf(stdout, "Sandbox API: %s\n", a.APIURL)
		if cfg.SandboxFaults.Active() {
			fmt.Fprintf(stdout, "Sandbox faults (SANDBOX_FAULTS): %s\n", cfg.SandboxFaults)
		}
		fmt.Fprintf(stdout, "Demo token (read-write): %s\n", a.Tokens.ReadWrite)
		fmt.Fprintf(stdout, "Demo token (read-only):  %s\n", a.Tokens.ReadOnly)
	} else {
		fmt.Fprintf(stdout, "Mangrove API: %s\n", a.APIURL)
	}
	if ready != nil {
		ready <- a.Listener.Addr().String()
	}
	return a.Serve(ctx)
}

// healthcheck probes the running dashboard's /healthz, for container
// HEALTHCHECKs on images without curl. It returns the exit code.
func healthcheck(getenv func(string) string) int {
	addr := getenv("ADDR")
	if addr == "" {
		addr = app.DefaultAddr
	}
	if strings.HasPrefix(addr, ":") {
		addr = "127.0.0.1" + addr
	}
	client := &http.Client{Timeout: healthcheckTimeout}
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
