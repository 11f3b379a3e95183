package mangrove

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

var allSentinels = map[string]error{
	"ErrBadRequest":   ErrBadRequest,
	"ErrUnauthorized": ErrUnauthorized,
	"ErrForbidden":    ErrForbidden,
	"ErrNotFound":     ErrNotFound,
	"ErrConflict":     ErrConflict,
	"ErrValidation":   ErrValidation,
	"ErrRateLimited":  ErrRateLimited,
	"ErrUnavailable":  ErrUnavailable,
}

func TestErrorStatusMapping(t *testing.T) {
	tests := []struct {
		status int
		want   string // sentinel name, "" for none
	}{
		{400, "ErrBadRequest"},
		{401, "ErrUnauthorized"},
		{403, "ErrForbidden"},
		{404, "ErrNotFound"},
		{409, "ErrConflict"},
		{422, "ErrValidation"},
		{429, "ErrRateLimited"},
		{500, "ErrUnavailable"},
		{502, "ErrUnavailable"},
		{503, "ErrUnavailable"},
		{504, "ErrUnavailable"},
		{418, ""},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			srv := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, tt.status, `{"message":"Record not found."}`)
			})
			// One attempt: this test is about mapping, not retrying.
			c, _ := newTestClient(t, srv.baseURL(), WithRetry(1, 0, 0))
			_, err := c.Ledger(context.Background(), testToken, "lgr_x")
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("error %T %v, want *APIError", err, err)
			}
			if ae.Status != tt.status || ae.Method != "GET" || ae.Path != "/ledgers/lgr_x" || ae.Message != "Record not found." {
				t.Errorf("APIError = %+v", ae)
			}
			for name, sentinel := range allSentinels {
				if got := errors.Is(err, sentinel); got != (name == tt.want) {
					t.Errorf("errors.Is(err, %s) = %v", name, got)
				}
			}
		})
	}
}

