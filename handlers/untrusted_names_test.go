package handlers_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"golang.org/x/net/html"

	"github.com/carbon-dash/mangrove-dashboard/internal/testapp"
)

// Names that try to break out of HTML text, attributes and the title.
const (
	evilLedger = `<script>alert(1)</script> "Net" & 'Carbon' Ünïcödé ✓ 𝔘 </title>`
	evilOther  = `"><img src=x onerror=alert(2)><svg onload=alert(3)> ' " =`
)

// renaming rewrites the sandbox's JSON answers: every JSON string equal to
// a key becomes its value, so the API hands the dashboard hostile names.
func renaming(names map[string]string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			for from, to := range names {
				old, _ := json.Marshal(from)
				repl, _ := json.Marshal(to)
				body = bytes.ReplaceAll(body, old, repl)
			}
			for k, v := range rec.Header() {
				if k != "Content-Length" {
					w.Header()[k] = v
				}
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(body)
		})
	}
}

// checkInert fails when a page's markup carries anything executable that
// the dashboard did not write itself, and reports whether want appears as
// text.
func checkInert(t *testing.T, where, markup string) *goquery.Document {
	t.Helper()
	for _, raw := range []string{"<script>alert", "<img src=x", "<svg"} {
		if strings.Contains(markup, raw) {
			t.Errorf("%s: raw %q in the markup", where, raw)
		}
	}
	d, err := goquery.NewDocumentFromReader(strings.NewReader(markup))
	if err != nil {
		t.Fatal(err)
	}
	d.Find("*").Each(func(_ int, s *goquery.Selection) {
		n := s.Get(0)
		for _, a := range n.Attr {
			if strings.HasPrefix(strings.ToLower(a.Key), "on") {
				t.Errorf("%s: <%s> has an event handler attribute %s=%q", where, n.Data, a.Key, a.Val)
			}
			if (a.Key == "href" || a.Key == "src" || a.Key == "action") && strings.HasPrefix(strings.ToLower(strings.TrimSpace(a.Val)), "javascript:") {
				t.Errorf("%s: <%s %s=%q>", where, n.Data, a.Key, a.Val)
			}
		}
		switch n.Data {
		case "script":
			if typ, _ := s.Attr("type"); typ == "application/json" && json.Valid([]byte(s.Text())) {
				return // a data block, never run
			}
			if src, ok := s.Attr("src"); !ok || !strings.HasPrefix(src, "/static/") || strings.TrimSpace(s.Text()) != "" {
				t.Errorf("%s: a <script> that is not one of the dashboard's files: %s", where, outer(n))
			}
		case "img", "svg", "iframe", "object", "embed":
			t.Errorf("%s: an injected <%s>", where, n.Data)
		}
	})
	return d
}

func outer(n *html.Node) string {
	var b bytes.Buffer
	_ = html.Render(&b, n)
	return b.String()
}

func textHas(d *goquery.Document, sel, want string) bool {
	return strings.Contains(d.Find(sel).Text(), want)
}

// TestHostileNamesRenderAsText: ledger names from the API are untrusted;
// they show as text on every page, in titles, attributes and event
// fragments, and never become markup.
func TestHostileNamesRenderAsText(t *testing.T) {
	t.Parallel()
	app := testapp.Start(t, testapp.Options{StepDelay: 20 * time.Millisecond, PollInterval: 50 * time.Millisecond,
		WrapSandbox: renaming(map[string]string{"Net Carbon Removal": evilLedger, "Biochar Produced": evilOther})})
	b := app.SignedIn(t)
	const ncr = "lgr_3047w5rbxmym" // Net Carbon Removal's seeded id
	pages := 0
	page := func(path string, r testapp.Response, want map[string]string) *goquery.Document {
		t.Helper()
		pages++
		if r.Status != http.StatusOK {
			t.Fatalf("%s: %d %.300s", path, r.Status, r.Body)
		}
		d := checkInert(t, path, r.Body)
		for sel, name := range want {
			if !textHas(d, sel, name) {
				t.Errorf("%s: %s does not show %q as text: %q", path, sel, name, d.Find(sel).Text())
			}
		}
		return d
	}

	// Both hostile names are ledgers of the demo project: the list shows each.
	d := page("/ledgers", b.Get("/ledgers"), map[string]string{"main": evilLedger})
	if !textHas(d, "main", evilOther) {
		t.Errorf("/ledgers: the second hostile name %q is not shown as text: %q", evilOther, d.Find("main").Text())
	}
	page("/ledgers/"+ncr, b.Get("/ledgers/"+ncr), map[string]string{"title": evilLedger, "h1": evilLedger, "main": evilOther})
	page("generate form", b.Get("/ledgers/"+ncr+"/generate"), map[string]string{"title": evilLedger})
	r := b.Get("/ledgers/" + ncr + "/preview?" + url.Values{"start_time": {"2025-01-01"}, "end_time": {"2025-03-31"}}.Encode())
	d = page("preview", r, map[string]string{"#preview-counts": evilLedger, "main": evilOther})
	// The preview counts a row per ledger: Biochar Produced's, under its
	// hostile name, is there as text and escaped in the markup.
	rows := d.Find("#preview-counts tbody th").Map(func(_ int, s *goquery.Selection) string { return s.Text() })
	if !slices.Contains(rows, evilLedger) || !slices.Contains(rows, evilOther) {
		t.Errorf("preview: the per-ledger rows are %q, want one named %q and one named %q", rows, evilLedger, evilOther)
	}
	_, table, _ := strings.Cut(r.Body, `<table id="preview-counts"`)
	table, _, _ = strings.Cut(table, "</table>")
	if esc := html.EscapeString(evilOther); !strings.Contains(table, ">"+esc+"<") {
		t.Errorf("preview: the counts table lacks the escaped second name %q: %s", esc, table)
	}
	r = b.Post("/ledgers/"+ncr+"/generations", formValues(t, r.Body, `form[action$="/generations"]`))
	if r.Status != http.StatusSeeOther {
		t.Fatalf("confirm: %d %.300s", r.Status, r.Body)
	}
	task := r.Location
	page("task page with flash", b.Get(task), map[string]string{".flashes": evilLedger})
	evs := readEvents(t, b, app.URL+task+"/events", 30*time.Second)
	var last *goquery.Document
	for _, ev := range evs {
		if ev.name != "status" {
			continue
		}
		pages++
		last = checkInert(t, "event fragment "+ev.id, "<html><body>"+ev.data+"</body></html>")
	}
	if last == nil {
		t.Fatal("no status fragment")
	}
	// The outcome the final fragment loads names the ledgers it wrote on.
	part := getWith(t, b, app.URL+task+"/batches", map[string]string{"HX-Request": "true"})
	pages++
	if d := checkInert(t, "outcome part", "<html><body>"+part.Body+"</body></html>"); !textHas(d, "#task-outcome h3", evilLedger) {
		t.Errorf("the outcome does not name the ledger as text")
	}
	page("finished task page", b.Get(task), map[string]string{"main": evilLedger})
	page("history", b.Get("/tasks"), map[string]string{"main": evilLedger})
	t.Logf("%d pages and event fragments checked with hostile ledger names", pages)
}
