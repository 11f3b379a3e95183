package mangrove

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const testToken = "tok-secret-0123456789"

func ptr[T any](v T) *T { return &v }

// ts parses an RFC 3339 time or fails the test binary: it is only used on literals.
func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testServer runs handler behind the API's path prefix and counts requests.
type testServer struct {
	*httptest.Server
	hits atomic.Int32
}

func newTestServer(t *testing.T, handler http.HandlerFunc) *testServer {
	t.Helper()
	s := &testServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		handler(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *testServer) baseURL() string { return s.URL + "/api/v1" }

// newTestClient returns a client for srv with fast retries and no client-side rate
// limit, plus the delays it chose between retries. Keep-alives are off so that each
// attempt is exactly one server hit (net/http may resend idempotent requests on a
// reused connection by itself).
func newTestClient(t *testing.T, baseURL string, opts ...Option) (*Client, *delayLog) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	t.Cleanup(hc.CloseIdleConnections)
	all := append([]Option{WithHTTPClient(hc), WithRetry(4, time.Millisecond, 5*time.Millisecond), WithRateLimit(0)}, opts...)
	c := NewClient(baseURL, all...)
	log := &delayLog{}
	c.sleep = log.sleep
	return c, log
}

// delayLog records retry delays instead of sleeping them.
type delayLog struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (l *delayLog) sleep(ctx context.Context, d time.Duration) error {
	l.mu.Lock()
	l.delays = append(l.delays, d)
	l.mu.Unlock()
	return ctx.Err()
}

func (l *delayLog) get() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Duration(nil), l.delays...)
}

// roundTripFunc is a fake transport for tests that need no server.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func fakeResponse(status int, body string, header ...string) *http.Response {
	h := http.Header{"Content-Type": {"application/json"}}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	return &http.Response{StatusCode: status, Header: h, Body: ioNopCloser(body)}
}

type nopCloser struct{ *strings.Reader }

func (nopCloser) Close() error { return nil }

func ioNopCloser(s string) nopCloser { return nopCloser{strings.NewReader(s)} }

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

// dropConnection closes the connection without answering, as a crashed server or a
// reset by a proxy would.
func dropConnection(t *testing.T, w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return
	}
	conn.Close()
}

// assertEqual compares got and want field by field and reports every differing path.
// Unlike reflect.DeepEqual it names the field, compares times with Equal and JSON by
// content, and it tells nil from empty slices (absent from []).
func assertEqual(t *testing.T, got, want any) {
	t.Helper()
	var diffs []string
	compareValues(reflect.ValueOf(got), reflect.ValueOf(want), "", &diffs)
	for _, d := range diffs {
		t.Error(d)
	}
}

var (
	rawMessageType = reflect.TypeFor[json.RawMessage]()
	timeType       = reflect.TypeFor[time.Time]()
)

func compareValues(got, want reflect.Value, path string, diffs *[]string) {
	if !got.IsValid() || !want.IsValid() {
		if got.IsValid() != want.IsValid() {
			*diffs = append(*diffs, fmt.Sprintf("%s: got valid=%v, want valid=%v", path, got.IsValid(), want.IsValid()))
		}
		return
	}
	if got.Type() != want.Type() {
		*diffs = append(*diffs, fmt.Sprintf("%s: got type %s, want %s", path, got.Type(), want.Type()))
		return
	}
	switch got.Type() {
	case rawMessageType:
		g, w := got.Bytes(), want.Bytes()
		if (g == nil) != (w == nil) || !jsonEqual(g, w) {
			*diffs = append(*diffs, fmt.Sprintf("%s: got %s, want %s", path, showRaw(g), showRaw(w)))
		}
		return
	case timeType:
		if g, w := got.Interface().(time.Time), want.Interface().(time.Time); !g.Equal(w) {
			*diffs = append(*diffs, fmt.Sprintf("%s: got %s, want %s", path, g, w))
		}
		return
	}
	switch got.Kind() {
	case reflect.Pointer:
		if got.IsNil() || want.IsNil() {
			if got.IsNil() != want.IsNil() {
				*diffs = append(*diffs, fmt.Sprintf("%s: got nil=%v, want nil=%v", path, got.IsNil(), want.IsNil()))
			}
			return
		}
		compareValues(got.Elem(), want.Elem(), path, diffs)
	case reflect.Struct:
		for i := range got.NumField() {
			compareValues(got.Field(i), want.Field(i), path+"."+got.Type().Field(i).Name, diffs)
		}
	case reflect.Slice:
		if got.IsNil() != want.IsNil() || got.Len() != want.Len() {
			*diffs = append(*diffs, fmt.Sprintf("%s: got len %d (nil=%v), want len %d (nil=%v)", path, got.Len(), got.IsNil(), want.Len(), want.IsNil()))
			return
		}
		for i := range got.Len() {
			compareValues(got.Index(i), want.Index(i), fmt.Sprintf("%s[%d]", path, i), diffs)
		}
	default:
		if !reflect.DeepEqual(got.Interface(), want.Interface()) {
			*diffs = append(*diffs, fmt.Sprintf("%s: got %#v, want %#v", path, got.Interface(), want.Interface()))
		}
	}
}

// jsonEqual compares JSON documents by value, so key order and spacing do not matter.
func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(x, y)
}

func showRaw(b []byte) string {
	if b == nil {
		return "<nil>"
	}
	return string(b)
}

// walkObjects visits every JSON object in v that decodes into a struct of type t,
// following struct fields, pointers and slices by their json names. Objects held in
// json.RawMessage are not visited: they keep whatever the API sent.
func walkObjects(t reflect.Type, v any, path string, visit func(obj map[string]any, fields map[string]reflect.Type, path string)) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == rawMessageType || t == timeType {
		return
	}
	switch x := v.(type) {
	case map[string]any:
		if t.Kind() != reflect.Struct {
			return
		}
		fields := map[string]reflect.Type{}
		// VisibleFields includes the fields promoted from embedded structs (BatchDetail
		// embeds Batch) and leaves out the ones a shallower field shadows.
		for _, f := range reflect.VisibleFields(t) {
			if f.Anonymous {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" {
				name = f.Name
			}
			fields[name] = f.Type
		}
		visit(x, fields, path)
		for k, val := range x {
			if ft, ok := fields[k]; ok {
				walkObjects(ft, val, path+"."+k, visit)
			}
		}
	case []any:
		if t.Kind() == reflect.Slice {
			for i, e := range x {
				walkObjects(t.Elem(), e, fmt.Sprintf("%s[%d]", path, i), visit)
			}
		}
	}
}
