package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// begin issues a key and begins a generation with it.
func begin(t *testing.T, s *Store, tokenHash string) Generation {
	t.Helper()
	ctx := context.Background()
	params := fmt.Sprintf("params-%d", time.Now().UnixNano())
	key, err := s.IssueConfirmKey(ctx, tokenHash, params, nil)
	if err != nil {
		t.Fatal(err)
	}
	g, created, err := s.BeginGeneration(ctx, key, params, testGeneration(tokenHash))
	if err != nil || !created {
		t.Fatalf("BeginGeneration: created=%v err=%v", created, err)
	}
	return g
}

func TestBeginGenerationStoresEverything(t *testing.T) {
	s, clock := openTest(t)
	ctx := context.Background()
	key := issueKey(t, s, "tok", "params")
	in := testGeneration("tok")
	in.ID, in.State, in.Error = 99, StateComplete, "ignored" // set by the store, not the caller
	g, created, err := s.BeginGeneration(ctx, key, "params", in)
	if err != nil || !created {
		t.Fatalf("BeginGeneration: %v %v", created, err)
	}
	if g.ID == 0 || g.ID == 99 {
		t.Errorf("ID = %d", g.ID)
	}
	if g.State != StateSubmitting || g.Error != "" || g.TaskID != nil || g.FinishedAt != nil {
		t.Errorf("new row state = %+v", g)
	}
	if !g.CreatedAt.Equal(clock.Now()) || !g.UpdatedAt.Equal(clock.Now()) {
		t.Errorf("CreatedAt %v UpdatedAt %v, want %v", g.CreatedAt, g.UpdatedAt, clock.Now())
	}
	if g.ConfirmKey != key || g.UserLabel != in.UserLabel || g.TokenHash != "tok" ||
		g.LedgerID != in.LedgerID || g.LedgerName != in.LedgerName ||
		!g.StartTime.Equal(in.StartTime) || !g.EndTime.Equal(in.EndTime) ||
		!sameParams(g.Params, withVersion(in.Params)) || !reflect.DeepEqual(g.Preview, in.Preview) {
		t.Errorf("stored %+v\nfrom %+v", g, in)
	}
	got, err := s.Generation(ctx, g.ID)
	if err != nil || !reflect.DeepEqual(got, g) {
		t.Errorf("Generation(%d) = %+v, %v\nwant %+v", g.ID, got, err, g)
	}
}

func TestBeginGenerationJSON(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	key, _ := s.IssueConfirmKey(ctx, "tok", "params", nil)

	// Values JSON cannot hold fail before anything is written.
	for name, p := range map[string]GenerationParams{
		"YearOutOfRange": {StartTime: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		"NaNAmount":      {BatchAmounts: []BatchAmount{{BatchID: "b", PrimaryOutputAmount: math.NaN()}}},
	} {
		bad := testGeneration("tok")
		bad.Params = p
		if _, _, err := s.BeginGeneration(ctx, key, "params", bad); err == nil || errors.Is(err, ErrKeyInvalid) {
			t.Fatalf("%s: err = %v", name, err)
		}
	}

	empty := testGeneration("tok")
	empty.Params, empty.Preview = GenerationParams{}, nil
	g, created, err := s.BeginGeneration(ctx, key, "params", empty)
	if err != nil || !created {
		t.Fatalf("empty records: %v %v", created, err)
	}
	if g.Params.Version != RecordVersion || !g.Params.StartTime.IsZero() || g.Preview != nil {
		t.Fatalf("empty records read back as %+v / %+v", g.Params, g.Preview)
	}
	params, preview := rawRecords(t, s, "generations", g.ID)
	if params != `{"v":1,"start_time":"0001-01-01T00:00:00Z","end_time":"0001-01-01T00:00:00Z"}` || preview != "null" {
		t.Fatalf("empty records stored as %s / %s", params, preview)
	}
}

func TestBeginGenerationConcurrent(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	key := issueKey(t, s, "tok", "params")

	const callers = 50
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		ids     = make([]int64, callers)
		created = make([]bool, callers)
		errs    = make([]error, callers)
	)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			g, c, err := s.BeginGeneration(ctx, key, "params", testGeneration("tok"))
			ids[i], created[i], errs[i] = g.ID, c, err
		}()
	}
	close(start)
	wg.Wait()

	nCreated := 0
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if created[i] {
			nCreated++
		}
		if ids[i] != ids[0] {
			t.Fatalf("caller %d got id %d, caller 0 got %d", i, ids[i], ids[0])
		}
	}
	if nCreated != 1 {
		t.Fatalf("%d callers got created=true, want exactly 1", nCreated)
	}
	_, total, err := s.Generations(ctx, "", GenerationFilter{}, 100, 0)
	if err != nil || total != 1 {
		t.Fatalf("total rows = %d, %v; want 1", total, err)
	}
}

