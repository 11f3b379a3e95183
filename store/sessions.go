package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Sessions are the server side of sign-in: the session cookie carries a
// random session id beside the token, and a session counts only while its
// row exists and has not expired. Signing out deletes the row, so a copy of
// the cookie (a stolen one, or one replayed after sign-out) no longer signs
// anyone in. The table holds hashes of the ids and tokens, never either.

// sessionIDBytes is the randomness of a session id (unpadded base64url).
const sessionIDBytes = 32

// SessionIDHash is the hash the sessions table keeps of a session id, which
// may name the session where the id itself must not go (logs, other
// replicas).
func SessionIDHash(id string) string {
	sum := sha256.Sum256([]byte("session\x00" + id))
	return hex.EncodeToString(sum[:])
}

// CreateSession records a new session for tokenHash that ends at expires,
// and returns its id for the cookie. Expired sessions are purged on the way.
func (s *Store) CreateSession(ctx context.Context, tokenHash string, expires time.Time) (string, error) {
	if tokenHash == "" {
		return "", errors.New("store: create session: empty token hash")
	}
	var b [sessionIDBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("store: create session: %w", err)
	}
	id := base64.RawURLEncoding.EncodeToString(b[:])
	now := s.now()
	err := s.withWriteTx(ctx, func(tx conn) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ?`, formatTime(now)); err != nil {
			return fmt.Errorf("store: purge sessions: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO sessions (id_hash, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?)`,
			SessionIDHash(id), tokenHash, formatTime(now), formatTime(expires)); err != nil {
			return fmt.Errorf("store: create session: %w", err)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return id, nil
}

// SessionActive reports whether session id exists, was created for
// tokenHash and has not expired.
func (s *Store) SessionActive(ctx context.Context, id, tokenHash string) (bool, error) {
	if id == "" || len(id) > 100 || tokenHash == "" {
		return false, nil
	}
	var gotToken, expires string
	err := s.db.QueryRowContext(ctx, `SELECT token_hash, expires_at FROM sessions WHERE id_hash = ?`, SessionIDHash(id)).Scan(&gotToken, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: read session: %w", err)
	}
	exp, err := parseTime(expires)
	if err != nil {
		return false, err
	}
	return gotToken == tokenHash && s.now().Before(exp), nil
}

// EndSession deletes session id; ending an unknown or ended session is a
// no-op.
func (s *Store) EndSession(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	return s.withWriteTx(ctx, func(tx conn) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, SessionIDHash(id)); err != nil {
			return fmt.Errorf("store: end session: %w", err)
		}
		return nil
	})
}
