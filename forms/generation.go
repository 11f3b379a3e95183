package forms

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// This file parses and validates user input. It is pure (url.Values in,
// structs and messages out) so it can be table-tested and fuzzed without
// a server.

// FieldErrors maps a form field name to the message shown beside it.
type FieldErrors map[string]string

// Any reports whether there is at least one error.
func (e FieldErrors) Any() bool { return len(e) > 0 }

// Limits of the generation form.
const (
	MinYear            = 2000
	MaxYear            = 2100
	MaxRangeYears      = 5
	MaxDataPointIDs    = 500
	MaxSkippedTypeIDs  = 200
	MaxBatchAmountRows = 20
	MaxAllocationGroup = 100 // characters
	MaxAmount          = 1e12
	maxDateLen         = 64  // longer input is not a date; don't parse it
	maxBatchRowIndex   = 999 // batch_amounts[N] beyond this is not a form row
	maxSkipIDDigits    = 19  // an int64 has at most 19 digits
)

// Messages shown to the user, built from the limits above; tests compare
// against them.
const (
	exampleDataPointID = "in_kiIuaGIUqRxWUmTY"
	exampleBatchID     = "bat_kiIuaGIUqRxWUmTY"
	msgDateFormat      = "Use a date like 2025-03-31 or a time like 2025-03-31T23:59:59Z"
	msgStartEmpty      = "Enter the start of the range"
	msgEndEmpty        = "Enter the end of the range"
	msgEndBeforeStart  = "The end must be after the start"
	msgSkipInvalid     = "Choose the inputs to skip from the list"
	msgSkipTooMany     = "Too many inputs to skip"
	msgBatchIDEmpty    = "Choose the upstream batch to allocate from"
	msgAmountEmpty     = "Enter the amount"
	msgAmountFormat    = "Enter a plain number like 1250.5 (a dot for decimals, no thousands separators)"
	msgGroupControl    = "Allocation groups cannot contain line breaks or control characters"
)

var (
	msgDateYear       = fmt.Sprintf("Use a year between %d and %d", MinYear, MaxYear)
	msgRangeTooLong   = fmt.Sprintf("Ranges are limited to %d years", MaxRangeYears)
	msgTooManyIDs     = fmt.Sprintf("Enter at most %d data point ids", MaxDataPointIDs)
	msgTooManyRows    = fmt.Sprintf("Enter at most %d custom batch amounts", MaxBatchAmountRows)
	msgAmountTooLarge = "Amounts are limited to " + thousands(MaxAmount)
	msgGroupTooLong   = fmt.Sprintf("Allocation groups are at most %d characters", MaxAllocationGroup)
)

