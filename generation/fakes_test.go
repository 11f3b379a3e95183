package generation

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/metrics"
	"github.com/carbon-dash/mangrove-dashboard/store"
	"github.com/carbon-dash/mangrove-dashboard/watcher"
)

// fakeAPI answers as a ledger with a model and two required inputs; start
// decides what POST batch_generations does.
type fakeAPI struct {
	mu      sync.Mutex
	starts  int
	start   func() (*mangrove.AsyncTask, error)
	preview func() ([]mangrove.PreviewEntry, error)
	batches []mangrove.Batch
	// batchesOf, when set, are each ledger's batches instead of batches.
	batchesOf map[string][]mangrove.Batch
}

func (f *fakeAPI) Ledger(_ context.Context, _, id string) (*mangrove.Ledger, error) {
	return &mangrove.Ledger{ID: id, Name: "Net Carbon Removal", LatestModel: &mangrove.ModelRef{ID: "mdl_1", Name: "Biochar"}}, nil
}

func (f *fakeAPI) RequiredInputs(context.Context, string, string) ([]mangrove.RequiredInput, error) {
	return []mangrove.RequiredInput{{ID: 11, Name: "Feedstock mass", Slug: "feedstock-mass"}, {ID: 12, Name: "Biochar mass", Slug: "biochar-mass", IsManualSelect: true}}, nil
}

func (f *fakeAPI) PreviewGeneration(context.Context, string, string, mangrove.PreviewRequest) ([]mangrove.PreviewEntry, error) {
	if f.preview != nil {
		return f.preview()
	}
	return []mangrove.PreviewEntry{{ID: "lgr_ncr", Name: "Net Carbon Removal", Count: 6}, {ID: "lgr_bp", Name: "Biochar Produced", Count: 6}}, nil
}

func (f *fakeAPI) StartGeneration(context.Context, string, string, mangrove.GenerationRequest) (*mangrove.AsyncTask, error) {
	f.mu.Lock()
	f.starts++
	f.mu.Unlock()
	if f.start != nil {
		return f.start()
	}
	return &mangrove.AsyncTask{ID: 42, State: mangrove.TaskPending}, nil
}

func (f *fakeAPI) startCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.starts
}

func (f *fakeAPI) LedgerBatches(_ context.Context, _, ledgerID string, _ mangrove.ListOptions) (*mangrove.List[mangrove.Batch], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	data := f.batches
	if f.batchesOf != nil {
		data = f.batchesOf[ledgerID]
	}
	return &mangrove.List[mangrove.Batch]{Data: data, Info: &mangrove.Info{TotalItems: len(data)}}, nil
}

func (f *fakeAPI) Projects(context.Context, string) ([]mangrove.Project, error) {
	return nil, mangrove.ErrNotFound // the input check says "unknown"
}

func (f *fakeAPI) ProjectEvents(context.Context, string, int64, mangrove.ListOptions) (*mangrove.List[mangrove.Event], error) {
	return nil, mangrove.ErrNotFound
}

// fakeStore keeps the audit log in memory with the store's rules: a key is
// bound to a token and parameters, its first use creates the row, later
// uses get that row; states move submitting → started/rejected/unknown →
// complete/failed.
type fakeStore struct {
	mu       sync.Mutex
	keys     map[string]fakeKey
	gens     []store.Generation
	settled  chan struct{} // closed and replaced on every state change
	finishes int
}

type fakeKey struct {
	tokenHash, paramsHash string
	preview               []store.PreviewEntry
	genID                 int64
}

func newFakeStore() *fakeStore {
	return &fakeStore{keys: map[string]fakeKey{}, settled: make(chan struct{})}
}

