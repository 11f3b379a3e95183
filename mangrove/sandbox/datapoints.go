package sandbox

import (
	"database/sql"
	"fmt"
	"net/http"
	"strconv"
)

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

var dataPointList = listSpec{
	sorts: map[string]string{
		"id": "dp.id", "created_at": "dp.created_at", "updated_at": "dp.updated_at", "status": "dp.status",
		"value": "dp.value", "start_time": "dp.event_time",
	},
	filters: map[string]filterDef{
		"slug":               {col: "t.slug", kind: filterString, ops: []string{"eq"}},
		"data_point_type_id": {col: "dp.type_id", kind: filterInt, ops: []string{"eq"}},
		"status":             {col: "dp.status", kind: filterString, ops: []string{"eq"}},
		"start_time":         {col: "dp.event_time", kind: filterTime, ops: []string{"geq", "leq"}},
	},
	defaultOrder: "dp.event_time ASC",
	tiebreak:     "dp.id",
}

// projectOf resolves {project_id}: one of the token's projects, else false and a 404
// (unknown and foreign ids look the same).
func projectOf(r *http.Request, p principal) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("project_id"), 10, 64)
	return id, err == nil && p.sees(id)
}

// listDataPoints is GET /projects/{project_id}/data_points. Times filter and sort on the
// owning event's start (data points have no time of their own).
func (s *Server) listDataPoints(w http.ResponseWriter, r *http.Request, p principal) {
	project, ok := projectOf(r, p)
	if !ok {
		notFound(w)
		return
	}
	lq, err := parseList(r, dataPointList)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ctx := r.Context()
	args := append([]any{project}, lq.args...)
	var total int64
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM data_points dp JOIN data_point_types t ON t.id = dp.type_id
		WHERE dp.project_id = ?`+lq.whereSQL(), args...).Scan(&total); err != nil {
		s.fail(w, r, err)
		return
	}
	rows, err := s.db.QueryContext(ctx, `SELECT dp.friendly_id, dp.type_id, dp.value, dp.unit, dp.status, e.friendly_id, e.event_type_id,
			e.start_time, e.end_time, f.id, f.name
		FROM data_points dp JOIN data_point_types t ON t.id = dp.type_id JOIN events e ON e.id = dp.event_id
		LEFT JOIN feedstocks f ON f.id = e.feedstock_id
		WHERE dp.project_id = ?`+lq.whereSQL()+` ORDER BY `+lq.order+` LIMIT ? OFFSET ?`, append(args, lq.size, lq.offset())...)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer rows.Close()
	out := []dataPointItemJSON{}
	for rows.Next() {
		var d dataPointItemJSON
		var unit, fName sql.NullString
		var fID sql.NullInt64
		var etID int64
		if err := rows.Scan(&d.ID, &d.DataPointTypeID, &d.Value, &unit, &d.Status, &d.EventID, &etID, &d.StartTime, &d.EndTime, &fID, &fName); err != nil {
			s.fail(w, r, err)
			return
		}
		t := s.cat.types[d.DataPointTypeID]
		d.Slug, d.DataPointType, d.Unit, d.EventType = t.Slug, t.Name, nullToPtr(unit), s.cat.events[etID].Slug
		if fID.Valid {
			d.Feedstock = &feedstockJSON{ID: fID.Int64, Name: fName.String}
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listJSON[dataPointItemJSON]{Data: out, Info: lq.info(len(out), total)})
}

const projectSelect = `SELECT id, name, description, project_type, created_at, updated_at FROM projects`

func scanProject(sc interface{ Scan(...any) error }) (projectJSON, error) {
	var pj projectJSON
	err := sc.Scan(&pj.ID, &pj.Name, &pj.Description, &pj.ProjectType, &pj.CreatedAt, &pj.UpdatedAt)
	return pj, err
}

var projectList = listSpec{sorts: map[string]string{"id": "id", "name": "name"}, filters: map[string]filterDef{}, tiebreak: "id"}

// listProjects is GET /projects: the token's projects (the demo tokens see two), which
// is how a client learns the project ids (events and data points are listed per
// project).
func (s *Server) listProjects(w http.ResponseWriter, r *http.Request, p principal) {
	lq, err := parseList(r, projectList)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rows, err := s.db.QueryContext(r.Context(), projectSelect+` WHERE id `+inProjects+` ORDER BY `+lq.order+` LIMIT ? OFFSET ?`,
		p.projects(), lq.size, lq.offset())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer rows.Close()
	out := []projectJSON{}
	for rows.Next() {
		pj, err := scanProject(rows)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		out = append(out, pj)
	}
	if err := rows.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listJSON[projectJSON]{Data: out, Info: lq.info(len(out), int64(len(p.ProjectIDs)))})
}

// showProject is GET /projects/{project_id}.
func (s *Server) showProject(w http.ResponseWriter, r *http.Request, p principal) {
	project, ok := projectOf(r, p)
	if !ok {
		notFound(w)
		return
	}
	pj, err := scanProject(s.db.QueryRowContext(r.Context(), projectSelect+` WHERE id = ?`, project))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, pj)
}
