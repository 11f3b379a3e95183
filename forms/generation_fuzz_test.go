package forms

import (
	"errors"
	"math"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// Run one with, for example:
//   go test ./forms/ -run '^$' -fuzz '^FuzzGenerationForm$' -fuzztime 30s

func addDateSeeds(f *testing.F) {
	for _, s := range []string{
		"", " ", "2025-03-31", "2024-02-29", "2025-02-29", "2025-13-01", "1999-12-31", "2000-01-01",
		"2100-12-31", "2101-01-01", "2025-03-31T23:59:59Z", "2025-03-31T23:59:59+02:00",
		"2025-03-31T23:59:59.999999999-05:00", "2100-12-31T23:00:00-05:00", "2000-01-01T00:30:00+01:00",
		"2025-03-31T24:00:00Z", "2025-03-31T23:59:60Z", "2025-03-31t23:59:59z", "0000-00-00",
		"9999-12-31T23:59:59+23:59", "2025-03-31T23:59:59+99:99", "２０２５-03-31", "2025-03-31\x00",
	} {
		f.Add(s)
	}
}

// checkDate holds for every ParseDateStart/End result.
func checkDate(t *testing.T, in string, got time.Time, err error) {
	t.Helper()
	if err != nil {
		if !errors.Is(err, ErrDateEmpty) && !errors.Is(err, ErrDateFormat) && !errors.Is(err, ErrDateYear) {
			t.Fatalf("%q: unexpected error type %v", in, err)
		}
		if err.Error() == "" || !got.IsZero() {
			t.Fatalf("%q: error %q with time %v", in, err, got)
		}
		if strings.TrimSpace(in) == "" != errors.Is(err, ErrDateEmpty) {
			t.Fatalf("%q: empty-input error mismatch: %v", in, err)
		}
		return
	}
	if got.Location() != time.UTC {
		t.Fatalf("%q: %v not in UTC", in, got)
	}
	if y := got.Year(); y < MinYear || y > MaxYear {
		t.Fatalf("%q: year %d accepted", in, y)
	}
}

func FuzzParseDateStart(f *testing.F) {
	addDateSeeds(f)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseDateStart(s)
		checkDate(t, s, got, err)
		if err != nil {
			return
		}
		// Formatting the result and parsing it again is the identity.
		again, err := ParseDateStart(got.Format(time.RFC3339Nano))
		if err != nil || !again.Equal(got) {
			t.Fatalf("%q: round trip %v -> %v, %v", s, got, again, err)
		}
		if trimmed := strings.TrimSpace(s); len(trimmed) == 10 {
			if got.Hour() != 0 || got.Minute() != 0 || got.Second() != 0 || got.Nanosecond() != 0 {
				t.Fatalf("%q: date start is not midnight: %v", s, got)
			}
		}
	})
}

func FuzzParseDateEnd(f *testing.F) {
	addDateSeeds(f)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseDateEnd(s)
		checkDate(t, s, got, err)
		if err != nil {
			return
		}
		trimmed := strings.TrimSpace(s)
		if len(trimmed) == 10 {
			// A plain date ends at 23:59:59 of the day it starts.
			start, serr := ParseDateStart(trimmed)
			if serr != nil || got.Sub(start) != 24*time.Hour-time.Second {
				t.Fatalf("%q: end %v, start %v (%v)", s, got, start, serr)
			}
		} else {
			again, err := ParseDateEnd(got.Format(time.RFC3339Nano))
			if err != nil || !again.Equal(got) {
				t.Fatalf("%q: round trip %v -> %v, %v", s, got, again, err)
			}
		}
	})
}

// knownKey reports whether k is a field error key the views can show.
func knownKey(k string) bool {
	switch k {
	case "start_time", "end_time", "data_point_ids", "skipped_data_point_type_ids", "batch_amounts":
		return true
	}
	if n, ok := strings.CutPrefix(k, "batch_amounts["); ok {
		n, ok = strings.CutSuffix(n, "]")
		return ok && n != "" && strings.Trim(n, "0123456789") == "" && len(n) <= 2
	}
	return false
}

