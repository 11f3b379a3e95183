package sandbox

import (
	"fmt"
	"sort"
	"strings"
)

// Reading a model's inputs: unit conversion, grouping points by event and the reader
// the equation groups (model_feedstock.go, model_biochar.go, model_emissions.go,
// model_removal.go) read through.

// convertUnit converts a recorded value into the unit the model computes in.
// U.S. units are accepted where the data collection allows them (MODEL.md §2).
func convertUnit(v float64, from, to string) (float64, error) {
	if from == to || from == "" {
		return v, nil
	}
	switch {
	case from == "U.S. ton" && to == "t":
		return v * fv("us-ton-to-t"), nil
	case from == "mile" && to == "km":
		return v * fv("mile-to-km"), nil
	case from == "US gal" && to == "L":
		return v * fv("us-gal-to-l"), nil
	case from == "kg" && to == "t":
		return v / 1000, nil
	}
	return 0, fmt.Errorf("unit %q cannot be converted to %q", from, to)
}

// eventValues is one event's data points by slug.
type eventValues struct {
	ID          int64
	Time        int64
	FeedstockID int64
	Slug        string
	// points are the event's data points, the last one of each slug: an event has a
	// handful, so a slice searched in order beats a map per event (filling a map each
	// was over half of groupEvents). They point into the model's input, which models
	// never modify.
	points []*inputPoint
	inline [4]*inputPoint // points' first backing array
}

func newEventValues(p *inputPoint) eventValues {
	return eventValues{ID: p.EventID, Time: p.Time, FeedstockID: p.FeedstockID, Slug: p.EventSlug}
}

// set records p as the event's point of its slug, replacing an earlier one.
func (ev *eventValues) set(p *inputPoint) {
	for i, q := range ev.points {
		if q.Slug == p.Slug {
			ev.points[i] = p
			return
		}
	}
	if ev.points == nil {
		ev.points = ev.inline[:0]
	}
	ev.points = append(ev.points, p)
}

// point returns the event's point of slug.
func (ev *eventValues) point(slug string) (*inputPoint, bool) {
	for _, p := range ev.points {
		if p.Slug == slug {
			return p, true
		}
	}
	return nil, false
}

// groupEvents groups points by event, keeping only events of the given type, ordered by time then id.
//
// It runs for every batch over hundreds of points (and over a period's thousands of runs
// for the allocation), so the events hold pointers into points rather than copies.
func groupEvents(points []inputPoint, eventSlug string) []*eventValues {
	if out, ok := groupOrderedEvents(points, eventSlug); ok {
		return out
	}
	byID := map[int64]*eventValues{}
	var out []*eventValues
	for i := range points {
		p := &points[i]
		if p.EventSlug != eventSlug {
			continue
		}
		ev := byID[p.EventID]
		if ev == nil {
			v := newEventValues(p)
			ev = &v
			byID[p.EventID] = ev
			out = append(out, ev)
		}
		ev.set(p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Time != out[j].Time {
			return out[i].Time < out[j].Time
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// groupOrderedEvents is groupEvents for the usual input, the engine's: each event's
// points together, and the events in ascending time with ascending ids (the events
// index order, ids following time). Then the result is the events in input order,
// without a map or a sort. It reports false as soon as the input is otherwise (an
// event after one with a larger id or a later time), and groupEvents does the general
// grouping: a strictly rising id means no event can come back after another one.
func groupOrderedEvents(points []inputPoint, eventSlug string) ([]*eventValues, bool) {
	var out []*eventValues
	var block []eventValues // events are allocated in blocks
	var ev *eventValues
	for i := range points {
		p := &points[i]
		if p.EventSlug != eventSlug {
			continue
		}
		if ev == nil || p.EventID != ev.ID {
			if ev != nil && (p.EventID < ev.ID || p.Time < ev.Time) {
				return nil, false
			}
			if len(block) == cap(block) {
				block = make([]eventValues, 0, min(max(len(out), 8), 256))
			}
			block = append(block, newEventValues(p))
			ev = &block[len(block)-1]
			out = append(out, ev)
		}
		ev.set(p)
	}
	return out, true
}

// reader reads values for one model run, tracking what was used, what is missing and
// unit problems, so the model code below reads like the equations.
type reader struct {
	in      *modelInput
	used    []int64
	seen    map[int64]bool
	missing []string
	errs    []string
}

func newReader(in *modelInput) *reader {
	// Sized for every point of the input, the most a run can use.
	n := len(in.Partition) + len(in.Facility) + len(in.Lab) + len(in.Static)
	return &reader{in: in, seen: make(map[int64]bool, n), used: make([]int64, 0, n)}
}

func (r *reader) miss(slug string) {
	for _, m := range r.missing {
		if m == slug {
			return
		}
	}
	r.missing = append(r.missing, slug)
}

func (r *reader) use(p inputPoint) {
	if !r.seen[p.DataPointID] {
		r.seen[p.DataPointID] = true
		r.used = append(r.used, p.DataPointID)
	}
}

// get returns an event's value for slug in the model's unit. A skipped type reads as 0
// and is never missing; required=false means an absent value reads as 0 (e.g. methane).
func (r *reader) get(ev *eventValues, slug string, required bool) (float64, bool) {
	if r.in.Skipped[slug] {
		return 0, true
	}
	p, ok := ev.point(slug)
	if !ok {
		if required {
			r.miss(slug)
		}
		return 0, false
	}
	r.use(*p)
	v, err := convertUnit(p.Value, p.Unit, r.in.Units[slug])
	if err != nil {
		r.errs = append(r.errs, fmt.Sprintf("%s: %v", slug, err))
		return 0, false
	}
	return v, true
}

func (r *reader) failure() string {
	var parts []string
	if len(r.missing) > 0 {
		parts = append(parts, "required input missing: "+strings.Join(r.missing, ", "))
	}
	parts = append(parts, r.errs...)
	return strings.Join(parts, "; ")
}

type calcList []calcResult

func (c *calcList) add(slug, name string, value float64, unit, ghg, role, category string) float64 {
	*c = append(*c, calcResult{Slug: slug, Name: name, Value: value, Unit: unit, GHG: ghg, LCARole: role, Category: category})
	return value
}

// groupEventsAny returns the one event holding slug among static points (the engine
// already picked the latest valid one), or nil.
func groupEventsAny(points []inputPoint, slug string) *eventValues {
	for _, p := range points {
		if p.Slug == slug {
			ev := &eventValues{ID: p.EventID, Time: p.Time, Slug: p.EventSlug}
			ev.set(&p)
			return ev
		}
	}
	return nil
}

// peek reads a value for the allocation denominator without marking it used or missing.
func peek(in *modelInput, ev *eventValues, slug string) (float64, bool) {
	if in.Skipped[slug] {
		return 0, true
	}
	p, ok := ev.point(slug)
	if !ok {
		return 0, false
	}
	v, err := convertUnit(p.Value, p.Unit, in.Units[slug])
	return v, err == nil
}
