package static

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func sha(t *testing.T, name string) string {
	t.Helper()
	b, err := fs.ReadFile(FS(), name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// vendoredScripts lists the vendored JavaScript files.
func vendoredScripts(t *testing.T) []string {
	t.Helper()
	names, err := fs.Glob(FS(), "vendor/*.js")
	if err != nil || len(names) == 0 {
		t.Fatalf("vendored scripts: %v, %v", names, err)
	}
	return names
}

func TestFS(t *testing.T) {
	for _, name := range []string{"css/app.css", "js/app.js", "vendor/MANIFEST.md"} {
		if !Exists(name) {
			t.Errorf("%s is not embedded", name)
		}
	}
	var htmx, sse int
	for _, name := range vendoredScripts(t) {
		switch {
		case regexp.MustCompile(`^vendor/htmx-2\.0\.\d+\.min\.js$`).MatchString(name):
			htmx++
		case regexp.MustCompile(`^vendor/htmx-ext-sse-2\.2\.\d+\.js$`).MatchString(name):
			sse++
		}
	}
	if htmx != 1 || sse != 1 {
		t.Errorf("want exactly one htmx 2.0.x and one htmx-ext-sse 2.2.x file, got %d and %d", htmx, sse)
	}
}

func TestPath(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
	}{
		{"css/app.css", `^/static/css/app\.([0-9a-f]{8})\.css$`},
		{"/css/app.css", `^/static/css/app\.([0-9a-f]{8})\.css$`},
		{"js/app.js", `^/static/js/app\.([0-9a-f]{8})\.js$`},
		{"vendor/MANIFEST.md", `^/static/vendor/MANIFEST\.([0-9a-f]{8})\.md$`},
	}
	for _, n := range vendoredScripts(t) {
		stem := strings.TrimSuffix(n, ".js")
		tests = append(tests, struct{ name, pattern string }{n, `^/static/` + regexp.QuoteMeta(stem) + `\.([0-9a-f]{8})\.js$`})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Path(tt.name)
			m := regexp.MustCompile(tt.pattern).FindStringSubmatch(got)
			if m == nil {
				t.Fatalf("Path(%q) = %q, want match for %s", tt.name, got, tt.pattern)
			}
			if want := sha(t, strings.TrimPrefix(tt.name, "/"))[:8]; m[1] != want {
				t.Errorf("hash %s, want %s (SHA-256 of the content)", m[1], want)
			}
		})
	}

	t.Run("Unknown", func(t *testing.T) {
		if got := Path("css/nope.css"); got != "/static/css/nope.css" {
			t.Errorf("Path(unknown) = %q", got)
		}
		if Exists("css/nope.css") || Integrity("css/nope.css") != "" {
			t.Error("unknown file reported as existing")
		}
	})

	t.Run("Integrity", func(t *testing.T) {
		if got := Integrity("js/app.js"); !regexp.MustCompile(`^sha384-[A-Za-z0-9+/]{64}$`).MatchString(got) {
			t.Errorf("Integrity = %q", got)
		}
	})
}

