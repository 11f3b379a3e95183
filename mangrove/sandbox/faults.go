package sandbox

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Faults make the sandbox misbehave on purpose, so that a client can be tested against a
// slow, failing or overloaded API. The zero value injects nothing; it is the default.
//
// HTTP faults apply to the requests that match Methods and Paths (all requests when both
// are empty). Each matching request first waits Latency, then one draw decides whether
// its connection is dropped (share Drop), it is answered 429 with Retry-After (share
// RateLimit), it is answered with Status (share ErrorRate), or it is served normally.
// The three shares are exclusive, so they cannot add up to more than 1.
//
// FailGeneration is the share of batch generations that fail midway: half of their
// batches are written, then the task ends "failed" with an error_message.
type Faults struct {
	Latency        time.Duration // added before each matching request is served
	ErrorRate      float64       // share of matching requests answered with Status
	Status         int           // status of injected errors, 500-599; 0 means 503
	RateLimit      float64       // share of matching requests answered 429 with Retry-After
	RetryAfter     time.Duration // Retry-After of injected 429s, whole seconds; 0 means 1s
	Drop           float64       // share of matching requests whose connection is closed unanswered
	FailGeneration float64       // share of generation tasks that fail midway
	Methods        []string      // only requests with these methods (upper case); empty: any
	Paths          []string      // only requests whose path contains one of these; empty: any
	Seed           uint64        // seed of the random draws, for a reproducible sequence; 0: random
	Even           bool          // spread faults evenly (a fixed low-discrepancy sequence) instead of at random
}

// Limits of the fault settings.
const (
	maxFaultLatency    = 10 * time.Minute
	maxFaultRetryAfter = time.Hour
)

// faultKeys are the keys of the SANDBOX_FAULTS syntax, in canonical order.
var faultKeys = []string{"latency", "error_rate", "status", "rate_limit", "retry_after", "drop", "fail_generation", "methods", "paths", "seed", "pattern"}

var faultMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// ParseFaults reads the SANDBOX_FAULTS syntax: comma-separated key=value pairs, e.g.
//
//	latency=300ms,error_rate=0.2,status=503,rate_limit=0.1,drop=0.05,fail_generation=0.5
//
// Keys: latency and retry_after (Go durations), error_rate, rate_limit, drop and
// fail_generation (a share from 0 to 1, or a percentage such as 20%), status (500-599),
// methods and paths (lists separated by "|", e.g. methods=GET|POST,
// paths=/async_tasks|/batch_generations), seed (an unsigned integer) and pattern (random
// or even). An empty string, "off" or "none" means no faults. Each error names the
// offending item.
func ParseFaults(s string) (Faults, error) {
	var f Faults
	s = strings.TrimSpace(s)
	if s == "" || strings.EqualFold(s, "off") || strings.EqualFold(s, "none") {
		return f, nil
	}
	seen := map[string]bool{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return Faults{}, errors.New("empty item: separate key=value pairs with single commas")
		}
		key, val, ok := strings.Cut(item, "=")
		key, val = strings.ToLower(strings.TrimSpace(key)), strings.TrimSpace(val)
		if !ok || key == "" {
			return Faults{}, fmt.Errorf("%q: want key=value, e.g. error_rate=0.2", short(item))
		}
		if !slices.Contains(faultKeys, key) {
			return Faults{}, fmt.Errorf("unknown fault %q (known: %s)", short(key), strings.Join(faultKeys, ", "))
		}
		if seen[key] {
			return Faults{}, fmt.Errorf("%s is given twice", key)
		}
		seen[key] = true
		if val == "" {
			return Faults{}, fmt.Errorf("%s: missing value", key)
		}
		var err error
		switch key {
		case "latency":
			f.Latency, err = parseFaultDuration(key, val, maxFaultLatency)
		case "retry_after":
			f.RetryAfter, err = parseFaultDuration(key, val, maxFaultRetryAfter)
			if err == nil && f.RetryAfter%time.Second != 0 {
				err = fmt.Errorf("retry_after %q: Retry-After is in whole seconds, e.g. 1s or 2s", short(val))
			}
		case "error_rate":
			f.ErrorRate, err = parseShare(key, val)
		case "rate_limit":
			f.RateLimit, err = parseShare(key, val)
		case "drop":
			f.Drop, err = parseShare(key, val)
		case "fail_generation":
			f.FailGeneration, err = parseShare(key, val)
		case "status":
			n, perr := strconv.Atoi(val)
			if perr != nil || n < 500 || n > 599 {
				err = fmt.Errorf("status %q: want a server error status from 500 to 599 (429 is rate_limit)", short(val))
			}
			f.Status = n
		case "methods":
			for _, m := range strings.Split(val, "|") {
				m = strings.ToUpper(strings.TrimSpace(m))
				if !slices.Contains(faultMethods, m) {
					err = fmt.Errorf("methods: %q is not one of %s (separate several with |)", short(m), strings.Join(faultMethods, ", "))
					break
				}
				if !slices.Contains(f.Methods, m) {
					f.Methods = append(f.Methods, m)
				}
			}
		case "paths":
			for _, p := range strings.Split(val, "|") {
				p = strings.TrimSpace(p)
				if !strings.HasPrefix(p, "/") || strings.ContainsFunc(p, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '?' || r == '#' }) {
					err = fmt.Errorf("paths: %q must start with / and contain no spaces, controls, ? or # (separate several with |)", short(p))
					break
				}
				if !slices.Contains(f.Paths, p) {
					f.Paths = append(f.Paths, p)
				}
			}
		case "seed":
			f.Seed, err = strconv.ParseUint(val, 10, 64)
			if err != nil {
				err = fmt.Errorf("seed %q: want an unsigned integer", short(val))
			}
		case "pattern":
			switch strings.ToLower(val) {
			case "random":
			case "even":
				f.Even = true
			default:
				err = fmt.Errorf("pattern %q: want random or even", short(val))
			}
		}
		if err != nil {
			return Faults{}, err
		}
	}
	if err := f.Validate(); err != nil {
		return Faults{}, err
	}
	return f, nil
}

