package metrics

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// UpstreamTransport wraps next (http.DefaultTransport when nil) so every
// request to the Mangrove API is counted and timed by endpoint template.
// baseURL is the client's API root, e.g. "https://…/api/v1": its path is
// stripped before templating. A nil *Metrics returns next unchanged.
func (m *Metrics) UpstreamTransport(next http.RoundTripper, baseURL string) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	if m == nil {
		return next
	}
	prefix := ""
	if u, err := url.Parse(baseURL); err == nil {
		prefix = strings.TrimRight(u.Path, "/")
	}
	return &transport{m: m, next: next, prefix: prefix}
}

type transport struct {
	m      *Metrics
	next   http.RoundTripper
	prefix string
}

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	endpoint := Endpoint(strings.TrimPrefix(r.URL.Path, t.prefix))
	start := time.Now()
	resp, err := t.next.RoundTrip(r)
	status := "error"
	if err == nil {
		status = strconv.Itoa(resp.StatusCode)
	}
	t.m.observeUpstream(endpoint, r.Method, status, time.Since(start))
	return resp, err
}

// resources are the collection names of the Mangrove API v1. A path is
// templated as collection/{id}/collection/{id}…; anything else becomes
// "other", so label values stay few whatever the URL holds.
var resources = map[string]bool{
	"ledgers": true, "batches": true, "async_tasks": true, "projects": true,
	"required_inputs": true, "generate_preview": true, "batch_generations": true,
	"data_points": true, "events": true, "event_types": true, "feedstocks": true,
	"models": true, "reports": true, "exports": true, "orders": true,
	"locations": true, "tracking_units": true, "update_inputs": true,
	"rule_results": true, "bulk_dismiss": true, "submit": true,
}

// Endpoint turns an API path relative to the base URL into its template:
// "/ledgers/lgr_1/batches" → "/ledgers/{id}/batches", "/async_tasks/7" →
// "/async_tasks/{id}". Unknown shapes give "other".
func Endpoint(path string) string {
	path = strings.Trim(path, "/")
	if path == "" {
		return "other"
	}
	segs := strings.Split(path, "/")
	if len(segs) > 6 {
		return "other"
	}
	var b strings.Builder
	for i, s := range segs {
		b.WriteByte('/')
		if i%2 == 1 {
			if s == "" {
				return "other"
			}
			b.WriteString("{id}")
			continue
		}
		if !resources[s] {
			return "other"
		}
		b.WriteString(s)
	}
	return b.String()
}
