package mangrove

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// closedServerURL returns a base URL on which nothing listens: connections are refused.
func closedServerURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + "/api/v1"
}

func TestRequestHeaders(t *testing.T) {
	type seen struct{ method, auth, accept, contentType, ua, requestID string }
	tests := []struct {
		name string
		opts []Option
		call func(c *Client) error
		want seen
	}{
		{
			name: "GetDefaults",
			call: func(c *Client) error { _, err := c.Ledgers(context.Background(), testToken, ListOptions{}); return err },
			want: seen{method: "GET", auth: "Bearer " + testToken, accept: "application/json", ua: DefaultUserAgent},
		},
		{
			name: "PostWithBodyAndOptions",
			opts: []Option{
				WithUserAgent("custom/2"),
				WithRequestIDFunc(func(ctx context.Context) string { return "req-123" }),
			},
			call: func(c *Client) error {
				_, err := c.PreviewGeneration(context.Background(), testToken, "lgr_x", PreviewRequest{})
				return err
			},
			want: seen{method: "POST", auth: "Bearer " + testToken, accept: "application/json", contentType: "application/json", ua: "custom/2", requestID: "req-123"},
		},
		{
			name: "EmptyOrInvalidRequestIDNotSent",
			opts: []Option{WithRequestIDFunc(func(ctx context.Context) string { return "bad\nid" })},
			call: func(c *Client) error { _, err := c.AsyncTask(context.Background(), testToken, 1); return err },
			want: seen{method: "GET", auth: "Bearer " + testToken, accept: "application/json", ua: DefaultUserAgent},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got seen
			c := NewClient("http://mangrove.test/api/v1", append(tt.opts, WithHTTPClient(&http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				got = seen{r.Method, r.Header.Get("Authorization"), r.Header.Get("Accept"), r.Header.Get("Content-Type"), r.Header.Get("User-Agent"), r.Header.Get("X-Request-Id")}
				if r.Method == "POST" {
					return fakeResponse(200, `{"data":[]}`), nil
				}
				return fakeResponse(200, `{"id":1,"data":[]}`), nil
			})}))...)
			if err := tt.call(c); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("headers = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestListQuery(t *testing.T) {
	tests := []struct {
		name string
		opts ListOptions
		want url.Values
	}{
		{"Empty", ListOptions{}, url.Values{}},
		{"ZeroValuesOmitted", ListOptions{Page: 0, PageSize: 0, Sort: []string{"", " "}}, url.Values{}},
		{"Page", ListOptions{Page: 3, PageSize: 25}, url.Values{"page": {"3"}, "page_size": {"25"}}},
		{"Sort", ListOptions{Sort: []string{"-start_time", "created_at"}}, url.Values{"sort": {"-start_time,created_at"}}},
		{
			"Filters",
			ListOptions{Filters: []Filter{
				{Field: "project_id", Op: OpEq, Value: "123"},
				{Field: "state", Value: "complete"}, // empty Op means eq
				{Field: "created_at", Op: OpGeq, Value: "2025-01-01T00:00:00Z"},
				{Field: "created_at", Op: OpLeq, Value: "2025-03-31T23:59:59Z"},
				{Field: "tracking_id", Op: OpEq, Value: "Q1 2025&x=1"},
			}},
			url.Values{
				"filter[project_id][eq]":  {"123"},
				"filter[state][eq]":       {"complete"},
				"filter[created_at][geq]": {"2025-01-01T00:00:00Z"},
				"filter[created_at][leq]": {"2025-03-31T23:59:59Z"},
				"filter[tracking_id][eq]": {"Q1 2025&x=1"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got url.Values
			c := NewClient("http://mangrove.test/api/v1", WithHTTPClient(&http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				got = r.URL.Query()
				if r.URL.Path != "/api/v1/ledgers/lgr_x/batches" {
					t.Errorf("path = %s", r.URL.Path)
				}
				return fakeResponse(200, `{"data":[]}`), nil
			})}))
			if _, err := c.LedgerBatches(context.Background(), testToken, "lgr_x", tt.opts); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("query = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestListQueryInvalidFilter(t *testing.T) {
	for _, f := range []Filter{{Field: "state", Op: "gt", Value: "x"}, {Field: "", Value: "x"}, {Field: "a][b", Value: "x"}} {
		sent := false
		c := NewClient("http://mangrove.test/api/v1", WithHTTPClient(&http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			sent = true
			return fakeResponse(200, `{"data":[]}`), nil
		})}))
		if _, err := c.Batches(context.Background(), testToken, ListOptions{Filters: []Filter{f}}); err == nil {
			t.Errorf("filter %+v accepted", f)
		}
		if sent {
			t.Errorf("filter %+v: request sent", f)
		}
	}
}

