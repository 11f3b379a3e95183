package sandbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// The demo data. Ids of seeded rows come from a fixed-seed generator, so every fresh
// sandbox has the same ledger, model, event and data point ids (README.md lists them);
// batch ids are random because batches are created by the engine.

// Seeded project ids; integers, like the real API's project ids.
const (
	demoProjectID  int64 = 101
	otherProjectID int64 = 202
)

// eventTypeSeed and dataPointTypeSeed are the catalog (biochar-model.md §4); their
// integer ids are fixed by position, starting at 1.
var eventTypeSeed = []struct {
	slug, name string
	static     bool
}{
	{"feedstock-delivery", "Feedstock Delivery", false},
	{"pyrolysis-run", "Pyrolysis Run", false},
	{"facility-energy", "Facility Energy Use", false},
	{"lab-analysis", "Biochar Lab Analysis", false},
	{"biochar-delivery", "Biochar Delivery", false},
	{"site-static", "End-use Site", true},
}

var dataPointTypeSeed = []struct {
	slug, name, unit, category, subcategory, event string
}{
	// Inputs (category "input", subcategory = the model doc's category).
	{"feedstock-mass", "Feedstock mass delivered (wet)", "t", "input", "feedstock", "feedstock-delivery"},
	{"feedstock-moisture-content", "Feedstock moisture content", "%", "input", "feedstock", "feedstock-delivery"},
	{"feedstock-transport-distance", "Feedstock transport distance (loaded)", "km", "input", "transport", "feedstock-delivery"},
	{"biochar-mass-produced", "Biochar mass produced (wet)", "t", "input", "production", "pyrolysis-run"},
	{"biochar-moisture-content", "Biochar moisture content", "%", "input", "production", "pyrolysis-run"},
	{"pyrolysis-temperature", "Pyrolysis temperature", "degC", "input", "production", "pyrolysis-run"},
	{"pyrolysis-methane", "Methane emitted (measured)", "kg", "input", "emissions", "pyrolysis-run"},
	{"electricity-consumed", "Electricity consumed", "kWh", "input", "energy", "facility-energy"},
	{"diesel-consumed", "Diesel consumed", "L", "input", "energy", "facility-energy"},
	{"organic-carbon-content", "Organic carbon content", "%", "input", "lab", "lab-analysis"},
	{"hydrogen-content", "Hydrogen content", "%", "input", "lab", "lab-analysis"},
	{"biochar-mass-delivered", "Biochar mass delivered (wet)", "t", "input", "transport", "biochar-delivery"},
	{"biochar-transport-distance", "Biochar transport distance (loaded)", "km", "input", "transport", "biochar-delivery"},
	{"soil-temperature", "Mean annual soil temperature", "degC", "input", "site", "site-static"},
	// Outputs of the models' runs.
	{"net-carbon-removal", "Net Carbon Removal", "t", "output", "removal", ""},
	{"gross-stored-co2e", "Gross carbon stored", "t CO2e", "output", "removal", ""},
	{"durable-stored-co2e", "Durable carbon stored", "t CO2e", "output", "removal", ""},
	{"feedstock-dry-mass", "Feedstock dry mass", "t", "output", "feedstock", ""},
	{"biochar-dry-mass", "Biochar dry mass", "t", "output", "production", ""},
	{"biochar-yield", "Biochar yield", "t/t", "output", "production", ""},
	{"h-corg-molar-ratio", "H/C_org molar ratio", "mol/mol", "output", "quality", ""},
	{"durability-factor", "Durability factor", "fraction", "output", "durability", ""},
	{"emissions-feedstock-transport", "Emissions from feedstock transport", "t CO2e", "output", "emissions", ""},
	{"emissions-production-energy", "Emissions from production energy", "t CO2e", "output", "emissions", ""},
	{"emissions-pyrolysis-methane", "Emissions from pyrolysis methane", "t CO2e", "output", "emissions", ""},
	{"emissions-biochar-transport", "Emissions from biochar transport", "t CO2e", "output", "emissions", ""},
	{"emissions-total", "Total emissions", "t CO2e", "output", "emissions", ""},
}

