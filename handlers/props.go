package handlers

import (
	"cmp"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/carbon-dash/mangrove-dashboard/forms"
	"github.com/carbon-dash/mangrove-dashboard/generation"
	"github.com/carbon-dash/mangrove-dashboard/ledgers"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/store"
	"github.com/carbon-dash/mangrove-dashboard/views"
)

// This file turns API, service and store types into view props.

func ledgerRow(l mangrove.Ledger) views.LedgerRow {
	r := views.LedgerRow{
		ID:            l.ID,
		Name:          l.Name,
		Unit:          mangrove.Deref(l.Unit),
		Cadence:       mangrove.Deref(l.Cadence),
		PartitionType: mangrove.Deref(l.PartitionType),
		UpdatedAt:     l.UpdatedAt,
	}
	if l.LatestModel != nil {
		r.ModelName = cmp.Or(l.LatestModel.Name, l.LatestModel.ID)
	}
	return r
}

func inputRows(in []mangrove.RequiredInput) []views.RequiredInputRow {
	rows := make([]views.RequiredInputRow, len(in))
	for i, r := range in {
		rows[i] = views.RequiredInputRow{
			ID: r.ID, Name: r.Name, Slug: r.Slug, Unit: mangrove.Deref(r.Unit),
			Category: r.Category, Subcategory: r.Subcategory, IsManualSelect: r.IsManualSelect,
			FromLedgers: mangrove.Names(r.OutputOfLedgers),
		}
	}
	return rows
}

func inputsErrorMessage(err error) string {
	var apiErr *mangrove.APIError
	if errors.As(err, &apiErr) && apiErr.Message != "" {
		return "The required inputs could not be loaded: " + apiErr.Message
	}
	return "The required inputs could not be loaded right now."
}

func batchRow(b mangrove.Batch) views.BatchRow {
	r := views.BatchRow{
		ID: b.ID, TrackingID: mangrove.Deref(b.TrackingID), Start: b.StartTime, End: b.EndTime,
		State: b.State, Unallocated: b.LedgerBalance, CreatedAt: b.CreatedAt,
		Error: b.FailureMessage(), Feedstock: strings.Join(mangrove.Names(b.Feedstocks), ", "),
	}
	if b.PrimaryOutput != nil {
		r.OutputUnit = b.PrimaryOutput.Unit // the unallocated amount's unit too
	}
	if o := b.Result(); o != nil {
		v := o.Value
		r.Output = &v
	}
	return r
}

func batchRows(bs []mangrove.Batch) []views.BatchRow {
	var rows []views.BatchRow
	for _, b := range bs {
		rows = append(rows, batchRow(b))
	}
	return rows
}

// ledgerBatchRows are the rows of batches listed under one ledger: each
// row's link to its batch page names that ledger.
func ledgerBatchRows(ledgerID string, bs []mangrove.Batch) []views.BatchRow {
	rows := batchRows(bs)
	for i := range rows {
		rows[i].LedgerID = ledgerID
	}
	return rows
}

// chartData is the chart as the page's script takes it: in columns.
func chartData(c *ledgers.Chart) *views.ChartData {
	if c == nil {
		return nil
	}
	d := &views.ChartData{Unit: c.Unit}
	for _, p := range c.Points {
		d.Start = append(d.Start, p.Start.Unix())
		d.Output = append(d.Output, p.Output)
		d.Cumulative = append(d.Cumulative, p.Cumulative)
		d.Batches = append(d.Batches, p.Batches)
	}
	return d
}

// pager builds the batch list's pagination props from the list's info:
// its total_pages (total_items divided by the page size asked for only when
// info has no total_pages), and next_page for whether a next page follows.
// When the two disagree, next_page wins: the pages run at least to it, or
// end at this one when it is null. Without info the list is one page.
func pager[T any](l *mangrove.List[T], page, pageSize int, pageURL func(int) string) views.Pager {
	p := views.Pager{Page: page, TotalPages: page, One: "batch", Many: "batches", PageURL: pageURL}
	if l == nil {
		p.TotalPages = max(p.TotalPages, 1)
		return p
	}
	p.TotalItems = len(l.Data)
	if info := l.Info; info != nil {
		p.TotalItems = info.TotalItems
		if info.CurrentPage > 0 {
			p.Page = info.CurrentPage
		}
		switch {
		case info.TotalPages > 0:
			p.TotalPages = info.TotalPages
		case pageSize > 0:
			p.TotalPages = (info.TotalItems + pageSize - 1) / pageSize
		}
		if next, ok := l.NextPageAfter(p.Page); ok {
			p.TotalPages = max(p.TotalPages, next)
		} else if p.Page < p.TotalPages {
			p.TotalPages = p.Page // no next page: this is the last
		}
	}
	p.TotalPages = max(p.TotalPages, 1)
	return p
}

