package watcher

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// Fleet lets the pools of several replicas sharing one database poll each
// task once between them: the replica that leads a task polls the API and
// announces every snapshot; the others follow the announcements and poll
// only once they can lead (the leader stopped watching, or died). Without a
// Fleet (one replica) every pool polls its own tasks.
//
// Announcements are opaque bytes to the fleet; the pool encodes and decodes
// them. Implementations are safe for concurrent use.
type Fleet interface {
	// Lead makes this replica the task's poller if no other replica is, and
	// reports whether it is. Calling it again while leading is cheap and
	// reports true, unless the lead was lost (the connection holding it
	// broke): then it tries to take it again.
	Lead(ctx context.Context, taskID int64) (bool, error)
	// Release gives up leading the task; releasing a task not led is a no-op.
	Release(taskID int64)
	// Announce sends a snapshot of a led task to the other replicas. It
	// must not block for long: it is called on the poller's goroutine.
	Announce(ctx context.Context, taskID int64, snapshot []byte) error
	// Follow registers the receiver of the other replicas' announcements:
	// receive is called once per announcement, from one goroutine, never
	// with this replica's own. Call it once, before Lead or Announce.
	Follow(receive func(taskID int64, snapshot []byte))
}

// fleetSnapshotVersion is the version of the announced snapshot's JSON:
// replicas of different versions share a database during a rolling deploy,
// and one that cannot read an announcement ignores it (its viewers then wait
// for it to lead).
const fleetSnapshotVersion = 1

// fleetSnapshot is a Snapshot as announced to the other replicas. Seq is
// each replica's own, so it is not sent.
type fleetSnapshot struct {
	V          int                `json:"v"`
	Task       mangrove.AsyncTask `json:"task"`
	ObservedAt time.Time          `json:"observed_at"`
	Retrying   string             `json:"retrying,omitempty"`
	Remaining  time.Duration      `json:"remaining_ns,omitempty"`
	GaveUp     string             `json:"gave_up,omitempty"`
}

func encodeFleetSnapshot(s Snapshot) ([]byte, error) {
	return json.Marshal(fleetSnapshot{
		V: fleetSnapshotVersion, Task: s.Task, ObservedAt: s.ObservedAt,
		Retrying: s.Retrying, Remaining: s.Remaining, GaveUp: s.GaveUp,
	})
}

// decodeFleetSnapshot reads an announcement for task taskID.
func decodeFleetSnapshot(taskID int64, b []byte) (Snapshot, error) {
	var f fleetSnapshot
	if err := json.Unmarshal(b, &f); err != nil {
		return Snapshot{}, fmt.Errorf("watcher: announced snapshot: %w", err)
	}
	if f.V != fleetSnapshotVersion {
		return Snapshot{}, fmt.Errorf("watcher: announced snapshot version %d, want %d", f.V, fleetSnapshotVersion)
	}
	if f.Task.ID != taskID {
		return Snapshot{}, fmt.Errorf("watcher: announcement for task %d carries task %d", taskID, f.Task.ID)
	}
	return Snapshot{Task: f.Task, ObservedAt: f.ObservedAt, Retrying: f.Retrying, Remaining: max(f.Remaining, 0), GaveUp: f.GaveUp}, nil
}

// receive applies another replica's announcement to this replica's
// watcher of the task, if it has one, and wakes that watcher to publish it
// when anything a viewer sees changed: it runs on the fleet's one listener,
// which must not wait on subscribers. An announcement older than the state
// already held (a late one, the old leader's last after a takeover), one
// for a task this replica polls itself, or one after the end is ignored:
// a viewer never sees the task go back.
func (p *Pool) receive(taskID int64, b []byte) {
	snap, err := decodeFleetSnapshot(taskID, b)
	if err != nil {
		p.opts.Logger.Debug("ignoring another replica's task snapshot", "task_id", taskID, "err", err)
		return
	}
	p.mu.Lock()
	w := p.watchers[taskID]
	if w == nil || w.leading || w.latest.Ended() || !snap.ObservedAt.After(w.latest.ObservedAt) {
		p.mu.Unlock()
		return
	}
	prev := w.latest
	if !sameTask(prev.Task, snap.Task) || prev.Retrying != snap.Retrying || prev.GaveUp != snap.GaveUp {
		snap.Seq = prev.Seq + 1
		snap.Relayed = true
		w.latest = snap
		w.unpublished = true
	} else {
		w.latest.ObservedAt = snap.ObservedAt
		w.latest.Remaining = snap.Remaining
	}
	wake := w.unpublished
	p.mu.Unlock()
	if wake {
		select {
		case w.wake <- struct{}{}:
		default: // already woken: it publishes the latest state
		}
	}
}

// announceIfLeading announces w's state when this replica polls it for the
// fleet; a follower's own news (it gave up) stays its own.
func (p *Pool) announceIfLeading(w *watch, s Snapshot) {
	p.mu.Lock()
	leading := w.leading
	p.mu.Unlock()
	if leading {
		p.announce(w.id, s)
	}
}

// announce sends the led task's latest state to the other replicas.
func (p *Pool) announce(taskID int64, s Snapshot) {
	if p.opts.Fleet == nil {
		return
	}
	b, err := encodeFleetSnapshot(s)
	if err == nil {
		ctx, cancel := context.WithTimeout(p.ctx, announceTimeout)
		err = p.opts.Fleet.Announce(ctx, taskID, b)
		cancel()
	}
	if err != nil && p.ctx.Err() == nil {
		// Debug: the lead's own check (lead) says once when the database is away.
		p.opts.Logger.Debug("announcing a task snapshot to the other replicas failed", "task_id", taskID, "err", err)
	}
}

// announceTimeout bounds one announcement, and leadTimeout one attempt to
// lead a task: both run on the watcher's goroutine between polls.
const (
	announceTimeout = 5 * time.Second
	leadTimeout     = 5 * time.Second
)

// lead reports whether this replica polls task w now: always without a
// fleet. When the database cannot tell, it polls: a second poller costs a
// call per interval, a missing one leaves viewers without progress.
func (p *Pool) lead(w *watch) bool {
	if p.opts.Fleet == nil {
		return true
	}
	ctx, cancel := context.WithTimeout(p.ctx, leadTimeout)
	defer cancel()
	ok, err := p.opts.Fleet.Lead(ctx, w.id)
	// Said once per outage, not at every tick of every task.
	switch {
	case err != nil && !w.leadFailing && p.ctx.Err() == nil:
		p.opts.Logger.Warn("cannot tell whether another replica polls the task; polling it here until the database answers", "task_id", w.id, "err", err)
	case err == nil && w.leadFailing:
		p.opts.Logger.Info("the database answers again: the replicas share the task's polling", "task_id", w.id)
	}
	w.leadFailing = err != nil
	return ok || err != nil
}
