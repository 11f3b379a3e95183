package handlers

import (
	"cmp"
	"strconv"
	"strings"

	"github.com/carbon-dash/mangrove-dashboard/forms"
	"github.com/carbon-dash/mangrove-dashboard/generation"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/store"
	"github.com/carbon-dash/mangrove-dashboard/views"
)

// writtenUnreadable says why a finished run's batches are not listed.
const writtenUnreadable = "The batches this run wrote could not be listed right now: Mangrove did not answer. Reload the page in a moment, or open the ledgers to see them."

// taskOutcome is what a finished run started here wrote, per ledger, with
// old → new for the batches it replaced, its step log and, when it failed,
// the preview to retry from.
func taskOutcome(t *generation.Task) views.TaskOutcome {
	g := t.Generation
	o := views.TaskOutcome{TaskID: t.Snapshot.Task.ID, State: t.Snapshot.Task.State, Steps: taskSteps(g.Run.Steps)}
	if t.Snapshot.Task.State == mangrove.TaskFailed {
		o.RetryURL = retryURL(*g)
	}
	if t.WrittenError != nil {
		o.Message = writtenUnreadable
		return o
	}
	for _, w := range t.Written {
		o.Ledgers = append(o.Ledgers, writtenLedger(w))
	}
	return o
}

func writtenLedger(w generation.LedgerWritten) views.WrittenLedger {
	l := views.WrittenLedger{LedgerID: w.LedgerID, LedgerName: w.LedgerName, Previewed: w.Previewed, Truncated: w.Truncated}
	seen := map[string]bool{}
	for _, b := range w.Batches {
		r := views.WrittenRow{BatchRow: batchRow(b)}
		r.LedgerID = w.LedgerID
		l.Unit = cmp.Or(l.Unit, r.OutputUnit)
		if old, ok := w.Replaced[b.ID]; ok {
			seen[b.ID] = true
			r.Replaced, r.Old = true, old.Output
			if d := r.Diff(); d != nil {
				l.Change = addTo(l.Change, *d)
			}
		}
		l.Rows = append(l.Rows, r)
	}
	for id := range w.Replaced {
		if !seen[id] {
			l.Untouched++
		}
	}
	return l
}

func addTo(sum *float64, v float64) *float64 {
	if sum == nil {
		return &v
	}
	total := *sum + v
	return &total
}

func taskSteps(steps []store.RunStep) []views.TaskStep {
	out := make([]views.TaskStep, len(steps))
	for i, s := range steps {
		out[i] = views.TaskStep{At: s.At, Progress: s.Progress, Description: s.Description}
	}
	return out
}

// retryURL is the preview of a generation's parameters as recorded; the
// ledger's form when they were not (the user fills it in again).
func retryURL(g store.Generation) string {
	p := g.Params
	if p.Version == 0 {
		return views.GeneratePath(g.LedgerID)
	}
	f := forms.GenerationForm{
		StartTime: forms.StartValue(p.StartTime), EndTime: forms.EndValue(p.EndTime),
		DataPointIDs: strings.Join(p.DataPointIDs, "\n"),
	}
	for _, id := range p.SkippedDataPointTypeIDs {
		f.SkippedTypeIDs = append(f.SkippedTypeIDs, strconv.FormatInt(id, 10))
	}
	for _, a := range p.BatchAmounts {
		f.BatchAmounts = append(f.BatchAmounts, forms.BatchAmountRow{BatchID: a.BatchID,
			Amount: strconv.FormatFloat(a.PrimaryOutputAmount, 'f', -1, 64), AllocationGroup: a.AllocationGroup})
	}
	return views.PreviewPath(g.LedgerID) + "?" + f.Values().Encode()
}
