package mangrove

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	// maxBurst is the client-side bucket's size at the API's default quota: two
	// seconds of it (burstSeconds), room for a cold preview's wave of calls (up to
	// six, eight with its form) several times over, so a user's views on a token that
	// was idle never wait in the limiter, while the burst stays a small share of the
	// minute's quota (RateLimit-Remaining: 0 from the server still holds every call).
	maxBurst     = 30
	burstSeconds = 2
	// interactiveReserve is how much of the bucket background requests (task polls)
	// leave to page views and the user's own actions: a background request waits until
	// the bucket holds more than this, so polls never make a page wait.
	interactiveReserve = maxBurst / 2
	// LowBudgetPercent: a token whose RateLimit-Remaining falls under this share of
	// its RateLimit-Limit is running out of budget (BudgetLow).
	LowBudgetPercent = 10
	lowBudgetShare   = LowBudgetPercent / 100.0

	// maxWindowWait bounds the wait for RateLimit-Reset. The API's window is 60 seconds;
	// a later reset means clock skew or a bogus header, not a reason to stall longer.
	maxWindowWait = 65 * time.Second

	// Idle per-token state is dropped once the map grows past sweepThreshold, so that
	// many short-lived tokens cannot grow it forever.
	sweepThreshold = 1024
	idleAfter      = 30 * time.Minute

	// Reset values below this are delta seconds (the IETF draft's form) rather than the
	// Unix time the Mangrove docs describe; accepting both costs nothing.
	minUnixReset = 1_000_000_000
)

// tokenKey identifies a token in maps without keeping the credential itself there.
type tokenKey string

func keyOf(token string) tokenKey { return tokenKey(TokenHash(token)) }

// limiterSet holds one limiter and the last RateLimit-* headers per token: the API's
// quota is per token, so one user's burst must not slow another.
type limiterSet struct {
	perMinute int
	mu        sync.Mutex
	tokens    map[tokenKey]*tokenLimiter
}

type tokenLimiter struct {
	bucket   *bucket   // nil when client-side limiting is off
	lastUsed time.Time // guarded by limiterSet.mu

	mu        sync.Mutex
	seen      bool
	limit     int
	remaining int
	reset     time.Time
}

func newLimiterSet(perMinute int) *limiterSet {
	return &limiterSet{perMinute: perMinute, tokens: make(map[tokenKey]*tokenLimiter)}
}

// get returns the state for token, creating it on first use.
func (s *limiterSet) get(token string) *tokenLimiter {
	k := keyOf(token)
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[k]
	if !ok {
		if len(s.tokens) >= sweepThreshold {
			for key, old := range s.tokens {
				if now.Sub(old.lastUsed) > idleAfter {
					delete(s.tokens, key)
				}
			}
		}
		t = &tokenLimiter{}
		if s.perMinute > 0 {
			t.bucket = newBucket(float64(s.perMinute)/60, min(max(s.perMinute*burstSeconds/60, 1), maxBurst), now)
		}
		s.tokens[k] = t
	}
	t.lastUsed = now
	return t
}

// lookup returns the state for token without creating it.
func (s *limiterSet) lookup(token string) (*tokenLimiter, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[keyOf(token)]
	return t, ok
}

// wait blocks until a request for this token may be sent: first until the server's
// window resets if the last answer said none were left, then for the client-side
// bucket, by the request's priority (see WithPriority).
func (t *tokenLimiter) wait(ctx context.Context) error {
	if err := sleepCtx(ctx, t.windowWait(time.Now())); err != nil {
		return err
	}
	if t.bucket == nil {
		return nil
	}
	if PriorityOf(ctx) == Background {
		return t.bucket.waitBackground(ctx)
	}
	return t.bucket.waitInteractive(ctx)
}

// windowWait is how long to hold requests because RateLimit-Remaining was 0.
func (t *tokenLimiter) windowWait(now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.seen || t.remaining > 0 || t.reset.IsZero() {
		return 0
	}
	return min(max(t.reset.Sub(now), 0), maxWindowWait)
}

// observe stores the RateLimit-* headers of a response. Headers missing from a response
// leave the previous values in place.
func (t *tokenLimiter) observe(h http.Header, now time.Time) {
	limit, limitOK := intHeader(h, "RateLimit-Limit")
	remaining, remainingOK := intHeader(h, "RateLimit-Remaining")
	reset, resetOK := resetHeader(h, now)
	if !limitOK && !remainingOK && !resetOK {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seen = true
	if limitOK {
		t.limit = limit
	}
	if remainingOK {
		t.remaining = remaining
	}
	if resetOK {
		t.reset = reset
	}
}

// budgetLow reports whether the last answer's RateLimit-Remaining was under
// lowBudgetShare of its RateLimit-Limit, in a window that has not reset yet.
func (t *tokenLimiter) budgetLow(now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.seen && t.limit > 0 && float64(t.remaining) < lowBudgetShare*float64(t.limit) &&
		(t.reset.IsZero() || now.Before(t.reset))
}

func (t *tokenLimiter) status() (limit, remaining int, reset time.Time, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.limit, t.remaining, t.reset, t.seen
}

func intHeader(h http.Header, name string) (int, bool) {
	v, err := strconv.Atoi(strings.TrimSpace(h.Get(name)))
	if err != nil || v < 0 {
		return 0, false
	}
	return v, true
}

func resetHeader(h http.Header, now time.Time) (time.Time, bool) {
	v, err := strconv.ParseInt(strings.TrimSpace(h.Get("RateLimit-Reset")), 10, 64)
	if err != nil || v < 0 {
		return time.Time{}, false
	}
	if v < minUnixReset {
		return now.Add(time.Duration(v) * time.Second), true
	}
	return time.Unix(v, 0), true
}

// RateLimitStatus returns the RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset
// values last seen on a response for token; ok is false when none has been seen yet.
func (c *Client) RateLimitStatus(token string) (limit, remaining int, reset time.Time, ok bool) {
	t, found := c.limits.lookup(token)
	if !found {
		return 0, 0, time.Time{}, false
	}
	return t.status()
}

// BudgetLow reports whether token has used more than nine tenths of the API's quota in
// the current window, by the RateLimit headers of its last answer: pages say so, since
// further calls may soon be refused until the window resets.
func (c *Client) BudgetLow(token string) bool {
	t, found := c.limits.lookup(token)
	return found && t.budgetLow(time.Now())
}

// TokensLowOnBudget counts the tokens BudgetLow reports, for the metrics.
func (c *Client) TokensLowOnBudget() int {
	now := time.Now()
	c.limits.mu.Lock()
	all := make([]*tokenLimiter, 0, len(c.limits.tokens))
	for _, t := range c.limits.tokens {
		all = append(all, t)
	}
	c.limits.mu.Unlock()
	n := 0
	for _, t := range all {
		if t.budgetLow(now) {
			n++
		}
	}
	return n
}