func short(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
}

func parseFaultDuration(key, val string, limit time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(val)
	if err != nil || d < 0 || d > limit {
		return 0, fmt.Errorf("%s %q: want a duration from 0 to %s, e.g. 300ms", key, short(val), limit)
	}
	return d, nil
}

func parseShare(key, val string) (float64, error) {
	raw, pct := strings.CutSuffix(val, "%")
	p, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
	if pct {
		p /= 100
	}
	if err != nil || math.IsNaN(p) || p < 0 || p > 1 {
		return 0, fmt.Errorf("%s %q: want a share from 0 to 1, e.g. 0.2 or 20%%", key, short(val))
	}
	return p, nil
}

// Validate checks settings built in code the way ParseFaults checks text.
func (f Faults) Validate() error {
	for _, s := range []struct {
		name string
		v    float64
	}{{"error_rate", f.ErrorRate}, {"rate_limit", f.RateLimit}, {"drop", f.Drop}, {"fail_generation", f.FailGeneration}} {
		if math.IsNaN(s.v) || s.v < 0 || s.v > 1 {
			return fmt.Errorf("%s %v: want a share from 0 to 1", s.name, s.v)
		}
	}
	if sum := f.Drop + f.RateLimit + f.ErrorRate; sum > 1+1e-9 {
		return fmt.Errorf("drop + rate_limit + error_rate = %g: each request gets at most one fault, so the shares cannot add up to more than 1", sum)
	}
	if f.Status != 0 && (f.Status < 500 || f.Status > 599) {
		return fmt.Errorf("status %d: want a server error status from 500 to 599", f.Status)
	}
	if f.Latency < 0 || f.Latency > maxFaultLatency {
		return fmt.Errorf("latency %s: want a duration from 0 to %s", f.Latency, maxFaultLatency)
	}
	if f.RetryAfter < 0 || f.RetryAfter > maxFaultRetryAfter || f.RetryAfter%time.Second != 0 {
		return fmt.Errorf("retry_after %s: want whole seconds from 0 to %s", f.RetryAfter, maxFaultRetryAfter)
	}
	return nil
}

// Active reports whether any fault is set.
func (f Faults) Active() bool {
	return f.Latency > 0 || f.ErrorRate > 0 || f.RateLimit > 0 || f.Drop > 0 || f.FailGeneration > 0
}

func (f Faults) httpActive() bool {
	return f.Latency > 0 || f.ErrorRate > 0 || f.RateLimit > 0 || f.Drop > 0
}

// String is the canonical SANDBOX_FAULTS form; ParseFaults reads it back to the same
// settings. No faults is "off".
func (f Faults) String() string {
	var parts []string
	add := func(k, v string) { parts = append(parts, k+"="+v) }
	share := func(p float64) string { return strconv.FormatFloat(p, 'g', -1, 64) }
	if f.Latency > 0 {
		add("latency", f.Latency.String())
	}
	if f.ErrorRate > 0 {
		add("error_rate", share(f.ErrorRate))
	}
	if f.Status != 0 {
		add("status", strconv.Itoa(f.Status))
	}
	if f.RateLimit > 0 {
		add("rate_limit", share(f.RateLimit))
	}
	if f.RetryAfter > 0 {
		add("retry_after", f.RetryAfter.String())
	}
	if f.Drop > 0 {
		add("drop", share(f.Drop))
	}
	if f.FailGeneration > 0 {
		add("fail_generation", share(f.FailGeneration))
	}
	if len(f.Methods) > 0 {
		add("methods", strings.Join(f.Methods, "|"))
	}
	if len(f.Paths) > 0 {
		add("paths", strings.Join(f.Paths, "|"))
	}
	if f.Seed != 0 {
		add("seed", strconv.FormatUint(f.Seed, 10))
	}
	if f.Even {
		add("pattern", "even")
	}
	if len(parts) == 0 {
		return "off"
	}
	return strings.Join(parts, ",")
}

