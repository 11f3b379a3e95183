package generation

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/store"
	"github.com/carbon-dash/mangrove-dashboard/watcher"
)

const (
	// pageViewMaxAge: a task page refreshes a shared task state older than
	// this, so a page loaded just after the task finished shows it finished.
	pageViewMaxAge = time.Second
	// producedPageSize and producedMaxPages bound the reading of a finished
	// run's batches on each ledger (newest updated first).
	producedPageSize = 100
	producedMaxPages = 10
	// stepWriteTimeout bounds recording a step, which runs on the
	// watcher's goroutine.
	stepWriteTimeout = 5 * time.Second
	// countWrittenTimeout bounds counting a finished run's batches in the
	// background.
	countWrittenTimeout = time.Minute
	// maxWrittenLedgers bounds the ledgers a run's batches are listed on.
	maxWrittenLedgers = 20
	// clockSkew allows for the API's clock being behind ours when telling
	// the batches a run wrote by their update time.
	clockSkew = 2 * time.Second
)

// Task is a task as the task page shows it: its latest state and, when it
// was started here, its audit row.
type Task struct {
	Snapshot   watcher.Snapshot
	Generation *store.Generation // nil: not started from this dashboard
	// Written are the batches a finished run started here wrote, one entry
	// per ledger its preview named (complete or failed: a failed run may
	// have written some before it stopped); WrittenError says why they
	// could not be listed.
	Written      []LedgerWritten
	WrittenError error
}

// LedgerWritten is what a run wrote on one ledger, against its preview.
type LedgerWritten struct {
	LedgerID, LedgerName string
	// Previewed is the preview's count for the ledger; -1 when the
	// confirmation recorded no preview.
	Previewed int
	Batches   []mangrove.Batch
	// Replaced are the ledger's batches in the range when the preview was
	// confirmed, with their outputs then (store.ExistingBatch), by id.
	Replaced map[string]store.ExistingBatch
	// Truncated is set when the ledger had more batches updated since the
	// run started than producedMaxPages pages: the list is incomplete.
	Truncated bool
}

// Task reads a task's current state for a page view, checking the token
// against it, with the audit row and, once complete, the batches it wrote.
func (s *Service) Task(ctx context.Context, token string, id int64) (*Task, error) {
	snap, err := s.watchers.Current(ctx, id, token, pageViewMaxAge)
	if err != nil {
		return nil, err
	}
	return s.task(ctx, token, snap)
}

// TaskBatches is Task for the batches fragment a task page loads when the
// run completes while it is open; the shared state is good enough.
func (s *Service) TaskBatches(ctx context.Context, token string, id int64) (*Task, error) {
	snap, err := s.watchers.Authorize(ctx, id, token)
	if err != nil {
		return nil, err
	}
	return s.task(ctx, token, snap)
}

func (s *Service) task(ctx context.Context, token string, snap watcher.Snapshot) (*Task, error) {
	t := &Task{Snapshot: snap}
	gen, err := s.GenerationOf(ctx, snap.Task.ID)
	if err != nil {
		return nil, err
	}
	t.Generation = gen
	if gen != nil && snap.Terminal() {
		t.Written, t.WrittenError = s.written(ctx, token, *gen, snap.Task)
		if t.WrittenError == nil {
			s.recordWritten(ctx, *gen, t.Written)
		}
	}
	return t, nil
}

