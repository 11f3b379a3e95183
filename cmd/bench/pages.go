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

	"github.com/carbon-dash/mangrove-dashboard/forms"
	"github.com/carbon-dash/mangrove-dashboard/internal/wait"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/mangrove/sandbox"
)

// Section 4: what a page view costs through the dashboard, against the same API
// calls made directly.

const (
	pagesNum   = 4
	pagesTitle = "Page overhead"
	// pagesRounds is how many times each row's pair is measured one request
	// at a time; pagesThroughputFor how long each row runs pagesWorkers at once.
	pagesRounds             = 200
	quickPagesRounds        = 40
	pagesThroughputFor      = 3 * time.Second
	quickPagesThroughputFor = time.Second
	pagesWorkers            = 4
	// pagesRateLimit lifts the sandbox's quota and both clients' limiters so
	// the 1,000-a-minute limit does not pace the measurement.
	pagesRateLimit = 10_000_000
	// The synthetic data set: 20 feedstocks over 2 years; with the demo's 24,
	// Net Carbon Removal gets 504 batches from the seeding generation.
	pagesSeedYears      = 2
	pagesSeedFeedstocks = 20
	pagesSeedRunsPerDay = 1
	pagesSeedFrom       = "2026-01-01T00:00:00Z"
	pagesSeedTo         = "2028-01-01T00:00:00Z"
	seedingTimeout      = 5 * time.Minute
	// The ledger page's reads: a batch page of 50 and the chart's most recent
	// batches in up to two pages of 100.
	ledgerPageSize = 50
	chartPageSize  = 100
	chartPages     = 2
	// idleConnsPerHost is the transports' MaxIdleConnsPerHost, as the dashboard's client.
	idleConnsPerHost = 64
	// pagesWarmupRounds run every mode before each measurement.
	pagesWarmupRounds = 10
	// pageOverheadTarget is what the dashboard may add to a view at p50.
	pageOverheadTarget = 2 * time.Millisecond
	pagesProfileTop    = 10 // profile entries in the notes
)

// The modes' order: each view's direct twin, then the same view through the dashboard.
const (
	modeLedgerColdDashboard  = 1
	modeLedgerWarmDashboard  = 3
	modeLedgersColdDashboard = 5
	modeLedgersWarmDashboard = 7
	// pagesProfiledMode is the mode whose canned throughput profile goes in the notes.
	pagesProfiledMode = modeLedgerWarmDashboard
)

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

// pagesRig is a dashboard on a seeded sandbox, with the request counter and
// the recorder in front of the sandbox, and the modes to measure.
type pagesRig struct {
	d       *dashboard
	counter *countingHandler
	rec     *replay
	tok     string
	total   int // Net Carbon Removal's batches
	modes   []*pageMode
}

type pagesResult struct {
	modes, canned []*pageMode
	total, rounds int
	tpDur         time.Duration
	profileTop    string
}

func runPages(ctx context.Context, cfg config) (section, error) {
	rounds, tpDur := pagesRounds, pagesThroughputFor
	if cfg.quick {
		rounds, tpDur = quickPagesRounds, quickPagesThroughputFor
	}
	rig, err := setupPages(ctx)
	if err != nil {
		return section{Num: pagesNum, Title: pagesTitle}, err
	}
	defer rig.d.Close()
	res, err := measurePages(ctx, cfg, rig, rounds, tpDur)
	if err != nil {
		return section{Num: pagesNum, Title: pagesTitle}, err
	}
	return reportPages(res), nil
}

// setupPages starts the dashboard on a synthetic data set, runs one
// generation to give Net Carbon Removal its batches, and builds the modes.
func setupPages(ctx context.Context) (*pagesRig, error) {
	rig := &pagesRig{counter: &countingHandler{}, rec: &replay{answers: map[string]recordedAnswer{}}}
	d, err := startDashboardIn("mangrove-bench-pages-", appOptions{
		StepDelay: 0, ServerToken: true, RateLimit: pagesRateLimit,
		Prepare: func(sb *sandbox.Server) error {
			_, err := sb.SeedSynthetic(ctx, sandbox.Synthetic{Years: pagesSeedYears, Feedstocks: pagesSeedFeedstocks, RunsPerDay: pagesSeedRunsPerDay})
			return err
		},
		Wrap: func(h http.Handler) http.Handler { rig.counter.next = rig.rec.wrap(h); return rig.counter },
	})
	if err != nil {
		return nil, err
	}
	rig.d, rig.tok = d, d.Tokens.ReadWrite
	if rig.total, err = seedPages(ctx, d, rig.tok); err != nil {
		d.Close()
		return nil, err
	}
	rig.modes = pageModes(rig)
	return rig, nil
}

