// Package generation is the batch generation workflow, without HTTP: the
// preview (with its checks and a one-time confirmation key), the confirmation
// (audit row → POST → mark → track), the recording of each outcome and final
// state, and what a finished run wrote. It works over three small interfaces,
// so its rules are tested without a server.
package generation

import (
	"cmp"
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/carbon-dash/mangrove-dashboard/internal/owners"
	"github.com/carbon-dash/mangrove-dashboard/internal/ttlcache"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/metrics"
	"github.com/carbon-dash/mangrove-dashboard/store"
	"github.com/carbon-dash/mangrove-dashboard/watcher"
)

// API is what the workflow asks of Mangrove (*mangrove.Client implements it;
// the app gives it *apicache.Client, whose reads are kept a few seconds).
type API interface {
	Ledger(ctx context.Context, token, ledgerID string) (*mangrove.Ledger, error)
	RequiredInputs(ctx context.Context, token, ledgerID string) ([]mangrove.RequiredInput, error)
	PreviewGeneration(ctx context.Context, token, ledgerID string, req mangrove.PreviewRequest) ([]mangrove.PreviewEntry, error)
	StartGeneration(ctx context.Context, token, ledgerID string, req mangrove.GenerationRequest) (*mangrove.AsyncTask, error)
	LedgerBatches(ctx context.Context, token, ledgerID string, opts mangrove.ListOptions) (*mangrove.List[mangrove.Batch], error)
	Projects(ctx context.Context, token string) ([]mangrove.Project, error)
	// ProjectModels tells, among several projects, the ledger's
	// (internal/owners): the input check reads only its data.
	ProjectModels(ctx context.Context, token string, projectID int64) ([]mangrove.Model, error)
	ProjectEvents(ctx context.Context, token string, projectID int64, opts mangrove.ListOptions) (*mangrove.List[mangrove.Event], error)
}

// Store is the audit log and the confirmation keys (*store.Store implements it).
type Store interface {
	IssueConfirmKey(ctx context.Context, tokenHash, paramsHash string, preview []store.PreviewEntry) (string, error)
	BeginGeneration(ctx context.Context, key, paramsHash string, g store.Generation) (store.Generation, bool, error)
	MarkStarted(ctx context.Context, id, taskID int64) error
	MarkRejected(ctx context.Context, id int64, msg string) error
	MarkUnknown(ctx context.Context, id int64, msg string) (recorded bool, err error)
	MarkFinished(ctx context.Context, taskID int64, state, errMsg string, finishedAt time.Time) (recorded bool, err error)
	GenerationByTask(ctx context.Context, taskID int64) (store.Generation, error)
	WaitSettled(ctx context.Context, id int64) (store.Generation, error)
	Generations(ctx context.Context, tokenHash string, f store.GenerationFilter, limit, offset int) ([]store.Generation, int, error)
	GenerationChoices(ctx context.Context, tokenHash string) (store.GenerationChoices, error)
	UnsettledGenerations(ctx context.Context) ([]store.Generation, error)
	ForgetSealedToken(ctx context.Context, id int64) error
	AppendRunStep(ctx context.Context, taskID int64, step store.RunStep) error
	RecordWritten(ctx context.Context, taskID int64, written []store.LedgerWritten) error
}

// Sealer seals the token a generation is confirmed with for the audit row,
// and opens it again after a restart, to watch the task to its end.
type Sealer interface {
	Seal(token string) (string, error)
	Open(sealed string) (string, error)
}

// Watchers follow tasks (*watcher.Pool implements it).
type Watchers interface {
	Track(ctx context.Context, taskID int64, token string) error
	Current(ctx context.Context, taskID int64, token string, maxAge time.Duration) (watcher.Snapshot, error)
	Authorize(ctx context.Context, taskID int64, token string) (watcher.Snapshot, error)
	Latest(taskID int64) (watcher.Snapshot, bool)
}

// BatchesChanged is told when a generation may have written batches, so
// cached reads can be dropped: token is the user's, or "" when unknown.
type BatchesChanged func(token string)

