package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/internal/pgtest"
	"github.com/carbon-dash/mangrove-dashboard/internal/testkit"
)

// openTest opens a fresh store whose clock the test drives: SQLite in
// t.TempDir(), or a fresh PostgreSQL database under TestOnPostgres.
func openTest(t *testing.T) (*Store, *testkit.Clock) {
	t.Helper()
	var s *Store
	var err error
	if onPostgres(t) {
		s, err = OpenPostgres(pgtest.URL(t))
	} else {
		s, err = Open(filepath.Join(t.TempDir(), "dash.db"))
	}
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	clock := testkit.NewClock(time.Date(2025, 4, 2, 10, 0, 0, 0, time.UTC))
	s.now = clock.Now
	return s, clock
}

func TestOpen(t *testing.T) {
	ctx := context.Background()

	t.Run("CreatesFileWALAndSchema", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "nested", "dir", "dash.db")
		s, err := Open(path)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer s.Close()
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("database file: %v", err)
		}
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		var mode string
		if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
			t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
		}
		var busy int
		if err := s.db.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy); err != nil || busy != int(busyTimeout.Milliseconds()) {
			t.Fatalf("busy_timeout = %d, %v", busy, err)
		}
		v, err := s.SchemaVersion(ctx)
		if err != nil || v != len(migrations) || v != 7 {
			t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, len(migrations))
		}
	})

	// The database holds confirmation keys: owner-only, even where the
	// directory and files already existed with wider modes.
	t.Run("FilesAreTheOwnersOnly", func(t *testing.T) {
		for _, existing := range []bool{false, true} {
			dir := filepath.Join(t.TempDir(), "data")
			path := filepath.Join(dir, "dash.db")
			if existing {
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				for _, p := range []string{path, path + "-wal", path + "-shm"} {
					if err := os.WriteFile(p, nil, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			s, err := Open(path)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if _, err := s.db.ExecContext(ctx, "PRAGMA user_version"); err != nil {
				t.Fatal(err)
			}
			checkMode(t, dir, 0o700)
			for _, p := range []string{path, path + "-wal", path + "-shm"} {
				checkMode(t, p, 0o600)
			}
			s.Close()
		}
	})

	t.Run("StickyDirectoryRefused", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "shared")
		if err := os.Mkdir(dir, 0o777|os.ModeSticky); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o777|os.ModeSticky); err != nil {
			t.Fatal(err)
		}
		if s, err := Open(filepath.Join(dir, "dash.db")); err == nil {
			s.Close()
			t.Fatal("Open in a sticky directory succeeded; it would have narrowed everyone's directory")
		}
		if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o777 {
			t.Errorf("the sticky directory became %v", fi.Mode().Perm())
		}
	})

	t.Run("ReopenIsIdempotentAndKeepsData", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "dash.db")
		s, err := Open(path)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		key, err := s.IssueConfirmKey(ctx, "tok", "params", nil)
		if err != nil {
			t.Fatalf("IssueConfirmKey: %v", err)
		}
		g, created, err := s.BeginGeneration(ctx, key, "params", testGeneration("tok"))
		if err != nil || !created {
			t.Fatalf("BeginGeneration: created=%v err=%v", created, err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}

		for i := 0; i < 2; i++ {
			s, err = Open(path)
			if err != nil {
				t.Fatalf("reopen %d: %v", i, err)
			}
			var n int
			if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations").Scan(&n); err != nil || n != len(migrations) {
				t.Fatalf("schema_migrations rows = %d, %v; want %d", n, err, len(migrations))
			}
			got, err := s.Generation(ctx, g.ID)
			if err != nil {
				t.Fatalf("Generation after reopen: %v", err)
			}
			if got.ConfirmKey != key || got.State != StateSubmitting {
				t.Fatalf("after reopen got %+v", got)
			}
			// The key survives too: a duplicate still finds the row.
			dup, created, err := s.BeginGeneration(ctx, key, "params", testGeneration("tok"))
			if err != nil || created || dup.ID != g.ID {
				t.Fatalf("duplicate after reopen: id=%d created=%v err=%v", dup.ID, created, err)
			}
			s.Close()
		}
	})

	t.Run("RejectsNonFilePaths", func(t *testing.T) {
		for _, p := range []string{"", ":memory:", "file:x.db", filepath.Join(t.TempDir(), "a?b.db")} {
			if s, err := Open(p); err == nil {
				s.Close()
				t.Errorf("Open(%q) succeeded, want error", p)
			}
		}
	})
}

func TestTimeRoundTrip(t *testing.T) {
	in := time.Date(2025, 3, 31, 23, 59, 59, 123456789, time.FixedZone("x", 3600))
	got, err := parseTime(formatTime(in))
	if err != nil || !got.Equal(in) || got.Location() != time.UTC {
		t.Fatalf("round trip %v -> %v, %v", in, got, err)
	}
	if _, err := parseTime("yesterday"); err == nil {
		t.Fatal("parseTime accepted garbage")
	}
	// Fixed width means text order is time order.
	a, b := formatTime(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)), formatTime(time.Date(2025, 1, 1, 0, 0, 0, 5, time.UTC))
	if !(a < b) {
		t.Fatalf("%q !< %q", a, b)
	}
}

func testGeneration(tokenHash string) Generation {
	return Generation{
		UserLabel:  "ana@example.org",
		TokenHash:  tokenHash,
		LedgerID:   "led_123",
		LedgerName: "Biochar removals",
		StartTime:  time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		EndTime:    time.Date(2025, 3, 31, 23, 59, 59, 0, time.UTC),
		Params: GenerationParams{
			StartTime:               time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
			EndTime:                 time.Date(2025, 3, 31, 23, 59, 59, 0, time.UTC),
			SkippedDataPointTypeIDs: []int64{7},
			BatchAmounts:            []BatchAmount{{BatchID: "bat_1", PrimaryOutputAmount: 2.5, AllocationGroup: "grp"}},
		},
		Preview:     []PreviewEntry{{LedgerID: "led_123", LedgerName: "Biochar removals", Count: 3}},
		SealedToken: "sealed-by-the-caller",
	}
}

// issueKey issues a confirmation key without a preview, failing the test on
// an error.
func issueKey(t *testing.T, s *Store, tokenHash, paramsHash string) string {
	t.Helper()
	key, err := s.IssueConfirmKey(context.Background(), tokenHash, paramsHash, nil)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %v, want %v", path, got, want)
	}
}
