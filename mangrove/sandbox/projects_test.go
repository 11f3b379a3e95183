package sandbox

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

type wireProject struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// projectsOf lists GET /projects for a token.
func (e *testEnv) projectsOf(token string) []wireProject {
	e.t.Helper()
	r := e.do("GET", "/api/v1/projects", token, nil)
	if r.status != 200 {
		e.t.Fatalf("GET /projects: %d %s", r.status, r.body)
	}
	var l struct{ Data []wireProject }
	r.decode(e.t, &l)
	return l.Data
}

// modelIDs lists GET /models?filter[project_id][eq]=project with the read-write token.
func (e *testEnv) modelIDs(project int64) []string {
	e.t.Helper()
	var l struct {
		Data []struct {
			ID       string `json:"id"`
			Version  int    `json:"version"`
			IsLatest bool   `json:"is_latest"`
		}
		Info wireInfo
	}
	e.get(fmt.Sprintf("/api/v1/models?filter[project_id][eq]=%d&page_size=100", project), &l)
	var ids []string
	for _, m := range l.Data {
		if m.Version != 1 || !m.IsLatest {
			e.t.Errorf("model %+v: want version 1, the latest", m)
		}
		ids = append(ids, m.ID)
	}
	return ids
}

// TestSeveralProjects: the demo tokens see two projects, the first site and the
// second; each list scopes to the token's projects, and a project the token does not
// see answers 404 as an unknown one does.
func TestSeveralProjects(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	want := []wireProject{{demoProjectID, "Cedar Ridge Biochar"}, {secondSiteProjectID, "Juniper Flats Biochar"}}
	for _, tok := range []string{e.tok.ReadWrite, e.tok.ReadOnly} {
		if got := e.projectsOf(tok); !slices.Equal(got, want) {
			t.Fatalf("demo token's projects %+v, want %+v", got, want)
		}
	}
	if got := e.projectsOf(e.tok.Other); len(got) != 1 || got[0].ID != otherProjectID {
		t.Fatalf("other token's projects %+v", got)
	}

	// Ledgers: both sites'; a ledger names no project (as documented), but its model
	// is listed under exactly one project by GET /models?filter[project_id][eq].
	var ledgers struct {
		Data []wireLedger
		Info wireInfo
	}
	e.get("/api/v1/ledgers?page_size=100", &ledgers)
	var names []string
	for _, l := range ledgers.Data {
		names = append(names, l.Name)
	}
	if !slices.Equal(names, []string{"Net Carbon Removal", "Biochar Produced", "Biochar Inventory", "Biochar Output"}) || ledgers.Info.TotalItems != 4 {
		t.Fatalf("demo ledgers %v (total %d)", names, ledgers.Info.TotalItems)
	}
	first, second := e.modelIDs(demoProjectID), e.modelIDs(secondSiteProjectID)
	if len(first) != 2 || len(second) != 1 || len(e.modelIDs(otherProjectID)) != 0 {
		t.Fatalf("models per project: %v, %v (and the other project's must not show)", first, second)
	}
	output := ledgers.Data[3]
	if output.LatestModel == nil || output.LatestModel.ID != second[0] || !slices.Contains(first, ledgers.Data[0].LatestModel.ID) {
		t.Fatalf("ledgers' models %+v / %+v not under their projects' models %v %v", output.LatestModel, ledgers.Data[0].LatestModel, first, second)
	}

	// Events and data points: per project, each its own.
	events := func(project int64) []string {
		var l struct {
			Data []struct {
				TrackingID *string `json:"tracking_id"`
			}
			Info wireInfo
		}
		e.get(fmt.Sprintf("/api/v1/projects/%d/events?page_size=100&sort=-start_time", project), &l)
		var out []string
		for _, ev := range l.Data {
			if ev.TrackingID != nil {
				out = append(out, *ev.TrackingID)
			}
		}
		return out
	}
	site2 := events(secondSiteProjectID)
	if len(site2) != 6 || !strings.HasPrefix(site2[0], "JF-") {
		t.Fatalf("second site's events %v, want its 6 kiln runs", site2)
	}
	for _, tr := range events(demoProjectID) {
		if strings.HasPrefix(tr, "JF-") {
			t.Fatalf("the first site lists the second site's event %s", tr)
		}
	}
	var points struct{ Info wireInfo }
	e.get(fmt.Sprintf("/api/v1/projects/%d/data_points", secondSiteProjectID), &points)
	if points.Info.TotalItems != 12 {
		t.Errorf("second site has %d data points, want 12", points.Info.TotalItems)
	}

	// The second site's ledger generates from its own runs only: Q1 2025 is three
	// months of one feedstock (the first site's runs of the quarter are not its data).
	if p := e.preview(output.ID, q1); p["Biochar Output"] != 3 || len(p) != 1 {
		t.Fatalf("second site's preview %v", p)
	}
	if r := e.do("POST", "/api/v1/ledgers/"+output.ID+"/batch_generations", e.tok.ReadOnly, q1); r.status != 403 {
		t.Fatalf("read-only token generated on the second site: %d", r.status)
	}
	task := e.waitComplete(e.startGeneration(output.ID, q1).ID)
	if task.Args.ProjectID != secondSiteProjectID {
		t.Errorf("task args %+v, want the second site's project", task.Args)
	}
	var site2Batches, firstBatches, all struct{ Info wireInfo }
	e.get(fmt.Sprintf("/api/v1/batches?filter[project_id][eq]=%d", secondSiteProjectID), &site2Batches)
	e.get(fmt.Sprintf("/api/v1/batches?filter[project_id][eq]=%d", demoProjectID), &firstBatches)
	e.get("/api/v1/batches", &all)
	if site2Batches.Info.TotalItems != 3 || all.Info.TotalItems != firstBatches.Info.TotalItems+3 {
		t.Errorf("batches: second site %d, first %d, all %d", site2Batches.Info.TotalItems, firstBatches.Info.TotalItems, all.Info.TotalItems)
	}
	if r := e.do("GET", "/api/v1/async_tasks/"+itoa(task.ID), e.tok.ReadOnly, nil); r.status != 200 {
		t.Errorf("the read-only demo token cannot read the second site's task: %d", r.status)
	}

	// The other project's token sees none of the second site.
	for _, path := range []string{
		"/api/v1/ledgers/" + output.ID, "/api/v1/ledgers/" + output.ID + "/batches", "/api/v1/ledgers/" + output.ID + "/required_inputs",
		"/api/v1/batches/" + task.Result.BatchIDs[0], "/api/v1/async_tasks/" + itoa(task.ID), "/api/v1/models/" + second[0],
		fmt.Sprintf("/api/v1/projects/%d", secondSiteProjectID), fmt.Sprintf("/api/v1/projects/%d/events", secondSiteProjectID),
		fmt.Sprintf("/api/v1/projects/%d/data_points", secondSiteProjectID),
	} {
		if r := e.do("GET", path, e.tok.Other, nil); r.status != 404 || r.message(t) != notFoundMessage {
			t.Errorf("other token GET %s: %d %s, want 404", path, r.status, r.body)
		}
	}
	if r := e.do("POST", "/api/v1/ledgers/"+output.ID+"/generate_preview", e.tok.Other, q1); r.status != 404 {
		t.Errorf("other token previewed the second site: %d", r.status)
	}
	var otherModels struct{ Info wireInfo }
	if r := e.do("GET", "/api/v1/models", e.tok.Other, nil); r.status != 200 {
		t.Fatalf("other token's models: %d", r.status)
	} else if r.decode(t, &otherModels); otherModels.Info.TotalItems != 1 {
		t.Errorf("other token sees %d models, want its one", otherModels.Info.TotalItems)
	}
}

