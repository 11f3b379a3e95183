package views

// Vendored scripts, with their versions in the file names (static/vendor/MANIFEST.md).
const (
	htmxFile    = "vendor/htmx-2.0.11.min.js"
	htmxSSEFile = "vendor/htmx-ext-sse-2.2.4.js"
)
