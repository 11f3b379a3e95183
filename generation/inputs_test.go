package generation

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// eventsAPI serves a project's events, newest first, pageSize to a page.
type eventsAPI struct {
	fakeAPI
	events   []mangrove.Event // newest first
	pageSize int
	reads    atomic.Int64
}

func (a *eventsAPI) Projects(context.Context, string) ([]mangrove.Project, error) {
	return []mangrove.Project{{ID: 7}}, nil
}

func (a *eventsAPI) ProjectEvents(_ context.Context, _ string, _ int64, o mangrove.ListOptions) (*mangrove.List[mangrove.Event], error) {
	a.reads.Add(1)
	from := min((o.Page-1)*a.pageSize, len(a.events))
	to := min(from+a.pageSize, len(a.events))
	info := &mangrove.Info{CurrentPage: o.Page}
	if to < len(a.events) {
		next := o.Page + 1
		info.NextPage = &next
	}
	return &mangrove.List[mangrove.Event]{Data: a.events[from:to], Info: info}, nil
}

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func ev(at time.Time, slugs ...string) mangrove.Event {
	e := mangrove.Event{StartTime: at}
	for _, s := range slugs {
		e.DataPoints = append(e.DataPoints, mangrove.DataPoint{Slug: s})
	}
	return e
}

// TestInputDataFromEvents: the check counts each input's data points in the
// range from the events, finds the earlier value of a static input, and says
// "unknown" where the events cannot tell.
func TestInputDataFromEvents(t *testing.T) {
	start, end := day(2025, 1, 1), day(2025, 3, 31).Add(24*time.Hour-time.Second)
	inputs := []mangrove.RequiredInput{{ID: 11, Name: "Feedstock mass", Slug: "feedstock-mass"}, {ID: 12, Name: "Soil temperature", Slug: "soil-temperature"}}
	// Many events after the range, which the check must read past.
	var later []mangrove.Event
	for i := range 150 {
		later = append(later, ev(day(2025, 6, 1).Add(-time.Duration(i)*time.Hour), "feedstock-mass"))
	}
	for _, tc := range []struct {
		name   string
		events []mangrove.Event
		want   map[string]string // slug → state
		count  int               // feedstock-mass in range
	}{
		{"found and earlier", []mangrove.Event{ev(day(2025, 4, 2), "feedstock-mass"), ev(day(2025, 2, 1), "feedstock-mass", "feedstock-mass"), ev(day(2025, 1, 1), "feedstock-mass"), ev(day(2023, 5, 1), "soil-temperature")},
			map[string]string{"feedstock-mass": InputFound, "soil-temperature": InputEarlier}, 3},
		{"none at all", []mangrove.Event{ev(day(2025, 2, 1), "feedstock-mass")},
			map[string]string{"feedstock-mass": InputFound, "soil-temperature": InputNone}, 1},
		{"range behind later events", append(append([]mangrove.Event{}, later...), ev(day(2025, 2, 1), "feedstock-mass"), ev(day(2024, 2, 1), "soil-temperature")),
			map[string]string{"feedstock-mass": InputFound, "soil-temperature": InputEarlier}, 1},
		{"not in the order asked for", []mangrove.Event{ev(day(2025, 1, 5), "feedstock-mass"), ev(day(2025, 2, 1), "soil-temperature")},
			map[string]string{"feedstock-mass": InputUnknown, "soil-temperature": InputUnknown}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := &eventsAPI{events: tc.events, pageSize: 100}
			r := newRig(func(o *Options) { o.API = api })
			projects, _ := api.Projects(context.Background(), token)
			rows := r.svc.inputData(context.Background(), token, ncr, inputs, nil, projects, nil, start, end)
			for _, row := range rows {
				if row.State != tc.want[row.Slug] {
					t.Errorf("%s: %s, want %s", row.Slug, row.State, tc.want[row.Slug])
				}
				if row.Slug == "feedstock-mass" && row.Count != tc.count {
					t.Errorf("feedstock-mass count %d, want %d", row.Count, tc.count)
				}
			}
		})
	}

	t.Run("range too far back", func(t *testing.T) {
		var many []mangrove.Event
		for i := range maxEventPages*eventPageSize + 10 {
			many = append(many, ev(day(2026, 1, 1).Add(-time.Duration(i)*time.Hour), "feedstock-mass"))
		}
		api := &eventsAPI{events: append(many, ev(day(2025, 2, 1), "feedstock-mass")), pageSize: eventPageSize}
		r := newRig(func(o *Options) { o.API = api })
		projects, _ := api.Projects(context.Background(), token)
		for _, row := range r.svc.inputData(context.Background(), token, ncr, inputs, nil, projects, nil, start, end) {
			if row.State != InputUnknown {
				t.Errorf("%s: %s, want unknown: the range was not reached", row.Slug, row.State)
			}
		}
		if api.reads.Load() != maxEventPages {
			t.Errorf("%d pages read, want the bound %d", api.reads.Load(), maxEventPages)
		}
	})
}
