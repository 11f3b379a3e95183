// Package sandbox is a local, API-compatible Mangrove server: the same paths, methods,
// JSON shapes and status codes as the public Mangrove API v1, backed by one SQLite file,
// a real biochar calculation model and an asynchronous batch generation engine.
//
// It imports nothing of the dashboard (not even its Mangrove client), so a client bug
// cannot be mirrored here and hidden. See README.md in this directory for the seeded
// data and the behaviour the documentation leaves open.
package sandbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures a sandbox.
type Options struct {
	DBPath    string        // SQLite file path (one file); parent dir exists
	StepDelay time.Duration // time spent per batch while generating (0 = as fast as possible)
	Token     string        // read-write demo token of the demo project; "" => generate once, store in the DB, reuse on restart
	Logger    *slog.Logger  // nil => discard
	// Faults are injected into requests and generations (see faults.go); the zero
	// value, the default, injects nothing. SetFaults changes them at run time.
	Faults Faults
	// RateLimit is the requests a minute allowed per token; 0 means 1,000, the real
	// API's default. Load tests raise it.
	RateLimit int
}

// Tokens are the seeded API tokens.
type Tokens struct {
	ReadWrite string // demo projects (the first site and the second), Production Accounting read+write
	ReadOnly  string // demo projects, read only (a write gets 403)
	Other     string // read-write token of a separate project (sees none of the demo projects' data; demo tokens see none of its)
}

// Server is a running sandbox: its database, generation engine and HTTP handler.
type Server struct {
	db         *sql.DB
	cat        *catalog
	log        *slog.Logger
	eng        *engine
	limiter    *rateLimiter
	tokens     Tokens
	principals map[string]principal
	mux        *http.ServeMux
	handler    http.Handler
	counts     map[string]*atomic.Int64
	faults     atomic.Pointer[faultState] // nil: no faults
	closing    chan struct{}              // closed by Close; ends injected latency

	closeOnce sync.Once
	closeErr  error
}

// Open migrates the database, seeds it on first start (generating 2024's batches through
// the engine), fails tasks a previous process left running, resumes pending ones and
// starts the engine.
func Open(opts Options) (*Server, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.DBPath == "" {
		return nil, errors.New("sandbox: Options.DBPath is required")
	}
	if err := opts.Faults.Validate(); err != nil {
		return nil, fmt.Errorf("sandbox: faults: %w", err)
	}
	ctx := context.Background()
	db, err := openDB(opts.DBPath)
	if err != nil {
		return nil, err
	}
	s := &Server{db: db, log: log, limiter: newRateLimiter(opts.RateLimit), counts: map[string]*atomic.Int64{}, closing: make(chan struct{})}
	if err := s.start(ctx, opts); err != nil {
		db.Close()
		return nil, err
	}
	_ = s.SetFaults(opts.Faults) // validated above
	if opts.Faults.Active() {
		log.Warn("sandbox fault injection is on", "faults", opts.Faults.String())
	}
	return s, nil
}

func (s *Server) start(ctx context.Context, opts Options) error {
	if err := migrate(ctx, s.db); err != nil {
		return err
	}
	_, seeded, err := getMeta(ctx, s.db, "seeded")
	if err != nil {
		return err
	}
	var historyTask int64
	if !seeded {
		t0 := time.Now()
		if historyTask, err = seedDemo(ctx, s.db, opts.Token); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
		s.log.Info("sandbox seeded", "elapsed", time.Since(t0))
	} else if err := seedSecondSite(ctx, s.db); err != nil {
		return err
	}
	if s.cat, err = loadCatalog(ctx, s.db); err != nil {
		return err
	}
	s.eng = newEngine(s.db, s.cat, s.log, opts.StepDelay)
	s.eng.failAt = s.generationFailAt
	if historyTask != 0 {
		// 2024 goes through the same engine path as any generation, synchronously and
		// without StepDelay, so the seeded ledgers have real history.
		if err := s.eng.execute(ctx, historyTask, 0); err != nil {
			return fmt.Errorf("seed: generate 2024: %w", err)
		}
	}
	if err := ensureDemoToken(ctx, s.db, opts.Token); err != nil {
		return err
	}
	if s.principals, s.tokens, err = loadPrincipals(ctx, s.db); err != nil {
		return err
	}
	if err := s.eng.recoverTasks(ctx); err != nil {
		s.eng.stop()
		return err
	}
	s.routes()
	return nil
}

