// Package checkapi checks a Mangrove API against what the dashboard relies
// on, with GET requests only: each endpoint and field the dashboard reads
// (present, missing, wrong type) and each behaviour it assumes (holds, does
// not hold, could not tell). It is what `mangrove-dashboard -check-api`
// runs before the dashboard is pointed at a real account.
package checkapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// Options configure a check run.
type Options struct {
	BaseURL string // the API root with its version, e.g. https://app.gomangrove.com/api/v1
	Token   string
	// TaskID is an async task to read (GET /async_tasks/{id}); 0 skips it,
	// as there is no documented way to list tasks.
	TaskID int64
	// Transport carries the requests (http.DefaultTransport when nil); the
	// checker wraps it so that only GETs are sent.
	Transport http.RoundTripper
	// Timeout bounds each request (default 20s).
	Timeout time.Duration
}

const (
	defaultTimeout = 20 * time.Second
	maxBody        = 10 << 20
	// bigPage is the page size the dashboard asks for when it reads a list
	// whole (mangrove's allPageSize, the chart's and the event readers').
	bigPage = 100
	// ledgersTried bounds the ledgers whose batches are read to find some.
	ledgersTried = 4
)

// Run makes the checks and returns the report; it fails only when ctx ends.
// Only GET requests leave it: its transport refuses any other method.
func Run(ctx context.Context, opts Options) (*Report, error) {
	hc, ro := newReadOnlyClient(opts.Transport)
	if opts.Timeout <= 0 {
		opts.Timeout = defaultTimeout
	}
	hc.Timeout = opts.Timeout
	c := &checker{
		base:  strings.TrimRight(opts.BaseURL, "/"),
		token: opts.Token,
		http:  hc,
		api: mangrove.NewClient(opts.BaseURL, mangrove.WithHTTPClient(hc),
			mangrove.WithTimeout(opts.Timeout), mangrove.WithRetry(2, 200*time.Millisecond, 2*time.Second),
			mangrove.WithUserAgent("mangrove-dashboard-check-api/1")),
		rep: &Report{BaseURL: opts.BaseURL},
	}
	c.run(ctx, opts)
	c.rep.Requests = int(ro.sent.Load())
	if err := ctx.Err(); err != nil {
		return c.rep, err
	}
	return c.rep, nil
}

// checker holds a run's state.
type checker struct {
	base, token string
	http        *http.Client
	api         *mangrove.Client
	rep         *Report
	firstHeader http.Header // of the first answer, for the rate-limit rows
}

func (c *checker) run(ctx context.Context, opts Options) {
	ledger := c.checkLedgers(ctx)
	c.checkBatches(ctx, ledger)
	c.checkProjects(ctx)
	c.checkOwners(ctx)
	c.checkTask(ctx, opts.TaskID)
	c.checkHeaders(c.firstHeader)
}

// answer is one GET's outcome; body is decoded with UseNumber.
type answer struct {
	status int
	header http.Header
	body   any
	err    error // no answer, or one that is not JSON
}

// ok says whether the answer is a 200 with a JSON body.
func (a *answer) ok() bool { return a.err == nil && a.status == http.StatusOK }

// problem says what is wrong with an answer that is not ok.
func (a *answer) problem() string {
	if a.err != nil {
		return a.err.Error()
	}
	msg := stringValue(object(a.body)["message"])
	if msg == "" {
		if errs, _ := object(a.body)["errors"].([]any); len(errs) > 0 {
			msg = stringValue(object(errs[0])["message"])
		}
	}
	return strings.TrimSpace(fmt.Sprintf("HTTP %d %s", a.status, msg))
}

// get sends one GET of path (below the base URL) with query q.
func (c *checker) get(ctx context.Context, path string, q url.Values) *answer {
	target := c.base + path
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return &answer{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "mangrove-dashboard-check-api/1")
	resp, err := c.http.Do(req)
	if err != nil {
		return &answer{err: err}
	}
	defer resp.Body.Close()
	a := &answer{status: resp.StatusCode, header: resp.Header}
	if c.firstHeader == nil {
		c.firstHeader = resp.Header
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		a.err = fmt.Errorf("reading the answer: %w", err)
		return a
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&a.body); err != nil {
		a.err = fmt.Errorf("HTTP %d, not JSON: %q", resp.StatusCode, clip(string(raw), 80))
	}
	return a
}

