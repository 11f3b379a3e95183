// Package ttlcache is a small, bounded, concurrency-safe cache whose entries live for a
// fixed time. It exists so the dashboard's read caches (ledger metadata, charts) share
// one implementation of expiry and bounding instead of each getting them slightly wrong.
package ttlcache

import (
	"container/list"
	"sync"
	"time"
)

// DefaultMax is the bound New uses when given max <= 0: a cache must always be bounded,
// since its keys come from requests (tokens, ids) and would otherwise grow without limit.
const DefaultMax = 1024

// Cache keeps values for a fixed time; beyond Max entries it evicts expired entries,
// then the oldest (by insertion/refresh time) — never everything, so a burst of new keys
// costs only the entries it displaces.
//
// Values are shared, not copied: whoever gets one must not modify it.
//
// A nil *Cache, the zero Cache and a Cache made with ttl <= 0 are disabled: Get always
// misses and Put does nothing, so callers need no special case for "caching off".
type Cache[K comparable, V any] struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu sync.Mutex
	// order holds *entry[K, V] in insertion/refresh order, oldest at the front. With a
	// clock that does not go backwards (time.Now's monotonic reading) this is also time
	// order, so expired entries form a prefix and both kinds of eviction are O(1)
	// amortised.
	order   *list.List
	entries map[K]*list.Element
}

type entry[K comparable, V any] struct {
	key K
	v   V
	at  time.Time // when the value was put
}

// New returns a cache that keeps values for ttl and at most max entries (DefaultMax when
// max <= 0). now is the clock, for tests; nil means time.Now. ttl <= 0 disables caching:
// Get always misses and Put is a no-op.
func New[K comparable, V any](ttl time.Duration, max int, now func() time.Time) *Cache[K, V] {
	if max <= 0 {
		max = DefaultMax
	}
	if now == nil {
		now = time.Now
	}
	return &Cache[K, V]{ttl: ttl, max: max, now: now, order: list.New(), entries: map[K]*list.Element{}}
}

// enabled reports whether the cache keeps anything; checked first by every method so a
// nil or disabled cache never touches its (possibly nil) fields.
func (c *Cache[K, V]) enabled() bool { return c != nil && c.ttl > 0 && c.entries != nil }

// stale reports whether e may not be served at now: it is at least ttl old, or it is
// from the future because the clock went backwards, so its age is unknown.
func (c *Cache[K, V]) stale(e *entry[K, V], now time.Time) bool {
	return now.Sub(e.at) >= c.ttl || now.Before(e.at)
}

// Get returns the value for k if it was put less than the TTL ago. It misses when k is
// absent, expired (age >= ttl) or put at a time after now (the clock went backwards:
// its age cannot be trusted).
func (c *Cache[K, V]) Get(k K) (V, bool) {
	var zero V
	if !c.enabled() {
		return zero, false
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[k]
	if !ok {
		return zero, false
	}
	e := el.Value.(*entry[K, V])
	if c.stale(e, now) {
		// It can never be served as is; drop it now rather than hold its memory until
		// the cache fills up.
		c.remove(el)
		return zero, false
	}
	return e.v, true
}

// Put stores v for k, stamped with the current time. Putting an existing key refreshes
// it: it becomes the newest entry. When the cache is full, expired entries go first, then
// the oldest one.
func (c *Cache[K, V]) Put(k K, v V) {
	if !c.enabled() {
		return
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[k]; ok {
		e := el.Value.(*entry[K, V])
		e.v, e.at = v, now
		c.order.MoveToBack(el)
		return
	}
	if len(c.entries) >= c.max {
		c.evict(now)
	}
	c.entries[k] = c.order.PushBack(&entry[K, V]{key: k, v: v, at: now})
}

// evict makes room for one entry. Expired entries are at the front (see order), so it
// drops the stale prefix; if that freed nothing, the oldest live entry goes. Each entry
// is removed at most once, so this is O(1) amortised per Put. If the clock went
// backwards an expired entry may hide behind a live one and survive this pass; it is
// still never served (Get checks) and goes when it reaches the front.
func (c *Cache[K, V]) evict(now time.Time) {
	for el := c.order.Front(); el != nil && c.stale(el.Value.(*entry[K, V]), now); el = c.order.Front() {
		c.remove(el)
	}
	if len(c.entries) >= c.max {
		c.remove(c.order.Front())
	}
}

// remove drops el from both the list and the map; c.mu must be held.
func (c *Cache[K, V]) remove(el *list.Element) {
	delete(c.entries, el.Value.(*entry[K, V]).key)
	c.order.Remove(el)
}

// GetOrFetch returns the cached value for k, or calls fetch and caches its value. Errors
// are never cached, so a failed read is retried by the next caller; fetch's value is
// returned with its error as is.
//
// Concurrent misses for the same key each call fetch: fetch usually carries its caller's
// context and token, and sharing one call would let one caller's cancellation fail the
// others. The lock is not held while fetch runs.
func (c *Cache[K, V]) GetOrFetch(k K, fetch func() (V, error)) (V, error) {
	if v, ok := c.Get(k); ok {
		return v, nil
	}
	v, err := fetch()
	if err == nil {
		c.Put(k, v)
	}
	return v, err
}

// DeleteFunc removes every entry whose key del reports true for, e.g. to forget one
// token's entries once it changed something they describe. del runs with the cache
// locked and must not call the cache.
func (c *Cache[K, V]) DeleteFunc(del func(K) bool) {
	if !c.enabled() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for el := c.order.Front(); el != nil; {
		next := el.Next() // read before remove, which clears el's links
		if del(el.Value.(*entry[K, V]).key) {
			c.remove(el)
		}
		el = next
	}
}

// Clear removes every entry, e.g. when a change upstream makes all of them suspect.
func (c *Cache[K, V]) Clear() {
	if !c.enabled() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.order.Init()
	clear(c.entries)
}

// Len returns the number of entries held, including expired ones not yet evicted; it is
// never more than the cache's bound.
func (c *Cache[K, V]) Len() int {
	if !c.enabled() {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
