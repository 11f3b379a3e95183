package generation

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/internal/testkit"
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

// TestRecover: a row left submitting longer than the POST timeout becomes
// unknown with the reason (and is counted); a younger one is left for the
// next pass; a started row's task is watched again with its own opened
// token, unless it is watched already or has no token to open.
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
	add(store.StateStarted, time.Hour, 504, "garbage")        // another secret sealed it
	r.watchers.current[503] = watcher.Snapshot{}

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
	if len(r.watchers.tracked) != 1 || r.watchers.tracked[0] != 501 || r.watchers.tokens[0] != "tok-501" {
		t.Errorf("tracked %v with %v, want task 501 with its own token", r.watchers.tracked, r.watchers.tokens)
	}

	// The next pass, once the young row is past the timeout too.
	clock.Advance(time.Minute)
	if _, err := r.svc.settleInterrupted(context.Background()); err != nil {
		t.Fatal(err)
	}
	if g := state(young); g.State != store.StateUnknown {
		t.Errorf("young row after the timeout: %s, want unknown", g.State)
	}
}
