package sandbox

import (
	"database/sql"
	"errors"
	"net/http"
)

// GET /models and GET /models/{model_id}: the documented Model object (reference
// section 3.4). Every sandbox model has one version, so each is version 1, the latest
// and active; its cadence and partition type are those of the ledger it is linked to.

// modelJSON is the documented Model object.
type modelJSON struct {
	ID            string  `json:"id"`
	Name          string  `json:"name"`
	Version       int     `json:"version"`
	IsLatest      bool    `json:"is_latest"`
	Cadence       *string `json:"cadence"`
	PartitionType *string `json:"partition_type"`
	Order         int     `json:"order"`
	CreatedAt     apiTime `json:"created_at"`
	UpdatedAt     apiTime `json:"updated_at"`
}

// modelList is what the docs list for list-all-models: filter[project_id][eq]; sort id,
// name, version, created_at, updated_at. Models are never edited (updated_at sorts as
// created_at) and all are version 1 (version sorts as id).
var modelList = listSpec{
	sorts: map[string]string{"id": "m.id", "name": "m.name", "version": "m.id", "created_at": "m.created_at", "updated_at": "m.created_at"},
	filters: map[string]filterDef{
		"project_id": {col: "m.project_id", kind: filterInt, ops: []string{"eq"}},
	},
	tiebreak: "m.id",
}

// modelSelect reads a model with its linked ledger's cadence and partition type (the
// first such ledger; none links two in the sandbox).
const modelSelect = `SELECT m.friendly_id, m.name, m.created_at,
	(SELECT l.cadence FROM ledgers l WHERE l.model_id = m.id ORDER BY l.id LIMIT 1),
	(SELECT l.partition_type FROM ledgers l WHERE l.model_id = m.id ORDER BY l.id LIMIT 1)
	FROM models m`

func scanModel(sc interface{ Scan(...any) error }) (modelJSON, error) {
	j := modelJSON{Version: 1, IsLatest: true, Order: 1}
	var cadence, partition sql.NullString
	if err := sc.Scan(&j.ID, &j.Name, &j.CreatedAt, &cadence, &partition); err != nil {
		return j, err
	}
	j.UpdatedAt, j.Cadence, j.PartitionType = j.CreatedAt, nullToPtr(cadence), nullToPtr(partition)
	return j, nil
}

// listModels is GET /models: the models of the token's projects, paginated;
// filter[project_id][eq] narrows them to one project (another's gives an empty list).
func (s *Server) listModels(w http.ResponseWriter, r *http.Request, p principal) {
	lq, err := parseList(r, modelList)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	serveScopedList(s, w, r, p, lq, "models", "m", modelSelect, func(rows *sql.Rows) (modelJSON, error) { return scanModel(rows) })
}

// showModel is GET /models/{model_id}: the bare Model object; a model of a project the
// token does not see is 404 like an unknown one.
func (s *Server) showModel(w http.ResponseWriter, r *http.Request, p principal) {
	m, err := scanModel(s.db.QueryRowContext(r.Context(), modelSelect+` WHERE m.friendly_id = ? AND m.project_id `+inProjects,
		r.PathValue("model_id"), p.projects()))
	if errors.Is(err, sql.ErrNoRows) {
		notFound(w)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}
