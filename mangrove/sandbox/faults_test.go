package sandbox

import (
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseFaults(t *testing.T) {
	t.Parallel()
	valid := []struct {
		in   string
		want Faults
	}{
		{"", Faults{}},
		{"off", Faults{}},
		{" NONE ", Faults{}},
		{"latency=300ms,error_rate=0.2,status=503,rate_limit=0.1,drop=0.05",
			Faults{Latency: 300 * time.Millisecond, ErrorRate: 0.2, Status: 503, RateLimit: 0.1, Drop: 0.05}},
		{"fail_generation=0.5", Faults{FailGeneration: 0.5}},
		{"error_rate=20%, status=500", Faults{ErrorRate: 0.2, Status: 500}},
		{"rate_limit=1,retry_after=2s", Faults{RateLimit: 1, RetryAfter: 2 * time.Second}},
		{"error_rate=1,methods=get|Post|GET,paths=/async_tasks|/batch_generations",
			Faults{ErrorRate: 1, Methods: []string{"GET", "POST"}, Paths: []string{"/async_tasks", "/batch_generations"}}},
		{"drop=0.3,seed=42,pattern=even", Faults{Drop: 0.3, Seed: 42, Even: true}},
		{"Latency=1s,pattern=random", Faults{Latency: time.Second}},
		{"drop=0.5,rate_limit=0.25,error_rate=0.25", Faults{Drop: 0.5, RateLimit: 0.25, ErrorRate: 0.25}},
	}
	for _, tt := range valid {
		got, err := ParseFaults(tt.in)
		if err != nil {
			t.Errorf("ParseFaults(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseFaults(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		back, err := ParseFaults(got.String())
		if err != nil || !reflect.DeepEqual(back, got) {
			t.Errorf("round trip of %q through %q: %+v, %v", tt.in, got.String(), back, err)
		}
	}

	invalid := []struct{ in, wantErr string }{
		{"error_rate", "want key=value"},
		{"=0.2", "want key=value"},
		{"error_rate=0.2,,drop=0.1", "empty item"},
		{"errors=0.2", `unknown fault "errors"`},
		{"drop=0.1,drop=0.2", "drop is given twice"},
		{"latency=", "latency: missing value"},
		{"latency=soon", `latency "soon": want a duration`},
		{"latency=-1s", `latency "-1s"`},
		{"latency=11m", `latency "11m"`},
		{"error_rate=1.5", `error_rate "1.5": want a share from 0 to 1`},
		{"error_rate=-0.1", "error_rate"},
		{"error_rate=NaN", "error_rate"},
		{"drop=150%", "drop"},
		{"rate_limit=lots", "rate_limit"},
		{"fail_generation=2", "fail_generation"},
		{"status=429", "want a server error status from 500 to 599"},
		{"status=abc", "status"},
		{"retry_after=1500ms", "whole seconds"},
		{"retry_after=2h", "retry_after"},
		{"methods=GET|FETCH", `"FETCH" is not one of`},
		{"paths=async_tasks", "must start with /"},
		{"paths=/a b", "must start with /"},
		{"seed=-1", "unsigned integer"},
		{"pattern=chaos", "want random or even"},
		{"drop=0.5,error_rate=0.6", "cannot add up to more than 1"},
	}
	for _, tt := range invalid {
		_, err := ParseFaults(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ParseFaults(%q): error %v, want one containing %q", tt.in, err, tt.wantErr)
		}
	}
}

// FuzzParseFaults: no input panics; whatever parses is valid and survives a round trip
// through its canonical form.
func FuzzParseFaults(f *testing.F) {
	for _, s := range []string{
		"", "off", "latency=300ms,error_rate=0.2,status=503,rate_limit=0.1,drop=0.05",
		"fail_generation=0.5", "error_rate=20%", "methods=GET|POST,paths=/x|/y", "seed=18446744073709551615",
		"pattern=even,drop=1", "retry_after=3s,rate_limit=1", "drop=0.5,error_rate=0.6", "latency=1e3ms",
		"error_rate=1e-320", "status=5e2", "paths=/\u00e9", "a=b=c", ",", "error_rate=0x1p-2",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseFaults(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if verr := got.Validate(); verr != nil {
			t.Fatalf("ParseFaults(%q) accepted invalid settings: %v", s, verr)
		}
		back, err := ParseFaults(got.String())
		if err != nil || !reflect.DeepEqual(back, got) {
			t.Fatalf("round trip of %q via %q: %+v (%v), want %+v", s, got.String(), back, err, got)
		}
	})
}

func TestOpenRejectsInvalidFaults(t *testing.T) {
	t.Parallel()
	_, err := Open(Options{DBPath: filepath.Join(t.TempDir(), "s.db"), Faults: Faults{ErrorRate: 2}})
	if err == nil || !strings.Contains(err.Error(), "error_rate") {
		t.Fatalf("Open with error_rate 2: %v", err)
	}
}

func TestFaultsHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	const ledgers = "GET /api/v1/ledgers"
	set := func(t *testing.T, spec string) { // t of the subtest, which a bad spec ends
		t.Helper()
		f, err := ParseFaults(spec)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.s.SetFaults(f); err != nil {
			t.Fatal(err)
		}
		if e.s.Faults().String() != f.String() {
			t.Fatalf("Faults() = %s, want %s", e.s.Faults(), f)
		}
	}

	t.Run("ErrorStatus", func(t *testing.T) {
		e := e.with(t)
		set(t, "error_rate=1,status=502")
		before := e.s.RequestCount(ledgers)
		r := e.do("GET", "/api/v1/ledgers", e.tok.ReadWrite, nil)
		if r.status != http.StatusBadGateway || !strings.Contains(r.message(t), "injected fault") {
			t.Fatalf("status %d %s", r.status, r.body)
		}
		if e.s.RequestCount(ledgers) != before+1 {
			t.Error("an injected failure was not counted")
		}
		set(t, "error_rate=1")
		if r := e.do("GET", "/api/v1/ledgers", e.tok.ReadWrite, nil); r.status != http.StatusServiceUnavailable {
			t.Fatalf("default status %d, want 503", r.status)
		}
	})
	t.Run("RateLimit", func(t *testing.T) {
		e := e.with(t)
		set(t, "rate_limit=1,retry_after=2s")
		r := e.do("GET", "/api/v1/ledgers", e.tok.ReadWrite, nil)
		if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "2" {
			t.Fatalf("status %d Retry-After %q", r.status, r.header.Get("Retry-After"))
		}
		set(t, "rate_limit=1")
		if r := e.do("GET", "/api/v1/ledgers", e.tok.ReadWrite, nil); r.header.Get("Retry-After") != "1" {
			t.Fatalf("default Retry-After %q, want 1", r.header.Get("Retry-After"))
		}
	})
	t.Run("Drop", func(t *testing.T) {
		e := e.with(t)
		set(t, "drop=1")
		req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/ledgers", nil)
		req.Header.Set("Authorization", "Bearer "+e.tok.ReadWrite)
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("a dropped connection answered %d", resp.StatusCode)
		}
	})
	t.Run("Latency", func(t *testing.T) {
		e := e.with(t)
		set(t, "latency=150ms")
		start := time.Now()
		if r := e.do("GET", "/api/v1/ledgers", e.tok.ReadWrite, nil); r.status != http.StatusOK {
			t.Fatalf("status %d", r.status)
		}
		if d := time.Since(start); d < 150*time.Millisecond {
			t.Fatalf("answered in %s, want at least the added 150ms", d)
		}
	})
	t.Run("Filters", func(t *testing.T) {
		e := e.with(t)
		set(t, "error_rate=1,methods=POST,paths=/generate_preview|/async_tasks")
		if r := e.do("GET", "/api/v1/ledgers", e.tok.ReadWrite, nil); r.status != http.StatusOK {
			t.Fatalf("GET ledgers is not filtered in: %d", r.status)
		}
		if r := e.do("GET", "/api/v1/async_tasks/1", e.tok.ReadWrite, nil); r.status != http.StatusOK {
			t.Fatalf("GET async_tasks with methods=POST: %d", r.status)
		}
		ncr := e.ledgerID("Net Carbon Removal")
		if r := e.do("POST", "/api/v1/ledgers/"+ncr+"/generate_preview", e.tok.ReadWrite, q1); r.status != http.StatusServiceUnavailable {
			t.Fatalf("POST preview: %d, want 503", r.status)
		}
	})
	t.Run("EvenPatternIsExact", func(t *testing.T) {
		e := e.with(t)
		set(t, "error_rate=0.3,rate_limit=0.1,pattern=even")
		counts := map[int]int{}
		for range 100 {
			counts[e.do("GET", "/api/v1/projects", e.tok.ReadWrite, nil).status]++
		}
		if counts[503] < 29 || counts[503] > 31 || counts[429] < 9 || counts[429] > 11 {
			t.Fatalf("100 requests at error_rate 0.3, rate_limit 0.1: %v", counts)
		}
	})
	t.Run("SeedRepeats", func(t *testing.T) {
		e := e.with(t)
		run := func() string {
			set(t, "error_rate=0.5,seed=7")
			var b strings.Builder
			for range 40 {
				if e.do("GET", "/api/v1/projects", e.tok.ReadWrite, nil).status == http.StatusOK {
					b.WriteByte('.')
				} else {
					b.WriteByte('x')
				}
			}
			return b.String()
		}
		a, b := run(), run()
		if a != b || !strings.Contains(a, "x") || !strings.Contains(a, ".") {
			t.Fatalf("seeded sequences differ or are one-sided:\n%s\n%s", a, b)
		}
	})
	t.Run("Off", func(t *testing.T) {
		e := e.with(t)
		set(t, "error_rate=1")
		if err := e.s.SetFaults(Faults{}); err != nil {
			t.Fatal(err)
		}
		if r := e.do("GET", "/api/v1/ledgers", e.tok.ReadWrite, nil); r.status != http.StatusOK {
			t.Fatalf("after SetFaults(Faults{}): %d", r.status)
		}
		if e.s.SetFaults(Faults{Status: 404, ErrorRate: 1}) == nil {
			t.Fatal("SetFaults accepted status 404")
		}
	})
}

func TestFailGenerationMidway(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Faults: Faults{FailGeneration: 1}})
	ncr := e.ledgerID("Net Carbon Removal")
	task := e.waitTask(e.startGeneration(ncr, q1).ID)
	if task.State != "failed" || task.ErrorMessage == nil || !strings.Contains(*task.ErrorMessage, "aborted after 6 of 12 batches") {
		t.Fatalf("task %+v, error %v", task, task.ErrorMessage)
	}
	if task.Progress <= 0 || task.Progress >= 100 || task.FinishedAt == nil {
		t.Errorf("a midway failure: progress %d, finished %v", task.Progress, task.FinishedAt)
	}
	// Half of Q1's batches were written before the failure, as in a real crash.
	written, _ := e.batches("/api/v1/batches?page_size=100&filter[start_time][geq]=2025-01-01T00:00:00Z")
	if len(written) != 6 {
		t.Errorf("%d Q1 batches written before the failure, want 6", len(written))
	}

	if err := e.s.SetFaults(Faults{}); err != nil {
		t.Fatal(err)
	}
	if task := e.waitTask(e.startGeneration(ncr, q1).ID); task.State != "complete" {
		t.Fatalf("without faults the generation ends %s", task.State)
	}
}
