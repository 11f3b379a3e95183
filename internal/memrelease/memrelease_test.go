package memrelease

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/internal/wait"
)

// TestRule walks the release rule through counts at given times: what counts
// as a substantial drop, the gap between releases, and the peak starting
// again from the count at each release.
func TestRule(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	type step struct {
		at      time.Duration // after t0
		open    int
		release bool
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"a few viewers leaving is not worth a GC", []step{
			{0, 10, false}, {5 * time.Second, 4, false}, {10 * time.Second, 0, false},
		}},
		{"1,000 fewer than the peak", []step{
			{0, 5000, false}, {5 * time.Second, 4001, false}, {10 * time.Second, 4000, true},
		}},
		{"rising counts never release", []step{
			{0, 100, false}, {5 * time.Second, 3000, false}, {10 * time.Second, 9000, false},
		}},
		{"half the peak, when that is at least MinHalfDrop", []step{
			{0, 400, false}, {5 * time.Second, 201, false}, {10 * time.Second, 200, true},
		}},
		{"half the peak but under MinHalfDrop", []step{
			{0, 300, false}, {5 * time.Second, 150, false}, {10 * time.Second, 120, false},
		}},
		{"the peak is kept across checks: a slow drop adds up", []step{
			{0, 2000, false}, {5 * time.Second, 1700, false}, {10 * time.Second, 1300, false}, {15 * time.Second, 1000, true},
		}},
		{"a release resets the peak to the count", []step{
			{0, 3000, false}, {5 * time.Second, 1000, true},
			// 1,000 to 500 is half, and 500 streams: a new substantial drop.
			{60 * time.Second, 500, true},
			// From 500 to 400 is not.
			{120 * time.Second, 400, false},
		}},
		{"at most one release per MinGap; the one held back comes at the first check after it", []step{
			{0, 5000, false}, {5 * time.Second, 3000, true},
			{10 * time.Second, 1000, false}, // 2,000 fewer, but 5 s after the release
			{30 * time.Second, 900, false},  // 25 s after it
			{35 * time.Second, 800, true},   // 30 s after it
			{40 * time.Second, 0, false},    // 800 fewer: half, but 5 s after
		}},
		{"streams coming back and leaving again within the gap", []step{
			{0, 3000, false}, {5 * time.Second, 0, true},
			{10 * time.Second, 3000, false}, {15 * time.Second, 0, false},
			{20 * time.Second, 3000, false}, {25 * time.Second, 0, false},
			{35 * time.Second, 0, true}, // the peak of 3,000 since the release is remembered
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := rule{minGap: 30 * time.Second}
			for i, s := range c.steps {
				if got := r.check(s.open, t0.Add(s.at)); got != s.release {
					t.Fatalf("step %d (%d open at %s): release %v, want %v", i, s.open, s.at, got, s.release)
				}
			}
		})
	}
}

// fakeStreams is a count function whose value the test sets, and which
// counts how often the Releaser asked.
type fakeStreams struct {
	open  atomic.Int64
	calls atomic.Int64
}

func (f *fakeStreams) count() int {
	f.calls.Add(1)
	return int(f.open.Load())
}

// set changes the count and waits until the Releaser has acted on it: the
// check after the first one to read the new value has begun, so that one's
// release, if any, is over (checks run one after another).
func (f *fakeStreams) set(t *testing.T, n int) {
	t.Helper()
	f.open.Store(int64(n))
	from := f.calls.Load()
	if !wait.Until(t.Context(), 10*time.Second, func() bool { return f.calls.Load() >= from+3 }) {
		t.Fatalf("the Releaser stopped counting (after %d checks)", f.calls.Load())
	}
}

func start(t *testing.T, minGap time.Duration) (*fakeStreams, *atomic.Int64) {
	f := &fakeStreams{}
	var released atomic.Int64
	r := Start(f.count, Options{Interval: time.Millisecond, MinGap: minGap, Release: func() { released.Add(1) }})
	t.Cleanup(r.Close)
	return f, &released
}

// TestReleaserReleasesWhenStreamsClose: many streams closing releases once;
// streams held open or a few leaving release nothing.
func TestReleaserReleasesWhenStreamsClose(t *testing.T) {
	t.Parallel()
	f, released := start(t, time.Hour)
	f.set(t, 10)
	f.set(t, 3)
	f.set(t, 5000)
	f.set(t, 4500)
	if n := released.Load(); n != 0 {
		t.Fatalf("%d releases before a substantial drop", n)
	}
	f.open.Store(0)
	if !wait.Until(t.Context(), 10*time.Second, func() bool { return released.Load() >= 1 }) {
		t.Fatal("5,000 streams closed and no release")
	}
	f.set(t, 0)
	if n := released.Load(); n != 1 {
		t.Fatalf("%d releases for one drop, want 1 (never on every check)", n)
	}
}

// TestReleaserRateLimited: a second drop within the gap is not released.
func TestReleaserRateLimited(t *testing.T) {
	t.Parallel()
	f, released := start(t, time.Hour)
	f.set(t, 3000)
	f.set(t, 0)
	if n := released.Load(); n != 1 {
		t.Fatalf("%d releases after the first drop, want 1", n)
	}
	f.set(t, 3000)
	f.set(t, 0)
	if n := released.Load(); n != 1 {
		t.Fatalf("%d releases after a second drop within the gap, want still 1", n)
	}
}

// TestReleaserAfterGap: with a gap shorter than the checks, each
// substantial drop is released.
func TestReleaserAfterGap(t *testing.T) {
	t.Parallel()
	f, released := start(t, time.Nanosecond)
	for i := 1; i <= 3; i++ {
		f.set(t, 2000)
		f.set(t, 500)
		if n := released.Load(); n != int64(i) {
			t.Fatalf("drop %d: %d releases, want %d", i, n, i)
		}
	}
}

// TestCloseStopsChecks: once Close returns, nothing is counted or released;
// Close may be called again.
func TestCloseStopsChecks(t *testing.T) {
	t.Parallel()
	f := &fakeStreams{}
	var released atomic.Int64
	r := Start(f.count, Options{Interval: time.Millisecond, Release: func() { released.Add(1) }})
	f.set(t, 5000)
	r.Close()
	calls := f.calls.Load()
	f.open.Store(0)
	r.Close()
	// Close waited for the goroutine: no check can be under way or to come.
	if f.calls.Load() != calls || released.Load() != 0 {
		t.Fatalf("after Close: %d more checks, %d releases", f.calls.Load()-calls, released.Load())
	}
}