// seeder inserts with prepared statements inside the one seeding transaction.
type seeder struct {
	ctx          context.Context
	tx           *sql.Tx
	rng          *rand.Rand
	now          int64
	insEvent     *sql.Stmt
	insDataPoint *sql.Stmt
	eventTypes   map[string]int64
	types        map[string]int64
	points       int
}

type pt struct {
	slug  string
	value float64
	unit  string
}

func (sd *seeder) id(prefix string, n int, alphabet string) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[sd.rng.IntN(len(alphabet))]
	}
	return prefix + string(b)
}

func (sd *seeder) exec(q string, args ...any) (int64, error) {
	r, err := sd.tx.ExecContext(sd.ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("%.60s: %w", q, err)
	}
	return r.LastInsertId()
}

// event inserts one event of a day (00:00:00.000 to 23:59:59.000, the docs' convention)
// or of a span, with its data points.
func (sd *seeder) event(project int64, slug string, feedstock int64, start, end time.Time, tracking string, points ...pt) error {
	var fs, tr any
	if feedstock != 0 {
		fs = feedstock
	}
	if tracking != "" {
		tr = tracking
	}
	r, err := sd.insEvent.ExecContext(sd.ctx, sd.id("evt_", 16, mixedAlnum), project, sd.eventTypes[slug], fs, tr, start.UnixMilli(), end.UnixMilli(), sd.now)
	if err != nil {
		return fmt.Errorf("event %s: %w", slug, err)
	}
	evID, err := r.LastInsertId()
	if err != nil {
		return err
	}
	for _, p := range points {
		unit := p.unit
		if _, err := sd.insDataPoint.ExecContext(sd.ctx, sd.id("in_", 16, mixedAlnum), project, evID, sd.types[p.slug], p.value, unit, "complete", start.UnixMilli(), sd.now, sd.now); err != nil {
			return fmt.Errorf("data point %s: %w", p.slug, err)
		}
		sd.points++
	}
	return nil
}

func day(y int, m time.Month, d int) (time.Time, time.Time) {
	s := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	return s, s.Add(24*time.Hour - time.Second)
}

// between returns a value in [lo, hi) rounded to the given decimals, like a recorded measurement.
func (sd *seeder) between(lo, hi float64, decimals int) float64 {
	p := math.Pow(10, float64(decimals))
	return math.Round((lo+sd.rng.Float64()*(hi-lo))*p) / p
}

