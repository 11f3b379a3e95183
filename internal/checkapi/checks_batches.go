package checkapi

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// byUpdated is the order the produced-batches list reads a ledger's
// batches in (generation/tasks.go).
const byUpdated = "-updated_at,-id"

// noSuchState is a batch state no API should have, to see whether a state
// filter on it lists nothing.
const noSuchState = "check-api-no-such-state"

// checkBatches checks GET /ledgers/{id}/batches on the first of ids that
// has two batches or more (at most ledgersTried), its filters and order,
// then GET /batches/{id} on one of them.
func (c *checker) checkBatches(ctx context.Context, ids []string) {
	const ep = "GET /ledgers/{id}/batches"
	if len(ids) == 0 {
		c.untold(ep, "no ledger to read batches from", answers)
		c.untold("GET /batches/{id}", "no ledger to read batches from", answers)
		return
	}
	// The ledger with the most batches on page 1 of those read, stopping
	// at the first with two (enough for order and filters) or a failure.
	var a *answer
	var ledger string
	var data []any
	for _, id := range ids[:min(len(ids), ledgersTried)] {
		next := c.get(ctx, "/ledgers/"+url.PathEscape(id)+"/batches", pageQuery(1, bigPage, byUpdated))
		d, _ := items(next.body)
		if a == nil || !next.ok() || len(d) > len(data) {
			a, ledger, data = next, id, d
		}
		if !next.ok() || len(data) >= 2 {
			break
		}
	}
	if !a.ok() {
		c.add(ep, answers, Documented, true, Missing, a.problem()+" (ledger "+ledger+")")
		c.untold("GET /batches/{id}", "the batch list failed", answers)
		return
	}
	c.add(ep, answers, Documented, true, Present, fmt.Sprintf("ledger %s, %s on page 1", ledger, plural(len(data), "batch")))
	c.fields(ep, "", []Field{{Path: "data", Kind: Array, Needed: true}, {Path: "info", Kind: Object, Needed: true}}, a.body)
	c.fields(ep, "", listInfoFields, a.body)
	c.fields(ep, "data[].", batchFields, data...)
	c.addVerdict(ep, "page_size=100 honoured", Guess, false, JudgePageSize(bigPage, a.body))
	c.addVerdict(ep, "info.total_pages = ceil(total_items/page_size)", Guess, false, JudgeTotalPages(a.body))
	c.addVerdict(ep, "sort="+byUpdated+" orders by updated_at", Documented, true, JudgeOrder(times(data, "updated_at"), true))
	_, err := c.api.LedgerBatches(ctx, c.token, ledger, mangrove.ListOptions{Page: 1, PageSize: bigPage, Sort: []string{"-updated_at", "-id"}})
	c.decodes(ep, true, err)
	if len(data) == 0 {
		why := "no ledger read has batches"
		c.untold(ep, why, "filter[state][eq] narrows the list", "filter[id][eq] narrows the list",
			"filter[start_time][leq]+filter[end_time][geq] narrow the list")
		c.untold("GET /batches/{id}", why, answers)
		return
	}
	c.checkStateFilter(ctx, ledger, data)
	c.checkIDFilter(ctx, ledger, data)
	c.checkOverlapFilter(ctx, ledger, a.body)
	c.checkBatch(ctx, pickBatch(data))
}

// checkStateFilter asks for the batches of the rarest listed state; when
// every listed batch has that state, for a state none has.
func (c *checker) checkStateFilter(ctx context.Context, ledger string, data []any) {
	const ep, check = "GET /ledgers/{id}/batches", "filter[state][eq] narrows the list"
	count := map[string]int{}
	for _, it := range data {
		count[stringValue(object(it)["state"])]++
	}
	states := make([]string, 0, len(count))
	for s := range count {
		states = append(states, s)
	}
	sort.Slice(states, func(i, j int) bool {
		if count[states[i]] != count[states[j]] {
			return count[states[i]] < count[states[j]]
		}
		return states[i] < states[j]
	})
	want := states[0]
	q := pageQuery(1, bigPage, byUpdated)
	q.Set("filter[state][eq]", want)
	fa := c.get(ctx, "/ledgers/"+url.PathEscape(ledger)+"/batches", q)
	if !fa.ok() {
		c.add(ep, check, Documented, true, DoesNotHold, fmt.Sprintf("filter[state][eq]=%s: %s", want, fa.problem()))
		return
	}
	filtered, _ := items(fa.body)
	v := JudgeFilterEq("state", want, filtered, len(count) > 1)
	if v.Status == CouldNotTell {
		q.Set("filter[state][eq]", noSuchState)
		pa := c.get(ctx, "/ledgers/"+url.PathEscape(ledger)+"/batches", q)
		v = judgeNoSuchState(pa, want)
	}
	c.addVerdict(ep, check, Documented, true, v)
}

