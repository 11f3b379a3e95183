package ttlcache

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/internal/testkit"
)

const testTTL = 10 * time.Second

func newFakeClock() *testkit.Clock {
	return testkit.NewClock(time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC))
}

func TestGetAge(t *testing.T) {
	tests := []struct {
		name    string
		advance time.Duration // between Put and Get
		wantHit bool
	}{
		{"immediately", 0, true},
		{"within ttl", testTTL / 2, true},
		{"just before ttl", testTTL - time.Nanosecond, true},
		{"at ttl", testTTL, false},
		{"after ttl", testTTL + time.Second, false},
		{"clock went backwards", -time.Nanosecond, false},
		{"clock went far backwards", -time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			c := New[string, int](testTTL, 10, clk.Now)
			c.Put("k", 42)
			clk.Advance(tt.advance)
			v, ok := c.Get("k")
			if ok != tt.wantHit {
				t.Fatalf("Get hit = %v, want %v", ok, tt.wantHit)
			}
			if ok && v != 42 {
				t.Fatalf("Get = %d, want 42", v)
			}
			if !ok && v != 0 {
				t.Fatalf("miss returned %d, want the zero value", v)
			}
		})
	}
}

func TestGetAbsent(t *testing.T) {
	c := New[string, int](testTTL, 10, nil)
	if v, ok := c.Get("nope"); ok || v != 0 {
		t.Fatalf("Get(absent) = %d, %v", v, ok)
	}
}

func TestPutRefreshes(t *testing.T) {
	clk := newFakeClock()
	c := New[string, int](testTTL, 10, clk.Now)
	c.Put("k", 1)
	clk.Advance(testTTL - time.Second)
	c.Put("k", 2)
	clk.Advance(testTTL - time.Second) // old stamp would have expired by now
	if v, ok := c.Get("k"); !ok || v != 2 {
		t.Fatalf("Get = %d, %v; want 2, true", v, ok)
	}
	if n := c.Len(); n != 1 {
		t.Fatalf("Len = %d, want 1", n)
	}
}

func TestBoundEvictsOldestOnly(t *testing.T) {
	const max = 3
	clk := newFakeClock()
	c := New[string, int](testTTL, max, clk.Now)
	for i, k := range []string{"a", "b", "c"} {
		c.Put(k, i)
		clk.Advance(time.Second)
	}
	c.Put("d", 3)
	if n := c.Len(); n != max {
		t.Fatalf("Len = %d, want %d", n, max)
	}
	if _, ok := c.Get("a"); ok {
		t.Error(`oldest entry "a" survived`)
	}
	for _, k := range []string{"b", "c", "d"} {
		if _, ok := c.Get(k); !ok {
			t.Errorf("%q evicted, only the oldest should go", k)
		}
	}
}

func TestRefreshedEntryIsNotOldest(t *testing.T) {
	clk := newFakeClock()
	c := New[string, int](testTTL, 2, clk.Now)
	c.Put("a", 1)
	clk.Advance(time.Second)
	c.Put("b", 2)
	clk.Advance(time.Second)
	c.Put("a", 3) // refresh: "b" is now the oldest
	clk.Advance(time.Second)
	c.Put("c", 4)
	if _, ok := c.Get("b"); ok {
		t.Error(`"b" survived, it was the oldest`)
	}
	if v, ok := c.Get("a"); !ok || v != 3 {
		t.Errorf(`Get("a") = %d, %v; want 3, true`, v, ok)
	}
}

func TestBoundEvictsExpiredBeforeLive(t *testing.T) {
	const max = 4
	clk := newFakeClock()
	c := New[string, int](testTTL, max, clk.Now)
	c.Put("old1", 1)
	c.Put("old2", 2)
	clk.Advance(testTTL - time.Second)
	c.Put("live1", 3)
	c.Put("live2", 4)
	clk.Advance(time.Second) // old1, old2 expire; live1, live2 have 9s left
	c.Put("new", 5)
	if n := c.Len(); n != 3 {
		t.Fatalf("Len = %d, want 3: both expired entries gone, no live one", n)
	}
	for _, k := range []string{"live1", "live2", "new"} {
		if _, ok := c.Get(k); !ok {
			t.Errorf("live %q evicted while expired entries were there", k)
		}
	}
}

func TestDefaultMax(t *testing.T) {
	for _, max := range []int{0, -1} {
		c := New[int, int](testTTL, max, nil)
		for i := range DefaultMax + 10 {
			c.Put(i, i)
		}
		if n := c.Len(); n != DefaultMax {
			t.Errorf("max %d: Len = %d, want DefaultMax %d", max, n, DefaultMax)
		}
	}
}

