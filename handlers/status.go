package handlers

import (
	"bytes"
	"context"
	"log/slog"

	"github.com/carbon-dash/mangrove-dashboard/generation"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/store"
	"github.com/carbon-dash/mangrove-dashboard/taskstream"
	"github.com/carbon-dash/mangrove-dashboard/views"
	"github.com/carbon-dash/mangrove-dashboard/watcher"
)

// statusProps are the live part of a task page for a snapshot; gen is the
// task's audit row, nil when it was not started here.
func statusProps(snap watcher.Snapshot, gen *store.Generation) views.TaskStatusProps {
	t := snap.Task
	s := views.TaskStatusProps{
		TaskID:       t.ID,
		State:        t.State,
		Progress:     t.Progress,
		Description:  mangrove.Deref(t.ProgressDescription),
		StartedAt:    t.StartedAt,
		FinishedAt:   t.FinishedAt,
		ErrorMessage: mangrove.Deref(t.ErrorMessage),
		Retrying:     snap.Retrying,
		Finished:     snap.Terminal(),
		GaveUp:       snap.GaveUp,
	}
	if t.StartedAt != nil {
		end := snap.ObservedAt
		if t.FinishedAt != nil {
			end = *t.FinishedAt
		}
		s.Elapsed = views.HumanDuration(end.Sub(*t.StartedAt))
	}
	if snap.Remaining > 0 {
		s.Remaining = "about " + views.HumanDuration(snap.Remaining)
	}
	switch {
	case gen != nil:
		s.LedgerID, s.LedgerName = gen.LedgerID, gen.LedgerName
		if t.Terminal() {
			s.OutcomeURL = views.TaskBatchesPath(t.ID)
		}
	case t.Terminal():
		s.NotOurs = true
	}
	return s
}

// StatusRenderer renders the status fragment of a task for the event
// streams: the same for every viewer, so it carries no per-user data.
func StatusRenderer(gen *generation.Service, log *slog.Logger) taskstream.Renderer {
	return func(ctx context.Context, taskID int64, snap watcher.Snapshot) ([]byte, error) {
		g, err := gen.Origin(ctx, taskID)
		if err != nil {
			log.Error("reading a task's generation failed", "task_id", taskID, "err", err)
		}
		var buf bytes.Buffer
		if err := views.TaskStatus(statusProps(snap, g)).Render(ctx, &buf); err != nil {
			return nil, err
		}
		return bytes.TrimSpace(buf.Bytes()), nil
	}
}