func (s *fakeStore) IssueConfirmKey(_ context.Context, tokenHash, paramsHash string, preview []store.PreviewEntry) (string, error) {
	var b [32]byte
	_, _ = rand.Read(b[:])
	key := base64.RawURLEncoding.EncodeToString(b[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[key] = fakeKey{tokenHash: tokenHash, paramsHash: paramsHash, preview: preview}
	return key, nil
}

func (s *fakeStore) BeginGeneration(_ context.Context, key, paramsHash string, g store.Generation) (store.Generation, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[key]
	if !ok || k.tokenHash != g.TokenHash || k.paramsHash != paramsHash {
		return store.Generation{}, false, store.ErrKeyInvalid
	}
	if k.genID != 0 {
		return s.gens[k.genID-1], false, nil
	}
	g.ID, g.State, g.Preview, g.CreatedAt = int64(len(s.gens)+1), store.StateSubmitting, k.preview, time.Now()
	s.gens = append(s.gens, g)
	k.genID = g.ID
	s.keys[key] = k
	return g, true, nil
}

func (s *fakeStore) update(id int64, from []string, fn func(*store.Generation)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id < 1 || int(id) > len(s.gens) {
		return store.ErrNotFound
	}
	g := &s.gens[id-1]
	for _, st := range from {
		if g.State == st {
			fn(g)
			close(s.settled)
			s.settled = make(chan struct{})
			return nil
		}
	}
	return store.ErrStateConflict
}

func (s *fakeStore) MarkStarted(_ context.Context, id, taskID int64) error {
	return s.update(id, []string{store.StateSubmitting, store.StateUnknown}, func(g *store.Generation) { g.State, g.TaskID = store.StateStarted, &taskID })
}

func (s *fakeStore) MarkRejected(_ context.Context, id int64, msg string) error {
	return s.update(id, []string{store.StateSubmitting}, func(g *store.Generation) { g.State, g.Error = store.StateRejected, msg })
}

func (s *fakeStore) MarkUnknown(_ context.Context, id int64, msg string) (bool, error) {
	err := s.update(id, []string{store.StateSubmitting}, func(g *store.Generation) { g.State, g.Error = store.StateUnknown, msg })
	return err == nil, err
}

func (s *fakeStore) MarkFinished(_ context.Context, taskID int64, state, errMsg string, at time.Time) (bool, error) {
	g, err := s.GenerationByTask(context.Background(), taskID)
	if err != nil {
		return false, err
	}
	if g.FinishedAt != nil {
		return false, nil
	}
	s.mu.Lock()
	s.finishes++
	s.mu.Unlock()
	err = s.update(g.ID, []string{store.StateStarted, store.StateUnknown}, func(g *store.Generation) { g.State, g.Error, g.FinishedAt = state, errMsg, &at })
	return err == nil, err
}

func (s *fakeStore) GenerationByTask(_ context.Context, taskID int64) (store.Generation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.gens {
		if g.TaskID != nil && *g.TaskID == taskID {
			return g, nil
		}
	}
	return store.Generation{}, store.ErrNotFound
}

func (s *fakeStore) WaitSettled(ctx context.Context, id int64) (store.Generation, error) {
	for {
		s.mu.Lock()
		g, ch := s.gens[id-1], s.settled
		s.mu.Unlock()
		if g.State != store.StateSubmitting {
			return g, nil
		}
		select {
		case <-ctx.Done():
			return store.Generation{}, ctx.Err()
		case <-ch:
		}
	}
}

func (s *fakeStore) Generations(_ context.Context, tokenHash string, f store.GenerationFilter, limit, offset int) ([]store.Generation, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var mine []store.Generation
	for i := len(s.gens) - 1; i >= 0; i-- {
		g := s.gens[i]
		if g.TokenHash == tokenHash && (f.LedgerID == "" || g.LedgerID == f.LedgerID) &&
			(f.State == "" || g.State == f.State) && (f.UserLabel == "" || g.UserLabel == f.UserLabel) {
			mine = append(mine, g)
		}
	}
	end := min(offset+limit, len(mine))
	if offset > end {
		return nil, len(mine), nil
	}
	return mine[offset:end], len(mine), nil
}

func (s *fakeStore) GenerationChoices(_ context.Context, tokenHash string) (store.GenerationChoices, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var c store.GenerationChoices
	for _, g := range s.gens {
		l := store.LedgerChoice{ID: g.LedgerID, Name: g.LedgerName}
		if g.TokenHash == tokenHash && !slices.Contains(c.Ledgers, l) {
			c.Ledgers = append(c.Ledgers, l)
		}
		if g.TokenHash == tokenHash && g.UserLabel != "" && !slices.Contains(c.Users, g.UserLabel) {
			c.Users = append(c.Users, g.UserLabel)
		}
	}
	return c, nil
}

func (s *fakeStore) UnsettledGenerations(context.Context) ([]store.Generation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Generation
	for _, g := range s.gens {
		if g.State == store.StateSubmitting || (g.State == store.StateStarted && g.SealedToken != "") {
			out = append(out, g)
		}
	}
	return out, nil
}

func (s *fakeStore) ForgetSealedToken(_ context.Context, id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gens[id-1].SealedToken = ""
	return nil
}

func (s *fakeStore) AppendRunStep(_ context.Context, taskID int64, step store.RunStep) error {
	return s.updateRun(taskID, func(r *store.RunRecord) { r.Steps = append(r.Steps, step) })
}

func (s *fakeStore) RecordWritten(_ context.Context, taskID int64, written []store.LedgerWritten) error {
	return s.updateRun(taskID, func(r *store.RunRecord) { r.Written = written })
}

func (s *fakeStore) updateRun(taskID int64, change func(*store.RunRecord)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.gens) - 1; i >= 0; i-- {
		if id := s.gens[i].TaskID; id != nil && *id == taskID {
			change(&s.gens[i].Run)
			return nil
		}
	}
	return nil
}

func (s *fakeStore) only(t *testing.T) store.Generation {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.gens) != 1 {
		t.Fatalf("%d audit rows, want 1", len(s.gens))
	}
	return s.gens[0]
}

