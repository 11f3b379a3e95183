package generation

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/internal/testkit"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/store"
	"github.com/carbon-dash/mangrove-dashboard/watcher"
)

// prefixSealer "seals" by a reversible prefix; a real one encrypts.
type prefixSealer struct{}

func (prefixSealer) Seal(token string) (string, error) { return "sealed:" + token, nil }
func (prefixSealer) Open(sealed string) (string, error) {
	token, ok := strings.CutPrefix(sealed, "sealed:")
	if !ok {
		return "", errors.New("not sealed here")
	}
	return token, nil
}

// TestConfirmKeepsTheTokenSealed: the audit row keeps the token only
// sealed, for Recover.
func TestConfirmKeepsTheTokenSealed(t *testing.T) {
	r := newRig(func(o *Options) { o.Sealer = prefixSealer{} })
	if o, err := r.svc.Confirm(context.Background(), previewed(t, r)); err != nil || o.Kind != Started {
		t.Fatalf("confirm: %+v, %v", o, err)
	}
	if g := r.store.only(t); g.SealedToken != "sealed:"+token {
		t.Errorf("sealed token %q, want it sealed by the Sealer", g.SealedToken)
	}
}

// TestRecover: a row an earlier process left submitting becomes unknown
// with the reason (and is counted) once older than the POST timeout, and
// not before; a row begun since (this process's, or another replica's) is
// left to its Confirm until that would have recorded its outcome. A started row's task is watched again with its own opened token,
// unless it is watched already; a token that does not open, or that the API
// refuses for the task, is forgotten; an API that is down is tried again.
func TestRecover(t *testing.T) {
	clock := testkit.NewClock(time.Date(2025, 4, 2, 10, 0, 0, 0, time.UTC))
	r := newRig(func(o *Options) { o.Sealer, o.Now, o.StartTimeout = prefixSealer{}, clock.Now, time.Minute })
	add := func(state string, age time.Duration, taskID int64, sealed string) int64 {
		r.store.mu.Lock()
		defer r.store.mu.Unlock()
		g := store.Generation{ID: int64(len(r.store.gens) + 1), State: state, CreatedAt: clock.Now().Add(-age), SealedToken: sealed, LedgerID: "l"}
		if taskID != 0 {
			g.TaskID = &taskID
		}
		r.store.gens = append(r.store.gens, g)
		return g.ID
	}
	stale := add(store.StateSubmitting, 2*time.Minute, 0, "sealed:a")
	young := add(store.StateSubmitting, 10*time.Second, 0, "sealed:b")
	add(store.StateStarted, time.Hour, 501, "sealed:tok-501")
	add(store.StateStarted, time.Hour, 502, "")               // confirmed before tokens were kept
	add(store.StateStarted, time.Hour, 503, "sealed:tok-503") // watched already
	garbage := add(store.StateStarted, time.Hour, 504, "garbage")
	gone := add(store.StateStarted, time.Hour, 505, "sealed:tok-505")
	down := add(store.StateStarted, time.Hour, 506, "sealed:tok-506")
	r.watchers.current[503] = watcher.Snapshot{}
	r.watchers.errFor = map[int64]error{505: mangrove.ErrNotFound, 506: mangrove.ErrUnavailable}
	clock.Advance(time.Second)
	own := add(store.StateSubmitting, 0, 0, "sealed:c") // this process's, its POST under way

	if err := r.svc.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	state := func(id int64) store.Generation {
		r.store.mu.Lock()
		defer r.store.mu.Unlock()
		return r.store.gens[id-1]
	}
	if g := state(stale); g.State != store.StateUnknown || g.Error != interruptedStart {
		t.Errorf("stale submitting row: %s %q, want unknown with the reason", g.State, g.Error)
	}
	if g := state(young); g.State != store.StateSubmitting {
		t.Errorf("young submitting row: %s, want it left for later", g.State)
	}
	if v := r.counter(t, "dashboard_generations_started_total", "outcome", "unknown"); v != 1 {
		t.Errorf("unknown outcomes counted %v, want 1", v)
	}
	if want := []int64{501, 505, 506}; !slices.Equal(r.watchers.tracked, want) || r.watchers.tokens[0] != "tok-501" {
		t.Errorf("tracked %v with %v, want %v, 501 with its own token", r.watchers.tracked, r.watchers.tokens, want)
	}
	for id, want := range map[int64]string{garbage: "", gone: "", down: "sealed:tok-506"} {
		if got := state(id).SealedToken; got != want {
			t.Errorf("row %d keeps sealed token %q, want %q", id, got, want)
		}
	}

	// The next pass, a minute on: the young row is past the timeout, this
	// process's own is not settled by recovery, the task whose API was down
	// is tried again.
	clock.Advance(time.Minute + time.Second)
	r.watchers.tracked = nil
	if err := r.svc.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if g := state(young); g.State != store.StateUnknown {
		t.Errorf("young row after the timeout: %s, want unknown", g.State)
	}
	if g := state(own); g.State != store.StateSubmitting {
		t.Errorf("this process's own submitting row: %s, want it left to its Confirm", g.State)
	}
	if want := []int64{501, 506}; !slices.Equal(r.watchers.tracked, want) {
		t.Errorf("second pass tracked %v, want %v", r.watchers.tracked, want)
	}

	// Past the POST timeout and the time to record its outcome, a row begun
	// since this process started is settled too: no Confirm waits for it
	// any more (another replica sharing the database began it and died).
	clock.Advance(recordTimeout)
	if err := r.svc.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if g := state(own); g.State != store.StateUnknown || g.Error != interruptedStart {
		t.Errorf("a row no Confirm waits for: %s %q, want unknown with the reason", g.State, g.Error)
	}
	if v := r.counter(t, "dashboard_generations_started_total", "outcome", "unknown"); v != 3 {
		t.Errorf("unknown outcomes counted %v, want 3", v)
	}
}

// TestRecoverSharedStore: with replicas sharing the store, a row begun
// before this process started may be a live replica's, still recording its
// answer: it is settled only once its own Confirm would have recorded it.
func TestRecoverSharedStore(t *testing.T) {
	for _, shared := range []bool{false, true} {
		clock := testkit.NewClock(time.Date(2025, 4, 2, 10, 0, 0, 0, time.UTC))
		r := newRig(func(o *Options) { o.Now, o.StartTimeout, o.SharedStore = clock.Now, time.Minute, shared })
		r.store.mu.Lock()
		r.store.gens = append(r.store.gens, store.Generation{ID: 1, State: store.StateSubmitting, CreatedAt: clock.Now().Add(-time.Second), LedgerID: "l"})
		r.store.mu.Unlock()
		clock.Advance(time.Minute + time.Second) // past the POST timeout, not past recording
		if err := r.svc.Recover(context.Background()); err != nil {
			t.Fatal(err)
		}
		want := store.StateUnknown
		if shared {
			want = store.StateSubmitting
		}
		if g := r.store.only(t); g.State != want {
			t.Errorf("shared=%v: a row begun before start, past the POST timeout only: %s, want %s", shared, g.State, want)
		}
		clock.Advance(recordTimeout)
		if err := r.svc.Recover(context.Background()); err != nil {
			t.Fatal(err)
		}
		if g := r.store.only(t); g.State != store.StateUnknown {
			t.Errorf("shared=%v: past the POST timeout and recording: %s, want unknown", shared, g.State)
		}
	}
}
