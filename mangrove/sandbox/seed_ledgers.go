package sandbox

// The models, the ledgers and the models' required inputs.

// biocharAllocationGroups are the allocation groups of Net Carbon Removal's input fed by
// Biochar Produced (a JSON array of {"id", "name"}; migration 4 gives existing files the
// same): one group, since all of a month's biochar of a feedstock goes to one use.
const biocharAllocationGroups = `[{"id":"biochar-produced","name":"Biochar produced"}]`

// ledgers inserts the three models, the four ledgers and the models' inputs, and returns
// the id of the Net Carbon Removal ledger (the one the pending 2024 generation runs on).
func (sd *seeder) ledgers() (int64, error) {
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
		// particular pyrolysis runs with data_point_ids (omitted: auto-discovered), and
		// batch_amounts may allocate Biochar Produced batches to it, in its one group.
		var manual bool
		var src any
		groups := "[]"
		if slug == "biochar-mass-produced" {
			manual, src, groups = true, bpLedger, biocharAllocationGroups
		}
		if _, err := sd.exec(`INSERT INTO model_inputs (model_id, type_id, position, is_manual_select, source_ledger_id, allocation_groups) VALUES (?, ?, ?, ?, ?, ?)`,
			ncrModelID, sd.types[slug], i, manual, src, groups); err != nil {
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
	return ncrLedger, nil
}
