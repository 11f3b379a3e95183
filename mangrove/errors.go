package mangrove

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Sentinel errors for errors.Is. An *APIError matches the one for its status; a
// transport failure (connection refused, reset, timeout) matches ErrUnavailable.
var (
	// ErrBadRequest matches a 400 answer.
	ErrBadRequest = errors.New("mangrove: bad request")
	// ErrUnauthorized matches a 401 answer: the token is missing, wrong or revoked.
	ErrUnauthorized = errors.New("mangrove: unauthorized")
	// ErrForbidden matches a 403 answer: the token lacks a permission.
	ErrForbidden = errors.New("mangrove: forbidden")
	// ErrNotFound matches a 404 answer, and ids that cannot name a resource.
	ErrNotFound = errors.New("mangrove: not found")
	// ErrConflict matches a 409 answer.
	ErrConflict = errors.New("mangrove: conflict")
	// ErrValidation matches a 422 answer: the API refused the parameters.
	ErrValidation = errors.New("mangrove: validation failed")
	// ErrRateLimited matches a 429 answer, and a wait for the rate limit that the
	// caller's context cut short.
	ErrRateLimited = errors.New("mangrove: rate limited")
	// ErrUnavailable matches any 5xx answer and transport failures.
	ErrUnavailable = errors.New("mangrove: service unavailable")
	// ErrTooManyPages is returned (with the items read so far) when paging through a list
	// does not end within the client's page cap.
	ErrTooManyPages = errors.New("mangrove: too many pages")
)

// APIError is an error status answered by the API. Its text never contains the token.
type APIError struct {
	Status     int           // HTTP status code
	Message    string        // from the body (message, errors[0].message, error), else the status text
	Method     string        // request method
	Path       string        // request path relative to the base URL, escaped, without query
	RetryAfter time.Duration // from Retry-After, 0 when absent
	RequestID  string        // X-Request-Id of the response, else the one sent
}

// Error returns e.g. "mangrove: POST /ledgers/lgr_x/batch_generations: 422: End time
// must be after start time".
func (e *APIError) Error() string {
	if e.Method == "" && e.Path == "" {
		return fmt.Sprintf("mangrove: %d: %s", e.Status, e.Message)
	}
	return fmt.Sprintf("mangrove: %s %s: %d: %s", e.Method, e.Path, e.Status, e.Message)
}

// Is maps the status to the package's sentinel errors.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrBadRequest:
		return e.Status == http.StatusBadRequest
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized
	case ErrForbidden:
		return e.Status == http.StatusForbidden
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrConflict:
		return e.Status == http.StatusConflict
	case ErrValidation:
		return e.Status == http.StatusUnprocessableEntity
	case ErrRateLimited:
		return e.Status == http.StatusTooManyRequests
	case ErrUnavailable:
		return e.Status >= 500 && e.Status <= 599
	}
	return false
}

// IsUnknownOutcome reports whether err leaves open if a non-idempotent request (a POST
// such as StartGeneration) took effect: the request may have reached the server but no
// usable answer came back (timeout or connection reset after sending, a success whose
// body could not be read, or a 502/504 from a gateway in front of the API). The
// dashboard must then not offer a blind retry: it could generate batches twice. False
// for GET requests and for failures that prove nothing was sent (connection refused).
func IsUnknownOutcome(err error) bool {
	var ce *callError
	if errors.As(err, &ce) {
		return ce.unknownOutcome
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return !idempotentMethod(ae.Method) && (ae.Status == http.StatusBadGateway || ae.Status == http.StatusGatewayTimeout)
	}
	return false
}

// Describe says in a few words why a call to the API failed, for messages shown to users
// and written to logs: "status 503" for an API answer, "timed out", "cancelled", else
// "connection failed"; "" for a nil error. It never includes the error's own text, which
// can carry a URL with a token in its query or whatever the server chose to put in an
// error body. Wrapped errors are recognised.
func Describe(err error) string {
	var apiErr *APIError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &apiErr) && apiErr != nil: // a typed nil *APIError must not panic
		return "status " + strconv.Itoa(apiErr.Status)
	// net/http's own timeouts (Client.Timeout, dial and response-header timeouts) match
	// context.DeadlineExceeded too.
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	// The caller gave up (a closed browser tab, a shutdown): not the API's fault, and
	// "connection failed" would send an operator looking for a network problem.
	case errors.Is(err, context.Canceled):
		return "cancelled"
	default:
		return "connection failed"
	}
}

// opRateLimitWait names the wait for a request slot in error messages.
const opRateLimitWait = "wait for rate limit"

// callError is a failure without an API answer: transport errors, unreadable or
// undecodable responses, and waits cut short by the caller's context.
type callError struct {
	method, path   string
	op             string // what failed, when not the round trip itself
	err            error
	sentinel       error // ErrUnavailable or ErrRateLimited, matched by errors.Is
	retryable      bool  // worth another attempt if the request is idempotent
	unknownOutcome bool
}

