package store

import (
	"context"
	"encoding/base64"
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestIssueConfirmKey(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()

	seen := map[string]bool{}
	for i := 0; i < 20; i++ {
		key, err := s.IssueConfirmKey(ctx, "tok", "params", nil)
		if err != nil {
			t.Fatalf("IssueConfirmKey: %v", err)
		}
		if !ValidConfirmKeyFormat(key) {
			t.Fatalf("issued key %q fails ValidConfirmKeyFormat", key)
		}
		b, err := base64.RawURLEncoding.DecodeString(key)
		if err != nil || len(b) != 32 {
			t.Fatalf("key %q decodes to %d bytes, %v", key, len(b), err)
		}
		if seen[key] {
			t.Fatalf("key %q issued twice", key)
		}
		seen[key] = true
	}

	if _, err := s.IssueConfirmKey(ctx, "", "params", nil); err == nil {
		t.Error("empty token hash accepted")
	}
	if _, err := s.IssueConfirmKey(ctx, "tok", "", nil); err == nil {
		t.Error("empty params hash accepted")
	}
}

func TestIssueConfirmKeyPurgesExpired(t *testing.T) {
	s, clock := openTest(t)
	ctx := context.Background()
	if _, err := s.IssueConfirmKey(ctx, "tok", "p1", nil); err != nil {
		t.Fatal(err)
	}
	clock.Advance(ConfirmKeyTTL + time.Second)
	if _, err := s.IssueConfirmKey(ctx, "tok", "p2", nil); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM confirm_keys").Scan(&n); err != nil || n != 1 {
		t.Fatalf("confirm_keys rows = %d, %v; want 1 (expired purged)", n, err)
	}
}

func TestValidConfirmKeyFormat(t *testing.T) {
	good := base64.RawURLEncoding.EncodeToString(make([]byte, 32))
	tests := []struct {
		name string
		key  string
		want bool
	}{
		{"Valid", good, true},
		{"ValidMixed", "abcdefghijklmnopqrstuvwxyzABCDEFGHIJK-_0124", true},
		{"Empty", "", false},
		{"TooShort", good[:42], false},
		{"TooLong", good + "A", false},
		{"Padded", good + "=", false},
		{"StdAlphabet", "+" + good[1:], false},
		{"Slash", "/" + good[1:], false},
		{"Space", " " + good[1:], false},
		{"NonCanonicalTail", good[:42] + "B", false}, // low bits of the last char must be zero
		{"NonASCII", "é" + good[2:], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidConfirmKeyFormat(tt.key); got != tt.want {
				t.Errorf("ValidConfirmKeyFormat(%q) = %v, want %v", tt.key, got, tt.want)
			}
		})
	}
}

func TestConfirmKeyLifecycle(t *testing.T) {
	ctx := context.Background()
	unknown := base64.RawURLEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

	tests := []struct {
		name    string
		advance time.Duration
		key     func(issued string) string
		token   string
		params  string
		wantErr error
	}{
		{name: "Valid", token: "tok", params: "params"},
		{name: "JustBeforeExpiry", advance: ConfirmKeyTTL - time.Second, token: "tok", params: "params"},
		{name: "Expired", advance: ConfirmKeyTTL, token: "tok", params: "params", wantErr: ErrKeyInvalid},
		{name: "LongExpired", advance: 48 * time.Hour, token: "tok", params: "params", wantErr: ErrKeyInvalid},
		{name: "WrongParams", token: "tok", params: "other-params", wantErr: ErrKeyInvalid},
		{name: "WrongToken", token: "other-tok", params: "params", wantErr: ErrKeyInvalid},
		{name: "EmptyToken", token: "", params: "params", wantErr: ErrKeyInvalid},
		{name: "Unknown", key: func(string) string { return unknown }, token: "tok", params: "params", wantErr: ErrKeyInvalid},
		{name: "Malformed", key: func(k string) string { return k[:10] }, token: "tok", params: "params", wantErr: ErrKeyInvalid},
		{name: "Empty", key: func(string) string { return "" }, token: "tok", params: "params", wantErr: ErrKeyInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, clock := openTest(t)
			key := issueKey(t, s, "tok", "params")
			if tt.key != nil {
				key = tt.key(key)
			}
			clock.Advance(tt.advance)
			g, created, err := s.BeginGeneration(ctx, key, tt.params, testGeneration(tt.token))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || created || g.ID != 0 {
					t.Fatalf("BeginGeneration = %+v, %v, %v; want %v", g, created, err, tt.wantErr)
				}
				var n int
				if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM generations").Scan(&n); err != nil || n != 0 {
					t.Fatalf("generations rows = %d, %v; want 0", n, err)
				}
				return
			}
			if err != nil || !created {
				t.Fatalf("BeginGeneration: created=%v err=%v", created, err)
			}
		})
	}
}