func TestPathEscaping(t *testing.T) {
	var paths []string
	c := NewClient("http://mangrove.test/api/v1/", WithHTTPClient(&http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		paths = append(paths, r.URL.EscapedPath())
		return fakeResponse(200, `{"id":"x","data":[]}`), nil
	})}))
	ctx := context.Background()
	c.Ledger(ctx, testToken, "lgr a/b?c#d")
	c.Batch(ctx, testToken, "bat_%2F..")
	c.RequiredInputs(ctx, testToken, "../batches")
	want := []string{
		"/api/v1/ledgers/lgr%20a%2Fb%3Fc%23d",
		"/api/v1/batches/bat_%252F..",
		"/api/v1/ledgers/..%2Fbatches/required_inputs",
	}
	if !reflect.DeepEqual(paths, want) {
		t.Errorf("paths = %q, want %q", paths, want)
	}

	paths = nil
	for _, id := range []string{"", ".", ".."} {
		if _, err := c.Ledger(ctx, testToken, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Ledger(%q) error = %v, want ErrNotFound", id, err)
		}
		if _, err := c.StartGeneration(ctx, testToken, id, GenerationRequest{}); !errors.Is(err, ErrNotFound) {
			t.Errorf("StartGeneration(%q) error = %v, want ErrNotFound", id, err)
		}
	}
	if len(paths) != 0 {
		t.Errorf("requests sent for invalid ids: %q", paths)
	}
}

func TestAllLedgers(t *testing.T) {
	ledgerPage := func(w http.ResponseWriter, r *http.Request, total int, info func(page, pages int) string) {
		page := atoiOr(r.URL.Query().Get("page"), 1)
		size := atoiOr(r.URL.Query().Get("page_size"), 10)
		var items []string
		for i := (page - 1) * size; i < min(page*size, total); i++ {
			items = append(items, fmt.Sprintf(`{"id":"lgr_%d","name":"L%d","created_at":"2025-01-15T10:00:00.000Z","updated_at":"2025-01-15T10:00:00Z"}`, i, i))
		}
		pages := (total + size - 1) / size
		body := `{"data":[` + strings.Join(items, ",") + `]`
		if in := info(page, pages); in != "" {
			body += `,"info":` + in
		}
		writeJSON(w, 200, body+"}")
	}
	standardInfo := func(page, pages int) string {
		next, prev := "null", "null"
		if page < pages {
			next = fmt.Sprint(page + 1)
		}
		if page > 1 {
			prev = fmt.Sprint(page - 1)
		}
		return fmt.Sprintf(`{"current_page":%d,"next_page":%s,"previous_page":%s,"total_pages":%d}`, page, next, prev, pages)
	}

	t.Run("PagesUntilNextPageNull", func(t *testing.T) {
		var mu sync.Mutex
		var queries []string
		srv := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			queries = append(queries, r.URL.RawQuery)
			mu.Unlock()
			ledgerPage(w, r, 250, standardInfo)
		})
		c, _ := newTestClient(t, srv.baseURL())
		got, err := c.AllLedgers(context.Background(), testToken)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 250 || got[0].ID != "lgr_0" || got[249].ID != "lgr_249" {
			t.Errorf("got %d ledgers", len(got))
		}
		want := []string{"page=1&page_size=100", "page=2&page_size=100", "page=3&page_size=100"}
		if !reflect.DeepEqual(queries, want) {
			t.Errorf("queries = %q, want %q", queries, want)
		}
	})
	t.Run("StopsWithoutInfo", func(t *testing.T) {
		srv := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
			ledgerPage(w, r, 250, func(int, int) string { return "" })
		})
		c, _ := newTestClient(t, srv.baseURL())
		got, err := c.AllLedgers(context.Background(), testToken)
		if err != nil || len(got) != 100 || srv.hits.Load() != 1 {
			t.Errorf("got %d ledgers in %d requests, err %v; want 100 in 1", len(got), srv.hits.Load(), err)
		}
	})
	t.Run("StopsOnNonAdvancingNextPage", func(t *testing.T) {
		srv := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
			ledgerPage(w, r, 250, func(page, _ int) string { return `{"next_page":1}` })
		})
		c, _ := newTestClient(t, srv.baseURL())
		got, err := c.AllLedgers(context.Background(), testToken)
		if err != nil || len(got) != 100 || srv.hits.Load() != 1 {
			t.Errorf("got %d ledgers in %d requests, err %v; want 100 in 1", len(got), srv.hits.Load(), err)
		}
	})
	t.Run("CapsAt100Pages", func(t *testing.T) {
		srv := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
			ledgerPage(w, r, 1_000_000, standardInfo)
		})
		c, _ := newTestClient(t, srv.baseURL())
		got, err := c.AllLedgers(context.Background(), testToken)
		if !errors.Is(err, ErrTooManyPages) || len(got) != 100*100 || srv.hits.Load() != 100 {
			t.Errorf("got %d ledgers in %d requests, err %v; want 10000 in 100 and ErrTooManyPages", len(got), srv.hits.Load(), err)
		}
	})
	t.Run("ErrorMidway", func(t *testing.T) {
		srv := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("page") == "2" {
				writeJSON(w, 403, `{"message":"Forbidden"}`)
				return
			}
			ledgerPage(w, r, 250, standardInfo)
		})
		c, _ := newTestClient(t, srv.baseURL())
		got, err := c.AllLedgers(context.Background(), testToken)
		if !errors.Is(err, ErrForbidden) || got != nil {
			t.Errorf("got %d ledgers, err %v; want none and ErrForbidden", len(got), err)
		}
	})
}