func TestHandler(t *testing.T) {
	css := Path("css/app.css")
	js := Path("js/app.js")
	htmx := Path(vendoredScripts(t)[0])
	cssBody, _ := fs.ReadFile(FS(), "css/app.css")

	// The handler answers both full paths and paths stripped of /static/.
	mounts := map[string]http.Handler{
		"Direct":      Handler(),
		"StripPrefix": http.StripPrefix("/static/", Handler()),
	}
	tests := []struct {
		name        string
		method      string
		path        string
		header      map[string]string
		wantStatus  int
		wantType    string
		wantCache   string
		wantBody    []byte
		wantNoBody  bool
		wantAllowed string
	}{
		{name: "HashedCSS", path: css, wantStatus: 200, wantType: "text/css; charset=utf-8", wantCache: immutableCache, wantBody: cssBody},
		{name: "HashedJS", path: js, wantStatus: 200, wantType: "text/javascript; charset=utf-8", wantCache: immutableCache},
		{name: "HashedVendor", path: htmx, wantStatus: 200, wantType: "text/javascript; charset=utf-8", wantCache: immutableCache},
		{name: "Manifest", path: Path("vendor/MANIFEST.md"), wantStatus: 200, wantType: "text/markdown; charset=utf-8", wantCache: immutableCache},
		{name: "PlainName", path: "/static/css/app.css", wantStatus: 200, wantType: "text/css; charset=utf-8", wantCache: revalidate, wantBody: cssBody},
		{name: "StaleHash", path: "/static/css/app.00000000.css", wantStatus: 200, wantType: "text/css; charset=utf-8", wantCache: revalidate, wantBody: cssBody},
		{name: "Head", method: http.MethodHead, path: css, wantStatus: 200, wantType: "text/css; charset=utf-8", wantCache: immutableCache, wantNoBody: true},
		{name: "NotModified", path: css, header: map[string]string{"If-None-Match": load().byName["css/app.css"].etag}, wantStatus: 304, wantNoBody: true},
		{name: "Range", path: css, header: map[string]string{"Range": "bytes=0-9"}, wantStatus: 206, wantBody: cssBody[:10]},
		{name: "Unknown", path: "/static/css/nope.css", wantStatus: 404},
		{name: "UnknownHashed", path: "/static/css/nope.0123abcd.css", wantStatus: 404},
		{name: "BadHash", path: "/static/css/app.0123ABCD.css", wantStatus: 404},
		{name: "Directory", path: "/static/css/", wantStatus: 404},
		{name: "Root", path: "/static/", wantStatus: 404},
		{name: "DotDot", path: "/static/../static.go", wantStatus: 404},
		{name: "GoSource", path: "/static/static.go", wantStatus: 404},
		{name: "Post", method: http.MethodPost, path: css, wantStatus: 405, wantAllowed: "GET, HEAD"},
	}
	for mount, h := range mounts {
		for _, tt := range tests {
			t.Run(mount+"/"+tt.name, func(t *testing.T) {
				method := tt.method
				if method == "" {
					method = http.MethodGet
				}
				req := httptest.NewRequest(method, "http://example.test/", nil)
				req.URL.Path = tt.path // bypass cleaning, like a raw client would
				for k, v := range tt.header {
					req.Header.Set(k, v)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				res := rec.Result()
				body, _ := io.ReadAll(res.Body)

				if res.StatusCode != tt.wantStatus {
					t.Fatalf("status %d, want %d (body %q)", res.StatusCode, tt.wantStatus, body)
				}
				if tt.wantType != "" && res.Header.Get("Content-Type") != tt.wantType {
					t.Errorf("Content-Type %q, want %q", res.Header.Get("Content-Type"), tt.wantType)
				}
				if tt.wantCache != "" && res.Header.Get("Cache-Control") != tt.wantCache {
					t.Errorf("Cache-Control %q, want %q", res.Header.Get("Cache-Control"), tt.wantCache)
				}
				if tt.wantStatus == 200 && res.Header.Get("X-Content-Type-Options") != "nosniff" {
					t.Error("missing X-Content-Type-Options: nosniff")
				}
				if tt.wantStatus == 200 && res.Header.Get("ETag") == "" {
					t.Error("missing ETag")
				}
				if tt.wantStatus == 404 && strings.Contains(res.Header.Get("Cache-Control"), "immutable") {
					t.Error("404 marked immutable")
				}
				if tt.wantBody != nil && string(body) != string(tt.wantBody) {
					t.Errorf("body differs from the embedded file (%d vs %d bytes)", len(body), len(tt.wantBody))
				}
				if tt.wantNoBody && len(body) != 0 {
					t.Errorf("body of %d bytes, want none", len(body))
				}
				if tt.wantAllowed != "" && res.Header.Get("Allow") != tt.wantAllowed {
					t.Errorf("Allow %q, want %q", res.Header.Get("Allow"), tt.wantAllowed)
				}
			})
		}
	}
}

func TestHashedNames(t *testing.T) {
	tests := []struct{ name, hash, want string }{
		{"css/app.css", "1a2b3c4d", "css/app.1a2b3c4d.css"},
		{"vendor/htmx-2.0.11.min.js", "1a2b3c4d", "vendor/htmx-2.0.11.min.1a2b3c4d.js"},
		{"LICENSE", "1a2b3c4d", "LICENSE.1a2b3c4d"},
		{".hidden", "1a2b3c4d", ".hidden.1a2b3c4d"},
	}
	for _, tt := range tests {
		got := hashedName(tt.name, tt.hash)
		if got != tt.want {
			t.Errorf("hashedName(%q) = %q, want %q", tt.name, got, tt.want)
		}
		found := false
		for _, u := range unhashed(got) {
			found = found || u == tt.name
		}
		if !found {
			t.Errorf("unhashed(%q) = %q, does not give back %q", got, unhashed(got), tt.name)
		}
	}
	seen := map[string]string{}
	for name, a := range load().byName {
		if other, dup := seen[a.hashed]; dup {
			t.Errorf("%s and %s share the hashed name %s", name, other, a.hashed)
		}
		seen[a.hashed] = name
	}
}

// TestManifest checks that vendor/MANIFEST.md lists every vendored script
// with its real SHA-256 and licence.
func TestManifest(t *testing.T) {
	b, err := fs.ReadFile(FS(), "vendor/MANIFEST.md")
	if err != nil {
		t.Fatal(err)
	}
	manifest := string(b)
	styles, err := fs.Glob(FS(), "vendor/*.css")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range append(vendoredScripts(t), styles...) {
		file := strings.TrimPrefix(name, "vendor/")
		row := regexp.MustCompile("(?m)^\\| `" + regexp.QuoteMeta(file) + "` \\|.*$").FindString(manifest)
		if row == "" {
			t.Errorf("MANIFEST.md has no row for %s", file)
			continue
		}
		if !strings.Contains(row, "`"+sha(t, name)+"`") {
			t.Errorf("MANIFEST.md row for %s lacks its sha256 %s:\n%s", file, sha(t, name), row)
		}
		cells := strings.Split(strings.Trim(row, "| "), "|")
		licence := strings.TrimSpace(cells[len(cells)-1])
		if licence != "0BSD" && licence != "MIT" { // the licences vetted so far
			t.Errorf("MANIFEST.md row for %s names licence %q, want 0BSD or MIT", file, licence)
		}
	}
}

// TestCSPSafety keeps our own script and stylesheet usable under a strict
// Content-Security-Policy (no eval, no inline handlers or styles).
func TestCSPSafety(t *testing.T) {
	scripts, err := fs.Glob(FS(), "js/*.js")
	if err != nil || len(scripts) < 3 {
		t.Fatalf("our scripts: %v %v", scripts, err)
	}
	for _, name := range scripts {
		js, _ := fs.ReadFile(FS(), name)
		if !strings.Contains(string(js), `"use strict"`) {
			t.Errorf("%s is not in strict mode", name)
		}
		for _, bad := range []string{"eval(", "new Function", "innerHTML", "outerHTML", "document.write", "setAttribute(\"style\"", ".style.", "setTimeout(\"", "setInterval(\""} {
			if strings.Contains(string(js), bad) {
				t.Errorf("%s contains %q", name, bad)
			}
		}
	}
	css, _ := fs.ReadFile(FS(), "css/app.css")
	for _, bad := range []string{"@import", "url(http", "expression("} {
		if strings.Contains(string(css), bad) {
			t.Errorf("app.css contains %q", bad)
		}
	}
	for _, class := range []string{
		".table-wrap", ".num", ".field-error", `[aria-invalid="true"]`, ".btn-primary", ".btn-secondary",
		":focus-visible", ".badge-complete", ".badge-failed", ".badge-running", ".badge-pending",
		".badge-warning", ".flash-success", ".flash-error", ".flash-info", ".callout-warning",
		"progress.task-progress", ".skip-link", ".visually-hidden", "dl.meta", "nav.pager",
	} {
		if !strings.Contains(string(css), class) {
			t.Errorf("app.css has no %s rule", class)
		}
	}
}
