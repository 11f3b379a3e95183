package pgtest_test

import (
	"context"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/internal/pgtest"
	"github.com/jackc/pgx/v5"
)

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connecting to %s: %v", dsn, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func dbName(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(u.Path, "/")
}

// databaseExists asks the server itself, from an admin connection.
func databaseExists(t *testing.T, admin *pgx.Conn, name string) bool {
	t.Helper()
	var n int
	err := admin.QueryRow(context.Background(), "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// hasTableX reports whether the database behind conn has a table x.
func hasTableX(t *testing.T, conn *pgx.Conn) bool {
	t.Helper()
	var found bool
	if err := conn.QueryRow(context.Background(), "SELECT to_regclass('x') IS NOT NULL").Scan(&found); err != nil {
		t.Fatal(err)
	}
	return found
}

func TestURLGivesAFreshDatabase(t *testing.T) {
	admin := connect(t, pgtest.AdminURL(t))
	second := pgtest.URL(t) // dropped when this test ends
	secondConn := connect(t, second)

	var first string
	t.Run("first", func(t *testing.T) {
		first = pgtest.URL(t) // dropped when this subtest ends
		if dbName(t, first) == dbName(t, second) {
			t.Fatalf("two calls gave the same database %q", dbName(t, first))
		}
		for _, dsn := range []string{first, second} {
			if got, want := rawQuery(t, dsn), rawQuery(t, pgtest.AdminURL(t)); got != want {
				t.Errorf("%s has query %q, TEST_DATABASE_URL has %q", dsn, got, want)
			}
		}
		firstConn := connect(t, first)
		if _, err := firstConn.Exec(context.Background(), "CREATE TABLE x (a int)"); err != nil {
			t.Fatalf("CREATE TABLE in %s: %v", dbName(t, first), err)
		}
		if !hasTableX(t, firstConn) {
			t.Error("the table just created is not there")
		}
		if hasTableX(t, secondConn) {
			t.Error("a table created in one database shows in the other")
		}
		if !databaseExists(t, admin, dbName(t, first)) {
			t.Errorf("database %s is not in pg_database", dbName(t, first))
		}
		// firstConn stays open: the cleanup has to drop the database anyway.
	})

	if first == "" {
		t.Fatal("the subtest made no database")
	}
	if databaseExists(t, admin, dbName(t, first)) {
		t.Errorf("database %s is still there after its subtest's cleanup", dbName(t, first))
	}
	if !databaseExists(t, admin, dbName(t, second)) {
		t.Errorf("database %s went away before its test ended", dbName(t, second))
	}
}

func rawQuery(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return u.RawQuery
}

// recorder stands in for a test that URL skips or fails: Skip and Fatal
// record the message and end the goroutine, as the real ones do.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Skip(args ...any) { r.skipped = fmt.Sprint(args...); runtime.Goexit() }
func (r *recorder) Skipf(f string, args ...any) {
	r.skipped = fmt.Sprintf(f, args...)
	runtime.Goexit()
}
func (r *recorder) Fatal(args ...any) { r.failed = fmt.Sprint(args...); runtime.Goexit() }
func (r *recorder) Fatalf(f string, args ...any) {
	r.failed = fmt.Sprintf(f, args...)
	runtime.Goexit()
}

func TestWithoutServerSkipsButFailsUnderCI(t *testing.T) {
	t.Setenv("TEST_DATABASE_URL", "")
	for _, ci := range []string{"", "true"} {
		for name, call := range map[string]func(testing.TB) string{"URL": pgtest.URL, "AdminURL": pgtest.AdminURL} {
			t.Setenv("CI", ci)
			r := &recorder{TB: t}
			var wg sync.WaitGroup
			wg.Go(func() { call(r) })
			wg.Wait()
			switch {
			case ci == "true" && (r.failed == "" || r.skipped != ""):
				t.Errorf("CI=true: %s skipped (%q) instead of failing", name, r.skipped)
			case ci == "true" && !strings.Contains(r.failed, "./test.sh"):
				t.Errorf("CI=true: %s failed without saying how to get a server: %q", name, r.failed)
			case ci == "" && (r.skipped == "" || r.failed != ""):
				t.Errorf("without CI: %s failed (%q) instead of skipping", name, r.failed)
			}
		}
	}
}
