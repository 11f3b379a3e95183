package handlers_test

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"github.com/carbon-dash/mangrove-dashboard/internal/testapp"
	"github.com/carbon-dash/mangrove-dashboard/internal/testkit"
)

// testapp's session keys.
var testHashKey, testBlockKey = testapp.SessionKeys()

// fillPath puts real ids into a route path: ledger for /ledgers/:id, task
// for /tasks/:id, "x" for any other parameter or wildcard.
func fillPath(path, ledger, task string) string {
	parts := strings.Split(path, "/")
	for i, p := range parts {
		switch {
		case p == ":id" && i > 0 && parts[i-1] == "ledgers":
			parts[i] = ledger
		case p == ":id" && i > 0 && parts[i-1] == "tasks":
			parts[i] = task
		case strings.HasPrefix(p, ":") || p == "*":
			parts[i] = "x"
		}
	}
	return strings.Join(parts, "/")
}

func safeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodConnect, echo.RouteNotFound:
		return true
	}
	return false
}

// stateChangingRoutes lists every registered route that is not a safe
// method: each must be protected against cross-site request forgery.
func stateChangingRoutes(t *testing.T, app *testapp.App) []*echo.Route {
	t.Helper()
	var out []*echo.Route
	for _, r := range app.Echo.Routes() {
		if !safeMethod(r.Method) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b *echo.Route) int { return strings.Compare(a.Method+a.Path, b.Method+b.Path) })
	return out
}

// TestEveryStateChangingRouteNeedsCSRF walks the route table: every POST
// (or PUT, PATCH, DELETE) route, including any added later, must refuse a
// request without a valid CSRF token with 403 and the expired-form page,
// and must not reach its handler, even with a confirmation key that would
// start a generation.
func TestEveryStateChangingRouteNeedsCSRF(t *testing.T) {
	t.Parallel()
	app := testapp.Start(t, testapp.Options{})
	ncr := app.LedgerByName(t, "Net Carbon Removal").ID
	victim := app.SignedIn(t)
	// A real, unused confirmation key: a request reaching the confirm
	// handler with it would start a generation.
	r := preview(t, victim, ncr, url.Values{"start_time": {"2025-01-01"}, "end_time": {"2025-01-31"}})
	confirm := formValues(t, r.Body, `form[action$="/generations"]`)
	other := app.NewBrowser(t)
	otherToken := other.CSRF() // valid, but for another browser's cookie

	routes := stateChangingRoutes(t, app)
	var names []string
	for _, rt := range routes {
		names = append(names, rt.Method+" "+rt.Path)
	}
	t.Logf("state-changing routes: %s", strings.Join(names, ", "))
	for _, want := range []string{"POST /signin", "POST /signout", "POST /ledgers/:id/preview", "POST /ledgers/:id/generations"} {
		if !slices.Contains(names, want) {
			t.Errorf("route %s is not registered", want)
		}
	}

	upstream := func() int64 {
		return app.Sandbox.RequestCount(batchGenerationsRoute) + app.Sandbox.RequestCount("POST /api/v1/ledgers/{ledger_id}/generate_preview") +
			app.Sandbox.RequestCount("GET /api/v1/ledgers")
	}
	before := upstream()
	none := func() (string, bool) { return "", false }
	valid := func() (string, bool) { return victim.CSRF(), true }
	attacks := []struct {
		name     string
		token    func() (string, bool) // value, whether to send the field at all
		header   map[string]string
		inQuery  bool // the token in the query string instead of the form
		wantPage string
	}{
		{name: "NoToken", token: none},
		{name: "EmptyToken", token: func() (string, bool) { return "", true }},
		{name: "WrongToken", token: func() (string, bool) { return strings.Repeat("A", 32), true }},
		{name: "OtherSessionsToken", token: func() (string, bool) { return otherToken, true }},
		{name: "TokenWithSuffix", token: func() (string, bool) { return victim.CSRF() + "x", true }},
		// Sec-Fetch-Site is no pass: the token is required whatever it says.
		{name: "SameOriginHeaderNoToken", token: none, header: map[string]string{"Sec-Fetch-Site": "same-origin"}},
		{name: "NavigationHeaderNoToken", token: none, header: map[string]string{"Sec-Fetch-Site": "none"}},
		{name: "SameSiteHeaderNoToken", token: none, header: map[string]string{"Sec-Fetch-Site": "same-site"}},
		{name: "TokenInQueryString", token: valid, inQuery: true},
		// A browser's cross-site request is refused even with the token.
		{name: "CrossSiteWithToken", token: valid, header: map[string]string{"Sec-Fetch-Site": "cross-site"}, wantPage: "Request from another site refused"},
	}
	tried := 0
	for _, rt := range routes {
		path := fillPath(rt.Path, ncr, "1")
		for _, a := range attacks {
			form := url.Values{"token": {app.Tokens.ReadWrite}, "next": {"/tasks"}}
			for k, v := range confirm {
				form[k] = slices.Clone(v)
			}
			form.Del("_csrf")
			query := ""
			if v, send := a.token(); send && a.inQuery {
				query = "?" + url.Values{"_csrf": {v}}.Encode()
			} else if send {
				form.Set("_csrf", v)
			}
			req, _ := http.NewRequest(rt.Method, app.URL+path+query, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for k, v := range a.header {
				req.Header.Set(k, v)
			}
			resp, err := victim.HTTP.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			tried++
			wantPage := cmp.Or(a.wantPage, "This form has expired")
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), wantPage) {
				t.Errorf("%s %s with %s: status %d, want 403 and the page %q", rt.Method, path, a.name, resp.StatusCode, wantPage)
			}
			for _, c := range resp.Cookies() {
				if c.Name == "mgd_session" {
					t.Errorf("%s %s with %s set a session cookie: the handler ran", rt.Method, path, a.name)
				}
			}
		}
	}
	if n := upstream() - before; n != 0 {
		t.Errorf("%d upstream calls from refused requests: a handler ran", n)
	}
	if r := victim.Get("/ledgers"); r.Status != http.StatusOK {
		t.Errorf("the victim was signed out by a forged request: %d", r.Status)
	}
	t.Logf("%d forged requests on %d routes refused", tried, len(routes))
}

