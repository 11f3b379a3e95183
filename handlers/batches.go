package handlers

import (
	"cmp"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/carbon-dash/mangrove-dashboard/forms"
	"github.com/carbon-dash/mangrove-dashboard/ledgers"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/views"
)

// validBatchID keeps garbage out of upstream paths: batch ids (bat_…) are
// written in the ledger ids' alphabet.
var validBatchID = validLedgerID

func batchIDParam(c echo.Context) (string, error) {
	id := c.Param("id")
	if !validBatchID.MatchString(id) {
		return "", notFound("There is no batch with that id.")
	}
	return id, nil
}

// batchLedgerParam is the ledger the link came from (?ledger=), or "".
func batchLedgerParam(c echo.Context, batchID string) (string, error) {
	id := c.QueryParam("ledger")
	if id != "" && !validLedgerID.MatchString(id) {
		return "", &pageError{Status: http.StatusBadRequest, Heading: "Unreadable link",
			Message: "The ledger named in this link is not a ledger id. Open the batch without it, or from its ledger's batch table.",
			Action:  "Open the batch", ActionURL: views.BatchPath(batchID)}
	}
	return id, nil
}

func notOnLedger(batchID string) *pageError {
	return &pageError{Status: http.StatusNotFound, Heading: "Not on that ledger",
		Message: "The ledger named in this link has no batch with this id: the link is out of date or was changed.",
		Action:  "Open the batch", ActionURL: views.BatchPath(batchID)}
}

func (h *Handlers) showBatch(c echo.Context) error {
	id, err := batchIDParam(c)
	if err != nil {
		return err
	}
	ledgerID, err := batchLedgerParam(c, id)
	if err != nil {
		return err
	}
	page, err := h.ledgers.Batch(c.Request().Context(), h.currentToken(c), id, ledgerID)
	if errors.Is(err, ledgers.ErrNotOnLedger) {
		return notOnLedger(id)
	}
	if err != nil {
		return err
	}
	return h.render(c, http.StatusOK, views.BatchPage(h.batchProps(c, page)))
}

func (h *Handlers) batchProps(c echo.Context, page *ledgers.BatchPage) views.BatchPageProps {
	b := page.Batch
	p := views.BatchPageProps{
		ID: b.ID, TrackingID: mangrove.Deref(b.TrackingID), Start: b.StartTime, End: b.EndTime,
		State: b.State, Unallocated: b.LedgerBalance, HasRuleAlerts: b.HasRuleAlerts,
		CreatedAt: b.CreatedAt, UpdatedAt: b.UpdatedAt, Error: mangrove.Deref(b.ErrorMessage),
		Feedstocks:  feedstockNames(b.Feedstocks),
		Inputs:      batchInputRows(b.InputData),
		Allocations: allocationLists(b),
	}
	p.Layout = h.layout(c, "Batch "+cmp.Or(p.TrackingID, b.ID), "ledgers")
	if o := b.PrimaryOutput; o != nil {
		p.OutputUnit, p.OutputName = o.Unit, o.Name
		p.Output = &o.Value // taken back below when the model run failed
	}
	if run := b.ModelRun; run != nil {
		p.Run = &views.ModelRunProps{
			ID: run.ID, State: run.State,
			Calculations: calculationGroups(run.Calculations),
			Outputs:      dataPointRows(run.OutputDataPoints),
			Waterfall:    waterfallData(page.Waterfall),
		}
		p.Error = cmp.Or(mangrove.Deref(run.ErrorMessage), p.Error)
	}
	if p.Error != "" {
		p.Output = nil // a failed run's output (0) is no result
	}
	if page.Ledger != nil {
		l := ledgerRow(*page.Ledger)
		p.Ledger = &l
		if l.HasModel() && !b.StartTime.IsZero() && !b.EndTime.IsZero() {
			p.RegenerateURL = previewURL(l.ID, periodForm(b.StartTime, b.EndTime))
		}
	}
	return p
}

// periodForm is the generation form for exactly a period. Whole days go as
// dates: the form's end date is inclusive (forms.ParseDateEnd reads it as
// 23:59:59 UTC), so a period ending 2024-08-31T23:59:59 ends on the 31st,
// and one stored with an exclusive end at midnight ends the day before.
// Anything else goes as RFC 3339 times.
func periodForm(start, end time.Time) forms.GenerationForm {
	s, e := start.UTC(), end.UTC()
	lastDay := e.Add(-time.Nanosecond).Truncate(24 * time.Hour)
	if s.Equal(s.Truncate(24*time.Hour)) && !e.Before(lastDay.Add(24*time.Hour-time.Second)) {
		return forms.GenerationForm{StartTime: s.Format(time.DateOnly), EndTime: lastDay.Format(time.DateOnly)}
	}
	return forms.GenerationForm{StartTime: s.Format(time.RFC3339), EndTime: e.Format(time.RFC3339)}
}