// seedDemo writes the whole demo in one transaction and returns the id of the pending
// task that generates 2024's batches (run by Open through the engine).
func seedDemo(ctx context.Context, db *sql.DB, token string) (int64, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	sd := &seeder{ctx: ctx, tx: tx, rng: rand.New(rand.NewPCG(20250331, 152690)), now: time.Now().UnixMilli(),
		eventTypes: map[string]int64{}, types: map[string]int64{}}
	if sd.insEvent, err = tx.PrepareContext(ctx, `INSERT INTO events (friendly_id, project_id, event_type_id, feedstock_id, tracking_id, start_time, end_time, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`); err != nil {
		return 0, err
	}
	defer sd.insEvent.Close()
	if sd.insDataPoint, err = tx.PrepareContext(ctx, `INSERT INTO data_points (friendly_id, project_id, event_id, type_id, value, unit, status, event_time, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`); err != nil {
		return 0, err
	}
	defer sd.insDataPoint.Close()

	for i, et := range eventTypeSeed {
		id := int64(i + 1)
		if _, err := sd.exec(`INSERT INTO event_types (id, slug, name, is_static) VALUES (?, ?, ?, ?)`, id, et.slug, et.name, et.static); err != nil {
			return 0, err
		}
		sd.eventTypes[et.slug] = id
	}
	for i, t := range dataPointTypeSeed {
		id := int64(i + 1)
		var ev any
		if t.event != "" {
			ev = sd.eventTypes[t.event]
		}
		if _, err := sd.exec(`INSERT INTO data_point_types (id, slug, name, unit, value_type, category, subcategory, event_type_id) VALUES (?, ?, ?, ?, 'number', ?, ?, ?)`,
			id, t.slug, t.name, t.unit, t.category, t.subcategory, ev); err != nil {
			return 0, err
		}
		sd.types[t.slug] = id
	}

	if _, err := sd.exec(`INSERT INTO projects (id, name, description, project_type, created_at, updated_at) VALUES (?, ?, ?, 'Biochar', ?, ?), (?, ?, ?, 'Biochar', ?, ?)`,
		demoProjectID, "Cedar Ridge Biochar", "Sandbox demo: one pyrolysis facility, wood chips and nut shells, data for 2024 and Q1 2025.", sd.now, sd.now,
		otherProjectID, "Other Project", "Sandbox: a second, separate project for isolation checks.", sd.now, sd.now); err != nil {
		return 0, err
	}
	if token == "" {
		token = newToken("rw")
	}
	if _, err := sd.exec(`INSERT INTO tokens (token, role, project_id, can_write) VALUES (?, ?, ?, 1), (?, ?, ?, 0), (?, ?, ?, 1)`,
		token, roleDemoRW, demoProjectID, newToken("ro"), roleDemoRO, demoProjectID, newToken("other"), roleOtherRW, otherProjectID); err != nil {
		return 0, err
	}

	wood, err := sd.exec(`INSERT INTO feedstocks (project_id, name) VALUES (?, 'Wood chips')`, demoProjectID)
	if err != nil {
		return 0, err
	}
	nut, err := sd.exec(`INSERT INTO feedstocks (project_id, name) VALUES (?, 'Nut shells')`, demoProjectID)
	if err != nil {
		return 0, err
	}
	rice, err := sd.exec(`INSERT INTO feedstocks (project_id, name) VALUES (?, 'Rice husks')`, otherProjectID)
	if err != nil {
		return 0, err
	}

	ncrModelID, err := sd.exec(`INSERT INTO models (friendly_id, project_id, name, kind, created_at) VALUES (?, ?, ?, ?, ?)`,
		sd.id("mdl_", 12, lowerAlnum), demoProjectID, "Biochar Net Carbon Removal v1", ncrModel.Kind, sd.now)
	if err != nil {
		return 0, err
	}
	bpModelID, err := sd.exec(`INSERT INTO models (friendly_id, project_id, name, kind, created_at) VALUES (?, ?, ?, ?, ?)`,
		sd.id("mdl_", 12, lowerAlnum), demoProjectID, "Biochar Produced v1", producedModel.Kind, sd.now)
	if err != nil {
		return 0, err
	}
	otherModelID, err := sd.exec(`INSERT INTO models (friendly_id, project_id, name, kind, created_at) VALUES (?, ?, ?, ?, ?)`,
		sd.id("mdl_", 12, lowerAlnum), otherProjectID, "Biochar Produced v1", producedModel.Kind, sd.now)
	if err != nil {
		return 0, err
	}
	ledger := func(project int64, name, partition string, model int64, group string) (int64, error) {
		var m, g any
		if model != 0 {
			m = model
		}
		if group != "" {
			g = group
		}
		return sd.exec(`INSERT INTO ledgers (friendly_id, project_id, name, unit, system_ledger_type, partition_type, cadence, model_id, run_group, created_at, updated_at)
			VALUES (?, ?, ?, 't', NULL, ?, 'monthly', ?, ?, ?, ?)`, sd.id("lgr_", 12, lowerAlnum), project, name, partition, m, g, sd.now, sd.now)
	}
	// Net Carbon Removal and Biochar Produced share a run group: their models run
	// concurrently over the same pyrolysis runs, so one generation makes batches on both.
	ncrLedger, err := ledger(demoProjectID, "Net Carbon Removal", "feedstock", ncrModelID, "biochar-production")
	if err != nil {
		return 0, err
	}
	bpLedger, err := ledger(demoProjectID, "Biochar Produced", "feedstock", bpModelID, "biochar-production")
	if err != nil {
		return 0, err
	}
	if _, err := ledger(demoProjectID, "Biochar Inventory", "feedstock", 0, ""); err != nil {
		return 0, err
	}
	if _, err := ledger(otherProjectID, "Kiln Output", "time", otherModelID, ""); err != nil {
		return 0, err
	}
	for i, slug := range ncrModel.Inputs {
		// "Biochar mass produced" is the material the Biochar Produced ledger accounts
		// for: it is manual-select with that ledger as its source, so a user may pin
		// particular pyrolysis runs with data_point_ids (omitted: auto-discovered).
		var manual bool
		var src any
		if slug == "biochar-mass-produced" {
			manual, src = true, bpLedger
		}
		if _, err := sd.exec(`INSERT INTO model_inputs (model_id, type_id, position, is_manual_select, source_ledger_id) VALUES (?, ?, ?, ?, ?)`,
			ncrModelID, sd.types[slug], i, manual, src); err != nil {
			return 0, err
		}
	}
	for _, m := range []int64{bpModelID, otherModelID} {
		for i, slug := range producedModel.Inputs {
			if _, err := sd.exec(`INSERT INTO model_inputs (model_id, type_id, position) VALUES (?, ?, ?)`, m, sd.types[slug], i); err != nil {
				return 0, err
			}
		}
	}

	if err := sd.demoEvents(wood, nut); err != nil {
		return 0, err
	}
	if err := sd.otherEvents(rice); err != nil {
		return 0, err
	}

	params, _ := json.Marshal(genParams{
		Start: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(),
		End:   time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(),
	})
	taskID, err := sd.exec(`INSERT INTO async_tasks (project_id, ledger_id, type, state, progress, params, created_at, updated_at) VALUES (?, ?, ?, 'pending', 0, ?, ?, ?)`,
		demoProjectID, ncrLedger, taskTypeBatchGeneration, string(params), sd.now, sd.now)
	if err != nil {
		return 0, err
	}
	if err := setMeta(ctx, tx, "seeded", time.Now().UTC().Format(time.RFC3339)); err != nil {
		return 0, err
	}
	return taskID, tx.Commit()
}

