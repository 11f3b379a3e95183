package generation

import (
	"context"
	"errors"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/metrics"
	"github.com/carbon-dash/mangrove-dashboard/store"
)

// interruptedStart is the audit reason of a row a stopped dashboard left
// submitting: its POST may or may not have reached Mangrove.
const interruptedStart = "the dashboard stopped (a crash or restart) while it waited for Mangrove's answer: " +
	"the generation may have started; check the ledger's batches before generating again"

// recoverEvery is how often Recover runs while the dashboard serves: a row
// left submitting at start-up is settled once older than the POST timeout,
// and a task that could not be watched (the API was down) is tried again.
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

// Recover settles what a stopped process left in the audit log:
//   - a row still submitting that no Confirm waits for any more (see
//     settleInterrupted) can get no answer: its outcome becomes unknown,
//     with the reason;
//   - a started row whose task nobody watches is watched again to its end
//     (pinned) with the token it was confirmed with, so its final state and
//     metrics are recorded without anyone viewing it.
//
// It is safe to run at any time; RecoverUntil runs it periodically.
func (s *Service) Recover(ctx context.Context) error {
	rows, err := s.store.UnsettledGenerations(ctx)
	if err != nil {
		return err
	}
	for _, g := range rows {
		switch {
		case g.State == store.StateSubmitting:
			s.settleInterrupted(ctx, g)
		case g.State == store.StateStarted && g.TaskID != nil:
			s.watchAgain(ctx, g)
		}
	}
	return nil
}

// settleInterrupted gives a row left submitting an unknown outcome with the
// reason, once no Confirm can still be waiting for its answer: any row once
// older than the POST timeout and the time to record its outcome, after
// which its own Confirm (this process's, or a replica's sharing the
// database) would have recorded it; with one replica, a row an earlier
// process began as soon as it is older than the POST timeout. Of replicas
// settling one row at once, the one whose write moved it counts it.
func (s *Service) settleInterrupted(ctx context.Context, g store.Generation) {
	age := s.now().Sub(g.CreatedAt)
	earlierProcess := !s.sharedStore && g.CreatedAt.Before(s.startedAt) && age >= s.startTimeout
	if !earlierProcess && age < s.startTimeout+recordTimeout {
		return
	}
	recorded, err := s.store.MarkUnknown(ctx, g.ID, interruptedStart)
	if err != nil {
		s.log.Error("settling an interrupted generation failed", "generation_id", g.ID, "err", err)
		return
	}
	if !recorded {
		return
	}
	s.metrics.GenerationStarted(metrics.OutcomeUnknown)
	s.log.Warn("a generation interrupted before Mangrove answered is now unknown", "generation_id", g.ID, "ledger_id", g.LedgerID)
}

// watchAgain pins a watcher on a started row's task with the token it was
// confirmed with; a task found finished is recorded at once (the pool
// publishes it to RecordFinal). A token that cannot serve (it does not
// open, the task is gone, the token is refused) is forgotten, so the row is
// not tried again; other failures are tried at the next pass.
func (s *Service) watchAgain(ctx context.Context, g store.Generation) {
	if _, watched := s.watchers.Latest(*g.TaskID); watched || s.sealer == nil {
		return
	}
	token, err := s.sealer.Open(g.SealedToken)
	if err == nil {
		if err = s.watchers.Track(ctx, *g.TaskID, token); err == nil {
			return
		}
		if !refusedForTask(err) {
			s.log.Warn("watching a running generation again failed; the next pass retries", "task_id", *g.TaskID, "err", err)
			return
		}
	}
	s.log.Warn("a running generation cannot be watched with its token; it is watched again when someone views it", "task_id", *g.TaskID, "err", err)
	if err := s.store.ForgetSealedToken(ctx, g.ID); err != nil {
		s.log.Error("forgetting a sealed token failed", "generation_id", g.ID, "err", err)
	}
}

// refusedForTask reports an answer that will not change on asking again:
// the task is gone, or the token is revoked or may not see it.
func refusedForTask(err error) bool {
	return errors.Is(err, mangrove.ErrNotFound) || errors.Is(err, mangrove.ErrUnauthorized) || errors.Is(err, mangrove.ErrForbidden)
}

// RecoverUntil runs Recover now and every recoverEvery until ctx ends.
func (s *Service) RecoverUntil(ctx context.Context) {
	t := time.NewTicker(recoverEvery)
	defer t.Stop()
	for {
		if err := s.Recover(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("recovering unsettled generations failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
