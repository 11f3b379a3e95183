package mangrove

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Model is a model version (mdl_… id; each version has its own), as GET /models lists
// it. A ledger's LatestModel names one.
type Model struct {
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	Version       int       `json:"version"`
	IsLatest      bool      `json:"is_latest"`
	Cadence       *string   `json:"cadence"`
	PartitionType *string   `json:"partition_type"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// maxModelPages bounds ProjectModels the way maxProjectPages bounds Projects.
const maxModelPages = 20

// Models returns one page of GET /models (the active model versions of the token's
// projects; documented filter: project_id).
func (c *Client) Models(ctx context.Context, token string, opts ListOptions) (*List[Model], error) {
	q, err := opts.query()
	if err != nil {
		return nil, err
	}
	return getList[Model](ctx, c, token, call{method: http.MethodGet, path: "/models", query: q})
}

// ProjectModels pages through GET /models?filter[project_id][eq]=projectID (100 per
// page) and returns the project's active model versions. After maxModelPages pages it
// returns what it read with an error matching ErrTooManyPages.
func (c *Client) ProjectModels(ctx context.Context, token string, projectID int64) ([]Model, error) {
	var all []Model
	page := 1
	for range maxModelPages {
		l, err := c.Models(ctx, token, ListOptions{Page: page, PageSize: allPageSize,
			Filters: []Filter{{Field: "project_id", Op: OpEq, Value: strconv.FormatInt(projectID, 10)}}})
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
	return all, fmt.Errorf("mangrove: GET /models of project %d: stopped after %d pages: %w", projectID, maxModelPages, ErrTooManyPages)
}
