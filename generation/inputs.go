package generation

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/internal/owners"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// Input data states of InputData.
const (
	InputFound   = "found"   // Count data points in the range
	InputNone    = "none"    // no data point in the range: a gap
	InputEarlier = "earlier" // none in the range, but one recorded before it (a static input) applies
	InputSkipped = "skipped" // the user skips the input
	InputUnknown = "unknown" // the API could not tell
)

// InputData says whether the previewed range has data for one required input.
type InputData struct {
	Name         string
	Slug         string
	ManualSelect bool
	State        string // one of the Input* constants
	Count        int
	Earlier      time.Time // InputEarlier: when the newest earlier data point was recorded
}

const (
	// eventPageSize and maxEventPages bound the events one project's check reads,
	// newest first: the range and the events before it, up to 600;
	// eventPagesAtOnce of them at a time.
	eventPageSize    = 100
	maxEventPages    = 6
	eventPagesAtOnce = 2
	// maxProjectsRead: a token that sees up to this many projects has their
	// events read beside their models (which tell the ledger's project), so
	// the check costs no extra round; one that sees more has the ledger's
	// project told first, then only its events read.
	maxProjectsRead = 5
	// inputCheckTimeout bounds the whole check: it only adds a hint to the
	// preview and must not hold it up.
	inputCheckTimeout = 8 * time.Second
)

// errUnordered: the events did not come newest first, so where the range
// ends in them cannot be told.
var errUnordered = errors.New("events not in the requested order")

// errUntold: the ledger's project cannot be told (internal/owners), so no
// project's data is the ledger's for sure.
var errUntold = errors.New("the ledger's project cannot be told")

// inputData tells, per required input, whether the range has data points in
// the ledger's project. It reads that project's events (GET
// /projects/{id}/events, documented with start_time and embedded data
// points) newest first, and counts the data points of each input's type in
// the range itself: no undocumented filter is relied on. Another project's
// data is never counted: a token may see several projects, and a ledger's
// model reads its own project's data. Where the API cannot say (no such
// endpoint, an error, too many events to read, a ledger whose project cannot
// be told) the input is "unknown": this is a hint and never fails the
// preview.
func (s *Service) inputData(ctx context.Context, token string, ledger mangrove.Ledger, inputs []mangrove.RequiredInput, skipped []int64,
	projects []mangrove.Project, projectsErr error, start, end time.Time) []InputData {
	if len(inputs) == 0 {
		return nil
	}
	skip := map[int64]bool{}
	for _, id := range skipped {
		skip[id] = true
	}
	rows := make([]InputData, len(inputs))
	wanted := map[string]bool{}
	for i, in := range inputs {
		rows[i] = InputData{Name: in.Name, Slug: in.Slug, ManualSelect: in.IsManualSelect, State: InputUnknown}
		switch {
		case skip[in.ID]:
			rows[i].State = InputSkipped
		case in.Slug != "":
			wanted[strings.ToLower(in.Slug)] = true
		}
	}
	if projectsErr != nil || len(projects) == 0 || len(wanted) == 0 {
		if projectsErr != nil && !errors.Is(projectsErr, mangrove.ErrNotFound) {
			s.log.Warn("listing projects for the input check failed", "err", projectsErr)
		}
		return rows
	}
	ctx, cancel := context.WithTimeout(ctx, inputCheckTimeout)
	defer cancel()
	t, err := s.ledgerTally(ctx, token, ledger, projects, wanted, start, end)
	if err != nil { // the ledger's project not read: no input can be told
		if !errors.Is(err, mangrove.ErrNotFound) && !errors.Is(err, errUntold) && ctx.Err() == nil {
			s.log.Warn("reading events for the input check failed", "ledger_id", ledger.ID, "err", err)
		}
		return rows
	}
	for i := range rows {
		slug := strings.ToLower(rows[i].Slug)
		if rows[i].State == InputSkipped || !wanted[slug] {
			continue
		}
		rows[i].Count, rows[i].Earlier = t.inRange[slug], t.earlier[slug]
		switch {
		case rows[i].Count > 0:
			rows[i].State, rows[i].Earlier = InputFound, time.Time{}
		case !rows[i].Earlier.IsZero():
			// A static input (site data, say) is recorded once, before the
			// range; Mangrove uses that value, so it is no gap.
			rows[i].State = InputEarlier
		default:
			rows[i].State = InputNone
		}
	}
	return rows
}

