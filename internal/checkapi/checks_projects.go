package checkapi

import (
	"context"
	"fmt"
	"strconv"

	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// checkProjects checks GET /projects, then the events of the first project
// in both orders the dashboard reads them.
func (c *checker) checkProjects(ctx context.Context) {
	const ep = "GET /projects"
	a := c.get(ctx, "/projects", pageQuery(1, bigPage, ""))
	// Not documented beyond its existence (reference 3.7, section 6). The
	// data range and the preview's input check read the token's projects and
	// their events; when they cannot, they say "unknown": the dashboard copes.
	if !c.reachable(ep, a, false, "") {
		c.untold("GET /projects/{id}/events", "GET /projects failed: no project id to read", answers)
		return
	}
	c.fieldRows(ep, "", false, []Field{{Path: "data", Kind: Array, Basis: Guess}, {Path: "info", Kind: Object, Basis: Guess}}, a.body)
	data, _ := items(a.body)
	c.fieldRows(ep, "data[].", false, projectFields, data...)
	_, err := c.api.Projects(ctx, c.token)
	c.decodes(ep, false, err)
	var id int64
	for _, it := range data {
		if n, ok := intValue(object(it)["id"]); ok {
			id = int64(n)
			break
		}
	}
	if id == 0 {
		c.untold("GET /projects/{id}/events", "the token sees no project with an integer id", answers)
		return
	}
	c.checkEvents(ctx, id)
}

// checkEvents checks GET /projects/{id}/events sorted by start_time both
// ways (the data range reads the first of each; the input check pages
// newest first and stops at an event out of order).
func (c *checker) checkEvents(ctx context.Context, projectID int64) {
	const ep = "GET /projects/{id}/events"
	path := "/projects/" + strconv.FormatInt(projectID, 10) + "/events"
	asc := c.get(ctx, path, pageQuery(1, bigPage, "start_time,id"))
	if !asc.ok() {
		c.add(ep, answers, Documented, false, Missing, fmt.Sprintf("%s (project %d)", asc.problem(), projectID))
		return
	}
	data, _ := items(asc.body)
	c.add(ep, answers, Documented, false, Present, fmt.Sprintf("project %d, %s on page 1", projectID, plural(len(data), "event")))
	c.fieldRows(ep, "", false, []Field{{Path: "data", Kind: Array}, {Path: "info", Kind: Object, Needed: true}}, asc.body)
	c.fieldRows(ep, "", false, listInfoFields[:2], asc.body)
	c.fieldRows(ep, "data[].", false, eventFields, data...)
	c.addVerdict(ep, "page_size=100 honoured", Guess, false, JudgePageSize(bigPage, asc.body))
	// Out of order, the input check stops and says "unknown" (errUnordered).
	c.addVerdict(ep, "sort=start_time,id orders by start_time", Documented, false, JudgeOrder(times(data, "start_time"), false))
	desc := c.get(ctx, path, pageQuery(1, bigPage, "-start_time,-id"))
	if !desc.ok() {
		c.add(ep, "sort=-start_time,-id orders by start_time, newest first", Documented, false, DoesNotHold, desc.problem())
	} else {
		d, _ := items(desc.body)
		c.addVerdict(ep, "sort=-start_time,-id orders by start_time, newest first", Documented, false, JudgeOrder(times(d, "start_time"), true))
	}
	_, err := c.api.ProjectEvents(ctx, c.token, projectID, mangrove.ListOptions{Page: 1, PageSize: bigPage, Sort: []string{"-start_time", "-id"}})
	c.decodes(ep, false, err)
}

// checkTask checks GET /async_tasks/{id} when a task id is known: the API
// documents no way to list tasks.
func (c *checker) checkTask(ctx context.Context, id int64) {
	const ep = "GET /async_tasks/{id}"
	if id <= 0 {
		c.add(ep, answers, Documented, false, CouldNotTell, "no task id known: pass -check-api-task ID (a task this token started)")
		return
	}
	a := c.get(ctx, "/async_tasks/"+strconv.FormatInt(id, 10), nil)
	if !a.ok() {
		c.add(ep, answers, Documented, true, Missing, fmt.Sprintf("%s (task %d)", a.problem(), id))
		return
	}
	c.add(ep, answers, Documented, true, Present, fmt.Sprintf("task %d", id))
	c.fields(ep, "", taskFields, a.body)
	state := stringValue(object(a.body)["state"])
	switch state {
	case mangrove.TaskPending, mangrove.TaskRunning, mangrove.TaskComplete, mangrove.TaskFailed:
		c.add(ep, "state is one of pending, running, complete, failed", Documented, false, Holds, state)
	default:
		c.add(ep, "state is one of pending, running, complete, failed", Documented, false, DoesNotHold,
			fmt.Sprintf("%q: shown as it comes; polling ends when finished_at is set", state))
	}
	_, err := c.api.AsyncTask(ctx, c.token, id)
	c.decodes(ep, true, err)
}