func (e *callError) Error() string {
	var b strings.Builder
	b.WriteString("mangrove: ")
	b.WriteString(e.method)
	b.WriteString(" ")
	b.WriteString(e.path)
	b.WriteString(": ")
	if e.op != "" {
		b.WriteString(e.op)
		b.WriteString(": ")
	}
	// Bare "EOF" or "context deadline exceeded" tell an operator little; say what
	// happened first.
	switch {
	case errors.Is(e.err, io.EOF), errors.Is(e.err, io.ErrUnexpectedEOF):
		b.WriteString("connection closed before a complete response: ")
	case errors.Is(e.err, context.DeadlineExceeded) && e.op != opRateLimitWait:
		b.WriteString("timed out: ")
	}
	// url.Error repeats the full URL; method and path are already in the message.
	var ue *url.Error
	if errors.As(e.err, &ue) && ue.Err != nil {
		b.WriteString(ue.Err.Error())
	} else {
		b.WriteString(e.err.Error())
	}
	return b.String()
}

func (e *callError) Unwrap() []error {
	if e.sentinel != nil {
		return []error{e.sentinel, e.err}
	}
	return []error{e.err}
}

// unavailableUnlessCanceled classifies a transport failure: the caller giving up is not
// the service being unavailable, every other failure (timeouts included) is.
func unavailableUnlessCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return ErrUnavailable
}

// maxMessageRunes caps error messages taken from response bodies: they end up in logs
// and on error pages.
const maxMessageRunes = 300

// errorBody holds the error fields the API is known to use: "message" (the documented
// general shape), "errors": [{"message"}] (report submission's 422), and "error" (as a
// string or an object) from other servers and proxies.
type errorBody struct {
	Message json.RawMessage `json:"message"`
	Errors  json.RawMessage `json:"errors"`
	Error   json.RawMessage `json:"error"`
}

// parseErrorBody extracts a one-line, human-readable message from an error response.
// It never fails: without anything usable it returns the status text.
func parseErrorBody(status int, contentType string, body []byte) string {
	trimmed := strings.TrimSpace(string(body))
	if json.Valid([]byte(trimmed)) {
		if msg := jsonErrorMessage([]byte(trimmed)); msg != "" {
			return msg
		}
		return statusText(status)
	}
	// An HTML error page (from a proxy, typically) is noise on an error page of our own.
	if strings.HasPrefix(trimmed, "<") || strings.Contains(strings.ToLower(contentType), "html") {
		return statusText(status)
	}
	if msg := cleanMessage(trimmed); msg != "" {
		return msg
	}
	return statusText(status)
}

func jsonErrorMessage(body []byte) string {
	var s string
	if json.Unmarshal(body, &s) == nil {
		return cleanMessage(s)
	}
	var eb errorBody
	if json.Unmarshal(body, &eb) != nil {
		return ""
	}
	if msg := cleanMessage(jsonString(eb.Message)); msg != "" {
		return msg
	}
	var list []json.RawMessage
	if json.Unmarshal(eb.Errors, &list) == nil && len(list) > 0 {
		if msg := messageOf(list[0]); msg != "" {
			return msg
		}
	}
	return messageOf(eb.Error)
}

// messageOf reads a JSON string, or the "message" string of a JSON object.
func messageOf(raw json.RawMessage) string {
	if msg := cleanMessage(jsonString(raw)); msg != "" {
		return msg
	}
	var obj struct {
		Message json.RawMessage `json:"message"`
	}
	if json.Unmarshal(raw, &obj) == nil {
		return cleanMessage(jsonString(obj.Message))
	}
	return ""
}

func jsonString(raw json.RawMessage) string {
	var s string
	if len(raw) == 0 || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// cleanMessage makes server text safe to log and show: valid UTF-8, one line, no
// control or invisible formatting characters (which could forge log lines or reorder
// text), runs of spaces collapsed, at most maxMessageRunes runes.
func cleanMessage(s string) string {
	var b strings.Builder
	n, pendingSpace, truncated := 0, false, false
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			pendingSpace = true
			continue
		}
		if unicode.Is(unicode.Cf, r) {
			continue
		}
		need := 1
		if pendingSpace && n > 0 {
			need = 2
		}
		if n+need > maxMessageRunes {
			truncated = true
			break
		}
		if need == 2 {
			b.WriteByte(' ')
			n++
		}
		pendingSpace = false
		b.WriteRune(r)
		n++
	}
	if !truncated {
		return b.String()
	}
	// Mark the cut so a reader knows the message goes on.
	r := []rune(b.String())
	if len(r) >= maxMessageRunes {
		r = r[:maxMessageRunes-1]
	}
	return strings.TrimRight(string(r), " ") + "…"
}

func statusText(status int) string {
	if t := http.StatusText(status); t != "" {
		return t
	}
	return fmt.Sprintf("HTTP status %d", status)
}