// TestBeginGenerationTwoHandles claims one key through two Store handles on
// the same file (as two processes would): SQLite's locking, not the
// in-process semaphore, must keep it to one row.
func TestBeginGenerationTwoHandles(t *testing.T) {
	s1, _ := openTest(t)
	ctx := context.Background()
	var path string
	if err := s1.db.QueryRowContext(ctx, "SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&path); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	s2.now = s1.now
	key, err := s1.IssueConfirmKey(ctx, "tok", "params", nil)
	if err != nil {
		t.Fatal(err)
	}

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		nCreated int
		ids      = map[int64]bool{}
	)
	for i := range 50 {
		s := s1
		if i%2 == 1 {
			s = s2
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			g, created, err := s.BeginGeneration(ctx, key, "params", testGeneration("tok"))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Error(err)
				return
			}
			ids[g.ID] = true
			if created {
				nCreated++
			}
		}()
	}
	wg.Wait()
	if nCreated != 1 || len(ids) != 1 {
		t.Fatalf("created %d rows, ids %v; want exactly one", nCreated, ids)
	}
}

func TestStateTransitions(t *testing.T) {
	ctx := context.Background()
	finished := time.Date(2025, 4, 2, 10, 5, 0, 0, time.UTC)

	type step struct {
		name    string
		do      func(s *Store, id int64) error
		wantErr error // nil, ErrStateConflict, ErrNotFound
	}
	started := func(task int64) step {
		return step{name: fmt.Sprintf("MarkStarted(%d)", task), do: func(s *Store, id int64) error { return s.MarkStarted(ctx, id, task) }}
	}
	rejected := step{name: "MarkRejected", do: func(s *Store, id int64) error { return s.MarkRejected(ctx, id, "422: no batches") }}
	unknown := step{name: "MarkUnknown", do: func(s *Store, id int64) error { _, err := s.MarkUnknown(ctx, id, "timeout"); return err }}
	finish := func(task int64, state string) step {
		return step{name: "MarkFinished(" + state + ")", do: func(s *Store, _ int64) error {
			_, err := s.MarkFinished(ctx, task, state, "", finished)
			return err
		}}
	}
	conflict := func(st step) step { st.wantErr = ErrStateConflict; st.name += "Conflict"; return st }

	tests := []struct {
		name      string
		steps     []step
		wantState string
		wantTask  int64 // 0 = nil
		wantError string
		finished  bool
	}{
		{name: "Started", steps: []step{started(7)}, wantState: StateStarted, wantTask: 7},
		{name: "StartedTwiceSameTask", steps: []step{started(7), started(7)}, wantState: StateStarted, wantTask: 7},
		{name: "StartedOtherTaskConflicts", steps: []step{started(7), conflict(started(8))}, wantState: StateStarted, wantTask: 7},
		{name: "Rejected", steps: []step{rejected, rejected}, wantState: StateRejected, wantError: "422: no batches", finished: true},
		{name: "RejectedCannotStart", steps: []step{rejected, conflict(started(7))}, wantState: StateRejected, wantError: "422: no batches", finished: true},
		{name: "StartedCannotBeRejected", steps: []step{started(7), conflict(rejected)}, wantState: StateStarted, wantTask: 7},
		{name: "Unknown", steps: []step{unknown, unknown}, wantState: StateUnknown, wantError: "timeout"},
		{name: "UnknownThenStarted", steps: []step{unknown, started(9)}, wantState: StateStarted, wantTask: 9},
		{name: "StartedCannotBecomeUnknown", steps: []step{started(7), conflict(unknown)}, wantState: StateStarted, wantTask: 7},
		{name: "Complete", steps: []step{started(7), finish(7, StateComplete)}, wantState: StateComplete, wantTask: 7, finished: true},
		{name: "Failed", steps: []step{started(7), {name: "fail", do: func(s *Store, _ int64) error {
			_, err := s.MarkFinished(ctx, 7, StateFailed, "model error", finished)
			return err
		}}}, wantState: StateFailed, wantTask: 7, wantError: "model error", finished: true},
		{name: "FinishedIsIdempotent", steps: []step{started(7), finish(7, StateComplete), finish(7, StateFailed), finish(7, StateComplete)},
			wantState: StateComplete, wantTask: 7, finished: true},
		{name: "FinishedDoesNotTouchSubmitting", steps: []step{finish(0, StateComplete)}, wantState: StateSubmitting},
		{name: "FinishedOtherTaskIsNoop", steps: []step{started(7), finish(8, StateComplete)}, wantState: StateStarted, wantTask: 7},
		{name: "CompleteCannotRestart", steps: []step{started(7), finish(7, StateComplete), conflict(started(7))}, wantState: StateComplete, wantTask: 7, finished: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, clock := openTest(t)
			g := begin(t, s, "tok")
			for _, st := range tt.steps {
				clock.Advance(time.Second)
				err := st.do(s, g.ID)
				if !errors.Is(err, st.wantErr) || (st.wantErr == nil && err != nil) {
					t.Fatalf("%s: err = %v, want %v", st.name, err, st.wantErr)
				}
			}
			got, err := s.Generation(ctx, g.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.State != tt.wantState || got.Error != tt.wantError {
				t.Errorf("state %q error %q, want %q %q", got.State, got.Error, tt.wantState, tt.wantError)
			}
			switch {
			case tt.wantTask == 0 && got.TaskID != nil:
				t.Errorf("TaskID = %d, want nil", *got.TaskID)
			case tt.wantTask != 0 && (got.TaskID == nil || *got.TaskID != tt.wantTask):
				t.Errorf("TaskID = %v, want %d", got.TaskID, tt.wantTask)
			}
			if (got.FinishedAt != nil) != tt.finished {
				t.Errorf("FinishedAt = %v, want set=%v", got.FinishedAt, tt.finished)
			}
			if got.Terminal() != (tt.wantState == StateRejected || tt.wantState == StateComplete || tt.wantState == StateFailed) {
				t.Errorf("Terminal() = %v for %s", got.Terminal(), got.State)
			}
			if got.UpdatedAt.Before(g.UpdatedAt) {
				t.Errorf("UpdatedAt went back: %v < %v", got.UpdatedAt, g.UpdatedAt)
			}
		})
	}
}

