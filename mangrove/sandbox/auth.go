package sandbox

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
)

// principal is what a token grants: one project, read or read-write.
type principal struct {
	ProjectID int64
	CanWrite  bool
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

// loadPrincipals reads every token once; tokens change only at Open, so the map is
// read-only afterwards and needs no lock.
func loadPrincipals(ctx context.Context, db *sql.DB) (map[string]principal, Tokens, error) {
	rows, err := db.QueryContext(ctx, `SELECT token, role, project_id, can_write FROM tokens`)
	if err != nil {
		return nil, Tokens{}, err
	}
	defer rows.Close()
	m := map[string]principal{}
	var t Tokens
	for rows.Next() {
		var tok, role string
		var p principal
		if err := rows.Scan(&tok, &role, &p.ProjectID, &p.CanWrite); err != nil {
			return nil, Tokens{}, err
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
