// Package memrelease gives the memory of closed event streams back to the
// operating system soon after they close (issue 13).
//
// Each open stream costs the process 20-odd KiB of resident memory, most of
// it goroutine stacks and heap the Go runtime keeps once the stream is gone:
// it is returned only after a GC frees it and the background scavenger gets
// to it, and an idle dashboard allocates so little that the next GC is the
// runtime's periodic one, two minutes later. So after thousands of viewers
// leave, the process's RSS stays high for minutes. A Releaser watches the
// number of open streams and, when it has dropped substantially from its
// recent peak, calls debug.FreeOSMemory (a forced GC, then every free page
// back to the OS) once, rate-limited, never on every check.
package memrelease

import (
	"context"
	"log/slog"
	"runtime/debug"
	"time"
)

// The release rule.
const (
	// CheckInterval is how often the open streams are counted (the count
	// takes the streams' lock once; it is cheap).
	CheckInterval = 5 * time.Second
	// MinReleaseGap is the least time between two releases: FreeOSMemory
	// forces a full GC and scavenges the whole heap, and the pages it
	// returns are faulted in again when streams reopen, so streams that
	// come and go by the thousand do not make the process release on every
	// check.
	MinReleaseGap = 30 * time.Second
	// MinDrop is a drop from the peak that always counts as substantial:
	// at about 20 KiB a stream, 1,000 streams are some 20 MiB.
	MinDrop = 1000
	// MinHalfDrop is the least drop that counts when it is at least half the
	// peak: a small dashboard whose streams halve (400 to 200) has a few MiB
	// to return that matter to it, while a handful of viewers leaving
	// (10 to 4) is not worth a forced GC.
	MinHalfDrop = 200
)

// Options configure a Releaser; the zero value is the dashboard's rule.
type Options struct {
	// Interval is the time between checks; CheckInterval when zero.
	Interval time.Duration
	// MinGap is the least time between releases; MinReleaseGap when zero.
	MinGap time.Duration
	// Release returns the memory; debug.FreeOSMemory when nil.
	Release func()
	// Logger logs each release at debug level; nil logs nothing.
	Logger *slog.Logger
}

// Releaser checks the open streams every interval in its own goroutine
// until Close.
type Releaser struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// Start starts checking open, the number of open streams (such as
// taskstream.Streams.Subscribers), every interval.
func Start(open func() int, o Options) *Releaser {
	if o.Interval <= 0 {
		o.Interval = CheckInterval
	}
	if o.MinGap <= 0 {
		o.MinGap = MinReleaseGap
	}
	if o.Release == nil {
		o.Release = debug.FreeOSMemory
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Releaser{cancel: cancel, done: make(chan struct{})}
	go r.run(ctx, open, o)
	return r
}

// Close stops the checks and waits for a release under way. It is
// idempotent.
func (r *Releaser) Close() {
	r.cancel()
	<-r.done
}

func (r *Releaser) run(ctx context.Context, open func() int, o Options) {
	defer close(r.done)
	t := time.NewTicker(o.Interval)
	defer t.Stop()
	rl := rule{minGap: o.MinGap}
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			n := open()
			peak := rl.peak
			if !rl.check(n, now) {
				continue
			}
			start := time.Now()
			o.Release()
			if o.Logger != nil {
				o.Logger.Debug("memory returned to the OS after streams closed",
					"peak", peak, "open", n, "took", time.Since(start))
			}
		}
	}
}

// rule decides when to release: it keeps the peak of open streams since the
// last release and the time of that release.
type rule struct {
	minGap time.Duration
	peak   int
	last   time.Time // zero before the first release
}

// check records n streams open at now and reports whether to release now.
// A release resets the peak to n, so the next one needs a new substantial
// drop; a drop held back by the gap is released at the first check after it.
func (r *rule) check(n int, now time.Time) bool {
	r.peak = max(r.peak, n)
	if !substantial(r.peak-n, r.peak) {
		return false
	}
	if !r.last.IsZero() && now.Sub(r.last) < r.minGap {
		return false
	}
	r.peak, r.last = n, now
	return true
}

// substantial reports whether drop streams fewer than peak are worth a
// release: at least MinDrop, or at least half the peak and MinHalfDrop.
func substantial(drop, peak int) bool {
	return drop >= MinDrop || (drop >= MinHalfDrop && 2*drop >= peak)
}
