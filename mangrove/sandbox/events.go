package sandbox

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
)

// GET /projects/{project_id}/events and GET /projects/{project_id}/events/{event_id}:
// the documented Event object with its data points embedded.

// Event statuses, the enum the docs give for filter[status][eq].
const (
	eventComplete   = "complete"
	eventIncomplete = "incomplete"
	eventPending    = "pending"
)

// eventStatusSQL derives an event's status from its data points, the same rule as
// eventStatus: the worst of its data points' statuses, incomplete > pending > complete
// (a status that is neither complete nor pending counts as incomplete), so an event is
// complete when all its data points are, including one without data points. It is
// evaluated only when a request filters or sorts by status: the IN list (the events
// with a data point that is not complete, one scan of data_points per statement) settles
// most events; only those in it are looked at one by one. The listed page's statuses are
// computed in Go from the data points it loads anyway.
const eventStatusSQL = `(CASE WHEN e.id IN (SELECT event_id FROM data_points WHERE status <> 'complete') THEN
	(SELECT CASE WHEN SUM(d.status NOT IN ('complete', 'pending')) > 0 THEN 'incomplete' ELSE 'pending' END
		FROM data_points d WHERE d.event_id = e.id)
	ELSE 'complete' END)`

// eventStatus is eventStatusSQL for one event's data points.
func eventStatus(points []eventDataPointJSON) string {
	status := eventComplete
	for _, d := range points {
		switch d.Status {
		case "complete":
		case "pending":
			status = eventPending
		default:
			return eventIncomplete
		}
	}
	return status
}

// eventList is what the docs list for list-all-events: sort fields id, start_time,
// end_time, created_at, updated_at, status, tracking_id, friendly_id; filters id
// (integer), status and tracking_id, all eq. Without sort: start_time ascending, as
// GET /data_points; the tiebreak is id (creation order) in every case.
var eventList = listSpec{
	sorts: map[string]string{
		"id": "e.id", "friendly_id": "e.friendly_id", "start_time": "e.start_time", "end_time": "e.end_time",
		// Events are never edited in the sandbox (no PATCH), so updated_at is created_at.
		"created_at": "e.created_at", "updated_at": "e.created_at",
		"status": eventStatusSQL, "tracking_id": "e.tracking_id",
	},
	filters: map[string]filterDef{
		"id":          {col: "e.id", kind: filterInt, ops: []string{"eq"}},
		"status":      {col: eventStatusSQL, kind: filterString, ops: []string{"eq"}},
		"tracking_id": {col: "e.tracking_id", kind: filterString, ops: []string{"eq"}},
	},
	defaultOrder: "e.start_time ASC",
	tiebreak:     "e.id",
}

// eventDataPointJSON is the documented DataPoint object as embedded in an Event.
// rule_results is always empty: the sandbox has no rules engine.
type eventDataPointJSON struct {
	ID            string  `json:"id"`
	Slug          string  `json:"slug"`
	DataPointType string  `json:"data_point_type"`
	Value         float64 `json:"value"`
	Unit          *string `json:"unit"`
	Status        string  `json:"status"`
	RuleResults   []any   `json:"rule_results"`
}

// eventJSON is the documented Event object: the summary a batch's input data shows
// (eventRefJSON) plus the derived status (the docs sort and filter events by status
// but show no status field). locations and evidences are always empty: the sandbox
// has neither.
type eventJSON struct {
	eventRefJSON
	Status     string               `json:"status"`
	DataPoints []eventDataPointJSON `json:"data_points"`
	Locations  []any                `json:"locations"`
	Evidences  []any                `json:"evidences"`
}

const eventSelect = `SELECT e.id, e.friendly_id, e.event_type_id, e.tracking_id, e.start_time, e.end_time FROM events e`

type eventRow struct {
	id  int64
	out eventJSON
}

func scanEvent(sc interface{ Scan(...any) error }, c *catalog) (*eventRow, error) {
	ev := &eventRow{}
	var etID int64
	var tracking sql.NullString
	if err := sc.Scan(&ev.id, &ev.out.ID, &etID, &tracking, &ev.out.StartTime, &ev.out.EndTime); err != nil {
		return nil, err
	}
	if et := c.events[etID]; et != nil {
		ev.out.Slug, ev.out.EventType = et.Slug, et.Name
	}
	ev.out.TrackingID = nullToPtr(tracking)
	ev.out.DataPoints, ev.out.Locations, ev.out.Evidences = []eventDataPointJSON{}, []any{}, []any{}
	return ev, nil
}

