package handlers

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/views"
)

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
func (h *Handlers) inputData(ctx context.Context, token string, inputs []mangrove.RequiredInput, skipped []int64, start, end time.Time) []views.InputDataRow {
	if len(inputs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, inputCheckTimeout)
	defer cancel()
	skip := map[int64]bool{}
	for _, id := range skipped {
		skip[id] = true
	}
	rows := make([]views.InputDataRow, len(inputs))
	for i, in := range inputs {
		rows[i] = views.InputDataRow{Name: in.Name, Slug: in.Slug, ManualSelect: in.IsManualSelect, State: views.InputDataUnknown}
		if skip[in.ID] {
			rows[i].State = views.InputDataSkipped
		}
	}
	projects, err := h.client.Projects(ctx, token)
	if err != nil || len(projects) == 0 || len(projects) > maxProjectsChecked {
		if err != nil && !errors.Is(err, mangrove.ErrNotFound) {
			h.log.Warn("listing projects for the input check failed", "err", err)
		}
		return rows
	}

	sem := make(chan struct{}, inputCheckConcurrency)
	var wg sync.WaitGroup
	for i, in := range inputs {
		if skip[in.ID] {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			total := 0
			for _, p := range projects {
				sem <- struct{}{}
				n, ok := h.countDataPoints(ctx, token, p.ID, in, start, end)
				<-sem
				if !ok {
					return // stays unknown
				}
				total += n
			}
			rows[i].Count = total
			if total > 0 {
				rows[i].State = views.InputDataFound
				return
			}
			rows[i].State = views.InputDataNone
			// A static input (site data, say) is recorded once, before the
			// range; Mangrove uses that value, so it is no gap.
			for _, p := range projects {
				sem <- struct{}{}
				t, ok := h.latestDataPointBefore(ctx, token, p.ID, in, end)
				<-sem
				if ok && t.After(rows[i].Earlier) {
					rows[i].State, rows[i].Earlier = views.InputDataEarlier, t
				}
			}
		}()
	}
	wg.Wait()
	return rows
}

// countDataPoints asks how many data points of the input's type one
// project has in the range. ok is false when the answer cannot be trusted.
func (h *Handlers) countDataPoints(ctx context.Context, token string, projectID int64, in mangrove.RequiredInput, start, end time.Time) (int, bool) {
	list, err := h.client.DataPoints(ctx, token, projectID, mangrove.ListOptions{
		Page: 1, PageSize: 1,
		Filters: []mangrove.Filter{
			{Field: "data_point_type_id", Op: mangrove.OpEq, Value: strconv.FormatInt(in.ID, 10)},
			{Field: "start_time", Op: mangrove.OpGeq, Value: start.UTC().Format(time.RFC3339)},
			{Field: "start_time", Op: mangrove.OpLeq, Value: end.UTC().Format(time.RFC3339)},
		},
	})
	if err != nil {
		if !errors.Is(err, mangrove.ErrNotFound) && ctx.Err() == nil {
			h.log.Warn("counting data points failed", "project_id", projectID, "input", in.Slug, "err", err)
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
func (h *Handlers) latestDataPointBefore(ctx context.Context, token string, projectID int64, in mangrove.RequiredInput, end time.Time) (time.Time, bool) {
	list, err := h.client.DataPoints(ctx, token, projectID, mangrove.ListOptions{
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

// inputGapWarning names the inputs without data in the range, or "".
func inputGapWarning(rows []views.InputDataRow) string {
	var names []string
	for _, r := range rows {
		if r.State == views.InputDataNone {
			names = append(names, r.Name)
		}
	}
	if len(names) == 0 {
		return ""
	}
	return "No data points in this range for " + strings.Join(names, ", ") + ": batches that need " +
		pluralWord(len(names), "it", "them") + " may come out incomplete or fail. Check the data in Mangrove, or skip the " +
		pluralWord(len(names), "input", "inputs") + " if that is intended."
}