func TestMarkFinishedDetails(t *testing.T) {
	s, clock := openTest(t)
	ctx := context.Background()
	g := begin(t, s, "tok")
	if err := s.MarkStarted(ctx, g.ID, 42); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 4, 2, 10, 3, 0, 0, time.FixedZone("CEST", 2*3600))
	if recorded, err := s.MarkFinished(ctx, 42, StateComplete, "", at); err != nil || !recorded {
		t.Fatalf("the first MarkFinished: recorded %v, %v", recorded, err)
	}
	clock.Advance(time.Hour)
	if recorded, err := s.MarkFinished(ctx, 42, StateComplete, "", time.Time{}); err != nil || recorded {
		t.Fatalf("a repeated MarkFinished: recorded %v, %v; want a no-op", recorded, err)
	}
	got, err := s.GenerationByTask(ctx, 42)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != g.ID || got.FinishedAt == nil || !got.FinishedAt.Equal(at) || got.FinishedAt.Location() != time.UTC {
		t.Fatalf("GenerationByTask = %+v (finished %v), want first finish time kept %v", got, got.FinishedAt, at)
	}

	if _, err := s.MarkFinished(ctx, 42, StateStarted, "", at); err == nil {
		t.Error("MarkFinished accepted a non-terminal state")
	}
	if _, err := s.MarkFinished(ctx, 4242, StateFailed, "x", at); err != nil {
		t.Errorf("MarkFinished for a task the dashboard did not start: %v", err)
	}

	// Zero finishedAt means now.
	g2 := begin(t, s, "tok")
	if err := s.MarkStarted(ctx, g2.ID, 43); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MarkFinished(ctx, 43, StateFailed, strings.Repeat("é", 5000), time.Time{}); err != nil {
		t.Fatal(err)
	}
	got2, _ := s.Generation(ctx, g2.ID)
	if got2.FinishedAt == nil || !got2.FinishedAt.Equal(clock.Now()) {
		t.Errorf("FinishedAt = %v, want %v", got2.FinishedAt, clock.Now())
	}
	if len(got2.Error) > maxErrorLen || !strings.HasPrefix(got2.Error, "éé") || strings.ToValidUTF8(got2.Error, "?") != got2.Error {
		t.Errorf("long error stored as %d bytes, valid UTF-8 = %v", len(got2.Error), strings.ToValidUTF8(got2.Error, "?") == got2.Error)
	}
}