// listEvents is GET /projects/{project_id}/events: one query for the count, one for the
// page's events and one for all their data points.
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request, p principal) {
	project, ok := projectOf(r, p)
	if !ok {
		notFound(w)
		return
	}
	lq, err := parseList(r, eventList)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if v, ok := r.URL.Query()["filter[status][eq]"]; ok {
		if st := v[0]; st != eventComplete && st != eventIncomplete && st != eventPending {
			s.fail(w, r, badRequest("filter[status][eq] must be one of complete, incomplete, pending, got %q", st))
			return
		}
	}
	ctx := r.Context()
	args := append([]any{project}, lq.args...)
	var total int64
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM events e WHERE e.project_id = ?`+lq.whereSQL(), args...).Scan(&total); err != nil {
		s.fail(w, r, err)
		return
	}
	// The page is chosen on ids alone (start_time, id and project_id are in an index, so a
	// sort on start_time reads no table row), then its rows are read and ordered again.
	rows, err := s.db.QueryContext(ctx, eventSelect+` JOIN (SELECT e.id FROM events e WHERE e.project_id = ?`+lq.whereSQL()+
		` ORDER BY `+lq.order+` LIMIT ? OFFSET ?) pg ON pg.id = e.id ORDER BY `+lq.order, append(args, lq.size, lq.offset())...)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var page []*eventRow
	for rows.Next() {
		ev, err := scanEvent(rows, s.cat)
		if err != nil {
			rows.Close()
			s.fail(w, r, err)
			return
		}
		page = append(page, ev)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.loadEventDataPoints(ctx, page); err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]eventJSON, len(page))
	for i, ev := range page {
		out[i] = ev.out
	}
	writeJSON(w, http.StatusOK, listJSON[eventJSON]{Data: out, Info: lq.info(len(out), total)})
}

// showEvent is GET /projects/{project_id}/events/{event_id} (the evt_ id); an unknown
// id or another project's event is a 404.
func (s *Server) showEvent(w http.ResponseWriter, r *http.Request, p principal) {
	project, ok := projectOf(r, p)
	if !ok {
		notFound(w)
		return
	}
	ev, err := scanEvent(s.db.QueryRowContext(r.Context(), eventSelect+` WHERE e.friendly_id = ? AND e.project_id = ?`,
		r.PathValue("event_id"), project), s.cat)
	if errors.Is(err, sql.ErrNoRows) {
		notFound(w)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.loadEventDataPoints(r.Context(), []*eventRow{ev}); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ev.out)
}

// loadEventDataPoints fills the events' data points (in creation order) and statuses
// with one query over data_points_event.
func (s *Server) loadEventDataPoints(ctx context.Context, events []*eventRow) error {
	if len(events) == 0 {
		return nil
	}
	byID := make(map[int64]*eventRow, len(events))
	ids := make([]int64, len(events))
	for i, ev := range events {
		byID[ev.id], ids[i] = ev, ev.id
	}
	rows, err := s.db.QueryContext(ctx, `SELECT dp.event_id, dp.friendly_id, dp.type_id, dp.value, dp.unit, dp.status
		FROM data_points dp WHERE dp.event_id IN (`+placeholders(len(ids))+`) ORDER BY dp.event_id, dp.id`, int64Args(ids)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var evID, typeID int64
		var d eventDataPointJSON
		var unit sql.NullString
		if err := rows.Scan(&evID, &d.ID, &typeID, &d.Value, &unit, &d.Status); err != nil {
			return err
		}
		if t := s.cat.types[typeID]; t != nil {
			d.Slug, d.DataPointType = t.Slug, t.Name
		}
		d.Unit, d.RuleResults = nullToPtr(unit), []any{}
		ev := byID[evID]
		ev.out.DataPoints = append(ev.out.DataPoints, d)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, ev := range events {
		ev.out.Status = eventStatus(ev.out.DataPoints)
	}
	return nil
}
