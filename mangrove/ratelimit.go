package mangrove

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

const (
	// maxBurst keeps the client-side limiter's burst modest: a dashboard page needs a
	// few calls at once, not a minute's quota.
	maxBurst = 10

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
	limiter  *rate.Limiter // nil when client-side limiting is off
	lastUsed time.Time     // guarded by limiterSet.mu

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
			burst := min(max(s.perMinute/60, 1), maxBurst)
			t.limiter = rate.NewLimiter(rate.Limit(float64(s.perMinute)/60), burst)
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
// window resets if the last answer said none were left, then for the client-side limiter.
func (t *tokenLimiter) wait(ctx context.Context) error {
	if err := sleepCtx(ctx, t.windowWait(time.Now())); err != nil {
		return err
	}
	if t.limiter == nil {
		return nil
	}
	r := t.limiter.Reserve()
	if err := sleepCtx(ctx, r.Delay()); err != nil {
		// Give the slot back: the request it was reserved for is not being sent.
		r.Cancel()
		return err
	}
	return nil
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