// thousands writes a whole number with comma separators, for messages.
func thousands(v float64) string {
	s := strconv.FormatFloat(v, 'f', 0, 64)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Date parsing errors; their text is the message shown to the user.
var (
	ErrDateEmpty = errors.New("enter a date")
	//lint:ignore ST1005 the text is the message shown next to the field, a sentence
	ErrDateFormat = errors.New(msgDateFormat)
	ErrDateYear   = errors.New(msgDateYear) // built at run time: staticcheck does not judge it
)

var (
	dataPointIDRe = regexp.MustCompile(`^(in|dp)_[A-Za-z0-9]{1,64}$`)
	batchIDRe     = regexp.MustCompile(`^bat_[A-Za-z0-9]{1,64}$`)
	// A plain decimal: optional sign, digits with an optional fraction,
	// optional short exponent. No hex, no underscores, no Inf or NaN.
	amountRe     = regexp.MustCompile(`^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]{1,3})?$`)
	dateOnlyRe   = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
	batchFieldRe = regexp.MustCompile(`^batch_amounts\[([0-9]{1,3})\]\[(batch_id|primary_output_amount|allocation_group)\]$`)
	stateRe      = regexp.MustCompile(`^[a-z_]{1,32}$`)
)

// GenerationForm holds the generation form's values as typed, so that an
// invalid form re-renders with them.
type GenerationForm struct {
	StartTime      string           // "start_time"
	EndTime        string           // "end_time"
	DataPointIDs   string           // "data_point_ids": ids separated by commas, spaces or new lines
	SkippedTypeIDs []string         // "skipped_data_point_type_ids": repeated checkbox values
	BatchAmounts   []BatchAmountRow // "batch_amounts[N][…]" rows in N order, all-empty rows dropped
}

// BatchAmountRow is one batch_amounts row as typed: an allocation of
// Amount from the upstream batch BatchID, in AllocationGroup (the form's
// selects send ids; whether they name a feeding ledger's batch and the
// input's group is judged by the generation service, which reads them).
type BatchAmountRow struct{ BatchID, Amount, AllocationGroup string }

// BatchAmountInput is one validated batch_amounts item: syntax only (the
// amount's sign and the upstream balance are the service's to judge).
// AllocationGroup is "" when none was given (the API's null).
type BatchAmountInput struct {
	BatchID         string
	Amount          float64
	AllocationGroup string
}

// GenerationParams are the validated parameters of a generation, in UTC.
type GenerationParams struct {
	Start, End     time.Time
	DataPointIDs   []string // in the order typed, duplicates removed
	SkippedTypeIDs []int64  // ascending, duplicates removed
	BatchAmounts   []BatchAmountInput
}

// ParseGenerationForm reads the generation form. It never fails: values are
// kept as typed and judged by Validate. Batch amount rows are read from
// "batch_amounts[N][batch_id]", "…[primary_output_amount]" and
// "…[allocation_group]" for N = 0…999, in N order; rows whose three values
// are all blank are dropped, so the rows are renumbered from 0.
func ParseGenerationForm(v url.Values) GenerationForm {
	f := GenerationForm{
		StartTime:    v.Get("start_time"),
		EndTime:      v.Get("end_time"),
		DataPointIDs: v.Get("data_point_ids"),
	}
	if ids := v["skipped_data_point_type_ids"]; len(ids) > 0 {
		f.SkippedTypeIDs = slices.Clone(ids)
	}

	rows := map[int]*BatchAmountRow{}
	for key, vals := range v {
		if !strings.HasPrefix(key, "batch_amounts[") || len(vals) == 0 {
			continue
		}
		m := batchFieldRe.FindStringSubmatch(key)
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[1]) // at most three digits: cannot fail
		if n > maxBatchRowIndex {
			continue
		}
		r := rows[n]
		if r == nil {
			r = &BatchAmountRow{}
			rows[n] = r
		}
		switch m[2] {
		case "batch_id":
			r.BatchID = vals[0]
		case "primary_output_amount":
			r.Amount = vals[0]
		case "allocation_group":
			r.AllocationGroup = vals[0]
		}
	}
	idx := make([]int, 0, len(rows))
	for n := range rows {
		idx = append(idx, n)
	}
	slices.Sort(idx)
	for _, n := range idx {
		r := rows[n]
		if blank(r.BatchID) && blank(r.Amount) && blank(r.AllocationGroup) {
			continue
		}
		f.BatchAmounts = append(f.BatchAmounts, *r)
	}
	return f
}

func blank(s string) bool { return strings.TrimSpace(s) == "" }

// Validate checks the form and returns the parameters, or the messages to
// show beside each field. Field keys: "start_time", "end_time",
// "data_point_ids", "skipped_data_point_type_ids", "batch_amounts" (the
// rows as a whole) and "batch_amounts[N]" (row N of f.BatchAmounts).
//
// allowedSkipIDs lists the data point type ids that may be skipped (the
// ledger's required inputs); nil allows any positive id.
func (f GenerationForm) Validate(allowedSkipIDs map[int64]bool) (GenerationParams, FieldErrors) {
	var p GenerationParams
	errs := FieldErrors{}

	start, serr := ParseDateStart(f.StartTime)
	end, eerr := ParseDateEnd(f.EndTime)
	switch {
	case errors.Is(serr, ErrDateEmpty):
		errs["start_time"] = msgStartEmpty
	case serr != nil:
		errs["start_time"] = serr.Error()
	}
	switch {
	case errors.Is(eerr, ErrDateEmpty):
		errs["end_time"] = msgEndEmpty
	case eerr != nil:
		errs["end_time"] = eerr.Error()
	}
	if serr == nil && eerr == nil {
		switch {
		case !end.After(start):
			errs["end_time"] = fmt.Sprintf("%s (%s)", msgEndBeforeStart, start.Format("2006-01-02 15:04:05 UTC"))
		case end.After(start.AddDate(MaxRangeYears, 0, 0)):
			errs["end_time"] = msgRangeTooLong
		}
	}
	p.Start, p.End = start, end

	if ids, msg := parseDataPointIDs(f.DataPointIDs); msg != "" {
		errs["data_point_ids"] = msg
	} else {
		p.DataPointIDs = ids
	}

	if ids, msg := parseSkippedTypeIDs(f.SkippedTypeIDs, allowedSkipIDs); msg != "" {
		errs["skipped_data_point_type_ids"] = msg
	} else {
		p.SkippedTypeIDs = ids
	}

	amounts, rowErrs := parseBatchAmounts(f.BatchAmounts)
	for k, msg := range rowErrs {
		errs[k] = msg
	}
	if len(rowErrs) == 0 {
		p.BatchAmounts = amounts
	}

	if errs.Any() {
		return GenerationParams{}, errs
	}
	return p, nil
}

