package checkapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// checkLedgers checks GET /ledgers, then GET /ledgers/{id} and its
// required_inputs on a ledger with a model. It returns the ledger ids whose
// batches to read, those with a model first.
func (c *checker) checkLedgers(ctx context.Context) []string {
	const ep = "GET /ledgers"
	a := c.get(ctx, "/ledgers", pageQuery(1, bigPage, ""))
	if !c.reachable(ep, a, true, "") {
		c.untold("GET /ledgers/{id}", "GET /ledgers failed: no ledger id to read", answers)
		c.untold("GET /ledgers/{id}/required_inputs", "GET /ledgers failed: no ledger id to read", answers)
		return nil
	}
	c.fields(ep, "", []Field{{Path: "data", Kind: Array, Needed: true}}, a.body)
	// The cookbook's /ledgers example has no info (reference 2.4); without
	// one the dashboard reads the first page, 100 ledgers, only.
	c.fields(ep, "", []Field{{Path: "info", Kind: Object, Basis: Guess}}, a.body)
	if object(object(a.body)["info"]) != nil {
		c.fields(ep, "", listInfoFields[:2], a.body)
	}
	data, _ := items(a.body)
	c.fields(ep, "data[].", ledgerFields, data...)
	c.addVerdict(ep, "page_size=100 honoured", Guess, false, JudgePageSize(bigPage, a.body))
	c.addVerdict(ep, "cadence is one the dashboard lays periods out for", Guess, false, judgeCadences(data))
	_, err := c.api.Ledgers(ctx, c.token, mangrove.ListOptions{Page: 1, PageSize: bigPage})
	c.decodes(ep, true, err)

	ids := ledgerIDs(data)
	if len(ids) == 0 {
		c.untold("GET /ledgers/{id}", "the token sees no ledger", answers)
		c.untold("GET /ledgers/{id}/required_inputs", "the token sees no ledger", answers)
		return nil
	}
	c.checkLedger(ctx, ids[0])
	c.checkRequiredInputs(ctx, ids[0])
	return ids
}

// checkLedger checks GET /ledgers/{id}.
func (c *checker) checkLedger(ctx context.Context, id string) {
	const ep = "GET /ledgers/{id}"
	a := c.get(ctx, "/ledgers/"+url.PathEscape(id), nil)
	if !c.reachable(ep, a, true, "ledger "+id) {
		return
	}
	c.fields(ep, "", ledgerFields, a.body)
	_, err := c.api.Ledger(ctx, c.token, id)
	c.decodes(ep, true, err)
}

// checkRequiredInputs checks GET /ledgers/{id}/required_inputs.
func (c *checker) checkRequiredInputs(ctx context.Context, id string) {
	const ep = "GET /ledgers/{id}/required_inputs"
	a := c.get(ctx, "/ledgers/"+url.PathEscape(id)+"/required_inputs", nil)
	if !c.reachable(ep, a, true, "ledger "+id) {
		return
	}
	c.fields(ep, "", []Field{{Path: "data", Kind: Array, Needed: true}}, a.body)
	data, _ := items(a.body)
	c.fields(ep, "data[].", requiredInputFields, data...)
	var fed, groups []any
	for _, it := range data {
		fed = append(fed, arrayValue(object(it)["output_of_ledgers"])...)
		groups = append(groups, arrayValue(object(it)["allocation_groups"])...)
	}
	// Neither item shape is documented (reference 3.1, section 6).
	c.addVerdict(ep, "output_of_ledgers items carry a ledger id", Guess, false, JudgeElements(fed, ledgerRef))
	c.addVerdict(ep, "allocation_groups items read as a name or id", Guess, false, JudgeElements(groups, named))
	_, err := c.api.RequiredInputs(ctx, c.token, id)
	c.decodes(ep, true, err)
}

// ledgerIDs are the listed ledgers' ids, those with a model first.
func ledgerIDs(data []any) []string {
	var with, without []string
	for _, it := range data {
		o := object(it)
		id := stringValue(o["id"])
		if id == "" {
			continue
		}
		if object(o["latest_model"]) != nil {
			with = append(with, id)
		} else {
			without = append(without, id)
		}
	}
	return append(with, without...)
}

// judgeCadences says whether every cadence given is one mangrove.ParseCadence
// knows (only "monthly" is documented).
func judgeCadences(data []any) Verdict {
	var unknown []string
	seen := 0
	for _, it := range data {
		s, ok := object(it)["cadence"].(string)
		if !ok {
			continue
		}
		seen++
		if _, known := mangrove.ParseCadence(&s); !known {
			unknown = append(unknown, fmt.Sprintf("%q", s))
		}
	}
	switch {
	case len(unknown) > 0:
		sort.Strings(unknown)
		return Verdict{Status: DoesNotHold, Note: "unknown: " + strings.Join(unknown, ", ") + " (the coverage infers a cadence from the batches)"}
	case seen == 0:
		return Verdict{Status: CouldNotTell, Note: "no ledger has a cadence"}
	}
	return Verdict{Status: Holds, Note: plural(seen, "ledger")}
}

// JudgeElements says whether every element passes ok (which says what is
// wrong when it does not); with no element it cannot tell.
func JudgeElements(elements []any, ok func(any) string) Verdict {
	if len(elements) == 0 {
		return Verdict{Status: CouldNotTell, Note: "every array is empty"}
	}
	for _, el := range elements {
		if why := ok(el); why != "" {
			return Verdict{Status: DoesNotHold, Note: why}
		}
	}
	return Verdict{Status: Holds, Note: fmt.Sprintf("%s, e.g. %s", plural(len(elements), "item"), compact(elements[0]))}
}

// ledgerRef passes an object with a string id (the sandbox's {id, name}).
func ledgerRef(el any) string {
	if stringValue(object(el)["id"]) == "" {
		return "item without a string id: " + compact(el)
	}
	return ""
}

// named passes what mangrove.Names can read a name from.
func named(el any) string {
	b, _ := json.Marshal(el)
	if len(mangrove.Names([]json.RawMessage{b})) == 0 {
		return "item without a name or id: " + compact(el)
	}
	return ""
}

func arrayValue(v any) []any {
	a, _ := v.([]any)
	return a
}

// compact is v as short JSON, for notes.
func compact(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return clip(string(b), 60)
}
