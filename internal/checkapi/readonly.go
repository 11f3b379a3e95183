package checkapi

import (
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
)

// ErrNotRead is the error of a request the checker refused to send: it only
// reads.
var ErrNotRead = errors.New("checkapi: only GET requests may leave the checker")

// readOnly is a RoundTripper that sends GET requests and refuses every
// other method before anything is sent, so no generation, preview or edit
// can start, whatever a check (or a bug in one) asks for.
type readOnly struct {
	next http.RoundTripper
	sent atomic.Int64
}

// RoundTrip sends r if it is a GET.
func (t *readOnly) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodGet {
		if r.Body != nil {
			r.Body.Close() // a RoundTripper must close the body, even on error
		}
		return nil, fmt.Errorf("%w: refused %s %s", ErrNotRead, r.Method, r.URL.Path)
	}
	t.sent.Add(1)
	return t.next.RoundTrip(r)
}

// newReadOnlyClient is an HTTP client over next (http.DefaultTransport when
// nil) that only sends GETs; redirects go through the same transport.
func newReadOnlyClient(next http.RoundTripper) (*http.Client, *readOnly) {
	if next == nil {
		next = http.DefaultTransport
	}
	t := &readOnly{next: next}
	return &http.Client{Transport: t}, t
}
