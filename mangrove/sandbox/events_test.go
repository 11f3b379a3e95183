package sandbox

import (
	"cmp"
	"database/sql"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
)

type wireEventPoint struct {
	ID            string  `json:"id"`
	Slug          string  `json:"slug"`
	DataPointType string  `json:"data_point_type"`
	Value         float64 `json:"value"`
	Unit          *string `json:"unit"`
	Status        string  `json:"status"`
	RuleResults   []any   `json:"rule_results"`
}

type wireEvent struct {
	ID         string           `json:"id"`
	Slug       string           `json:"slug"`
	EventType  string           `json:"event_type"`
	TrackingID *string          `json:"tracking_id"`
	StartTime  string           `json:"start_time"`
	EndTime    string           `json:"end_time"`
	Status     string           `json:"status"`
	DataPoints []wireEventPoint `json:"data_points"`
	Locations  []any            `json:"locations"`
	Evidences  []any            `json:"evidences"`
}

type wireEventList struct {
	Data []wireEvent
	Info wireInfo
}

func eventsPath(project int64) string { return fmt.Sprintf("/api/v1/projects/%d/events", project) }

// oracleEvent is an event as read straight from the database, with its status derived
// here by the documented rule, independently of the handler's SQL and Go.
type oracleEvent struct {
	id                  int64
	friendly            string
	tracking            sql.NullString
	start, end, created int64
	status              string
	pointStatuses       []string
}

func loadOracle(t *testing.T, db *sql.DB, project int64) []*oracleEvent {
	t.Helper()
	rows, err := db.Query(`SELECT id, friendly_id, tracking_id, start_time, end_time, created_at FROM events WHERE project_id = ?`, project)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[int64]*oracleEvent{}
	var all []*oracleEvent
	for rows.Next() {
		o := &oracleEvent{}
		if err := rows.Scan(&o.id, &o.friendly, &o.tracking, &o.start, &o.end, &o.created); err != nil {
			t.Fatal(err)
		}
		byID[o.id] = o
		all = append(all, o)
	}
	rows.Close()
	rows, err = db.Query(`SELECT event_id, status FROM data_points WHERE project_id = ?`, project)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		var st string
		if err := rows.Scan(&id, &st); err != nil {
			t.Fatal(err)
		}
		byID[id].pointStatuses = append(byID[id].pointStatuses, st)
	}
	rows.Close()
	for _, o := range all {
		o.status = "complete" // also without data points: all of none are complete
		switch {
		case slices.ContainsFunc(o.pointStatuses, func(s string) bool { return s != "complete" && s != "pending" }):
			o.status = "incomplete"
		case slices.Contains(o.pointStatuses, "pending"):
			o.status = "pending"
		}
	}
	return all
}

// compareKey orders two oracle events by one API sort field (NULL tracking ids first,
// as SQLite orders NULL below any value).
func compareKey(a, b *oracleEvent, field string) int {
	switch field {
	case "id":
		return cmp.Compare(a.id, b.id)
	case "friendly_id":
		return strings.Compare(a.friendly, b.friendly)
	case "start_time":
		return cmp.Compare(a.start, b.start)
	case "end_time":
		return cmp.Compare(a.end, b.end)
	case "created_at", "updated_at":
		return cmp.Compare(a.created, b.created)
	case "status":
		return strings.Compare(a.status, b.status)
	case "tracking_id":
		switch {
		case !a.tracking.Valid && !b.tracking.Valid:
			return 0
		case !a.tracking.Valid:
			return -1
		case !b.tracking.Valid:
			return 1
		}
		return strings.Compare(a.tracking.String, b.tracking.String)
	}
	panic("no sort field " + field)
}

// statusEvents are the events setupEventStatuses changed (internal ids).
type statusEvents struct {
	pending        int64 // one data point pending, the others complete
	incomplete     int64 // one data point pending, one incomplete
	incompleteOnly int64 // one data point incomplete, the others complete
	empty          int64 // inserted without data points
	untracked      int64 // tracking_id NULL
}

