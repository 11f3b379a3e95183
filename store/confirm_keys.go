package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"time"
)

// ErrKeyInvalid is returned when a confirmation key cannot be used: it was
// never issued, it expired, or it was issued for another token or other
// parameters. The message is safe to show to the user.
var ErrKeyInvalid = errors.New("confirmation key is unknown, expired or does not match the previewed parameters")

// ConfirmKeyTTL is how long an issued confirmation key can start a generation.
const ConfirmKeyTTL = time.Hour

// confirmKeyBytes is the amount of randomness in a key; encoded with
// unpadded base64url it is confirmKeyLen characters long.
const (
	confirmKeyBytes = 32
	confirmKeyLen   = 43
)

// MaxConfirmKeysPerToken bounds the keys one token holds at once: each
// preview view issues one, and a token viewing previews in a loop must not
// grow the table. Past it the oldest keys go (a key already used is
// answered from its generation, which stays).
const MaxConfirmKeysPerToken = 100

// IssueConfirmKey creates a one-time key bound to the user's token hash and
// the previewed parameters' hash. The key is 32 random bytes in unpadded
// base64url and expires after ConfirmKeyTTL. preview is what the preview
// showed; the generation begun with the key records it (an empty preview
// is recorded as none). Expired keys, and the token's keys beyond the
// newest MaxConfirmKeysPerToken, are purged on the way.
func (s *Store) IssueConfirmKey(ctx context.Context, tokenHash, paramsHash string, preview []PreviewEntry) (string, error) {
	if tokenHash == "" || paramsHash == "" {
		return "", errors.New("store: issue confirmation key: empty token or params hash")
	}
	previewText, err := encodePreview(preview)
	if err != nil {
		return "", err
	}
	var b [confirmKeyBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("store: issue confirmation key: %w", err)
	}
	key := base64.RawURLEncoding.EncodeToString(b[:])

	now := s.now()
	err = s.withWriteTx(ctx, func(tx conn) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM confirm_keys WHERE expires_at <= ?`, formatTime(now)); err != nil {
			return fmt.Errorf("store: purge confirmation keys: %w", err)
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO confirm_keys (key, token_hash, params_hash, created_at, expires_at, preview) VALUES (?, ?, ?, ?, ?, ?)`,
			key, tokenHash, paramsHash, formatTime(now), formatTime(now.Add(ConfirmKeyTTL)), previewText); err != nil {
			return fmt.Errorf("store: issue confirmation key: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM confirm_keys WHERE token_hash = ? AND key NOT IN
			(SELECT key FROM confirm_keys WHERE token_hash = ? ORDER BY created_at DESC, `+s.dialect.insertOrder()+` DESC LIMIT ?)`,
			tokenHash, tokenHash, MaxConfirmKeysPerToken); err != nil {
			return fmt.Errorf("store: purge a token's oldest confirmation keys: %w", err)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return key, nil
}

// ValidConfirmKeyFormat reports whether key looks like a key issued by
// IssueConfirmKey (43 characters of unpadded base64url encoding 32 bytes),
// without touching the database.
func ValidConfirmKeyFormat(key string) bool {
	if len(key) != confirmKeyLen {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	// Strict decoding rejects non-canonical trailing bits.
	_, err := base64.RawURLEncoding.Strict().DecodeString(key)
	return err == nil
}

// checkConfirmKey verifies, inside tx, that key was issued for tokenHash and
// paramsHash and has not expired at now, and returns the preview it was
// issued for, as stored (column text).
func checkConfirmKey(ctx context.Context, tx conn, key, tokenHash, paramsHash string, now time.Time) (string, error) {
	var gotToken, gotParams, expires, preview string
	err := tx.QueryRowContext(ctx,
		`SELECT token_hash, params_hash, expires_at, preview FROM confirm_keys WHERE key = ?`, key,
	).Scan(&gotToken, &gotParams, &expires, &preview)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrKeyInvalid
	}
	if err != nil {
		return "", fmt.Errorf("store: read confirmation key: %w", err)
	}
	exp, err := parseTime(expires)
	if err != nil {
		return "", err
	}
	if !now.Before(exp) || gotToken != tokenHash || gotParams != paramsHash {
		return "", ErrKeyInvalid
	}
	return preview, nil
}
