package forms

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// TestAllocationRowsAsSent: the allocation rows submit every row, chosen or
// not: a select with "" for "No allocation", an amount, and a group select
// only when the input has several groups. Rows left as they were are
// dropped; a row with only an amount asks for its batch.
func TestAllocationRowsAsSent(t *testing.T) {
	tests := []struct {
		name    string
		values  url.Values
		want    []BatchAmountRow
		wantErr map[string]string
	}{
		{name: "NothingChosen", values: url.Values{
			"batch_amounts[0][batch_id]": {""}, "batch_amounts[0][primary_output_amount]": {""},
			"batch_amounts[1][batch_id]": {""}, "batch_amounts[1][primary_output_amount]": {""},
		}},
		{name: "SecondRowChosen", values: url.Values{
			"batch_amounts[0][batch_id]": {""}, "batch_amounts[0][primary_output_amount]": {""},
			"batch_amounts[1][batch_id]": {"bat_jan"}, "batch_amounts[1][primary_output_amount]": {" 12.5 "},
			"batch_amounts[2][batch_id]": {""}, "batch_amounts[2][primary_output_amount]": {""},
		}, want: []BatchAmountRow{{BatchID: "bat_jan", Amount: " 12.5 "}}},
		{name: "WithGroup", values: url.Values{
			"batch_amounts[0][batch_id]": {"bat_jan"}, "batch_amounts[0][primary_output_amount]": {"1"}, "batch_amounts[0][allocation_group]": {"soil"},
			"batch_amounts[1][batch_id]": {""}, "batch_amounts[1][primary_output_amount]": {""}, "batch_amounts[1][allocation_group]": {""},
		}, want: []BatchAmountRow{{BatchID: "bat_jan", Amount: "1", AllocationGroup: "soil"}}},
		{name: "AmountWithoutBatch", values: url.Values{
			"batch_amounts[0][batch_id]": {""}, "batch_amounts[0][primary_output_amount]": {"5"},
		}, want: []BatchAmountRow{{Amount: "5"}}, wantErr: map[string]string{"batch_amounts[0]": "Row 1: Choose the upstream batch to allocate from"}},
		{name: "BatchWithoutAmount", values: url.Values{
			"batch_amounts[0][batch_id]": {"bat_jan"}, "batch_amounts[0][primary_output_amount]": {""},
		}, want: []BatchAmountRow{{BatchID: "bat_jan"}}, wantErr: map[string]string{"batch_amounts[0]": "Row 1: Enter the amount for bat_jan"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := url.Values{"start_time": {"2025-01-01"}, "end_time": {"2025-03-31"}}
			for k, vs := range tt.values {
				v[k] = vs
			}
			f := ParseGenerationForm(v)
			if !reflect.DeepEqual(f.BatchAmounts, tt.want) {
				t.Fatalf("rows %#v, want %#v", f.BatchAmounts, tt.want)
			}
			p, errs := f.Validate(nil)
			if len(tt.wantErr) == 0 {
				if errs.Any() || len(p.BatchAmounts) != len(tt.want) {
					t.Fatalf("errors %v, %d items", errs, len(p.BatchAmounts))
				}
				return
			}
			for k, sub := range tt.wantErr {
				if !strings.Contains(errs[k], sub) {
					t.Errorf("errs[%q] = %q, want %q", k, errs[k], sub)
				}
			}
			if len(errs) != len(tt.wantErr) {
				t.Errorf("errors %v", errs)
			}
		})
	}
}