// forgeCookie builds a session cookie value as gorilla/securecookie does,
// with testapp's keys, but stamped at the given time.
func restampCookie(t *testing.T, value string, at time.Time) string {
	t.Helper()
	raw, err := base64.URLEncoding.DecodeString(value)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.SplitN(string(raw), "|", 3)
	if len(parts) != 3 {
		t.Fatalf("unexpected cookie layout")
	}
	msg := fmt.Sprintf("%s|%d|%s", "mgd_session", at.Unix(), parts[1])
	mac := hmac.New(sha256.New, testHashKey)
	mac.Write([]byte(msg))
	out := fmt.Sprintf("%d|%s|", at.Unix(), parts[1]) + string(mac.Sum(nil))
	return base64.URLEncoding.EncodeToString([]byte(out))
}

func sessionCookie(t *testing.T, app *testapp.App, b *testapp.Browser) *http.Cookie {
	t.Helper()
	u, _ := url.Parse(app.URL)
	for _, c := range b.HTTP.Jar.Cookies(u) {
		if c.Name == "mgd_session" {
			return c
		}
	}
	t.Fatal("no session cookie")
	return nil
}

// statusWithCookie fetches /ledgers with exactly one session cookie value.
func statusWithCookie(t *testing.T, app *testapp.App, value string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, app.URL+"/ledgers", nil)
	req.AddCookie(&http.Cookie{Name: "mgd_session", Value: value})
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestSessionCookies(t *testing.T) {
	t.Parallel()
	app := testapp.Start(t, testapp.Options{})
	b := app.SignedIn(t)
	good := sessionCookie(t, app, b)
	const signedIn, signedOut = http.StatusOK, http.StatusSeeOther

	if got := statusWithCookie(t, app, good.Value); got != signedIn {
		t.Fatalf("the real cookie: %d", got)
	}
	// The cookie's attributes, as set at sign-in.
	probe := app.NewBrowser(t)
	sreq, _ := http.NewRequest(http.MethodPost, app.URL+"/signin", strings.NewReader(url.Values{"token": {app.Tokens.ReadOnly}, "_csrf": {probe.CSRF()}}.Encode()))
	sreq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sresp, err := probe.HTTP.Do(sreq)
	if err != nil {
		t.Fatal(err)
	}
	sresp.Body.Close()
	for _, c := range sresp.Cookies() {
		if c.Name == "mgd_session" && (!c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure || c.Path != "/" || c.MaxAge != 12*60*60) {
			t.Errorf("session cookie attributes over plain http: %+v", c)
		}
	}

	tampered := []byte(good.Value)
	tampered[len(tampered)/2] ^= 0x01
	if tampered[len(tampered)/2] == '=' {
		tampered[len(tampered)/2] = 'A'
	}
	foreignStore := sessions.NewCookieStore([]byte(strings.Repeat("x", 32)), []byte(strings.Repeat("y", 32)))
	foreign := func(store *sessions.CookieStore, values map[any]any) string {
		rec := httptest.NewRecorder()
		s, _ := store.New(&http.Request{Header: http.Header{}}, "mgd_session")
		s.Values = values
		if err := s.Save(&http.Request{Header: http.Header{}}, rec); err != nil {
			t.Fatal(err)
		}
		return strings.TrimPrefix(strings.SplitN(rec.Header().Get("Set-Cookie"), ";", 2)[0], "mgd_session=")
	}
	rightKeys := sessions.NewCookieStore(testHashKey, testBlockKey)
	cases := []struct {
		name, value string
	}{
		{"Tampered", string(tampered)},
		{"Truncated", good.Value[:len(good.Value)-8]},
		{"Garbage", "not-a-cookie"},
		{"Empty", ""},
		{"ForeignKeys", foreign(foreignStore, map[any]any{"token": app.Tokens.ReadWrite, "sid": "x"})},
		// Even with the real keys (a leaked SESSION_SECRET) a cookie needs a
		// session the server issued.
		{"RightKeysNoSession", foreign(rightKeys, map[any]any{"token": app.Tokens.ReadWrite})},
		{"RightKeysMadeUpSession", foreign(rightKeys, map[any]any{"token": app.Tokens.ReadWrite, "sid": strings.Repeat("A", 43)})},
		{"Expired", restampCookie(t, good.Value, time.Now().Add(-13*time.Hour))},
	}
	for _, tc := range cases {
		if got := statusWithCookie(t, app, tc.value); got != signedOut {
			t.Errorf("%s cookie: status %d, want %d (signed out)", tc.name, got, signedOut)
		}
	}
	// The re-stamping itself is sound: stamped now, the cookie works.
	if got := statusWithCookie(t, app, restampCookie(t, good.Value, time.Now())); got != signedIn {
		t.Errorf("a freshly re-stamped cookie: %d (the Expired case proves nothing)", got)
	}

	// A second browser of the same user stays signed in when the first signs out.
	b2 := app.SignedIn(t)
	if r := b.Post("/signout", nil); r.Status != http.StatusSeeOther {
		t.Fatalf("sign out: %d", r.Status)
	}
	if got := statusWithCookie(t, app, good.Value); got != signedOut {
		t.Errorf("the cookie replayed after sign-out: status %d, want %d (signed out)", got, signedOut)
	}
	if r := b2.Get("/ledgers"); r.Status != signedIn {
		t.Errorf("another session ended with this one: %d", r.Status)
	}

	// Signing in again replaces the session: the previous cookie stops working.
	first := sessionCookie(t, app, b2).Value
	b2.SignIn(app.Tokens.ReadWrite)
	if second := sessionCookie(t, app, b2).Value; second == first {
		t.Error("signing in kept the same cookie")
	}
	if got := statusWithCookie(t, app, first); got != signedOut {
		t.Errorf("the cookie from before signing in again: %d, want signed out", got)
	}
}

