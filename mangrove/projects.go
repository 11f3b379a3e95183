package mangrove

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// Project is a Mangrove project. Ledgers do not name their project; data
// points are listed per project, so a client learns the ids here.
type Project struct {
	ID          int64     `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	ProjectType string    `json:"project_type"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// maxProjectPages bounds Projects the way maxPages bounds AllLedgers.
const maxProjectPages = 20

// Projects pages through GET /projects (100 per page) and returns every
// project the token can see. After maxProjectPages pages it returns what it
// read with an error matching ErrTooManyPages.
func (c *Client) Projects(ctx context.Context, token string) ([]Project, error) {
	var all []Project
	page := 1
	for range maxProjectPages {
		q, err := ListOptions{Page: page, PageSize: allPageSize}.query()
		if err != nil {
			return nil, err
		}
		l, err := getList[Project](ctx, c, token, call{method: http.MethodGet, path: "/projects", query: q})
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
	return all, fmt.Errorf("mangrove: GET /projects: stopped after %d pages: %w", maxProjectPages, ErrTooManyPages)
}
