package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/carbon-dash/mangrove-dashboard/internal/testapp"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// words is the text of a selection with its whitespace collapsed.
func words(s *goquery.Selection) string { return strings.Join(strings.Fields(s.Text()), " ") }

// exactCount parses the one number re captures in text, failing the test
// when text is not exactly of re's form.
func exactCount(t *testing.T, where string, re *regexp.Regexp, text string) int {
	t.Helper()
	m := re.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("%s is %q, want the form %s", where, text, re)
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		t.Fatalf("%s: %q: %v", where, m[1], err)
	}
	return n
}

var (
	decisionTotalRe = regexp.MustCompile(`^([0-9]+) (?:batch|batches)$`)
	confirmTotalRe  = regexp.MustCompile(`^Confirm and generate ([0-9]+) (?:batch|batches)$`)
	plainCountRe    = regexp.MustCompile(`^([0-9]+)$`)
)

// TestPreviewTotalIsTheSumOfEveryLedger: a generation on Net Carbon Removal
// also writes Biochar Produced batches upstream; the preview's total (the
// decision, the table's Total row and the Confirm button) is the sum of the
// per-ledger counts, each as the API gave it, exactly.
func TestPreviewTotalIsTheSumOfEveryLedger(t *testing.T) {
	t.Parallel()
	app := testapp.Start(t, testapp.Options{})
	b := app.SignedIn(t)
	id := app.LedgerByName(t, "Net Carbon Removal").ID
	biochar := app.LedgerByName(t, "Biochar Produced").ID

	r := preview(t, b, id, url.Values{"start_time": {"2025-01-01"}, "end_time": {"2025-03-31"}})
	if r.Status != http.StatusOK {
		t.Fatalf("preview: status %d %.500s", r.Status, r.Body)
	}
	start, _ := time.Parse(time.RFC3339, "2025-01-01T00:00:00Z")
	end, _ := time.Parse(time.RFC3339, "2025-03-31T23:59:59Z")
	api, err := app.Client.PreviewGeneration(context.Background(), app.Tokens.ReadWrite, id, mangrove.PreviewRequest{StartTime: start, EndTime: end})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	for _, e := range api {
		want[e.ID] = e.Count
	}
	// The test means something only if more than one ledger has batches.
	if want[id] <= 0 || want[biochar] <= 0 {
		t.Fatalf("the API previews %+v: want batches on both Net Carbon Removal and Biochar Produced", api)
	}

	d := doc(t, r.Body)
	cells := d.Find("#preview-counts tbody td[data-ledger]")
	if cells.Length() != len(api) {
		t.Fatalf("the preview lists %d ledgers, the API %d", cells.Length(), len(api))
	}
	sum := 0
	seen := map[string]bool{}
	cells.Each(func(_ int, c *goquery.Selection) {
		ledger, _ := c.Attr("data-ledger")
		n := exactCount(t, "the count of "+ledger, plainCountRe, words(c))
		if w, ok := want[ledger]; !ok || n != w || seen[ledger] {
			t.Errorf("the preview shows %d batches for %s (listed before: %v), the API %d (known: %v)", n, ledger, seen[ledger], w, ok)
		}
		seen[ledger] = true
		sum += n
	})

	t.Logf("the API previews %v; the per-ledger counts add up to %d", want, sum)
	totals := map[string]int{
		"the decision's total":  exactCount(t, "the decision's total", decisionTotalRe, words(d.Find("#decision-total strong"))),
		"the table's Total row": exactCount(t, "the table's Total row", plainCountRe, words(d.Find("#preview-counts tfoot td.num").First())),
		"the Confirm button":    exactCount(t, "the Confirm button", confirmTotalRe, words(d.Find("#confirm"))),
	}
	for where, n := range totals {
		if n != sum {
			t.Errorf("%s says %d batches, the per-ledger counts add up to %d", where, n, sum)
		}
	}
	if got := words(d.Find("#decision-total")); !strings.Contains(got, " in "+strconv.Itoa(len(api))+" ledgers ") {
		t.Errorf("the decision %q does not say %d ledgers", got, len(api))
	}
}
