package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/store"
	"github.com/carbon-dash/mangrove-dashboard/views"
	"github.com/carbon-dash/mangrove-dashboard/watcher"
)

const notOurTask = "This task was not started from this dashboard, so which batches it wrote is not recorded here; open its ledger to see them."

func taskIDParam(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, notFound("There is no task with that id.")
	}
	return id, nil
}

// showTask renders the task with its current state; while it runs the page
// subscribes to the task's event stream.
func (h *Handlers) showTask(c echo.Context) error {
	id, err := taskIDParam(c)
	if err != nil {
		return err
	}
	ctx, token := c.Request().Context(), h.currentToken(c)
	snap, err := h.watchers.Current(ctx, id, token, time.Second)
	if err != nil {
		return err
	}
	gen, err := h.store.GenerationByTask(ctx, id)
	hasGen := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if hasGen && snap.Terminal() {
		h.recordFinal(ctx, snap.Task)
	}
	status := h.statusProps(snap, gen, hasGen)
	if snap.Task.State == mangrove.TaskComplete && hasGen {
		status.Batches, status.BatchesError = h.producedBatches(ctx, token, gen, snap.Task)
	}
	p := views.TaskPageProps{
		Layout: h.layout(c, fmt.Sprintf("Task %d", id), "tasks"),
		Status: status,
	}
	if !snap.Terminal() {
		p.EventsURL = views.TaskEventsPath(id)
		p.Layout.RefreshSeconds = 5
		p.Layout.Scripts = append(p.Layout.Scripts, "js/task.js")
	}
	if hasGen {
		p.StartedBy = gen.UserLabel
		created := gen.CreatedAt
		p.Confirmed = &created
		p.Params = paramList(gen)
	}
	return render(c, http.StatusOK, views.TaskPage(p))
}

// showTaskBatches is the fragment the page loads when a task completes
// while it is open.
func (h *Handlers) showTaskBatches(c echo.Context) error {
	id, err := taskIDParam(c)
	if err != nil {
		return err
	}
	ctx, token := c.Request().Context(), h.currentToken(c)
	snap, err := h.watchers.Authorize(ctx, id, token)
	if err != nil {
		return err
	}
	gen, err := h.store.GenerationByTask(ctx, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return render(c, http.StatusOK, views.TaskBatches(nil, notOurTask))
		}
		return err
	}
	rows, msg := h.producedBatches(ctx, token, gen, snap.Task)
	return render(c, http.StatusOK, views.TaskBatches(rows, msg))
}

// producedBatches lists the batches a finished run wrote: the ledger's
// batches in the run's range updated since the task started. The API has
// no documented link from a task to its batches, so this works from what
// it does document.
func (h *Handlers) producedBatches(ctx context.Context, token string, gen store.Generation, task mangrove.AsyncTask) ([]views.BatchRow, string) {
	since := gen.CreatedAt
	if task.StartedAt != nil {
		since = *task.StartedAt
	} else if task.CreatedAt != nil {
		since = *task.CreatedAt
	}
	since = since.Add(-2 * time.Second) // clock skew between the API and us
	var rows []views.BatchRow
	for page := 1; page <= 10; page++ {
		list, err := h.client.LedgerBatches(ctx, token, gen.LedgerID, mangrove.ListOptions{
			Page: page, PageSize: 100, Sort: []string{"-updated_at"},
		})
		if err != nil {
			h.log.Warn("listing produced batches failed", "task_id", task.ID, "err", err)
			return nil, "The batches could not be loaded right now; open the ledger to see them."
		}
		older := false
		for _, b := range list.Data {
			if b.UpdatedAt.Before(since) {
				older = true
				break
			}
			if !b.StartTime.After(gen.EndTime) && !b.EndTime.Before(gen.StartTime) {
				rows = append(rows, batchRow(b))
			}
		}
		if older || list.Info == nil || list.Info.NextPage == nil {
			break
		}
	}
	return rows, ""
}

// recordFinal completes the audit row of a finished task, and counts it in
// the metrics the first time; it is idempotent.
func (h *Handlers) recordFinal(ctx context.Context, t mangrove.AsyncTask) {
	ctx = context.WithoutCancel(ctx)
	finished := time.Now()
	if t.FinishedAt != nil {
		finished = *t.FinishedAt
	}
	h.finalMu.Lock()
	defer h.finalMu.Unlock()
	gen, err := h.store.GenerationByTask(ctx, t.ID)
	if err != nil || (gen.State != store.StateStarted && gen.State != store.StateUnknown) {
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			h.log.Error("reading a finished task's generation failed", "task_id", t.ID, "err", err)
		}
		return // not started here, already recorded, or not yet marked started
	}
	if err := h.store.MarkFinished(ctx, t.ID, t.State, deref(t.ErrorMessage), finished); err != nil {
		h.log.Error("recording a finished task failed", "task_id", t.ID, "err", err)
		return
	}
	h.metrics.GenerationFinished(t.State)
	h.charts.clear() // the run wrote batches
}

