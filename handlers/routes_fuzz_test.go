package handlers_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/carbon-dash/mangrove-dashboard/internal/testapp"
	"github.com/carbon-dash/mangrove-dashboard/internal/testkit"
)

// The HTTP-level fuzz and property tests throw random paths, query strings,
// form bodies and headers at every route of the dashboard, signed in and
// with a valid CSRF token (so requests reach the handlers), and assert that
// no answer is a 5xx and nothing panics.

// fuzzTarget is a signed-in dashboard served in-process.
type fuzzTarget struct {
	app     *testapp.App
	logs    *testkit.Buffer
	cookies []*http.Cookie // session and CSRF cookies of a signed-in browser
	csrf    string
	routes  []*echo.Route
}

func newFuzzTarget(t testing.TB) *fuzzTarget {
	logs := &testkit.Buffer{}
	app := testapp.Start(t, testapp.Options{LogWriter: logs})
	b := app.SignedIn(t)
	b.Get("/ledgers")
	u, _ := url.Parse(app.URL)
	ft := &fuzzTarget{app: app, logs: logs, cookies: b.HTTP.Jar.Cookies(u), csrf: b.CSRF()}
	for _, r := range app.Echo.Routes() {
		if r.Method != echo.RouteNotFound {
			ft.routes = append(ft.routes, r)
		}
	}
	slices.SortFunc(ft.routes, func(a, b *echo.Route) int { return strings.Compare(a.Method+a.Path, b.Method+b.Path) })
	return ft
}

// serve answers one request in-process. withSession false leaves the session
// cookie out (sign-out must not end the session the other requests use).
func (ft *fuzzTarget) serve(method, path, rawQuery string, body []byte, contentType string, hdr map[string]string, withSession bool) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "/", bytes.NewReader(body))
	req.URL.Path = path
	req.URL.RawPath = ""
	req.URL.RawQuery = rawQuery
	req.RequestURI = req.URL.RequestURI()
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	for _, c := range ft.cookies {
		if c.Name == "mgd_session" && !withSession {
			continue
		}
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	ft.app.Echo.ServeHTTP(rec, req)
	return rec
}

func (ft *fuzzTarget) check(t testing.TB, what string, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code >= 500 {
		t.Fatalf("%s: status %d: %.500s", what, rec.Code, rec.Body.String())
	}
	if strings.Contains(ft.logs.String(), `"msg":"panic"`) {
		t.Fatalf("%s: a handler panicked:\n%s", what, ft.logs.String())
	}
}

var (
	fuzzLedgerIDs = []string{"lgr_3047w5rbxmym", "lgr_vq27b9bmrler", "lgr_9zcc26rt5i43", "lgr_nhqmc4ju4fv3", "lgr_nope", "", "..", "%2e%2e", "lgr_" + strings.Repeat("x", 200), "ünï", "a b", "-", "_"}
	fuzzTaskIDs   = []string{"1", "2", "0", "-1", "999999", "9223372036854775807", "9223372036854775808", "1e3", "0x1", "٣", "01", " 1", "1.0", "abc", ""}
	fuzzFields    = []string{"page", "page_size", "sort", "state", "next", "quick", "quick_year", "start_time", "end_time", "data_point_ids",
		"skipped_data_point_type_ids", "batch_amounts[0][batch_id]", "batch_amounts[0][primary_output_amount]", "batch_amounts[0][allocation_group]",
		"batch_amounts[999][batch_id]", "batch_amounts[1000][batch_id]", "batch_amounts[]", "confirm_key", "token", "name", "_csrf", "stream", "x"}
	fuzzValues = []string{"", "0", "-1", "1", "2", "25", "100", "101", "10000", "10001", "99999999999999999999", "1e308", "NaN", "-0", "+5",
		"2025-01-01", "2025-03-31", "2025-02-30", "0000-01-01", "9999-12-31", "2025-01-01T00:00:00Z", "2025-01-01T00:00:00+14:00", "2099-12-31T23:59:60Z",
		"last-month", "last-quarter", "q1", "q5", "-start_time", "start_time,-id", "drop table", "complete", "any", "<script>alert(1)</script>",
		"' OR 1=1 --", "\"quoted\"", "%", "%00", "\x00", "\r\n", "ünïcödé", "𝔘𝔫𝔦", "in_abc, dp_def", "in_" + strings.Repeat("a", 70), "bat_x",
		"//evil.example", "/\\evil", "javascript:alert(1)", strings.Repeat("A", 43), strings.Repeat("A", 44), strings.Repeat("é", 5000),
		"sbx_rw_00000000000000000000000000000000", "Bearer x", "1,2,3", "1 2 3", "١٢٣"}
)

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

func randomValue(rng *rand.Rand) string {
	if rng.IntN(8) == 0 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return string(b)
	}
	return pick(rng, fuzzValues)
}

func randomValues(rng *rand.Rand, n int) url.Values {
	v := url.Values{}
	for range n {
		v.Add(pick(rng, fuzzFields), randomValue(rng))
	}
	return v
}