func TestNotFound(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	if _, err := s.Generation(ctx, 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("Generation: %v", err)
	}
	if _, err := s.GenerationByTask(ctx, 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("GenerationByTask: %v", err)
	}
	if err := s.MarkStarted(ctx, 1, 2); !errors.Is(err, ErrNotFound) {
		t.Errorf("MarkStarted: %v", err)
	}
	if err := s.MarkRejected(ctx, 1, "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("MarkRejected: %v", err)
	}
	if _, err := s.MarkUnknown(ctx, 1, "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("MarkUnknown: %v", err)
	}
	if _, err := s.WaitSettled(ctx, 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("WaitSettled: %v", err)
	}
}

func TestGenerationsListing(t *testing.T) {
	s, clock := openTest(t)
	ctx := context.Background()

	var mine, all []int64 // ids, in insertion order
	for i := range 7 {
		tok := "alice"
		if i%3 == 2 {
			tok = "bob"
		}
		clock.Advance(time.Minute)
		g := begin(t, s, tok)
		all = append(all, g.ID)
		if tok == "alice" {
			mine = append(mine, g.ID)
		}
	}
	reversed := func(ids []int64) []int64 {
		out := make([]int64, len(ids))
		for i, id := range ids {
			out[len(ids)-1-i] = id
		}
		return out
	}

	tests := []struct {
		name          string
		token         string
		limit, offset int
		want          []int64
		wantTotal     int
	}{
		{name: "AllNewestFirst", limit: 100, want: reversed(all), wantTotal: 7},
		{name: "FirstPage", limit: 3, want: reversed(all)[:3], wantTotal: 7},
		{name: "SecondPage", limit: 3, offset: 3, want: reversed(all)[3:6], wantTotal: 7},
		{name: "LastPartialPage", limit: 3, offset: 6, want: reversed(all)[6:], wantTotal: 7},
		{name: "PastTheEnd", limit: 3, offset: 30, want: nil, wantTotal: 7},
		{name: "DefaultLimit", limit: 0, want: reversed(all), wantTotal: 7},
		{name: "NegativeOffset", limit: 2, offset: -5, want: reversed(all)[:2], wantTotal: 7},
		{name: "ByToken", token: "alice", limit: 100, want: reversed(mine), wantTotal: len(mine)},
		{name: "ByTokenPaged", token: "alice", limit: 2, offset: 2, want: reversed(mine)[2:4], wantTotal: len(mine)},
		{name: "UnknownToken", token: "carol", limit: 10, want: nil, wantTotal: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gens, total, err := s.Generations(ctx, tt.token, GenerationFilter{}, tt.limit, tt.offset)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for i, g := range gens {
				got = append(got, g.ID)
				if i > 0 && g.CreatedAt.After(gens[i-1].CreatedAt) {
					t.Errorf("not newest first at %d", i)
				}
				if tt.token != "" && g.TokenHash != tt.token {
					t.Errorf("row %d has token %q", g.ID, g.TokenHash)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) || total != tt.wantTotal {
				t.Errorf("got %v total %d, want %v total %d", got, total, tt.want, tt.wantTotal)
			}
		})
	}
}