// TestSecondSiteAddedToOldFile: a file seeded before the second site existed gets it
// at Open, with the ids a fresh file has, and the demo tokens see it.
func TestSecondSiteAddedToOldFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sandbox.db")
	e := newEnv(t, Options{DBPath: path})
	fresh := e.ledgerID("Biochar Output")
	e.srv.Close()
	if err := e.s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := openDB(path)
	if err != nil {
		t.Fatal(err)
	}
	p := secondSiteProjectID
	for _, q := range []string{
		`DELETE FROM data_points WHERE project_id = ?`, `DELETE FROM events WHERE project_id = ?`,
		`DELETE FROM model_inputs WHERE model_id IN (SELECT id FROM models WHERE project_id = ?)`,
		`DELETE FROM ledgers WHERE project_id = ?`, `DELETE FROM models WHERE project_id = ?`,
		`DELETE FROM feedstocks WHERE project_id = ?`, `DELETE FROM token_projects WHERE project_id = ?`,
		`DELETE FROM projects WHERE id = ?`,
	} {
		if _, err := db.Exec(q, p); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if _, err := db.Exec(`DELETE FROM meta WHERE key = ?`, metaSecondSite); err != nil {
		t.Fatal(err)
	}
	db.Close()

	again := newEnv(t, Options{DBPath: path})
	if got := again.ledgerID("Biochar Output"); got != fresh {
		t.Errorf("the added site's ledger is %s, a fresh file's %s", got, fresh)
	}
	if ps := again.projectsOf(again.tok.ReadOnly); len(ps) != 2 || ps[1].ID != p {
		t.Errorf("read-only token's projects %+v", ps)
	}
	// Opening once more adds nothing.
	again.srv.Close()
	again.s.Close()
	third := newEnv(t, Options{DBPath: path})
	var l struct{ Info wireInfo }
	third.get("/api/v1/ledgers", &l)
	if l.Info.TotalItems != 4 {
		t.Errorf("%d ledgers after a third Open, want 4", l.Info.TotalItems)
	}
}
