package handlers

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestPageCache(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	pc := newPageCache(10*time.Second, func() time.Time { return now })
	calls := 0
	fetch := func() (string, error) { calls++; return fmt.Sprint("answer ", calls), nil }

	if v, _ := cached(pc, "tok-a", "ledger", "l1", fetch); v != "answer 1" {
		t.Fatalf("first read %q", v)
	}
	now = now.Add(9 * time.Second)
	if v, _ := cached(pc, "tok-a", "ledger", "l1", fetch); v != "answer 1" || calls != 1 {
		t.Fatalf("within the TTL: %q after %d calls", v, calls)
	}
	if v, _ := cached(pc, "tok-b", "ledger", "l1", fetch); v != "answer 2" {
		t.Fatalf("another token shares an entry: %q", v)
	}
	if v, _ := cached(pc, "tok-a", "inputs", "l1", fetch); v != "answer 3" {
		t.Fatalf("another kind shares an entry: %q", v)
	}
	now = now.Add(time.Second)
	if v, _ := cached(pc, "tok-a", "ledger", "l1", fetch); v != "answer 4" {
		t.Fatalf("after the TTL: %q", v)
	}

	pc.forgetToken("tok-a")
	if v, _ := cached(pc, "tok-a", "ledger", "l1", fetch); v != "answer 5" {
		t.Fatalf("after forgetToken: %q", v)
	}
	if v, _ := cached(pc, "tok-b", "ledger", "l1", fetch); v != "answer 2" {
		t.Fatalf("forgetToken dropped another token's entry: %q", v)
	}

	failing := func() (string, error) { calls++; return "", errors.New("upstream down") }
	for range 2 {
		if _, err := cached(pc, "tok-c", "ledger", "l1", failing); err == nil {
			t.Fatal("an error was swallowed")
		}
	}
	if v, _ := cached(pc, "tok-c", "ledger", "l1", fetch); v == "" {
		t.Fatal("an error was cached")
	}

	// Keys hold a hash of the token, never the token.
	for k := range pc.entries {
		if bytes.Contains(k.token[:], []byte("tok-")) || k.token == ([sha256.Size]byte{}) {
			t.Fatalf("key %x does not look like a hash", k.token)
		}
	}

	off := newPageCache(0, nil)
	calls = 0
	cached(off, "tok-a", "ledger", "l1", fetch)
	cached(off, "tok-a", "ledger", "l1", fetch)
	if calls != 2 {
		t.Fatalf("a zero TTL cached: %d calls", calls)
	}
}

func TestPageCacheBounded(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	pc := newPageCache(time.Minute, func() time.Time { now = now.Add(time.Millisecond); return now })
	for i := range pageCacheMax + 100 {
		cached(pc, fmt.Sprint("tok-", i), "ledgers", "", func() (int, error) { return i, nil })
	}
	if n := len(pc.entries); n > pageCacheMax {
		t.Fatalf("%d entries, max %d", n, pageCacheMax)
	}
}
