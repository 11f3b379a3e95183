package sandbox

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// rateLimit and rateWindow are the real API's default: 1,000 requests a minute per token.
const (
	rateLimit  = 1000
	rateWindow = time.Minute
)

// rateLimiter is a fixed-window counter per key (the token, or the client address for
// requests without one). Windows are aligned to the minute, so RateLimit-Reset is the
// same for every token and easy to reason about in a client.
type rateLimiter struct {
	mu      sync.Mutex
	limit   int
	window  time.Duration
	now     func() time.Time // replaced in tests
	buckets map[string]*rateBucket
}

type rateBucket struct {
	start time.Time
	count int
}

// newRateLimiter allows limit requests a minute per key; 0 or less means rateLimit.
func newRateLimiter(limit int) *rateLimiter {
	if limit <= 0 {
		limit = rateLimit
	}
	return &rateLimiter{limit: limit, window: rateWindow, now: time.Now, buckets: map[string]*rateBucket{}}
}

// take counts one request and reports what is left and when the window resets.
func (l *rateLimiter) take(key string) (remaining int, reset time.Time, now time.Time, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now = l.now()
	start := now.Truncate(l.window)
	reset = start.Add(l.window)
	if len(l.buckets) > 10000 {
		// Forget finished windows so unknown tokens cannot grow the map without bound.
		for k, b := range l.buckets {
			if b.start.Before(start) {
				delete(l.buckets, k)
			}
		}
	}
	b := l.buckets[key]
	if b == nil || !b.start.Equal(start) {
		b = &rateBucket{start: start}
		l.buckets[key] = b
	}
	if b.count >= l.limit {
		return 0, reset, now, false
	}
	b.count++
	return l.limit - b.count, reset, now, true
}

// allow sets the RateLimit-* headers on every response and answers 429 with
// Retry-After (whole seconds until the window resets) when the key is over its limit.
func (l *rateLimiter) allow(w http.ResponseWriter, key string) bool {
	remaining, reset, now, ok := l.take(key)
	h := w.Header()
	h.Set("RateLimit-Limit", strconv.Itoa(l.limit))
	h.Set("RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	if ok {
		return true
	}
	retry := int(math.Ceil(reset.Sub(now).Seconds()))
	if retry < 1 {
		retry = 1
	}
	h.Set("Retry-After", strconv.Itoa(retry))
	writeError(w, http.StatusTooManyRequests, "rate limit of %d requests per minute exceeded; retry in %d s", l.limit, retry)
	return false
}
