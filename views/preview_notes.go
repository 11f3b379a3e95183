package views

import (
	"fmt"
	"strings"
)

// ManualInput is a manual-select input a preview uses without picked data
// points, with the ledgers its data comes from.
type ManualInput struct {
	Name string
	From []string
}

// PreviewWarnings are what deserves a second look before confirming: nothing
// to write, manual-select inputs without data points, existing batches that
// could not be read (existing < 0; how many exist is shown beside the total)
// and inputs without data in the range.
func PreviewWarnings(total, existing int, unpicked []ManualInput, inputData []InputDataRow) []string {
	var warnings []string
	if total == 0 {
		warnings = append(warnings, "Nothing will be generated: Mangrove found no batches to write for this range. Check the range and whether the required inputs have data in it.")
	}
	for _, in := range unpicked {
		from := ""
		if len(in.From) > 0 {
			from = " (it comes from " + strings.Join(in.From, ", ") + ")"
		}
		warnings = append(warnings, fmt.Sprintf("“%s” is a manual-select input%s, no data points were found for it in the range and none were given: Mangrove may leave it out unless you pick its data points.", in.Name, from))
	}
	if existing < 0 {
		warnings = append(warnings, "The batches already in this range could not be read, so the preview cannot say which periods are generated again.")
	}
	if w := inputGapWarning(inputData); w != "" {
		warnings = append(warnings, w)
	}
	return warnings
}

// inputGapWarning names the inputs without data in the range, or "".
func inputGapWarning(rows []InputDataRow) string {
	var names []string
	for _, r := range rows {
		if r.State == InputDataNone {
			names = append(names, r.Name)
		}
	}
	if len(names) == 0 {
		return ""
	}
	return "No data points in this range for " + strings.Join(names, ", ") + ": batches that need " +
		Plural(len(names), "it", "them") + " may come out incomplete or fail. Check the data in Mangrove, or skip the " +
		Plural(len(names), "input", "inputs") + " if that is intended."
}
