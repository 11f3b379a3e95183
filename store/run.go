package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// MaxRunSteps bounds a run's recorded step log. Past it the last step is
// overwritten, so the log keeps how the run began and where it ended.
const MaxRunSteps = 200

// maxStepDescription bounds one step's description (bytes).
const maxStepDescription = 500

// RunRecord is what the dashboard saw of a generation's task: the progress
// steps as they were observed and, once the run ended, how many batches it
// wrote on each ledger. Stored as versioned JSON (RecordVersion) in the
// generations.run column; the zero value means nothing was recorded.
type RunRecord struct {
	Version int       `json:"v"`
	Steps   []RunStep `json:"steps,omitempty"`
	// Written is nil until the batches a finished run wrote were counted.
	Written []LedgerWritten `json:"written"`
}

// RunStep is one observed change of the task's progress description.
type RunStep struct {
	At          time.Time `json:"at"`
	Progress    int       `json:"progress"`
	Description string    `json:"description"`
}

// LedgerWritten is the number of batches a run wrote on one ledger.
type LedgerWritten struct {
	LedgerID string `json:"ledger_id"`
	Count    int    `json:"count"`
}

// WrittenTotal is the number of batches the run wrote across its ledgers;
// ok is false when they were not counted.
func (r RunRecord) WrittenTotal() (total int, ok bool) {
	if r.Written == nil {
		return 0, false
	}
	for _, w := range r.Written {
		total += w.Count
	}
	return total, true
}

func encodeRun(r RunRecord) (string, error) {
	r.Version = RecordVersion
	for i := range r.Steps {
		r.Steps[i].At = r.Steps[i].At.UTC()
	}
	b, err := json.Marshal(r)
	if err != nil {
		return "", fmt.Errorf("store: encode run: %w", err)
	}
	return string(b), nil
}

// decodeRun reads a run column; null is the zero record.
func decodeRun(text string) (RunRecord, error) {
	if isNull(text) {
		return RunRecord{}, nil
	}
	var r RunRecord
	if err := unmarshalOne([]byte(text), &r, false); err != nil {
		return RunRecord{}, fmt.Errorf("store: decode run: %w", err)
	}
	if r.Version != RecordVersion {
		return RunRecord{}, fmt.Errorf("store: decode run: version %d, want %d", r.Version, RecordVersion)
	}
	return r, nil
}

// AppendRunStep records a step of task taskID's generation, unless it
// repeats the last one recorded (same progress and description). A task
// not started here records nothing and is not an error.
func (s *Store) AppendRunStep(ctx context.Context, taskID int64, step RunStep) error {
	step.Description = truncateTo(step.Description, maxStepDescription)
	return s.updateRun(ctx, taskID, func(r *RunRecord) bool {
		if n := len(r.Steps); n > 0 {
			last := r.Steps[n-1]
			if last.Progress == step.Progress && last.Description == step.Description {
				return false
			}
			// Replicas sharing a database each record the steps they
			// publish; one lagging behind must not append a step older
			// than the last one recorded.
			if step.At.Before(last.At) {
				return false
			}
			if n >= MaxRunSteps {
				r.Steps[n-1] = step
				return true
			}
		}
		r.Steps = append(r.Steps, step)
		return true
	})
}

// RecordWritten records how many batches task taskID's run wrote on each
// ledger, replacing an earlier count.
func (s *Store) RecordWritten(ctx context.Context, taskID int64, written []LedgerWritten) error {
	if written == nil {
		written = []LedgerWritten{}
	}
	return s.updateRun(ctx, taskID, func(r *RunRecord) bool {
		r.Written = written
		return true
	})
}

// updateRun rewrites the run record of the latest generation of task
// taskID with change, in one write transaction; change reports whether it
// changed anything.
func (s *Store) updateRun(ctx context.Context, taskID int64, change func(*RunRecord) bool) error {
	return s.withWriteTx(ctx, func(tx conn) error {
		var id int64
		var text string
		err := tx.QueryRowContext(ctx, `SELECT id, run FROM generations WHERE task_id = ? ORDER BY id DESC LIMIT 1`+s.dialect.forUpdate(), taskID).Scan(&id, &text)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("store: read run of task %d: %w", taskID, err)
		}
		r, _ := decodeRun(text) // an unreadable record starts again
		if !change(&r) {
			return nil
		}
		enc, err := encodeRun(r)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE generations SET run = ? WHERE id = ?`, enc, id); err != nil {
			return fmt.Errorf("store: record run of task %d: %w", taskID, err)
		}
		return nil
	})
}
