// Package static embeds the dashboard's stylesheet, script and vendored
// front-end files, and serves them under content-hashed URLs.
//
// Path("css/app.css") returns "/static/css/app.1a2b3c4d.css", where the
// eight hex digits start the SHA-256 of the file's content. Handler serves
// that URL with a year-long immutable Cache-Control; a changed file gets a
// new URL, so browsers never keep a stale copy.
package static

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

//go:embed css js vendor
var files embed.FS

// Prefix is the URL path under which Handler serves the files.
const Prefix = "/static/"

const (
	immutableCache = "public, max-age=31536000, immutable"
	revalidate     = "no-cache"
	hashLen        = 8
)

// FS returns the embedded files, rooted so that names look like
// "css/app.css", "js/app.js" and "vendor/htmx-2.0.11.min.js".
func FS() fs.FS { return files }

type asset struct {
	name      string // "css/app.css"
	data      []byte
	hash      string // first 8 hex digits of the SHA-256
	etag      string // quoted, first 32 hex digits
	integrity string // "sha384-…" for subresource integrity
	ctype     string
	hashed    string // "css/app.1a2b3c4d.css"
}

// index maps both the plain and the hashed name of every file to its asset.
type index struct {
	byName   map[string]*asset
	byHashed map[string]*asset
}

var load = sync.OnceValue(func() *index {
	idx := &index{byName: map[string]*asset{}, byHashed: map[string]*asset{}}
	err := fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(files, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		sum384 := sha512.Sum384(data)
		hexSum := hex.EncodeToString(sum[:])
		a := &asset{
			name:      name,
			data:      data,
			hash:      hexSum[:hashLen],
			etag:      `"` + hexSum[:32] + `"`,
			integrity: "sha384-" + base64.StdEncoding.EncodeToString(sum384[:]),
			ctype:     contentType(name),
		}
		a.hashed = hashedName(name, a.hash)
		idx.byName[name] = a
		idx.byHashed[a.hashed] = a
		return nil
	})
	if err != nil {
		// The files are compiled in; failing to read them is a build defect.
		panic("static: reading embedded files: " + err.Error())
	}
	return idx
})

// hashedName inserts the hash before the last extension:
// "css/app.css" → "css/app.1a2b3c4d.css"; "LICENSE" → "LICENSE.1a2b3c4d".
func hashedName(name, hash string) string {
	dir, base := path.Split(name)
	if i := strings.LastIndexByte(base, '.'); i > 0 {
		return dir + base[:i] + "." + hash + base[i:]
	}
	return dir + base + "." + hash
}

// Path returns the content-hashed URL of an embedded file, such as
// "/static/css/app.1a2b3c4d.css" for "css/app.css". For a name that is not
// embedded it returns the plain "/static/<name>" (which answers 404), so a
// typo shows up as a broken link rather than a crash; tests should call
// Exists.
func Path(name string) string {
	name = strings.TrimPrefix(name, "/")
	if a, ok := load().byName[name]; ok {
		return Prefix + a.hashed
	}
	return Prefix + name
}

// Exists reports whether name (like "css/app.css") is an embedded file.
func Exists(name string) bool {
	_, ok := load().byName[strings.TrimPrefix(name, "/")]
	return ok
}

// Integrity returns the subresource-integrity value ("sha384-…") of an
// embedded file, or "" if it does not exist.
func Integrity(name string) string {
	if a, ok := load().byName[strings.TrimPrefix(name, "/")]; ok {
		return a.integrity
	}
	return ""
}

// Handler serves the embedded files. It accepts request paths with or
// without the "/static/" prefix (so it works behind http.StripPrefix too):
//
//   - a content-hashed name whose hash matches is served with
//     "Cache-Control: public, max-age=31536000, immutable";
//   - a plain name, or a hashed name from an older build, is served with
//     the current content and "Cache-Control: no-cache" (revalidated by
//     ETag), so a page rendered before a deploy still gets its files;
//   - anything else, directories included, is 404.
//
// Only GET and HEAD are allowed. Range and If-None-Match requests are
// handled by http.ServeContent.
func Handler() http.Handler {
	idx := load()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		name := strings.TrimPrefix(r.URL.Path, "/")
		name = strings.TrimPrefix(name, strings.TrimPrefix(Prefix, "/"))

		a, cache := idx.lookup(name)
		if a == nil {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.ctype)
		h.Set("Cache-Control", cache)
		h.Set("ETag", a.etag)
		h.Set("X-Content-Type-Options", "nosniff")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.data))
	})
}

// lookup finds the asset for a request name and the Cache-Control it gets.
func (idx *index) lookup(name string) (*asset, string) {
	if name == "" || strings.HasSuffix(name, "/") || strings.Contains(name, "..") {
		return nil, ""
	}
	if a, ok := idx.byHashed[name]; ok {
		return a, immutableCache
	}
	if a, ok := idx.byName[name]; ok {
		return a, revalidate
	}
	// A hashed name from another build: strip the hash, serve what we have.
	for _, plain := range unhashed(name) {
		if a, ok := idx.byName[plain]; ok {
			return a, revalidate
		}
	}
	return nil, ""
}

// unhashed lists the plain names a hashed name from any build may stand
// for: "css/app.1a2b3c4d.css" → "css/app.css", "LICENSE.1a2b3c4d" → "LICENSE".
func unhashed(name string) []string {
	dir, base := path.Split(name)
	i := strings.LastIndexByte(base, '.')
	if i <= 0 {
		return nil
	}
	stem, ext := base[:i], base[i:]
	var out []string
	if j := strings.LastIndexByte(stem, '.'); j > 0 && isHash(stem[j+1:]) {
		out = append(out, dir+stem[:j]+ext)
	}
	if isHash(ext[1:]) {
		out = append(out, dir+stem)
	}
	return out
}

func isHash(s string) bool {
	if len(s) != hashLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// contentTypes fixes the types of the files we ship, independent of the
// host's MIME tables.
var contentTypes = map[string]string{
	".css":   "text/css; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".mjs":   "text/javascript; charset=utf-8",
	".map":   "application/json; charset=utf-8",
	".json":  "application/json; charset=utf-8",
	".md":    "text/markdown; charset=utf-8",
	".txt":   "text/plain; charset=utf-8",
	".svg":   "image/svg+xml",
	".png":   "image/png",
	".ico":   "image/x-icon",
	".webp":  "image/webp",
	".woff2": "font/woff2",
}

func contentType(name string) string {
	ext := strings.ToLower(path.Ext(name))
	if t, ok := contentTypes[ext]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}