// demoEvents writes 2024 and Q1 2025. March 2025 is exactly the worked example of
// biochar-model.md §6; the other months vary around it. In August 2024 the nut shell
// line was down for maintenance (deliveries, no run), so that month's Net Carbon
// Removal batch for nut shells is in error: "required input missing: biochar-mass-produced".
func (sd *seeder) demoEvents(wood, nut int64) error {
	p := demoProjectID
	s, e := day(2024, 1, 1)
	if err := sd.event(p, "site-static", 0, s, e, "SITE-001", pt{"soil-temperature", 15, "degC"}); err != nil {
		return err
	}
	seq := 0
	tracking := func(prefix string) string { seq++; return fmt.Sprintf("%s-%04d", prefix, seq) }
	for m := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC); m.Before(time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)); m = m.AddDate(0, 1, 0) {
		y, mo := m.Year(), m.Month()
		for _, d := range []int{3, 12, 22} {
			s, e := day(y, mo, d)
			if err := sd.event(p, "feedstock-delivery", wood, s, e, tracking("FD"),
				pt{"feedstock-mass", sd.between(90, 130, 1), "t"}, pt{"feedstock-moisture-content", sd.between(28, 42, 1), "%"},
				pt{"feedstock-transport-distance", sd.between(35, 90, 0), "km"}); err != nil {
				return err
			}
		}
		for _, d := range []int{5, 18} {
			s, e := day(y, mo, d)
			if err := sd.event(p, "feedstock-delivery", nut, s, e, tracking("FD"),
				pt{"feedstock-mass", sd.between(40, 65, 1), "t"}, pt{"feedstock-moisture-content", sd.between(9, 14, 1), "%"},
				pt{"feedstock-transport-distance", sd.between(100, 160, 0), "km"}); err != nil {
				return err
			}
		}
		for _, d := range []int{8, 20} {
			s, e := day(y, mo, d)
			if err := sd.event(p, "pyrolysis-run", wood, s, e, tracking("PR"),
				pt{"biochar-mass-produced", sd.between(36, 42, 1), "t"}, pt{"biochar-moisture-content", sd.between(16, 22, 1), "%"},
				pt{"pyrolysis-temperature", sd.between(600, 650, 0), "degC"}, pt{"pyrolysis-methane", sd.between(0, 3, 1), "kg"}); err != nil {
				return err
			}
		}
		if !(y == 2024 && mo == time.August) {
			s, e := day(y, mo, 14)
			if err := sd.event(p, "pyrolysis-run", nut, s, e, tracking("PR"),
				pt{"biochar-mass-produced", sd.between(26, 32, 1), "t"}, pt{"biochar-moisture-content", sd.between(13, 17, 1), "%"},
				pt{"pyrolysis-temperature", sd.between(580, 620, 0), "degC"}, pt{"pyrolysis-methane", sd.between(0, 2, 1), "kg"}); err != nil {
				return err
			}
		}
		if mo%3 == 1 { // quarterly lab analyses, in January, April, July and October
			for _, f := range []struct {
				id           int64
				cLo, hLo, hH float64
			}{{wood, 76, 1.8, 2.0}, {nut, 72, 2.0, 2.2}} {
				s, e := day(y, mo, 10)
				if err := sd.event(p, "lab-analysis", f.id, s, e, tracking("LAB"),
					pt{"organic-carbon-content", sd.between(f.cLo, f.cLo+4, 1), "%"}, pt{"hydrogen-content", sd.between(f.hLo, f.hH, 2), "%"}); err != nil {
					return err
				}
			}
		}
		s, e := day(y, mo, 25)
		if err := sd.event(p, "biochar-delivery", wood, s, e, tracking("BD"),
			pt{"biochar-mass-delivered", sd.between(50, 65, 1), "t"}, pt{"biochar-transport-distance", sd.between(30, 40, 0), "km"}); err != nil {
			return err
		}
		s, e = day(y, mo, 26)
		if err := sd.event(p, "biochar-delivery", nut, s, e, tracking("BD"),
			pt{"biochar-mass-delivered", sd.between(15, 25, 1), "t"}, pt{"biochar-transport-distance", sd.between(60, 120, 0), "km"}); err != nil {
			return err
		}
		end := m.AddDate(0, 1, 0).Add(-time.Second)
		if err := sd.event(p, "facility-energy", 0, m, end, "EN-"+m.Format("2006-01"),
			pt{"electricity-consumed", sd.between(12000, 15000, 0), "kWh"}, pt{"diesel-consumed", sd.between(700, 900, 0), "L"}); err != nil {
			return err
		}
	}
	return sd.march2025(wood, nut)
}

