package forms

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Batch list query defaults and choices.
const (
	DefaultBatchPageSize = 25
	DefaultBatchSort     = "-start_time"
	MaxBatchPage         = 10000
)

// BatchPageSizes and BatchSorts are the accepted page_size and sort values.
var (
	BatchPageSizes = []int{10, 25, 50, 100}
	BatchSorts     = []string{"-start_time", "start_time", "-created_at", "created_at"}
)

// pageSizeChoices lists BatchPageSizes in words: "10, 25, 50 or 100".
var pageSizeChoices = func() string {
	words := make([]string, len(BatchPageSizes))
	for i, n := range BatchPageSizes {
		words[i] = strconv.Itoa(n)
	}
	last := len(words) - 1
	return strings.Join(words[:last], ", ") + " or " + words[last]
}()

// DocumentedBatchStates are the batch states the API reference shows
// (complete, processing); it documents no full list.
var DocumentedBatchStates = []string{"complete", "processing"}

// BatchStateOptions are the states the batch filter offers: the documented
// ones first, then the others seen on the listed batches and the selected
// one, sorted. A state the parser would refuse or read as "any state" is
// left out, so every option filters by itself.
func BatchStateOptions(selected string, seen ...string) []string {
	opts := slices.Clone(DocumentedBatchStates)
	var more []string
	for _, s := range append(slices.Clip(seen), selected) {
		if stateRe.MatchString(s) && s != "any" && !slices.Contains(opts, s) && !slices.Contains(more, s) {
			more = append(more, s)
		}
	}
	slices.Sort(more)
	return append(opts, more...)
}

// BatchListQuery is the ledger page's batch list query: page from 1,
// page size, sort and state filter ("" for any state).
type BatchListQuery struct {
	Page, PageSize int
	Sort, State    string
}

// ParseBatchListQuery reads page, page_size, sort and state. A missing
// value takes its default silently; an invalid one takes its default and
// adds a message under its own key. The state is any short lower-case word
// (letters and underscores), not only the offered ones: the API documents
// no full list, so a link with state=error filters too.
func ParseBatchListQuery(v url.Values) (BatchListQuery, FieldErrors) {
	q := BatchListQuery{Page: 1, PageSize: DefaultBatchPageSize, Sort: DefaultBatchSort}
	errs := FieldErrors{}

	if s := strings.TrimSpace(v.Get("page")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxBatchPage {
			errs["page"] = fmt.Sprintf("The page must be a whole number from 1 to %d; showing page 1", MaxBatchPage)
		} else {
			q.Page = n
		}
	}
	if s := strings.TrimSpace(v.Get("page_size")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || !slices.Contains(BatchPageSizes, n) {
			errs["page_size"] = fmt.Sprintf("Show %s per page; showing %d", pageSizeChoices, DefaultBatchPageSize)
		} else {
			q.PageSize = n
		}
	}
	if s := strings.TrimSpace(v.Get("sort")); s != "" {
		if !slices.Contains(BatchSorts, s) {
			errs["sort"] = "Unknown sort order; showing the newest start time first"
		} else {
			q.Sort = s
		}
	}
	if s := strings.TrimSpace(v.Get("state")); s != "" && s != "any" {
		if !stateRe.MatchString(s) {
			errs["state"] = "Unknown state; showing batches in any state"
		} else {
			q.State = s
		}
	}
	if !errs.Any() {
		return q, nil
	}
	return q, errs
}
