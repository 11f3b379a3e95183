// Package mangrove is a typed client for the Mangrove API v1, the production-accounting
// service whose ledgers, batches and batch generations the dashboard shows and drives.
//
// Every call takes the caller's context first and the caller's API token second: each
// dashboard user has their own token, so the client holds no credentials of its own and
// keeps rate-limit state per token. GET requests are retried on 429, 502, 503, 504 and
// connection failures; POST requests are never retried, because a second
// batch_generations call could generate batches twice.
package mangrove

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// DefaultUserAgent is the User-Agent header sent unless WithUserAgent sets another.
const DefaultUserAgent = "mangrove-dashboard/1 (+batch generation dashboard)"

const (
	defaultTimeout     = 15 * time.Second
	defaultMaxAttempts = 4
	defaultRetryBase   = 200 * time.Millisecond
	defaultRetryMax    = 5 * time.Second

	// DefaultRateLimit is the documented default quota of the API: requests per minute per token.
	DefaultRateLimit = 1000

	// maxResponseBytes bounds what one response may make the client hold in memory; the
	// largest documented answers are pages of batches, far below this.
	maxResponseBytes = 10 << 20
)

// Client talks to one Mangrove API v1 base URL. It is safe for concurrent use by many
// goroutines and many tokens; build one per process and share it.
type Client struct {
	baseURL    string
	httpClient *http.Client
	userAgent  string
	timeout    time.Duration
	retry      retryPolicy
	perMinute  int
	requestID  func(context.Context) string
	limits     *limiterSet

	// sleep waits between retries; tests replace it to observe the chosen delays.
	sleep func(ctx context.Context, d time.Duration) error
}

// Option configures a Client in NewClient.
type Option func(*Client)

// NewClient returns a client for baseURL, the API root including the version, for
// example "http://127.0.0.1:8081/api/v1". A trailing slash is ignored.
func NewClient(baseURL string, opts ...Option) *Client {
	c := &Client{
		baseURL:    strings.TrimRight(baseURL, "/"),
		httpClient: &http.Client{},
		userAgent:  DefaultUserAgent,
		timeout:    defaultTimeout,
		retry:      retryPolicy{maxAttempts: defaultMaxAttempts, base: defaultRetryBase, max: defaultRetryMax},
		perMinute:  DefaultRateLimit,
		sleep:      sleepCtx,
	}
	for _, opt := range opts {
		if opt != nil {
			opt(c)
		}
	}
	c.limits = newLimiterSet(c.perMinute)
	return c
}

// WithHTTPClient makes the client send requests through hc (for its transport, proxy or
// TLS settings). A nil hc is ignored. Per-attempt timeouts come from WithTimeout, so hc
// need not set its own Timeout.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.httpClient = hc
		}
	}
}

// WithUserAgent sets the User-Agent header. An empty string keeps the default.
func WithUserAgent(ua string) Option {
	return func(c *Client) {
		if ua != "" {
			c.userAgent = ua
		}
	}
}

// WithTimeout bounds each attempt, from sending the request to reading the whole
// response (default 15s). A value <= 0 removes the bound; the caller's context still applies.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) { c.timeout = d }
}

// WithRetry sets how GET requests are retried: at most maxAttempts attempts in all
// (values below 1 mean 1, that is no retry), waiting a random duration up to
// base*2^(n-1), capped at max, before retry n (full jitter). Retry-After is honoured up
// to max. Defaults: 4 attempts, 200ms, 5s.
func WithRetry(maxAttempts int, base, max time.Duration) Option {
	return func(c *Client) {
		c.retry = newRetryPolicy(maxAttempts, base, max)
	}
}

// WithRateLimit sets the client-side limit in requests per minute, applied per token
// (default 1000, the API's documented quota). A value <= 0 disables the client-side
// limiter; RateLimit-Remaining: 0 from the server is still honoured.
func WithRateLimit(perMinute int) Option {
	return func(c *Client) { c.perMinute = perMinute }
}

