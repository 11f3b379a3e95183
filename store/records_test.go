package store

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// rawRecords reads the params and preview column text of a generations row
// (by id) or a confirm_keys row (by rowid; params is then "").
func rawRecords(t *testing.T, s *Store, table string, id int64) (params, preview string) {
	t.Helper()
	var err error
	switch table {
	case "generations":
		err = s.db.QueryRow(`SELECT params, preview FROM generations WHERE id = ?`, id).Scan(&params, &preview)
	case "confirm_keys":
		err = s.db.QueryRow(`SELECT preview FROM confirm_keys WHERE rowid = ?`, id).Scan(&preview)
	default:
		t.Fatalf("rawRecords: table %q", table)
	}
	if err != nil {
		t.Fatalf("read %s row %d: %v", table, id, err)
	}
	return params, preview
}

// withVersion is p as the store reads it back: at RecordVersion, in UTC.
func withVersion(p GenerationParams) GenerationParams {
	p.Version = RecordVersion
	p.StartTime, p.EndTime = p.StartTime.UTC(), p.EndTime.UTC()
	return p
}

// sameParams compares params with time.Equal for the times.
func sameParams(a, b GenerationParams) bool {
	if !a.StartTime.Equal(b.StartTime) || !a.EndTime.Equal(b.EndTime) {
		return false
	}
	a.StartTime, a.EndTime, b.StartTime, b.EndTime = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

func TestRecordsRoundTrip(t *testing.T) {
	ctx := context.Background()
	cet := time.FixedZone("CET", 3600)
	full := GenerationParams{
		Version:                 7, // ignored: the store writes RecordVersion
		StartTime:               time.Date(2025, 1, 1, 1, 0, 0, 0, cet),
		EndTime:                 time.Date(2025, 4, 1, 0, 59, 59, 0, cet),
		DataPointIDs:            []string{"dp_1", "dp_2"},
		SkippedDataPointTypeIDs: []int64{3, 9},
		BatchAmounts: []BatchAmount{
			{BatchID: "bat_a", PrimaryOutputAmount: 12.5, AllocationGroup: "group-1"},
			{BatchID: "bat_b", PrimaryOutputAmount: 0},
		},
	}
	twoLedgers := []PreviewEntry{{LedgerID: "lgr_a", LedgerName: "Net Carbon Removal", Count: 6}, {LedgerID: "lgr_b", LedgerName: "Produced", Count: 0}}
	oneLedger := []PreviewEntry{{LedgerID: "lgr_c", LedgerName: "Ünïcode \"quoted\"", Count: 1}}

	tests := []struct {
		name        string
		params      GenerationParams
		keyPreview  []PreviewEntry // issued with the key
		callPreview []PreviewEntry // given to BeginGeneration
		wantPreview []PreviewEntry
		wantParams  string // the params column
		wantRaw     string // the preview column
	}{
		{
			name: "Full", params: full, keyPreview: twoLedgers, wantPreview: twoLedgers,
			wantParams: `{"v":1,"start_time":"2025-01-01T00:00:00Z","end_time":"2025-03-31T23:59:59Z",` +
				`"data_point_ids":["dp_1","dp_2"],"skipped_data_point_type_ids":[3,9],` +
				`"batch_amounts":[{"batch_id":"bat_a","primary_output_amount":12.5,"allocation_group":"group-1"},` +
				`{"batch_id":"bat_b","primary_output_amount":0}]}`,
			wantRaw: `{"v":1,"entries":[{"ledger_id":"lgr_a","ledger_name":"Net Carbon Removal","count":6},` +
				`{"ledger_id":"lgr_b","ledger_name":"Produced","count":0}]}`,
		},
		{
			name:       "MinimalNoPreview",
			params:     GenerationParams{StartTime: time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC), EndTime: time.Date(2025, 2, 28, 23, 59, 59, 0, time.UTC)},
			wantParams: `{"v":1,"start_time":"2025-02-01T00:00:00Z","end_time":"2025-02-28T23:59:59Z"}`,
			wantRaw:    `null`,
		},
		{
			name: "EmptyPreviewIsNone", params: full, keyPreview: []PreviewEntry{}, wantRaw: `null`,
		},
		{
			name: "CallersPreviewWins", params: full, keyPreview: twoLedgers, callPreview: oneLedger, wantPreview: oneLedger,
			wantRaw: `{"v":1,"entries":[{"ledger_id":"lgr_c","ledger_name":"Ünïcode \"quoted\"","count":1}]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTest(t)
			key, err := s.IssueConfirmKey(ctx, "tok", "ph", tt.keyPreview)
			if err != nil {
				t.Fatal(err)
			}
			in := testGeneration("tok")
			in.Params, in.Preview = tt.params, tt.callPreview
			begun, created, err := s.BeginGeneration(ctx, key, "ph", in)
			if err != nil || !created {
				t.Fatalf("BeginGeneration: %v %v", created, err)
			}
			byID, err := s.Generation(ctx, begun.ID)
			if err != nil {
				t.Fatal(err)
			}
			list, total, err := s.Generations(ctx, "tok", GenerationFilter{}, 10, 0)
			if err != nil || total != 1 || len(list) != 1 {
				t.Fatalf("Generations: %d %v", total, err)
			}
			for how, g := range map[string]Generation{"BeginGeneration": begun, "Generation": byID, "Generations": list[0]} {
				if !sameParams(g.Params, withVersion(tt.params)) {
					t.Errorf("%s: params %+v\nwant %+v", how, g.Params, withVersion(tt.params))
				}
				if g.Params.StartTime.Location() != time.UTC {
					t.Errorf("%s: start time in %v, want UTC", how, g.Params.StartTime.Location())
				}
				if !reflect.DeepEqual(g.Preview, tt.wantPreview) {
					t.Errorf("%s: preview %+v, want %+v", how, g.Preview, tt.wantPreview)
				}
			}
			params, preview := rawRecords(t, s, "generations", begun.ID)
			if tt.wantParams != "" && params != tt.wantParams {
				t.Errorf("params column\n%s\nwant\n%s", params, tt.wantParams)
			}
			if preview != tt.wantRaw {
				t.Errorf("preview column\n%s\nwant\n%s", preview, tt.wantRaw)
			}
		})
	}
}

// A row whose JSON does not decode still lists, with its own columns intact.
func TestUndecodableRecordsStillRead(t *testing.T) {
	ctx := context.Background()
	tests := []struct{ name, params, preview string }{
		{"NotJSON", `not json`, `[{"LedgerID":`},
		{"FutureVersion", `{"v":2,"start_time":"2025-01-01T00:00:00Z","end_time":"2025-01-02T00:00:00Z"}`, `{"v":2,"entries":[]}`},
		{"NoVersion", `{"start_time":"2025-01-01T00:00:00Z","end_time":"2025-01-02T00:00:00Z"}`, `[{"LedgerID":"l","Name":"n","Count":1}]`},
		{"WrongTypes", `{"v":1,"start_time":5}`, `{"v":1,"entries":{"a":1}}`},
		{"Array", `[]`, `"text"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTest(t)
			g := begin(t, s, "tok")
			if _, err := s.db.Exec(`UPDATE generations SET params = ?, preview = ? WHERE id = ?`, tt.params, tt.preview, g.ID); err != nil {
				t.Fatal(err)
			}
			got, err := s.Generation(ctx, g.ID)
			if err != nil {
				t.Fatalf("Generation: %v", err)
			}
			list, _, err := s.Generations(ctx, "", GenerationFilter{}, 10, 0)
			if err != nil || len(list) != 1 {
				t.Fatalf("Generations: %d rows, %v", len(list), err)
			}
			for _, r := range []Generation{got, list[0]} {
				if !reflect.DeepEqual(r.Params, GenerationParams{}) || r.Preview != nil {
					t.Errorf("read %+v / %+v, want zero params and nil preview", r.Params, r.Preview)
				}
				if !r.StartTime.Equal(g.StartTime) || !r.EndTime.Equal(g.EndTime) || r.LedgerID != g.LedgerID {
					t.Errorf("row columns lost: %+v", r)
				}
			}
		})
	}
}

// oldRow is a generation as stored before migration 4.
type oldRow struct {
	params, preview string
}

// openAtVersion3 builds a database at schema version 3 (before migration
// 4) holding rows in the JSON shapes written then, and closes it.
func openAtVersion3(t *testing.T, gens []oldRow, keyPreviews []string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dash.db")
	s, err := open(path, migrations[:3])
	if err != nil {
		t.Fatalf("open at version 3: %v", err)
	}
	defer s.Close()
	if v, err := s.SchemaVersion(context.Background()); err != nil || v != 3 {
		t.Fatalf("SchemaVersion = %d, %v; want 3", v, err)
	}
	ts := formatTime(time.Date(2025, 4, 1, 9, 0, 0, 0, time.UTC))
	for i, r := range gens {
		_, err := s.db.Exec(`INSERT INTO generations
			(created_at, user_label, token_hash, ledger_id, ledger_name, start_time, end_time,
			 params, params_hash, preview, confirm_key, state, error, updated_at)
			VALUES (?, 'ana', 'tok', 'lgr_a', 'NCR', ?, ?, ?, 'ph', ?, ?, 'complete', '', ?)`,
			ts, formatTime(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)), formatTime(time.Date(2025, 3, 31, 23, 59, 59, 0, time.UTC)),
			r.params, r.preview, "key-"+string(rune('a'+i)), ts)
		if err != nil {
			t.Fatalf("insert old generation %d: %v", i, err)
		}
	}
	for i, p := range keyPreviews {
		_, err := s.db.Exec(`INSERT INTO confirm_keys (key, token_hash, params_hash, created_at, expires_at, preview)
			VALUES (?, 'tok', 'ph', ?, ?, ?)`, "ck-"+string(rune('a'+i)), ts, ts, p)
		if err != nil {
			t.Fatalf("insert old key %d: %v", i, err)
		}
	}
	// The default of migration 2, for a key issued before previews were kept.
	if _, err := s.db.Exec(`INSERT INTO confirm_keys (key, token_hash, params_hash, created_at, expires_at)
		VALUES ('ck-default', 'tok', 'ph', ?, ?)`, ts, ts); err != nil {
		t.Fatal(err)
	}
	return path
}

