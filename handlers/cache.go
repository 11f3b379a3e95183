package handlers

import (
	"context"
	"crypto/sha256"
	"slices"
	"sync"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// pageCacheTTL is how long ledger metadata read for a browsing page (the ledgers list,
// a ledger and its required inputs on the ledger page) is reused for the same token:
// going back and forth between the list and ledgers within a few seconds costs the API
// nothing for what does not change in that time. Batch lists are not cached here (they
// change while a generation runs), nor is anything the generation form, preview or
// confirmation reads (those always ask the API); confirming a generation forgets the
// token's entries.
const pageCacheTTL = 10 * time.Second

// pageCacheMax bounds the entries; beyond it expired ones go, then the oldest.
const pageCacheMax = 4096

// pageCache keeps recent API answers per token hash, never per raw token.
type pageCache struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	entries map[pageKey]pageEntry
}

type pageKey struct {
	token [sha256.Size]byte
	kind  string // "ledgers", "ledger", "inputs"
	id    string
}

type pageEntry struct {
	v  any
	at time.Time
}

func newPageCache(ttl time.Duration, now func() time.Time) *pageCache {
	if now == nil {
		now = time.Now
	}
	return &pageCache{ttl: ttl, now: now, entries: map[pageKey]pageEntry{}}
}

func (pc *pageCache) get(k pageKey) (any, bool) {
	if pc == nil || pc.ttl <= 0 {
		return nil, false
	}
	now := pc.now()
	pc.mu.Lock()
	defer pc.mu.Unlock()
	e, ok := pc.entries[k]
	if !ok || now.Sub(e.at) >= pc.ttl || now.Before(e.at) {
		return nil, false
	}
	return e.v, true
}

func (pc *pageCache) put(k pageKey, v any) {
	if pc == nil || pc.ttl <= 0 {
		return
	}
	now := pc.now()
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if len(pc.entries) >= pageCacheMax {
		var oldest pageKey
		var oldestAt time.Time
		for key, e := range pc.entries {
			if now.Sub(e.at) >= pc.ttl {
				delete(pc.entries, key)
			} else if oldestAt.IsZero() || e.at.Before(oldestAt) {
				oldest, oldestAt = key, e.at
			}
		}
		if len(pc.entries) >= pageCacheMax {
			delete(pc.entries, oldest)
		}
	}
	pc.entries[k] = pageEntry{v: v, at: now}
}

// forgetToken drops one token's entries, e.g. after it confirmed a generation.
func (pc *pageCache) forgetToken(token string) {
	if pc == nil {
		return
	}
	key := sha256.Sum256([]byte(token))
	pc.mu.Lock()
	defer pc.mu.Unlock()
	for k := range pc.entries {
		if k.token == key {
			delete(pc.entries, k)
		}
	}
}

func (pc *pageCache) clear() {
	if pc == nil {
		return
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	clear(pc.entries)
}

// cached returns the fresh cached answer of kind/id for token, or fetches and keeps it.
// Errors are never cached.
func cached[T any](pc *pageCache, token, kind, id string, fetch func() (T, error)) (T, error) {
	k := pageKey{token: sha256.Sum256([]byte(token)), kind: kind, id: id}
	if v, ok := pc.get(k); ok {
		return v.(T), nil
	}
	v, err := fetch()
	if err == nil {
		pc.put(k, v)
	}
	return v, err
}

// cachedLedgers is client.AllLedgers through the page cache; the slice is the caller's.
func (h *Handlers) cachedLedgers(ctx context.Context, token string) ([]mangrove.Ledger, error) {
	v, err := cached(h.pages, token, "ledgers", "", func() ([]mangrove.Ledger, error) {
		return h.client.AllLedgers(ctx, token)
	})
	return slices.Clone(v), err
}

// cachedLedger is client.Ledger through the page cache; the ledger is the caller's copy.
func (h *Handlers) cachedLedger(ctx context.Context, token, id string) (*mangrove.Ledger, error) {
	v, err := cached(h.pages, token, "ledger", id, func() (*mangrove.Ledger, error) {
		return h.client.Ledger(ctx, token, id)
	})
	if err != nil || v == nil {
		return v, err
	}
	l := *v
	return &l, nil
}

// cachedInputs is client.RequiredInputs through the page cache; the slice is the caller's.
func (h *Handlers) cachedInputs(ctx context.Context, token, id string) ([]mangrove.RequiredInput, error) {
	v, err := cached(h.pages, token, "inputs", id, func() ([]mangrove.RequiredInput, error) {
		return h.client.RequiredInputs(ctx, token, id)
	})
	return slices.Clone(v), err
}

// ClearPageCaches forgets every cached page read (ledger metadata and charts), so the
// next page view asks the API again; for load tests and benchmarks that measure the
// uncached path.
func (h *Handlers) ClearPageCaches() {
	h.pages.clear()
	if h.charts != nil {
		h.charts.clear()
	}
}