// ledgerTally tallies the events of the ledger's project. One project is
// the ledger's; among several, internal/owners tells which from the
// projects' models, or the token's kept owners (the ledger pages read them
// too) tell it at once. Up to maxProjectsRead projects, their events are
// read at once with the models, and the other projects' reads stop as soon
// as the models have told the ledger's project; with more, the project is
// told first.
func (s *Service) ledgerTally(ctx context.Context, token string, ledger mangrove.Ledger, projects []mangrove.Project,
	wanted map[string]bool, start, end time.Time) (*tally, error) {
	if len(projects) == 1 {
		return s.tallyEvents(ctx, token, projects[0].ID, wanted, start, end)
	}
	if o, ok := s.owners.Get(token); ok && sameProjects(o.Projects(), projects) {
		p, ok := o.Of(ledger)
		if !ok {
			return nil, errUntold
		}
		return s.tallyEvents(ctx, token, p.ID, wanted, start, end)
	}
	if len(projects) > maxProjectsRead {
		o := owners.Read(ctx, s.api, token, projects)
		if err := o.Err(); err != nil {
			return nil, err
		}
		s.owners.Put(token, o)
		p, ok := o.Of(ledger)
		if !ok {
			return nil, errUntold
		}
		return s.tallyEvents(ctx, token, p.ID, wanted, start, end)
	}
	var (
		wg      sync.WaitGroup
		o       *owners.Owners
		tallies = make([]*tally, len(projects))
		errs    = make([]error, len(projects))
		cancels = make([]context.CancelFunc, len(projects))
	)
	for i, p := range projects {
		pctx, cancel := context.WithCancel(ctx)
		cancels[i] = cancel
		defer cancel()
		wg.Go(func() { tallies[i], errs[i] = s.tallyEvents(pctx, token, p.ID, wanted, start, end) })
	}
	wg.Go(func() {
		o = owners.Read(ctx, s.api, token, projects)
		owner, ok := o.Of(ledger)
		for i, p := range projects {
			if !ok || p.ID != owner.ID {
				cancels[i]()
			}
		}
	})
	wg.Wait()
	if err := o.Err(); err != nil {
		return nil, err
	}
	s.owners.Put(token, o)
	owner, ok := o.Of(ledger)
	if !ok {
		return nil, errUntold
	}
	i := slices.IndexFunc(projects, func(p mangrove.Project) bool { return p.ID == owner.ID })
	return tallies[i], errs[i]
}

// sameProjects reports whether two project lists name the same projects in
// the same order: kept owners serve only the projects they were read for.
func sameProjects(a, b []mangrove.Project) bool {
	return slices.EqualFunc(a, b, func(x, y mangrove.Project) bool { return x.ID == y.ID })
}

// tally is what one project's events say: per data point type slug, the data
// points in the range and when the newest one before it was recorded.
type tally struct {
	inRange map[string]int
	earlier map[string]time.Time
}

// tallyEvents reads a project's events newest first until it is past the
// range's start and has found an earlier data point for every wanted type
// without one in the range, or the list ends; after maxEventPages pages it
// stops, and fails if it has not read the whole range by then. Pages are
// read eventPagesAtOnce at a time, so a recent range with its static inputs
// costs one round of calls.
func (s *Service) tallyEvents(ctx context.Context, token string, projectID int64, wanted map[string]bool, start, end time.Time) (*tally, error) {
	t := &tally{inRange: map[string]int{}, earlier: map[string]time.Time{}}
	var previous *time.Time
	pastStart := false
	for first := 1; first <= maxEventPages; first += eventPagesAtOnce {
		lists, err := s.eventPages(ctx, token, projectID, first, min(first+eventPagesAtOnce-1, maxEventPages))
		if err != nil {
			return nil, err
		}
		for i, list := range lists {
			for _, e := range list.Data {
				if previous != nil && e.StartTime.After(*previous) {
					return nil, errUnordered
				}
				previous = &e.StartTime
				switch {
				case e.StartTime.After(end):
				case !e.StartTime.Before(start):
					for _, dp := range e.DataPoints {
						t.inRange[strings.ToLower(dp.Slug)]++
					}
				default:
					pastStart = true
					for _, dp := range e.DataPoints {
						if slug := strings.ToLower(dp.Slug); t.earlier[slug].IsZero() {
							t.earlier[slug] = e.StartTime
						}
					}
				}
			}
			if _, more := list.NextPageAfter(first + i); !more || (pastStart && t.complete(wanted)) {
				return t, nil
			}
		}
	}
	if !pastStart {
		return nil, errors.New("the range starts further back than the check reads")
	}
	return t, nil
}

// eventPages reads pages first to last of a project's events, newest first,
// all at once.
func (s *Service) eventPages(ctx context.Context, token string, projectID int64, first, last int) ([]*mangrove.List[mangrove.Event], error) {
	lists := make([]*mangrove.List[mangrove.Event], last-first+1)
	errs := make([]error, len(lists))
	var wg sync.WaitGroup
	for i := range lists {
		wg.Go(func() {
			lists[i], errs[i] = s.api.ProjectEvents(ctx, token, projectID, mangrove.ListOptions{
				Page: first + i, PageSize: eventPageSize, Sort: []string{"-start_time", "-id"},
			})
		})
	}
	wg.Wait()
	return lists, errors.Join(errs...)
}

// complete reports whether every wanted type has data in the range or an
// earlier data point: reading further back would change nothing.
func (t *tally) complete(wanted map[string]bool) bool {
	for slug := range wanted {
		if t.inRange[slug] == 0 && t.earlier[slug].IsZero() {
			return false
		}
	}
	return true
}