func FuzzGenerationForm(f *testing.F) {
	f.Add("2025-01-01", "2025-03-31", "", "", "", "", "", "", "", "")
	f.Add("2025-01-01T00:00:00+02:00", "2025-03-31T23:59:59Z", "in_a1, dp_B2\nin_a1", "11", "12", "bat_x", "1250.5", "group", "bat_y", "-3")
	f.Add("2025-03-31", "2025-01-01", "bad id", "0", "-1", "bat_x", "NaN", "\n", "bat_x", "1")
	f.Add("2020-01-01", "2025-01-01", "in_"+strings.Repeat("a", 65), "abc", "", "led_1", "Inf", strings.Repeat("g", 101), "", "1e999")
	f.Add("", " ", ",,,", "99999999999999999999", "+1", "", "0x1p3", "", "bat_z", "1_000")
	f.Add("1999-12-31", "2101-01-01", "in_x\x00", "1", "1", "bat_1", "1e12", "é", "bat_2", "-1e12")
	f.Add("2025-01-01", "2025-03-31", "dp_1 in_2;in_3\tdp_1", "13", "11", "bat_A", ".5", "  g  ", "bat_B", "5.")
	f.Fuzz(func(t *testing.T, start, end, ids, skip1, skip2, bid1, amt1, grp1, bid2, amt2 string) {
		v := url.Values{
			"start_time":                              {start},
			"end_time":                                {end},
			"data_point_ids":                          {ids},
			"skipped_data_point_type_ids":             {skip1, skip2},
			"batch_amounts[0][batch_id]":              {bid1},
			"batch_amounts[0][primary_output_amount]": {amt1},
			"batch_amounts[0][allocation_group]":      {grp1},
			"batch_amounts[7][batch_id]":              {bid2},
			"batch_amounts[7][primary_output_amount]": {amt2},
		}
		form := ParseGenerationForm(v)
		if form.StartTime != start || form.EndTime != end || form.DataPointIDs != ids {
			t.Fatal("raw values not kept as typed")
		}
		for _, allowed := range []map[int64]bool{nil, {11: true, 12: true, 13: true}} {
			p, errs := form.Validate(allowed)
			if errs.Any() {
				for k, msg := range errs {
					if strings.TrimSpace(msg) == "" {
						t.Fatalf("empty message for %q", k)
					}
					if !knownKey(k) {
						t.Fatalf("unknown error key %q", k)
					}
					if !utf8.ValidString(msg) {
						t.Fatalf("message for %q is not valid UTF-8: %q", k, msg)
					}
				}
				if p.Hash() == "" {
					t.Fatal("Hash of zero params is empty")
				}
				continue
			}
			checkValidParams(t, p, allowed)
		}
	})
}

// checkValidParams re-checks, independently of Validate's code paths,
// every promise made about valid parameters.
func checkValidParams(t *testing.T, p GenerationParams, allowed map[int64]bool) {
	t.Helper()
	if p.Start.Location() != time.UTC || p.End.Location() != time.UTC {
		t.Fatalf("times not UTC: %v %v", p.Start, p.End)
	}
	if !p.End.After(p.Start) || p.End.After(p.Start.AddDate(5, 0, 0)) {
		t.Fatalf("bad range accepted: %v to %v", p.Start, p.End)
	}
	for _, tm := range []time.Time{p.Start, p.End} {
		if tm.Year() < 2000 || tm.Year() > 2100 {
			t.Fatalf("year %d accepted", tm.Year())
		}
	}
	if len(p.DataPointIDs) > MaxDataPointIDs {
		t.Fatalf("%d data point ids accepted", len(p.DataPointIDs))
	}
	seen := map[string]bool{}
	for _, id := range p.DataPointIDs {
		if seen[id] || !dataPointIDRe.MatchString(id) {
			t.Fatalf("bad or duplicate id %q accepted", id)
		}
		seen[id] = true
	}
	if !slices.IsSorted(p.SkippedTypeIDs) || len(slices.Compact(slices.Clone(p.SkippedTypeIDs))) != len(p.SkippedTypeIDs) {
		t.Fatalf("skipped ids not sorted and unique: %v", p.SkippedTypeIDs)
	}
	for _, id := range p.SkippedTypeIDs {
		if id <= 0 || (allowed != nil && !allowed[id]) {
			t.Fatalf("skipped id %d accepted", id)
		}
	}
	if len(p.BatchAmounts) > MaxBatchAmountRows {
		t.Fatalf("%d batch amounts accepted", len(p.BatchAmounts))
	}
	batches := map[string]bool{}
	for _, a := range p.BatchAmounts {
		if batches[a.BatchID] || !batchIDRe.MatchString(a.BatchID) {
			t.Fatalf("bad or duplicate batch id %q accepted", a.BatchID)
		}
		batches[a.BatchID] = true
		if math.IsNaN(a.Amount) || math.IsInf(a.Amount, 0) || math.Abs(a.Amount) > 1e12 {
			t.Fatalf("amount %v accepted", a.Amount)
		}
		if utf8.RuneCountInString(a.AllocationGroup) > MaxAllocationGroup || a.AllocationGroup != strings.TrimSpace(a.AllocationGroup) {
			t.Fatalf("allocation group %q accepted", a.AllocationGroup)
		}
	}
	h := p.Hash()
	if len(h) != 64 || h != p.Hash() {
		t.Fatalf("Hash %q not stable 64 hex digits", h)
	}
}

