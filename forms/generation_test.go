package forms

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

func ftUTC(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func TestFieldErrorsAny(t *testing.T) {
	var nilErrs FieldErrors
	if nilErrs.Any() || (FieldErrors{}).Any() {
		t.Error("empty FieldErrors reports errors")
	}
	if !(FieldErrors{"start_time": "x"}).Any() {
		t.Error("non-empty FieldErrors reports none")
	}
}

func TestParseDateStart(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string // RFC 3339 in UTC
		wantErr error
	}{
		{"Date", "2025-03-31", "2025-03-31T00:00:00Z", nil},
		{"DateTrimmed", "  2025-03-31\n", "2025-03-31T00:00:00Z", nil},
		{"LeapDay", "2024-02-29", "2024-02-29T00:00:00Z", nil},
		{"RFC3339UTC", "2025-03-31T23:59:59Z", "2025-03-31T23:59:59Z", nil},
		{"RFC3339Fraction", "2025-03-31T10:00:00.25Z", "2025-03-31T10:00:00.25Z", nil},
		{"OffsetPositive", "2025-03-31T23:59:59+02:00", "2025-03-31T21:59:59Z", nil},
		{"OffsetNegative", "2025-03-31T22:00:00-05:00", "2025-04-01T03:00:00Z", nil},
		{"OffsetCrossesYear", "2025-01-01T01:00:00+05:00", "2024-12-31T20:00:00Z", nil},
		{"FirstYear", "2000-01-01", "2000-01-01T00:00:00Z", nil},
		{"LastYear", "2100-12-31", "2100-12-31T00:00:00Z", nil},
		{"Empty", "", "", ErrDateEmpty},
		{"Blank", " \t ", "", ErrDateEmpty},
		{"SlashDate", "31/03/2025", "", ErrDateFormat},
		{"ShortMonth", "2025-3-31", "", ErrDateFormat},
		{"NoSuchDay", "2025-02-30", "", ErrDateFormat},
		{"NotLeap", "2025-02-29", "", ErrDateFormat},
		{"Month13", "2025-13-01", "", ErrDateFormat},
		{"NoZone", "2025-03-31T23:59:59", "", ErrDateFormat},
		{"SpaceSeparator", "2025-03-31 23:59:59Z", "", ErrDateFormat},
		{"Words", "yesterday", "", ErrDateFormat},
		{"TooLong", "2025-03-31" + strings.Repeat(" x", 40), "", ErrDateFormat},
		{"YearBefore", "1999-12-31", "", ErrDateYear},
		{"YearAfter", "2101-01-01", "", ErrDateYear},
		{"OffsetIntoYearBefore", "2000-01-01T00:30:00+01:00", "", ErrDateYear},
		{"YearZero", "0000-01-01", "", ErrDateYear},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDateStart(tt.in)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("ParseDateStart(%q) error = %v, want %v", tt.in, err, tt.wantErr)
			}
			if tt.wantErr != nil {
				if !got.IsZero() {
					t.Errorf("got %v with an error", got)
				}
				return
			}
			if !got.Equal(ftUTC(tt.want)) || got.Location() != time.UTC {
				t.Errorf("ParseDateStart(%q) = %v, want %s in UTC", tt.in, got, tt.want)
			}
		})
	}
	if ErrDateFormat.Error() != "Use a date like 2025-03-31 or a time like 2025-03-31T23:59:59Z" {
		t.Errorf("format message changed: %q", ErrDateFormat)
	}
}

