// Package pgtest gives tests a PostgreSQL database of their own.
//
// The server comes from TEST_DATABASE_URL, which ./test.sh sets to a
// throwaway cluster (scripts/pg-throwaway) when PostgreSQL is installed, or
// leaves as the caller set it. Without it the PostgreSQL tests skip on a
// developer's machine, but fail under CI=true, so that CI cannot go green
// having run none of them.
//
// Each URL call makes a new, uniquely named database and drops it when the
// test ends, so tests (and packages, which go test runs at once) share the
// server without seeing each other's tables and need no cleanup of their own.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// timeout bounds each step against the server, so a server that hangs fails
// the test instead of stalling the run until go test's own timeout.
const timeout = 30 * time.Second

// AdminURL returns TEST_DATABASE_URL itself, for tests that need the server
// rather than a database of their own (to create or list databases, say).
// Without it the test skips, or fails under CI=true.
func AdminURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("TEST_DATABASE_URL")
	if u != "" {
		return u
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("PostgreSQL is required under CI=true and TEST_DATABASE_URL is not set: " +
			"run the tests with ./test.sh, which starts a throwaway cluster (scripts/pg-throwaway) " +
			"when PostgreSQL is installed (scripts/test-prerequisites installs it), or set TEST_DATABASE_URL")
	}
	t.Skip("PostgreSQL tests skip: TEST_DATABASE_URL is not set (./test.sh starts a throwaway cluster when PostgreSQL is installed)")
	return ""
}

// URL creates a fresh database on the TEST_DATABASE_URL server and returns
// the URL of it: the same URL with only the database name changed, so its
// user, host and options (sslmode) carry over. The database is dropped when
// the test and its subtests are done. Without TEST_DATABASE_URL the test
// skips, or fails under CI=true.
func URL(t testing.TB) string {
	t.Helper()
	admin := AdminURL(t)
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		// Not the URL itself: it may carry a password.
		t.Fatalf("TEST_DATABASE_URL must be a postgres:// URL (parse error: %v)", err)
	}

	// A random name rather than one from the test's name: go test runs
	// packages at once against one server, and names must never collide.
	b := make([]byte, 8)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	name := "t_" + hex.EncodeToString(b)
	ident := pgx.Identifier{name}.Sanitize()

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("pgtest: connecting to TEST_DATABASE_URL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		t.Fatalf("pgtest: creating database %s: %v", name, err)
	}

	t.Cleanup(func() {
		// A fresh connection and context: the test's own are gone by now.
		// FORCE ends connections the test left open, which would otherwise
		// block the drop.
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("pgtest: connecting to drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: dropping database %s: %v", name, err)
		}
	})

	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}