func formValues(f forms.GenerationForm) views.GenerationValues {
	v := views.GenerationValues{
		StartTime:      f.StartTime,
		EndTime:        f.EndTime,
		DataPointIDs:   f.DataPointIDs,
		SkippedTypeIDs: map[string]bool{},
	}
	for _, id := range f.SkippedTypeIDs {
		v.SkippedTypeIDs[id] = true
	}
	for _, r := range f.BatchAmounts {
		v.BatchAmounts = append(v.BatchAmounts, views.BatchAmountValues{BatchID: r.BatchID, Amount: r.Amount, AllocationGroup: r.AllocationGroup})
	}
	return v
}

func inputDataRows(in []generation.InputData) []views.InputDataRow {
	rows := make([]views.InputDataRow, len(in))
	for i, d := range in {
		rows[i] = views.InputDataRow{Name: d.Name, Slug: d.Slug, ManualSelect: d.ManualSelect, State: d.State, Count: d.Count, Earlier: d.Earlier}
	}
	return rows
}

// previewGrid is the periods × ledgers grid of a preview, nil when its
// periods or existing batches are not known.
func previewGrid(p *generation.Preview) *views.PreviewGrid {
	periods := p.Periods()
	if len(periods) == 0 || p.ExistingUnknown {
		return nil
	}
	g := &views.PreviewGrid{}
	for _, e := range p.Entries {
		g.Ledgers = append(g.Ledgers, e.Name)
	}
	for _, per := range periods {
		row := views.PreviewGridRow{Start: per.Start, End: per.End}
		for _, e := range p.Entries {
			var cell []views.ExistingBatchRow
			for _, b := range p.ExistingIn(e.ID, per) {
				r := views.ExistingBatchRow{ID: b.ID, LedgerID: e.ID, TrackingID: mangrove.Deref(b.TrackingID), Error: b.FailureMessage()}
				if o := b.Result(); o != nil {
					v := o.Value
					r.Output, r.Unit = &v, o.Unit
				}
				cell = append(cell, r)
			}
			row.Cells = append(row.Cells, cell)
		}
		g.Rows = append(g.Rows, row)
	}
	return g
}

func manualInputs(in []mangrove.RequiredInput) []views.ManualInput {
	out := make([]views.ManualInput, len(in))
	for i, r := range in {
		out[i] = views.ManualInput{Name: r.Name, From: mangrove.Names(r.OutputOfLedgers)}
	}
	return out
}

func inputNames(in []mangrove.RequiredInput) []string {
	names := make([]string, len(in))
	for i, r := range in {
		names[i] = r.Name
	}
	return names
}

// paramList shows the recorded parameters in words.
func paramList(g store.Generation) []views.KeyValue {
	kv := []views.KeyValue{
		{Key: "Ledger", Value: g.LedgerName + " (" + g.LedgerID + ")"},
		{Key: "Range", Value: views.RangeUTC(g.StartTime, g.EndTime)},
	}
	kv = append(kv, paramDetails(g.Params)...)
	if seen := previewSummary(g.Preview); seen != "" {
		kv = append(kv, views.KeyValue{Key: "Preview at confirmation", Value: seen})
	}
	return kv
}

// paramDetails lists the optional parameters; none for Version 0 (nothing
// recorded, or a row the store could not read).
func paramDetails(p store.GenerationParams) []views.KeyValue {
	var kv []views.KeyValue
	if p.Version == 0 {
		return nil
	}
	if len(p.DataPointIDs) > 0 {
		kv = append(kv, views.KeyValue{Key: "Data point ids", Value: strings.Join(p.DataPointIDs, ", ")})
	}
	if len(p.SkippedDataPointTypeIDs) > 0 {
		ids := make([]string, len(p.SkippedDataPointTypeIDs))
		for i, id := range p.SkippedDataPointTypeIDs {
			ids[i] = strconv.FormatInt(id, 10)
		}
		kv = append(kv, views.KeyValue{Key: "Skipped input type ids", Value: strings.Join(ids, ", ")})
	}
	for _, a := range p.BatchAmounts {
		v := a.BatchID + ": " + strconv.FormatFloat(a.PrimaryOutputAmount, 'f', -1, 64)
		if a.AllocationGroup != "" {
			v += " (group " + a.AllocationGroup + ")"
		}
		kv = append(kv, views.KeyValue{Key: "Allocation from", Value: v})
	}
	return kv
}

func previewSummary(entries []store.PreviewEntry) string {
	parts := make([]string, len(entries))
	for i, e := range entries {
		parts[i] = fmt.Sprintf("%s: %d", e.LedgerName, e.Count)
	}
	return strings.Join(parts, "; ")
}
