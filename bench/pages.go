package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/handlers"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/mangrove/sandbox"
)

// Section 4: what a page view costs through the dashboard, against the same API
// calls made directly.

// countingHandler counts every request the sandbox receives.
type countingHandler struct {
	next http.Handler
	n    atomic.Int64
}

func (c *countingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.n.Add(1)
	c.next.ServeHTTP(w, r)
}

type pageMode struct {
	name    string
	kind    string // "direct" or "dashboard"
	page    string // "ledger" or "ledgers"
	cold    bool
	run     func(ctx context.Context) error
	samples []time.Duration
	calls   int64 // upstream calls during the latency samples
	rps     float64
}

func runPages(ctx context.Context, cfg config) (section, error) {
	sec := section{Num: 4, Title: "Page overhead"}
	rounds, tpDur, workers := 200, 3*time.Second, 4
	if cfg.quick {
		rounds, tpDur = 40, time.Second
	}
	dir, err := os.MkdirTemp("", "mangrove-bench-pages-")
	if err != nil {
		return sec, err
	}
	defer os.RemoveAll(dir)
	counter := &countingHandler{}
	rec := &replay{answers: map[string]recordedAnswer{}}
	a, err := startApp(appOptions{
		Dir: dir, StepDelay: 0, ServerToken: true, RateLimit: 10_000_000,
		Prepare: func(sb *sandbox.Server) error {
			// 20 feedstocks over 2 years: with the demo's 24, Net Carbon Removal gets 504 batches.
			_, err := sb.SeedSynthetic(ctx, sandbox.Synthetic{Years: 2, Feedstocks: 20, RunsPerDay: 1})
			return err
		},
		Wrap: func(h http.Handler) http.Handler { counter.next = rec.wrap(h); return counter },
	})
	if err != nil {
		return sec, err
	}
	defer a.Close()
	task, err := startGeneration(ctx, a, ncrLedger, "2026-01-01T00:00:00Z", "2028-01-01T00:00:00Z")
	if err != nil {
		return sec, err
	}
	tok := a.Tokens.ReadWrite
	if !waitUntil(ctx, 5*time.Minute, func() bool {
		t, err := a.Client.AsyncTask(ctx, tok, task)
		return err == nil && t.Terminal()
	}) {
		return sec, fmt.Errorf("the seeding generation did not finish")
	}
	list, err := a.Client.LedgerBatches(ctx, tok, ncrLedger, mangrove.ListOptions{Page: 1, PageSize: 1})
	if err != nil {
		return sec, err
	}
	total := 0
	if list.Info != nil {
		total = list.Info.TotalItems
	}

	// The direct client: the same typed client and transport settings as the dashboard's.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	direct := mangrove.NewClient(a.SBURL, mangrove.WithRateLimit(10_000_000), mangrove.WithHTTPClient(&http.Client{Transport: tr}))
	batchOpts := mangrove.ListOptions{Page: 1, PageSize: 50, Sort: []string{handlers.DefaultBatchSort, "-id"}}
	chart := func(ctx context.Context) error {
		for page := 1; page <= 2; page++ {
			l, err := direct.LedgerBatches(ctx, tok, ncrLedger, mangrove.ListOptions{Page: page, PageSize: 100, Sort: []string{"-start_time"}})
			if err != nil {
				return err
			}
			if l.Info == nil || l.Info.NextPage == nil {
				break
			}
		}
		return nil
	}
	directLedgerCold := func(ctx context.Context) error {
		// What the ledger page reads: the ledger, its inputs and the batch page at
		// once, then the chart's 200 most recent batches.
		var wg sync.WaitGroup
		var errs [3]error
		wg.Add(3)
		go func() { defer wg.Done(); _, errs[0] = direct.Ledger(ctx, tok, ncrLedger) }()
		go func() { defer wg.Done(); _, errs[1] = direct.RequiredInputs(ctx, tok, ncrLedger) }()
		go func() { defer wg.Done(); _, errs[2] = direct.LedgerBatches(ctx, tok, ncrLedger, batchOpts) }()
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
		return chart(ctx)
	}
	directLedgerWarm := func(ctx context.Context) error {
		_, err := direct.LedgerBatches(ctx, tok, ncrLedger, batchOpts)
		return err
	}
	directLedgers := func(ctx context.Context) error {
		_, err := direct.AllLedgers(ctx, tok)
		return err
	}
	dashTr := http.DefaultTransport.(*http.Transport).Clone()
	dashTr.MaxIdleConnsPerHost = 64
	browser := &http.Client{Transport: dashTr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path, want string) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.URL+path, nil)
			res, err := browser.Do(req)
			if err != nil {
				return err
			}
			b, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err != nil {
				return err
			}
			if res.StatusCode != http.StatusOK || !strings.Contains(string(b), want) {
				return fmt.Errorf("GET %s: %d %.200s", path, res.StatusCode, b)
			}
			return nil
		}
	}
	ledgerPath := "/ledgers/" + ncrLedger + "?page_size=50"
	cold := func(f func(context.Context) error) func(context.Context) error {
		return func(ctx context.Context) error { a.H.ClearPageCaches(); return f(ctx) }
	}
	modes := []*pageMode{
		{name: "ledger page, first view: API calls directly", kind: "direct", page: "ledger", cold: true, run: directLedgerCold},
		{name: "ledger page, first view: through the dashboard", kind: "dashboard", page: "ledger", cold: true, run: cold(get(ledgerPath, "Net Carbon Removal"))},
		{name: "ledger page, repeated view: API calls directly", kind: "direct", page: "ledger", run: directLedgerWarm},
		{name: "ledger page, repeated view: through the dashboard", kind: "dashboard", page: "ledger", run: get(ledgerPath, "Net Carbon Removal")},
		{name: "ledgers list, first view: API calls directly", kind: "direct", page: "ledgers", cold: true, run: directLedgers},
		{name: "ledgers list, first view: through the dashboard", kind: "dashboard", page: "ledgers", cold: true, run: cold(get("/ledgers", "Biochar Produced"))},
		{name: "ledgers list, repeated view: API calls directly", kind: "direct", page: "ledgers", run: directLedgers},
		{name: "ledgers list, repeated view: through the dashboard", kind: "dashboard", page: "ledgers", run: get("/ledgers", "Biochar Produced")},
	}
	// Warm-up (connections, templates, the sandbox's caches), recording the API's
	// answers for the replay below.
	rec.recording.Store(true)
	for range 10 {
		for _, m := range modes {
			if err := m.run(ctx); err != nil {
				return sec, err
			}
		}
	}
	rec.recording.Store(false)
	if err := measurePages(ctx, profileDir(cfg, dir), "sandbox", modes, counter, rounds, tpDur, workers); err != nil {
		return sec, err
	}
	// The same with canned answers: the sandbox's recorded responses served from
	// memory, so what remains of a view is the dashboard's own work and the client's.
	canned := make([]*pageMode, len(modes))
	for k, m := range modes {
		c := *m
		c.samples, c.calls, c.rps = nil, 0, 0
		canned[k] = &c
	}
	var h http.Handler = rec
	a.upstream.Store(&h)
	for range 10 {
		for _, m := range canned {
			if err := m.run(ctx); err != nil {
				return sec, err
			}
		}
	}
	if err := measurePages(ctx, profileDir(cfg, dir), "canned", canned, counter, rounds, tpDur, workers); err != nil {
		return sec, err
	}
	if n := rec.misses.Load(); n > 0 {
		return sec, fmt.Errorf("the replay had no answer for %d requests", n)
	}

	sec.Header = []string{"page, view", "API answered by", "direct p50 · p90", "dashboard p50 · p90", "**dashboard − direct** (median of paired rounds)",
		"upstream calls a view (direct · dashboard)", "throughput, 4 at a time (direct · dashboard)"}
	var targets []string
	for _, set := range [][]*pageMode{modes, canned} {
		for i := 0; i < len(set); i += 2 {
			d, h := set[i], set[i+1]
			ds, hs := sortedCopy(d.samples), sortedCopy(h.samples)
			// Paired: each round ran the two back to back, so their difference is
			// little affected by the machine's slower and faster moments.
			diffs := make([]time.Duration, len(d.samples))
			for k := range diffs {
				diffs[k] = h.samples[k] - d.samples[k]
			}
			over := percentile(sortedCopy(diffs), 50)
			view := strings.SplitN(h.name, ":", 2)[0]
			by := "the sandbox"
			if set[0] == canned[0] {
				by = "canned answers"
				targets = append(targets, fmt.Sprintf("%s, the dashboard adds under 2 ms at p50 over the API calls it makes: %s (%s; with the sandbox answering %s)",
					view, metOrMissed(over < 2*time.Millisecond), signedMs(over), signedMs(pairedOver(modes[i], modes[i+1]))))
			}
			sec.Rows = append(sec.Rows, []string{view, by,
				ms(percentile(ds, 50)) + " · " + ms(percentile(ds, 90)), ms(percentile(hs, 50)) + " · " + ms(percentile(hs, 90)),
				"**" + signedMs(over) + "**",
				fmt.Sprintf("%.1f · %.1f", perView(d), perView(h)), fmt.Sprintf("%.0f/s · %.0f/s", d.rps, h.rps)})
		}
	}
	warmLedger, coldLedger := modes[3], modes[1]
	warmList := modes[7]
	reuse := perView(warmLedger) < perView(coldLedger) && warmList.calls == 0
	targets = append(targets, fmt.Sprintf("Repeated views within a short window reuse fresh data: %s (ledger page %.1f → %.1f upstream calls a view, ledgers list %.1f → %.1f)",
		metOrMissed(reuse), perView(coldLedger), perView(warmLedger), perView(modes[5]), perView(warmList)))
	sec.Targets = targets
	sec.Method = fmt.Sprintf(`
The dashboard runs on a fresh sandbox in the same process (server-wide token; the sandbox's quota
and the client's limiter raised so the 1,000-a-minute limit does not pace the measurement). A
synthetic data set and one generation give Net Carbon Removal %d batches; the ledger page shows 50
of them (page_size=50), with the chart of the 200 most recent. "Direct" makes the calls the
dashboard makes for that view, through the same typed client (so JSON decoding is on both sides)
and with the same concurrency: for a first view of the ledger page, the ledger, its required
inputs and the batch page at once, then the chart's two pages of 100; for a repeated view, the
batch page alone (the dashboard keeps the rest for a short while: ledger metadata %s per token hash,
the chart 30 s, both forgotten when a generation is confirmed). A first view through the dashboard
is forced by clearing those caches before the request (Handlers.ClearPageCaches).

Each row's pair is measured %d times, one request at a time, all rows interleaved round by round,
so each dashboard request runs right after its direct twin: the overhead is the median of those
paired differences (a small negative figure is noise around zero). Then each is run by 4 clients at
once for %s for the throughput. Upstream calls are counted where the API is served.

Two runs: first with the sandbox answering, where most of a ledger page's time is the sandbox
building 50 to 200 batches with their model runs (about 0.3 ms each here), the same on both sides
and noisy; then with **canned answers**: the sandbox's responses to the very same requests,
recorded during the warm-up and served from memory on the same address, so a view costs only
the transport, the client's decoding and, through the dashboard, the dashboard's own work. The
targets are judged on the canned run, which isolates what the dashboard adds.`,
		total, "10 s", rounds, tpDur)
	sec.Notes = "CPU profile of the repeated ledger view through the dashboard with canned answers (4 clients), top entries by flat time; " +
		"encoding/json decoding the batch page (50 batches with their model runs' calculations) dominates it on both sides, the dashboard's own " +
		"handler, middleware and templates are a few percent:\n\n```\n" + pprofTop(filepath.Join(profileDir(cfg, dir), "pages-canned-3.pprof"), "", 10) + "```\n"
	return sec, nil
}

