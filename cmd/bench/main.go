// Command bench measures the dashboard where its users and operators feel it
// and writes BENCHMARKS.md (issue 5):
//
//	go run ./cmd/bench -out BENCHMARKS.md
//
// 1. upstream fan-out of the task watchers; 2. event latency; 3. connection
// capacity of the event streams; 4. page overhead; 5. the sandbox engine over
// about 1,000,000 data points; 6. pages against a slow API (rounds and calls
// a view, reconnect stampedes, lean list decoding); 7. several replicas
// sharing PostgreSQL (upstream polls of the fleet, failover after a SIGKILL;
// needs DATABASE_URL or TEST_DATABASE_URL, skipped without). Each compares with a
// baseline measured in the same run (or, for the fan-out, defined by the
// issue; for most of section 6, issue 13's measurement of the previous code,
// which cannot run here), and states the machine, the command and the date.
// It runs in a few minutes on 2 cores. -only picks sections, -quick shrinks
// them for a smoke run, -profile keeps the CPU and heap profiles.
//
// The tool is a main package, so `go test ./...` builds it but runs nothing.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type config struct {
	out        string
	only       map[int]bool
	quick      bool
	profileDir string
	seedCache  string
}

func (c config) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

// benchCommand is how the tool is run from the module's root; the report
// names it with the flags of the run.
const benchCommand = "go run ./cmd/bench"

// sectionCount is the number of sections, numbered from 1.
const sectionCount = 7

func main() {
	if len(os.Args) > 1 && os.Args[1] == childFlag {
		if err := runCapacityChild(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench child:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == replicaChildFlag {
		if err := runReplicaChild(); err != nil {
			fmt.Fprintln(os.Stderr, "bench replica:", err)
			os.Exit(1)
		}
		return
	}
	cfg := parseConfig()
	raiseFileLimit()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	command := benchCommand + " " + strings.Join(os.Args[1:], " ")
	m := thisMachine(strings.TrimSpace(command))
	secs, failed := runSections(ctx, cfg)
	report := renderReport(m, secs)
	if cfg.out == "-" {
		fmt.Print(report)
	} else if err := os.WriteFile(cfg.out, []byte(report), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	} else {
		cfg.logf("wrote %s", cfg.out)
	}
	if failed {
		os.Exit(1)
	}
}

// parseConfig reads the flags; it exits on a bad -only or profile directory.
func parseConfig() config {
	var cfg config
	var only string
	flag.StringVar(&cfg.out, "out", "BENCHMARKS.md", `where to write the report ("-" for stdout)`)
	flag.StringVar(&only, "only", "1,2,3,4,5,6,7", "comma-separated sections to run (1 to 7); a partial run writes only those")
	flag.BoolVar(&cfg.quick, "quick", false, "smaller sizes, for a smoke run (figures not comparable)")
	flag.StringVar(&cfg.profileDir, "profile", "", "directory to keep CPU and heap profiles in")
	flag.StringVar(&cfg.seedCache, "seed-cache", "", "directory to keep the seeded engine file in and reuse it from (saves the seeding time when iterating)")
	flag.Parse()
	cfg.only = map[int]bool{}
	for _, s := range strings.Split(only, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > sectionCount {
			fmt.Fprintf(os.Stderr, "bench: -only %q: want numbers 1 to %d\n", only, sectionCount)
			os.Exit(2)
		}
		cfg.only[n] = true
	}
	if cfg.profileDir != "" {
		if err := os.MkdirAll(cfg.profileDir, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
	return cfg
}

// runSections runs the chosen sections in order; a failed one is reported
// in its place.
func runSections(ctx context.Context, cfg config) (secs []section, failed bool) {
	runners := map[int]func(context.Context, config) (section, error){
		fanoutNum: runFanout, latencyNum: runLatency, capacityNum: runCapacity, pagesNum: runPages, engineNum: runEngine,
		slowNum: runSlowAPI, replicasNum: runReplicas,
	}
	for n := 1; n <= sectionCount; n++ {
		if !cfg.only[n] {
			continue
		}
		cfg.logf("section %d", n)
		t := time.Now()
		s, err := runners[n](ctx, cfg)
		s.Elapsed = time.Since(t)
		if err != nil {
			cfg.logf("section %d failed: %v", n, err)
			failed = true
			s.Num = n
			if s.Title == "" {
				s.Title = fmt.Sprintf("Section %d", n)
			}
			s.Notes = "**This section failed in this run:** " + err.Error()
		}
		secs = append(secs, s)
		if ctx.Err() != nil {
			break
		}
	}
	return secs, failed
}

// raiseFileLimit lifts the soft limit on open files to the hard limit: the
// capacity test holds 10,000 connections (its child does the same).
func raiseFileLimit() uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
	}
	return l.Cur
}

// pprofTop renders the top entries of a profile with the Go toolchain's pprof.
func pprofTop(file, sampleIndex string, n int) string {
	if file == "" {
		return "(no profile)\n"
	}
	args := []string{"tool", "pprof", "-top", "-nodecount=" + strconv.Itoa(n)}
	if sampleIndex != "" {
		args = append(args, "-sample_index="+sampleIndex)
	}
	args = append(args, file)
	out, err := exec.Command(goTool(), args...).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("(go tool pprof failed: %v)\n", err)
	}
	// Keep the summary and the table; drop the file and type header lines.
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "File:") || strings.HasPrefix(l, "Build ID:") || strings.HasPrefix(l, "Type:") || strings.HasPrefix(l, "Time:") {
			continue
		}
		keep = append(keep, strings.TrimRight(l, " "))
	}
	return strings.TrimLeft(strings.Join(keep, "\n"), "\n")
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go" // not on PATH: let the error name it
}
