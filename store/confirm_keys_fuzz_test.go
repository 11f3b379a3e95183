package store

import (
	"encoding/base64"
	"strings"
	"testing"
)

// FuzzValidConfirmKeyFormat: the format check accepts exactly the canonical
// unpadded base64url encodings of 32 bytes, the keys IssueConfirmKey makes.
func FuzzValidConfirmKeyFormat(f *testing.F) {
	for _, s := range []string{
		strings.Repeat("A", 43), strings.Repeat("A", 42) + "B", strings.Repeat("A", 42) + "E", strings.Repeat("_", 43),
		strings.Repeat("A", 44), strings.Repeat("A", 42), strings.Repeat("A", 42) + "=", strings.Repeat("A", 42) + "+",
		strings.Repeat("A", 42) + "/", strings.Repeat("é", 21) + "A", "", "x", "' OR 1=1 --" + strings.Repeat("A", 32),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		got := ValidConfirmKeyFormat(key)
		raw, err := base64.RawURLEncoding.DecodeString(key)
		want := err == nil && len(raw) == confirmKeyBytes && base64.RawURLEncoding.EncodeToString(raw) == key
		if got != want {
			t.Fatalf("ValidConfirmKeyFormat(%q) = %v, want %v", key, got, want)
		}
	})
}