func perView(m *pageMode) float64 { return float64(m.calls) / float64(max(len(m.samples), 1)) }

func pairedOver(d, h *pageMode) time.Duration {
	diffs := make([]time.Duration, len(d.samples))
	for k := range diffs {
		diffs[k] = h.samples[k] - d.samples[k]
	}
	return percentile(sortedCopy(diffs), 50)
}

// measurePages takes the latency samples (one request at a time, the modes
// interleaved round by round) and the throughput (workers at a time) of modes.
func measurePages(ctx context.Context, profDir, label string, modes []*pageMode, counter *countingHandler, rounds int, tpDur time.Duration, workers int) error {
	for range rounds {
		for _, m := range modes {
			c0 := counter.n.Load()
			t := time.Now()
			if err := m.run(ctx); err != nil {
				return err
			}
			m.samples = append(m.samples, time.Since(t))
			m.calls += counter.n.Load() - c0
		}
	}
	for i, m := range modes {
		var prof *os.File
		if profDir != "" {
			if f, err := os.Create(filepath.Join(profDir, fmt.Sprintf("pages-%s-%d.pprof", label, i))); err == nil {
				prof = f
				_ = pprof.StartCPUProfile(f)
			}
		}
		var n atomic.Int64
		var firstErr atomic.Value
		deadline := time.Now().Add(tpDur)
		var wg sync.WaitGroup
		t := time.Now()
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(deadline) {
					if err := m.run(ctx); err != nil {
						firstErr.CompareAndSwap(nil, err)
						return
					}
					n.Add(1)
				}
			}()
		}
		wg.Wait()
		m.rps = float64(n.Load()) / time.Since(t).Seconds()
		if prof != nil {
			pprof.StopCPUProfile()
			prof.Close()
		}
		if err, ok := firstErr.Load().(error); ok {
			return err
		}
	}
	return nil
}