// TestCookiesBehindTLSProxy: behind a trusted proxy that says the request
// came over https, the CSRF cookie is "__Host-" prefixed (a sibling
// subdomain cannot plant it) and both cookies are Secure; the plain-http
// CSRF cookie is not accepted in its place.
func TestCookiesBehindTLSProxy(t *testing.T) {
	t.Parallel()
	app := testapp.Start(t, testapp.Options{TrustedProxies: "127.0.0.1/32"})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, path, body string, cookies ...*http.Cookie) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, app.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-Proto", "https")
		for _, c := range cookies {
			req.AddCookie(c)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	cookieNamed := func(resp *http.Response, name string) *http.Cookie {
		for _, c := range resp.Cookies() {
			if c.Name == name {
				return c
			}
		}
		return nil
	}
	csrf := cookieNamed(do(http.MethodGet, "/signin", ""), "__Host-mgd_csrf")
	if csrf == nil {
		t.Fatal("no __Host-mgd_csrf cookie over https")
	}
	if !csrf.Secure || !csrf.HttpOnly || csrf.Path != "/" || csrf.Domain != "" {
		t.Errorf("__Host- cookie: Secure %v HttpOnly %v Path %q Domain %q; want Secure, HttpOnly, Path=/, no Domain", csrf.Secure, csrf.HttpOnly, csrf.Path, csrf.Domain)
	}
	form := url.Values{"token": {app.Tokens.ReadWrite}, "_csrf": {csrf.Value}}.Encode()

	planted := &http.Cookie{Name: "mgd_csrf", Value: csrf.Value}
	if resp := do(http.MethodPost, "/signin", form, planted); resp.StatusCode != http.StatusForbidden {
		t.Errorf("sign-in over https with the plain-http cookie only: %d, want 403", resp.StatusCode)
	}
	resp := do(http.MethodPost, "/signin", form, csrf)
	session := cookieNamed(resp, "mgd_session")
	if session == nil {
		t.Fatalf("no session cookie (status %d)", resp.StatusCode)
	}
	if !session.Secure || !session.HttpOnly {
		t.Errorf("session cookie behind TLS: Secure %v HttpOnly %v", session.Secure, session.HttpOnly)
	}
}

