package handlers_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/internal/testapp"
)

// apiCounter counts every request the sandbox receives.
type apiCounter struct{ n atomic.Int64 }

func (c *apiCounter) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.n.Add(1)
		next.ServeHTTP(w, r)
	})
}

// Issue 13's call budgets: a preview after the form view costs at most six API
// calls, the same preview again at most two; a ledger page at most its one round.
const (
	maxColdPreviewCalls = 6
	maxWarmPreviewCalls = 2
)

// TestPreviewCallCounts counts the API calls of the path staff take: the
// ledgers list (where sign-in lands), the form, then the preview (cold: only
// the list's and the form's reads are cached), then the same preview again
// (warm). The preview must still show every check: the counts, the existing
// batches and each input's data. The demo token sees two projects: the list
// tells which project each ledger belongs to, and the preview's input check
// reads only the ledger's project's events. (Without the list, a first
// preview also reads each project's models and the other project's first
// events, beside its own: four calls more, no round more.)
func TestPreviewCallCounts(t *testing.T) {
	t.Parallel()
	var calls apiCounter
	app := testapp.Start(t, testapp.Options{WrapSandbox: calls.wrap})
	b := app.SignedIn(t)
	ncr := app.LedgerByName(t, "Net Carbon Removal").ID
	q1 := url.Values{"start_time": {"2025-01-01"}, "end_time": {"2025-03-31"}}.Encode()
	if r := b.Get("/ledgers"); r.Status != http.StatusOK {
		t.Fatalf("list: %d", r.Status)
	}

	before := calls.n.Load()
	if r := b.Get("/ledgers/" + ncr + "/generate"); r.Status != http.StatusOK {
		t.Fatalf("form: %d", r.Status)
	}
	form := calls.n.Load() - before

	before = calls.n.Load()
	r := b.Get("/ledgers/" + ncr + "/preview?" + q1)
	cold := calls.n.Load() - before
	if r.Status != http.StatusOK {
		t.Fatalf("preview: %d %.300s", r.Status, r.Body)
	}
	d := doc(t, r.Body)
	if d.Find(`#input-data tr[data-state="found"]`).Length() == 0 {
		t.Error("the preview shows no input with data: the demo quarter has data")
	}
	if d.Find(`#input-data tr[data-state="unknown"]`).Length() != 0 {
		t.Error("the preview could not tell some inputs' data")
	}
	if !strings.Contains(r.Body, "Biochar Produced") {
		t.Error("the preview does not name the concurrent ledger")
	}

	before = calls.n.Load()
	if r := b.Get("/ledgers/" + ncr + "/preview?" + q1); r.Status != http.StatusOK {
		t.Fatalf("preview again: %d", r.Status)
	}
	warm := calls.n.Load() - before

	t.Logf("API calls: form %d, cold preview %d, warm preview %d", form, cold, warm)
	if cold > maxColdPreviewCalls {
		t.Errorf("a preview after the form made %d API calls, want at most %d", cold, maxColdPreviewCalls)
	}
	if warm > maxWarmPreviewCalls {
		t.Errorf("the same preview again made %d API calls, want at most %d", warm, maxWarmPreviewCalls)
	}
}

// lowBudget makes every API answer say the token has used all but 5 of its
// 1,000 requests in the window.
func lowBudget(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(budgetHeaders{ResponseWriter: w}, r)
	})
}

type budgetHeaders struct{ http.ResponseWriter }

func (b budgetHeaders) WriteHeader(status int) {
	h := b.Header()
	h.Set("RateLimit-Limit", "1000")
	h.Set("RateLimit-Remaining", "5")
	h.Set("RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10))
	b.ResponseWriter.WriteHeader(status)
}

func (b budgetHeaders) Write(p []byte) (int, error) {
	if b.Header().Get("RateLimit-Remaining") == "" {
		b.WriteHeader(http.StatusOK)
	}
	return b.ResponseWriter.Write(p)
}

// TestLowBudgetWarns: when Mangrove says a token has under a tenth of its
// window left, pages say so (and the metric counts the token); with plenty
// left they do not.
func TestLowBudgetWarns(t *testing.T) {
	t.Parallel()
	app := testapp.Start(t, testapp.Options{WrapSandbox: lowBudget})
	b := app.SignedIn(t)
	b.Get("/ledgers") // an API answer with the low budget
	r := b.Get("/ledgers")
	warning := strings.TrimSpace(doc(t, r.Body).Find("#budget-warning").Text())
	if !strings.Contains(warning, "Under 10% of this minute's Mangrove API requests are left") {
		t.Errorf("no budget warning on a page: %q", warning)
	}
	if m := b.Get("/metrics").Body; !strings.Contains(m, "dashboard_upstream_tokens_low_budget 1") {
		t.Errorf("metric not 1:\n%s", grepLines(m, "low_budget"))
	}

	plenty := testapp.Start(t, testapp.Options{})
	pb := plenty.SignedIn(t)
	pb.Get("/ledgers")
	if r := pb.Get("/ledgers"); doc(t, r.Body).Find("#budget-warning").Length() != 0 {
		t.Error("budget warning with plenty of budget left")
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