func atoiOr(s string, def int) int {
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		return def
	}
	return n
}

func TestObjectEnvelope(t *testing.T) {
	for _, body := range []string{
		`{"id":"lgr_x","name":"Wrapped? no"}`,
		`{"data":{"id":"lgr_x","name":"Wrapped? no"}}`,
	} {
		c := NewClient("http://mangrove.test/api/v1", WithHTTPClient(&http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			return fakeResponse(200, body), nil
		})}))
		l, err := c.Ledger(context.Background(), testToken, "lgr_x")
		if err != nil || l.ID != "lgr_x" || l.Name != "Wrapped? no" {
			t.Errorf("body %s: ledger %+v, err %v", body, l, err)
		}
	}
}

func TestDecodeFailures(t *testing.T) {
	for _, body := range []string{``, `   `, `{"id":`, `null`, `<html>`} {
		c := NewClient("http://mangrove.test/api/v1", WithHTTPClient(&http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			return fakeResponse(200, body), nil
		})}))
		_, err := c.Ledger(context.Background(), testToken, "lgr_x")
		if err == nil || !strings.Contains(err.Error(), "mangrove: GET /ledgers/lgr_x: decode response") {
			t.Errorf("body %q: error %v", body, err)
		}
		if errors.Is(err, ErrUnavailable) || IsUnknownOutcome(err) {
			t.Errorf("body %q: decode error classified as unavailable or unknown outcome", body)
		}
	}
}

