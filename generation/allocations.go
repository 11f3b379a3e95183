package generation

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/carbon-dash/mangrove-dashboard/forms"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// Allocations: batch_amounts take primary_output_amount from an existing
// batch of a ledger that feeds one of the generating ledger's manual-select
// inputs (output_of_ledgers), for one allocation group; the upstream
// batch's ledger_balance (its unallocated amount) goes down by it. The form
// offers those batches, and the preview checks each amount against what the
// dashboard last read; Mangrove's own answer stays the final word.

// MaxUpstreamBatches bounds the batches read from each feeding ledger: one
// page of its most recent complete batches by start_time
// (sort=-start_time, filter[state][eq]=complete, page_size=100, all
// documented for GET /ledgers/{id}/batches). Of these the form offers those
// with an unallocated amount left. An older batch named in the form is
// still looked up by its id (filter[id][eq]).
const MaxUpstreamBatches = 100

// batchStateComplete is the documented state of a finished batch.
const batchStateComplete = "complete"

// AllocationGroup is an item of a required input's allocation_groups. The
// docs show only empty arrays; items are read as {"id", "name"} objects (id
// a string or a number), or bare strings that are both.
type AllocationGroup struct{ ID, Name string }

// LedgerRef is an item of a required input's output_of_ledgers: a ledger
// whose output feeds the input. ID is empty when the item names a ledger
// without an id the dashboard can use.
type LedgerRef struct{ ID, Name string }

// Feed is a manual-select required input fed by other ledgers: allocations
// to it take from those ledgers' batches.
type Feed struct {
	Input   mangrove.RequiredInput
	Groups  []AllocationGroup
	Sources []Source
}

// Source is a ledger that feeds an input, with the batches that can be
// allocated from.
type Source struct {
	Ledger LedgerRef
	// Batches are complete, with an unallocated amount left, most recent
	// first; batches the form named that the list left out follow.
	Batches []mangrove.Batch
	// Err says why the batches could not be read.
	Err error
}

// Allocation is a checked batch_amounts item with what the preview shows
// of it.
type Allocation struct {
	forms.BatchAmountInput // AllocationGroup is the group's id, resolved
	Batch                  mangrove.Batch
	Ledger                 LedgerRef
	Input                  mangrove.RequiredInput
	Group                  *AllocationGroup // nil: the input has no groups
}

// Unit is the unit of the allocated amount: the upstream batch's output's.
func (a Allocation) Unit() string {
	if a.Batch.PrimaryOutput != nil {
		return a.Batch.PrimaryOutput.Unit
	}
	return ""
}

// Feeds are the ledger's manual-select inputs fed by other ledgers, in the
// order of its inputs, without their batches.
func (l *Ledger) Feeds() []Feed {
	var out []Feed
	for _, in := range l.Inputs {
		if !in.IsManualSelect || len(in.OutputOfLedgers) == 0 {
			continue
		}
		f := Feed{Input: in, Groups: allocationGroups(in.AllocationGroups)}
		for _, r := range ledgerRefs(in.OutputOfLedgers) {
			f.Sources = append(f.Sources, Source{Ledger: r})
		}
		if len(f.Sources) > 0 {
			out = append(out, f)
		}
	}
	return out
}

// allocationGroups reads allocation_groups items tolerantly: an object
// gives id (a string or a number, as text) and name (else the id); a bare
// string is both. Items of another shape are left out.
func allocationGroups(raw []json.RawMessage) []AllocationGroup {
	var out []AllocationGroup
	for _, r := range raw {
		id, name, ok := idAndName(r)
		if ok && id != "" {
			out = append(out, AllocationGroup{ID: id, Name: cmp.Or(name, id)})
		}
	}
	return out
}