func TestErrorBodyShapes(t *testing.T) {
	long := strings.Repeat("word ", 200)
	tests := []struct {
		name        string
		status      int
		contentType string
		body        string
		want        string
	}{
		{"ShapeA", 404, "application/json", `{"message":"Record not found."}`, "Record not found."},
		{"ShapeB", 422, "application/json", `{"status":"error","statusCode":422,"errors":[{"message":"Report does not meet submission requirements"}]}`, "Report does not meet submission requirements"},
		{"MessageWinsOverErrors", 422, "application/json", `{"message":"first","errors":[{"message":"second"}]}`, "first"},
		{"EmptyMessageFallsThrough", 422, "application/json", `{"message":"  ","errors":[{"message":"second"}]}`, "second"},
		{"ErrorsOfStrings", 422, "application/json", `{"errors":["End time must be after start time"]}`, "End time must be after start time"},
		{"ErrorString", 403, "application/json", `{"error":"Rules engine feature is not enabled"}`, "Rules engine feature is not enabled"},
		{"ErrorObject", 401, "application/json", `{"error":{"message":"Invalid token","code":"unauthorized"}}`, "Invalid token"},
		{"MessageNotString", 400, "application/json", `{"message":{"text":"x"}}`, "Bad Request"},
		{"EmptyErrors", 422, "application/json", `{"errors":[]}`, "Unprocessable Entity"},
		{"JSONWithoutMessage", 500, "application/json", `{"foo":"bar"}`, "Internal Server Error"},
		{"JSONString", 400, "application/json", `"bad page_size"`, "bad page_size"},
		{"JSONNull", 503, "application/json", `null`, "Service Unavailable"},
		{"PlainText", 502, "text/plain", "  upstream connect error\n  or disconnect  \n", "upstream connect error or disconnect"},
		{"PlainTextCapped", 500, "text/plain", long, strings.TrimSpace(long[:299]) + "…"},
		{"HTML", 502, "text/html", "<html><body><h1>502 Bad Gateway</h1></body></html>", "Bad Gateway"},
		{"HTMLWithoutContentType", 504, "", "<!DOCTYPE html><title>Timeout</title>", "Gateway Timeout"},
		{"Empty", 429, "", "", "Too Many Requests"},
		{"UnknownStatus", 599, "", "", "HTTP status 599"},
		{"ControlCharacters", 422, "application/json", `{"message":"line1\nline2\r\n\u0000x\u202Ey"}`, "line1 line2 xy"},
		{"InvalidUTF8", 400, "text/plain", "bad \xff byte", "bad \uFFFD byte"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseErrorBody(tt.status, tt.contentType, []byte(tt.body))
			if got != tt.want {
				t.Errorf("parseErrorBody = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAPIErrorString(t *testing.T) {
	srv := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", "req-from-server")
		writeJSON(w, 422, `{"message":"End time must be after start time"}`)
	})
	c, _ := newTestClient(t, srv.baseURL())
	_, err := c.StartGeneration(context.Background(), testToken, "lgr_x", GenerationRequest{StartTime: ts("2025-02-01T00:00:00Z"), EndTime: ts("2025-01-01T00:00:00Z")})
	want := "mangrove: POST /ledgers/lgr_x/batch_generations: 422: End time must be after start time"
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
	var ae *APIError
	if !errors.As(err, &ae) || ae.RequestID != "req-from-server" {
		t.Errorf("RequestID = %q, want the server's", ae.RequestID)
	}
	// Without an id from the server, the one sent is kept, and the id function is asked
	// once per call, not per attempt.
	calls := 0
	noEcho := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Request-Id") != "req-7" {
			t.Errorf("X-Request-Id = %q", r.Header.Get("X-Request-Id"))
		}
		writeJSON(w, 503, `{"message":"down"}`)
	})
	c, _ = newTestClient(t, noEcho.baseURL(), WithRequestIDFunc(func(context.Context) string { calls++; return "req-7" }))
	_, err = c.AsyncTask(context.Background(), testToken, 1)
	if !errors.As(err, &ae) || ae.RequestID != "req-7" || calls != 1 || noEcho.hits.Load() != 4 {
		t.Errorf("RequestID = %q, id func calls = %d, attempts = %d; want req-7, 1, 4", ae.RequestID, calls, noEcho.hits.Load())
	}
	if got := (&APIError{Status: 404, Message: "Record not found."}).Error(); got != "mangrove: 404: Record not found." {
		t.Errorf("bare APIError = %q", got)
	}
}

// TestTokenNeverInErrors drives every kind of failure with a server that echoes the
// token back and checks no error text carries it.
func TestTokenNeverInErrors(t *testing.T) {
	srv := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		switch r.URL.Path {
		case "/api/v1/ledgers/echo":
			writeJSON(w, 401, `{"message":"Invalid token `+strings.TrimPrefix(auth, "Bearer ")+`"}`)
		case "/api/v1/ledgers/plain":
			w.WriteHeader(403)
			w.Write([]byte("forbidden for " + auth))
		case "/api/v1/ledgers/garbage":
			writeJSON(w, 200, `{"id": `+auth)
		default:
			dropConnection(t, w)
		}
	})
	c, _ := newTestClient(t, srv.baseURL(), WithRetry(1, 0, 0))
	ctx := context.Background()
	var errs []error
	for _, id := range []string{"echo", "plain", "garbage", "drop"} {
		_, err := c.Ledger(ctx, testToken, id)
		errs = append(errs, err)
	}
	_, err := c.StartGeneration(ctx, testToken, "drop", GenerationRequest{})
	errs = append(errs, err)
	refused, _ := newTestClient(t, closedServerURL(t))
	_, err = refused.Ledgers(ctx, testToken, ListOptions{})
	errs = append(errs, err)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = c.Ledgers(cancelled, testToken, ListOptions{})
	errs = append(errs, err)

	for i, err := range errs {
		if err == nil {
			t.Errorf("case %d: no error", i)
			continue
		}
		for _, text := range []string{err.Error(), fmtAll(err)} {
			if strings.Contains(text, testToken) {
				t.Errorf("case %d: error contains the token: %s", i, text)
			}
		}
	}
	var ae *APIError
	if errors.As(errs[0], &ae) && !strings.Contains(ae.Message, "[redacted]") {
		t.Errorf("echoed token not redacted: %q", ae.Message)
	}
}