func randomPath(rng *rand.Rand, route string) string {
	parts := strings.Split(route, "/")
	for i, p := range parts {
		switch {
		case p == ":id" && parts[i-1] == "ledgers":
			parts[i] = url.PathEscape(pick(rng, fuzzLedgerIDs))
		case p == ":id":
			parts[i] = url.PathEscape(pick(rng, fuzzTaskIDs))
		case p == "*":
			parts[i] = url.PathEscape(pick(rng, []string{"css/app.css", "js/app.js", "nope", "../go.mod", "..%2fgo.mod", ""}))
		}
	}
	p := strings.Join(parts, "/")
	if rng.IntN(10) == 0 {
		p += pick(rng, []string{"/", "//", "/..", "%20", ".json", "/x"})
	}
	return p
}

// TestRandomRequestsNeverFail sends 1,200 random requests (a fixed seed,
// spread over every route) and checks each answer.
func TestRandomRequestsNeverFail(t *testing.T) {
	t.Parallel()
	ft := newFuzzTarget(t)
	rng := rand.New(rand.NewPCG(4, 2))
	const n = 1200
	statuses := map[int]int{}
	perRoute := map[string]int{}
	for i := range n {
		rt := ft.routes[i%len(ft.routes)]
		method := rt.Method
		if rng.IntN(20) == 0 {
			method = pick(rng, []string{"PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"})
		}
		path := randomPath(rng, rt.Path)
		query := randomValues(rng, rng.IntN(5)).Encode()
		if rng.IntN(10) == 0 {
			query = pick(rng, []string{"%", "a=%zz", "&&&", "page=1&page=2", ";", strings.Repeat("a=1&", 500)})
		}
		form := randomValues(rng, rng.IntN(8))
		if rng.IntN(7) != 0 {
			form.Set("_csrf", ft.csrf)
		}
		var body []byte
		ctype := "application/x-www-form-urlencoded"
		switch rng.IntN(10) {
		case 0:
			var buf bytes.Buffer
			mw := multipart.NewWriter(&buf)
			for k, vs := range form {
				for _, v := range vs {
					_ = mw.WriteField(k, v)
				}
			}
			_ = mw.Close()
			body, ctype = buf.Bytes(), mw.FormDataContentType()
		case 1:
			body, ctype = []byte(`{"start_time":`), "application/json"
		case 2:
			body, ctype = []byte(form.Encode()+"&%zz"), ""
		default:
			body = []byte(form.Encode())
		}
		hdr := map[string]string{}
		if rng.IntN(4) == 0 {
			hdr["HX-Request"] = "true"
		}
		if rng.IntN(4) == 0 {
			hdr["Accept"] = "text/event-stream"
		}
		if rng.IntN(6) == 0 {
			hdr["Last-Event-ID"] = pick(rng, []string{"done", "1", "abc", "-1", "99999999999999999999"})
		}
		if rng.IntN(6) == 0 {
			hdr["X-Request-Id"] = randomValue(rng)
		}
		withSession := !(rt.Path == "/signout" && method == http.MethodPost)
		rec := ft.serve(method, path, query, body, ctype, hdr, withSession)
		statuses[rec.Code]++
		perRoute[rt.Method+" "+rt.Path]++
		ft.check(t, fmt.Sprintf("request %d: %s %s?%.80s", i, method, path, query), rec)
	}
	t.Logf("%d random requests over %d routes; statuses %v", n, len(perRoute), statuses)
	if statuses[http.StatusOK] == 0 || statuses[http.StatusNotFound] == 0 {
		t.Error("the random requests never reached a handler successfully: the test is not testing much")
	}
}

// FuzzRoutes is the same check driven by go test -fuzz: a method, a path,
// a query string and a form body.
func FuzzRoutes(f *testing.F) {
	ft := newFuzzTarget(f)
	for _, rt := range ft.routes {
		f.Add(rt.Method == http.MethodPost, fillPath(rt.Path, "lgr_3047w5rbxmym", "1"), "page=2&sort=-start_time", "start_time=2025-01-01&end_time=2025-03-31")
	}
	for _, s := range []struct {
		post              bool
		path, query, body string
	}{
		{true, "/ledgers/lgr_3047w5rbxmym/preview", "", "start_time=2025-03-31&end_time=2025-01-01&data_point_ids=in_x,%00"},
		{true, "/ledgers/lgr_3047w5rbxmym/preview", "", "start_time=2020-01-01&end_time=2026-01-01"},
		{true, "/ledgers/lgr_3047w5rbxmym/preview", "", "start_time=2025-01-01&end_time=2025-01-31&batch_amounts[0][batch_id]=bat_x&batch_amounts[0][primary_output_amount]=1e999"},
		{true, "/ledgers/lgr_vq27b9bmrler/preview", "", "start_time=2025-01-01&end_time=2025-01-31"},
		{true, "/ledgers/lgr_3047w5rbxmym/generations", "", "confirm_key=" + strings.Repeat("A", 43) + "&start_time=2025-01-01&end_time=2025-01-31"},
		{true, "/signin", "next=//evil", "token=%00&name=" + strings.Repeat("%C3%A9", 100)},
		{false, "/ledgers/lgr_3047w5rbxmym", "page=99999&page_size=1000&sort=%3Cx%3E&state=%FF", ""},
		{false, "/ledgers/lgr_3047w5rbxmym/generate", "quick=q4&quick_year=99999999999999999999", ""},
		{false, "/tasks", "page=-1", ""},
		{false, "/tasks/99999999999999999999/events", "", ""},
		{false, "/static/../go.mod", "", ""},
		{false, "/signin", "next=%0d%0aLocation:%20//evil", ""},
	} {
		f.Add(s.post, s.path, s.query, s.body)
	}
	f.Fuzz(func(t *testing.T, post bool, path, query, body string) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		method := http.MethodGet
		if post {
			method = http.MethodPost
			body = "_csrf=" + url.QueryEscape(ft.csrf) + "&" + body
		}
		withSession := path != "/signout"
		rec := ft.serve(method, path, query, []byte(body), "application/x-www-form-urlencoded", map[string]string{"Accept": "text/event-stream"}, withSession)
		ft.check(t, method+" "+path+"?"+query, rec)
		rec = ft.serve(method, path, query, []byte(body), "application/x-www-form-urlencoded", nil, withSession)
		ft.check(t, method+" "+path+"?"+query, rec)
	})
}