// setupEventStatuses gives the demo project events of every status, an event without
// data points, one without tracking id, and created_at values that differ.
func setupEventStatuses(t *testing.T, db *sql.DB) statusEvents {
	t.Helper()
	ids := func(q string) []int64 {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []int64
		for rows.Next() {
			var id int64
			rows.Scan(&id)
			out = append(out, id)
		}
		return out
	}
	multi := ids(fmt.Sprintf(`SELECT event_id FROM data_points WHERE project_id = %d GROUP BY event_id HAVING COUNT(*) >= 2 ORDER BY event_id LIMIT 4`, demoProjectID))
	if len(multi) < 4 {
		t.Fatalf("want 4 events with 2+ data points, got %v", multi)
	}
	se := statusEvents{pending: multi[0], incomplete: multi[1], untracked: multi[2], incompleteOnly: multi[3]}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	first := func(ev int64) int64 {
		return ids(fmt.Sprintf(`SELECT id FROM data_points WHERE event_id = %d ORDER BY id LIMIT 2`, ev))[0]
	}
	exec(`UPDATE data_points SET status = 'pending' WHERE id = ?`, first(se.pending))
	exec(`UPDATE data_points SET status = 'pending' WHERE id = ?`, first(se.incomplete))
	exec(`UPDATE data_points SET status = 'incomplete' WHERE id = (SELECT id FROM data_points WHERE event_id = ? ORDER BY id LIMIT 1 OFFSET 1)`, se.incomplete)
	exec(`UPDATE data_points SET status = 'incomplete' WHERE id = ?`, first(se.incompleteOnly))
	exec(`UPDATE events SET tracking_id = NULL WHERE id = ?`, se.untracked)
	exec(`UPDATE events SET created_at = created_at + (id % 7) * 1000 WHERE project_id = ?`, demoProjectID)
	r, err := db.Exec(`INSERT INTO events (friendly_id, project_id, event_type_id, tracking_id, start_time, end_time, created_at)
		SELECT 'evt_EmptyEventNoDPs', project_id, event_type_id, 'EMPTY-1', start_time, end_time, created_at FROM events WHERE id = ?`, se.pending)
	if err != nil {
		t.Fatal(err)
	}
	se.empty, _ = r.LastInsertId()
	return se
}

func TestEventsListSortFilterPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	se := setupEventStatuses(t, e.s.db)
	all := loadOracle(t, e.s.db, demoProjectID)
	byID := map[int64]*oracleEvent{}
	for _, o := range all {
		byID[o.id] = o
	}
	for id, want := range map[int64]string{se.pending: "pending", se.incomplete: "incomplete", se.incompleteOnly: "incomplete", se.empty: "complete", se.untracked: "complete"} {
		if byID[id].status != want {
			t.Fatalf("setup: event %d is %s, want %s", id, byID[id].status, want)
		}
	}
	tracked := byID[se.pending].tracking.String
	completeTracked := all[slices.IndexFunc(all, func(o *oracleEvent) bool { return o.status == "complete" && o.tracking.Valid })].tracking.String
	statusIs := func(st string) func(*oracleEvent) bool { return func(o *oracleEvent) bool { return o.status == st } }

	tests := []struct {
		name       string
		query      string
		keep       func(*oracleEvent) bool
		sort       []string // API sort fields, "-" for descending; nil: the default order
		page, size int
	}{
		{"Default", "", nil, nil, 1, 10},
		{"DefaultPage2", "page=2", nil, nil, 2, 10},
		{"DocsExample", "sort=-start_time,created_at&page_size=100", nil, []string{"-start_time", "created_at"}, 1, 100},
		{"StartDesc", "sort=-start_time&page_size=100", nil, []string{"-start_time"}, 1, 100},
		{"StartDescPage3", "sort=-start_time&page=3&page_size=25", nil, []string{"-start_time"}, 3, 25},
		{"StartAscPlus", "sort=%2Bstart_time&page_size=30", nil, []string{"start_time"}, 1, 30},
		{"EndAsc", "sort=end_time&page_size=50&page=4", nil, []string{"end_time"}, 4, 50},
		{"EndDesc", "sort=-end_time", nil, []string{"-end_time"}, 1, 10},
		{"CreatedDesc", "sort=-created_at&page_size=40", nil, []string{"-created_at"}, 1, 40},
		{"UpdatedThenIDDesc", "sort=updated_at,-id&page_size=40", nil, []string{"updated_at", "-id"}, 1, 40},
		{"IDDesc", "sort=-id&page_size=3", nil, []string{"-id"}, 1, 3},
		{"FriendlyID", "sort=friendly_id&page_size=100&page=2", nil, []string{"friendly_id"}, 2, 100},
		{"StatusAsc", "sort=status&page_size=100&page=2", nil, []string{"status"}, 2, 100},
		{"StatusDescThenStart", "sort=-status,-start_time&page_size=5", nil, []string{"-status", "-start_time"}, 1, 5},
		{"TrackingAscNullFirst", "sort=tracking_id&page_size=5", nil, []string{"tracking_id"}, 1, 5},
		{"TrackingDesc", "sort=-tracking_id&page_size=100", nil, []string{"-tracking_id"}, 1, 100},
		{"SortSpaces", "sort=-start_time,%20tracking_id", nil, []string{"-start_time", "tracking_id"}, 1, 10},
		{"FilterID", fmt.Sprintf("filter[id][eq]=%d", se.incomplete), func(o *oracleEvent) bool { return o.id == se.incomplete }, nil, 1, 10},
		{"IDAsc", "sort=id&page=3&page_size=20", nil, []string{"id"}, 3, 20},
		{"FilterIDUnknown", "filter[id][eq]=99999999", func(*oracleEvent) bool { return false }, nil, 1, 10},
		{"FilterStatusPending", "filter[status][eq]=pending", statusIs("pending"), nil, 1, 10},
		{"FilterStatusIncomplete", "filter[status][eq]=incomplete&sort=-id", statusIs("incomplete"), []string{"-id"}, 1, 10},
		{"FilterStatusComplete", "filter[status][eq]=complete&sort=start_time&page=2&page_size=50", statusIs("complete"), []string{"start_time"}, 2, 50},
		{"FilterTracking", "filter[tracking_id][eq]=" + tracked, func(o *oracleEvent) bool { return o.tracking.String == tracked }, nil, 1, 10},
		{"FilterTrackingNone", "filter[tracking_id][eq]=NOPE", func(*oracleEvent) bool { return false }, nil, 1, 10},
		{"Combined", "filter[status][eq]=complete&filter[tracking_id][eq]=" + completeTracked + "&sort=-end_time",
			func(o *oracleEvent) bool { return o.status == "complete" && o.tracking.String == completeTracked }, []string{"-end_time"}, 1, 10},
		{"CombinedNone", "filter[status][eq]=pending&filter[tracking_id][eq]=" + completeTracked, func(*oracleEvent) bool { return false }, nil, 1, 10},
		{"PastTheEnd", "page=999&page_size=100", nil, nil, 999, 100},
		{"IgnoredParam", "response_mode=default&page_size=7", nil, nil, 1, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := slices.Clone(all)
			if tt.keep != nil {
				want = slices.DeleteFunc(want, func(o *oracleEvent) bool { return !tt.keep(o) })
			}
			order := tt.sort
			if order == nil {
				order = []string{"start_time"} // the sandbox's default order
			}
			slices.SortStableFunc(want, func(a, b *oracleEvent) int {
				for _, f := range order {
					c := compareKey(a, b, strings.TrimPrefix(f, "-"))
					if strings.HasPrefix(f, "-") {
						c = -c
					}
					if c != 0 {
						return c
					}
				}
				return cmp.Compare(a.id, b.id) // the documented stable tiebreak
			})
			total := len(want)
			from, to := min(total, (tt.page-1)*tt.size), min(total, tt.page*tt.size)
			var wantIDs []string
			for _, o := range want[from:to] {
				wantIDs = append(wantIDs, o.friendly)
			}

			if len(wantIDs) == 0 && !strings.Contains("FilterIDUnknown FilterTrackingNone CombinedNone PastTheEnd", tt.name) {
				t.Fatalf("the case selects no event: it tests nothing")
			}
			var got wireEventList
			e.with(t).get(eventsPath(demoProjectID)+"?"+tt.query, &got)
			var gotIDs []string
			for _, ev := range got.Data {
				gotIDs = append(gotIDs, ev.ID)
			}
			if !slices.Equal(gotIDs, wantIDs) {
				t.Errorf("ids\n got %v\nwant %v", gotIDs, wantIDs)
			}
			pages := (total + tt.size - 1) / tt.size
			in := got.Info
			if in.Items != len(wantIDs) || in.TotalItems != total || in.PageSize != tt.size || in.CurrentPage != tt.page || in.TotalPages != pages {
				t.Errorf("info %+v, want items %d total %d page_size %d page %d pages %d", in, len(wantIDs), total, tt.size, tt.page, pages)
			}
			if (in.NextPage != nil) != (tt.page < pages) || (in.NextPage != nil && *in.NextPage != tt.page+1) {
				t.Errorf("next_page %v on page %d of %d", in.NextPage, tt.page, pages)
			}
			if (in.PreviousPage != nil) != (tt.page > 1) || (in.PreviousPage != nil && *in.PreviousPage != tt.page-1) {
				t.Errorf("previous_page %v on page %d", in.PreviousPage, tt.page)
			}
			for _, ev := range got.Data {
				o := want[slices.IndexFunc(want, func(o *oracleEvent) bool { return o.friendly == ev.ID })]
				if ev.Status != o.status {
					t.Errorf("%s: status %s, want %s", ev.ID, ev.Status, o.status)
				}
				if (ev.TrackingID == nil) != !o.tracking.Valid || (ev.TrackingID != nil && *ev.TrackingID != o.tracking.String) {
					t.Errorf("%s: tracking_id %v, want %v", ev.ID, ev.TrackingID, o.tracking)
				}
				if ev.StartTime != formatMillis(o.start) || ev.EndTime != formatMillis(o.end) {
					t.Errorf("%s: times %s-%s, want %s-%s", ev.ID, ev.StartTime, ev.EndTime, formatMillis(o.start), formatMillis(o.end))
				}
				if len(ev.DataPoints) != len(o.pointStatuses) || ev.Locations == nil || ev.Evidences == nil || ev.DataPoints == nil {
					t.Errorf("%s: %d data points (want %d), locations %v, evidences %v", ev.ID, len(ev.DataPoints), len(o.pointStatuses), ev.Locations, ev.Evidences)
				}
			}
		})
	}
}