// ledgerRefs reads output_of_ledgers items: an object gives id and name; a
// bare string is an id when it looks like one (lgr_…), else only a name.
func ledgerRefs(raw []json.RawMessage) []LedgerRef {
	var out []LedgerRef
	for _, r := range raw {
		id, name, ok := idAndName(r)
		if !ok {
			continue
		}
		if name == "" && id != "" && !strings.HasPrefix(id, "lgr_") && isBareString(r) {
			id, name = "", id // a name given as a string
		}
		if id != "" || name != "" {
			out = append(out, LedgerRef{ID: id, Name: cmp.Or(name, id)})
		}
	}
	return out
}

// idAndName reads {"id": …, "name": …} (id a string or a number) or a bare
// string, which is returned as the id.
func idAndName(r json.RawMessage) (id, name string, ok bool) {
	var s string
	if json.Unmarshal(r, &s) == nil {
		return strings.TrimSpace(s), "", true
	}
	var obj struct {
		ID   json.RawMessage `json:"id"`
		Name *string         `json:"name"`
	}
	if json.Unmarshal(r, &obj) != nil {
		return "", "", false
	}
	if len(obj.ID) > 0 {
		var sid string
		var nid json.Number
		switch {
		case json.Unmarshal(obj.ID, &sid) == nil:
			id = sid
		case json.Unmarshal(obj.ID, &nid) == nil:
			id = nid.String()
		}
	}
	return strings.TrimSpace(id), strings.TrimSpace(mangrove.Deref(obj.Name)), true
}

func isBareString(r json.RawMessage) bool {
	var s string
	return json.Unmarshal(r, &s) == nil
}

