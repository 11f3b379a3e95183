package sandbox

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"time"
)

// The second demo site: a smaller project the demo tokens see beside the first, so a
// token sees several projects as the reference's account-wide tokens do (issue 10).
// It shares the catalog; it has one ledger on the Biochar Produced model and a few
// pyrolysis runs in Q1 2025, nothing generated.

// secondSiteProjectID is the second demo site's project.
const secondSiteProjectID int64 = 303

// metaSecondSite marks a file that has the second site (fresh or added at Open).
const metaSecondSite = "second_site"

// secondSite writes the second site: its project, the demo tokens' grants to it, its
// feedstock, model, ledger and events. It draws its ids from a generator of its own, so
// they are the same in a fresh file and in one it is added to later, and the first
// site's ids do not move.
func (sd *seeder) secondSite() error {
	main := sd.rng
	sd.rng = rand.New(rand.NewPCG(20250331, uint64(secondSiteProjectID)))
	defer func() { sd.rng = main }()
	p := secondSiteProjectID
	if _, err := sd.exec(`INSERT INTO projects (id, name, description, project_type, created_at, updated_at) VALUES (?, ?, ?, 'Biochar', ?, ?)`,
		p, "Juniper Flats Biochar", "Sandbox demo: a second, smaller site of the same company: one kiln, almond shells, data for Q1 2025.", sd.now, sd.now); err != nil {
		return err
	}
	if _, err := sd.exec(`INSERT INTO token_projects (role, project_id) VALUES (?, ?), (?, ?)`, roleDemoRW, p, roleDemoRO, p); err != nil {
		return err
	}
	almond, err := sd.exec(`INSERT INTO feedstocks (project_id, name) VALUES (?, 'Almond shells')`, p)
	if err != nil {
		return err
	}
	model, err := sd.exec(`INSERT INTO models (friendly_id, project_id, name, kind, created_at) VALUES (?, ?, ?, ?, ?)`,
		sd.id("mdl_", 12, lowerAlnum), p, "Biochar Output v1", producedModel.Kind, sd.now)
	if err != nil {
		return err
	}
	if _, err := sd.exec(`INSERT INTO ledgers (friendly_id, project_id, name, unit, system_ledger_type, partition_type, cadence, model_id, run_group, created_at, updated_at)
		VALUES (?, ?, 'Biochar Output', 't', NULL, 'feedstock', 'monthly', ?, NULL, ?, ?)`, sd.id("lgr_", 12, lowerAlnum), p, model, sd.now, sd.now); err != nil {
		return err
	}
	for i, slug := range producedModel.Inputs {
		if _, err := sd.exec(`INSERT INTO model_inputs (model_id, type_id, position) VALUES (?, ?, ?)`, model, sd.types[slug], i); err != nil {
			return err
		}
	}
	// Two kiln runs a month, January to March 2025: the quarter the first site has
	// collected but not generated, so a check of the first site's data that counted
	// this site's runs would be caught.
	for m := time.January; m <= time.March; m++ {
		for i, d := range []int{7, 21} {
			s, e := day(2025, m, d)
			if err := sd.event(p, "pyrolysis-run", almond, s, e, fmt.Sprintf("JF-%02d%02d-%d", int(m), d, i+1),
				pt{"biochar-mass-produced", sd.between(8, 11, 2), "t"}, pt{"biochar-moisture-content", sd.between(10, 15, 1), "%"}); err != nil {
				return err
			}
		}
	}
	return setMeta(sd.ctx, sd.tx, metaSecondSite, "1")
}

// seedSecondSite adds the second site to a file seeded before it existed, once.
func seedSecondSite(ctx context.Context, db *sql.DB) error {
	if _, ok, err := getMeta(ctx, db, metaSecondSite); err != nil || ok {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	sd := &seeder{ctx: ctx, tx: tx, now: time.Now().UnixMilli(), eventTypes: map[string]int64{}, types: map[string]int64{}}
	for i, et := range eventTypeSeed {
		sd.eventTypes[et.slug] = int64(i + 1)
	}
	for i, t := range dataPointTypeSeed {
		sd.types[t.slug] = int64(i + 1)
	}
	if sd.insEvent, err = tx.PrepareContext(ctx, insertEventSQL); err != nil {
		return err
	}
	defer sd.insEvent.Close()
	if sd.insDataPoint, err = tx.PrepareContext(ctx, insertDataPointSQL); err != nil {
		return err
	}
	defer sd.insDataPoint.Close()
	if err := sd.secondSite(); err != nil {
		return fmt.Errorf("seed the second site: %w", err)
	}
	return tx.Commit()
}