// ParseDateStart parses the start of a range: YYYY-MM-DD (that day at
// 00:00:00 UTC) or RFC 3339 with any offset (converted to UTC). The year
// must be 2000…2100 in UTC. Errors are ErrDateEmpty, ErrDateFormat and
// ErrDateYear.
func ParseDateStart(s string) (time.Time, error) {
	return parseDate(s, false)
}

// ParseDateEnd parses the end of a range: YYYY-MM-DD means that whole day,
// so it gives 23:59:59 UTC of it; RFC 3339 (any offset) is converted to
// UTC. Errors as for ParseDateStart.
func ParseDateEnd(s string) (time.Time, error) {
	return parseDate(s, true)
}

func parseDate(s string, end bool) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, ErrDateEmpty
	}
	if len(s) > maxDateLen {
		return time.Time{}, ErrDateFormat
	}
	var t time.Time
	if dateOnlyRe.MatchString(s) {
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return time.Time{}, ErrDateFormat
		}
		t = d.UTC()
		if end {
			t = t.Add(24*time.Hour - time.Second)
		}
	} else {
		d, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return time.Time{}, ErrDateFormat
		}
		t = d.UTC()
	}
	if y := t.Year(); y < MinYear || y > MaxYear {
		return time.Time{}, ErrDateYear
	}
	return t, nil
}

// splitIDs splits a list typed with commas, spaces or new lines.
func splitIDs(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || unicode.IsSpace(r) })
}