// add appends a row.
func (c *checker) add(endpoint, check string, basis Basis, needed bool, st Status, note string) {
	c.rep.Rows = append(c.rep.Rows, Row{Endpoint: endpoint, Check: check, Basis: basis, Needed: needed, Status: st, Note: note})
}

// addVerdict appends a row for a behaviour.
func (c *checker) addVerdict(endpoint, check string, basis Basis, needed bool, v Verdict) {
	c.add(endpoint, check, basis, needed, v.Status, v.Note)
}

// reachable adds the row saying whether the endpoint answered (note says
// what was asked), and reports it.
func (c *checker) reachable(endpoint string, a *answer, needed bool, note string) bool {
	if a.ok() {
		c.add(endpoint, answers, Documented, needed, Present, note)
		return true
	}
	if note != "" {
		note = " (" + note + ")"
	}
	c.add(endpoint, answers, Documented, needed, Missing, a.problem()+note)
	return false
}

// answers is the check of an endpoint's answering at all.
const answers = "answers 200 with JSON"

// plural is n with noun, in the plural unless n is 1.
func plural(n int, noun string) string {
	switch {
	case n == 1:
		return "1 " + noun
	case strings.HasSuffix(noun, "ch"):
		return fmt.Sprintf("%d %ses", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// fields adds a row per field, judged over docs. A value of another type
// fails the client's decoding of the whole answer, so it is needed too.
func (c *checker) fields(endpoint, prefix string, fields []Field, docs ...any) {
	c.fieldRows(endpoint, prefix, true, fields, docs...)
}

// fieldRows is fields; fatalBreaks false is for answers whose decoding
// failure the dashboard copes with (it says "unknown").
func (c *checker) fieldRows(endpoint, prefix string, fatalBreaks bool, fields []Field, docs ...any) {
	for _, f := range fields {
		v := JudgeField(f, docs...)
		c.add(endpoint, prefix+f.Path, f.Basis, f.Needed || (fatalBreaks && v.Fatal), v.Status, v.Note)
	}
}

// untold adds could-not-tell rows for checks a failed call kept from running.
func (c *checker) untold(endpoint, why string, checks ...string) {
	for _, ch := range checks {
		c.add(endpoint, ch, Documented, false, CouldNotTell, why)
	}
}

// decodes adds the row saying whether the dashboard's own client reads the
// endpoint's answer: the sum of every type check, in the client's terms.
func (c *checker) decodes(endpoint string, needed bool, err error) {
	if err != nil {
		c.add(endpoint, "the dashboard's client reads it", Documented, needed, DoesNotHold, err.Error())
		return
	}
	c.add(endpoint, "the dashboard's client reads it", Documented, needed, Holds, "")
}

// checkHeaders looks at the rate-limit headers of the first answer (2.7).
func (c *checker) checkHeaders(h http.Header) {
	for _, name := range []string{"RateLimit-Remaining", "RateLimit-Limit", "RateLimit-Reset"} {
		if h == nil {
			c.add("headers", name+" sent", Documented, false, CouldNotTell, "no answer came back")
			continue
		}
		v := h.Get(name)
		if v == "" {
			c.add("headers", name+" sent", Documented, false, DoesNotHold,
				"the client paces itself by its own count of 1,000 a minute")
			continue
		}
		c.add("headers", name+" sent", Documented, false, Holds, name+": "+v)
	}
}

func pageQuery(page, size int, sort string) url.Values {
	q := url.Values{}
	q.Set("page", fmt.Sprint(page))
	q.Set("page_size", fmt.Sprint(size))
	if sort != "" {
		q.Set("sort", sort)
	}
	return q
}
