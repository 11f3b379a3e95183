package generation

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/forms"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/metrics"
	"github.com/carbon-dash/mangrove-dashboard/store"
)

// Limits of a confirmation.
const (
	// DefaultStartTimeout bounds the POST that starts a generation; it runs
	// to the end even when the browser goes away, and is never retried.
	DefaultStartTimeout = 60 * time.Second
	// recordTimeout bounds recording a confirmation's outcome (and the
	// first look at its task) after the POST.
	recordTimeout = 15 * time.Second
	// settleWait is how long a repeated confirmation waits for the first one
	// to get Mangrove's answer.
	settleWait = 20 * time.Second
)

// Outcome kinds of a confirmation.
type OutcomeKind int

const (
	// Started: this confirmation started the generation (TaskID).
	Started OutcomeKind = iota + 1
	// AlreadyStarted: the key was used before and its generation runs as TaskID.
	AlreadyStarted
	// Expired: the key is unknown, expired, used by another user or for other
	// parameters. Nothing was started.
	Expired
	// Rejected: Mangrove refused the generation (Message); nothing started.
	// With FormError set the refusal belongs beside the form (Ledger is set).
	Rejected
	// Unknown: no answer from Mangrove; the generation may have started. It
	// is not retried.
	Unknown
	// Submitting: the key's first use is still waiting for Mangrove.
	Submitting
	// NothingToGenerate: the preview the key was issued for counted no
	// batches; the generation is refused without asking Mangrove.
	NothingToGenerate
)

// ErrReadOnly refuses a confirmation on a dashboard configured read-only;
// nothing is recorded or sent.
var ErrReadOnly = errors.New("generation: the dashboard is read-only")

// nothingToGenerate is the audit reason of a refused empty generation.
const nothingToGenerate = "nothing to generate: the preview counted no batches"

// Outcome is what a confirmation did.
type Outcome struct {
	Kind       OutcomeKind
	TaskID     int64
	LedgerID   string
	LedgerName string
	// Message is Mangrove's reason for a rejection.
	Message string
	// FormError and Ledger are set when a rejection is a validation error of
	// the parameters (or names an unknown upstream batch): the form is shown
	// again with it, and Feeds with its allocation choices.
	FormError string
	Ledger    *Ledger
	Feeds     []Feed
	// Busy is set when Mangrove answered 409: a generation already runs on
	// the ledger, so nothing started. Message is Mangrove's; Preview, when
	// set, is a fresh preview of the same parameters (with a new key) to
	// show it beside, so Confirm can be pressed again once the run is done.
	Busy    bool
	Preview *Preview
}

// Confirmation is a user's confirmation of a previewed generation.
type Confirmation struct {
	Token     string
	UserLabel string
	LedgerID  string
	Key       string
	Form      forms.GenerationForm
}

