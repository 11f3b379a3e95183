package mangrove

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestGetRetry(t *testing.T) {
	const okBody = `{"data":[],"info":null}`
	tests := []struct {
		name       string
		failures   int // answered with fail before succeeding
		fail       func(t *testing.T, w http.ResponseWriter)
		max        time.Duration
		wantDelays func(t *testing.T, delays []time.Duration)
	}{
		{
			name:     "429RetryAfterSeconds",
			failures: 1,
			fail: func(t *testing.T, w http.ResponseWriter) {
				w.Header().Set("Retry-After", "2")
				writeJSON(w, 429, `{"message":"Too many requests"}`)
			},
			max:        5 * time.Second,
			wantDelays: exactDelays(2 * time.Second),
		},
		{
			name:     "429RetryAfterCapped",
			failures: 2,
			fail: func(t *testing.T, w http.ResponseWriter) {
				w.Header().Set("Retry-After", "120")
				writeJSON(w, 429, `{"message":"Too many requests"}`)
			},
			max:        5 * time.Second,
			wantDelays: exactDelays(5*time.Second, 5*time.Second),
		},
		{
			name:     "429RetryAfterHTTPDate",
			failures: 1,
			fail: func(t *testing.T, w http.ResponseWriter) {
				w.Header().Set("Retry-After", time.Now().Add(3*time.Second).UTC().Format(http.TimeFormat))
				writeJSON(w, 429, `{"message":"Too many requests"}`)
			},
			max: 5 * time.Second,
			wantDelays: func(t *testing.T, delays []time.Duration) {
				// HTTP-dates have whole seconds: anything in (1s, 3s] honours the header.
				if len(delays) != 1 || delays[0] <= time.Second || delays[0] > 3*time.Second {
					t.Errorf("delays = %v, want one in (1s, 3s]", delays)
				}
			},
		},
		{
			name:     "503",
			failures: 2,
			fail: func(t *testing.T, w http.ResponseWriter) {
				writeJSON(w, 503, `{"message":"Service unavailable"}`)
			},
			max:        80 * time.Millisecond,
			wantDelays: backoffDelays(10*time.Millisecond, 20*time.Millisecond),
		},
		{
			name:     "502",
			failures: 1,
			fail: func(t *testing.T, w http.ResponseWriter) {
				writeJSON(w, 502, `bad gateway`)
			},
			max:        80 * time.Millisecond,
			wantDelays: backoffDelays(10 * time.Millisecond),
		},
		{
			name:     "504",
			failures: 1,
			fail: func(t *testing.T, w http.ResponseWriter) {
				w.WriteHeader(504)
			},
			max:        80 * time.Millisecond,
			wantDelays: backoffDelays(10 * time.Millisecond),
		},
		{
			name:       "ConnectionDrop",
			failures:   3,
			fail:       dropConnection,
			max:        80 * time.Millisecond,
			wantDelays: backoffDelays(10*time.Millisecond, 20*time.Millisecond, 40*time.Millisecond),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var srv *testServer
			srv = newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
				if int(srv.hits.Load()) <= tt.failures {
					tt.fail(t, w)
					return
				}
				writeJSON(w, 200, okBody)
			})
			c, log := newTestClient(t, srv.baseURL(), WithRetry(4, 10*time.Millisecond, tt.max))
			if _, err := c.Ledgers(context.Background(), testToken, ListOptions{}); err != nil {
				t.Fatalf("Ledgers: %v", err)
			}
			if got, want := srv.hits.Load(), int32(tt.failures+1); got != want {
				t.Errorf("attempts = %d, want %d", got, want)
			}
			tt.wantDelays(t, log.get())
		})
	}
}

func exactDelays(want ...time.Duration) func(*testing.T, []time.Duration) {
	return func(t *testing.T, got []time.Duration) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("delays = %v, want %v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("delay %d = %v, want %v", i, got[i], want[i])
			}
		}
	}
}