// fakeWatchers records what is tracked and serves snapshots it is given.
type fakeWatchers struct {
	mu      sync.Mutex
	tracked []int64
	tokens  []string        // of each Track
	errFor  map[int64]error // Track's error for a task, instead of err
	current map[int64]watcher.Snapshot
	err     error
}

func (w *fakeWatchers) Track(_ context.Context, id int64, token string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.tracked = append(w.tracked, id)
	w.tokens = append(w.tokens, token)
	if err, ok := w.errFor[id]; ok {
		return err
	}
	return w.err
}

func (w *fakeWatchers) Current(_ context.Context, id int64, _ string, _ time.Duration) (watcher.Snapshot, error) {
	return w.Authorize(context.Background(), id, "")
}

func (w *fakeWatchers) Authorize(_ context.Context, id int64, _ string) (watcher.Snapshot, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s, ok := w.current[id]
	if !ok {
		return watcher.Snapshot{}, mangrove.ErrNotFound
	}
	return s, nil
}

func (w *fakeWatchers) Latest(id int64) (watcher.Snapshot, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s, ok := w.current[id]
	return s, ok
}

// rig is a Service over fakes, with its metrics' registry.
type rig struct {
	svc      *Service
	api      *fakeAPI
	store    *fakeStore
	watchers *fakeWatchers
	reg      *prometheus.Registry
	changed  []string
}

// newRig builds the rig; each option changes the Service's Options.
func newRig(options ...func(*Options)) *rig {
	r := &rig{api: &fakeAPI{}, store: newFakeStore(), watchers: &fakeWatchers{current: map[int64]watcher.Snapshot{}}, reg: prometheus.NewRegistry()}
	var mu sync.Mutex
	o := Options{API: r.api, Store: r.store, Watchers: r.watchers, Metrics: metrics.New(r.reg),
		Changed: func(tok string) { mu.Lock(); r.changed = append(r.changed, tok); mu.Unlock() }}
	for _, opt := range options {
		opt(&o)
	}
	r.svc = New(o)
	return r
}

// counter reads a counter of the registry with one label, 0 when absent.
func (r *rig) counter(t *testing.T, name, label, value string) float64 {
	t.Helper()
	fams, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

var errNoAnswer = errors.New("connection reset")