func TestConfirmKeyUsedKeyStaysBound(t *testing.T) {
	s, clock := openTest(t)
	ctx := context.Background()
	key := issueKey(t, s, "tok", "params")
	first, created, err := s.BeginGeneration(ctx, key, "params", testGeneration("tok"))
	if err != nil || !created {
		t.Fatalf("first: %v %v", created, err)
	}

	t.Run("DuplicateAfterExpiryFindsRow", func(t *testing.T) {
		clock.Advance(2 * ConfirmKeyTTL)
		// Another key issued now purges the expired one; the used key
		// still answers with its generation.
		if _, err := s.IssueConfirmKey(ctx, "tok", "x", nil); err != nil {
			t.Fatal(err)
		}
		g, created, err := s.BeginGeneration(ctx, key, "params", testGeneration("tok"))
		if err != nil || created || g.ID != first.ID {
			t.Fatalf("duplicate = id %d, %v, %v; want id %d, false, nil", g.ID, created, err, first.ID)
		}
	})
	t.Run("OtherTokenCannotUseUsedKey", func(t *testing.T) {
		g, _, err := s.BeginGeneration(ctx, key, "params", testGeneration("intruder"))
		if !errors.Is(err, ErrKeyInvalid) || g.ID != 0 {
			t.Fatalf("got %+v, %v; want ErrKeyInvalid", g, err)
		}
	})
	t.Run("OtherParamsCannotUseUsedKey", func(t *testing.T) {
		_, _, err := s.BeginGeneration(ctx, key, "changed", testGeneration("tok"))
		if !errors.Is(err, ErrKeyInvalid) {
			t.Fatalf("got %v; want ErrKeyInvalid", err)
		}
	})
}

func TestGenerationRecordsTheKeysPreview(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	seen := []PreviewEntry{{LedgerID: "lgr_a", LedgerName: "A", Count: 3}}
	key, err := s.IssueConfirmKey(ctx, "tok", "params", seen)
	if err != nil {
		t.Fatal(err)
	}
	g, created, err := s.BeginGeneration(ctx, key, "params", Generation{TokenHash: "tok", LedgerID: "lgr_a"})
	if err != nil || !created {
		t.Fatalf("begin: %v %v", created, err)
	}
	if !reflect.DeepEqual(g.Preview, seen) {
		t.Fatalf("preview recorded %+v, want %+v", g.Preview, seen)
	}
	if _, preview := rawRecords(t, s, "generations", g.ID); preview != `{"v":1,"entries":[{"ledger_id":"lgr_a","ledger_name":"A","count":3}]}` {
		t.Fatalf("preview column %s", preview)
	}
}

// TestConfirmKeysPerTokenBounded: a token previewing in a loop keeps only its
// newest MaxConfirmKeysPerToken keys; another token's keys are untouched and
// a generation begun with a purged key's twin still answers duplicates.
func TestConfirmKeysPerTokenBounded(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	other := issueKey(t, s, "th-other", "ph")
	used := issueKey(t, s, "th", "ph")
	g := testGeneration("th")
	first, created, err := s.BeginGeneration(ctx, used, "ph", g)
	if err != nil || !created {
		t.Fatalf("begin: %v %v", created, err)
	}
	var keys []string
	for range MaxConfirmKeysPerToken + 5 {
		k := issueKey(t, s, "th", "ph")
		keys = append(keys, k)
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM confirm_keys WHERE token_hash = 'th'`).Scan(&n); err != nil || n != MaxConfirmKeysPerToken {
		t.Fatalf("%d keys kept for the token (%v), want %d", n, err, MaxConfirmKeysPerToken)
	}
	if _, _, err := s.BeginGeneration(ctx, keys[0], "ph", g); !errors.Is(err, ErrKeyInvalid) {
		t.Errorf("the oldest key still works: %v", err)
	}
	if _, created, err := s.BeginGeneration(ctx, keys[len(keys)-1], "ph", g); err != nil || !created {
		t.Errorf("the newest key: created %v, %v", created, err)
	}
	if _, created, err := s.BeginGeneration(ctx, other, "ph", testGeneration("th-other")); err != nil || !created {
		t.Errorf("another token's key: created %v, %v", created, err)
	}
	again, created, err := s.BeginGeneration(ctx, used, "ph", g)
	if err != nil || created || again.ID != first.ID {
		t.Errorf("a used key, purged from the keys, answers %+v created=%v %v; want its generation", again.ID, created, err)
	}
}