func TestSignInIsRateLimitedPerClient(t *testing.T) {
	t.Parallel()
	attempt := func(t *testing.T, app *testapp.App, b *testapp.Browser, token, xff string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, app.URL+"/signin", strings.NewReader(url.Values{"token": {token}, "_csrf": {b.CSRF()}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
			req.Header.Set("X-Real-Ip", xff)
		}
		resp, err := b.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests && !strings.Contains(string(body), "Too many sign-in attempts") {
			t.Errorf("429 without its message")
		}
		return resp.StatusCode
	}
	t.Run("DirectClients", func(t *testing.T) {
		t.Parallel()
		app := testapp.Start(t, testapp.Options{})
		b := app.NewBrowser(t)
		for i := range 10 {
			if s := attempt(t, app, b, "sbx_wrong_"+strconv.Itoa(i), ""); s != http.StatusUnprocessableEntity {
				t.Fatalf("attempt %d: %d", i+1, s)
			}
		}
		before := app.Sandbox.RequestCount("GET /api/v1/ledgers")
		// Spoofed forwarding headers change nothing without a trusted proxy,
		// and the right token is refused too while limited.
		for i, xff := range []string{"", "203.0.113.9", "198.51.100.1, 203.0.113.10"} {
			if s := attempt(t, app, b, app.Tokens.ReadWrite, xff); s != http.StatusTooManyRequests {
				t.Errorf("attempt %d (X-Forwarded-For %q): %d, want 429", 11+i, xff, s)
			}
		}
		if app.Sandbox.RequestCount("GET /api/v1/ledgers") != before {
			t.Error("limited attempts still reached the API")
		}
	})
	t.Run("BehindTrustedProxy", func(t *testing.T) {
		t.Parallel()
		app := testapp.Start(t, testapp.Options{TrustedProxies: "127.0.0.1/32"})
		b := app.NewBrowser(t)
		for i := range 10 {
			attempt(t, app, b, "sbx_wrong", "203.0.113.1")
			_ = i
		}
		if s := attempt(t, app, b, "sbx_wrong", "203.0.113.1"); s != http.StatusTooManyRequests {
			t.Errorf("11th attempt from 203.0.113.1: %d, want 429", s)
		}
		if s := attempt(t, app, b, "sbx_wrong", "203.0.113.2"); s != http.StatusUnprocessableEntity {
			t.Errorf("first attempt from another client: %d, want 422", s)
		}
	})
}

// TestOtherProjectSeesNothing: a token of another project reads none of
// the demo project's ledgers or tasks, whatever the route, the order or the
// id it tries.
func TestOtherProjectSeesNothing(t *testing.T) {
	t.Parallel()
	app := testapp.Start(t, testapp.Options{StepDelay: 300 * time.Millisecond, PollInterval: 100 * time.Millisecond})
	a := app.SignedIn(t)
	bb := app.NewBrowser(t)
	bb.SignIn(app.Tokens.Other)
	ncr := app.LedgerByName(t, "Net Carbon Removal").ID
	r, _ := confirmThroughUI(t, a, ncr, "2025-01-01", "2025-03-31")
	running := strconv.FormatInt(taskIDFrom(t, r.Location), 10)
	ledgersA := mustLedgers(t, app)
	// What B must never see: A's ledger ids and the names only A has, of
	// both of A's projects ("Biochar Produced" is also in the name of B's
	// model).
	secretNames := []string{"Net Carbon Removal", "Biochar Inventory", "Cedar Ridge", "Juniper Flats", "Biochar Output"}
	for _, l := range ledgersA {
		secretNames = append(secretNames, l.ID)
	}

	// B's own lists show none of A's ledgers or generations.
	for _, path := range []string{"/ledgers", "/tasks", "/tasks.csv"} {
		body := bb.Get(path).Body
		for _, n := range append(secretNames, "/tasks/"+running) {
			if strings.Contains(body, n) {
				t.Errorf("B's %s shows A's %q", path, n)
			}
		}
	}

	var getRoutes []string
	for _, rt := range app.Echo.Routes() {
		if rt.Method == http.MethodGet && strings.Contains(rt.Path, ":id") {
			getRoutes = append(getRoutes, rt.Path)
		}
	}
	slices.Sort(getRoutes)
	check := func(phase, task string) {
		began := time.Now()
		defer func() { t.Logf("%s: %s", phase, time.Since(began).Round(time.Millisecond)) }()
		for _, p := range getRoutes {
			for _, ledger := range []string{ncr} {
				path := fillPath(p, ledger, task)
				for _, hdr := range []map[string]string{nil, {"HX-Request": "true"}, {"Accept": "text/event-stream"}} {
					res := getWith(t, bb, app.URL+path, hdr)
					if res.Status != http.StatusNotFound {
						t.Errorf("%s: B GET %s %v: %d, want 404", phase, path, hdr, res.Status)
					}
					for _, n := range secretNames {
						if strings.Contains(res.Body, n) {
							t.Errorf("%s: B GET %s shows %q", phase, path, n)
						}
					}
				}
			}
		}
		// Forms on A's ledger: the preview (a GET, and the POST that leads
		// to it) and the confirmation.
		form := url.Values{"start_time": {"2025-01-01"}, "end_time": {"2025-03-31"}}
		if res := bb.Get("/ledgers/" + ncr + "/preview?" + form.Encode()); res.Status != http.StatusNotFound {
			t.Errorf("%s: B GET the preview of A's ledger: %d, want 404", phase, res.Status)
		}
		bb.Get("/ledgers")
		if res := bb.Post("/ledgers/"+ncr+"/preview", form); res.Status != http.StatusSeeOther || bb.Get(res.Location).Status != http.StatusNotFound {
			t.Errorf("%s: B POST the preview of A's ledger: %d to %q, want a redirect to a 404", phase, res.Status, res.Location)
		}
		bb.Get("/ledgers")
		res := bb.Post("/ledgers/"+ncr+"/generations", url.Values{"start_time": {"2025-01-01"}, "end_time": {"2025-03-31"}, "confirm_key": {strings.Repeat("A", 43)}})
		if res.Status != http.StatusNotFound && res.Status != http.StatusConflict {
			t.Errorf("%s: B POST a confirmation on A's ledger: %d, want 404 or 409", phase, res.Status)
		}
	}
	check("before A watches", running)
	// A watches the task: its watcher runs, with A's token allowed.
	stream := openEvents(t, a, app.URL+"/tasks/"+running+"/events")
	stream.until(t, 5*time.Second, "A's first status", func(ev sseEvent) bool { return ev.name == "status" })
	check("while A watches", running)
	check("seeded history task", "1")
	// Guessing ids: every task id that exists, and some that do not.
	guessed := 0
	for id := 1; id <= 12; id++ {
		for _, suffix := range []string{"", "/events", "/batches"} {
			res := getWith(t, bb, app.URL+"/tasks/"+strconv.Itoa(id)+suffix, map[string]string{"Accept": "text/event-stream"})
			guessed++
			if res.Status != http.StatusNotFound {
				t.Errorf("B guessing /tasks/%d%s: %d", id, suffix, res.Status)
			}
		}
	}
	app.WaitTask(t, app.Tokens.ReadWrite, taskIDFrom(t, r.Location), 30*time.Second)
	time.Sleep(300 * time.Millisecond)
	check("after the task ended", running)
	t.Logf("%d guessed task ids and %d id-taking GET routes tried with the other project's token", guessed, len(getRoutes))
}

// Security headers on every kind of response.
func TestSecurityHeadersEverywhere(t *testing.T) {
	t.Parallel()
	app := testapp.Start(t, testapp.Options{StepDelay: time.Second})
	b := app.NewBrowser(t)
	out := app.NewBrowser(t)
	b.SignIn(app.Tokens.ReadWrite)
	ncr := app.LedgerByName(t, "Net Carbon Removal").ID
	running := strconv.FormatInt(startTask(t, app), 10)

	type req struct {
		name, method, path string
		browser            *testapp.Browser
		hdr                map[string]string
		wantStatus         int
	}
	reqs := []req{
		{"page", "GET", "/ledgers", b, nil, 200},
		{"ledger", "GET", "/ledgers/" + ncr, b, nil, 200},
		{"sign-in page", "GET", "/signin", out, nil, 200},
		{"redirect to sign-in", "GET", "/ledgers", out, nil, 303},
		{"home redirect", "GET", "/", b, nil, 303},
		{"not found", "GET", "/nope", b, nil, 404},
		{"unknown ledger", "GET", "/ledgers/lgr_nope", b, nil, 404},
		{"method not allowed", "PUT", "/ledgers", b, nil, 0},
		{"csrf refused", "POST", "/signout", b, nil, 403},
		{"static css", "GET", "/static/css/app.css", out, nil, 200},
		{"static missing", "GET", "/static/nope.js", out, nil, 404},
		{"fragment", "GET", "/tasks/1/batches", b, map[string]string{"HX-Request": "true"}, 200},
		{"final events", "GET", "/tasks/1/events", b, map[string]string{"Accept": "text/event-stream"}, 200},
		{"events after done", "GET", "/tasks/1/events", b, map[string]string{"Last-Event-ID": "done"}, 204},
		{"signed-out events", "GET", "/tasks/1/events", out, map[string]string{"Accept": "text/event-stream"}, 401},
		{"healthz", "GET", "/healthz", out, nil, 200},
		{"csv", "GET", "/tasks.csv", b, nil, 200},
	}
	checked := 0
	checkHeaders := func(name string, h http.Header) {
		t.Helper()
		checked++
		csp := h.Get("Content-Security-Policy")
		directives := map[string]string{}
		for _, d := range strings.Split(csp, ";") {
			f := strings.Fields(d)
			if len(f) > 0 {
				directives[f[0]] = strings.Join(f[1:], " ")
			}
		}
		script, ok := directives["script-src"]
		if !ok {
			script = directives["default-src"]
		}
		switch {
		case csp == "":
			t.Errorf("%s: no Content-Security-Policy", name)
		case script == "" || strings.Contains(script, "'unsafe-inline'") || strings.Contains(script, "'unsafe-eval'") || strings.Contains(script, "*") || strings.Contains(script, "data:"):
			t.Errorf("%s: scripts are not limited to this origin: %q", name, script)
		case directives["frame-ancestors"] != "'none'":
			t.Errorf("%s: frame-ancestors %q, want 'none'", name, directives["frame-ancestors"])
		case directives["object-src"] != "'none'":
			t.Errorf("%s: object-src %q", name, directives["object-src"])
		}
		if h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q", name, h.Get("X-Content-Type-Options"))
		}
		if rp := h.Get("Referrer-Policy"); rp != "same-origin" && rp != "no-referrer" && rp != "strict-origin-when-cross-origin" {
			t.Errorf("%s: Referrer-Policy %q", name, rp)
		}
		if h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: X-Frame-Options %q", name, h.Get("X-Frame-Options"))
		}
	}
	for _, r := range reqs {
		hr, _ := http.NewRequest(r.method, app.URL+r.path, nil)
		for k, v := range r.hdr {
			hr.Header.Set(k, v)
		}
		resp, err := r.browser.HTTP.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if r.wantStatus != 0 && resp.StatusCode != r.wantStatus {
			t.Errorf("%s: status %d, want %d", r.name, resp.StatusCode, r.wantStatus)
		}
		checkHeaders(r.name, resp.Header)
	}
	// A live event stream: the headers arrive before any event.
	ctx, cancel := context.WithCancel(context.Background())
	hr, _ := http.NewRequestWithContext(ctx, http.MethodGet, app.URL+"/tasks/"+running+"/events", nil)
	resp, err := b.HTTP.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	checkHeaders("live event stream", resp.Header)
	cancel()
	resp.Body.Close()
	t.Logf("security headers checked on %d kinds of response", checked)
}