func fmtAll(err error) string {
	var b strings.Builder
	for e := err; e != nil; e = errors.Unwrap(e) {
		b.WriteString(e.Error())
		b.WriteString("\n")
	}
	var ae *APIError
	if errors.As(err, &ae) {
		b.WriteString(ae.Message + ae.RequestID + ae.Path)
	}
	return b.String()
}

func TestIsUnknownOutcomeOnAPIErrors(t *testing.T) {
	tests := []struct {
		method string
		status int
		want   bool
	}{
		{"POST", 502, true},
		{"POST", 504, true},
		{"POST", 503, false},
		{"POST", 500, false},
		{"POST", 422, false},
		{"GET", 504, false},
	}
	for _, tt := range tests {
		err := &APIError{Method: tt.method, Status: tt.status}
		if got := IsUnknownOutcome(err); got != tt.want {
			t.Errorf("IsUnknownOutcome(%s %d) = %v, want %v", tt.method, tt.status, got, tt.want)
		}
	}
	if IsUnknownOutcome(nil) || IsUnknownOutcome(errors.New("other")) || IsUnknownOutcome(context.Canceled) {
		t.Error("IsUnknownOutcome true for an unrelated error")
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 4, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"-5", 0},
		{"2", 2 * time.Second},
		{" 30 ", 30 * time.Second},
		{"99999999999", maxRetryAfter},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"soon", 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// FuzzParseErrorBody checks that any response body yields a message that is non-empty,
// valid UTF-8, one line without control or formatting characters, and capped in length;
// and that the documented shape A still reads back exactly.
func FuzzParseErrorBody(f *testing.F) {
	seeds := []struct{ body, contentType string }{
		{`{"message":"Record not found."}`, "application/json"},
		{`{"status":"error","statusCode":422,"errors":[{"message":"Report does not meet submission requirements"}]}`, "application/json"},
		{`{"error":"x"}`, "application/json"},
		{`{"error":{"message":"y"}}`, "application/json"},
		{`{"errors":["z"]}`, ""},
		{`{"errors":[{"message":""}],"error":{"message":"fallback"}}`, ""},
		{`{"message":5}`, ""},
		{`[]`, ""},
		{`null`, ""},
		{`"quoted"`, ""},
		{"plain text\nwith lines", "text/plain"},
		{"<html>gateway</html>", "text/html"},
		{"", ""},
		{"\xff\xfe\x00", ""},
		{strings.Repeat("é", 400), "text/plain"},
		{`{"message":"` + strings.Repeat("a ", 400) + `"}`, "application/json"},
	}
	for _, s := range seeds {
		f.Add(s.body, s.contentType, 422)
	}
	f.Fuzz(func(t *testing.T, body, contentType string, status int) {
		got := parseErrorBody(status, contentType, []byte(body))
		if got == "" {
			t.Fatal("empty message")
		}
		if !utf8.ValidString(got) {
			t.Fatalf("invalid UTF-8: %q", got)
		}
		if n := utf8.RuneCountInString(got); n > maxMessageRunes && got != statusText(status) {
			t.Fatalf("message of %d runes: %q", n, got)
		}
		for _, r := range got {
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\n' {
				t.Fatalf("control or format character %U in %q", r, got)
			}
		}
		if got != strings.TrimSpace(got) {
			t.Fatalf("untrimmed: %q", got)
		}
	})
}