// dump is every params and preview column, for comparing before and after.
func dump(t *testing.T, s *Store) []string {
	t.Helper()
	var out []string
	for _, q := range []string{
		`SELECT 'g' || id || ' ' || params || ' ' || preview FROM generations ORDER BY id`,
		`SELECT 'k' || rowid || ' ' || preview FROM confirm_keys ORDER BY rowid`,
	} {
		rows, err := s.db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			out = append(out, line)
		}
		rows.Close()
	}
	return out
}

func TestMigrationUpgradesRecords(t *testing.T) {
	ctx := context.Background()
	// Written by handlers as json.Marshal(mangrove.GenerationRequest) and
	// json.Marshal([]views.PreviewEntry) before migration 4.
	const (
		oldFull = `{"start_time":"2025-01-01T00:00:00Z","end_time":"2025-03-31T23:59:59Z","data_point_ids":["dp_1"],` +
			`"batch_amounts":[{"batch_id":"bat_a","primary_output_amount":12.5,"allocation_group":null},` +
			`{"batch_id":"bat_b","primary_output_amount":3,"allocation_group":"g2"},{"batch_id":"bat_c","primary_output_amount":1}],` +
			`"skipped_data_point_type_ids":[4,8]}`
		oldMinimal = `{"start_time":"2025-01-01T00:00:00Z","end_time":"2025-03-31T23:59:59Z"}`
		oldPreview = `[{"LedgerID":"lgr_a","Name":"Net Carbon Removal","Count":6},{"LedgerID":"lgr_b","Name":"Produced","Count":2}]`
		// Already new, spaced so that re-encoding it would show.
		already        = `{ "v": 1, "start_time": "2025-01-01T00:00:00Z", "end_time": "2025-03-31T23:59:59Z" }`
		alreadyPreview = `{ "v": 1, "entries": [ {"ledger_id": "lgr_a", "ledger_name": "NCR", "count": 1} ] }`
		unparseable    = `{"start_time":"2025-01-01T00:00:00Z",`
		unknownShape   = `[{"ledger_id":"led_123","batch_count":3}]`
	)
	path := openAtVersion3(t,
		[]oldRow{
			{oldFull, oldPreview},
			{oldMinimal, `null`},
			{already, alreadyPreview},
			{unparseable, unknownShape},
			{`null`, `[]`},
		},
		[]string{oldPreview, `null`, alreadyPreview, unparseable})

	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open runs migration 4: %v", err)
	}
	if v, err := s.SchemaVersion(ctx); err != nil || v != len(migrations) {
		t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, len(migrations))
	}

	newFull := `{"v":1,"start_time":"2025-01-01T00:00:00Z","end_time":"2025-03-31T23:59:59Z","data_point_ids":["dp_1"],` +
		`"skipped_data_point_type_ids":[4,8],"batch_amounts":[{"batch_id":"bat_a","primary_output_amount":12.5},` +
		`{"batch_id":"bat_b","primary_output_amount":3,"allocation_group":"g2"},{"batch_id":"bat_c","primary_output_amount":1}]}`
	newMinimal := `{"v":1,"start_time":"2025-01-01T00:00:00Z","end_time":"2025-03-31T23:59:59Z"}`
	newPreview := `{"v":1,"entries":[{"ledger_id":"lgr_a","ledger_name":"Net Carbon Removal","count":6},` +
		`{"ledger_id":"lgr_b","ledger_name":"Produced","count":2}]}`
	start, end := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 3, 31, 23, 59, 59, 0, time.UTC)

	gens := []struct {
		params, preview string
		decoded         GenerationParams
		entries         []PreviewEntry
	}{
		{newFull, newPreview, GenerationParams{
			Version: 1, StartTime: start, EndTime: end, DataPointIDs: []string{"dp_1"}, SkippedDataPointTypeIDs: []int64{4, 8},
			BatchAmounts: []BatchAmount{{"bat_a", 12.5, ""}, {"bat_b", 3, "g2"}, {"bat_c", 1, ""}},
		}, []PreviewEntry{{LedgerID: "lgr_a", LedgerName: "Net Carbon Removal", Count: 6}, {LedgerID: "lgr_b", LedgerName: "Produced", Count: 2}}},
		{newMinimal, `null`, GenerationParams{Version: 1, StartTime: start, EndTime: end}, nil},
		{already, alreadyPreview, GenerationParams{Version: 1, StartTime: start, EndTime: end}, []PreviewEntry{{LedgerID: "lgr_a", LedgerName: "NCR", Count: 1}}},
		{unparseable, unknownShape, GenerationParams{}, nil}, // left untouched, read as unknown
		{`null`, `null`, GenerationParams{}, nil},
	}
	for i, want := range gens {
		id := int64(i + 1)
		params, preview := rawRecords(t, s, "generations", id)
		if params != want.params {
			t.Errorf("generation %d params\n%s\nwant\n%s", id, params, want.params)
		}
		if preview != want.preview {
			t.Errorf("generation %d preview\n%s\nwant\n%s", id, preview, want.preview)
		}
		g, err := s.Generation(ctx, id)
		if err != nil {
			t.Fatalf("Generation(%d): %v", id, err)
		}
		if !sameParams(g.Params, want.decoded) || !reflect.DeepEqual(g.Preview, want.entries) {
			t.Errorf("generation %d reads %+v / %+v\nwant %+v / %+v", id, g.Params, g.Preview, want.decoded, want.entries)
		}
	}
	list, total, err := s.Generations(ctx, "tok", GenerationFilter{}, 100, 0)
	if err != nil || total != len(gens) || len(list) != len(gens) {
		t.Fatalf("Generations after migration: %d of %d, %v", len(list), total, err)
	}

	keys := []string{newPreview, `null`, alreadyPreview, unparseable, `null`}
	for i, want := range keys {
		if _, preview := rawRecords(t, s, "confirm_keys", int64(i+1)); preview != want {
			t.Errorf("confirm key %d preview\n%s\nwant\n%s", i+1, preview, want)
		}
	}

	// Opening again applies nothing and changes nothing.
	before := dump(t, s)
	s.Close()
	for i := 0; i < 2; i++ {
		s, err = Open(path)
		if err != nil {
			t.Fatalf("reopen %d: %v", i, err)
		}
		var n int
		if err := s.db.QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil || n != len(migrations) {
			t.Fatalf("schema_migrations rows = %d, %v; want %d", n, err, len(migrations))
		}
		if after := dump(t, s); !reflect.DeepEqual(after, before) {
			t.Fatalf("reopen %d changed rows:\n%q\nwas\n%q", i, after, before)
		}
		s.Close()
	}

	// Running the step itself again (as if recorded as not applied) is a
	// no-op too: the rewritten rows are in the new shape.
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tx, err := s.sqlDB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := upgradeRecords(ctx, conn{q: tx, d: sqliteDialect}); err != nil {
		t.Fatalf("upgradeRecords again: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if after := dump(t, s); !reflect.DeepEqual(after, before) {
		t.Fatalf("second upgrade changed rows:\n%q\nwas\n%q", after, before)
	}
}