type tokenKey struct{ token, id string }

func TestDeleteFunc(t *testing.T) {
	c := New[tokenKey, int](testTTL, 10, nil)
	c.Put(tokenKey{"t1", "a"}, 1)
	c.Put(tokenKey{"t2", "a"}, 2)
	c.Put(tokenKey{"t1", "b"}, 3)
	c.Put(tokenKey{"t2", "b"}, 4)
	c.DeleteFunc(func(k tokenKey) bool { return k.token == "t1" })
	if n := c.Len(); n != 2 {
		t.Fatalf("Len = %d, want 2", n)
	}
	for _, k := range []tokenKey{{"t1", "a"}, {"t1", "b"}} {
		if _, ok := c.Get(k); ok {
			t.Errorf("%v survived DeleteFunc", k)
		}
	}
	for _, k := range []tokenKey{{"t2", "a"}, {"t2", "b"}} {
		if _, ok := c.Get(k); !ok {
			t.Errorf("%v deleted, its token was not", k)
		}
	}
	// The cache still works and stays bounded after deletions from the middle.
	for i := range 20 {
		c.Put(tokenKey{"t3", fmt.Sprint(i)}, i)
	}
	if n := c.Len(); n != 10 {
		t.Fatalf("Len after refill = %d, want 10", n)
	}
}

func TestClear(t *testing.T) {
	c := New[string, int](testTTL, 10, nil)
	c.Put("a", 1)
	c.Put("b", 2)
	c.Clear()
	if n := c.Len(); n != 0 {
		t.Fatalf("Len after Clear = %d", n)
	}
	if _, ok := c.Get("a"); ok {
		t.Fatal("hit after Clear")
	}
	c.Put("c", 3)
	if v, ok := c.Get("c"); !ok || v != 3 {
		t.Fatalf("Get after Clear and Put = %d, %v", v, ok)
	}
}

// TestDisabled checks that nil, zero and ttl <= 0 caches never keep anything and never
// panic.
func TestDisabled(t *testing.T) {
	tests := []struct {
		name string
		c    *Cache[string, int]
	}{
		{"nil", nil},
		{"zero value", &Cache[string, int]{}},
		{"ttl 0", New[string, int](0, 10, nil)},
		{"negative ttl", New[string, int](-time.Second, 10, nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.c
			c.Put("k", 1)
			if v, ok := c.Get("k"); ok || v != 0 {
				t.Fatalf("Get = %d, %v; want miss", v, ok)
			}
			calls := 0
			for range 2 {
				v, err := c.GetOrFetch("k", func() (int, error) { calls++; return 7, nil })
				if v != 7 || err != nil {
					t.Fatalf("GetOrFetch = %d, %v", v, err)
				}
			}
			if calls != 2 {
				t.Fatalf("fetch called %d times, want 2 (nothing cached)", calls)
			}
			c.DeleteFunc(func(string) bool { return true })
			c.Clear()
			if n := c.Len(); n != 0 {
				t.Fatalf("Len = %d", n)
			}
		})
	}
}

func TestGetOrFetch(t *testing.T) {
	clk := newFakeClock()
	c := New[string, int](testTTL, 10, clk.Now)
	calls := 0
	fetch := func() (int, error) { calls++; return calls, nil }

	if v, err := c.GetOrFetch("k", fetch); v != 1 || err != nil {
		t.Fatalf("first GetOrFetch = %d, %v", v, err)
	}
	if v, err := c.GetOrFetch("k", fetch); v != 1 || err != nil || calls != 1 {
		t.Fatalf("second GetOrFetch = %d, %v after %d calls; want cached 1", v, err, calls)
	}
	clk.Advance(testTTL)
	if v, err := c.GetOrFetch("k", fetch); v != 2 || err != nil || calls != 2 {
		t.Fatalf("GetOrFetch after ttl = %d, %v after %d calls; want fresh 2", v, err, calls)
	}
}

