package mangrove

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

const (
	// allPageSize and maxPages bound AllLedgers: the maximum page_size is not
	// documented, so the client pages rather than asking for everything at once, and a
	// server that never says "last page" cannot keep it looping.
	allPageSize = 100
	maxPages    = 100
)

// Ledger is a Mangrove ledger (a mass account). A nil LatestModel means the ledger has
// no linked model, and batches cannot be generated on it.
type Ledger struct {
	ID               string          `json:"id"`
	Name             string          `json:"name"`
	Unit             *string         `json:"unit"`
	SystemLedgerType *string         `json:"system_ledger_type"` // non-nil marks a system ledger
	PartitionType    *string         `json:"partition_type"`     // e.g. "time", "feedstock"
	Cadence          *string         `json:"cadence"`            // e.g. "monthly"
	LatestModel      *ModelRef       `json:"latest_model"`
	AssetCategory    json.RawMessage `json:"asset_category"` // shape undocumented; nil when null
	CreatedAt        time.Time       `json:"created_at"`
	UpdatedAt        time.Time       `json:"updated_at"`
}

// UnmarshalJSON decodes a ledger, reading a null asset_category as nil.
func (l *Ledger) UnmarshalJSON(b []byte) error {
	type plain Ledger
	if err := json.Unmarshal(b, (*plain)(l)); err != nil {
		return err
	}
	l.AssetCategory = nullToNil(l.AssetCategory)
	return nil
}

// ModelRef names a model version (mdl_… id).
type ModelRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Ledgers returns one page of GET /ledgers.
func (c *Client) Ledgers(ctx context.Context, token string, opts ListOptions) (*List[Ledger], error) {
	q, err := opts.query()
	if err != nil {
		return nil, err
	}
	return getList[Ledger](ctx, c, token, call{method: http.MethodGet, path: "/ledgers", query: q})
}

// AllLedgers pages through GET /ledgers, 100 per page, until next_page is null or the
// response has no info. After 100 pages it stops and returns the ledgers read so far
// with an error matching ErrTooManyPages, so a truncated list is never taken for whole.
// Any other error returns no ledgers: a partial list would look complete.
func (c *Client) AllLedgers(ctx context.Context, token string) ([]Ledger, error) {
	var all []Ledger
	page := 1
	for range maxPages {
		l, err := c.Ledgers(ctx, token, ListOptions{Page: page, PageSize: allPageSize})
		if err != nil {
			return nil, err
		}
		all = append(all, l.Data...)
		next, ok := l.NextPageAfter(page)
		if !ok {
			return all, nil
		}
		page = next
	}
	return all, fmt.Errorf("mangrove: GET /ledgers: stopped after %d pages: %w", maxPages, ErrTooManyPages)
}

// Ledger returns GET /ledgers/{ledgerID}.
func (c *Client) Ledger(ctx context.Context, token, ledgerID string) (*Ledger, error) {
	id, err := pathSegment("ledger", ledgerID)
	if err != nil {
		return nil, err
	}
	return getObject[Ledger](ctx, c, token, call{method: http.MethodGet, path: "/ledgers/" + id})
}
