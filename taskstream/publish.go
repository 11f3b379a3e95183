package taskstream

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/r3labs/sse/v2"

	"github.com/carbon-dash/mangrove-dashboard/watcher"
)

const (
	// A final event (the last status, done, the end of the response) that
	// finds its stream's buffer full is tried again every
	// finalRetryInterval, off the publisher's goroutine, until
	// finalRetryBudget has passed; then it is dropped with a warning. The
	// broadcast of the current state to joining in-place subscribers is
	// retried the same way (detached.go).
	finalRetryInterval = 50 * time.Millisecond
	finalRetryBudget   = time.Second
)

// outbox holds a stream's final events while its buffer is full, in order.
type outbox struct {
	mu     sync.Mutex
	queue  []*sse.Event
	giveUp time.Time
}

// gaveUpData is the done event's data when the watcher gave up on a task
// that had not finished (the task's own state otherwise).
const gaveUpData = "gave-up"

func statusEvent(seq int64, html []byte) Event {
	return Event{ID: strconv.FormatInt(seq, 10), Event: "status", Data: html}
}

func doneEvent(snap watcher.Snapshot) Event {
	state := snap.Task.State
	if !snap.Terminal() {
		state = gaveUpData // the watcher stopped following an unfinished task
	}
	if state == "" {
		state = doneEventID // r3labs ends a response at an event without data
	}
	return Event{ID: doneEventID, Event: "done", Data: []byte(state)}
}

// Publish implements watcher.Publisher. It never waits for a subscriber:
// a status event that finds the task's stream buffer full is dropped (the
// next snapshot replaces it), and the final events are retried in order
// off the caller's goroutine.
func (s *Streams) Publish(id int64, snap watcher.Snapshot) {
	e := s.entry(id)
	if e == nil {
		return // nobody is watching over a stream
	}
	final := snap.Ended()
	s.publishStatus(id, e, snap, false, final)
	if final {
		s.send(id, e, toSSE(doneEvent(snap)), true)
		s.send(id, e, &sse.Event{}, true) // an empty event ends every subscriber's response
	}
}

// Stopped implements watcher.Publisher.
func (s *Streams) Stopped(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[id]
	if e == nil {
		return
	}
	e.closed = true
	if e.stopped != nil {
		// Subscribers still here after the final events had time to go out
		// joined too late for them: end their streams, the reconnect gets
		// the final state. (Ending at once could beat the done event
		// through r3labs' queue.)
		time.AfterFunc(streamGrace, e.stopped)
	}
	if e.subs <= 0 {
		s.removeLocked(id)
	}
}

// publishStatus renders the status fragment once for all viewers and sends
// it, never older than what was sent before: not older than the last one
// sent, nor than the watcher's latest state, which a viewer joining since
// got on its own connection (the newer one is published next).
// It reports false when the event was dropped for a full buffer.
func (s *Streams) publishStatus(id int64, e *streamEntry, snap watcher.Snapshot, resend, final bool) bool {
	e.pubMu.Lock()
	defer e.pubMu.Unlock()
	if g := e.watcherGen.Load(); g != e.seqGen {
		e.lastSeq, e.seqGen = 0, g // a new watcher: its sequence numbers start again
	}
	if snap.Seq < e.lastSeq || (snap.Seq == e.lastSeq && !resend) {
		return true
	}
	if latest, ok := s.watchers.Latest(id); ok && latest.Seq > snap.Seq {
		return true
	}
	html, err := s.render(context.Background(), id, snap)
	if err != nil {
		s.log.Error("rendering a task status failed", "task_id", id, "err", err)
		return true
	}
	e.lastSeq = snap.Seq
	return s.send(id, e, toSSE(statusEvent(snap.Seq, html)), final)
}

// send publishes ev on the task's stream without waiting. A stream whose
// buffer is full has a stuck subscriber: a status event is dropped then
// (snapshots make that harmless), a final one queued behind the stream's
// other final events and retried from a timer. It reports false when it
// dropped ev.
func (s *Streams) send(id int64, e *streamEntry, ev *sse.Event, final bool) bool {
	name := streamName(id)
	e.out.mu.Lock()
	defer e.out.mu.Unlock()
	if len(e.out.queue) == 0 && s.sse.TryPublish(name, ev) {
		return true
	}
	if !final {
		// A status behind queued final events would be stale anyway.
		s.dropped.Add(1)
		s.log.Debug("event stream buffer full; status event dropped", "stream", name)
		return false
	}
	e.out.queue = append(e.out.queue, ev)
	if len(e.out.queue) == 1 {
		e.out.giveUp = time.Now().Add(s.finalBudget)
		time.AfterFunc(finalRetryInterval, func() { s.flush(id, e) })
	}
	return true
}

// flush retries the queued final events of a stream, in order.
func (s *Streams) flush(id int64, e *streamEntry) {
	name := streamName(id)
	e.out.mu.Lock()
	defer e.out.mu.Unlock()
	for len(e.out.queue) > 0 && s.sse.TryPublish(name, e.out.queue[0]) {
		e.out.queue[0] = nil
		e.out.queue = e.out.queue[1:]
	}
	switch {
	case len(e.out.queue) == 0:
	case s.closing() || s.entry(id) != e: // every stream ends, or this one did
		e.out.queue = nil
	case time.Now().After(e.out.giveUp):
		s.log.Warn("event stream buffer full; final events dropped", "stream", name, "events", len(e.out.queue))
		e.out.queue = nil
	default:
		time.AfterFunc(finalRetryInterval, func() { s.flush(id, e) })
	}
}