// A key issued before the upgrade, with its preview converted, still starts
// a generation that records that preview.
func TestMigratedKeyRecordsItsPreview(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "dash.db")
	s, err := open(path, migrations[:3])
	if err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return time.Date(2025, 4, 2, 10, 0, 0, 0, time.UTC) }
	// Issue a key the old way: raw preview text as json.Marshal([]views.PreviewEntry) wrote it.
	key := issueKey(t, s, "tok", "ph")
	if _, err := s.db.Exec(`UPDATE confirm_keys SET preview = ? WHERE key = ?`, `[{"LedgerID":"lgr_a","Name":"NCR","Count":4}]`, key); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.now = func() time.Time { return time.Date(2025, 4, 2, 10, 1, 0, 0, time.UTC) }
	in := testGeneration("tok")
	in.Preview = nil
	g, created, err := s.BeginGeneration(ctx, key, "ph", in)
	if err != nil || !created {
		t.Fatalf("BeginGeneration: %v %v", created, err)
	}
	if want := []PreviewEntry{{LedgerID: "lgr_a", LedgerName: "NCR", Count: 4}}; !reflect.DeepEqual(g.Preview, want) {
		t.Fatalf("preview %+v, want %+v", g.Preview, want)
	}
}

func TestUpgradeParams(t *testing.T) {
	tests := []struct {
		name, in, want string // want "" = unconvertible
	}{
		{"Null", `null`, `null`},
		{"Blank", ``, ``},
		{"Minimal", `{"start_time":"2025-01-01T00:00:00Z","end_time":"2025-01-31T23:59:59Z"}`,
			`{"v":1,"start_time":"2025-01-01T00:00:00Z","end_time":"2025-01-31T23:59:59Z"}`},
		{"OffsetToUTC", `{"start_time":"2025-01-01T01:00:00+01:00","end_time":"2025-01-31T23:59:59Z"}`,
			`{"v":1,"start_time":"2025-01-01T00:00:00Z","end_time":"2025-01-31T23:59:59Z"}`},
		{"AllocationGroupNull", `{"start_time":"2025-01-01T00:00:00Z","end_time":"2025-01-31T23:59:59Z","batch_amounts":[{"batch_id":"b","primary_output_amount":-1.5,"allocation_group":null}]}`,
			`{"v":1,"start_time":"2025-01-01T00:00:00Z","end_time":"2025-01-31T23:59:59Z","batch_amounts":[{"batch_id":"b","primary_output_amount":-1.5}]}`},
		{"AllocationGroupString", `{"start_time":"2025-01-01T00:00:00Z","end_time":"2025-01-31T23:59:59Z","batch_amounts":[{"batch_id":"b","primary_output_amount":2,"allocation_group":"x"}]}`,
			`{"v":1,"start_time":"2025-01-01T00:00:00Z","end_time":"2025-01-31T23:59:59Z","batch_amounts":[{"batch_id":"b","primary_output_amount":2,"allocation_group":"x"}]}`},
		{"EmptyLists", `{"start_time":"2025-01-01T00:00:00Z","end_time":"2025-01-31T23:59:59Z","data_point_ids":[],"batch_amounts":[],"skipped_data_point_type_ids":[]}`,
			`{"v":1,"start_time":"2025-01-01T00:00:00Z","end_time":"2025-01-31T23:59:59Z"}`},
		{"AlreadyNew", `{"v":1,"start_time":"2025-01-01T00:00:00Z","end_time":"2025-01-31T23:59:59Z"}`,
			`{"v":1,"start_time":"2025-01-01T00:00:00Z","end_time":"2025-01-31T23:59:59Z"}`},
		{"NotJSON", `{"start_time":`, ""},
		{"TrailingData", `{"start_time":"2025-01-01T00:00:00Z","end_time":"2025-01-31T23:59:59Z"} {}`, ""},
		{"MissingEnd", `{"start_time":"2025-01-01T00:00:00Z"}`, ""},
		{"NullTime", `{"start_time":null,"end_time":"2025-01-31T23:59:59Z"}`, ""},
		{"UnknownField", `{"start_time":"2025-01-01T00:00:00Z","end_time":"2025-01-31T23:59:59Z","dry_run":true}`, ""},
		{"NullBatchAmount", `{"start_time":"2025-01-01T00:00:00Z","end_time":"2025-01-31T23:59:59Z","batch_amounts":[null]}`, ""},
		{"FutureVersion", `{"v":2,"start_time":"2025-01-01T00:00:00Z","end_time":"2025-01-31T23:59:59Z"}`, ""},
		{"YearUnderflowInUTC", `{"start_time":"0000-01-01T00:00:00+01:00","end_time":"2025-01-31T23:59:59Z"}`, ""},
		{"Array", `[]`, ""},
		{"String", `"x"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := upgradeParams(tt.in)
			if tt.want == "" && tt.in != "" {
				if !errors.Is(err, errUnconvertible) {
					t.Fatalf("upgradeParams(%s) = %s, %v; want unconvertible", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("upgradeParams(%s) = %s, %v\nwant %s", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestUpgradePreview(t *testing.T) {
	tests := []struct {
		name, in, want string // want "" = unconvertible
	}{
		{"Null", `null`, `null`},
		{"EmptyArray", `[]`, `null`},
		{"One", `[{"LedgerID":"l","Name":"N","Count":3}]`, `{"v":1,"entries":[{"ledger_id":"l","ledger_name":"N","count":3}]}`},
		{"MissingFields", `[{"LedgerID":"l"}]`, `{"v":1,"entries":[{"ledger_id":"l","ledger_name":"","count":0}]}`},
		{"HTMLKept", `[{"LedgerID":"l","Name":"<b>&</b>","Count":1}]`, `{"v":1,"entries":[{"ledger_id":"l","ledger_name":"\u003cb\u003e\u0026\u003c/b\u003e","count":1}]}`},
		{"AlreadyNew", `{"v":1,"entries":[{"ledger_id":"l","ledger_name":"N","count":3}]}`, `{"v":1,"entries":[{"ledger_id":"l","ledger_name":"N","count":3}]}`},
		{"NotJSON", `[{"LedgerID":`, ""},
		{"NewFieldNamesInArray", `[{"ledger_id":"l","ledger_name":"N","count":3}]`, ""},
		{"UnknownField", `[{"LedgerID":"l","Name":"N","Count":3,"Extra":1}]`, ""},
		{"NullEntry", `[null]`, ""},
		{"FractionalCount", `[{"LedgerID":"l","Name":"N","Count":1.5}]`, ""},
		{"FutureVersion", `{"v":2,"entries":[]}`, ""},
		{"ObjectWithoutVersion", `{"entries":[]}`, ""},
		{"Number", `3`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := upgradePreview(tt.in)
			if tt.want == "" {
				if !errors.Is(err, errUnconvertible) {
					t.Fatalf("upgradePreview(%s) = %s, %v; want unconvertible", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("upgradePreview(%s) = %s, %v\nwant %s", tt.in, got, err, tt.want)
			}
		})
	}
}

// FuzzDecodeRecord: converting any stored text never panics, and either
// reports it unconvertible or gives text that decodes as the new type and
// converts to itself (so the migration is idempotent). A converted old
// params value keeps its times and list lengths.
func FuzzDecodeRecord(f *testing.F) {
	for _, s := range []string{
		`null`, ``, ` `, `[]`, `{}`, `"x"`, `0`, `{"v":1}`, `{"v":1.0}`, `{"v":"1"}`, `{"V":1}`,
		`{"start_time":"2025-01-01T00:00:00Z","end_time":"2025-03-31T23:59:59Z"}`,
		`{"start_time":"2025-01-01T00:00:00Z","end_time":"2025-03-31T23:59:59Z","data_point_ids":["a"],"skipped_data_point_type_ids":[1],` +
			`"batch_amounts":[{"batch_id":"b","primary_output_amount":1e300,"allocation_group":null},{"batch_id":"c","primary_output_amount":-0,"allocation_group":"g"}]}`,
		`{"START_TIME":"2025-01-01T00:00:00Z","end_time":"2025-03-31T23:59:59Z"}`,
		`{"start_time":"9999-12-31T23:59:59-01:00","end_time":"2025-03-31T23:59:59Z"}`,
		`{"v":1,"start_time":"2025-01-01T00:00:00Z","end_time":"2025-03-31T23:59:59Z","v":2}`,
		`[{"LedgerID":"l","Name":"N","Count":3},{"LedgerID":"m","Name":"M","Count":-1}]`,
		`[{"ledgerid":"l","NAME":"N","count":3}]`,
		`{"v":1,"entries":null}`, `{"v":1,"entries":[]}`, `{"v":1,"entries":[null]}`,
		`[{"LedgerID":"l"}] x`, "\xff", `[{"LedgerID":"\ud800"}]`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if out, err := upgradeParams(text); err != nil {
			if !errors.Is(err, errUnconvertible) {
				t.Fatalf("upgradeParams(%q): unexpected error %v", text, err)
			}
		} else {
			p, err := decodeParams(out)
			if err != nil {
				t.Fatalf("upgradeParams(%q) = %q, which does not decode: %v", text, out, err)
			}
			if !isNull(out) && p.Version != RecordVersion {
				t.Fatalf("upgradeParams(%q) = %q at version %d", text, out, p.Version)
			}
			if again, err := upgradeParams(out); err != nil || again != out {
				t.Fatalf("upgradeParams not idempotent on %q: %q, %v", out, again, err)
			}
			var old legacyParams
			if out != text && json.Unmarshal([]byte(text), &old) == nil && old.StartTime != nil && old.EndTime != nil {
				if !p.StartTime.Equal(*old.StartTime) || !p.EndTime.Equal(*old.EndTime) ||
					len(p.DataPointIDs) != len(old.DataPointIDs) || len(p.BatchAmounts) != len(old.BatchAmounts) ||
					len(p.SkippedDataPointTypeIDs) != len(old.SkippedDataPointTypeIDs) {
					t.Fatalf("upgradeParams(%q) = %q lost data", text, out)
				}
			}
		}

		if out, err := upgradePreview(text); err != nil {
			if !errors.Is(err, errUnconvertible) {
				t.Fatalf("upgradePreview(%q): unexpected error %v", text, err)
			}
		} else {
			entries, err := decodePreview(out)
			if err != nil {
				t.Fatalf("upgradePreview(%q) = %q, which does not decode: %v", text, out, err)
			}
			if again, err := upgradePreview(out); err != nil || again != out {
				t.Fatalf("upgradePreview not idempotent on %q: %q, %v", out, again, err)
			}
			var old []legacyPreviewEntry
			if out != text && json.Unmarshal([]byte(text), &old) == nil && len(old) != len(entries) {
				t.Fatalf("upgradePreview(%q) = %q has %d entries, want %d", text, out, len(entries), len(old))
			}
			if strings.HasPrefix(strings.TrimSpace(text), "[") && out == text {
				t.Fatalf("upgradePreview(%q) left an old-shaped preview as it was", text)
			}
		}

		// The readers never panic, whatever the column holds.
		_, _ = decodeParams(text)
		_, _ = decodePreview(text)
	})
}

// TestPreviewKeepsExistingBatches: the batches a preview found in the range,
// with their outputs then, reach the audit row with the key.
func TestPreviewKeepsExistingBatches(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	out := 147.83
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	preview := []PreviewEntry{{LedgerID: "lgr_a", LedgerName: "NCR", Count: 6, Existing: []ExistingBatch{
		{BatchID: "bat_1", TrackingID: "Jan-2025-001", StartTime: start, EndTime: start.AddDate(0, 1, 0).Add(-time.Second), Output: &out, Unit: "t"},
		{BatchID: "bat_2", StartTime: start, EndTime: start.AddDate(0, 1, 0).Add(-time.Second)},
	}}}
	key, err := s.IssueConfirmKey(ctx, "th", "ph", preview)
	if err != nil {
		t.Fatal(err)
	}
	g := testGeneration("th")
	g.Preview = nil // the row records the key's preview
	g, _, err = s.BeginGeneration(ctx, key, "ph", g)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Generation(ctx, g.ID)
	if err != nil || len(got.Preview) != 1 {
		t.Fatalf("generation %+v, %v", got, err)
	}
	ex := got.Preview[0].Existing
	if len(ex) != 2 || ex[0].TrackingID != "Jan-2025-001" || ex[0].Output == nil || *ex[0].Output != out || ex[1].Output != nil || !ex[0].StartTime.Equal(start) {
		t.Fatalf("existing batches read back as %+v", ex)
	}
}
