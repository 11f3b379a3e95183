// Package apicache keeps the API reads the dashboard's pages share for a short time per
// token, and makes identical reads in flight at once share one call. The ledger page,
// the generation form and the preview read the same ledger, required inputs, batch
// lists, projects, models and events: within PageTTL they cost the API one call between them.
//
// Everything else of *mangrove.Client passes through unchanged: writes, task polls and
// the single-batch page are never cached.
package apicache

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/carbon-dash/mangrove-dashboard/internal/ttlcache"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

const (
	// PageTTL is how long a read is reused for the same token: long enough for the
	// form → preview → confirm path and paging a table, short enough that data
	// changed outside the dashboard shows within seconds.
	PageTTL = 10 * time.Second
	// maxEntries bounds the cache: its keys come from requests (tokens, ids, pages).
	maxEntries = 8192
	// sharedFetchTimeout bounds a read several callers wait on: it is not cancelled
	// when the caller who started it leaves, so it needs a bound of its own (the
	// client's per-attempt timeout and retries fit within it).
	sharedFetchTimeout = time.Minute
)

// The kinds of cached reads.
const (
	kindLedgers  = "ledgers"
	kindLedger   = "ledger"
	kindInputs   = "inputs"
	kindBatches  = "batches"
	kindProjects = "projects"
	kindModels   = "models"
	kindEvents   = "events"
)

// Options tune a Client.
type Options struct {
	// TTL overrides PageTTL; negative keeps nothing (identical reads in flight
	// are still shared).
	TTL time.Duration
	Now func() time.Time
}

// Client is a *mangrove.Client whose shared reads are cached and collapsed.
type Client struct {
	*mangrove.Client
	entries *ttlcache.Cache[key, any]
	calls   singleflight.Group
	// epoch counts the invalidations: a read started before one is neither kept
	// nor shared with callers arriving after it.
	epoch atomic.Uint64
	// joined, when set (by tests), is called once a caller waits on a read.
	joined func()
}

type key struct {
	token string // mangrove.TokenHash, never the token
	kind  string
	id    string // the ledger or project id, and the list options
}

// New wraps c.
func New(c *mangrove.Client, o Options) *Client {
	ttl := o.TTL
	if ttl == 0 {
		ttl = PageTTL
	}
	return &Client{Client: c, entries: ttlcache.New[key, any](ttl, maxEntries, o.Now)}
}