func TestWaitSettled(t *testing.T) {
	ctx := context.Background()

	t.Run("ReturnsOnceStarted", func(t *testing.T) {
		s, _ := openTest(t)
		g := begin(t, s, "tok")
		go func() {
			time.Sleep(120 * time.Millisecond)
			if err := s.MarkStarted(ctx, g.ID, 5); err != nil {
				t.Error(err)
			}
		}()
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		got, err := s.WaitSettled(ctx, g.ID)
		if err != nil || got.State != StateStarted || got.TaskID == nil || *got.TaskID != 5 {
			t.Fatalf("WaitSettled = %+v, %v", got, err)
		}
	})

	t.Run("AlreadySettled", func(t *testing.T) {
		s, _ := openTest(t)
		g := begin(t, s, "tok")
		if err := s.MarkRejected(ctx, g.ID, "no"); err != nil {
			t.Fatal(err)
		}
		got, err := s.WaitSettled(ctx, g.ID)
		if err != nil || got.State != StateRejected {
			t.Fatalf("WaitSettled = %+v, %v", got, err)
		}
	})

	t.Run("ContextEnds", func(t *testing.T) {
		s, _ := openTest(t)
		g := begin(t, s, "tok")
		ctx, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
		defer cancel()
		got, err := s.WaitSettled(ctx, g.ID)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want deadline exceeded", err)
		}
		if got.ID != g.ID || got.State != StateSubmitting {
			t.Fatalf("last row = %+v", got)
		}
	})
}

