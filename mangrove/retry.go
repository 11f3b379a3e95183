package mangrove

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// retryPolicy says how often and how long idempotent requests are retried.
type retryPolicy struct {
	maxAttempts int
	base, max   time.Duration
}

func newRetryPolicy(maxAttempts int, base, max time.Duration) retryPolicy {
	if maxAttempts < 1 {
		maxAttempts = 1
	}
	if base < 0 {
		base = 0
	}
	if max < base {
		max = base
	}
	return retryPolicy{maxAttempts: maxAttempts, base: base, max: max}
}

// delay is the wait before the retry that follows failed attempt number attempt
// (1-based). A Retry-After from the server wins, capped at max, so that one bad header
// cannot park a dashboard request for minutes.
func (p retryPolicy) delay(attempt int, err error) time.Duration {
	var ae *APIError
	if errors.As(err, &ae) && ae.RetryAfter > 0 {
		return min(ae.RetryAfter, p.max)
	}
	return p.backoff(attempt)
}

// backoff is capped exponential backoff with full jitter: uniform in [0, min(max,
// base*2^(attempt-1))]. Jitter keeps many dashboard requests that failed together from
// retrying together.
func (p retryPolicy) backoff(attempt int) time.Duration {
	ceiling := p.base
	for i := 1; i < attempt && ceiling < p.max; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, p.max)
	if ceiling <= 0 {
		return 0
	}
	return rand.N(ceiling + 1)
}

// retryable reports whether a failed idempotent request is worth another attempt.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		switch ae.Status {
		case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	var ce *callError
	return errors.As(err, &ce) && ce.retryable
}

// maxRetryAfter bounds the parsed header value before it is compared or added, so that
// absurd values cannot overflow a time.Duration.
const maxRetryAfter = 24 * time.Hour

// parseRetryAfter reads Retry-After as delay seconds or an HTTP-date. Missing,
// malformed and past values give 0.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d <= 0 {
			return 0
		}
		return min(d, maxRetryAfter)
	}
	return 0
}

// sleepCtx waits for d or until ctx ends. When ctx's deadline falls before d it gives up
// at once with context.DeadlineExceeded, as golang.org/x/time/rate does: waiting would
// only postpone the same failure.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d <= 0 {
		return nil
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < d {
		return context.DeadlineExceeded
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