// Confirm starts the previewed generation once per confirmation key: a
// repeated key (double click, reload, second tab) starts nothing and leads
// to the same task. The audit row is written before the API call, and the
// call is never retried: a retry could generate twice.
func (s *Service) Confirm(ctx context.Context, c Confirmation) (Outcome, error) {
	if s.allReadOnly {
		return Outcome{}, ErrReadOnly
	}
	params, errs := c.Form.Validate(nil)
	if !store.ValidConfirmKeyFormat(c.Key) || errs.Any() {
		return Outcome{Kind: Expired, LedgerID: c.LedgerID}, nil
	}
	ledger, err := s.api.Ledger(ctx, c.Token, c.LedgerID)
	if err != nil {
		return Outcome{}, err
	}
	gen, created, err := s.store.BeginGeneration(ctx, c.Key, forms.BindingHash(c.LedgerID, params), store.Generation{
		UserLabel:   c.UserLabel,
		TokenHash:   mangrove.TokenHash(c.Token),
		LedgerID:    c.LedgerID,
		LedgerName:  ledger.Name,
		StartTime:   params.Start,
		EndTime:     params.End,
		Params:      storedParams(params), // the preview the key was issued for is recorded by the store
		SealedToken: s.seal(c.Token),
	})
	if errors.Is(err, store.ErrKeyInvalid) {
		return Outcome{Kind: Expired, LedgerID: c.LedgerID}, nil
	}
	if err != nil {
		return Outcome{}, err
	}
	if !created {
		return s.existing(ctx, gen)
	}
	if n, _ := gen.PreviewedTotal(); n == 0 {
		if err := s.store.MarkRejected(ctx, gen.ID, nothingToGenerate); err != nil {
			s.log.Error("recording a refused empty generation failed", "generation_id", gen.ID, "err", err)
		}
		return Outcome{Kind: NothingToGenerate, LedgerID: c.LedgerID, LedgerName: ledger.Name}, nil
	}

	postCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.startTimeout)
	defer cancel()
	task, err := s.api.StartGeneration(postCtx, c.Token, c.LedgerID, Request(params))
	// The outcome is recorded whatever became of the POST's own deadline or
	// the browser: a row left submitting would say nothing true.
	recordCtx, cancelRecord := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancelRecord()
	if err != nil {
		return s.failedStart(recordCtx, c, gen, err)
	}
	s.metrics.GenerationStarted(metrics.OutcomeStarted)
	s.changed(c.Token)
	if err := s.store.MarkStarted(recordCtx, gen.ID, task.ID); err != nil {
		s.log.Error("recording a started generation failed", "generation_id", gen.ID, "task_id", task.ID, "err", err)
	}
	if err := s.watchers.Track(recordCtx, task.ID, c.Token); err != nil {
		s.log.Warn("watching a new task failed; it is watched again when viewed", "task_id", task.ID, "err", err)
	}
	return Outcome{Kind: Started, TaskID: task.ID, LedgerID: c.LedgerID, LedgerName: ledger.Name}, nil
}

// existing answers a repeated confirmation with what the first one did,
// waiting a while for it when it is still being submitted.
func (s *Service) existing(ctx context.Context, gen store.Generation) (Outcome, error) {
	wctx, cancel := context.WithTimeout(ctx, settleWait)
	defer cancel()
	settled, err := s.store.WaitSettled(wctx, gen.ID)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return Outcome{}, err
	}
	if err == nil {
		gen = settled
	}
	o := Outcome{LedgerID: gen.LedgerID, LedgerName: gen.LedgerName}
	switch {
	case gen.TaskID != nil:
		o.Kind, o.TaskID = AlreadyStarted, *gen.TaskID
	case gen.State == store.StateRejected && gen.Error == nothingToGenerate:
		o.Kind = NothingToGenerate
	case gen.State == store.StateRejected:
		o.Kind, o.Message = Rejected, cmp.Or(gen.Error, "no reason given")
	case gen.State == store.StateUnknown:
		o.Kind = Unknown
	default:
		o.Kind = Submitting
	}
	return o, nil
}