// replay records the API's answers while recording is on, and serves them back
// by method and request URI.
type replay struct {
	recording atomic.Bool
	mu        sync.Mutex
	answers   map[string]recordedAnswer
	misses    atomic.Int64
	next      http.Handler
}

type recordedAnswer struct {
	status int
	header http.Header
	body   []byte
}

func (rp *replay) wrap(next http.Handler) http.Handler {
	rp.next = next
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !rp.recording.Load() {
			next.ServeHTTP(w, r)
			return
		}
		tw := &teeWriter{ResponseWriter: w}
		next.ServeHTTP(tw, r)
		if tw.status == http.StatusOK {
			rp.mu.Lock()
			rp.answers[r.Method+" "+r.URL.RequestURI()] = recordedAnswer{status: tw.status, header: w.Header().Clone(), body: append([]byte(nil), tw.buf.Bytes()...)}
			rp.mu.Unlock()
		}
	})
}

// ServeHTTP answers from the recording.
func (rp *replay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rp.mu.Lock()
	ans, ok := rp.answers[r.Method+" "+r.URL.RequestURI()]
	rp.mu.Unlock()
	if !ok {
		rp.misses.Add(1)
		http.Error(w, `{"message":"no recorded answer"}`, http.StatusNotFound)
		return
	}
	for k, v := range ans.header {
		w.Header()[k] = v
	}
	w.WriteHeader(ans.status)
	_, _ = w.Write(ans.body)
}

func signedMs(d time.Duration) string {
	if d < 0 {
		return "−" + ms(-d)
	}
	return "+" + ms(d)
}