// LoadFeeds reads, for each ledger feeding one of l's manual-select inputs,
// the batches that can be allocated from (MaxUpstreamBatches), all at once.
// A ledger that cannot be read has its Source.Err set; the form says so.
func (s *Service) LoadFeeds(ctx context.Context, token string, l *Ledger) []Feed {
	feeds := l.Feeds()
	type result struct {
		batches []mangrove.Batch
		err     error
	}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		read = map[string]*result{}
	)
	for _, f := range feeds {
		for _, src := range f.Sources {
			id := src.Ledger.ID
			if _, seen := read[id]; seen || id == "" {
				continue
			}
			read[id] = nil
			wg.Go(func() {
				bs, err := s.upstreamBatches(ctx, token, id)
				mu.Lock()
				read[id] = &result{bs, err}
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	for i := range feeds {
		for j := range feeds[i].Sources {
			src := &feeds[i].Sources[j]
			if r := read[src.Ledger.ID]; r != nil {
				src.Batches, src.Err = slices.Clone(r.batches), r.err
			} else {
				src.Err = fmt.Errorf("output_of_ledgers names %q without a ledger id", src.Ledger.Name)
			}
		}
	}
	return feeds
}

// upstreamBatches reads a feeding ledger's most recent complete batches and
// keeps those with an unallocated amount left.
func (s *Service) upstreamBatches(ctx context.Context, token, ledgerID string) ([]mangrove.Batch, error) {
	list, err := s.api.LedgerBatches(ctx, token, ledgerID, mangrove.ListOptions{
		Page: 1, PageSize: MaxUpstreamBatches, Sort: []string{"-start_time"},
		Filters: []mangrove.Filter{{Field: "state", Op: mangrove.OpEq, Value: batchStateComplete}},
	})
	if err != nil {
		s.log.Warn("reading the batches of a feeding ledger failed", "ledger_id", ledgerID, "err", err)
		return nil, err
	}
	var out []mangrove.Batch
	for _, b := range list.Data { // the filter may be ignored upstream: check each
		if b.State == batchStateComplete && b.LedgerBalance != nil && round6(*b.LedgerBalance) > 0 {
			out = append(out, b)
		}
	}
	return out, nil
}

// findBatch is where a batch id is among the feeds' listed batches.
func findBatch(feeds []Feed, id string) (feed, source int, batch mangrove.Batch, ok bool) {
	for i := range feeds {
		for j := range feeds[i].Sources {
			for _, b := range feeds[i].Sources[j].Batches {
				if b.ID == id {
					return i, j, b, true
				}
			}
		}
	}
	return 0, 0, mangrove.Batch{}, false
}

// lookUp finds, by id, the batches the form named that the feeds' lists
// left out (older than the listed page, or fully allocated), one call per
// batch and feeding ledger, and adds them to their sources' batches.
// Lookups that fail are left out: the batch is then reported as not found
// or as unreadable.
func (s *Service) lookUp(ctx context.Context, token string, feeds []Feed, rows []forms.BatchAmountInput) {
	type key struct {
		fi, si int
		id     string
	}
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		found = map[key]mangrove.Batch{}
		asked = map[key]bool{}
	)
	for _, r := range rows {
		if _, _, _, ok := findBatch(feeds, r.BatchID); ok {
			continue
		}
		for fi, f := range feeds {
			for si, src := range f.Sources {
				k := key{fi, si, r.BatchID}
				if src.Ledger.ID == "" || asked[k] {
					continue
				}
				asked[k] = true
				wg.Go(func() {
					list, err := s.api.LedgerBatches(ctx, token, src.Ledger.ID, mangrove.ListOptions{
						Page: 1, PageSize: 1, Filters: []mangrove.Filter{{Field: "id", Op: mangrove.OpEq, Value: k.id}},
					})
					if err != nil {
						return
					}
					for _, b := range list.Data { // the filter may be ignored upstream: match the id
						if b.ID == k.id {
							mu.Lock()
							found[k] = b
							mu.Unlock()
							return
						}
					}
				})
			}
		}
	}
	wg.Wait()
	for k, b := range found {
		src := &feeds[k.fi].Sources[k.si]
		if !slices.ContainsFunc(src.Batches, func(x mangrove.Batch) bool { return x.ID == b.ID }) {
			src.Batches = append(src.Batches, b)
		}
	}
}

// Field error keys of row n's fields, beside the form's own "batch_amounts[n]".
func batchField(n int, field string) string {
	return "batch_amounts[" + strconv.Itoa(n) + "][" + field + "]"
}

// CheckAllocations judges validated batch_amounts against the feeds: each
// batch must be one of the feeding ledgers' batches; its amount above 0 and
// at most the batch's unallocated amount as last read; its group one of the
// input's (none given is the input's only group, when it has one). It
// returns the items with their groups resolved and what the preview shows
// of them, or the messages keyed by field ("batch_amounts[N][batch_id]",
// "…[primary_output_amount]", "…[allocation_group]", or "batch_amounts"
// when the ledger has nothing to allocate from). Batches the feeds' lists
// left out are looked up first.
func (s *Service) CheckAllocations(ctx context.Context, token string, l *Ledger, feeds []Feed, rows []forms.BatchAmountInput) ([]forms.BatchAmountInput, []Allocation, forms.FieldErrors) {
	if len(rows) == 0 {
		return nil, nil, nil
	}
	errs := forms.FieldErrors{}
	if len(feeds) == 0 {
		errs["batch_amounts"] = l.Name + " has no manual-select input fed by another ledger, so there is no batch to allocate from. Remove the allocations."
		return nil, nil, errs
	}
	s.lookUp(ctx, token, feeds, rows)
	var (
		out    = make([]forms.BatchAmountInput, len(rows))
		picked = make([]Allocation, len(rows))
	)
	for n, r := range rows {
		fi, si, b, ok := findBatch(feeds, r.BatchID)
		if !ok {
			errs[batchField(n, "batch_id")] = notFeeding(feeds, r.BatchID)
			continue
		}
		f, src := feeds[fi], feeds[fi].Sources[si]
		a := Allocation{BatchAmountInput: r, Batch: b, Ledger: src.Ledger, Input: f.Input}
		if msg := checkAmount(r.Amount, b); msg != "" {
			errs[batchField(n, "primary_output_amount")] = msg
		}
		g, msg := resolveGroup(f, r.AllocationGroup)
		if msg != "" {
			errs[batchField(n, "allocation_group")] = msg
		}
		a.Group = g
		a.AllocationGroup = ""
		if g != nil {
			a.AllocationGroup = g.ID
		}
		out[n], picked[n] = a.BatchAmountInput, a
	}
	if errs.Any() {
		return nil, nil, errs
	}
	return out, picked, nil
}

// notFeeding says that a batch is not one of the feeding ledgers'.
func notFeeding(feeds []Feed, id string) string {
	var names, unread []string
	for _, f := range feeds {
		for _, src := range f.Sources {
			if !slices.Contains(names, src.Ledger.Name) {
				names = append(names, src.Ledger.Name)
			}
			if src.Err != nil && !slices.Contains(unread, src.Ledger.Name) {
				unread = append(unread, src.Ledger.Name)
			}
		}
	}
	if len(unread) > 0 {
		return fmt.Sprintf("%s could not be checked: the batches of %s could not be read just now. Try again in a minute.", id, strings.Join(unread, " and "))
	}
	return fmt.Sprintf("%s is not a batch of %s, so nothing can be allocated from it here. Choose one of the batches listed.", id, strings.Join(names, " or "))
}

// checkAmount judges an amount against a batch's unallocated amount.
func checkAmount(amount float64, b mangrove.Batch) string {
	unit := ""
	if b.PrimaryOutput != nil {
		unit = b.PrimaryOutput.Unit
	}
	if amount <= 0 {
		return "Enter an amount above 0 to allocate"
	}
	if b.LedgerBalance == nil {
		return "" // not known: Mangrove judges
	}
	left := *b.LedgerBalance
	if round6(amount) <= round6(left) {
		return ""
	}
	a, l := amounts(amount, left)
	return fmt.Sprintf("%s is more than the %s left unallocated on %s", withUnit(a, unit), withUnit(l, unit), cmp.Or(mangrove.Deref(b.TrackingID), b.ID))
}

// resolveGroup finds an item's allocation group among the input's.
func resolveGroup(f Feed, given string) (*AllocationGroup, string) {
	switch {
	case given == "" && len(f.Groups) == 0:
		return nil, ""
	case given == "" && len(f.Groups) == 1:
		return &f.Groups[0], ""
	case given == "":
		return nil, "Choose the allocation group"
	}
	for i := range f.Groups {
		if f.Groups[i].ID == given {
			return &f.Groups[i], ""
		}
	}
	if len(f.Groups) == 0 {
		return nil, fmt.Sprintf("%s has no allocation groups; leave the group empty", f.Input.Name)
	}
	names := make([]string, len(f.Groups))
	for i, g := range f.Groups {
		names[i] = g.Name
	}
	return nil, fmt.Sprintf("%q is not an allocation group of %s; choose %s", given, f.Input.Name, strings.Join(names, " or "))
}

// amounts formats two amounts for a message with two decimals, or as many
// more as it takes to tell them apart (up to six).
func amounts(a, b float64) (string, string) {
	for prec := 2; ; prec++ {
		x, y := formatAmount(a, prec), formatAmount(b, prec)
		if x != y || prec >= 6 {
			return x, y
		}
	}
}

// formatAmount writes a quantity with thousands separators.
func formatAmount(v float64, prec int) string {
	s := strconv.FormatFloat(math.Abs(v), 'f', prec, 64)
	intPart, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	if v < 0 {
		b.WriteString("−")
	}
	for i, r := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if frac != "" {
		b.WriteString("." + frac)
	}
	return b.String()
}

func withUnit(s, unit string) string {
	if unit == "" {
		return s
	}
	return s + " " + unit
}

// round6 rounds to the micro-unit, so float noise never refuses an amount
// equal to the balance.
func round6(v float64) float64 { return math.Round(v*1e6) / 1e6 }