func TestGetOrFetchDoesNotCacheErrors(t *testing.T) {
	c := New[string, int](testTTL, 10, nil)
	errBoom := errors.New("boom")
	v, err := c.GetOrFetch("k", func() (int, error) { return 5, errBoom })
	if !errors.Is(err, errBoom) || v != 5 {
		t.Fatalf("GetOrFetch = %d, %v; want fetch's 5, boom", v, err)
	}
	if _, ok := c.Get("k"); ok {
		t.Fatal("failed fetch was cached")
	}
	if n := c.Len(); n != 0 {
		t.Fatalf("Len = %d after failed fetch", n)
	}
	calls := 0
	v, err = c.GetOrFetch("k", func() (int, error) { calls++; return 9, nil })
	if v != 9 || err != nil || calls != 1 {
		t.Fatalf("retry = %d, %v, %d calls; want a fresh fetch", v, err, calls)
	}
}

// TestConcurrent is for -race: every method from many goroutines at once, with a moving
// clock so expiry and eviction both happen.
func TestConcurrent(t *testing.T) {
	const max = 16
	clk := newFakeClock()
	c := New[int, int](testTTL, max, clk.Now)
	var fetches atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				k := (g*7 + i) % 40
				switch i % 7 {
				case 0:
					c.Put(k, k)
				case 1:
					if v, ok := c.Get(k); ok && v != k {
						t.Errorf("Get(%d) = %d", k, v)
					}
				case 2:
					v, err := c.GetOrFetch(k, func() (int, error) { fetches.Add(1); return k, nil })
					if err != nil || v != k {
						t.Errorf("GetOrFetch(%d) = %d, %v", k, v, err)
					}
				case 3:
					c.DeleteFunc(func(key int) bool { return key == k })
				case 4:
					clk.Advance(time.Second)
				case 5:
					if n := c.Len(); n > max {
						t.Errorf("Len = %d > %d", n, max)
					}
				case 6:
					if i%100 == 6 {
						c.Clear()
					}
				}
			}
		})
	}
	wg.Wait()
	if n := c.Len(); n > max {
		t.Fatalf("Len = %d > %d", n, max)
	}
	if fetches.Load() == 0 {
		t.Fatal("fetch never ran")
	}
}

// FuzzCache applies a random sequence of operations, each taken from 2 bytes of ops,
// and checks the invariants: the bound holds, and a hit is the latest value put for the
// key, put less than the TTL ago and not in the future.
func FuzzCache(f *testing.F) {
	f.Add(uint8(3), []byte{0, 1, 1, 1, 2, 1, 3, 0, 0, 2, 0, 3, 4, 9, 1, 2})
	f.Add(uint8(1), []byte{0, 0, 0, 1, 4, 255, 1, 0, 1, 1})
	f.Add(uint8(8), []byte{0, 1, 0, 2, 0, 3, 5, 200, 1, 1, 0, 4, 0, 5, 6, 0, 1, 3})
	f.Fuzz(func(t *testing.T, maxByte uint8, ops []byte) {
		const ttl = 100 * time.Millisecond
		max := int(maxByte%16) + 1
		clk := newFakeClock()
		c := New[uint8, time.Time](ttl, max, clk.Now)
		// latest[k] is the last value put for k and not deleted since; values are
		// their own put times, so a hit shows its age.
		latest := map[uint8]time.Time{}
		for i := 0; i+1 < len(ops); i += 2 {
			op, arg := ops[i]%7, ops[i+1]
			k := arg % 32
			switch op {
			case 0: // Put
				now := clk.Now()
				c.Put(k, now)
				latest[k] = now
			case 1: // Get
				now := clk.Now()
				v, ok := c.Get(k)
				if !ok {
					break
				}
				if age := now.Sub(v); age >= ttl || age < 0 {
					t.Fatalf("Get(%d) returned a value of age %v, ttl %v", k, age, ttl)
				}
				if want, had := latest[k]; !had || !v.Equal(want) {
					t.Fatalf("Get(%d) = %v, want latest put %v (present %v)", k, v, want, had)
				}
			case 2: // Delete one key
				c.DeleteFunc(func(key uint8) bool { return key == k })
				delete(latest, k)
			case 3: // Delete a class of keys, like a token's entries
				c.DeleteFunc(func(key uint8) bool { return key%4 == k%4 })
				for key := range latest {
					if key%4 == k%4 {
						delete(latest, key)
					}
				}
			case 4: // Advance the clock, up to 2.55 ttl
				clk.Advance(time.Duration(arg) * ttl / 100)
			case 5: // Move the clock back a little
				clk.Advance(-time.Duration(arg%50) * ttl / 100)
			case 6:
				if arg%8 == 0 {
					c.Clear()
					clear(latest)
				}
			}
			if n := c.Len(); n > max {
				t.Fatalf("Len = %d > max %d", n, max)
			}
		}
	})
}
