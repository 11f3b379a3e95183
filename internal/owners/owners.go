// Package owners tells which of a token's projects a ledger belongs to.
//
// A Mangrove ledger does not name its project: the documented ledger object has no
// project_id, and no project filter is documented for GET /ledgers. What is documented
// is a ledger's latest_model ({id, name}) and GET /models with filter[project_id][eq]
// (the active model versions of one project). So a ledger belongs to the project whose
// models list its latest model. A token that sees one project needs none of this: every
// ledger it sees is that project's. A ledger without a model, or whose model no project
// lists, or lists twice (a server that ignored the filter would list every model under
// every project), cannot be told, and callers say so rather than guess.
package owners

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/internal/ttlcache"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// API is what telling needs (*mangrove.Client implements it).
type API interface {
	ProjectModels(ctx context.Context, token string, projectID int64) ([]mangrove.Model, error)
}

// MaxProjects bounds the projects whose models are read, one call each, all at once: a
// token that sees more gets no ledger told apart.
const MaxProjects = 20

// ErrTooManyProjects: the token sees more than MaxProjects projects.
var ErrTooManyProjects = fmt.Errorf("more than %d projects", MaxProjects)

// Owners tells a ledger's project among a token's projects. The zero value tells none.
type Owners struct {
	projects []mangrove.Project
	// byModel is the index in projects of the project that lists a model, -1 when
	// more than one does.
	byModel map[string]int
	err     error
}

// Read reads the models of each of the token's projects, all at once; with one project
// it reads nothing. A failed read leaves every ledger untold (Err says why): a model
// missing from one project's list would otherwise look like another's.
func Read(ctx context.Context, api API, token string, projects []mangrove.Project) *Owners {
	o := &Owners{projects: projects}
	switch {
	case len(projects) <= 1:
		return o
	case len(projects) > MaxProjects:
		o.err = ErrTooManyProjects
		return o
	}
	models := make([][]mangrove.Model, len(projects))
	errs := make([]error, len(projects))
	var wg sync.WaitGroup
	for i, p := range projects {
		wg.Go(func() { models[i], errs[i] = api.ProjectModels(ctx, token, p.ID) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		o.err = err
		return o
	}
	o.byModel = map[string]int{}
	for i, ms := range models {
		for _, m := range ms {
			if j, ok := o.byModel[m.ID]; ok && j != i {
				o.byModel[m.ID] = -1
			} else {
				o.byModel[m.ID] = i
			}
		}
	}
	return o
}

// Projects are the token's projects, in the order they were listed.
func (o *Owners) Projects() []mangrove.Project { return o.projects }

// Err says why no ledger can be told apart (a failed read, too many projects); nil
// when the models were read or were not needed.
func (o *Owners) Err() error { return o.err }

// Of returns the project a ledger belongs to, and false when it cannot be told.
func (o *Owners) Of(l mangrove.Ledger) (mangrove.Project, bool) {
	if len(o.projects) == 1 {
		return o.projects[0], true
	}
	if l.LatestModel == nil || o.byModel == nil {
		return mangrove.Project{}, false
	}
	if i, ok := o.byModel[l.LatestModel.ID]; ok && i >= 0 {
		return o.projects[i], true
	}
	return mangrove.Project{}, false
}

// Cache lifetime and bound.
const (
	// CacheTTL is how long a token's Owners are reused: the ledgers list,
	// the coverage and the preview all need them, and a ledger does not
	// change projects.
	CacheTTL = 5 * time.Minute
	cacheMax = 1024
)

// Cache keeps each token's Owners (by the token's hash) for CacheTTL, for
// every page that tells a ledger's project. Only Owners read without error
// are kept.
type Cache struct {
	c *ttlcache.Cache[string, *Owners]
}

// NewCache returns an empty cache; now nil means time.Now.
func NewCache(now func() time.Time) *Cache {
	if now == nil {
		now = time.Now
	}
	return &Cache{c: ttlcache.New[string, *Owners](CacheTTL, cacheMax, now)}
}

// Get returns the token's kept Owners.
func (c *Cache) Get(token string) (*Owners, bool) { return c.c.Get(mangrove.TokenHash(token)) }

// Put keeps the token's Owners, unless they were not read.
func (c *Cache) Put(token string, o *Owners) {
	if o != nil && o.err == nil {
		c.c.Put(mangrove.TokenHash(token), o)
	}
}

// Clear forgets every token's Owners.
func (c *Cache) Clear() { c.c.Clear() }