// Options are the workflow's dependencies; API, Store and Watchers are
// required.
type Options struct {
	API      API
	Store    Store
	Watchers Watchers
	// Metrics counts generations started and finished; nil uses a private registry.
	Metrics *metrics.Metrics
	Logger  *slog.Logger
	Now     func() time.Time
	// Changed, when set, is told when batches may have changed.
	Changed BatchesChanged
	// ReadOnly says every token is read-only (MANGROVE_READ_ONLY): nothing
	// can be generated.
	ReadOnly bool
	// Sealer, when set, keeps each running generation's token sealed in its
	// audit row, so Recover can watch the task after a restart; without it
	// such tasks are watched again only when someone views them.
	Sealer Sealer
	// Owners, when set, is the cache of which project a token's ledgers
	// belong to, shared with the ledger pages; nil uses a private one.
	Owners *owners.Cache
	// StartTimeout bounds the POST that starts a generation, and so how
	// long a row may stay submitting before Recover calls its outcome
	// unknown; zero means DefaultStartTimeout.
	StartTimeout time.Duration
	// SharedStore says several replicas share the store (DATABASE_URL): a
	// row begun before this process started may be a live replica's, so
	// recovery waits for every row as for its own (settleInterrupted).
	SharedStore bool
}

// Service runs the workflow. It is a watcher.Publisher: subscribed to the
// watcher pool, it records the final state of every generation started here.
type Service struct {
	api      API
	store    Store
	watchers Watchers
	metrics  *metrics.Metrics
	log      *slog.Logger
	now      func() time.Time
	changed  BatchesChanged
	sealer   Sealer
	// owners tell a ledger's project for the input check.
	owners *owners.Cache
	// background runs the counts of finished runs' batches; Wait is for tests.
	background sync.WaitGroup
	// startTimeout is Options.StartTimeout.
	startTimeout time.Duration
	// startedAt is when the service was made: Recover settles the
	// submitting rows of earlier processes sooner (not with SharedStore).
	startedAt   time.Time
	sharedStore bool
	// finals serialises RecordFinal's check-then-mark, so each finish counts once.
	finals  sync.Mutex
	origins *ttlcache.Cache[int64, *store.Generation]
	// readOnly remembers, by token hash, the tokens Mangrove refused a
	// generation (403), so pages say so before the next attempt.
	readOnly *ttlcache.Cache[string, bool]
	// allReadOnly is set when the server-wide token is known to be read-only.
	allReadOnly bool
}

// Tokens refused a generation are remembered this long, up to this many.
const (
	readOnlyTTL = 12 * time.Hour
	readOnlyMax = 4096
)

// The audit rows of running tasks kept for the event streams (Origin): as
// many as tasks watched at once, for as long as a long generation runs.
const (
	originCacheTTL = time.Hour
	originCacheMax = 4096
)

// New returns the workflow.
func New(o Options) *Service {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Metrics == nil {
		o.Metrics = metrics.New(prometheus.NewRegistry())
	}
	if o.Changed == nil {
		o.Changed = func(string) {}
	}
	if o.Owners == nil {
		o.Owners = owners.NewCache(o.Now)
	}
	return &Service{api: o.API, store: o.Store, watchers: o.Watchers, metrics: o.Metrics,
		log: o.Logger, now: o.Now, changed: o.Changed, sealer: o.Sealer, owners: o.Owners,
		startTimeout: cmp.Or(o.StartTimeout, DefaultStartTimeout), startedAt: o.Now(), sharedStore: o.SharedStore,
		origins:     ttlcache.New[int64, *store.Generation](originCacheTTL, originCacheMax, o.Now),
		readOnly:    ttlcache.New[string, bool](readOnlyTTL, readOnlyMax, o.Now),
		allReadOnly: o.ReadOnly}
}

// ReadOnly reports whether token is known to be unable to generate: the
// dashboard is configured read-only, or Mangrove refused it a generation.
func (s *Service) ReadOnly(token string) bool {
	if s.allReadOnly {
		return true
	}
	_, refused := s.readOnly.Get(mangrove.TokenHash(token))
	return refused
}