// TestEventsDataPointsMatchDataPointsList: every event's embedded data points are the
// ones GET /projects/{id}/data_points lists for it, value for value, and each event's
// slug and times are what that list says about its owning event.
func TestEventsDataPointsMatchDataPointsList(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	byEvent := map[string][]dataPointItemJSON{}
	points := 0
	for page := 1; ; page++ {
		var l struct {
			Data []dataPointItemJSON
			Info wireInfo
		}
		e.get(fmt.Sprintf("/api/v1/projects/%d/data_points?page_size=100&sort=id&page=%d", demoProjectID, page), &l)
		for _, d := range l.Data {
			byEvent[d.EventID] = append(byEvent[d.EventID], d)
			points++
		}
		if l.Info.NextPage == nil {
			break
		}
	}
	if points < 100 {
		t.Fatalf("only %d demo data points", points)
	}
	seen, embedded := 0, 0
	for page := 1; ; page++ {
		var l wireEventList
		e.get(fmt.Sprintf("%s?page_size=100&sort=-start_time&page=%d", eventsPath(demoProjectID), page), &l)
		for _, ev := range l.Data {
			seen++
			want := byEvent[ev.ID]
			if len(ev.DataPoints) != len(want) {
				t.Errorf("%s: %d data points, the data_points list has %d", ev.ID, len(ev.DataPoints), len(want))
				continue
			}
			for i, d := range ev.DataPoints {
				w := want[i]
				embedded++
				if d.ID != w.ID || d.Slug != w.Slug || d.DataPointType != w.DataPointType || d.Value != w.Value ||
					!reflect.DeepEqual(d.Unit, w.Unit) || d.Status != w.Status || d.RuleResults == nil || len(d.RuleResults) != 0 {
					t.Errorf("%s point %d: %+v, data_points list has %+v", ev.ID, i, d, w)
				}
				if ev.Slug != w.EventType || ev.StartTime != formatMillis(int64(w.StartTime)) || ev.EndTime != formatMillis(int64(w.EndTime)) {
					t.Errorf("%s: slug %s %s-%s, data point %s says %s %s-%s", ev.ID, ev.Slug, ev.StartTime, ev.EndTime,
						w.ID, w.EventType, formatMillis(int64(w.StartTime)), formatMillis(int64(w.EndTime)))
				}
			}
			if et := e.s.cat.eventBySlug[ev.Slug]; et == nil || et.Name != ev.EventType {
				t.Errorf("%s: event_type %q for slug %q", ev.ID, ev.EventType, ev.Slug)
			}
		}
		if l.Info.NextPage == nil {
			break
		}
	}
	if embedded != points || seen != len(byEvent) {
		t.Errorf("events embed %d data points of %d events, the data_points list has %d of %d", embedded, seen, points, len(byEvent))
	}

	// MODEL.md's example 1: March 2025's nut shell delivery in U.S. ton and mile.
	var l wireEventList
	e.get(eventsPath(demoProjectID)+"?sort=-start_time&page_size=100", &l)
	found := false
	for _, ev := range l.Data {
		for _, d := range ev.DataPoints {
			if d.Unit != nil && *d.Unit == "U.S. ton" && ev.Slug == "feedstock-delivery" && strings.HasPrefix(ev.StartTime, "2025-03") {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("no March 2025 feedstock delivery in U.S. ton among the latest 100 events")
	}
}

// TestEventShow: GET /events/{id} answers exactly the list's item, and its status
// follows the data points.
func TestEventShow(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	se := setupEventStatuses(t, e.s.db)
	var l wireEventList
	e.get(eventsPath(demoProjectID)+"?page_size=100&sort=-start_time", &l)
	for _, item := range l.Data[:20] {
		var one wireEvent
		e.get(eventsPath(demoProjectID)+"/"+item.ID, &one)
		if !reflect.DeepEqual(one, item) {
			t.Errorf("show %s\n got %+v\nlist %+v", item.ID, one, item)
		}
	}
	friendly := func(id int64) string {
		var f string
		if err := e.s.db.QueryRow(`SELECT friendly_id FROM events WHERE id = ?`, id).Scan(&f); err != nil {
			t.Fatal(err)
		}
		return f
	}
	for id, want := range map[int64]string{se.pending: "pending", se.incomplete: "incomplete", se.incompleteOnly: "incomplete", se.empty: "complete"} {
		var ev wireEvent
		e.get(eventsPath(demoProjectID)+"/"+friendly(id), &ev)
		if ev.Status != want {
			t.Errorf("event %d: status %s, want %s", id, ev.Status, want)
		}
		if id == se.empty && (ev.DataPoints == nil || len(ev.DataPoints) != 0) {
			t.Errorf("event without data points: data_points %v", ev.DataPoints)
		}
	}
}

func TestEventsErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	var demo, other wireEventList
	e.get(eventsPath(demoProjectID), &demo)
	e.do("GET", eventsPath(otherProjectID), e.tok.Other, nil).decode(t, &other)
	if other.Info.TotalItems != 3 || len(other.Data) != 3 || !strings.HasPrefix(*other.Data[0].TrackingID, "KILN-") {
		t.Fatalf("other project's events %+v", other)
	}
	demoEvent, otherEvent := demo.Data[0].ID, other.Data[0].ID

	tests := []struct {
		name, path, token string
		want              int
		message           string // a part of the error message, if any
	}{
		{"OtherTokenOnDemoList", eventsPath(demoProjectID), e.tok.Other, 404, "Record not found."},
		{"DemoTokenOnOtherList", eventsPath(otherProjectID), e.tok.ReadWrite, 404, "Record not found."},
		{"OtherTokenOnDemoEvent", eventsPath(demoProjectID) + "/" + demoEvent, e.tok.Other, 404, ""},
		{"OtherEventUnderDemoProject", eventsPath(demoProjectID) + "/" + otherEvent, e.tok.ReadWrite, 404, "Record not found."},
		{"DemoEventUnderOtherProject", eventsPath(otherProjectID) + "/" + demoEvent, e.tok.Other, 404, ""},
		{"UnknownEvent", eventsPath(demoProjectID) + "/evt_doesnotexist0000", e.tok.ReadWrite, 404, "Record not found."},
		{"NumericEventID", eventsPath(demoProjectID) + "/1", e.tok.ReadWrite, 404, ""},
		{"UnknownProject", eventsPath(999), e.tok.ReadWrite, 404, ""},
		{"BadProjectID", "/api/v1/projects/abc/events", e.tok.ReadWrite, 404, ""},
		{"NoToken", eventsPath(demoProjectID), "", 401, ""},
		{"ReadOnlyCanRead", eventsPath(demoProjectID) + "/" + demoEvent, e.tok.ReadOnly, 200, ""},
		{"OtherReadsOwnEvent", eventsPath(otherProjectID) + "/" + otherEvent, e.tok.Other, 200, ""},

		{"UnknownSort", eventsPath(demoProjectID) + "?sort=colour", e.tok.ReadWrite, 400, "cannot sort by"},
		{"DataPointSortField", eventsPath(demoProjectID) + "?sort=value", e.tok.ReadWrite, 400, "friendly_id, id, start_time, status, tracking_id, updated_at"},
		{"EmptySortField", eventsPath(demoProjectID) + "?sort=-", e.tok.ReadWrite, 400, ""},
		{"UndocumentedStartFilter", eventsPath(demoProjectID) + "?filter[start_time][geq]=2025-01-01", e.tok.ReadWrite, 400, "filter fields: id, status, tracking_id"},
		{"UndocumentedEndFilter", eventsPath(demoProjectID) + "?filter[end_time][leq]=2025-01-01", e.tok.ReadWrite, 400, ""},
		{"UnknownFilter", eventsPath(demoProjectID) + "?filter[slug][eq]=pyrolysis-run", e.tok.ReadWrite, 400, ""},
		{"BadOperator", eventsPath(demoProjectID) + "?filter[status][geq]=complete", e.tok.ReadWrite, 400, "supports only eq"},
		{"FriendlyIDInIDFilter", eventsPath(demoProjectID) + "?filter[id][eq]=" + demoEvent, e.tok.ReadWrite, 400, "must be an integer"},
		{"BadStatus", eventsPath(demoProjectID) + "?filter[status][eq]=done", e.tok.ReadWrite, 400, "complete, incomplete, pending"},
		{"MalformedFilter", eventsPath(demoProjectID) + "?filter=1", e.tok.ReadWrite, 400, ""},
		{"PageSizeTooLarge", eventsPath(demoProjectID) + "?page_size=101", e.tok.ReadWrite, 400, "at most 100"},
		{"PageZero", eventsPath(demoProjectID) + "?page=0", e.tok.ReadWrite, 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.with(t).do("GET", tt.path, tt.token, nil)
			if r.status != tt.want {
				t.Fatalf("GET %s: %d %s, want %d", tt.path, r.status, r.body, tt.want)
			}
			if r.status >= 400 {
				if m := r.message(t); m == "" || !strings.Contains(m, tt.message) {
					t.Errorf("message %q, want one containing %q", m, tt.message)
				}
			}
		})
	}
	if n := e.s.RequestCount("GET /api/v1/projects/{project_id}/events/{event_id}"); n < 5 {
		t.Errorf("show counted %d requests", n)
	}
}

