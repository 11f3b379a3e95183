package checkapi

import (
	"encoding/json"
	"fmt"
	"time"
)

// documentedPageSize is the API's default page size (reference 2.4: every
// list fragment has page_size default 10).
const documentedPageSize = 10

// JudgePageSize says whether a list answer honoured page_size=asked: by its
// info.page_size, else by holding more items than the default page would,
// else by info's totals.
func JudgePageSize(asked int, body any) Verdict {
	data, ok := items(body)
	if !ok {
		return Verdict{Status: CouldNotTell, Note: "not a list answer"}
	}
	info := object(object(body)["info"])
	if ps, ok := intValue(info["page_size"]); ok {
		if ps == asked {
			return Verdict{Status: Holds, Note: fmt.Sprintf("info.page_size %d", ps)}
		}
		return Verdict{Status: DoesNotHold, Note: fmt.Sprintf("asked %d, info.page_size %d", asked, ps)}
	}
	if len(data) > documentedPageSize {
		return Verdict{Status: Holds, Note: plural(len(data), "item") + " on one page (no info.page_size)"}
	}
	if total, ok := intValue(info["total_items"]); ok {
		if total > len(data) && len(data) < asked {
			return Verdict{Status: DoesNotHold, Note: fmt.Sprintf("%d of %d items on the page", len(data), total)}
		}
		return Verdict{Status: Holds, Note: fmt.Sprintf("all %d items on one page", total)}
	}
	return Verdict{Status: CouldNotTell, Note: plural(len(data), "item") + " and no info: too few to tell"}
}

// JudgeOrder says whether times (in list order) run ascending, or
// descending when desc; equal neighbours are in order either way.
func JudgeOrder(times []time.Time, desc bool) Verdict {
	distinct := false
	for i := 1; i < len(times); i++ {
		a, b := times[i-1], times[i]
		if !a.Equal(b) {
			distinct = true
		}
		if (desc && b.After(a)) || (!desc && b.Before(a)) {
			return Verdict{Status: DoesNotHold, Note: fmt.Sprintf("item %d (%s) comes before item %d (%s)",
				i, a.UTC().Format(time.RFC3339), i+1, b.UTC().Format(time.RFC3339))}
		}
	}
	if !distinct {
		return Verdict{Status: CouldNotTell, Note: plural(len(times), "item") + ", no two with different times"}
	}
	return Verdict{Status: Holds, Note: plural(len(times), "item") + " in order"}
}

// JudgeFilterEq says whether a filter[field][eq]=want answer (its items)
// was narrowed to want. othersExist says the unfiltered list had items with
// another value: only then does an all-matching answer prove narrowing.
func JudgeFilterEq(field, want string, filtered []any, othersExist bool) Verdict {
	if len(filtered) == 0 {
		return Verdict{Status: DoesNotHold, Note: fmt.Sprintf("no items, though the unfiltered list has %s %q", field, want)}
	}
	for _, it := range filtered {
		if got := stringValue(object(it)[field]); got != want {
			return Verdict{Status: DoesNotHold, Note: fmt.Sprintf("an item with %s %q came back (%s)", field, got, stringValue(object(it)["id"]))}
		}
	}
	if !othersExist {
		return Verdict{Status: CouldNotTell, Note: fmt.Sprintf("every listed item has %s %q anyway", field, want)}
	}
	return Verdict{Status: Holds, Note: fmt.Sprintf("%s, all %s %q", plural(len(filtered), "item"), field, want)}
}

// JudgeOverlap says whether filter[start_time][leq]=at&filter[end_time][geq]=at
// kept only items whose period holds at. narrower says the answer has fewer
// items than the unfiltered list.
func JudgeOverlap(at time.Time, filtered []any, narrower bool) Verdict {
	if len(filtered) == 0 {
		return Verdict{Status: DoesNotHold, Note: "no items, though a listed batch covers that instant"}
	}
	for _, it := range filtered {
		o := object(it)
		start, ok1 := timeValue(o["start_time"])
		end, ok2 := timeValue(o["end_time"])
		if ok1 && ok2 && (start.After(at) || end.Before(at)) {
			return Verdict{Status: DoesNotHold, Note: fmt.Sprintf("%s (%s to %s) came back", stringValue(o["id"]),
				start.Format(time.RFC3339), end.Format(time.RFC3339))}
		}
	}
	if !narrower {
		return Verdict{Status: CouldNotTell, Note: "every listed batch covers that instant anyway"}
	}
	return Verdict{Status: Holds, Note: fmt.Sprintf("%s, all covering %s", plural(len(filtered), "item"), at.Format(time.RFC3339))}
}

// JudgeTotalPages says whether info.total_pages = ceil(total_items /
// page_size), which the docs' own example breaks (reference 2.4).
func JudgeTotalPages(body any) Verdict {
	info := object(object(body)["info"])
	total, ok1 := intValue(info["total_items"])
	size, ok2 := intValue(info["page_size"])
	pages, ok3 := intValue(info["total_pages"])
	if !ok1 || !ok2 || !ok3 || size <= 0 {
		return Verdict{Status: CouldNotTell, Note: "info lacks total_items, page_size or total_pages"}
	}
	want := (total + size - 1) / size
	if pages != want {
		return Verdict{Status: DoesNotHold, Note: fmt.Sprintf("total_pages %d, ceil(%d/%d) = %d", pages, total, size, want)}
	}
	return Verdict{Status: Holds, Note: fmt.Sprintf("total_pages %d for %d items", pages, total)}
}

// Accessors over values decoded with UseNumber; each is the zero value when
// the type is not the one asked for.

func object(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func items(body any) ([]any, bool) {
	d, ok := object(body)["data"].([]any)
	return d, ok
}

func stringValue(v any) string {
	s, _ := v.(string)
	return s
}

func intValue(v any) (int, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	return int(i), err == nil
}

func timeValue(v any) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, stringValue(v))
	return t, err == nil
}