// TestUnsettledGenerations: rows still submitting, and started rows with a
// sealed token, are listed oldest first with the token; a started row whose
// token was forgotten is not; a row that settles (rejected, unknown,
// finished) leaves the list and its token is cleared.
func TestUnsettledGenerations(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	submitting := begin(t, s, "th")
	started := begin(t, s, "th")
	if err := s.MarkStarted(ctx, started.ID, 71); err != nil {
		t.Fatal(err)
	}
	rejected, unknown, finished := begin(t, s, "th"), begin(t, s, "th"), begin(t, s, "th")
	if err := s.MarkRejected(ctx, rejected.ID, "no"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MarkUnknown(ctx, unknown.ID, "no answer"); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkStarted(ctx, finished.ID, 72); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MarkFinished(ctx, 72, StateComplete, "", time.Time{}); err != nil {
		t.Fatal(err)
	}
	forgotten := begin(t, s, "th") // started, its token forgotten: left to its viewers
	if err := s.MarkStarted(ctx, forgotten.ID, 73); err != nil {
		t.Fatal(err)
	}
	if err := s.ForgetSealedToken(ctx, forgotten.ID); err != nil {
		t.Fatal(err)
	}
	got, err := s.UnsettledGenerations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != submitting.ID || got[1].ID != started.ID {
		t.Fatalf("unsettled %+v, want the submitting then the started row", got)
	}
	for _, g := range got {
		if g.SealedToken != "sealed-by-the-caller" {
			t.Errorf("row %d (%s) sealed token %q, want it kept", g.ID, g.State, g.SealedToken)
		}
	}
	for _, id := range []int64{rejected.ID, unknown.ID, finished.ID} {
		g, err := s.Generation(ctx, id)
		if err != nil || g.SealedToken != "" {
			t.Errorf("settled row %d (%s) keeps sealed token %q (%v)", id, g.State, g.SealedToken, err)
		}
	}
}

// beginOn begins a generation of tokenHash on ledger id (named name) by
// user, and moves it to state.
func beginOn(t *testing.T, s *Store, tokenHash, id, name, user, state string) Generation {
	t.Helper()
	ctx := context.Background()
	params := fmt.Sprintf("params-%d", time.Now().UnixNano())
	key := issueKey(t, s, tokenHash, params)
	in := testGeneration(tokenHash)
	in.LedgerID, in.LedgerName, in.UserLabel = id, name, user
	g, _, err := s.BeginGeneration(ctx, key, params, in)
	if err != nil {
		t.Fatal(err)
	}
	taskID := g.ID + 1000
	switch state {
	case StateSubmitting:
	case StateRejected:
		err = s.MarkRejected(ctx, g.ID, "no")
	case StateUnknown:
		_, err = s.MarkUnknown(ctx, g.ID, "timeout")
	default:
		err = s.MarkStarted(ctx, g.ID, taskID)
		if err == nil && state != StateStarted {
			_, err = s.MarkFinished(ctx, taskID, state, "", time.Time{})
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	g.State = state
	return g
}

func TestGenerationsFilter(t *testing.T) {
	s, clock := openTest(t)
	ctx := context.Background()
	rows := []struct{ token, ledger, user, state string }{
		{"alice", "lgr_ncr", "Ana", StateComplete},
		{"alice", "lgr_bp", "Ana", StateFailed},
		{"alice", "lgr_ncr", "Ben", StateStarted},
		{"alice", "lgr_ncr", "Ana", StateRejected},
		{"alice", "lgr_bp", "", StateComplete},
		{"bob", "lgr_ncr", "Ana", StateComplete}, // another token: never listed for alice
	}
	var ids []int64
	for _, r := range rows {
		clock.Advance(time.Minute)
		ids = append(ids, beginOn(t, s, r.token, r.ledger, "Ledger "+r.ledger, r.user, r.state).ID)
	}
	newestFirst := func(idx ...int) []int64 {
		var out []int64
		for i := len(idx) - 1; i >= 0; i-- {
			out = append(out, ids[idx[i]])
		}
		return out
	}

	tests := []struct {
		name   string
		token  string
		filter GenerationFilter
		want   []int64
	}{
		{"None", "alice", GenerationFilter{}, newestFirst(0, 1, 2, 3, 4)},
		{"Ledger", "alice", GenerationFilter{LedgerID: "lgr_ncr"}, newestFirst(0, 2, 3)},
		{"State", "alice", GenerationFilter{State: StateComplete}, newestFirst(0, 4)},
		{"User", "alice", GenerationFilter{UserLabel: "Ana"}, newestFirst(0, 1, 3)},
		{"LedgerAndState", "alice", GenerationFilter{LedgerID: "lgr_ncr", State: StateComplete}, newestFirst(0)},
		{"All", "alice", GenerationFilter{LedgerID: "lgr_bp", State: StateFailed, UserLabel: "Ana"}, newestFirst(1)},
		{"NoMatch", "alice", GenerationFilter{LedgerID: "lgr_ncr", State: StateFailed}, nil},
		{"UnknownLedger", "alice", GenerationFilter{LedgerID: "lgr_none"}, nil},
		{"OtherToken", "bob", GenerationFilter{LedgerID: "lgr_ncr"}, newestFirst(5)},
		{"EveryToken", "", GenerationFilter{UserLabel: "Ana", State: StateComplete}, newestFirst(0, 5)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gens, total, err := s.Generations(ctx, tt.token, tt.filter, 100, 0)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, g := range gens {
				got = append(got, g.ID)
				f := tt.filter
				if (tt.token != "" && g.TokenHash != tt.token) || (f.LedgerID != "" && g.LedgerID != f.LedgerID) ||
					(f.State != "" && g.State != f.State) || (f.UserLabel != "" && g.UserLabel != f.UserLabel) {
					t.Errorf("row %+v does not match %+v", g, f)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) || total != len(tt.want) {
				t.Errorf("got %v total %d, want %v total %d", got, total, tt.want, len(tt.want))
			}
			// The count is of every match, not of the page.
			if len(tt.want) > 1 {
				page, total, err := s.Generations(ctx, tt.token, tt.filter, 1, 1)
				if err != nil || total != len(tt.want) || len(page) != 1 || page[0].ID != tt.want[1] {
					t.Errorf("second page of one: %v total %d (%v)", page, total, err)
				}
			}
		})
	}
}

func TestGenerationChoices(t *testing.T) {
	s, clock := openTest(t)
	ctx := context.Background()
	for _, r := range []struct{ token, ledger, name, user string }{
		{"alice", "lgr_b", "biochar Produced", "Ben"},
		{"alice", "lgr_a", "Net Carbon Removal (old name)", "Ana"},
		{"alice", "lgr_a", "Net Carbon Removal", "Ana"},
		{"alice", "lgr_c", "Another", ""},
		{"alice", "lgr_c", "Another", "ana lower"},
		{"bob", "lgr_z", "Bob's ledger", "Zoe"},
	} {
		clock.Advance(time.Minute)
		beginOn(t, s, r.token, r.ledger, r.name, r.user, StateComplete)
	}

	got, err := s.GenerationChoices(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	wantLedgers := []LedgerChoice{{"lgr_c", "Another"}, {"lgr_b", "biochar Produced"}, {"lgr_a", "Net Carbon Removal"}}
	if !reflect.DeepEqual(got.Ledgers, wantLedgers) {
		t.Errorf("ledgers %v, want %v (by name, any case; each by its latest name)", got.Ledgers, wantLedgers)
	}
	if !reflect.DeepEqual(got.Users, []string{"Ana", "ana lower", "Ben"}) {
		t.Errorf("users %q, want Ana, ana lower and Ben (by name, any case; no empty label, no other token's)", got.Users)
	}

	none, err := s.GenerationChoices(ctx, "carol")
	if err != nil || len(none.Ledgers) != 0 || len(none.Users) != 0 {
		t.Errorf("a token without generations: %+v, %v", none, err)
	}

	t.Run("Bounded", func(t *testing.T) {
		s, _ := openTest(t)
		for i := range MaxGenerationChoices + 1 {
			beginOn(t, s, "alice", fmt.Sprintf("lgr_%03d", i), "L", fmt.Sprintf("user %03d", i), StateSubmitting)
		}
		got, err := s.GenerationChoices(ctx, "alice")
		if err != nil || len(got.Ledgers) != MaxGenerationChoices || len(got.Users) != MaxGenerationChoices {
			t.Errorf("%d ledgers, %d users (%v), want %d of each", len(got.Ledgers), len(got.Users), err, MaxGenerationChoices)
		}
	})
}

// TestGenerationsQueryPlan: a token's listing, filtered or not, its count
// and the filter choices search the token's index instead of scanning the
// table.
func TestGenerationsQueryPlan(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	queries := map[string][]any{
		ledgerChoicesQuery: {"tok", MaxGenerationChoices},
		userChoicesQuery:   {"tok", MaxGenerationChoices},
	}
	for _, f := range []GenerationFilter{
		{}, {LedgerID: "l"}, {State: StateComplete}, {State: StateStarted}, {UserLabel: "u"},
		{LedgerID: "l", State: StateFailed, UserLabel: "u"},
	} {
		where, args := f.where("tok")
		queries[`SELECT count(*) FROM generations`+where] = args
		queries[`SELECT `+generationColumns+` FROM generations`+where+` ORDER BY id DESC LIMIT ? OFFSET ?`] = append(args, 50, 0)
	}
	for q, args := range queries {
		rows, err := s.db.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		joined := strings.Join(plan, "; ")
		if !strings.Contains(joined, "INDEX generations_token_hash (token_hash=?)") || strings.Contains(joined, "SCAN generations") {
			t.Errorf("plan of %s\n%s", q, joined)
		}
	}
}

func TestPreviewedTotal(t *testing.T) {
	tests := []struct {
		name    string
		preview []PreviewEntry
		want    int
		ok      bool
	}{
		{"NotRecorded", nil, 0, false},
		{"Empty", []PreviewEntry{}, 0, true},
		{"Ledgers", []PreviewEntry{{LedgerID: "a", Count: 6}, {LedgerID: "b", Count: 6}}, 12, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, ok := Generation{Preview: tt.preview}.PreviewedTotal()
			if n != tt.want || ok != tt.ok {
				t.Errorf("PreviewedTotal() = %d, %v, want %d, %v", n, ok, tt.want, tt.ok)
			}
		})
	}
}

// TestMarksReportWhetherTheyMovedTheRow: of callers settling one row (two
// replicas recovering it at once), only the one that moved it hears so.
func TestMarksReportWhetherTheyMovedTheRow(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	g := begin(t, s, "tok")
	if recorded, err := s.MarkUnknown(ctx, g.ID, "timeout"); err != nil || !recorded {
		t.Fatalf("first MarkUnknown: %v, %v", recorded, err)
	}
	if recorded, err := s.MarkUnknown(ctx, g.ID, "timeout"); err != nil || recorded {
		t.Fatalf("repeated MarkUnknown: %v, %v; want a no-op", recorded, err)
	}
	if err := s.MarkStarted(ctx, g.ID, 9); err != nil {
		t.Fatal(err)
	}
	results := make(chan bool, 2)
	for range 2 {
		go func() {
			recorded, err := s.MarkFinished(ctx, 9, StateComplete, "", time.Time{})
			if err != nil {
				t.Error(err)
			}
			results <- recorded
		}()
	}
	if a, b := <-results, <-results; a == b {
		t.Fatalf("concurrent MarkFinished recorded %v and %v; want exactly one", a, b)
	}
}