// judgeNoSuchState reads the answer to a filter on a state no batch has.
func judgeNoSuchState(a *answer, listed string) Verdict {
	if !a.ok() {
		return Verdict{Status: CouldNotTell, Note: fmt.Sprintf("every batch is %q; a filter on an unknown state: %s", listed, a.problem())}
	}
	if n := len(arrayValue(object(a.body)["data"])); n > 0 {
		return Verdict{Status: DoesNotHold, Note: fmt.Sprintf("a filter on an unknown state lists %d batches", n)}
	}
	return Verdict{Status: Holds, Note: fmt.Sprintf("every batch is %q, and an unknown state lists none", listed)}
}

// checkIDFilter asks for the last listed batch by id, as the batch page
// asks whether a ledger holds a batch (ledgers/batch.go).
func (c *checker) checkIDFilter(ctx context.Context, ledger string, data []any) {
	const ep, check = "GET /ledgers/{id}/batches", "filter[id][eq] narrows the list"
	want := stringValue(object(data[len(data)-1])["id"])
	q := pageQuery(1, bigPage, "")
	q.Set("filter[id][eq]", want)
	fa := c.get(ctx, "/ledgers/"+url.PathEscape(ledger)+"/batches", q)
	if !fa.ok() {
		c.add(ep, check, Documented, true, DoesNotHold, fmt.Sprintf("filter[id][eq]=%s: %s", want, fa.problem()))
		return
	}
	filtered, _ := items(fa.body)
	c.addVerdict(ep, check, Documented, true, JudgeFilterEq("id", want, filtered, len(data) > 1))
}

// checkOverlapFilter asks for the batches whose period holds an instant
// inside a listed batch's, as the preview lists the existing batches a
// range overlaps (generation/preview.go). Not documented on this list: the
// reference's parameter list is cut off after filter[friendly_id][eq].
func (c *checker) checkOverlapFilter(ctx context.Context, ledger string, body any) {
	const ep, check = "GET /ledgers/{id}/batches", "filter[start_time][leq]+filter[end_time][geq] narrow the list"
	data, _ := items(body)
	mid := object(data[len(data)/2])
	start, ok1 := timeValue(mid["start_time"])
	end, ok2 := timeValue(mid["end_time"])
	if !ok1 || !ok2 {
		c.add(ep, check, Guess, false, CouldNotTell, "the batch has no readable period")
		return
	}
	at := start.Add(end.Sub(start) / 2).UTC().Truncate(time.Second)
	q := pageQuery(1, bigPage, "start_time,id")
	q.Set("filter[start_time][leq]", at.Format(time.RFC3339))
	q.Set("filter[end_time][geq]", at.Format(time.RFC3339))
	fa := c.get(ctx, "/ledgers/"+url.PathEscape(ledger)+"/batches", q)
	if !fa.ok() {
		c.add(ep, check, Guess, false, DoesNotHold, fa.problem()+": the preview cannot list the batches a range overlaps")
		return
	}
	filtered, _ := items(fa.body)
	c.addVerdict(ep, check, Guess, false, JudgeOverlap(at, filtered, listSize(fa.body) < listSize(body)))
}

// checkBatch checks GET /batches/{id}.
func (c *checker) checkBatch(ctx context.Context, id string) {
	const ep = "GET /batches/{id}"
	a := c.get(ctx, "/batches/"+url.PathEscape(id), nil)
	if !c.reachable(ep, a, true, "batch "+id) {
		return
	}
	c.fields(ep, "", batchFields, a.body)
	c.fields(ep, "", batchDetailFields, a.body)
	_, err := c.api.Batch(ctx, c.token, id)
	c.decodes(ep, true, err)
}

// pickBatch is the first complete batch listed (its model run has
// calculations), else the first.
func pickBatch(data []any) string {
	for _, it := range data {
		if o := object(it); stringValue(o["state"]) == "complete" {
			return stringValue(o["id"])
		}
	}
	return stringValue(object(data[0])["id"])
}

// listSize is a list's info.total_items, else the items on its page.
func listSize(body any) int {
	if n, ok := intValue(object(object(body)["info"])["total_items"]); ok {
		return n
	}
	d, _ := items(body)
	return len(d)
}

// times are the readable times of field across items, in list order.
func times(data []any, field string) []time.Time {
	var out []time.Time
	for _, it := range data {
		if t, ok := timeValue(object(it)[field]); ok {
			out = append(out, t)
		}
	}
	return out
}