func TestContextCancellation(t *testing.T) {
	t.Run("WhileWaitingForAnswer", func(t *testing.T) {
		srv := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		})
		c, log := newTestClient(t, srv.baseURL())
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		_, err := c.Ledgers(ctx, testToken, ListOptions{})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error = %v, want context.Canceled", err)
		}
		if errors.Is(err, ErrUnavailable) {
			t.Error("the caller cancelling is not the service being unavailable")
		}
		if srv.hits.Load() != 1 || len(log.get()) != 0 {
			t.Errorf("attempts = %d, retries = %d; want 1 and 0", srv.hits.Load(), len(log.get()))
		}
	})
	t.Run("AlreadyCancelled", func(t *testing.T) {
		srv := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {})
		c, _ := newTestClient(t, srv.baseURL())
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := c.Batches(ctx, testToken, ListOptions{})
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrRateLimited) || errors.Is(err, ErrUnavailable) || srv.hits.Load() != 0 {
			t.Errorf("error = %v, attempts = %d; want context.Canceled and 0", err, srv.hits.Load())
		}
	})
	t.Run("CallerDeadline", func(t *testing.T) {
		srv := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		})
		c, _ := newTestClient(t, srv.baseURL())
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := c.Ledgers(ctx, testToken, ListOptions{})
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrUnavailable) {
			t.Errorf("error = %v, want DeadlineExceeded and ErrUnavailable", err)
		}
	})
}

// TestPerAttemptTimeout checks that WithTimeout bounds each attempt, not the call: a
// GET whose first attempt hangs is retried and succeeds.
func TestPerAttemptTimeout(t *testing.T) {
	var srv *testServer
	srv = newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		if srv.hits.Load() == 1 {
			<-r.Context().Done()
			return
		}
		writeJSON(w, 200, `{"id":456,"state":"running"}`)
	})
	c, _ := newTestClient(t, srv.baseURL(), WithTimeout(50*time.Millisecond))
	task, err := c.AsyncTask(context.Background(), testToken, 456)
	if err != nil || task.State != TaskRunning || srv.hits.Load() != 2 {
		t.Errorf("task %+v, err %v, attempts %d; want running after 2", task, err, srv.hits.Load())
	}

	c, _ = newTestClient(t, srv.baseURL(), WithTimeout(50*time.Millisecond), WithRetry(1, 0, 0))
	srv.hits.Store(0)
	_, err = c.AsyncTask(context.Background(), testToken, 456)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrUnavailable) {
		t.Errorf("error = %v, want DeadlineExceeded and ErrUnavailable", err)
	}
	if want := "mangrove: GET /async_tasks/456: "; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error text %q, want prefix %q", err, want)
	}
}

func TestConnectionRefused(t *testing.T) {
	c, log := newTestClient(t, closedServerURL(t))
	_, err := c.Ledger(context.Background(), testToken, "lgr_x")
	if !errors.Is(err, ErrUnavailable) || len(log.get()) != 3 {
		t.Errorf("error = %v after %d retries; want ErrUnavailable after 3", err, len(log.get()))
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Errorf("error %v does not expose the *net.OpError", err)
	}
	if IsUnknownOutcome(err) {
		t.Error("a GET has no unknown outcome")
	}
}

func TestResponseSizeCap(t *testing.T) {
	c := NewClient("http://mangrove.test/api/v1", WithHTTPClient(&http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(io.LimitReader(neverEnding('x'), maxResponseBytes+10))}, nil
	})}))
	_, err := c.Ledgers(context.Background(), testToken, ListOptions{})
	if err == nil || !strings.Contains(err.Error(), "body larger than") {
		t.Errorf("error = %v, want a size error", err)
	}
}

type neverEnding byte

func (b neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

func TestTaskTerminal(t *testing.T) {
	at := time.Date(2025, 4, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		task AsyncTask
		want bool
	}{
		{AsyncTask{State: TaskPending}, false},
		{AsyncTask{State: TaskRunning}, false},
		{AsyncTask{State: TaskRunning, FinishedAt: &at}, false}, // documented: running has no finished_at; trust the state
		{AsyncTask{State: TaskComplete}, true},
		{AsyncTask{State: TaskFailed}, true},
		{AsyncTask{State: "cancelled"}, false}, // unknown and not said to be finished: keep watching (bounded by the watcher's lifetime)
		{AsyncTask{State: "cancelled", FinishedAt: &at}, true},
	} {
		if got := c.task.Terminal(); got != c.want {
			t.Errorf("%q finished_at=%v: Terminal %v, want %v", c.task.State, c.task.FinishedAt != nil, got, c.want)
		}
	}
	var none *AsyncTask
	if none.Terminal() {
		t.Error("nil task terminal")
	}
}