func TestParseDateEnd(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr error
	}{
		{"DateIsInclusive", "2025-03-31", "2025-03-31T23:59:59Z", nil},
		{"LeapDay", "2024-02-29", "2024-02-29T23:59:59Z", nil},
		{"YearEnd", "2024-12-31", "2024-12-31T23:59:59Z", nil},
		{"RFC3339AsIs", "2025-03-31T12:00:00Z", "2025-03-31T12:00:00Z", nil},
		{"Offset", "2025-03-31T23:59:59+02:00", "2025-03-31T21:59:59Z", nil},
		{"OffsetNextDay", "2025-03-31T23:00:00-02:00", "2025-04-01T01:00:00Z", nil},
		{"LastDay", "2100-12-31", "2100-12-31T23:59:59Z", nil},
		{"FirstDay", "2000-01-01", "2000-01-01T23:59:59Z", nil},
		{"Empty", "", "", ErrDateEmpty},
		{"Garbage", "end of March", "", ErrDateFormat},
		{"NoSuchDay", "2025-04-31", "", ErrDateFormat},
		{"YearAfter", "2101-01-01", "", ErrDateYear},
		{"OffsetIntoYearAfter", "2100-12-31T23:00:00-05:00", "", ErrDateYear},
		{"YearBefore", "1999-06-30", "", ErrDateYear},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDateEnd(tt.in)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("ParseDateEnd(%q) error = %v, want %v", tt.in, err, tt.wantErr)
			}
			if tt.wantErr == nil && (!got.Equal(ftUTC(tt.want)) || got.Location() != time.UTC) {
				t.Errorf("ParseDateEnd(%q) = %v, want %s in UTC", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseGenerationForm(t *testing.T) {
	v := url.Values{
		"start_time":                               {" 2025-01-01 "},
		"end_time":                                 {"2025-03-31"},
		"data_point_ids":                           {"in_a, dp_b\nin_c"},
		"skipped_data_point_type_ids":              {"3", "1"},
		"batch_amounts[10][batch_id]":              {"bat_ten"},
		"batch_amounts[10][primary_output_amount]": {"10"},
		"batch_amounts[2][batch_id]":               {"bat_two", "bat_ignored"},
		"batch_amounts[2][primary_output_amount]":  {"2.5"},
		"batch_amounts[2][allocation_group]":       {"g"},
		"batch_amounts[0][batch_id]":               {"  "}, // blank row: dropped
		"batch_amounts[0][primary_output_amount]":  {""},
		"batch_amounts[1][allocation_group]":       {""},        // empty row: dropped
		"batch_amounts[5][primary_output_amount]":  {"7"},       // half-filled: kept
		"batch_amounts[1000][batch_id]":            {"bat_far"}, // index too large: not a row
		"batch_amounts[x][batch_id]":               {"bat_x"},
		"batch_amounts[3][colour]":                 {"red"},
		"batch_amounts[4][batch_id]":               {}, // no value
		"unrelated":                                {"value"},
	}
	f := ParseGenerationForm(v)
	want := GenerationForm{
		StartTime:      " 2025-01-01 ", // kept as typed
		EndTime:        "2025-03-31",
		DataPointIDs:   "in_a, dp_b\nin_c",
		SkippedTypeIDs: []string{"3", "1"},
		BatchAmounts: []BatchAmountRow{
			{BatchID: "bat_two", Amount: "2.5", AllocationGroup: "g"},
			{Amount: "7"},
			{BatchID: "bat_ten", Amount: "10"},
		},
	}
	if !reflect.DeepEqual(f, want) {
		t.Fatalf("ParseGenerationForm =\n%#v\nwant\n%#v", f, want)
	}
	// The form owns its slices.
	v["skipped_data_point_type_ids"][0] = "99"
	if f.SkippedTypeIDs[0] != "3" {
		t.Error("SkippedTypeIDs aliases the url.Values slice")
	}

	if got := ParseGenerationForm(url.Values{}); !reflect.DeepEqual(got, GenerationForm{}) {
		t.Errorf("empty form parsed as %#v", got)
	}
}

// form builds url.Values from alternating keys and values.
func ftForm(kv ...string) url.Values {
	v := url.Values{"start_time": {"2025-01-01"}, "end_time": {"2025-03-31"}}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "\x00delete" {
			v.Del(kv[i])
			continue
		}
		if strings.HasPrefix(kv[i], "+") {
			v.Add(kv[i][1:], kv[i+1])
			continue
		}
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func ftRows(rows ...[3]string) []string {
	var kv []string
	for i, r := range rows {
		kv = append(kv,
			fmt.Sprintf("batch_amounts[%d][batch_id]", i), r[0],
			fmt.Sprintf("batch_amounts[%d][primary_output_amount]", i), r[1],
			fmt.Sprintf("batch_amounts[%d][allocation_group]", i), r[2])
	}
	return kv
}

func ftIDs(prefix string, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%s%d\n", prefix, i)
	}
	return b.String()
}

func TestGenerationFormValidate(t *testing.T) {
	allowed := map[int64]bool{11: true, 12: true, 13: true}
	q1 := GenerationParams{Start: ftUTC("2025-01-01T00:00:00Z"), End: ftUTC("2025-03-31T23:59:59Z")}

	tests := []struct {
		name    string
		values  url.Values
		allowed map[int64]bool
		// wantErrs maps each expected key to a substring of its message;
		// no other key may be present.
		wantErrs map[string]string
		want     *GenerationParams
	}{
		{name: "MinimalDates", values: ftForm(), want: &q1},
		{name: "RFC3339WithOffsets", values: ftForm("start_time", "2025-01-01T02:00:00+02:00", "end_time", "2025-03-31T18:59:59-05:00"), want: &q1},
		{name: "SameDay", values: ftForm("start_time", "2025-03-31", "end_time", "2025-03-31"),
			want: &GenerationParams{Start: ftUTC("2025-03-31T00:00:00Z"), End: ftUTC("2025-03-31T23:59:59Z")}},
		{name: "ExactlyFiveYears", values: ftForm("start_time", "2020-01-01", "end_time", "2024-12-31"),
			want: &GenerationParams{Start: ftUTC("2020-01-01T00:00:00Z"), End: ftUTC("2024-12-31T23:59:59Z")}},
		{name: "FiveYearsToTheSecond", values: ftForm("start_time", "2020-01-01T00:00:00Z", "end_time", "2025-01-01T00:00:00Z"),
			want: &GenerationParams{Start: ftUTC("2020-01-01T00:00:00Z"), End: ftUTC("2025-01-01T00:00:00Z")}},

		{name: "StartEmpty", values: ftForm("start_time", ""), wantErrs: map[string]string{"start_time": msgStartEmpty}},
		{name: "EndEmpty", values: ftForm("end_time", "  "), wantErrs: map[string]string{"end_time": msgEndEmpty}},
		{name: "BothMissing", values: ftForm("start_time", "\x00delete", "end_time", "\x00delete"),
			wantErrs: map[string]string{"start_time": msgStartEmpty, "end_time": msgEndEmpty}},
		{name: "StartUnparsable", values: ftForm("start_time", "01/01/2025"), wantErrs: map[string]string{"start_time": msgDateFormat}},
		{name: "EndUnparsable", values: ftForm("end_time", "2025-03-32"), wantErrs: map[string]string{"end_time": msgDateFormat}},
		{name: "EndBeforeStart", values: ftForm("start_time", "2025-03-31", "end_time", "2025-01-01"),
			wantErrs: map[string]string{"end_time": msgEndBeforeStart + " (2025-03-31 00:00:00 UTC)"}},
		{name: "EndEqualsStart", values: ftForm("start_time", "2025-03-31T10:00:00Z", "end_time", "2025-03-31T10:00:00Z"),
			wantErrs: map[string]string{"end_time": msgEndBeforeStart}},
		{name: "EndBeforeStartByOffset", values: ftForm("start_time", "2025-03-31T10:00:00Z", "end_time", "2025-03-31T11:00:00+02:00"),
			wantErrs: map[string]string{"end_time": msgEndBeforeStart}},
		{name: "RangeTooLong", values: ftForm("start_time", "2020-01-01", "end_time", "2025-01-01"), wantErrs: map[string]string{"end_time": msgRangeTooLong}},
		{name: "RangeTooLongBySecond", values: ftForm("start_time", "2020-01-01T00:00:00Z", "end_time", "2025-01-01T00:00:01Z"), wantErrs: map[string]string{"end_time": msgRangeTooLong}},
		{name: "StartYearTooEarly", values: ftForm("start_time", "1999-12-31"), wantErrs: map[string]string{"start_time": msgDateYear}},
		{name: "EndYearTooLate", values: ftForm("end_time", "2101-01-01"), wantErrs: map[string]string{"end_time": msgDateYear}},

		{name: "DataPointIDs", values: ftForm("data_point_ids", "in_a1, dp_B2\n\nin_a1;in_c3\tdp_B2"),
			want: &GenerationParams{Start: q1.Start, End: q1.End, DataPointIDs: []string{"in_a1", "dp_B2", "in_c3"}}},
		{name: "DataPointIDsBlank", values: ftForm("data_point_ids", " \n ,, "), want: &q1},
		{name: "DataPointIDBad", values: ftForm("data_point_ids", "in_ok bat_x"),
			wantErrs: map[string]string{"data_point_ids": `"bat_x" is not a data point id`}},
		{name: "DataPointIDsBadMany", values: ftForm("data_point_ids", "x1 x2 x3 x4 x5"),
			wantErrs: map[string]string{"data_point_ids": `"x1", "x2", "x3", … are not data point ids`}},
		{name: "DataPointIDTooLong", values: ftForm("data_point_ids", "in_"+strings.Repeat("a", 65)),
			wantErrs: map[string]string{"data_point_ids": "is not a data point id"}},
		{name: "DataPointIDPunctuation", values: ftForm("data_point_ids", "in_a-b"),
			wantErrs: map[string]string{"data_point_ids": `"in_a-b" is not a data point id`}},
		{name: "DataPointIDsMax", values: ftForm("data_point_ids", ftIDs("in_", 500)), want: nil},
		{name: "DataPointIDsTooMany", values: ftForm("data_point_ids", ftIDs("in_", 501)), wantErrs: map[string]string{"data_point_ids": msgTooManyIDs}},
		{name: "DataPointIDsDuplicatesCountOnce", values: ftForm("data_point_ids", ftIDs("in_", 500)+ftIDs("in_", 500)), want: nil},

		{name: "SkippedAllowed", allowed: allowed, values: ftForm("+skipped_data_point_type_ids", "13", "+skipped_data_point_type_ids", "11", "+skipped_data_point_type_ids", "13"),
			want: &GenerationParams{Start: q1.Start, End: q1.End, SkippedTypeIDs: []int64{11, 13}}},
		{name: "SkippedAnyWithNilMap", values: ftForm("skipped_data_point_type_ids", "99999"),
			want: &GenerationParams{Start: q1.Start, End: q1.End, SkippedTypeIDs: []int64{99999}}},
		{name: "SkippedNotAllowed", allowed: allowed, values: ftForm("skipped_data_point_type_ids", "14"),
			wantErrs: map[string]string{"skipped_data_point_type_ids": "Input type 14 is not one of this ledger's required inputs"}},
		{name: "SkippedEmptyAllowedMap", allowed: map[int64]bool{}, values: ftForm("skipped_data_point_type_ids", "1"),
			wantErrs: map[string]string{"skipped_data_point_type_ids": "not one of this ledger's required inputs"}},
		{name: "SkippedZero", values: ftForm("skipped_data_point_type_ids", "0"), wantErrs: map[string]string{"skipped_data_point_type_ids": msgSkipInvalid}},
		{name: "SkippedNegative", values: ftForm("skipped_data_point_type_ids", "-3"), wantErrs: map[string]string{"skipped_data_point_type_ids": msgSkipInvalid}},
		{name: "SkippedText", values: ftForm("skipped_data_point_type_ids", "feedstock"), wantErrs: map[string]string{"skipped_data_point_type_ids": msgSkipInvalid}},
		{name: "SkippedOverflow", values: ftForm("skipped_data_point_type_ids", "99999999999999999999"), wantErrs: map[string]string{"skipped_data_point_type_ids": msgSkipInvalid}},
		{name: "SkippedEmptyValueIgnored", values: ftForm("skipped_data_point_type_ids", ""), want: &q1},

		{name: "BatchAmounts", values: ftForm(ftRows(
			[3]string{" bat_A1 ", " 1250.5 ", " group a "},
			[3]string{"bat_B2", "-3", ""},
			[3]string{"bat_C3", "1e3", ""},
			[3]string{"bat_D4", "-0", ""},
			[3]string{"bat_E5", ".5", strings.Repeat("é", 100)},
		)...), want: &GenerationParams{Start: q1.Start, End: q1.End, BatchAmounts: []BatchAmountInput{
			{BatchID: "bat_A1", Amount: 1250.5, AllocationGroup: "group a"},
			{BatchID: "bat_B2", Amount: -3},
			{BatchID: "bat_C3", Amount: 1000},
			{BatchID: "bat_D4", Amount: 0},
			{BatchID: "bat_E5", Amount: 0.5, AllocationGroup: strings.Repeat("é", 100)},
		}}},
		{name: "BatchAmountLimit", values: ftForm(ftRows([3]string{"bat_A", "1e12", ""}, [3]string{"bat_B", "-1000000000000", ""})...), want: nil},
		{name: "BatchIDMissing", values: ftForm(ftRows([3]string{"", "5", ""})...), wantErrs: map[string]string{"batch_amounts[0]": "Row 1: " + msgBatchIDEmpty}},
		{name: "BatchIDBad", values: ftForm(ftRows([3]string{"bat_ok", "1", ""}, [3]string{"led_x", "5", ""})...),
			wantErrs: map[string]string{"batch_amounts[1]": `Row 2: "led_x" is not a batch id`}},
		{name: "BatchIDTooLong", values: ftForm(ftRows([3]string{"bat_" + strings.Repeat("x", 65), "5", ""})...),
			wantErrs: map[string]string{"batch_amounts[0]": "is not a batch id"}},
		{name: "AmountMissing", values: ftForm(ftRows([3]string{"bat_x", "", "g"})...), wantErrs: map[string]string{"batch_amounts[0]": msgAmountEmpty + " for bat_x"}},
		{name: "AmountNaN", values: ftForm(ftRows([3]string{"bat_x", "NaN", ""})...), wantErrs: map[string]string{"batch_amounts[0]": msgAmountFormat}},
		{name: "AmountInf", values: ftForm(ftRows([3]string{"bat_x", "Inf", ""})...), wantErrs: map[string]string{"batch_amounts[0]": msgAmountFormat}},
		{name: "AmountMinusInfinity", values: ftForm(ftRows([3]string{"bat_x", "-infinity", ""})...), wantErrs: map[string]string{"batch_amounts[0]": msgAmountFormat}},
		{name: "AmountHex", values: ftForm(ftRows([3]string{"bat_x", "0x1p3", ""})...), wantErrs: map[string]string{"batch_amounts[0]": msgAmountFormat}},
		{name: "AmountUnderscore", values: ftForm(ftRows([3]string{"bat_x", "1_000", ""})...), wantErrs: map[string]string{"batch_amounts[0]": msgAmountFormat}},
		{name: "AmountComma", values: ftForm(ftRows([3]string{"bat_x", "12,5", ""})...), wantErrs: map[string]string{"batch_amounts[0]": msgAmountFormat}},
		{name: "AmountThousands", values: ftForm(ftRows([3]string{"bat_x", "1,000.5", ""})...), wantErrs: map[string]string{"batch_amounts[0]": msgAmountFormat}},
		{name: "AmountWords", values: ftForm(ftRows([3]string{"bat_x", "ten", ""})...), wantErrs: map[string]string{"batch_amounts[0]": msgAmountFormat}},
		{name: "AmountTooLarge", values: ftForm(ftRows([3]string{"bat_x", "1000000000000.5", ""})...), wantErrs: map[string]string{"batch_amounts[0]": msgAmountTooLarge}},
		{name: "AmountTooSmall", values: ftForm(ftRows([3]string{"bat_x", "-2e12", ""})...), wantErrs: map[string]string{"batch_amounts[0]": msgAmountTooLarge}},
		{name: "AmountOverflow", values: ftForm(ftRows([3]string{"bat_x", "1e999", ""})...), wantErrs: map[string]string{"batch_amounts[0]": msgAmountTooLarge}},
		{name: "GroupTooLong", values: ftForm(ftRows([3]string{"bat_x", "1", strings.Repeat("g", 101)})...), wantErrs: map[string]string{"batch_amounts[0]": msgGroupTooLong}},
		{name: "GroupControl", values: ftForm(ftRows([3]string{"bat_x", "1", "a\nb"})...), wantErrs: map[string]string{"batch_amounts[0]": msgGroupControl}},
		{name: "GroupInvalidUTF8", values: ftForm(ftRows([3]string{"bat_x", "1", "a\xffb"})...), wantErrs: map[string]string{"batch_amounts[0]": msgGroupControl}},
		{name: "DuplicateBatch", values: ftForm(ftRows([3]string{"bat_x", "1", ""}, [3]string{"bat_y", "2", ""}, [3]string{"bat_x", "3", ""})...),
			wantErrs: map[string]string{"batch_amounts[2]": "Row 3: bat_x is already in row 1"}},
		{name: "TwentyRows", values: ftForm(ftManyRows(20)...), want: nil},
		{name: "TooManyRows", values: ftForm(ftManyRows(21)...), wantErrs: map[string]string{"batch_amounts": msgTooManyRows + " (there are 21)"}},
		{name: "RowIndexIsPositionAfterBlankRows", values: ftForm(
			"batch_amounts[0][batch_id]", "", "batch_amounts[3][batch_id]", "bat_ok", "batch_amounts[3][primary_output_amount]", "1",
			"batch_amounts[7][batch_id]", "nope", "batch_amounts[7][primary_output_amount]", "1"),
			wantErrs: map[string]string{"batch_amounts[1]": `Row 2: "nope" is not a batch id`}},

		{name: "EverythingWrong", allowed: allowed, values: ftForm(append([]string{
			"start_time", "soon", "end_time", "", "data_point_ids", "oops",
			"skipped_data_point_type_ids", "1",
		}, ftRows([3]string{"bat_x", "NaN", ""})...)...),
			wantErrs: map[string]string{
				"start_time": msgDateFormat, "end_time": msgEndEmpty, "data_point_ids": "not a data point id",
				"skipped_data_point_type_ids": "Input type 1", "batch_amounts[0]": msgAmountFormat,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := ParseGenerationForm(tt.values)
			p, errs := f.Validate(tt.allowed)
			if len(tt.wantErrs) > 0 {
				if !errs.Any() {
					t.Fatalf("no errors, params %+v", p)
				}
				for k, sub := range tt.wantErrs {
					if msg := errs[k]; !strings.Contains(msg, sub) {
						t.Errorf("errs[%q] = %q, want it to contain %q", k, msg, sub)
					}
				}
				for k, msg := range errs {
					if _, ok := tt.wantErrs[k]; !ok {
						t.Errorf("unexpected errs[%q] = %q", k, msg)
					}
				}
				if !reflect.DeepEqual(p, GenerationParams{}) {
					t.Errorf("params returned with errors: %+v", p)
				}
				return
			}
			if errs.Any() {
				t.Fatalf("unexpected errors: %v", errs)
			}
			if tt.want != nil && !reflect.DeepEqual(p, *tt.want) {
				t.Errorf("params =\n%#v\nwant\n%#v", p, *tt.want)
			}
			if p.Start.Location() != time.UTC || p.End.Location() != time.UTC {
				t.Errorf("times not in UTC: %v %v", p.Start, p.End)
			}
		})
	}
}

func ftManyRows(n int) []string {
	rows := make([][3]string, n)
	for i := range rows {
		rows[i] = [3]string{fmt.Sprintf("bat_%d", i), "1", ""}
	}
	return ftRows(rows...)
}

func TestDataPointIDsKeepOrder(t *testing.T) {
	p, errs := ParseGenerationForm(ftForm("data_point_ids", "in_z in_a dp_m in_z")).Validate(nil)
	if errs.Any() || !reflect.DeepEqual(p.DataPointIDs, []string{"in_z", "in_a", "dp_m"}) {
		t.Fatalf("ids %v, errs %v", p.DataPointIDs, errs)
	}
}

func TestQuickRange(t *testing.T) {
	tests := []struct {
		name       string
		quick      string
		year       int
		now        string
		start, end string // empty: not ok
	}{
		{"LastMonthAcrossYear", "last-month", 0, "2025-01-15T12:00:00Z", "2024-12-01T00:00:00Z", "2024-12-31T23:59:59Z"},
		{"LastQuarterAcrossYear", "last-quarter", 0, "2025-01-15T12:00:00Z", "2024-10-01T00:00:00Z", "2024-12-31T23:59:59Z"},
		{"LastMonthFebruary", "last-month", 0, "2025-03-31T23:59:59Z", "2025-02-01T00:00:00Z", "2025-02-28T23:59:59Z"},
		{"LastMonthLeapFebruary", "last-month", 0, "2024-03-01T00:00:00Z", "2024-02-01T00:00:00Z", "2024-02-29T23:59:59Z"},
		{"LastMonthThirtyDays", "last-month", 0, "2025-07-31T10:00:00Z", "2025-06-01T00:00:00Z", "2025-06-30T23:59:59Z"},
		{"LastMonthIgnoresYear", "last-month", 2020, "2025-07-31T10:00:00Z", "2025-06-01T00:00:00Z", "2025-06-30T23:59:59Z"},
		{"LastQuarterQ1", "last-quarter", 0, "2025-05-20T08:00:00Z", "2025-01-01T00:00:00Z", "2025-03-31T23:59:59Z"},
		{"LastQuarterOnFirstDay", "last-quarter", 0, "2025-07-01T00:00:00Z", "2025-04-01T00:00:00Z", "2025-06-30T23:59:59Z"},
		{"LastQuarterLastDay", "last-quarter", 0, "2025-12-31T23:59:59Z", "2025-07-01T00:00:00Z", "2025-09-30T23:59:59Z"},
		{"NowInOtherZone", "last-month", 0, "2025-01-01T01:00:00+02:00", "2024-11-01T00:00:00Z", "2024-11-30T23:59:59Z"},
		{"Q1", "q1", 2025, "2025-06-01T00:00:00Z", "2025-01-01T00:00:00Z", "2025-03-31T23:59:59Z"},
		{"Q2", "q2", 2025, "2025-06-01T00:00:00Z", "2025-04-01T00:00:00Z", "2025-06-30T23:59:59Z"},
		{"Q3", "q3", 2025, "2025-06-01T00:00:00Z", "2025-07-01T00:00:00Z", "2025-09-30T23:59:59Z"},
		{"Q4", "q4", 2024, "2025-06-01T00:00:00Z", "2024-10-01T00:00:00Z", "2024-12-31T23:59:59Z"},
		{"QuarterOfNowsYear", "q1", 0, "2026-02-10T00:00:00Z", "2026-01-01T00:00:00Z", "2026-03-31T23:59:59Z"},
		{"QuarterFirstYear", "q1", 2000, "2025-06-01T00:00:00Z", "2000-01-01T00:00:00Z", "2000-03-31T23:59:59Z"},
		{"QuarterLastYear", "q4", 2100, "2025-06-01T00:00:00Z", "2100-10-01T00:00:00Z", "2100-12-31T23:59:59Z"},
		{"QuarterYearTooEarly", "q1", 1999, "2025-06-01T00:00:00Z", "", ""},
		{"QuarterYearTooLate", "q1", 2101, "2025-06-01T00:00:00Z", "", ""},
		{"LastMonthBefore2000", "last-month", 0, "2000-01-10T00:00:00Z", "", ""},
		{"Unknown", "q5", 2025, "2025-06-01T00:00:00Z", "", ""},
		{"Empty", "", 2025, "2025-06-01T00:00:00Z", "", ""},
		{"CaseSensitive", "Q1", 2025, "2025-06-01T00:00:00Z", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now, err := time.Parse(time.RFC3339, tt.now)
			if err != nil {
				t.Fatal(err)
			}
			s, e, ok := QuickRange(tt.quick, tt.year, now)
			if tt.start == "" {
				if ok {
					t.Fatalf("QuickRange(%q, %d) = %v, %v, want not ok", tt.quick, tt.year, s, e)
				}
				return
			}
			if !ok || !s.Equal(ftUTC(tt.start)) || !e.Equal(ftUTC(tt.end)) || s.Location() != time.UTC || e.Location() != time.UTC {
				t.Fatalf("QuickRange(%q, %d, %s) = %v, %v, %v; want %s, %s", tt.quick, tt.year, tt.now, s, e, ok, tt.start, tt.end)
			}
			// A quick range typed back as dates validates to the same range.
			p, errs := ParseGenerationForm(ftForm("start_time", s.Format(time.DateOnly), "end_time", e.Format(time.DateOnly))).Validate(nil)
			if errs.Any() || !p.Start.Equal(s) || !p.End.Equal(e) {
				t.Errorf("round trip through the form: %v, %v, %v", p.Start, p.End, errs)
			}
		})
	}
}

func TestGenerationParamsHash(t *testing.T) {
	base := GenerationParams{
		Start:          ftUTC("2025-01-01T00:00:00Z"),
		End:            ftUTC("2025-03-31T23:59:59Z"),
		DataPointIDs:   []string{"in_b", "in_a"},
		SkippedTypeIDs: []int64{3, 1},
		BatchAmounts: []BatchAmountInput{
			{BatchID: "bat_2", Amount: 2.5},
			{BatchID: "bat_1", Amount: 1, AllocationGroup: "g"},
		},
	}
	h := base.Hash()
	if len(h) != 64 || strings.Trim(h, "0123456789abcdef") != "" {
		t.Fatalf("Hash = %q, want 64 hex digits", h)
	}

	same := map[string]GenerationParams{
		"Reordered": {
			Start: base.Start, End: base.End,
			DataPointIDs:   []string{"in_a", "in_b", "in_a"},
			SkippedTypeIDs: []int64{1, 3, 3},
			BatchAmounts:   []BatchAmountInput{base.BatchAmounts[1], base.BatchAmounts[0]},
		},
		"OtherZoneSameInstant": func() GenerationParams {
			p := base
			p.Start = base.Start.In(time.FixedZone("X", 5*3600))
			return p
		}(),
	}
	for name, p := range same {
		if p.Hash() != h {
			t.Errorf("%s: hash differs", name)
		}
	}
	if (GenerationParams{Start: base.Start, End: base.End}).Hash() !=
		(GenerationParams{Start: base.Start, End: base.End, DataPointIDs: []string{}, SkippedTypeIDs: []int64{}, BatchAmounts: []BatchAmountInput{}}).Hash() {
		t.Error("nil and empty slices hash differently")
	}
	if (GenerationParams{BatchAmounts: []BatchAmountInput{{BatchID: "bat_1", Amount: 0}}}).Hash() !=
		(GenerationParams{BatchAmounts: []BatchAmountInput{{BatchID: "bat_1", Amount: -1 * 0.0}}}).Hash() {
		t.Error("zero and negative zero hash differently")
	}

	changed := map[string]func(p *GenerationParams){
		"Start":       func(p *GenerationParams) { p.Start = p.Start.Add(time.Second) },
		"EndNanos":    func(p *GenerationParams) { p.End = p.End.Add(time.Nanosecond) },
		"MoreIDs":     func(p *GenerationParams) { p.DataPointIDs = append(p.DataPointIDs, "in_c") },
		"NoIDs":       func(p *GenerationParams) { p.DataPointIDs = nil },
		"Skipped":     func(p *GenerationParams) { p.SkippedTypeIDs = []int64{1} },
		"Amount":      func(p *GenerationParams) { p.BatchAmounts[0].Amount = 2.50001 },
		"Group":       func(p *GenerationParams) { p.BatchAmounts[0].AllocationGroup = "h" },
		"BatchID":     func(p *GenerationParams) { p.BatchAmounts[0].BatchID = "bat_3" },
		"NoAmounts":   func(p *GenerationParams) { p.BatchAmounts = nil },
		"IDIntoGroup": func(p *GenerationParams) { p.BatchAmounts[1].AllocationGroup = "" },
	}
	for name, change := range changed {
		p := base
		p.DataPointIDs = append([]string(nil), base.DataPointIDs...)
		p.BatchAmounts = append([]BatchAmountInput(nil), base.BatchAmounts...)
		change(&p)
		if p.Hash() == h {
			t.Errorf("%s: hash unchanged", name)
		}
	}
	if base.Hash() != h {
		t.Error("Hash is not deterministic, or a subtest mutated base")
	}

	// The form and its echo through hidden fields hash the same.
	v := ftForm(append([]string{"data_point_ids", "in_a in_b", "+skipped_data_point_type_ids", "3", "+skipped_data_point_type_ids", "1"},
		ftRows([3]string{"bat_1", "1.0", "g"}, [3]string{"bat_2", "2.50", ""})...)...)
	p1, errs := ParseGenerationForm(v).Validate(nil)
	if errs.Any() {
		t.Fatal(errs)
	}
	v2 := ftForm(append([]string{"start_time", "2025-01-01T00:00:00Z", "end_time", "2025-03-31T23:59:59Z", "data_point_ids", "in_b,in_a",
		"+skipped_data_point_type_ids", "1", "+skipped_data_point_type_ids", "3"},
		ftRows([3]string{"bat_2", "2.5", ""}, [3]string{"bat_1", "1", "g"})...)...)
	p2, errs := ParseGenerationForm(v2).Validate(nil)
	if errs.Any() {
		t.Fatal(errs)
	}
	if p1.Hash() != p2.Hash() || p1.Hash() != h {
		t.Error("equivalent forms hash differently")
	}
}

func TestParseBatchListQuery(t *testing.T) {
	def := BatchListQuery{Page: 1, PageSize: 25, Sort: "-start_time"}
	tests := []struct {
		name     string
		values   url.Values
		want     BatchListQuery
		wantErrs []string // keys
	}{
		{"Defaults", url.Values{}, def, nil},
		{"EmptyValues", url.Values{"page": {""}, "page_size": {" "}, "sort": {""}, "state": {""}}, def, nil},
		{"All", url.Values{"page": {"3"}, "page_size": {"100"}, "sort": {"created_at"}, "state": {"complete"}},
			BatchListQuery{Page: 3, PageSize: 100, Sort: "created_at", State: "complete"}, nil},
		{"EachPageSize10", url.Values{"page_size": {"10"}}, BatchListQuery{Page: 1, PageSize: 10, Sort: "-start_time"}, nil},
		{"EachPageSize50", url.Values{"page_size": {"50"}}, BatchListQuery{Page: 1, PageSize: 50, Sort: "-start_time"}, nil},
		{"SortStart", url.Values{"sort": {"start_time"}}, BatchListQuery{Page: 1, PageSize: 25, Sort: "start_time"}, nil},
		{"SortNewestCreated", url.Values{"sort": {"-created_at"}}, BatchListQuery{Page: 1, PageSize: 25, Sort: "-created_at"}, nil},
		{"MaxPage", url.Values{"page": {"10000"}}, BatchListQuery{Page: 10000, PageSize: 25, Sort: "-start_time"}, nil},
		{"AnyState", url.Values{"state": {"any"}}, def, nil},
		{"StateUnderscore", url.Values{"state": {"in_progress"}}, BatchListQuery{Page: 1, PageSize: 25, Sort: "-start_time", State: "in_progress"}, nil},
		{"PageZero", url.Values{"page": {"0"}}, def, []string{"page"}},
		{"PageNegative", url.Values{"page": {"-1"}}, def, []string{"page"}},
		{"PageTooLarge", url.Values{"page": {"10001"}}, def, []string{"page"}},
		{"PageHuge", url.Values{"page": {"99999999999999999999999"}}, def, []string{"page"}},
		{"PageText", url.Values{"page": {"two"}}, def, []string{"page"}},
		{"PageFraction", url.Values{"page": {"1.5"}}, def, []string{"page"}},
		{"PageSizeOdd", url.Values{"page_size": {"20"}}, def, []string{"page_size"}},
		{"PageSizeHuge", url.Values{"page_size": {"1000"}}, def, []string{"page_size"}},
		{"PageSizeText", url.Values{"page_size": {"all"}}, def, []string{"page_size"}},
		{"SortUnknown", url.Values{"sort": {"name"}}, def, []string{"sort"}},
		{"SortInjection", url.Values{"sort": {"-start_time;drop"}}, def, []string{"sort"}},
		{"StateUpper", url.Values{"state": {"Complete"}}, def, []string{"state"}},
		{"StateTooLong", url.Values{"state": {strings.Repeat("a", 33)}}, def, []string{"state"}},
		{"StateSymbols", url.Values{"state": {"a&b=c"}}, def, []string{"state"}},
		{"MixedKeepsValid", url.Values{"page": {"x"}, "page_size": {"50"}, "sort": {"bad"}, "state": {"failed"}},
			BatchListQuery{Page: 1, PageSize: 50, Sort: "-start_time", State: "failed"}, []string{"page", "sort"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := ParseBatchListQuery(tt.values)
			if got != tt.want {
				t.Errorf("query = %+v, want %+v", got, tt.want)
			}
			if len(errs) != len(tt.wantErrs) {
				t.Errorf("errs = %v, want keys %v", errs, tt.wantErrs)
			}
			for _, k := range tt.wantErrs {
				if errs[k] == "" {
					t.Errorf("no message for %q (errs %v)", k, errs)
				}
			}
		})
	}
}