// WithRequestIDFunc makes the client send f(ctx) as the X-Request-Id header when it is
// non-empty, so the API's logs can be matched with the dashboard's.
func WithRequestIDFunc(f func(context.Context) string) Option {
	return func(c *Client) { c.requestID = f }
}

// call describes one API request: the path is already escaped and relative to the base URL.
type call struct {
	method string
	path   string
	query  url.Values
	body   any
}

// idempotent reports whether the request may be sent again after a failure.
func (r call) idempotent() bool { return idempotentMethod(r.method) }

func idempotentMethod(m string) bool { return m == http.MethodGet || m == http.MethodHead }

// response is what one attempt got back.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends r with token, retrying idempotent requests, and returns the body of a 2xx
// answer. Every failure comes back as *APIError (the API answered with an error status)
// or *callError (no usable answer).
func (c *Client) do(ctx context.Context, token string, r call) ([]byte, error) {
	var payload []byte
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return nil, fmt.Errorf("mangrove: %s %s: encode request: %w", r.method, r.path, err)
		}
		payload = b
	}
	lim := c.limits.get(token)
	reqID := c.outgoingRequestID(ctx)
	maxAttempts := 1
	if r.idempotent() {
		maxAttempts = c.retry.maxAttempts
	}
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			// Cancelled before any wait: not a rate-limit problem.
			return nil, &callError{method: r.method, path: r.path, err: err}
		}
		if err := lim.wait(ctx); err != nil {
			return nil, &callError{method: r.method, path: r.path, op: opRateLimitWait, err: err, sentinel: ErrRateLimited}
		}
		res, err := c.send(ctx, token, reqID, r, payload)
		if res != nil {
			lim.observe(res.header, time.Now())
		}
		if err == nil {
			if is2xx(res.status) {
				return res.body, nil
			}
			err = apiError(r, res, token, reqID)
		}
		if attempt >= maxAttempts || !retryable(ctx, err) {
			return nil, err
		}
		if serr := c.sleep(ctx, c.retry.delay(attempt, err)); serr != nil {
			// Keep the upstream failure as the main error: it says what went wrong,
			// the context error only says why the client stopped trying.
			return nil, fmt.Errorf("%w (retry abandoned: %w)", err, serr)
		}
	}
}