func FuzzBatchListQuery(f *testing.F) {
	f.Add("", "", "", "")
	f.Add("1", "25", "-start_time", "complete")
	f.Add("10000", "100", "created_at", "any")
	f.Add("0", "20", "name", "Complete")
	f.Add("-1", "1e2", "-created_at;", "in_progress")
	f.Add("99999999999999999999", " 50 ", " start_time ", strings.Repeat("a", 33))
	f.Add("+7", "010", "-start_time", "a\x00")
	f.Fuzz(func(t *testing.T, page, size, sort, state string) {
		v := url.Values{"page": {page}, "page_size": {size}, "sort": {sort}, "state": {state}}
		q, errs := ParseBatchListQuery(v)
		if q.Page < 1 || q.Page > MaxBatchPage {
			t.Fatalf("page %d", q.Page)
		}
		if !slices.Contains(BatchPageSizes, q.PageSize) {
			t.Fatalf("page size %d", q.PageSize)
		}
		if !slices.Contains(BatchSorts, q.Sort) {
			t.Fatalf("sort %q", q.Sort)
		}
		if q.State != "" && !stateRe.MatchString(q.State) {
			t.Fatalf("state %q", q.State)
		}
		for k, msg := range errs {
			if strings.TrimSpace(msg) == "" {
				t.Fatalf("empty message for %q", k)
			}
			switch k {
			case "page", "page_size", "sort", "state":
			default:
				t.Fatalf("unknown key %q", k)
			}
		}
		// A value that was not used must have been reported.
		if s := strings.TrimSpace(sort); s != "" && s != q.Sort && errs["sort"] == "" {
			t.Fatalf("sort %q dropped silently", sort)
		}
		if s := strings.TrimSpace(state); s != "" && s != "any" && s != q.State && errs["state"] == "" {
			t.Fatalf("state %q dropped silently", state)
		}
		if s := strings.TrimSpace(page); s != "" && errs["page"] == "" && q.Page == 1 && strings.TrimLeft(s, "+0") != "1" {
			t.Fatalf("page %q dropped silently", page)
		}
	})
}

// FuzzGenerationFormValues: the form's encoding parses back to the same
// form, whatever was typed (the preview's link carries exactly the form).
func FuzzGenerationFormValues(f *testing.F) {
	f.Add("2025-01-01", "2025-03-31", "in_a, in_b", "11", "bat_x", "12.5", "g1")
	f.Add("", "", "", "", "", "", "")
	f.Add(" 2025-01-01 ", "x&y=z", "in_a\nin_b", "not-a-number", "", " ", "a[0]")
	f.Fuzz(func(t *testing.T, start, end, ids, skip, batch, amount, group string) {
		in := GenerationForm{StartTime: start, EndTime: end, DataPointIDs: ids}
		if skip != "" {
			in.SkippedTypeIDs = []string{skip, skip + "0"}
		}
		if !blank(batch) || !blank(amount) || !blank(group) {
			in.BatchAmounts = []BatchAmountRow{{BatchID: batch, Amount: amount, AllocationGroup: group}}
		}
		q := in.Values()
		back := ParseGenerationForm(q)
		if !reflect.DeepEqual(back, in) {
			t.Fatalf("form %#v\nencoded %q\nparsed back %#v", in, q.Encode(), back)
		}
		again, err := url.ParseQuery(q.Encode())
		if err != nil || !reflect.DeepEqual(ParseGenerationForm(again), in) {
			t.Fatalf("through the URL %q: %v", q.Encode(), err)
		}
	})
}

// FuzzDateValues: the form values of a time read back as that time.
func FuzzDateValues(f *testing.F) {
	f.Add(int64(1735689600)) // 2025-01-01 00:00:00
	f.Add(int64(1743465599)) // 2025-03-31 23:59:59
	f.Add(int64(1743465600 + 37))
	f.Fuzz(func(t *testing.T, sec int64) {
		tm := time.Unix(sec%4102444800, 0).UTC() // before 2100
		if y := tm.Year(); y < MinYear || y > MaxYear {
			return
		}
		if got, err := ParseDateStart(StartValue(tm)); err != nil || !got.Equal(tm) {
			t.Fatalf("start %v → %q → %v, %v", tm, StartValue(tm), got, err)
		}
		if got, err := ParseDateEnd(EndValue(tm)); err != nil || !got.Equal(tm) {
			t.Fatalf("end %v → %q → %v, %v", tm, EndValue(tm), got, err)
		}
	})
}