// Handler serves the API under /api/v1/.
func (s *Server) Handler() http.Handler { return s.handler }

// Tokens returns the seeded tokens.
func (s *Server) Tokens() Tokens { return s.tokens }

// RequestCount reports how many requests a route pattern has received, whatever their
// outcome, e.g. RequestCount("GET /api/v1/async_tasks/{id}").
func (s *Server) RequestCount(pattern string) int64 {
	if c, ok := s.counts[pattern]; ok {
		return c.Load()
	}
	return 0
}

// Close stops the engine (running generations stop where they are and are failed by
// the next Open), waits for its goroutines and closes the database. It is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		if s.eng != nil {
			s.eng.stop()
		}
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}

// routes is the one route table; every pattern is also a RequestCount key.
func (s *Server) routes() {
	s.mux = http.NewServeMux()
	s.route("GET /api/v1/projects", s.listProjects)
	s.route("GET /api/v1/projects/{project_id}", s.showProject)
	s.route("GET /api/v1/projects/{project_id}/data_points", s.listDataPoints)
	s.route("GET /api/v1/projects/{project_id}/events", s.listEvents)
	s.route("GET /api/v1/projects/{project_id}/events/{event_id}", s.showEvent)

	s.route("GET /api/v1/ledgers", s.listLedgers)
	s.route("GET /api/v1/ledgers/{ledger_id}", s.showLedger)
	s.route("GET /api/v1/ledgers/{ledger_id}/required_inputs", s.listRequiredInputs)
	s.route("POST /api/v1/ledgers/{ledger_id}/generate_preview", s.previewGeneration)
	s.route("POST /api/v1/ledgers/{ledger_id}/batch_generations", s.createGeneration)
	s.route("GET /api/v1/ledgers/{ledger_id}/batches", s.listLedgerBatches)

	s.route("GET /api/v1/models", s.listModels)
	s.route("GET /api/v1/models/{model_id}", s.showModel)

	s.route("GET /api/v1/batches", s.listBatches)
	s.route("GET /api/v1/batches/{batch_id}", s.showBatch)

	s.route("GET /api/v1/async_tasks/{id}", s.showTask)

	notFound := new(atomic.Int64)
	s.counts["/"] = notFound
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		notFound.Add(1)
		r, answered := s.injectFault(w, r)
		if answered {
			return
		}
		if !s.limiter.allow(w, rateKey(r)) {
			return
		}
		writeError(w, http.StatusNotFound, "no route for %s %s", r.Method, r.URL.Path)
	})
	s.handler = s.recoverPanics(s.mux)
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, p principal)

// route registers a handler behind counting, injected faults, rate limiting and
// authentication.
func (s *Server) route(pattern string, h handlerFunc) {
	counter := new(atomic.Int64)
	s.counts[pattern] = counter
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		counter.Add(1)
		r, answered := s.injectFault(w, r)
		if answered {
			return
		}
		if !s.limiter.allow(w, rateKey(r)) {
			return
		}
		tok := bearerToken(r)
		if tok == "" {
			writeError(w, http.StatusUnauthorized, "missing API token: send Authorization: Bearer <token>")
			return
		}
		p, ok := s.principals[tok]
		if !ok {
			writeError(w, http.StatusUnauthorized, "invalid API token")
			return
		}
		h(w, r, p)
	})
}

// rateKey limits per token; requests without one share a bucket per client address.
func rateKey(r *http.Request) string {
	if tok := bearerToken(r); tok != "" {
		return "t:" + tok
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "a:" + host
}

func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", v)
				writeError(w, http.StatusInternalServerError, "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// fail writes err: an *apiError with its status and message, anything else as a 500
// whose details go to the log, not to the client.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		writeError(w, ae.Status, "%s", ae.Msg)
		return
	}
	if r.Context().Err() != nil {
		return // the client went away
	}
	s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, "internal error")
}

const notFoundMessage = "Record not found."

func notFound(w http.ResponseWriter) { writeError(w, http.StatusNotFound, notFoundMessage) }
