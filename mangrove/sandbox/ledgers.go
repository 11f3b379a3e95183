package sandbox

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
)

var ledgerList = listSpec{
	sorts: map[string]string{"id": "l.id", "name": "l.name", "created_at": "l.created_at", "updated_at": "l.updated_at"},
	filters: map[string]filterDef{
		"project_id": {col: "l.project_id", kind: filterInt, ops: []string{"eq"}},
		"id":         {col: "l.friendly_id", kind: filterString, ops: []string{"eq"}},
		"name":       {col: "l.name", kind: filterString, ops: []string{"eq"}},
	},
	tiebreak: "l.id",
}

func nullToPtr(v sql.NullString) *string {
	if !v.Valid {
		return nil
	}
	return &v.String
}

func (l *ledgerRow) json() ledgerJSON {
	j := ledgerJSON{
		ID: l.FriendlyID, Name: l.Name, Unit: nullToPtr(l.Unit), SystemLedgerType: nullToPtr(l.SystemLedgerType),
		PartitionType: nullToPtr(l.PartitionType), Cadence: nullToPtr(l.Cadence),
		CreatedAt: apiTime(l.CreatedAt), UpdatedAt: apiTime(l.UpdatedAt),
	}
	if l.ModelID.Valid {
		j.LatestModel = &refJSON{ID: l.ModelFriendlyID.String, Name: l.ModelName.String}
	}
	return j
}

// listLedgers is GET /ledgers: the ledgers of the token's projects, paginated.
func (s *Server) listLedgers(w http.ResponseWriter, r *http.Request, p principal) {
	lq, err := parseList(r, ledgerList)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	serveScopedList(s, w, r, p, lq, "ledgers", "l", ledgerSelect, func(rows *sql.Rows) (ledgerJSON, error) {
		l, err := scanLedger(rows)
		if err != nil {
			return ledgerJSON{}, err
		}
		return l.json(), nil
	})
}

// showLedger is GET /ledgers/{ledger_id}: the bare ledger object (no data wrapper).
func (s *Server) showLedger(w http.ResponseWriter, r *http.Request, p principal) {
	l, err := visibleLedger(r.Context(), s.db, p, r.PathValue("ledger_id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if l == nil {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, l.json())
}

// listRequiredInputs is GET /ledgers/{ledger_id}/required_inputs: the linked model's
// declared inputs, {"data": [...]} without info as documented. A ledger without a model
// has none.
func (s *Server) listRequiredInputs(w http.ResponseWriter, r *http.Request, p principal) {
	ctx := r.Context()
	l, err := visibleLedger(ctx, s.db, p, r.PathValue("ledger_id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if l == nil {
		notFound(w)
		return
	}
	out := []requiredInputJSON{}
	if !l.ModelID.Valid {
		writeJSON(w, http.StatusOK, dataJSON[requiredInputJSON]{Data: out})
		return
	}
	rows, err := s.db.QueryContext(ctx, `SELECT mi.type_id, mi.is_manual_select, src.friendly_id, src.name, mi.allocation_groups
		FROM model_inputs mi LEFT JOIN ledgers src ON src.id = mi.source_ledger_id
		WHERE mi.model_id = ? ORDER BY mi.position`, l.ModelID.Int64)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var typeID int64
		var manual bool
		var srcID, srcName sql.NullString
		var groups string
		if err := rows.Scan(&typeID, &manual, &srcID, &srcName, &groups); err != nil {
			s.fail(w, r, err)
			return
		}
		t := s.cat.types[typeID]
		ri := requiredInputJSON{ID: t.ID, Name: t.Name, Slug: t.Slug, Unit: t.Unit, ValueType: t.ValueType, Category: t.Category,
			Subcategory: t.Subcategory, IsManualSelect: manual, OutputOfLedgers: []refJSON{}}
		if ri.AllocationGroups, err = parseAllocationGroups(groups); err != nil {
			s.fail(w, r, err)
			return
		}
		if srcID.Valid {
			ri.OutputOfLedgers = append(ri.OutputOfLedgers, refJSON{ID: srcID.String, Name: srcName.String})
		}
		out = append(out, ri)
	}
	if err := rows.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, dataJSON[requiredInputJSON]{Data: out})
}

// parseAllocationGroups reads a model input's stored allocation groups (a JSON array of
// {"id", "name"}), never nil.
func parseAllocationGroups(stored string) ([]allocationGroupJSON, error) {
	groups := []allocationGroupJSON{}
	if err := json.Unmarshal([]byte(stored), &groups); err != nil {
		return nil, fmt.Errorf("stored allocation groups %q: %w", stored, err)
	}
	if groups == nil { // a stored "null"
		groups = []allocationGroupJSON{}
	}
	return groups, nil
}