// march2025 is biochar-model.md §6, value for value (one nut shell delivery in U.S. units).
func (sd *seeder) march2025(wood, nut int64) error {
	p := demoProjectID
	type ev struct {
		slug      string
		feedstock int64
		day       int
		tracking  string
		points    []pt
	}
	events := []ev{
		{"feedstock-delivery", wood, 3, "FD-2503-01", []pt{{"feedstock-mass", 120, "t"}, {"feedstock-moisture-content", 35, "%"}, {"feedstock-transport-distance", 60, "km"}}},
		{"feedstock-delivery", wood, 11, "FD-2503-02", []pt{{"feedstock-mass", 95, "t"}, {"feedstock-moisture-content", 30, "%"}, {"feedstock-transport-distance", 85, "km"}}},
		{"feedstock-delivery", wood, 20, "FD-2503-03", []pt{{"feedstock-mass", 110, "t"}, {"feedstock-moisture-content", 40, "%"}, {"feedstock-transport-distance", 40, "km"}}},
		{"feedstock-delivery", nut, 5, "FD-2503-04", []pt{{"feedstock-mass", 60, "t"}, {"feedstock-moisture-content", 12, "%"}, {"feedstock-transport-distance", 150, "km"}}},
		{"feedstock-delivery", nut, 17, "FD-2503-05", []pt{{"feedstock-mass", 49.604, "U.S. ton"}, {"feedstock-moisture-content", 10, "%"}, {"feedstock-transport-distance", 74.565, "mile"}}},
		{"pyrolysis-run", wood, 9, "PR-2503-01", []pt{{"biochar-mass-produced", 40.0, "t"}, {"biochar-moisture-content", 20, "%"}, {"pyrolysis-temperature", 620, "degC"}, {"pyrolysis-methane", 0, "kg"}}},
		{"pyrolysis-run", wood, 23, "PR-2503-02", []pt{{"biochar-mass-produced", 38.5, "t"}, {"biochar-moisture-content", 18, "%"}, {"pyrolysis-temperature", 640, "degC"}, {"pyrolysis-methane", 0, "kg"}}},
		{"pyrolysis-run", nut, 14, "PR-2503-03", []pt{{"biochar-mass-produced", 30.0, "t"}, {"biochar-moisture-content", 15, "%"}, {"pyrolysis-temperature", 600, "degC"}, {"pyrolysis-methane", 0, "kg"}}},
		{"lab-analysis", wood, 12, "LAB-2503-01", []pt{{"organic-carbon-content", 78.0, "%"}, {"hydrogen-content", 1.9, "%"}}},
		{"lab-analysis", nut, 15, "LAB-2503-02", []pt{{"organic-carbon-content", 74.0, "%"}, {"hydrogen-content", 2.1, "%"}}},
		{"biochar-delivery", wood, 26, "BD-2503-01", []pt{{"biochar-mass-delivered", 60, "t"}, {"biochar-transport-distance", 35, "km"}}},
		{"biochar-delivery", nut, 24, "BD-2503-02", []pt{{"biochar-mass-delivered", 20, "t"}, {"biochar-transport-distance", 120, "km"}}},
		{"biochar-delivery", nut, 28, "BD-2503-03", []pt{{"biochar-mass-delivered", 10, "t"}, {"biochar-transport-distance", 60, "km"}}},
	}
	for _, x := range events {
		s, e := day(2025, time.March, x.day)
		if err := sd.event(p, x.slug, x.feedstock, s, e, x.tracking, x.points...); err != nil {
			return err
		}
	}
	m := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	return sd.event(p, "facility-energy", 0, m, m.AddDate(0, 1, 0).Add(-time.Second), "EN-2025-03",
		pt{"electricity-consumed", 14100, "kWh"}, pt{"diesel-consumed", 820, "L"})
}

// otherEvents gives the second project a few pyrolysis runs in January and February 2025.
func (sd *seeder) otherEvents(rice int64) error {
	for i, d := range []time.Time{
		time.Date(2025, 1, 9, 0, 0, 0, 0, time.UTC), time.Date(2025, 1, 23, 0, 0, 0, 0, time.UTC), time.Date(2025, 2, 13, 0, 0, 0, 0, time.UTC),
	} {
		if err := sd.event(otherProjectID, "pyrolysis-run", rice, d, d.Add(24*time.Hour-time.Second), fmt.Sprintf("KILN-%03d", i+1),
			pt{"biochar-mass-produced", 12.5 + float64(i), "t"}, pt{"biochar-moisture-content", 12, "%"}); err != nil {
			return err
		}
	}
	return nil
}