// feedstockNames names each feedstock by its "name" when that is a string,
// else "unknown": the items' shape is undocumented. Nil when the API sent
// no list.
func feedstockNames(raw []json.RawMessage) []string {
	if raw == nil {
		return nil
	}
	names := make([]string, 0, len(raw))
	for _, r := range raw {
		var item struct{ Name json.RawMessage }
		var name string
		if json.Unmarshal(r, &item) != nil || json.Unmarshal(item.Name, &name) != nil || name == "" {
			name = views.Unknown
		}
		names = append(names, name)
	}
	return names
}

// calculationGroups groups the calculations by category, the categories in
// the order they first appear.
func calculationGroups(cs []mangrove.Calculation) []views.CalculationGroup {
	var groups []views.CalculationGroup
	at := map[string]int{}
	for _, c := range cs {
		i, ok := at[c.Category]
		if !ok {
			i = len(groups)
			at[c.Category] = i
			groups = append(groups, views.CalculationGroup{Category: c.Category})
		}
		groups[i].Rows = append(groups[i].Rows, views.CalculationRow{Name: c.Name, Value: c.Value, Unit: c.Unit})
	}
	return groups
}

func waterfallData(w *ledgers.Waterfall) *views.WaterfallData {
	if w == nil {
		return nil
	}
	d := &views.WaterfallData{Unit: w.Unit}
	for _, s := range w.Steps {
		d.Steps = append(d.Steps, views.WaterfallStep{Name: s.Name, From: s.From, To: s.To, Emission: s.Emission})
	}
	return d
}

func dataPointRow(d mangrove.DataPoint) views.DataPointRow {
	r := views.DataPointRow{ID: d.ID, Type: d.DataPointType, Unit: mangrove.Deref(d.Unit), Status: d.Status}
	var n float64
	if json.Unmarshal(d.Value, &n) == nil {
		r.Number = &n
	} else if d.Value != nil {
		r.Text = jsonText(d.Value)
	}
	return r
}

func dataPointRows(ds []mangrove.DataPoint) []views.DataPointRow {
	rows := make([]views.DataPointRow, len(ds))
	for i, d := range ds {
		rows[i] = dataPointRow(d)
	}
	return rows
}

// batchInputRows are the inputs of the batch's model run; nil when the API
// sent no input_data.
func batchInputRows(in []mangrove.InputDatum) []views.BatchInputRow {
	if in == nil {
		return nil
	}
	rows := make([]views.BatchInputRow, len(in))
	for i, d := range in {
		rows[i].DataPointRow = dataPointRow(d.DataPoint)
		if e := d.Event; e != nil {
			rows[i].Event = e.EventType
			if t := mangrove.Deref(e.TrackingID); t != "" {
				rows[i].Event += " " + t
			}
			rows[i].EventTime = e.StartTime
		}
	}
	return rows
}

// allocationLists shows each of the batch's allocation lists, item by item
// as key: value text (their shape is undocumented).
func allocationLists(b *mangrove.BatchDetail) []views.AllocationList {
	list := func(name string, items []json.RawMessage) views.AllocationList {
		l := views.AllocationList{Name: name, Known: items != nil}
		for _, it := range items {
			l.Items = append(l.Items, keyValues(it))
		}
		return l
	}
	return []views.AllocationList{
		list("Allocations", b.Allocations),
		list("Report allocations", b.ReportAllocations),
		list("Downstream batch allocations", b.DownstreamBatchAllocations),
	}
}

// keyValues lists an object's fields by key; anything else is one value
// without a key.
func keyValues(raw json.RawMessage) []views.KeyValue {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil || obj == nil {
		return []views.KeyValue{{Value: jsonText(raw)}}
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	kv := make([]views.KeyValue, len(keys))
	for i, k := range keys {
		kv[i] = views.KeyValue{Key: k, Value: jsonText(obj[k])}
	}
	return kv
}

// jsonText is a JSON value as text: a string without its quotes, anything
// else as the JSON itself.
func jsonText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}