// TestSecretsStayOut runs a whole session and searches every page, header
// (but Set-Cookie), URL and log line for the API token, the session keys
// and the session cookie's values.
func TestSecretsStayOut(t *testing.T) {
	t.Parallel()
	logs := &testkit.Buffer{}
	app := testapp.Start(t, testapp.Options{StepDelay: 50 * time.Millisecond, PollInterval: 50 * time.Millisecond, LogWriter: logs})
	// The other project's token: the sandbox's sign-in page shows the demo
	// tokens on purpose, never this one.
	token := app.Tokens.Other
	b := app.NewBrowser(t)

	var (
		mu      sync.Mutex
		seen    []string // page bodies, headers, URLs
		cookies = map[string]bool{}
	)
	record := func(method, u string, r testapp.Response) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, method+" "+u, r.Body, r.Location)
		for k, vs := range r.Header {
			if k == "Set-Cookie" {
				for _, v := range vs {
					if c, err := http.ParseSetCookie(v); err == nil && c.Name == "mgd_session" && c.Value != "" {
						cookies[c.Value] = true
					}
				}
				continue
			}
			seen = append(seen, k+": "+strings.Join(vs, ", "))
		}
	}
	get := func(path string) testapp.Response {
		r := b.Get(path)
		record("GET", path, r)
		return r
	}
	post := func(path string, form url.Values) testapp.Response {
		r := b.Post(path, form)
		record("POST", path, r)
		return r
	}

	get("/signin")
	r := post("/signin", url.Values{"token": {"Bearer " + token}, "name": {"Auditor"}, "next": {"/ledgers"}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("sign in: %d", r.Status)
	}
	get(r.Location)
	ls, err := app.Client.AllLedgers(context.Background(), token)
	if err != nil || len(ls) == 0 {
		t.Fatalf("other project's ledgers: %v %v", ls, err)
	}
	kiln := ls[0].ID
	get("/ledgers/" + kiln + "?page_size=10&sort=start_time")
	get("/ledgers/" + kiln + "/batches.csv")
	get("/ledgers/" + kiln + "/generate")
	r = post("/ledgers/"+kiln+"/preview", url.Values{"start_time": {"2025-01-01"}, "end_time": {"2025-02-28"}})
	if r.Status == http.StatusSeeOther {
		r = get(r.Location)
	}
	if r.Status != http.StatusOK {
		t.Fatalf("preview: %d %.300s", r.Status, r.Body)
	}
	r = post("/ledgers/"+kiln+"/generations", formValues(t, r.Body, `form[action$="/generations"]`))
	if r.Status != http.StatusSeeOther {
		t.Fatalf("confirm: %d %.300s", r.Status, r.Body)
	}
	task := r.Location
	get(task)
	evs := readEvents(t, b, app.URL+task+"/events", 30*time.Second)
	for _, ev := range evs {
		seen = append(seen, ev.id, ev.name, ev.data)
	}
	get(task)
	get(task + "/batches")
	get("/tasks")
	get("/tasks.csv")
	get("/tasks/999999")                                          // an error page
	post("/ledgers/"+kiln+"/generations", url.Values{"x": {"1"}}) // a refused confirmation
	get("/metrics")
	get("/readyz")
	// The API revokes nothing here, but a 401 from upstream logs the error:
	// make one happen with a request the API refuses.
	post("/signout", nil)
	get("/ledgers")
	post("/signin", url.Values{"token": {token + "x"}}) // a wrong token: logged as refused
	mu.Lock()
	defer mu.Unlock()
	if len(cookies) < 2 {
		t.Fatalf("only %d session cookie values seen", len(cookies))
	}

	secrets := map[string]string{
		"API token":          token,
		"session secret":     testapp.SessionSecret,
		"session hash key":   string(testHashKey),
		"session block key":  string(testBlockKey),
		"hash key (base64)":  base64.StdEncoding.EncodeToString(testHashKey),
		"block key (base64)": base64.StdEncoding.EncodeToString(testBlockKey),
	}
	for v := range cookies {
		secrets["session cookie "+v[:8]] = v
		if raw, err := url.QueryUnescape(v); err == nil {
			secrets["session cookie (unescaped) "+v[:8]] = raw
		}
	}
	logText := logs.String()
	if !strings.Contains(logText, `"msg":"request"`) {
		t.Fatal("no request was logged: the log capture is broken")
	}
	places := map[string]string{"logs": logText, "pages, headers and URLs": strings.Join(seen, "\n")}
	for where, text := range places {
		for name, secret := range secrets {
			if strings.Contains(text, secret) {
				t.Errorf("the %s appears in the %s", name, where)
			}
		}
	}
	// The token's hash prefix names the user in places; the token itself
	// must not leak in any recognisable part either.
	if strings.Contains(logText, token[len(token)-16:]) {
		t.Error("the end of the API token appears in the logs")
	}
	t.Logf("searched %d KiB of pages, headers and URLs and %d KiB of logs (%d lines) for %d secrets",
		len(places["pages, headers and URLs"])/1024, len(logText)/1024, strings.Count(logText, "\n"), len(secrets))
}

