package ledgers

import (
	"context"
	"errors"
	"sync"

	"github.com/carbon-dash/mangrove-dashboard/internal/owners"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// ProjectLedgers are one project's ledgers, in the order the API lists them.
type ProjectLedgers struct {
	Project mangrove.Project
	Ledgers []mangrove.Ledger
}

// LedgerList is every ledger the token sees, by project.
type LedgerList struct {
	// Projects are the token's projects in the API's order, each with its
	// ledgers (perhaps none).
	Projects []ProjectLedgers
	// Untold are the ledgers whose project cannot be told: among several
	// projects, a ledger without a model or whose model no project lists
	// (internal/owners).
	Untold []mangrove.Ledger
	// ProjectsErr says why no ledger is placed (the projects or their
	// models could not be read); every ledger is then in Untold.
	ProjectsErr error
}

// LedgerList lists every ledger the token sees by project: the ledgers and
// the projects at once, then, when there are several projects, their models,
// which tell a ledger's project. The ledgers list failing fails it; the
// projects or models failing leave the ledgers unplaced.
func (s *Service) LedgerList(ctx context.Context, token string) (*LedgerList, error) {
	var (
		wg          sync.WaitGroup
		all         []mangrove.Ledger
		err         error
		projects    []mangrove.Project
		projectsErr error
	)
	wg.Go(func() { all, err = s.api.AllLedgers(ctx, token) })
	wg.Go(func() { projects, projectsErr = s.api.Projects(ctx, token) })
	wg.Wait()
	if err != nil {
		return nil, err
	}
	list := &LedgerList{}
	if projectsErr == nil && len(projects) == 0 {
		projectsErr = errors.New("the token sees no project")
	}
	var o *owners.Owners
	if projectsErr == nil {
		o = owners.Read(ctx, s.api, token, projects)
		projectsErr = o.Err()
	}
	if projectsErr != nil {
		if ctx.Err() == nil && !errors.Is(projectsErr, mangrove.ErrNotFound) {
			s.log.Warn("telling the ledgers' projects failed", "err", projectsErr)
		}
		list.ProjectsErr, list.Untold = projectsErr, all
		return list, nil
	}
	s.owners.Put(token, o)
	index := make(map[int64]int, len(projects))
	for i, p := range projects {
		index[p.ID] = i
		list.Projects = append(list.Projects, ProjectLedgers{Project: p})
	}
	for _, l := range all {
		if p, ok := o.Of(l); ok {
			list.Projects[index[p.ID]].Ledgers = append(list.Projects[index[p.ID]].Ledgers, l)
		} else {
			list.Untold = append(list.Untold, l)
		}
	}
	return list, nil
}