func (h *Handlers) statusProps(snap watcher.Snapshot, gen store.Generation, hasGen bool) views.TaskStatusProps {
	t := snap.Task
	s := views.TaskStatusProps{
		TaskID:       t.ID,
		State:        t.State,
		Progress:     t.Progress,
		Description:  deref(t.ProgressDescription),
		StartedAt:    t.StartedAt,
		FinishedAt:   t.FinishedAt,
		ErrorMessage: deref(t.ErrorMessage),
		Retrying:     snap.Retrying,
	}
	if s.Description == "" {
		s.Description = defaultDescription(t.State)
	}
	if t.StartedAt != nil {
		end := snap.ObservedAt
		if t.FinishedAt != nil {
			end = *t.FinishedAt
		}
		s.Elapsed = humanDuration(end.Sub(*t.StartedAt))
	}
	if snap.Remaining > 0 {
		s.Remaining = "about " + humanDuration(snap.Remaining)
	}
	switch {
	case hasGen:
		s.LedgerID, s.LedgerName = gen.LedgerID, gen.LedgerName
		if t.State == mangrove.TaskComplete {
			s.BatchesURL = views.TaskPath(t.ID) + "/batches"
		}
	case t.State == mangrove.TaskComplete:
		s.BatchesError = notOurTask
	}
	return s
}

func defaultDescription(state string) string {
	switch state {
	case mangrove.TaskPending:
		return "Waiting to start"
	case mangrove.TaskComplete:
		return "Done"
	case mangrove.TaskFailed:
		return "Failed"
	}
	return ""
}

func humanDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min %02d s", int(d.Minutes()), int(d.Seconds())%60)
	default:
		return fmt.Sprintf("%d h %02d min", int(d.Hours()), int(d.Minutes())%60)
	}
}

// paramList shows the recorded parameters in words.
func paramList(g store.Generation) []views.KeyValue {
	kv := []views.KeyValue{
		{Key: "Ledger", Value: g.LedgerName + " (" + g.LedgerID + ")"},
		{Key: "Range", Value: g.StartTime.UTC().Format("2006-01-02 15:04:05") + " to " + g.EndTime.UTC().Format("2006-01-02 15:04:05") + " UTC"},
	}
	var req mangrove.GenerationRequest
	if json.Unmarshal(g.Params, &req) == nil {
		if len(req.DataPointIDs) > 0 {
			kv = append(kv, views.KeyValue{Key: "Data point ids", Value: strings.Join(req.DataPointIDs, ", ")})
		}
		if len(req.SkippedDataPointTypeIDs) > 0 {
			ids := make([]string, len(req.SkippedDataPointTypeIDs))
			for i, id := range req.SkippedDataPointTypeIDs {
				ids[i] = strconv.FormatInt(id, 10)
			}
			kv = append(kv, views.KeyValue{Key: "Skipped input type ids", Value: strings.Join(ids, ", ")})
		}
		for _, a := range req.BatchAmounts {
			kv = append(kv, views.KeyValue{Key: "Custom amount", Value: a.BatchID + ": " + strconv.FormatFloat(a.PrimaryOutputAmount, 'f', -1, 64)})
		}
	}
	if seen := previewSummary(g.Preview); seen != "" {
		kv = append(kv, views.KeyValue{Key: "Preview at confirmation", Value: seen})
	}
	return kv
}

func previewSummary(raw json.RawMessage) string {
	var entries []views.PreviewEntry
	if json.Unmarshal(raw, &entries) != nil || len(entries) == 0 {
		return ""
	}
	parts := make([]string, len(entries))
	for i, e := range entries {
		parts[i] = fmt.Sprintf("%s: %d", e.Name, e.Count)
	}
	return strings.Join(parts, "; ")
}

// showHistory lists the generations confirmed with the user's token.
func (h *Handlers) showHistory(c echo.Context) error {
	page, _ := strconv.Atoi(c.QueryParam("page"))
	if page < 1 || page > 10000 {
		page = 1
	}
	const pageSize = 50
	ctx := c.Request().Context()
	gens, total, err := h.store.Generations(ctx, tokenHash(h.currentToken(c)), pageSize, (page-1)*pageSize)
	if err != nil {
		return err
	}
	rows := make([]views.HistoryRow, len(gens))
	for i, g := range gens {
		rows[i] = views.HistoryRow{
			ID: g.ID, CreatedAt: g.CreatedAt, UserLabel: g.UserLabel,
			LedgerID: g.LedgerID, LedgerName: g.LedgerName, Start: g.StartTime, End: g.EndTime,
			Params: paramSummary(g.Params), PreviewSeen: previewSummary(g.Preview),
			TaskID: g.TaskID, State: g.State, Error: g.Error,
		}
		if g.TaskID != nil {
			if snap, ok := h.watchers.Latest(*g.TaskID); ok {
				rows[i].LiveState, rows[i].LiveProgress = snap.Task.State, snap.Task.Progress
			}
		}
	}
	return render(c, http.StatusOK, views.TasksPage(views.TasksPageProps{
		Layout:    h.layout(c, "Generation history", "tasks"),
		Rows:      rows,
		ExportURL: views.TasksCSVPath(),
		Pager: views.Pager{Page: page, TotalItems: total, TotalPages: max(1, (total+pageSize-1)/pageSize),
			PageURL: func(p int) string { return views.TasksPath() + "?page=" + strconv.Itoa(p) }},
	}))
}

func paramSummary(raw json.RawMessage) string {
	var req mangrove.GenerationRequest
	if json.Unmarshal(raw, &req) != nil {
		return ""
	}
	var parts []string
	if n := len(req.DataPointIDs); n > 0 {
		parts = append(parts, fmt.Sprintf("%d data point ids", n))
	}
	if n := len(req.SkippedDataPointTypeIDs); n > 0 {
		parts = append(parts, fmt.Sprintf("%d skipped inputs", n))
	}
	if n := len(req.BatchAmounts); n > 0 {
		parts = append(parts, fmt.Sprintf("%d custom amounts", n))
	}
	if len(parts) == 0 {
		return "defaults"
	}
	return strings.Join(parts, ", ")
}