// backoffDelays accepts any full-jitter delays within the given ceilings.
func backoffDelays(ceilings ...time.Duration) func(*testing.T, []time.Duration) {
	return func(t *testing.T, got []time.Duration) {
		t.Helper()
		if len(got) != len(ceilings) {
			t.Fatalf("delays = %v, want %d", got, len(ceilings))
		}
		for i, d := range got {
			if d < 0 || d > ceilings[i] {
				t.Errorf("delay %d = %v, want within [0, %v]", i, d, ceilings[i])
			}
		}
	}
}

func TestGetRetryBudgetExhausted(t *testing.T) {
	srv := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 503, `{"message":"Down for maintenance"}`)
	})
	c, log := newTestClient(t, srv.baseURL())
	_, err := c.AsyncTask(context.Background(), testToken, 456)
	if srv.hits.Load() != 4 || len(log.get()) != 3 {
		t.Errorf("attempts = %d, sleeps = %d; want 4 and 3", srv.hits.Load(), len(log.get()))
	}
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 503 || ae.Message != "Down for maintenance" || !errors.Is(err, ErrUnavailable) {
		t.Errorf("error = %v, want the last 503", err)
	}

	dropping := newTestServer(t, func(w http.ResponseWriter, r *http.Request) { dropConnection(t, w) })
	c, _ = newTestClient(t, dropping.baseURL())
	_, err = c.AsyncTask(context.Background(), testToken, 456)
	if dropping.hits.Load() != 4 || !errors.Is(err, ErrUnavailable) {
		t.Errorf("attempts = %d, error = %v; want 4 and ErrUnavailable", dropping.hits.Load(), err)
	}
}

func TestGetNotRetried(t *testing.T) {
	for _, status := range []int{400, 401, 403, 404, 409, 422, 500} {
		srv := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, status, `{"message":"no"}`)
		})
		c, _ := newTestClient(t, srv.baseURL())
		if _, err := c.Batch(context.Background(), testToken, "bat_x"); err == nil {
			t.Errorf("%d: no error", status)
		}
		if srv.hits.Load() != 1 {
			t.Errorf("%d: attempts = %d, want 1", status, srv.hits.Load())
		}
	}
}

func TestRetryStopsWhenContextEnds(t *testing.T) {
	srv := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "3")
		writeJSON(w, 429, `{"message":"slow down"}`)
	})
	// Real sleeping here: the deadline is shorter than Retry-After, so the client gives
	// up at once instead of sleeping into a certain failure.
	c := NewClient(srv.baseURL(), WithRateLimit(0))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	_, err := c.Ledgers(ctx, testToken, ListOptions{})
	if elapsed := time.Since(start); elapsed > 500*time.Millisecond {
		t.Errorf("took %v, want an immediate give-up", elapsed)
	}
	if !errors.Is(err, ErrRateLimited) || !errors.Is(err, context.DeadlineExceeded) || srv.hits.Load() != 1 {
		t.Errorf("error = %v, attempts = %d; want 429 + deadline after 1 attempt", err, srv.hits.Load())
	}
}

func TestBackoffBounds(t *testing.T) {
	p := newRetryPolicy(10, 100*time.Millisecond, time.Second)
	ceilings := []time.Duration{100, 200, 400, 800, 1000, 1000, 1000}
	for i, ceiling := range ceilings {
		attempt := i + 1
		var positive bool
		for range 200 {
			d := p.backoff(attempt)
			if d < 0 || d > ceiling*time.Millisecond {
				t.Fatalf("backoff(%d) = %v, want within [0, %v]", attempt, d, ceiling*time.Millisecond)
			}
			positive = positive || d > 0
		}
		if !positive {
			t.Errorf("backoff(%d) never positive: no jitter range", attempt)
		}
	}
	if d := newRetryPolicy(0, -1, -1).backoff(3); d != 0 {
		t.Errorf("zero policy backoff = %v", d)
	}
	if p := newRetryPolicy(0, 0, 0); p.maxAttempts != 1 {
		t.Errorf("maxAttempts = %d, want 1", p.maxAttempts)
	}
	if d := p.backoff(1000); d > time.Second {
		t.Errorf("backoff(1000) = %v overflows the cap", d)
	}
}
