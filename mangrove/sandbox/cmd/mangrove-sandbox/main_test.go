package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/mangrove/sandbox"
)

// syncBuffer lets the test read what run prints while run is still writing.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    config
		wantErr bool
	}{
		{"Defaults", nil, nil, config{addr: "127.0.0.1:8081", dataDir: "./data", stepDelay: 750 * time.Millisecond}, false},
		{"Env", nil, map[string]string{"SANDBOX_ADDR": ":9000", "DATA_DIR": "/tmp/x", "SANDBOX_TOKEN": "tok", "SANDBOX_STEP_DELAY": "0s"},
			config{addr: ":9000", dataDir: "/tmp/x", token: "tok"}, false},
		{"FlagsWinOverEnv", []string{"-addr", ":1", "-step-delay", "2s"}, map[string]string{"SANDBOX_ADDR": ":9000"},
			config{addr: ":1", dataDir: "./data", stepDelay: 2 * time.Second}, false},
		{"BadDelay", []string{"-step-delay", "soon"}, nil, config{}, true},
		{"NegativeDelay", nil, map[string]string{"SANDBOX_STEP_DELAY": "-1s"}, config{}, true},
		{"Faults", nil, map[string]string{"SANDBOX_FAULTS": "latency=300ms,error_rate=0.2,status=502,fail_generation=0.5"},
			config{addr: "127.0.0.1:8081", dataDir: "./data", stepDelay: 750 * time.Millisecond,
				faults: sandbox.Faults{Latency: 300 * time.Millisecond, ErrorRate: 0.2, Status: 502, FailGeneration: 0.5}}, false},
		{"FaultsFlag", []string{"-faults", "drop=0.1"}, map[string]string{"SANDBOX_FAULTS": "error_rate=1"},
			config{addr: "127.0.0.1:8081", dataDir: "./data", stepDelay: 750 * time.Millisecond, faults: sandbox.Faults{Drop: 0.1}}, false},
		{"BadFaults", nil, map[string]string{"SANDBOX_FAULTS": "error_rate=2"}, config{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseConfig(tt.args, func(k string) string { return tt.env[k] })
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRunServesAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	dataDir := t.TempDir()
	if err := os.Chmod(dataDir, 0o755); err != nil { // as an earlier version made it
		t.Fatal(err)
	}
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-data-dir", dataDir}, func(string) string { return "" }, &out)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(out.String(), "Other Project") {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "/api/v1") || !strings.Contains(out.String(), "sbx_rw_") {
		t.Errorf("output %q", out.String())
	}
	for path, want := range map[string]os.FileMode{dataDir: 0o700, filepath.Join(dataDir, "sandbox.db"): 0o600} {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", path, info.Mode().Perm(), want)
		}
	}
}