// BenchmarkEventsMillion lists events over about 1,000,000 data points (262,000 events;
// see millionEnv for SANDBOX_BENCH_CACHE).
func BenchmarkEventsMillion(b *testing.B) {
	s, _ := millionEnv(b)
	h := s.Handler()
	var newest string
	if err := s.db.QueryRow(`SELECT friendly_id FROM events WHERE project_id = ? ORDER BY start_time DESC LIMIT 1`, demoProjectID).Scan(&newest); err != nil {
		b.Fatal(err)
	}
	for _, q := range []string{
		"?page_size=100&sort=-start_time",
		"?page_size=100&sort=-start_time,created_at&page=500",
		"?page_size=100",
		"?page_size=100&sort=-end_time",
		"?page_size=100&filter[status][eq]=pending",
		"?page_size=100&sort=-status,-start_time",
		"/" + newest,
	} {
		b.Run(q, func(b *testing.B) {
			for b.Loop() {
				req, _ := http.NewRequest("GET", eventsPath(demoProjectID)+q, nil)
				req.Header.Set("Authorization", "Bearer "+s.Tokens().ReadWrite)
				rec := newRecorder()
				h.ServeHTTP(rec, req)
				if rec.code != 200 {
					b.Fatalf("%d %s", rec.code, rec.body.String())
				}
			}
		})
	}
}