func parseDataPointIDs(raw string) ([]string, string) {
	var (
		ids  []string
		bad  []string
		seen = map[string]bool{}
	)
	for _, id := range splitIDs(raw) {
		if !dataPointIDRe.MatchString(id) {
			if len(bad) < 3 {
				bad = append(bad, quoteShort(id))
			} else if len(bad) == 3 {
				bad = append(bad, "…")
			}
			continue
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		ids = append(ids, id)
		if len(ids) > MaxDataPointIDs {
			return nil, fmt.Sprintf("%s (one per data point; duplicates count once)", msgTooManyIDs)
		}
	}
	if len(bad) > 0 {
		noun := "is not a data point id"
		if len(bad) > 1 {
			noun = "are not data point ids"
		}
		return nil, fmt.Sprintf("%s %s: ids start with in_ or dp_ followed by letters and digits, like %s",
			strings.Join(bad, ", "), noun, exampleDataPointID)
	}
	return ids, ""
}

func parseSkippedTypeIDs(raw []string, allowed map[int64]bool) ([]int64, string) {
	if len(raw) > MaxSkippedTypeIDs {
		return nil, msgSkipTooMany
	}
	var ids []int64
	for _, s := range raw {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if len(s) > maxSkipIDDigits || strings.HasPrefix(s, "+") {
			return nil, msgSkipInvalid
		}
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			return nil, msgSkipInvalid
		}
		if allowed != nil && !allowed[id] {
			return nil, fmt.Sprintf("Input type %d is not one of this ledger's required inputs", id)
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return slices.Compact(ids), ""
}

// rowKey is the error key of row n of GenerationForm.BatchAmounts.
func rowKey(n int) string { return "batch_amounts[" + strconv.Itoa(n) + "]" }

func parseBatchAmounts(rows []BatchAmountRow) ([]BatchAmountInput, FieldErrors) {
	errs := FieldErrors{}
	if len(rows) > MaxBatchAmountRows {
		errs["batch_amounts"] = fmt.Sprintf("%s (there are %d)", msgTooManyRows, len(rows))
		rows = rows[:MaxBatchAmountRows]
	}
	var out []BatchAmountInput
	firstRow := map[string]int{}
	for n, r := range rows {
		in, msg := parseBatchAmountRow(r)
		if msg == "" {
			if prev, dup := firstRow[in.BatchID]; dup {
				msg = fmt.Sprintf("%s is already in row %d; give each batch one amount", in.BatchID, prev+1)
			} else {
				firstRow[in.BatchID] = n
			}
		}
		if msg != "" {
			errs[rowKey(n)] = fmt.Sprintf("Row %d: %s", n+1, msg)
			continue
		}
		out = append(out, in)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

func parseBatchAmountRow(r BatchAmountRow) (BatchAmountInput, string) {
	id := strings.TrimSpace(r.BatchID)
	amount := strings.TrimSpace(r.Amount)
	group := strings.TrimSpace(r.AllocationGroup)

	switch {
	case id == "":
		return BatchAmountInput{}, msgBatchIDEmpty
	case !batchIDRe.MatchString(id):
		return BatchAmountInput{}, fmt.Sprintf("%s is not a batch id: batch ids look like %s", quoteShort(id), exampleBatchID)
	}
	if amount == "" {
		return BatchAmountInput{}, msgAmountEmpty + " for " + id
	}
	if !amountRe.MatchString(amount) {
		return BatchAmountInput{}, msgAmountFormat
	}
	a, err := strconv.ParseFloat(amount, 64)
	if err != nil || math.IsNaN(a) || math.IsInf(a, 0) || math.Abs(a) > MaxAmount {
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return BatchAmountInput{}, msgAmountFormat
		}
		return BatchAmountInput{}, msgAmountTooLarge
	}
	if a == 0 {
		a = 0 // no negative zero
	}
	if !utf8.ValidString(group) || strings.ContainsFunc(group, unicode.IsControl) {
		return BatchAmountInput{}, msgGroupControl
	}
	if utf8.RuneCountInString(group) > MaxAllocationGroup {
		return BatchAmountInput{}, msgGroupTooLong
	}
	return BatchAmountInput{BatchID: id, Amount: a, AllocationGroup: group}, ""
}

// quoteShort quotes user input for a message, shortened to 24 characters.
func quoteShort(s string) string {
	if utf8.RuneCountInString(s) > 24 {
		r := []rune(s)
		s = string(r[:24]) + "…"
	}
	return strconv.Quote(s)
}

// Values encodes the form as the query or body it is parsed from, in a
// stable order and without empty fields: the link to its preview.
// ParseGenerationForm(f.Values()) gives f back, rows renumbered from 0.
func (f GenerationForm) Values() url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("start_time", f.StartTime)
	set("end_time", f.EndTime)
	set("data_point_ids", f.DataPointIDs)
	for _, id := range f.SkippedTypeIDs {
		v.Add("skipped_data_point_type_ids", id)
	}
	for i, r := range f.BatchAmounts {
		set(batchField(i, "batch_id"), r.BatchID)
		set(batchField(i, "primary_output_amount"), r.Amount)
		set(batchField(i, "allocation_group"), r.AllocationGroup)
	}
	return v
}

// batchField names field of row n of the batch amounts.
func batchField(n int, field string) string {
	return "batch_amounts[" + strconv.Itoa(n) + "][" + field + "]"
}

// StartValue is the form value that ParseDateStart reads back as t: the
// date alone when t is a day's first second in UTC, RFC 3339 otherwise.
func StartValue(t time.Time) string {
	t = t.UTC()
	if t.Equal(t.Truncate(24 * time.Hour)) {
		return t.Format(time.DateOnly)
	}
	return t.Format(time.RFC3339)
}

// EndValue is the form value that ParseDateEnd reads back as t: the date
// alone when t is a day's last second in UTC, RFC 3339 otherwise.
func EndValue(t time.Time) string {
	t = t.UTC()
	if next := t.Add(time.Second); next.Equal(next.Truncate(24 * time.Hour)) {
		return t.Format(time.DateOnly)
	}
	return t.Format(time.RFC3339)
}