// send makes one attempt. A non-nil response may come with an error when the headers
// arrived but the body could not be read.
func (c *Client) send(ctx context.Context, token, reqID string, r call, payload []byte) (*response, error) {
	actx, cancel := ctx, context.CancelFunc(func() {})
	if c.timeout > 0 {
		actx, cancel = context.WithTimeout(ctx, c.timeout)
	}
	defer cancel()
	tr := &attemptTrace{}
	actx = httptrace.WithClientTrace(actx, tr.hooks())

	target := c.baseURL + r.path
	if len(r.query) > 0 {
		target += "?" + r.query.Encode()
	}
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(actx, r.method, target, body)
	if err != nil {
		return nil, fmt.Errorf("mangrove: %s %s: build request: %w", r.method, r.path, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if reqID != "" {
		req.Header.Set("X-Request-Id", reqID)
	}

	resp, err := c.httpClient.Do(req)
	if err != nil {
		return nil, &callError{
			method: r.method, path: r.path, err: err,
			sentinel:       unavailableUnlessCanceled(err),
			retryable:      true,
			unknownOutcome: !r.idempotent() && !tr.provablyNotSent(err),
		}
	}
	defer resp.Body.Close()
	res := &response{status: resp.StatusCode, header: resp.Header}
	res.body, err = io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return res, &callError{
			method: r.method, path: r.path, op: "read response", err: err,
			sentinel:  unavailableUnlessCanceled(err),
			retryable: true,
			// Only a success we failed to read leaves the outcome open: an error status
			// already says the request did not take effect.
			unknownOutcome: !r.idempotent() && is2xx(res.status),
		}
	}
	if len(res.body) > maxResponseBytes {
		return res, &callError{
			method: r.method, path: r.path, op: "read response",
			err:            fmt.Errorf("body larger than %d bytes", maxResponseBytes),
			unknownOutcome: !r.idempotent() && is2xx(res.status),
		}
	}
	return res, nil
}

func is2xx(status int) bool { return status >= 200 && status <= 299 }

// outgoingRequestID returns the X-Request-Id to send, dropping values net/http would
// reject as a header (a malformed id must not turn into a failed request).
func (c *Client) outgoingRequestID(ctx context.Context) string {
	if c.requestID == nil {
		return ""
	}
	id := c.requestID(ctx)
	if len(id) > 200 {
		return ""
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x20 || id[i] == 0x7f {
			return ""
		}
	}
	return id
}

// apiError turns an error status into *APIError.
func apiError(r call, res *response, token, reqID string) *APIError {
	e := &APIError{
		Status:     res.status,
		Message:    redact(parseErrorBody(res.status, res.header.Get("Content-Type"), res.body), token),
		Method:     r.method,
		Path:       r.path,
		RetryAfter: parseRetryAfter(res.header.Get("Retry-After"), time.Now()),
		RequestID:  res.header.Get("X-Request-Id"),
	}
	if e.RequestID == "" {
		e.RequestID = reqID
	}
	return e
}

// redact removes the token from text that came from the server, in case an error
// message echoes the credential back. Very short tokens are left alone: replacing every
// occurrence of one or two characters would garble the message and protect nothing.
func redact(s, token string) string {
	if len(token) < 4 {
		return s
	}
	return strings.ReplaceAll(s, token, "[redacted]")
}

// attemptTrace records how far one attempt got, to tell a request that never left the
// client from one the server may have received.
type attemptTrace struct {
	getConn, gotConn, wrote, writeFailed atomic.Bool
}

func (t *attemptTrace) hooks() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GetConn: func(string) { t.getConn.Store(true) },
		GotConn: func(httptrace.GotConnInfo) { t.gotConn.Store(true) },
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err != nil {
				t.writeFailed.Store(true)
			} else {
				t.wrote.Store(true)
			}
		},
	}
}

// provablyNotSent reports whether err shows the server cannot have received the whole
// request. Without proof (a transport that reports no trace events, say) the answer is
// false, so that callers treat the outcome as unknown rather than safe to repeat.
func (t *attemptTrace) provablyNotSent(err error) bool {
	if t.wrote.Load() {
		return false
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return true
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return true
	}
	return (t.getConn.Load() && !t.gotConn.Load()) || t.writeFailed.Load()
}

// pathSegment escapes one user-supplied id for use in a path. Empty, "." and ".." are
// refused: they would address another resource (GET /ledgers/ is the list).
func pathSegment(kind, id string) (string, error) {
	if id == "" || id == "." || id == ".." {
		return "", fmt.Errorf("mangrove: invalid %s id %q: %w", kind, id, ErrNotFound)
	}
	return url.PathEscape(id), nil
}

// getObject fetches one object, bare or wrapped in {"data": ...}.
func getObject[T any](ctx context.Context, c *Client, token string, r call) (*T, error) {
	body, err := c.do(ctx, token, r)
	if err != nil {
		return nil, err
	}
	v, err := decodeObject[T](body)
	if err != nil {
		return nil, r.decodeError(err)
	}
	return v, nil
}

// getList fetches a list envelope; an absent info stays nil.
func getList[T any](ctx context.Context, c *Client, token string, r call) (*List[T], error) {
	body, err := c.do(ctx, token, r)
	if err != nil {
		return nil, err
	}
	l, err := decodeList[T](body)
	if err != nil {
		return nil, r.decodeError(err)
	}
	return l, nil
}

// decodeError reports a 2xx answer that could not be decoded. For a POST the server has
// acted, so the outcome is unknown to the caller.
func (r call) decodeError(err error) error {
	return &callError{method: r.method, path: r.path, op: "decode response", err: err, unknownOutcome: !r.idempotent()}
}
