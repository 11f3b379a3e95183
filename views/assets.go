package views

// Vendored files, with their versions in the file names (static/vendor/MANIFEST.md).
const (
	htmxFile    = "vendor/htmx-2.0.11.min.js"
	htmxSSEFile = "vendor/htmx-ext-sse-2.2.4.js"
	uplotJS     = "vendor/uPlot-1.6.32.iife.min.js"
	uplotCSS    = "vendor/uPlot-1.6.32.min.css"
)

// taskRefreshSeconds is how often a running task's page reloads itself
// with JavaScript off.
const taskRefreshSeconds = 5

// Each page declares the assets it needs here; handlers only fill the
// shared part of the layout.

// ledgerLayout adds the chart's script and styles when there is a chart.
func ledgerLayout(p LedgerPageProps) Layout {
	l := p.Layout
	if p.Chart != nil {
		l.Styles = append(l.Styles[:len(l.Styles):len(l.Styles)], uplotCSS)
		l.Scripts = append(l.Scripts[:len(l.Scripts):len(l.Scripts)], uplotJS, "js/chart.js")
	}
	return l
}

// taskLayout follows a running task: live updates with JavaScript, a
// periodic reload without.
func taskLayout(p TaskPageProps) Layout {
	l := p.Layout
	if p.EventsURL != "" {
		l.RefreshSeconds = taskRefreshSeconds
		l.Scripts = append(l.Scripts[:len(l.Scripts):len(l.Scripts)], "js/task.js")
	}
	return l
}

// batchLayout adds the waterfall's script and styles when there is one.
func batchLayout(p BatchPageProps) Layout {
	l := p.Layout
	if p.Run != nil && p.Run.Waterfall != nil {
		l.Styles = append(l.Styles[:len(l.Styles):len(l.Styles)], uplotCSS)
		l.Scripts = append(l.Scripts[:len(l.Scripts):len(l.Scripts)], uplotJS, "js/waterfall.js")
	}
	return l
}