// failedStart records a POST that returned no task and says what it means:
// a refusal (nothing started) or no answer (it may have started).
func (s *Service) failedStart(ctx context.Context, c Confirmation, gen store.Generation, err error) (Outcome, error) {
	o := Outcome{LedgerID: gen.LedgerID, LedgerName: gen.LedgerName}
	var apiErr *mangrove.APIError
	isAPI := errors.As(err, &apiErr)
	if mangrove.IsUnknownOutcome(err) || !isAPI || apiErr.Status >= http.StatusInternalServerError {
		recorded, merr := s.store.MarkUnknown(ctx, gen.ID, "no answer from Mangrove: "+mangrove.Describe(err))
		if merr != nil {
			s.log.Error("recording an unknown outcome failed", "generation_id", gen.ID, "err", merr)
		}
		if recorded || merr != nil { // not when recovery (another replica's) settled it first and counted it
			s.metrics.GenerationStarted(metrics.OutcomeUnknown)
		}
		s.log.Warn("batch generation outcome unknown", "generation_id", gen.ID, "ledger_id", gen.LedgerID, "err", err)
		o.Kind = Unknown
		return o, nil
	}
	s.metrics.GenerationStarted(metrics.OutcomeRejected)
	if errors.Is(err, mangrove.ErrForbidden) {
		s.readOnly.Put(mangrove.TokenHash(c.Token), true)
	}
	o.Kind, o.Message = Rejected, cmp.Or(apiErr.Message, http.StatusText(apiErr.Status))
	if merr := s.store.MarkRejected(ctx, gen.ID, o.Message); merr != nil {
		s.log.Error("recording a refused generation failed", "generation_id", gen.ID, "err", merr)
	}
	if apiErr.Status == http.StatusConflict {
		return s.busy(ctx, c, o)
	}
	msg, ok := ValidationMessage(err)
	if !ok && apiErr.Status == http.StatusNotFound && len(c.Form.BatchAmounts) > 0 {
		// An unknown batch_amounts batch_id is a 404 (the reference's
		// update_inputs; the ledger itself was just read): beside the form.
		msg, ok = cmp.Or(apiErr.Message, "An upstream batch was not found."), true
	}
	if !ok {
		return o, err
	}
	ledger, lerr := s.LoadLedger(ctx, c.Token, c.LedgerID)
	if lerr != nil {
		return o, err
	}
	o.FormError, o.Ledger = msg, ledger
	o.Feeds = s.LoadFeeds(ctx, c.Token, ledger)
	return o, nil
}

// busy answers a 409 (a generation already running on the ledger): nothing
// started. The same parameters are previewed again, so the page can show
// Mangrove's message beside a fresh Confirm; when that preview cannot be
// made, the form is shown with the message instead.
func (s *Service) busy(ctx context.Context, c Confirmation, o Outcome) (Outcome, error) {
	o.Busy, o.FormError = true, o.Message
	p, err := s.Preview(ctx, c.Token, c.LedgerID, c.Form)
	switch {
	case err == nil && !p.Refused():
		o.Preview, o.Ledger = p, p.Ledger
	case err == nil:
		o.Ledger, o.Feeds = p.Ledger, p.Feeds
	default:
		s.log.Warn("previewing again after a 409 failed", "ledger_id", c.LedgerID, "err", err)
		if ledger, lerr := s.LoadLedger(ctx, c.Token, c.LedgerID); lerr == nil {
			o.Ledger, o.Feeds = ledger, s.LoadFeeds(ctx, c.Token, ledger)
		} // else the handler shows the refusal alone
	}
	return o, nil
}

// Request is the API request for validated parameters.
func Request(p forms.GenerationParams) mangrove.GenerationRequest {
	r := mangrove.GenerationRequest{
		StartTime: p.Start, EndTime: p.End,
		DataPointIDs: p.DataPointIDs, SkippedDataPointTypeIDs: p.SkippedTypeIDs,
	}
	for _, a := range p.BatchAmounts {
		ba := mangrove.BatchAmount{BatchID: a.BatchID, PrimaryOutputAmount: a.Amount}
		if a.AllocationGroup != "" {
			g := a.AllocationGroup
			ba.AllocationGroup = &g
		}
		r.BatchAmounts = append(r.BatchAmounts, ba)
	}
	return r
}

// storedParams are the parameters as the audit log keeps them.
func storedParams(p forms.GenerationParams) store.GenerationParams {
	sp := store.GenerationParams{
		StartTime: p.Start, EndTime: p.End,
		DataPointIDs: p.DataPointIDs, SkippedDataPointTypeIDs: p.SkippedTypeIDs,
	}
	for _, a := range p.BatchAmounts {
		sp.BatchAmounts = append(sp.BatchAmounts, store.BatchAmount{BatchID: a.BatchID, PrimaryOutputAmount: a.Amount, AllocationGroup: a.AllocationGroup})
	}
	return sp
}
