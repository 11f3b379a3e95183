package checkapi

import (
	"context"
	"fmt"
	"strings"

	"github.com/carbon-dash/mangrove-dashboard/internal/owners"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// ownersCheck is the guess internal/owners rests on (README, "Which project a
// ledger belongs to").
const ownersCheck = "each ledger with a model is in exactly one project's GET /models"

// maxUntoldNamed bounds the ledgers a failed owners check names.
const maxUntoldNamed = 5

// checkOwners tells each ledger's project as the dashboard does, and says
// whether every ledger with a model was told: the dashboard copes with one
// that is not (it shows "Other" and says "unknown"), so it is a finding,
// not a breakage.
func (c *checker) checkOwners(ctx context.Context) {
	const ep = "GET /models"
	projects, err := c.api.Projects(ctx, c.token)
	if err != nil {
		c.add(ep, ownersCheck, Guess, false, CouldNotTell, "GET /projects failed: "+mangrove.Describe(err))
		return
	}
	if len(projects) <= 1 {
		c.add(ep, ownersCheck, Guess, false, Holds, "one project: every ledger is its (no call needed)")
		return
	}
	ledgers, err := c.api.AllLedgers(ctx, c.token)
	if err != nil {
		c.add(ep, ownersCheck, Guess, false, CouldNotTell, "GET /ledgers failed: "+mangrove.Describe(err))
		return
	}
	o := owners.Read(ctx, c.api, c.token, projects)
	if err := o.Err(); err != nil {
		c.add(ep, ownersCheck, Guess, false, CouldNotTell, "reading the projects' models failed: "+err.Error())
		return
	}
	c.addVerdict(ep, ownersCheck, Guess, false, judgeOwners(ledgers, o.Of, len(projects)))
}

// judgeOwners says whether of tells the project of every ledger with a
// model, naming up to maxUntoldNamed that it does not.
func judgeOwners(ledgers []mangrove.Ledger, of func(mangrove.Ledger) (mangrove.Project, bool), projects int) Verdict {
	withModel, untold := 0, []string{}
	for _, l := range ledgers {
		if l.LatestModel == nil {
			continue
		}
		withModel++
		if _, ok := of(l); !ok {
			untold = append(untold, l.ID)
		}
	}
	if len(untold) == 0 {
		return Verdict{Status: Holds, Note: fmt.Sprintf("%d ledgers with a model across %d projects, each told", withModel, projects)}
	}
	named := untold[:min(len(untold), maxUntoldNamed)]
	return Verdict{Status: DoesNotHold, Note: fmt.Sprintf("%d of %d ledgers with a model not told (shown under \"Other\"): %s",
		len(untold), withModel, strings.Join(named, ", "))}
}
