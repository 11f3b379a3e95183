package mangrove

import (
	"crypto/sha256"
	"encoding/hex"
)

// TokenHash identifies an API token without keeping it: the hex SHA-256 of
// the token. Maps, caches, the audit log and sessions key on it, so the
// credential itself is held only where calls are made with it.
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
