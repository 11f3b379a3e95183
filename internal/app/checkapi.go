package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/carbon-dash/mangrove-dashboard/internal/checkapi"
	"github.com/carbon-dash/mangrove-dashboard/mangrove/sandbox"
)

// ErrCheckFailed is CheckAPI's error when something the dashboard needs is
// broken; the printed report's last line already names it.
var ErrCheckFailed = errors.New("check-api: something the dashboard needs is broken")

// sandboxSeedTaskID is the task the sandbox's seed runs at first start (the
// generation of 2024, mangrove/sandbox/README.md "Seeded data"): a task id
// known without starting one.
const sandboxSeedTaskID = 1

// CheckAPI runs the read-only conformance check (-check-api) against
// cfg.APIURL with cfg.APIToken, or, with no URL, against a fresh embedded
// sandbox, and prints its table to stdout. It returns ErrCheckFailed when
// something the dashboard needs is broken.
func CheckAPI(ctx context.Context, cfg Config, stdout io.Writer) error {
	opts := checkapi.Options{BaseURL: cfg.APIURL, Token: cfg.APIToken, TaskID: cfg.CheckAPITask}
	if cfg.APIURL == "" {
		sb, err := startCheckSandbox(cfg)
		if err != nil {
			return err
		}
		defer sb.Close()
		opts.BaseURL, opts.Token = sb.APIURL, sb.Tokens.ReadWrite
		if opts.TaskID == 0 {
			opts.TaskID = sandboxSeedTaskID
		}
	} else if cfg.APIToken == "" {
		return errors.New("-check-api: MANGROVE_API_TOKEN is required with MANGROVE_API_URL (a read-only token is enough)")
	}
	rep, err := checkapi.Run(ctx, opts)
	if perr := rep.Print(stdout); perr != nil && err == nil {
		err = perr
	}
	if err != nil {
		return err
	}
	if !rep.OK() {
		return ErrCheckFailed
	}
	return nil
}

// startCheckSandbox starts the embedded sandbox as the dashboard does
// (App.startSandbox), on a fresh database in a directory of its own and on
// a free port; Close stops it and removes the directory. The check must neither touch the sandbox.db a running
// dashboard uses (opening it fails that dashboard's running tasks) nor
// need its port. Faults are off: the check is of shapes, not resilience.
func startCheckSandbox(cfg Config) (*App, error) {
	dir, err := checkDir(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("-check-api: %w", err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	a := &App{Logger: logger}
	a.closers = append(a.closers, func() { _ = os.RemoveAll(dir) })
	cfg.DataDir, cfg.SandboxAddr, cfg.SandboxFaults = dir, "127.0.0.1:0", sandbox.Faults{}
	cfg.PrepareSandbox, cfg.WrapSandbox = nil, nil
	if err := a.startSandbox(cfg); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// checkDir makes a fresh directory in DATA_DIR (where the container can
// write), else in the system's temporary directory.
func checkDir(dataDir string) (string, error) {
	if err := os.MkdirAll(dataDir, 0o700); err == nil {
		if dir, err := os.MkdirTemp(dataDir, "check-api-"); err == nil {
			return dir, nil
		}
	}
	return os.MkdirTemp("", "mangrove-check-api-")
}