// TestRedirectsStayLocal: next= after sign-in, and the sign-in page when
// already signed in, only ever redirect within the dashboard.
func TestRedirectsStayLocal(t *testing.T) {
	t.Parallel()
	app := testapp.Start(t, testapp.Options{})
	nasty := []string{
		"//evil.example/x", "///evil.example", "/\\evil.example", "\\\\evil.example", "/\t/evil.example",
		"https://evil.example", "http:evil.example", "javascript:alert(1)", "/%2F%2Fevil.example",
		"/\r\nSet-Cookie: x=1", "/ledgers\r\nLocation: //evil.example", " //evil.example", "\x00//evil.example",
		"/\x0b/evil.example", "evil.example", "//evil.example@dash", "/%5C%5Cevil.example", "data:text/html,x",
	}
	b := app.SignedIn(t)
	base, _ := url.Parse(app.URL)
	check := func(how, in, loc string) {
		t.Helper()
		u, err := base.Parse(browserish(loc))
		if loc == "" || err != nil || u.Host != base.Host || strings.ContainsAny(loc, "\r\n\t\x00") {
			t.Errorf("%s next=%q redirected to %q", how, in, loc)
		}
	}
	for _, n := range nasty {
		r := b.Get("/signin?next=" + url.QueryEscape(n))
		check("signed-in GET /signin", n, r.Location)
		fresh := app.NewBrowser(t)
		r = fresh.Post("/signin", url.Values{"token": {app.Tokens.ReadOnly}, "next": {n}})
		if r.Status == http.StatusTooManyRequests {
			break // the sign-in limit: enough tried
		}
		check("POST /signin", n, r.Location)
	}
	// A good local target is kept.
	r := b.Get("/signin?next=" + url.QueryEscape("/tasks?page=2"))
	if r.Location != "/tasks?page=2" {
		t.Errorf("a local next= was not kept: %q", r.Location)
	}
}