// GenerationOf is the audit row of a task started here, or nil.
func (s *Service) GenerationOf(ctx context.Context, taskID int64) (*store.Generation, error) {
	gen, err := s.store.GenerationByTask(ctx, taskID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return &gen, nil
}

// Origin is the audit row of a task started here, for what never changes
// once the task id is recorded (ledger, user, parameters), or nil. Found
// rows are kept, so the event streams, which render every change of every
// watched task, do not read the database each time; its State may be stale.
func (s *Service) Origin(ctx context.Context, taskID int64) (*store.Generation, error) {
	if g, ok := s.origins.Get(taskID); ok {
		return g, nil
	}
	g, err := s.GenerationOf(ctx, taskID)
	if g != nil {
		s.origins.Put(taskID, g)
	}
	return g, err
}

// written lists, per ledger the preview named, the batches a finished run
// wrote: each ledger's batches in the run's range updated while it ran.
// The API has no documented link from a task to its batches, so this works
// from what it does document. The ledgers are read at once.
func (s *Service) written(ctx context.Context, token string, gen store.Generation, task mangrove.AsyncTask) ([]LedgerWritten, error) {
	out := ledgersOf(gen)
	errs := make([]error, len(out))
	var wg sync.WaitGroup
	for i := range out {
		wg.Go(func() {
			out[i].Batches, out[i].Truncated, errs[i] = s.producedBatches(ctx, token, out[i].LedgerID, gen, task)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		s.log.Warn("listing a run's batches failed", "task_id", task.ID, "err", err)
		return nil, err
	}
	return out, nil
}

// ledgersOf are the ledgers a generation's preview named, with their
// counts and the batches they had in the range; the generation's own ledger
// alone when no preview was recorded. At most maxWrittenLedgers.
func ledgersOf(gen store.Generation) []LedgerWritten {
	if len(gen.Preview) == 0 {
		return []LedgerWritten{{LedgerID: gen.LedgerID, LedgerName: gen.LedgerName, Previewed: -1}}
	}
	out := make([]LedgerWritten, 0, min(len(gen.Preview), maxWrittenLedgers))
	for _, e := range gen.Preview[:min(len(gen.Preview), maxWrittenLedgers)] {
		lw := LedgerWritten{LedgerID: e.LedgerID, LedgerName: e.LedgerName, Previewed: e.Count}
		if len(e.Existing) > 0 {
			lw.Replaced = make(map[string]store.ExistingBatch, len(e.Existing))
			for _, b := range e.Existing {
				lw.Replaced[b.BatchID] = b
			}
		}
		out = append(out, lw)
	}
	return out
}

// producedBatches lists the batches of one ledger in the run's range that
// were updated between the task's start and its end (both widened by
// clockSkew), newest updated first; truncated when there were more than
// producedMaxPages pages of batches updated since the start.
func (s *Service) producedBatches(ctx context.Context, token, ledgerID string, gen store.Generation, task mangrove.AsyncTask) ([]mangrove.Batch, bool, error) {
	since := gen.CreatedAt
	if task.StartedAt != nil {
		since = *task.StartedAt
	} else if task.CreatedAt != nil {
		since = *task.CreatedAt
	}
	since = since.Add(-clockSkew)
	var until *time.Time
	if task.FinishedAt != nil {
		u := task.FinishedAt.Add(clockSkew)
		until = &u
	}
	var out []mangrove.Batch
	for page, read := 1, 0; ; read++ {
		if read == producedMaxPages {
			return out, true, nil
		}
		list, err := s.api.LedgerBatches(ctx, token, ledgerID, mangrove.ListOptions{
			Page: page, PageSize: producedPageSize, Sort: []string{"-updated_at", "-id"},
		})
		if err != nil {
			return nil, false, err
		}
		for _, b := range list.Data {
			if b.UpdatedAt.Before(since) {
				return out, false, nil
			}
			inRange := !b.StartTime.After(gen.EndTime) && !b.EndTime.Before(gen.StartTime)
			during := func(t time.Time) bool { return !t.Before(since) && (until == nil || !t.After(*until)) }
			// Whether the API rewrites a batch in place or replaces it is not
			// documented: a batch created or updated while the run ran counts.
			if inRange && (during(b.UpdatedAt) || during(b.CreatedAt)) {
				out = append(out, b)
			}
		}
		next, ok := list.NextPageAfter(page)
		if !ok {
			return out, false, nil
		}
		page = next
	}
}

// recordWritten keeps the per-ledger counts of a run's batches in its audit
// row, for the history, when they are complete and differ from what it has.
func (s *Service) recordWritten(ctx context.Context, gen store.Generation, written []LedgerWritten) {
	counts := make([]store.LedgerWritten, len(written))
	for i, w := range written {
		if w.Truncated {
			return
		}
		counts[i] = store.LedgerWritten{LedgerID: w.LedgerID, Count: len(w.Batches)}
	}
	if gen.TaskID == nil || (gen.Run.Written != nil && slices.Equal(gen.Run.Written, counts)) {
		return
	}
	if err := s.store.RecordWritten(context.WithoutCancel(ctx), *gen.TaskID, counts); err != nil {
		s.log.Error("recording a run's batch counts failed", "task_id", *gen.TaskID, "err", err)
	}
}

// Publish implements watcher.Publisher: each change of a generation started
// here adds a step to its run's log, and a terminal state completes its
// audit row.
func (s *Service) Publish(taskID int64, snap watcher.Snapshot) {
	if !snap.Relayed { // the replica that polled it records the step
		s.recordStep(taskID, snap)
	}
	if snap.Terminal() {
		// Every replica that sees the end tries: the one whose write lands
		// records it (a leader killed right after announcing it records
		// nothing).
		s.RecordFinal(context.Background(), snap.Task)
	}
}

// recordFinalTimeout bounds recording a task's end: a database that does
// not answer must not hold up the watcher that publishes it for long.
const recordFinalTimeout = 15 * time.Second

// recordStep adds the task's progress to its run's step log (the store
// skips a repeat of the last step).
func (s *Service) recordStep(taskID int64, snap watcher.Snapshot) {
	ctx, cancel := context.WithTimeout(context.Background(), stepWriteTimeout)
	defer cancel()
	if g, err := s.Origin(ctx, taskID); g == nil || err != nil {
		return // not started here
	}
	step := store.RunStep{At: snap.ObservedAt, Progress: snap.Task.Progress,
		Description: cmp.Or(mangrove.Deref(snap.Task.ProgressDescription), snap.Task.State)}
	if step.At.IsZero() {
		step.At = s.now()
	}
	if err := s.store.AppendRunStep(ctx, taskID, step); err != nil {
		s.log.Warn("recording a task's step failed", "task_id", taskID, "err", err)
	}
}

// Stopped implements watcher.Publisher.
func (s *Service) Stopped(int64) {}

// RecordFinal completes the audit row of a finished task, and counts it in
// the metrics the first time; it is idempotent, and does nothing for a task
// not started here or not yet marked started.
func (s *Service) RecordFinal(ctx context.Context, t mangrove.AsyncTask) {
	if !t.Terminal() {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordFinalTimeout)
	defer cancel()
	finished := s.now()
	if t.FinishedAt != nil {
		finished = *t.FinishedAt
	}
	s.finals.Lock()
	defer s.finals.Unlock()
	gen, err := s.store.GenerationByTask(ctx, t.ID)
	if err != nil || gen.FinishedAt != nil || (gen.State != store.StateStarted && gen.State != store.StateUnknown) {
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Error("reading a finished task's generation failed", "task_id", t.ID, "err", err)
		}
		return
	}
	state, msg := finalState(t)
	recorded, err := s.store.MarkFinished(ctx, t.ID, state, msg, finished)
	if err != nil {
		s.log.Error("recording a finished task failed", "task_id", t.ID, "err", err)
		return
	}
	if !recorded {
		return // another replica sharing the database recorded it first
	}
	s.metrics.GenerationFinished(state)
	s.changed("") // the run wrote batches
	s.countWritten(gen, t)
}

// finalState is how the audit log records a finished task: complete or
// failed as they are; a state the reference does not list is recorded as
// unknown, with Mangrove's state in the message (and its own error, if any).
func finalState(t mangrove.AsyncTask) (state, msg string) {
	switch t.State {
	case mangrove.TaskComplete, mangrove.TaskFailed:
		return t.State, mangrove.Deref(t.ErrorMessage)
	}
	msg = fmt.Sprintf("Mangrove ended the task in the state %q, which its documentation does not list; check the ledger's batches.", t.State)
	if e := mangrove.Deref(t.ErrorMessage); e != "" {
		msg += " Its message: " + e
	}
	return store.StateUnknown, msg
}

// countWritten counts, in the background, the batches a finished run wrote,
// for the history, with the token the generation was confirmed with (its
// row keeps it sealed until now); a task page viewed later counts them too.
func (s *Service) countWritten(gen store.Generation, t mangrove.AsyncTask) {
	if s.sealer == nil || gen.SealedToken == "" || gen.TaskID == nil {
		return
	}
	token, err := s.sealer.Open(gen.SealedToken)
	if err != nil {
		return
	}
	s.background.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), countWrittenTimeout)
		defer cancel()
		if written, err := s.written(ctx, token, gen, t); err == nil {
			s.recordWritten(ctx, gen, written)
		}
	})
}