func TestDescribe(t *testing.T) {
	const secret = "secret-token-xyz"
	apiErr := &APIError{Status: http.StatusServiceUnavailable, Message: "upstream said " + secret, Method: "GET", Path: "/ledgers"}
	urlErr := &url.Error{Op: "Get", URL: "https://api.example/ledgers?token=" + secret, Err: errors.New("dial tcp: connection refused " + secret)}
	timeoutURLErr := &url.Error{Op: "Get", URL: "https://api.example/ledgers?token=" + secret, Err: context.DeadlineExceeded}
	var nilAPIErr *APIError
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"api error", apiErr, "status 503"},
		{"api error 422", &APIError{Status: http.StatusUnprocessableEntity, Message: secret}, "status 422"},
		{"api error wrapped", fmt.Errorf("load ledgers for %s: %w", secret, apiErr), "status 503"},
		{"api error wrapped twice", fmt.Errorf("page: %w", fmt.Errorf("load: %w", apiErr)), "status 503"},
		{"api error joined with a deadline", errors.Join(context.DeadlineExceeded, apiErr), "status 503"},
		{"deadline", context.DeadlineExceeded, "timed out"},
		{"deadline wrapped", fmt.Errorf("poll %s: %w", secret, context.DeadlineExceeded), "timed out"},
		{"deadline in url error", timeoutURLErr, "timed out"},
		{"deadline in call error", &callError{method: "GET", path: "/ledgers", err: timeoutURLErr, sentinel: ErrUnavailable}, "timed out"},
		{"cancelled", context.Canceled, "cancelled"},
		{"cancelled wrapped", fmt.Errorf("wait %s: %w", secret, context.Canceled), "cancelled"},
		{"cancelled rate limit wait", &callError{method: "GET", path: "/ledgers", op: opRateLimitWait, err: context.Canceled, sentinel: ErrRateLimited}, "cancelled"},
		{"url error", urlErr, "connection failed"},
		{"url error wrapped", fmt.Errorf("fetch: %w", urlErr), "connection failed"},
		{"call error", &callError{method: "GET", path: "/ledgers", err: urlErr, sentinel: ErrUnavailable}, "connection failed"},
		{"plain error", errors.New(secret), "connection failed"},
		{"sentinel only", ErrUnavailable, "connection failed"},
		{"typed nil api error", nilAPIErr, "connection failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Describe(tt.err)
			if got != tt.want {
				t.Fatalf("Describe(%v) = %q, want %q", tt.err, got, tt.want)
			}
			if strings.Contains(got, secret) || strings.Contains(got, "token") {
				t.Fatalf("Describe leaked error details: %q", got)
			}
		})
	}
}

// TestDescribeOmitsErrorText checks that no part of an error's own text, which may hold a
// token or server-chosen content, reaches the description.
func TestDescribeOmitsErrorText(t *testing.T) {
	const secret = "secret-token-xyz"
	errs := []error{
		&APIError{Status: http.StatusUnauthorized, Message: "bad token " + secret, Method: "GET", Path: "/ledgers"},
		&url.Error{Op: "Get", URL: "https://api.example/ledgers?access_token=" + secret + "&page=2", Err: errors.New("connection reset by peer")},
		&url.Error{Op: "Post", URL: "https://api.example/x?token=" + secret, Err: context.DeadlineExceeded},
		&url.Error{Op: "Get", URL: "https://api.example/x?token=" + secret, Err: context.Canceled},
	}
	for _, err := range errs {
		for _, e := range []error{err, fmt.Errorf("wrapped: %w", err)} {
			if !strings.Contains(e.Error(), secret) {
				t.Fatalf("test error %q does not carry the secret; the test proves nothing", e)
			}
			got := Describe(e)
			if got == "" || strings.Contains(got, secret) || strings.Contains(got, "api.example") || strings.Contains(got, e.Error()) {
				t.Errorf("Describe(%q) = %q: leaks the error's text", e, got)
			}
		}
	}
}