// read returns the fresh cached answer for k, or fetches it once for every caller
// asking at the same moment. Errors are never kept. Each caller waits only as long as
// its own context allows; the fetch goes on for the others.
func read[T any](ctx context.Context, c *Client, k key, fetch func(context.Context) (T, error)) (T, error) {
	if v, ok := c.entries.Get(k); ok {
		return v.(T), nil
	}
	epoch := c.epoch.Load()
	flight := fmt.Sprintf("%d\x00%s\x00%s\x00%s", epoch, k.token, k.kind, k.id)
	ch := c.calls.DoChan(flight, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sharedFetchTimeout)
		defer cancel()
		v, err := fetch(fctx)
		if err == nil && c.epoch.Load() == epoch {
			c.entries.Put(k, v)
		}
		return v, err
	})
	if c.joined != nil {
		c.joined()
	}
	select {
	case r := <-ch:
		v, _ := r.Val.(T)
		return v, r.Err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

func keyOf(token, kind, id string) key {
	return key{token: mangrove.TokenHash(token), kind: kind, id: id}
}

// AllLedgers is mangrove.Client.AllLedgers, cached; the slice is the caller's.
func (c *Client) AllLedgers(ctx context.Context, token string) ([]mangrove.Ledger, error) {
	v, err := read(ctx, c, keyOf(token, kindLedgers, ""), func(ctx context.Context) ([]mangrove.Ledger, error) {
		return c.Client.AllLedgers(ctx, token)
	})
	return slices.Clone(v), err
}

// Ledger is mangrove.Client.Ledger, cached; the ledger is the caller's.
func (c *Client) Ledger(ctx context.Context, token, ledgerID string) (*mangrove.Ledger, error) {
	v, err := read(ctx, c, keyOf(token, kindLedger, ledgerID), func(ctx context.Context) (*mangrove.Ledger, error) {
		return c.Client.Ledger(ctx, token, ledgerID)
	})
	if v == nil {
		return nil, err
	}
	l := *v
	return &l, err
}

// RequiredInputs is mangrove.Client.RequiredInputs, cached; the slice is the caller's.
func (c *Client) RequiredInputs(ctx context.Context, token, ledgerID string) ([]mangrove.RequiredInput, error) {
	v, err := read(ctx, c, keyOf(token, kindInputs, ledgerID), func(ctx context.Context) ([]mangrove.RequiredInput, error) {
		return c.Client.RequiredInputs(ctx, token, ledgerID)
	})
	return slices.Clone(v), err
}

// LedgerBatches is mangrove.Client.LedgerBatches, cached until BatchesChanged; the
// list and its Data slice are the caller's (the batches in it are shared: read them only).
func (c *Client) LedgerBatches(ctx context.Context, token, ledgerID string, opts mangrove.ListOptions) (*mangrove.List[mangrove.Batch], error) {
	v, err := read(ctx, c, keyOf(token, kindBatches, ledgerID+"\x00"+fmt.Sprint(opts)), func(ctx context.Context) (*mangrove.List[mangrove.Batch], error) {
		return c.Client.LedgerBatches(ctx, token, ledgerID, opts)
	})
	return cloneList(v), err
}

// Projects is mangrove.Client.Projects, cached; the slice is the caller's.
func (c *Client) Projects(ctx context.Context, token string) ([]mangrove.Project, error) {
	v, err := read(ctx, c, keyOf(token, kindProjects, ""), func(ctx context.Context) ([]mangrove.Project, error) {
		return c.Client.Projects(ctx, token)
	})
	return slices.Clone(v), err
}

// ProjectModels is mangrove.Client.ProjectModels, cached; the slice is the caller's.
func (c *Client) ProjectModels(ctx context.Context, token string, projectID int64) ([]mangrove.Model, error) {
	v, err := read(ctx, c, keyOf(token, kindModels, fmt.Sprint(projectID)), func(ctx context.Context) ([]mangrove.Model, error) {
		return c.Client.ProjectModels(ctx, token, projectID)
	})
	return slices.Clone(v), err
}

// ProjectEvents is mangrove.Client.ProjectEvents, cached; the list and its Data slice
// are the caller's (the events in it are shared: read them only).
func (c *Client) ProjectEvents(ctx context.Context, token string, projectID int64, opts mangrove.ListOptions) (*mangrove.List[mangrove.Event], error) {
	v, err := read(ctx, c, keyOf(token, kindEvents, fmt.Sprint(projectID, "\x00", opts)), func(ctx context.Context) (*mangrove.List[mangrove.Event], error) {
		return c.Client.ProjectEvents(ctx, token, projectID, opts)
	})
	return cloneList(v), err
}

func cloneList[T any](l *mangrove.List[T]) *mangrove.List[T] {
	if l == nil {
		return nil
	}
	out := *l
	out.Data = slices.Clone(l.Data)
	return &out
}

// BatchesChanged forgets what a generation may have made stale: every token's batch
// lists (a generation writes to every ledger of its group, which other tokens see
// too), and the given token's other reads ("" keeps them). Reads in flight are
// neither kept nor shared any more.
func (c *Client) BatchesChanged(token string) {
	c.epoch.Add(1)
	th := ""
	if token != "" {
		th = mangrove.TokenHash(token)
	}
	c.entries.DeleteFunc(func(k key) bool { return k.kind == kindBatches || (th != "" && k.token == th) })
}

// Clear forgets every cached read, for load tests and benchmarks that measure the
// uncached path.
func (c *Client) Clear() {
	c.epoch.Add(1)
	c.entries.Clear()
}
