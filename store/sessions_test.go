package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

func TestSessions(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "d.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }

	id, err := s.CreateSession(ctx, "tok-a", now.Add(time.Hour))
	if err != nil || !ValidConfirmKeyFormat(id) { // same shape: 32 random bytes, base64url
		t.Fatalf("id %q, %v", id, err)
	}
	for _, tc := range []struct {
		name, id, token string
		want            bool
	}{
		{"Active", id, "tok-a", true},
		{"OtherToken", id, "tok-b", false},
		{"UnknownID", "x" + id[1:], "tok-a", false},
		{"Empty", "", "tok-a", false},
	} {
		if got, err := s.SessionActive(ctx, tc.id, tc.token); err != nil || got != tc.want {
			t.Errorf("%s: %v %v, want %v", tc.name, got, err, tc.want)
		}
	}
	var n int
	if err := s.db.QueryRow(`SELECT count(*) FROM sessions WHERE id_hash = ? OR token_hash = ?`, id, id).Scan(&n); err != nil || n != 0 {
		t.Errorf("the session id is stored in clear (%d rows, %v)", n, err)
	}

	now = now.Add(time.Hour)
	if ok, _ := s.SessionActive(ctx, id, "tok-a"); ok {
		t.Error("an expired session is active")
	}
	now = now.Add(-time.Minute)
	if err := s.EndSession(ctx, id); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.SessionActive(ctx, id, "tok-a"); ok {
		t.Error("an ended session is active")
	}
	if err := s.EndSession(ctx, id); err != nil {
		t.Errorf("ending twice: %v", err)
	}
	// Expired rows are purged when the next session is created.
	if _, err := s.CreateSession(ctx, "tok-a", now.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateSession(ctx, "tok-a", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.db.QueryRow(`SELECT count(*) FROM sessions`).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d session rows after a purge, want 1 (%v)", n, err)
	}
}
