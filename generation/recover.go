package generation

import (
	"context"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/metrics"
	"github.com/carbon-dash/mangrove-dashboard/store"
)

// interruptedStart is the audit reason of a row a stopped dashboard left
// submitting: its POST may or may not have reached Mangrove.
const interruptedStart = "the dashboard stopped (a crash or restart) while it waited for Mangrove's answer: " +
	"the generation may have started; check the ledger's batches before generating again"

// recoverEvery is how often interrupted rows are looked for while the
// dashboard serves: a row submitting at start-up is settled once it is
// older than the POST timeout.
const recoverEvery = 30 * time.Second

// seal is the token sealed for the audit row, or "" without a Sealer (or
// when sealing fails: the generation goes ahead, only its recovery is lost).
func (s *Service) seal(token string) string {
	if s.sealer == nil {
		return ""
	}
	sealed, err := s.sealer.Seal(token)
	if err != nil {
		s.log.Error("sealing a generation's token failed; its task is watched after a restart only when viewed", "err", err)
		return ""
	}
	return sealed
}

// Recover settles what a stopped process left in the audit log, at
// start-up: rows still submitting after the POST timeout (see
// settleInterrupted), and started rows whose task nobody watches: each is
// watched again to its end (pinned), with the token it was confirmed with,
// so its final state and metrics are recorded without anyone viewing it.
func (s *Service) Recover(ctx context.Context) error {
	rows, err := s.settleInterrupted(ctx)
	if err != nil {
		return err
	}
	for _, g := range rows {
		if g.State == store.StateStarted && g.TaskID != nil {
			s.watchAgain(ctx, g)
		}
	}
	return nil
}

// settleInterrupted gives the rows submitting for longer than the POST
// timeout an unknown outcome, with the reason: no answer can come for them
// any more. It returns the unsettled rows it read.
func (s *Service) settleInterrupted(ctx context.Context) ([]store.Generation, error) {
	rows, err := s.store.UnsettledGenerations(ctx)
	if err != nil {
		return nil, err
	}
	for _, g := range rows {
		if g.State != store.StateSubmitting || s.now().Sub(g.CreatedAt) < s.startTimeout {
			continue
		}
		if err := s.store.MarkUnknown(ctx, g.ID, interruptedStart); err != nil {
			s.log.Error("settling an interrupted generation failed", "generation_id", g.ID, "err", err)
			continue
		}
		s.metrics.GenerationStarted(metrics.OutcomeUnknown)
		s.log.Warn("a generation interrupted before Mangrove answered is now unknown", "generation_id", g.ID, "ledger_id", g.LedgerID)
	}
	return rows, nil
}

// watchAgain pins a watcher on a started row's task with the token it was
// confirmed with; a task found finished is recorded at once (the pool
// publishes it to RecordFinal).
func (s *Service) watchAgain(ctx context.Context, g store.Generation) {
	if _, watched := s.watchers.Latest(*g.TaskID); watched {
		return
	}
	if s.sealer == nil || g.SealedToken == "" {
		s.log.Warn("a running generation cannot be watched without its token; it is watched again when viewed", "task_id", *g.TaskID)
		return
	}
	token, err := s.sealer.Open(g.SealedToken)
	if err != nil {
		s.log.Warn("a running generation's sealed token does not open (SESSION_SECRET changed?); it is watched again when viewed", "task_id", *g.TaskID, "err", err)
		return
	}
	if err := s.watchers.Track(ctx, *g.TaskID, token); err != nil {
		s.log.Warn("watching a running generation again failed; the next pass retries", "task_id", *g.TaskID, "err", err)
	}
}

// RecoverUntil runs Recover now, then settles interrupted rows every
// recoverEvery until ctx ends (a row submitting at start-up may be younger
// than the POST timeout). Started rows are watched at start-up only: one
// that could not be watched then is watched when someone views it.
func (s *Service) RecoverUntil(ctx context.Context) {
	if err := s.Recover(ctx); err != nil && ctx.Err() == nil {
		s.log.Error("recovering unsettled generations failed", "err", err)
	}
	t := time.NewTicker(recoverEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := s.settleInterrupted(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("settling interrupted generations failed", "err", err)
		}
	}
}
