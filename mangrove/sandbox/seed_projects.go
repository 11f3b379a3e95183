package sandbox

// The first demo site and the other project, their tokens and their feedstocks (the
// second demo site is seed_site2.go).

// projects inserts the demo and the other project and the three tokens (token, when
// set, is the demo's read-write token). Each token sees its tokens row's project; the
// demo tokens are granted the second site with it.
func (sd *seeder) projects(token string) error {
	if _, err := sd.exec(`INSERT INTO projects (id, name, description, project_type, created_at, updated_at) VALUES (?, ?, ?, 'Biochar', ?, ?), (?, ?, ?, 'Biochar', ?, ?)`,
		demoProjectID, "Cedar Ridge Biochar", "Sandbox demo: one pyrolysis facility, wood chips and nut shells, data for 2024 and Q1 2025.", sd.now, sd.now,
		otherProjectID, "Other Project", "Sandbox: a second, separate project for isolation checks.", sd.now, sd.now); err != nil {
		return err
	}
	if token == "" {
		token = newToken("rw")
	}
	if _, err := sd.exec(`INSERT INTO tokens (token, role, project_id, can_write) VALUES (?, ?, ?, 1), (?, ?, ?, 0), (?, ?, ?, 1)`,
		token, roleDemoRW, demoProjectID, newToken("ro"), roleDemoRO, demoProjectID, newToken("other"), roleOtherRW, otherProjectID); err != nil {
		return err
	}
	return nil
}

// feedstocks inserts the demo's wood chips and nut shells and the other project's rice husks.
func (sd *seeder) feedstocks() (wood, nut, rice int64, err error) {
	wood, err = sd.exec(`INSERT INTO feedstocks (project_id, name) VALUES (?, 'Wood chips')`, demoProjectID)
	if err != nil {
		return 0, 0, 0, err
	}
	nut, err = sd.exec(`INSERT INTO feedstocks (project_id, name) VALUES (?, 'Nut shells')`, demoProjectID)
	if err != nil {
		return 0, 0, 0, err
	}
	rice, err = sd.exec(`INSERT INTO feedstocks (project_id, name) VALUES (?, 'Rice husks')`, otherProjectID)
	if err != nil {
		return 0, 0, 0, err
	}
	return wood, nut, rice, nil
}