// browserish resolves a Location header value the way browsers do before
// parsing it: tabs and new lines dropped, leading and trailing C0 controls
// and spaces trimmed, backslashes taken for slashes.
func browserish(loc string) string {
	loc = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, loc)
	loc = strings.TrimFunc(loc, func(r rune) bool { return r <= ' ' })
	return strings.ReplaceAll(loc, "\\", "/")
}

// TestCSRFCookieOnlyWherePagesHaveForms: cacheable assets, probes, metrics
// and event streams get no CSRF cookie (a shared cache could hand one
// token to everyone); pages do. A chunked form past the body limit gets
// 413, not the expired-form page.
func TestCSRFCookieOnlyWherePagesHaveForms(t *testing.T) {
	t.Parallel()
	app := testapp.Start(t, testapp.Options{})
	setsCookie := func(path string) bool {
		resp, err := http.Get(app.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for _, c := range resp.Cookies() {
			if c.Name == "mgd_csrf" {
				return true
			}
		}
		return false
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/static/css/app.css"} {
		if setsCookie(path) {
			t.Errorf("%s sets the CSRF cookie", path)
		}
	}
	if !setsCookie("/signin") {
		t.Error("/signin does not set the CSRF cookie its form needs")
	}

	b := app.NewBrowser(t)
	body := io.MultiReader(strings.NewReader("_csrf="+url.QueryEscape(b.CSRF())+"&token="), strings.NewReader(strings.Repeat("x", 2<<20)))
	req, _ := http.NewRequest(http.MethodPost, app.URL+"/signin", io.NopCloser(body)) // no length: chunked
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(page), "Request too large") {
		t.Errorf("chunked oversized form: %d, want 413 and the too-large page", resp.StatusCode)
	}
}
