package mangrove

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// TestBucketLeavesTheReserveToInteractive: with the bucket down to its interactive
// reserve, a background request cannot go (its wait is longer than its deadline, so it
// fails at once) while every interactive request of the reserve goes without waiting.
func TestBucketLeavesTheReserveToInteractive(t *testing.T) {
	// One token a minute: any wait is far longer than the test's deadlines.
	b := newBucket(1.0/60, maxBurst, time.Now())
	ctx := context.Background()
	for range maxBurst - interactiveReserve {
		if err := b.waitBackground(ctx); err != nil {
			t.Fatalf("background request above the reserve: %v", err)
		}
	}
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := b.waitBackground(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("background request into the reserve: %v, want it refused at once", err)
	}
	for i := range interactiveReserve {
		if err := b.waitInteractive(short); err != nil {
			t.Fatalf("interactive request %d of the reserve: %v", i+1, err)
		}
	}
	if err := b.waitInteractive(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("interactive request past the bucket: %v, want it refused at once", err)
	}
	// The refused requests gave back what they took: the bucket is empty, not in debt.
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tokens > 0.01 || b.tokens < -0.01 {
		t.Errorf("tokens = %.2f after the refusals, want 0", b.tokens)
	}
}

// TestPageWaveOnIdleTokenDoesNotWait: a cold preview's calls at once on a token that
// was idle are all sent without waiting (maxBurst holds a page's wave).
func TestPageWaveOnIdleTokenDoesNotWait(t *testing.T) {
	const wave = 6
	b := newBucket(float64(DefaultRateLimit)/60, maxBurst, time.Now())
	short, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	for i := range 2 * wave {
		if err := b.waitInteractive(short); err != nil {
			t.Fatalf("call %d of two waves: %v", i+1, err)
		}
	}
}

func TestPriorityOf(t *testing.T) {
	ctx := context.Background()
	if PriorityOf(ctx) != Interactive {
		t.Error("default priority is not Interactive")
	}
	if PriorityOf(WithPriority(ctx, Background)) != Background {
		t.Error("WithPriority(Background) not read back")
	}
}

// TestBudgetLow reads RateLimit-Remaining against RateLimit-Limit: under a tenth left
// is low, and a window that has reset is not.
func TestBudgetLow(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name             string
		limit, remaining string
		reset            time.Time
		want             bool
	}{
		{"plenty", "1000", "500", now.Add(30 * time.Second), false},
		{"exactly a tenth", "1000", "100", now.Add(30 * time.Second), false},
		{"under a tenth", "1000", "99", now.Add(30 * time.Second), true},
		{"none left", "1000", "0", now.Add(30 * time.Second), true},
		{"window already reset", "1000", "5", now.Add(-time.Second), false},
		{"no limit header", "", "5", now.Add(30 * time.Second), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tl := &tokenLimiter{}
			h := http.Header{}
			if tc.limit != "" {
				h.Set("RateLimit-Limit", tc.limit)
			}
			h.Set("RateLimit-Remaining", tc.remaining)
			h.Set("RateLimit-Reset", strconv.FormatInt(tc.reset.Unix(), 10))
			tl.observe(h, now)
			if got := tl.budgetLow(now); got != tc.want {
				t.Errorf("budgetLow = %v, want %v", got, tc.want)
			}
		})
	}
}