// TestLimitsHaveMessages: each limit on input answers with a message that
// says what the limit is, never a 500.
func TestLimitsHaveMessages(t *testing.T) {
	t.Parallel()
	app := testapp.Start(t, testapp.Options{})
	b := app.SignedIn(t)
	ncr := app.LedgerByName(t, "Net Carbon Removal").ID
	b.Get("/ledgers/" + ncr + "/generate")
	ids := make([]string, 501)
	for i := range ids {
		ids[i] = "in_" + strconv.Itoa(i)
	}
	rows := url.Values{"start_time": {"2025-01-01"}, "end_time": {"2025-03-31"}}
	for i := range 21 {
		rows.Set(fmt.Sprintf("batch_amounts[%d][batch_id]", i), fmt.Sprintf("bat_%d", i))
		rows.Set(fmt.Sprintf("batch_amounts[%d][primary_output_amount]", i), "1")
	}
	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		want   string
	}{
		{"RangeLength", url.Values{"start_time": {"2020-01-01"}, "end_time": {"2025-03-31"}}, 422, "Ranges are limited to 5 years"},
		{"NumberOfIDs", url.Values{"start_time": {"2025-01-01"}, "end_time": {"2025-03-31"}, "data_point_ids": {strings.Join(ids, ",")}}, 422, "Enter at most 500 data point ids"},
		{"BatchAmountRows", rows, 422, "Enter at most 20 custom batch amounts"},
		{"YearRange", url.Values{"start_time": {"1999-12-31"}, "end_time": {"2025-03-31"}}, 422, "Use a year between 2000 and 2100"},
		{"BodySize", url.Values{"start_time": {"2025-01-01"}, "end_time": {"2025-03-31"}, "data_point_ids": {strings.Repeat("in_a ", 220_000)}}, 413, "The form sent more data than the dashboard accepts"},
	} {
		r := b.Post("/ledgers/"+ncr+"/preview", tc.form) // the old form's POST: answered in place or redirected
		if r.Status == http.StatusSeeOther {
			r = b.Get(r.Location)
		}
		if r.Status != tc.status || !strings.Contains(r.Body, tc.want) {
			t.Errorf("%s: status %d, want %d with %q: %.300s", tc.name, r.Status, tc.status, tc.want, r.Body)
		}
	}
	for _, tc := range []struct{ query, want string }{
		{"page_size=1000", "Show 10, 25, 50 or 100 per page"},
		{"page=10001", "The page must be a whole number from 1 to 10000"},
		{"page=-3", "The page must be a whole number"},
		{"sort=drop+table", "Unknown sort order"},
	} {
		r := b.Get("/ledgers/" + ncr + "?" + tc.query)
		if r.Status != http.StatusOK || !strings.Contains(r.Body, tc.want) {
			t.Errorf("?%s: status %d without %q", tc.query, r.Status, tc.want)
		}
	}
	// Tokens that cannot be one: a message, not an upstream error.
	for _, tok := range []string{"sbx\x00rw", "sbx rw", "sbx_rw_ünï", strings.Repeat("x", 4097)} {
		r := app.NewBrowser(t).Post("/signin", url.Values{"token": {tok}})
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "does not look like an API token") {
			t.Errorf("sign-in with token %.20q: %d", tok, r.Status)
		}
	}
	// An oversized sign-in form gets the same page, signed in or not.
	r := app.NewBrowser(t).Post("/signin", url.Values{"token": {strings.Repeat("x", 1<<20)}})
	if r.Status != http.StatusRequestEntityTooLarge || !strings.Contains(r.Body, "Request too large") {
		t.Errorf("oversized sign-in: %d %.200s", r.Status, r.Body)
	}
}
