package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/internal/pgtest"
)

// onPostgres reports whether t runs under TestOnPostgres, where openTest
// opens PostgreSQL instead of SQLite. The test's name carries the choice so
// the shared tests need no parameter and no package state.
func onPostgres(t *testing.T) bool { return strings.HasPrefix(t.Name(), "TestOnPostgres/") }

// TestOnPostgres runs the store's tests again on PostgreSQL: every test of
// what the store does (not of SQLite's files, journal or query plans, nor
// of the SQLite-only migrations of earlier rows).
func TestOnPostgres(t *testing.T) {
	pgtest.AdminURL(t) // skip (or fail under CI) before listing subtests
	for _, tt := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"BeginGenerationStoresEverything", TestBeginGenerationStoresEverything},
		{"BeginGenerationJSON", TestBeginGenerationJSON},
		{"BeginGenerationConcurrent", TestBeginGenerationConcurrent},
		{"StateTransitions", TestStateTransitions},
		{"MarkFinishedDetails", TestMarkFinishedDetails},
		{"NotFound", TestNotFound},
		{"GenerationsListing", TestGenerationsListing},
		{"WaitSettled", TestWaitSettled},
		{"UnsettledGenerations", TestUnsettledGenerations},
		{"GenerationsFilter", TestGenerationsFilter},
		{"GenerationChoices", TestGenerationChoices},
		{"IssueConfirmKey", TestIssueConfirmKey},
		{"IssueConfirmKeyPurgesExpired", TestIssueConfirmKeyPurgesExpired},
		{"ConfirmKeyLifecycle", TestConfirmKeyLifecycle},
		{"ConfirmKeyUsedKeyStaysBound", TestConfirmKeyUsedKeyStaysBound},
		{"GenerationRecordsTheKeysPreview", TestGenerationRecordsTheKeysPreview},
		{"ConfirmKeysPerTokenBounded", TestConfirmKeysPerTokenBounded},
		{"RecordsRoundTrip", TestRecordsRoundTrip},
		{"UndecodableRecordsStillRead", TestUndecodableRecordsStillRead},
		{"RunRecord", TestRunRecord},
		{"RunStepsAreBounded", TestRunStepsAreBounded},
		{"Sessions", TestSessions},
		{"MarksReportWhetherTheyMovedTheRow", TestMarksReportWhetherTheyMovedTheRow},
		{"ConcurrentRunSteps", testConcurrentRunSteps},
	} {
		t.Run(tt.name, tt.fn)
	}
}

// TestPostgresReplicasMigrateOnce: stores opening one fresh database at
// once (replicas starting together) all open, and every migration is
// recorded once.
func TestPostgresReplicasMigrateOnce(t *testing.T) {
	url := pgtest.URL(t)
	const replicas = 4
	stores := make([]*Store, replicas)
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() { stores[i], errs[i] = OpenPostgres(url) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	ctx := context.Background()
	var rows, distinct int
	if err := stores[0].db.QueryRowContext(ctx, `SELECT count(*), count(DISTINCT version) FROM schema_migrations`).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if rows != len(migrations) || distinct != len(migrations) {
		t.Fatalf("schema_migrations has %d rows, %d versions; want %d each", rows, distinct, len(migrations))
	}
	if v, err := stores[1].SchemaVersion(ctx); err != nil || v != len(migrations) {
		t.Fatalf("SchemaVersion = %d, %v", v, err)
	}
}

// TestPostgresOneKeyTwoReplicas: concurrent first uses of one key through
// two handles on one PostgreSQL database (two replicas) create one
// generation, and every caller gets it.
func TestPostgresOneKeyTwoReplicas(t *testing.T) {
	url := pgtest.URL(t)
	a, err := OpenPostgres(url)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := OpenPostgres(url)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	key, err := a.IssueConfirmKey(ctx, "th", "ph", []PreviewEntry{{LedgerID: "l", LedgerName: "L", Count: 2}})
	if err != nil {
		t.Fatal(err)
	}
	const callers = 20
	ids := make([]int64, callers)
	created := make([]bool, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			var g Generation
			g, created[i], errs[i] = s.BeginGeneration(ctx, key, "ph", testGeneration("th"))
			ids[i] = g.ID
		})
	}
	wg.Wait()
	n := 0
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if ids[i] != ids[0] {
			t.Fatalf("caller %d got generation %d, caller 0 %d", i, ids[i], ids[0])
		}
		if created[i] {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d callers created the generation, want 1", n)
	}
}

// testConcurrentRunSteps: steps appended at once by two handles (two
// replicas recording one run) are all kept: the read-then-write locks the row.
func testConcurrentRunSteps(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	key := issueKey(t, s, "th", "ph")
	g, _, err := s.BeginGeneration(ctx, key, "ph", testGeneration("th"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.MarkStarted(ctx, g.ID, 77); err != nil {
		t.Fatal(err)
	}
	const steps = 40
	at := time.Unix(1, 0).UTC() // one instant: none is older than another
	var wg sync.WaitGroup
	errc := make(chan error, steps)
	for i := range steps {
		wg.Go(func() {
			errc <- s.AppendRunStep(ctx, 77, RunStep{At: at, Progress: i, Description: "step " + strings.Repeat("x", i)})
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
	}
	got, err := s.Generation(ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Run.Steps) != steps {
		t.Fatalf("%d steps kept, want %d", len(got.Run.Steps), steps)
	}
}

// QueryRow, Exec and Query are the context-free forms tests write their
// own SQL with, in the store's dialect.
func (c conn) QueryRow(query string, args ...any) *sql.Row {
	return c.QueryRowContext(context.Background(), query, args...)
}

func (c conn) Exec(query string, args ...any) (sql.Result, error) {
	return c.ExecContext(context.Background(), query, args...)
}

func (c conn) Query(query string, args ...any) (*sql.Rows, error) {
	return c.QueryContext(context.Background(), query, args...)
}

// TestPostgresSessionSettings: the store's connections carry the settings
// that bound what a stalled replica holds on the server.
func TestPostgresSessionSettings(t *testing.T) {
	s, err := OpenPostgres(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for name, want := range map[string]string{"idle_in_transaction_session_timeout": "30s", "lock_timeout": "15s"} {
		var got string
		if err := s.db.QueryRow(`SELECT current_setting(?)`, name).Scan(&got); err != nil || got != want {
			t.Errorf("%s = %q, %v; want %q", name, got, err, want)
		}
	}
}