// seedPages runs the seeding generation to its end and returns how many
// batches Net Carbon Removal has.
func seedPages(ctx context.Context, d *dashboard, tok string) (int, error) {
	task, err := startGeneration(ctx, d, ncrLedger, pagesSeedFrom, pagesSeedTo)
	if err != nil {
		return 0, err
	}
	if !wait.Until(ctx, seedingTimeout, func() bool {
		t, err := d.Client.AsyncTask(ctx, tok, task)
		return err == nil && t.Terminal()
	}) {
		return 0, fmt.Errorf("the seeding generation did not finish")
	}
	list, err := d.Client.LedgerBatches(ctx, tok, ncrLedger, mangrove.ListOptions{Page: 1, PageSize: 1})
	if err != nil {
		return 0, err
	}
	if list.Info != nil {
		return list.Info.TotalItems, nil
	}
	return 0, nil
}

// directCalls makes the calls the dashboard makes for a view, through the
// same typed client and transport settings as the dashboard's.
type directCalls struct {
	c         *mangrove.Client
	tok       string
	batchOpts mangrove.ListOptions
}

func newDirectCalls(apiURL, tok string) *directCalls {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = idleConnsPerHost
	return &directCalls{
		c:         mangrove.NewClient(apiURL, mangrove.WithRateLimit(pagesRateLimit), mangrove.WithHTTPClient(&http.Client{Transport: tr})),
		tok:       tok,
		batchOpts: mangrove.ListOptions{Page: 1, PageSize: ledgerPageSize, Sort: []string{forms.DefaultBatchSort, "-id"}},
	}
}

// chart reads the chart's most recent batches.
func (dc *directCalls) chart(ctx context.Context) error {
	for page := 1; page <= chartPages; page++ {
		l, err := dc.c.LedgerBatches(ctx, dc.tok, ncrLedger, mangrove.ListOptions{Page: page, PageSize: chartPageSize, Sort: []string{"-start_time"}})
		if err != nil {
			return err
		}
		if l.Info == nil || l.Info.NextPage == nil {
			break
		}
	}
	return nil
}

// ledgerCold is what the ledger page reads: the ledger, its inputs and the
// batch page at once, then the chart's 200 most recent batches.
func (dc *directCalls) ledgerCold(ctx context.Context) error {
	var wg sync.WaitGroup
	var errs [3]error
	wg.Add(3)
	go func() { defer wg.Done(); _, errs[0] = dc.c.Ledger(ctx, dc.tok, ncrLedger) }()
	go func() { defer wg.Done(); _, errs[1] = dc.c.RequiredInputs(ctx, dc.tok, ncrLedger) }()
	go func() { defer wg.Done(); _, errs[2] = dc.c.LedgerBatches(ctx, dc.tok, ncrLedger, dc.batchOpts) }()
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return dc.chart(ctx)
}

func (dc *directCalls) ledgerWarm(ctx context.Context) error {
	_, err := dc.c.LedgerBatches(ctx, dc.tok, ncrLedger, dc.batchOpts)
	return err
}

func (dc *directCalls) ledgers(ctx context.Context) error {
	_, err := dc.c.AllLedgers(ctx, dc.tok)
	return err
}

// browser GETs dashboard pages as a browser would, without following redirects.
type browser struct {
	base string
	hc   *http.Client
}

func newBrowser(base string) *browser {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = idleConnsPerHost
	return &browser{base: base, hc: &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// get returns a view of path that must answer 200 with want in the page.
func (b *browser) get(path, want string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.base+path, nil)
		res, err := b.hc.Do(req)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return err
		}
		if res.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			return fmt.Errorf("GET %s: %d %.200s", path, res.StatusCode, body)
		}
		return nil
	}
}

