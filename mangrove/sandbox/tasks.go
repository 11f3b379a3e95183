package sandbox

import (
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
)

func (t *taskRow) json() taskJSON {
	j := taskJSON{
		ID: t.ID, Type: t.Type, State: t.State, Progress: t.Progress,
		ProgressDescription: nullToPtr(t.ProgressDescription), ErrorMessage: nullToPtr(t.ErrorMessage),
		Args: taskArgsJSON{ProjectID: t.ProjectID, LedgerID: t.LedgerID}, CreatedAt: apiTime(t.CreatedAt),
	}
	if t.StartedAt.Valid {
		j.StartedAt = optTime(&t.StartedAt.Int64)
	}
	if t.FinishedAt.Valid {
		j.FinishedAt = optTime(&t.FinishedAt.Int64)
	}
	if t.Result.Valid {
		j.Result = json.RawMessage(t.Result.String)
	}
	return j
}

// showTask is GET /async_tasks/{id}; a task of a project the token does not see is
// 404 like an unknown one.
func (s *Server) showTask(w http.ResponseWriter, r *http.Request, p principal) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		notFound(w)
		return
	}
	t, err := scanTask(s.db.QueryRowContext(r.Context(), taskSelect+` WHERE id = ? AND project_id `+inProjects, id, p.projects()))
	if errors.Is(err, sql.ErrNoRows) {
		notFound(w)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t.json())
}
