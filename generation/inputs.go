package generation

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

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
	// inputCheckConcurrency bounds the data point calls one preview makes
	// at once.
	inputCheckConcurrency = 4
	// maxProjectsChecked: a token that sees more projects than this gets
	// "unknown" rather than a fan-out of calls per input.
	maxProjectsChecked = 5
	// inputCheckTimeout bounds the whole check: it only adds a hint to the
	// preview and must not hold it up.
	inputCheckTimeout = 8 * time.Second
)

// inputData tells, per required input, whether the range has data points,
// from GET /projects/{id}/data_points (one call per input and project,
// page_size=1, reading info.total_items). Where the API cannot say (no such
// endpoint, an error, filters it ignores) the input is "unknown": this is
// a hint and never fails the preview.
func (s *Service) inputData(ctx context.Context, token string, inputs []mangrove.RequiredInput, skipped []int64, start, end time.Time) []InputData {
	if len(inputs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, inputCheckTimeout)
	defer cancel()
	skip := map[int64]bool{}
	for _, id := range skipped {
		skip[id] = true
	}
	rows := make([]InputData, len(inputs))
	for i, in := range inputs {
		rows[i] = InputData{Name: in.Name, Slug: in.Slug, ManualSelect: in.IsManualSelect, State: InputUnknown}
		if skip[in.ID] {
			rows[i].State = InputSkipped
		}
	}
	projects, err := s.api.Projects(ctx, token)
	if err != nil || len(projects) == 0 || len(projects) > maxProjectsChecked {
		if err != nil && !errors.Is(err, mangrove.ErrNotFound) {
			s.log.Warn("listing projects for the input check failed", "err", err)
		}
		return rows
	}

	c := inputCheck{s: s, ctx: ctx, token: token, projects: projects, start: start, end: end, sem: make(chan struct{}, inputCheckConcurrency)}
	var wg sync.WaitGroup
	for i, in := range inputs {
		if !skip[in.ID] {
			wg.Go(func() { c.check(in, &rows[i]) })
		}
	}
	wg.Wait()
	return rows
}

// inputCheck checks inputs over the token's projects, a bounded number of
// calls at a time.
type inputCheck struct {
	s          *Service
	ctx        context.Context // one preview's check: it ends with inputCheckTimeout
	token      string
	projects   []mangrove.Project
	start, end time.Time
	sem        chan struct{}
}

// check fills row: the data points of the input in the range over every
// project, or when there are none, the newest one recorded before it.
func (c inputCheck) check(in mangrove.RequiredInput, row *InputData) {
	total := 0
	for _, p := range c.projects {
		c.sem <- struct{}{}
		n, ok := c.s.countDataPoints(c.ctx, c.token, p.ID, in, c.start, c.end)
		<-c.sem
		if !ok {
			return // stays unknown
		}
		total += n
	}
	row.Count = total
	if total > 0 {
		row.State = InputFound
		return
	}
	row.State = InputNone
	// A static input (site data, say) is recorded once, before the range;
	// Mangrove uses that value, so it is no gap.
	for _, p := range c.projects {
		c.sem <- struct{}{}
		t, ok := c.s.latestDataPointBefore(c.ctx, c.token, p.ID, in, c.end)
		<-c.sem
		if ok && t.After(row.Earlier) {
			row.State, row.Earlier = InputEarlier, t
		}
	}
}

// countDataPoints asks how many data points of the input's type one
// project has in the range. ok is false when the answer cannot be trusted.
func (s *Service) countDataPoints(ctx context.Context, token string, projectID int64, in mangrove.RequiredInput, start, end time.Time) (int, bool) {
	list, err := s.api.DataPoints(ctx, token, projectID, mangrove.ListOptions{
		Page: 1, PageSize: 1,
		Filters: []mangrove.Filter{
			{Field: "data_point_type_id", Op: mangrove.OpEq, Value: strconv.FormatInt(in.ID, 10)},
			{Field: "start_time", Op: mangrove.OpGeq, Value: start.UTC().Format(time.RFC3339)},
			{Field: "start_time", Op: mangrove.OpLeq, Value: end.UTC().Format(time.RFC3339)},
		},
	})
	if err != nil {
		if !errors.Is(err, mangrove.ErrNotFound) && ctx.Err() == nil {
			s.log.Warn("counting data points failed", "project_id", projectID, "input", in.Slug, "err", err)
		}
		return 0, false
	}
	// An API that ignored the filters would answer with other data: check
	// the sample it returned.
	for _, dp := range list.Data {
		if dp.Slug != "" && in.Slug != "" && !strings.EqualFold(dp.Slug, in.Slug) {
			return 0, false
		}
		if dp.StartTime != nil && (dp.StartTime.Before(start) || dp.StartTime.After(end)) {
			return 0, false
		}
	}
	if list.Info == nil {
		return len(list.Data), true
	}
	return list.Info.TotalItems, true
}

// latestDataPointBefore finds when the newest data point of the input's
// type up to end was recorded.
func (s *Service) latestDataPointBefore(ctx context.Context, token string, projectID int64, in mangrove.RequiredInput, end time.Time) (time.Time, bool) {
	list, err := s.api.DataPoints(ctx, token, projectID, mangrove.ListOptions{
		Page: 1, PageSize: 1, Sort: []string{"-start_time"},
		Filters: []mangrove.Filter{
			{Field: "data_point_type_id", Op: mangrove.OpEq, Value: strconv.FormatInt(in.ID, 10)},
			{Field: "start_time", Op: mangrove.OpLeq, Value: end.UTC().Format(time.RFC3339)},
		},
	})
	if err != nil || len(list.Data) == 0 {
		return time.Time{}, false
	}
	dp := list.Data[0]
	if dp.StartTime == nil || dp.StartTime.After(end) || (dp.Slug != "" && in.Slug != "" && !strings.EqualFold(dp.Slug, in.Slug)) {
		return time.Time{}, false
	}
	return *dp.StartTime, true
}
