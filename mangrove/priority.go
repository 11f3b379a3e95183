package mangrove

import (
	"context"
	"math"
	"sync"
	"time"
)

// Priority says whose request spends a token's budget when it runs short.
type Priority int

const (
	// Interactive is a page view or a user's own action: the default.
	Interactive Priority = iota
	// Background is work nobody waits on directly, such as a task poll: it leaves
	// interactiveReserve of the bucket to interactive requests.
	Background
)

type priorityKey struct{}

// WithPriority marks the requests made with ctx as p.
func WithPriority(ctx context.Context, p Priority) context.Context {
	return context.WithValue(ctx, priorityKey{}, p)
}

// PriorityOf is the priority WithPriority set on ctx, Interactive by default.
func PriorityOf(ctx context.Context) Priority {
	p, _ := ctx.Value(priorityKey{}).(Priority)
	return p
}

// bucket is one token's client-side budget: a token bucket refilled at the API's
// quota rate. Interactive requests take a token and wait off any debt, in order;
// background requests take one only while the bucket holds more than
// interactiveReserve, so a wave of polls cannot make a page view wait behind it.
type bucket struct {
	rate  float64 // tokens a second
	burst float64

	mu     sync.Mutex
	tokens float64 // may go negative: interactive requests reserved ahead
	last   time.Time
}

func newBucket(perSecond float64, burst int, now time.Time) *bucket {
	return &bucket{rate: perSecond, burst: float64(burst), tokens: float64(burst), last: now}
}

// refill adds the tokens earned since the last call. Call with b.mu held.
func (b *bucket) refill(now time.Time) {
	if now.After(b.last) {
		b.tokens = math.Min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
		b.last = now
	}
}

// after is how long the bucket takes to earn n tokens it lacks.
func (b *bucket) after(n float64) time.Duration {
	return time.Duration(math.Ceil(n / b.rate * float64(time.Second)))
}

// waitInteractive takes a token, waiting for it when the bucket is empty; a wait
// the context ends gives the token back.
func (b *bucket) waitInteractive(ctx context.Context) error {
	b.mu.Lock()
	b.refill(time.Now())
	b.tokens--
	delay := time.Duration(0)
	if b.tokens < 0 {
		delay = b.after(-b.tokens)
	}
	b.mu.Unlock()
	if err := sleepCtx(ctx, delay); err != nil {
		b.mu.Lock()
		b.tokens = math.Min(b.burst, b.tokens+1)
		b.mu.Unlock()
		return err
	}
	return nil
}

// waitBackground takes a token once the bucket holds more than interactiveReserve.
// It reserves nothing while it waits, so interactive requests arriving meanwhile go
// first; background waiters woken together race, and the losers wait again.
func (b *bucket) waitBackground(ctx context.Context) error {
	floor := math.Min(interactiveReserve, b.burst-1) + 1
	for {
		b.mu.Lock()
		b.refill(time.Now())
		if b.tokens >= floor {
			b.tokens--
			b.mu.Unlock()
			return nil
		}
		delay := b.after(floor - b.tokens)
		b.mu.Unlock()
		if err := sleepCtx(ctx, delay); err != nil {
			return err
		}
	}
}
