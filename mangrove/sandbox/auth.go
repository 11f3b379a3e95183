package sandbox

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// principal is what a token grants: the projects it sees (ascending; the demo tokens see
// two, as the reference's account-wide tokens see every project of the account), read or
// read-write.
type principal struct {
	ProjectIDs []int64
	CanWrite   bool
	// inArg is ProjectIDs as a JSON array, the argument of inProjects.
	inArg string
}

// inProjects restricts a project_id column to the token's projects with one
// placeholder, whose argument is principal.projects(): "b.project_id " + inProjects.
const inProjects = `IN (SELECT value FROM json_each(?))`

// projects is the argument of inProjects.
func (p principal) projects() string { return p.inArg }

// sees reports whether the token sees the project.
func (p principal) sees(projectID int64) bool {
	_, ok := slices.BinarySearch(p.ProjectIDs, projectID)
	return ok
}

// grant adds a project to the principal.
func (p *principal) grant(projectID int64) {
	if i, ok := slices.BinarySearch(p.ProjectIDs, projectID); !ok {
		p.ProjectIDs = slices.Insert(p.ProjectIDs, i, projectID)
	}
	ids := make([]string, len(p.ProjectIDs))
	for i, id := range p.ProjectIDs {
		ids[i] = strconv.FormatInt(id, 10)
	}
	p.inArg = "[" + strings.Join(ids, ",") + "]"
}

// Token roles as stored in the tokens table.
const (
	roleDemoRW  = "demo-rw"
	roleDemoRO  = "demo-ro"
	roleOtherRW = "other-rw"
)

// bearerToken reads the Authorization header. The docs show both the bare key (OpenAPI)
// and "Bearer <token>" (cookbooks), so both are accepted.
func bearerToken(r *http.Request) string {
	v := strings.TrimSpace(r.Header.Get("Authorization"))
	if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
		v = strings.TrimSpace(v[7:])
	}
	return v
}

func newToken(kind string) string {
	b := make([]byte, 16)
	rand.Read(b)
	return "sbx_" + kind + "_" + hex.EncodeToString(b)
}

// ensureDemoToken applies Options.Token: a configured token replaces the stored
// read-write demo token; an empty one keeps whatever the first start generated.
func ensureDemoToken(ctx context.Context, db *sql.DB, token string) error {
	if token == "" {
		return nil
	}
	var role string
	err := db.QueryRowContext(ctx, `SELECT role FROM tokens WHERE token = ?`, token).Scan(&role)
	switch {
	case err == sql.ErrNoRows:
		_, err = db.ExecContext(ctx, `UPDATE tokens SET token = ? WHERE role = ?`, token, roleDemoRW)
		return err
	case err != nil:
		return err
	case role != roleDemoRW:
		return fmt.Errorf("sandbox: the configured token is already the %s token; choose another", role)
	}
	return nil
}

// loadPrincipals reads every token and the projects it sees once (its tokens row's
// project and its token_projects rows); tokens change only at Open, so the map is
// read-only afterwards and needs no lock.
func loadPrincipals(ctx context.Context, db *sql.DB) (map[string]principal, Tokens, error) {
	rows, err := db.QueryContext(ctx, `SELECT t.token, t.role, t.project_id, t.can_write, tp.project_id
		FROM tokens t LEFT JOIN token_projects tp ON tp.role = t.role ORDER BY t.token`)
	if err != nil {
		return nil, Tokens{}, err
	}
	defer rows.Close()
	m := map[string]principal{}
	var t Tokens
	for rows.Next() {
		var tok, role string
		var own int64
		var canWrite bool
		var granted sql.NullInt64
		if err := rows.Scan(&tok, &role, &own, &canWrite, &granted); err != nil {
			return nil, Tokens{}, err
		}
		p := m[tok]
		p.CanWrite = canWrite
		p.grant(own)
		if granted.Valid {
			p.grant(granted.Int64)
		}
		m[tok] = p
		switch role {
		case roleDemoRW:
			t.ReadWrite = tok
		case roleDemoRO:
			t.ReadOnly = tok
		case roleOtherRW:
			t.Other = tok
		}
	}
	return m, t, rows.Err()
}
