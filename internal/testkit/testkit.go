// Package testkit holds the small test doubles that package tests share
// where internal/testapp (the whole dashboard) is more than they need: a
// settable clock, a buffer that collects logs written from several
// goroutines, and a barrier that proves calls are made at once. It imports nothing of the dashboard, so any package's tests
// can use it.
package testkit

import (
	"context"
	"strings"
	"sync"
	"time"
)

// Clock is a settable clock, safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock that reads t until advanced.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now reads the clock; pass it where a func() time.Time is wanted.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock by d (backwards when d < 0).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Buffer collects what is written to it from any goroutine, e.g. a logger's
// output that a test reads while the server still writes.
type Buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String is everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Rounds is a barrier for counting rounds of calls: Hold blocks each call until
// every call of its round is in flight. Calls numbered up to sizes[0] form the first
// round, the next sizes[1] the second, and so on. A call made only after another's
// answer never arrives, so the code under test waits until its context ends: that
// is how a test proves calls are made at once.
type Rounds struct {
	sizes []int

	mu      sync.Mutex
	arrived int
	open    []chan struct{} // closed when round i is all in flight
}

// NewRounds returns a barrier for rounds of the given sizes.
func NewRounds(sizes ...int) *Rounds {
	r := &Rounds{sizes: sizes}
	for range sizes {
		r.open = append(r.open, make(chan struct{}))
	}
	return r
}

// Hold counts a call and waits until its round is complete or ctx ends.
func (r *Rounds) Hold(ctx context.Context) error {
	r.mu.Lock()
	r.arrived++
	n, round, upTo := r.arrived, len(r.sizes)-1, 0
	for i, size := range r.sizes {
		upTo += size
		if n <= upTo {
			round = i
			break
		}
	}
	if n == upTo {
		close(r.open[round])
	}
	r.mu.Unlock()
	select {
	case <-r.open[round]:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Arrived is how many calls have arrived.
func (r *Rounds) Arrived() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.arrived
}
