package generation

import (
	"context"
	"errors"
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
	// run's batches (newest updated first).
	producedPageSize = 100
	producedMaxPages = 10
	// clockSkew allows for the API's clock being behind ours when telling
	// the batches a run wrote by their update time.
	clockSkew = 2 * time.Second
)

// Task is a task as the task page shows it: its latest state and, when it
// was started here, its audit row.
type Task struct {
	Snapshot   watcher.Snapshot
	Generation *store.Generation // nil: not started from this dashboard
	// Batches are the batches a complete run started here wrote;
	// BatchesError says why they could not be listed.
	Batches      []mangrove.Batch
	BatchesError error
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
	if gen != nil && snap.Task.State == mangrove.TaskComplete {
		t.Batches, t.BatchesError = s.producedBatches(ctx, token, *gen, snap.Task)
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

// producedBatches lists the batches a finished run wrote: the ledger's
// batches in the run's range updated since the task started. The API has
// no documented link from a task to its batches, so this works from what
// it does document.
func (s *Service) producedBatches(ctx context.Context, token string, gen store.Generation, task mangrove.AsyncTask) ([]mangrove.Batch, error) {
	since := gen.CreatedAt
	if task.StartedAt != nil {
		since = *task.StartedAt
	} else if task.CreatedAt != nil {
		since = *task.CreatedAt
	}
	since = since.Add(-clockSkew)
	var out []mangrove.Batch
	for page, read := 1, 0; read < producedMaxPages; read++ {
		list, err := s.api.LedgerBatches(ctx, token, gen.LedgerID, mangrove.ListOptions{
			Page: page, PageSize: producedPageSize, Sort: []string{"-updated_at"},
		})
		if err != nil {
			s.log.Warn("listing produced batches failed", "task_id", task.ID, "err", err)
			return nil, err
		}
		older := false
		for _, b := range list.Data {
			if b.UpdatedAt.Before(since) {
				older = true
				break
			}
			if !b.StartTime.After(gen.EndTime) && !b.EndTime.Before(gen.StartTime) {
				out = append(out, b)
			}
		}
		next, ok := list.NextPageAfter(page)
		if older || !ok {
			break
		}
		page = next
	}
	return out, nil
}

// Publish implements watcher.Publisher: a terminal state completes the
// audit row of a generation started here.
func (s *Service) Publish(_ int64, snap watcher.Snapshot) {
	if snap.Terminal() {
		s.RecordFinal(context.Background(), snap.Task)
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
	ctx = context.WithoutCancel(ctx)
	finished := s.now()
	if t.FinishedAt != nil {
		finished = *t.FinishedAt
	}
	s.finals.Lock()
	defer s.finals.Unlock()
	gen, err := s.store.GenerationByTask(ctx, t.ID)
	if err != nil || (gen.State != store.StateStarted && gen.State != store.StateUnknown) {
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Error("reading a finished task's generation failed", "task_id", t.ID, "err", err)
		}
		return
	}
	if err := s.store.MarkFinished(ctx, t.ID, t.State, mangrove.Deref(t.ErrorMessage), finished); err != nil {
		s.log.Error("recording a finished task failed", "task_id", t.ID, "err", err)
		return
	}
	s.metrics.GenerationFinished(t.State)
	s.changed("") // the run wrote batches
}
