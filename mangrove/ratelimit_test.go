package mangrove

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestPerTokenLimiterIsolation: one user exhausting their client-side quota must not
// slow another user.
func TestPerTokenLimiterIsolation(t *testing.T) {
	srv := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, `{"id":1,"state":"running"}`)
	})
	// 60 a minute: one a second, burst 2 (burstSeconds of the quota).
	c, _ := newTestClient(t, srv.baseURL(), WithRateLimit(60))
	ctx := context.Background()
	for range 2 {
		if _, err := c.AsyncTask(ctx, "token-A", 1); err != nil {
			t.Fatal(err)
		}
	}

	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.AsyncTask(short, "token-A", 1)
	if !errors.Is(err, ErrRateLimited) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("token A second call: error %v, want ErrRateLimited and DeadlineExceeded", err)
	}
	if elapsed := time.Since(start); elapsed > 200*time.Millisecond {
		t.Errorf("token A waited %v for a slot its deadline cannot reach", elapsed)
	}
	if srv.hits.Load() != 2 {
		t.Errorf("server hits = %d, want 2", srv.hits.Load())
	}

	start = time.Now()
	for _, tok := range []string{"token-B", "token-C"} {
		if _, err := c.AsyncTask(ctx, tok, 1); err != nil {
			t.Fatalf("%s: %v", tok, err)
		}
	}
	if elapsed := time.Since(start); elapsed > 300*time.Millisecond {
		t.Errorf("other tokens took %v: slowed by token A", elapsed)
	}

	// The cancelled reservation was handed back: token A gets its next slot about a
	// second after the first call, not two.
	start = time.Now()
	if _, err := c.AsyncTask(ctx, "token-A", 1); err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed > 1200*time.Millisecond {
		t.Errorf("token A waited %v for its next slot", elapsed)
	}
}

func TestLimiterKeysAreNotTokens(t *testing.T) {
	c := NewClient("http://mangrove.test/api/v1")
	c.limits.get(testToken)
	dump := fmt.Sprintf("%v %+v %#v", c.limits.tokens, c.limits.tokens, c.limits)
	if strings.Contains(dump, testToken) {
		t.Error("limiter map holds the raw token")
	}
}

func TestRateLimitHeaders(t *testing.T) {
	reset := time.Now().Add(42 * time.Second).Truncate(time.Second)
	srv := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("RateLimit-Limit", "1000")
		w.Header().Set("RateLimit-Remaining", "998")
		w.Header().Set("RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
		writeJSON(w, 404, `{"message":"Record not found."}`)
	})
	c, _ := newTestClient(t, srv.baseURL())
	if _, _, _, ok := c.RateLimitStatus(testToken); ok {
		t.Error("status known before any response")
	}
	// Error answers carry the headers too.
	c.Ledger(context.Background(), testToken, "lgr_x")
	limit, remaining, gotReset, ok := c.RateLimitStatus(testToken)
	if !ok || limit != 1000 || remaining != 998 || !gotReset.Equal(reset) {
		t.Errorf("status = %d %d %v %v; want 1000 998 %v true", limit, remaining, gotReset, ok, reset)
	}
	if _, _, _, ok := c.RateLimitStatus("another-token"); ok {
		t.Error("another token shares the status")
	}
}

func TestResetHeaderForms(t *testing.T) {
	now := time.Unix(1_740_000_000, 0)
	tests := []struct {
		value string
		want  time.Time
		ok    bool
	}{
		{"1740000060", time.Unix(1_740_000_060, 0), true}, // Unix time, as documented
		{"30", now.Add(30 * time.Second), true},           // delta seconds (IETF draft form)
		{"", time.Time{}, false},
		{"soon", time.Time{}, false},
		{"-1", time.Time{}, false},
	}
	for _, tt := range tests {
		got, ok := resetHeader(http.Header{"Ratelimit-Reset": {tt.value}}, now)
		if ok != tt.ok || !got.Equal(tt.want) {
			t.Errorf("resetHeader(%q) = %v %v, want %v %v", tt.value, got, ok, tt.want, tt.ok)
		}
	}
}

// TestRemainingZeroWaitsForReset: after RateLimit-Remaining: 0 the next request for that
// token waits for the window to reset; other tokens do not.
func TestRemainingZeroWaitsForReset(t *testing.T) {
	var resetValue atomic.Value
	resetValue.Store("30") // delta form keeps the test independent of the second boundary
	srv := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer token-A" {
			w.Header().Set("RateLimit-Limit", "1000")
			w.Header().Set("RateLimit-Remaining", "0")
			w.Header().Set("RateLimit-Reset", resetValue.Load().(string))
		}
		writeJSON(w, 200, `{"data":[]}`)
	})
	c, _ := newTestClient(t, srv.baseURL())
	ctx := context.Background()
	if _, err := c.Batches(ctx, "token-A", ListOptions{}); err != nil {
		t.Fatal(err)
	}

	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Batches(short, "token-A", ListOptions{})
	if !errors.Is(err, ErrRateLimited) || time.Since(start) > 150*time.Millisecond {
		t.Errorf("error %v after %v; want ErrRateLimited at once (reset is beyond the deadline)", err, time.Since(start))
	}
	if srv.hits.Load() != 1 {
		t.Errorf("server hits = %d, want 1: the request must not be sent", srv.hits.Load())
	}
	if _, err := c.Batches(short, "token-B", ListOptions{}); err != nil {
		t.Errorf("token B: %v", err)
	}

	// A reset one second away is waited out, then the request goes through.
	c2, _ := newTestClient(t, srv.baseURL())
	resetValue.Store("1")
	c2.Batches(ctx, "token-A", ListOptions{})
	start = time.Now()
	if _, err := c2.Batches(ctx, "token-A", ListOptions{}); err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed < 800*time.Millisecond || elapsed > 3*time.Second {
		t.Errorf("second request after %v, want about 1s", elapsed)
	}
}

func TestWindowWaitBounded(t *testing.T) {
	lim := &tokenLimiter{}
	now := time.Now()
	lim.observe(http.Header{"Ratelimit-Remaining": {"0"}, "Ratelimit-Reset": {strconv.FormatInt(now.Add(time.Hour).Unix(), 10)}}, now)
	if d := lim.windowWait(now); d != maxWindowWait {
		t.Errorf("windowWait = %v, want the %v cap", d, maxWindowWait)
	}
	lim.observe(http.Header{"Ratelimit-Remaining": {"5"}}, now)
	if d := lim.windowWait(now); d != 0 {
		t.Errorf("windowWait with quota left = %v", d)
	}
	lim.observe(http.Header{"Ratelimit-Remaining": {"0"}, "Ratelimit-Reset": {strconv.FormatInt(now.Add(-time.Minute).Unix(), 10)}}, now)
	if d := lim.windowWait(now); d != 0 {
		t.Errorf("windowWait after a past reset = %v", d)
	}
}

func TestLimiterSweep(t *testing.T) {
	s := newLimiterSet(60)
	for i := range sweepThreshold {
		s.get(fmt.Sprint("old-", i)).lastUsed = time.Now().Add(-2 * idleAfter)
	}
	s.get("recent")
	s.get("new")
	if n := len(s.tokens); n != 2 {
		t.Errorf("after sweep %d tokens, want 2", n)
	}
}