func (f Faults) matches(r *http.Request) bool {
	if len(f.Methods) > 0 && !slices.Contains(f.Methods, r.Method) {
		return false
	}
	if len(f.Paths) == 0 {
		return true
	}
	for _, p := range f.Paths {
		if strings.Contains(r.URL.Path, p) {
			return true
		}
	}
	return false
}

// faultState is the live fault settings and their source of randomness.
type faultState struct {
	f Faults

	mu       sync.Mutex
	rng      *rand.Rand
	requests uint64 // matching requests drawn for, for the even pattern
	gens     uint64 // generations drawn for, for the even pattern
}

func newFaultState(f Faults) *faultState {
	f.Methods, f.Paths = slices.Clone(f.Methods), slices.Clone(f.Paths)
	seed := f.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	return &faultState{f: f, rng: rand.New(rand.NewPCG(seed, 0x5eed))}
}

// evenStep is the fractional part of the golden ratio: n*evenStep mod 1 fills [0,1)
// evenly, so every share of a run of requests gets its share of faults.
const evenStep = 0.6180339887498949

func (st *faultState) draw(counter *uint64) float64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	*counter++
	if st.f.Even {
		_, frac := math.Modf(float64(*counter) * evenStep)
		return frac
	}
	return st.rng.Float64()
}

type faultKind int

const (
	noFault faultKind = iota
	dropFault
	rateLimitFault
	errorFault
)

func (st *faultState) pick() faultKind {
	if st.f.Drop == 0 && st.f.RateLimit == 0 && st.f.ErrorRate == 0 {
		return noFault
	}
	u := st.draw(&st.requests)
	switch {
	case u < st.f.Drop:
		return dropFault
	case u < st.f.Drop+st.f.RateLimit:
		return rateLimitFault
	case u < st.f.Drop+st.f.RateLimit+st.f.ErrorRate:
		return errorFault
	}
	return noFault
}

// SetFaults replaces the fault settings at run time (tests turn faults on and off with
// it); Faults{} turns them off. Each call restarts the random sequence from the seed.
func (s *Server) SetFaults(f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	if !f.Active() {
		s.faults.Store(nil)
		return nil
	}
	s.faults.Store(newFaultState(f))
	return nil
}

// Faults returns the current fault settings.
func (s *Server) Faults() Faults {
	if st := s.faults.Load(); st != nil {
		f := st.f
		f.Methods, f.Paths = slices.Clone(f.Methods), slices.Clone(f.Paths)
		return f
	}
	return Faults{}
}

// injectFault applies the HTTP faults to a request. It returns the request to serve
// (after added latency the request no longer ends when the client gives up: a slow
// server still does the work, so a timed-out POST may well have started a generation)
// and whether the request was answered (or dropped) here.
func (s *Server) injectFault(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	st := s.faults.Load()
	if st == nil || !st.f.httpActive() || !st.f.matches(r) {
		return r, false
	}
	if d := st.f.Latency; d > 0 {
		extendDeadlines(w, d)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-s.closing:
			t.Stop()
		}
		r = r.WithContext(context.WithoutCancel(r.Context()))
	}
	switch st.pick() {
	case dropFault:
		dropConnection(w)
		return r, true
	case rateLimitFault:
		retry := st.f.RetryAfter
		if retry == 0 {
			retry = time.Second
		}
		secs := int(retry / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		writeError(w, http.StatusTooManyRequests, "rate limit exceeded (injected fault); retry in %d s", secs)
		return r, true
	case errorFault:
		status := st.f.Status
		if status == 0 {
			status = http.StatusServiceUnavailable
		}
		writeError(w, status, "service unavailable (injected fault, status %d)", status)
		return r, true
	}
	return r, false
}

// dropConnection closes the client's connection without an answer.
func dropConnection(w http.ResponseWriter) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		_ = conn.Close()
		return
	}
	panic(http.ErrAbortHandler) // HTTP/2 or a wrapped writer: abort the stream instead
}

// generationFailAt reports after how many of n batches a starting generation fails
// (midway: n/2), or -1 when it runs normally.
func (s *Server) generationFailAt(n int) int {
	st := s.faults.Load()
	if st == nil || st.f.FailGeneration == 0 {
		return -1
	}
	if st.draw(&st.gens) >= st.f.FailGeneration {
		return -1
	}
	return n / 2
}

// injectedFailure is the error_message of a generation failed by FailGeneration.
func injectedFailure(done, n int) string {
	return fmt.Sprintf("model run aborted after %d of %d batches (injected fault: fail_generation)", done, n)
}