// pageModes are the rows' pairs, each direct twin before its dashboard view.
func pageModes(rig *pagesRig) []*pageMode {
	direct, b := newDirectCalls(rig.d.APIURL, rig.tok), newBrowser(rig.d.URL)
	ledgerPath := fmt.Sprintf("/ledgers/%s?page_size=%d", ncrLedger, ledgerPageSize)
	// A first view through the dashboard: its page caches cleared before the request.
	cold := func(f func(context.Context) error) func(context.Context) error {
		return func(ctx context.Context) error { rig.d.ClearCaches(); return f(ctx) }
	}
	return []*pageMode{
		{name: "ledger page, first view: API calls directly", kind: "direct", page: "ledger", cold: true, run: direct.ledgerCold},
		{name: "ledger page, first view: through the dashboard", kind: "dashboard", page: "ledger", cold: true, run: cold(b.get(ledgerPath, "Net Carbon Removal"))},
		{name: "ledger page, repeated view: API calls directly", kind: "direct", page: "ledger", run: direct.ledgerWarm},
		{name: "ledger page, repeated view: through the dashboard", kind: "dashboard", page: "ledger", run: b.get(ledgerPath, "Net Carbon Removal")},
		{name: "ledgers list, first view: API calls directly", kind: "direct", page: "ledgers", cold: true, run: direct.ledgers},
		{name: "ledgers list, first view: through the dashboard", kind: "dashboard", page: "ledgers", cold: true, run: cold(b.get("/ledgers", "Biochar Produced"))},
		{name: "ledgers list, repeated view: API calls directly", kind: "direct", page: "ledgers", run: direct.ledgers},
		{name: "ledgers list, repeated view: through the dashboard", kind: "dashboard", page: "ledgers", run: b.get("/ledgers", "Biochar Produced")},
	}
}

// measurePages measures every mode with the sandbox answering, then again
// with canned answers: the sandbox's recorded responses served from memory, so
// what remains of a view is the dashboard's own work and the client's.
func measurePages(ctx context.Context, cfg config, rig *pagesRig, rounds int, tpDur time.Duration) (pagesResult, error) {
	res := pagesResult{modes: rig.modes, total: rig.total, rounds: rounds, tpDur: tpDur}
	profDir := profileDir(cfg, rig.d.tempDir)
	// Warm-up (connections, templates, the sandbox's caches), recording the API's
	// answers for the replay below.
	rig.rec.recording.Store(true)
	if err := warmUpPages(ctx, res.modes); err != nil {
		return res, err
	}
	rig.rec.recording.Store(false)
	if err := samplePageModes(ctx, profDir, "sandbox", res.modes, rig.counter, rounds, tpDur, pagesWorkers); err != nil {
		return res, err
	}
	res.canned = make([]*pageMode, len(res.modes))
	for k, m := range res.modes {
		c := *m
		c.samples, c.calls, c.rps = nil, 0, 0
		res.canned[k] = &c
	}
	var h http.Handler = rig.rec
	rig.d.upstream.Store(&h)
	if err := warmUpPages(ctx, res.canned); err != nil {
		return res, err
	}
	if err := samplePageModes(ctx, profDir, "canned", res.canned, rig.counter, rounds, tpDur, pagesWorkers); err != nil {
		return res, err
	}
	if n := rig.rec.misses.Load(); n > 0 {
		return res, fmt.Errorf("the replay had no answer for %d requests", n)
	}
	res.profileTop = pprofTop(filepath.Join(profDir, fmt.Sprintf("pages-canned-%d.pprof", pagesProfiledMode)), "", pagesProfileTop)
	return res, nil
}

func warmUpPages(ctx context.Context, modes []*pageMode) error {
	for range pagesWarmupRounds {
		for _, m := range modes {
			if err := m.run(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

func reportPages(res pagesResult) section {
	sec := section{Num: pagesNum, Title: pagesTitle}
	sec.Header = []string{"page, view", "API answered by", "direct p50 · p90", "dashboard p50 · p90", "**dashboard − direct** (median of paired rounds)",
		"upstream calls a view (direct · dashboard)", "throughput, 4 at a time (direct · dashboard)"}
	var targets []string
	for _, run := range []struct {
		by     string
		set    []*pageMode
		judged bool
	}{{"the sandbox", res.modes, false}, {"canned answers", res.canned, true}} {
		for i := 0; i < len(run.set); i += 2 {
			d, h := run.set[i], run.set[i+1]
			// Paired: each round ran the two back to back, so their difference is
			// little affected by the machine's slower and faster moments.
			over := pairedOver(d, h)
			view := strings.SplitN(h.name, ":", 2)[0]
			if run.judged {
				targets = append(targets, fmt.Sprintf("%s, the dashboard adds under 2 ms at p50 over the API calls it makes: %s (%s; with the sandbox answering %s)",
					view, metOrMissed(over < pageOverheadTarget), signedMs(over), signedMs(pairedOver(res.modes[i], res.modes[i+1]))))
			}
			sec.Rows = append(sec.Rows, pagesRow(view, run.by, d, h, over))
		}
	}
	coldLedger, warmLedger := res.modes[modeLedgerColdDashboard], res.modes[modeLedgerWarmDashboard]
	coldList, warmList := res.modes[modeLedgersColdDashboard], res.modes[modeLedgersWarmDashboard]
	reuse := perView(warmLedger) < perView(coldLedger) && warmList.calls == 0
	targets = append(targets, fmt.Sprintf("Repeated views within a short window reuse fresh data: %s (ledger page %.1f → %.1f upstream calls a view, ledgers list %.1f → %.1f)",
		metOrMissed(reuse), perView(coldLedger), perView(warmLedger), perView(coldList), perView(warmList)))
	sec.Targets = targets
	sec.Method = fmt.Sprintf(pagesMethod, res.total, res.rounds, res.tpDur)
	sec.Notes = "CPU profile of the repeated ledger view through the dashboard with canned answers (4 clients), top entries by flat time; " +
		"encoding/json decoding the batch page (50 batches with their model runs' calculations) dominates it on both sides, the dashboard's own " +
		"handler, middleware and templates are a few percent:\n\n```\n" + res.profileTop + "```\n"
	return sec
}

// pagesRow is one view's row: direct d against dashboard h.
func pagesRow(view, by string, d, h *pageMode, over time.Duration) []string {
	ds, hs := sortedCopy(d.samples), sortedCopy(h.samples)
	return []string{view, by,
		ms(percentile(ds, 50)) + " · " + ms(percentile(ds, 90)), ms(percentile(hs, 50)) + " · " + ms(percentile(hs, 90)),
		"**" + signedMs(over) + "**",
		fmt.Sprintf("%.1f · %.1f", perView(d), perView(h)), fmt.Sprintf("%.0f/s · %.0f/s", d.rps, h.rps)}
}

// pagesMethod is the section's method; its verbs take Net Carbon Removal's
// batches, the rounds and the throughput duration.
const pagesMethod = `
The dashboard runs on a fresh sandbox in the same process (server-wide token; the sandbox's quota
and the client's limiter raised so the 1,000-a-minute limit does not pace the measurement). A
synthetic data set and one generation give Net Carbon Removal %d batches; the ledger page shows 50
of them (page_size=50), with the chart of the 200 most recent. "Direct" makes the calls the
dashboard makes for that view, through the same typed client (so JSON decoding is on both sides)
and with the same concurrency: for a first view of the ledger page, the ledger, its required
inputs and the batch page at once, then the chart's two pages of 100; for a repeated view, the
batch page alone (the dashboard keeps the rest for a short while: ledger metadata 10 s per token hash,
the chart 30 s, both forgotten when a generation is confirmed). A first view through the dashboard
is forced by clearing those caches before the request (app.App.ClearCaches).

Each row's pair is measured %d times, one request at a time, all rows interleaved round by round,
so each dashboard request runs right after its direct twin: the overhead is the median of those
paired differences (a small negative figure is noise around zero). Then each is run by 4 clients at
once for %s for the throughput. Upstream calls are counted where the API is served.

Two runs: first with the sandbox answering, where most of a ledger page's time is the sandbox
building 50 to 200 batches with their model runs (about 0.3 ms each here), the same on both sides
and noisy; then with **canned answers**: the sandbox's responses to the very same requests,
recorded during the warm-up and served from memory on the same address, so a view costs only
the transport, the client's decoding and, through the dashboard, the dashboard's own work. The
targets are judged on the canned run, which isolates what the dashboard adds.`

func perView(m *pageMode) float64 { return float64(m.calls) / float64(max(len(m.samples), 1)) }

func pairedOver(d, h *pageMode) time.Duration {
	diffs := make([]time.Duration, len(d.samples))
	for k := range diffs {
		diffs[k] = h.samples[k] - d.samples[k]
	}
	return percentile(sortedCopy(diffs), 50)
}

// samplePageModes takes the latency samples (one request at a time, the modes
// interleaved round by round) and the throughput (workers at a time) of modes.
func samplePageModes(ctx context.Context, profDir, label string, modes []*pageMode, counter *countingHandler, rounds int, tpDur time.Duration, workers int) error {
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
		profFile := ""
		if profDir != "" {
			profFile = filepath.Join(profDir, fmt.Sprintf("pages-%s-%d.pprof", label, i))
		}
		if err := pageThroughput(ctx, m, profFile, tpDur, workers); err != nil {
			return err
		}
	}
	return nil
}

// pageThroughput runs m with workers at a time for tpDur, under a CPU
// profile into profFile when set.
func pageThroughput(ctx context.Context, m *pageMode, profFile string, tpDur time.Duration, workers int) error {
	var prof *os.File
	if profFile != "" {
		if f, err := os.Create(profFile); err == nil {
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
