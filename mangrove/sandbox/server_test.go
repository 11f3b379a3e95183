package sandbox

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCookbookFlow follows "Generating batches via the API" on Q1 2025.
func TestCookbookFlow(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	e := newEnv(t, Options{})
	opened := time.Since(t0)

	// 1. List ledgers; the Net Carbon Removal ledger has a model. (The token sees
	// both demo sites: three ledgers of the first, one of the second.)
	var ledgers struct {
		Data []wireLedger
		Info wireInfo
	}
	e.get("/api/v1/ledgers", &ledgers)
	if ledgers.Info.TotalItems != 4 || len(ledgers.Data) != 4 {
		t.Fatalf("ledgers: %+v", ledgers)
	}
	ncr := e.ledgerID("Net Carbon Removal")
	for _, l := range ledgers.Data {
		if (l.Name == "Biochar Inventory") != (l.LatestModel == nil) {
			t.Errorf("ledger %s latest_model %v", l.Name, l.LatestModel)
		}
	}

	// 2. Required inputs: 14, one manual-select fed by Biochar Produced.
	var inputs struct{ Data []requiredInputJSON }
	e.get("/api/v1/ledgers/"+ncr+"/required_inputs", &inputs)
	if len(inputs.Data) != 14 {
		t.Fatalf("%d required inputs", len(inputs.Data))
	}
	manual := 0
	for _, in := range inputs.Data {
		if in.IsManualSelect {
			manual++
			if in.Slug != "biochar-mass-produced" || len(in.OutputOfLedgers) != 1 || in.OutputOfLedgers[0].Name != "Biochar Produced" {
				t.Errorf("manual input %+v", in)
			}
		}
	}
	if manual != 1 {
		t.Errorf("%d manual-select inputs", manual)
	}

	// 3. Preview: two ledgers (concurrent models), 3 months x 2 feedstocks each.
	_, infoBefore := e.batches("/api/v1/batches?page_size=1")
	p := e.preview(ncr, q1)
	if p["Net Carbon Removal"] != 6 || p["Biochar Produced"] != 6 || len(p) != 2 {
		t.Fatalf("preview %v", p)
	}

	// 4. Create: 202 with a pending task.
	gen0 := time.Now()
	task := e.startGeneration(ncr, q1)
	if task.State != "pending" || task.Type != "ProductionAccounting::BatchGeneration" || task.Progress != 0 || task.CreatedAt == "" {
		t.Errorf("created task %+v", task)
	}

	// 5. Poll until complete.
	done := e.waitTask(task.ID)
	genTime := time.Since(gen0)
	if done.State != "complete" || done.Progress != 100 || done.ProgressDescription != nil || done.FinishedAt == nil || done.StartedAt == nil || done.ErrorMessage != nil {
		t.Fatalf("finished task %+v", done)
	}
	if done.Result == nil || len(done.Result.BatchIDs) != 12 || len(done.Result.LedgerIDs) != 2 {
		t.Fatalf("result %+v", done.Result)
	}
	if done.Args.ProjectID != demoProjectID || done.Args.LedgerID == 0 {
		t.Errorf("args %+v", done.Args)
	}

	// 6. List batches newest first: the 6 new NCR batches, non-zero outputs.
	list, info := e.batches("/api/v1/ledgers/" + ncr + "/batches?sort=-created_at&page_size=6")
	if info.TotalItems != 24+6 {
		t.Errorf("NCR has %d batches, want 30", info.TotalItems)
	}
	march := map[string]float64{}
	for _, b := range list {
		if !strings.HasPrefix(b.StartTime, "2025-0") || b.State != "complete" || b.PrimaryOutput.Value <= 0 {
			t.Errorf("new batch %+v", b)
		}
		if strings.HasPrefix(b.StartTime, "2025-03") {
			if len(b.Feedstocks) != 1 {
				t.Fatalf("march batch %s has feedstocks %+v, want one", b.TrackingID, b.Feedstocks)
			}
			march[b.Feedstocks[0].Name] = b.PrimaryOutput.Value
			if b.EndTime != "2025-03-31T23:59:59.000Z" || !strings.HasPrefix(b.TrackingID, "Mar-2025-00") {
				t.Errorf("march batch %+v", b)
			}
		}
	}
	if math.Abs(march["Wood chips"]-152.69) > 0.005 || math.Abs(march["Nut shells"]-55.20) > 0.005 {
		t.Errorf("March 2025 = %v, want wood 152.69 and nut 55.20", march)
	}
	_, infoAfter := e.batches("/api/v1/batches?page_size=1")
	if infoAfter.TotalItems-infoBefore.TotalItems != 12 {
		t.Errorf("project gained %d batches, preview said 12", infoAfter.TotalItems-infoBefore.TotalItems)
	}

	// Running again updates the same batches: same ids, same count.
	again := e.waitComplete(e.startGeneration(ncr, q1).ID)
	if fmt.Sprint(again.Result.BatchIDs) != fmt.Sprint(done.Result.BatchIDs) {
		t.Errorf("rerun touched %v, first run %v", again.Result.BatchIDs, done.Result.BatchIDs)
	}
	_, infoAgain := e.batches("/api/v1/batches?page_size=1")
	if infoAgain.TotalItems != infoAfter.TotalItems {
		t.Errorf("rerun changed the count: %d -> %d", infoAfter.TotalItems, infoAgain.TotalItems)
	}
	t.Logf("Open+seed %v, Q1 generation (12 batches, StepDelay 0) incl. polling %v", opened, genTime)
}

func TestBatchDetail(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	ncr := e.ledgerID("Net Carbon Removal")
	e.waitTask(e.startGeneration(ncr, map[string]string{"start_time": "2025-03-01", "end_time": "2025-03-31"}).ID)
	list, _ := e.batches("/api/v1/ledgers/" + ncr + "/batches?filter[start_time][geq]=2025-03-01&sort=tracking_id")
	if len(list) != 2 {
		t.Fatalf("%d March batches", len(list))
	}
	var d struct {
		wireBatch
		InputData []struct {
			DataPoint dataPointJSON `json:"data_point"`
			Event     *eventRefJSON `json:"event"`
		} `json:"input_data"`
		ReportAllocations          []any `json:"report_allocations"`
		DownstreamBatchAllocations []any `json:"downstream_batch_allocations"`
	}
	e.get("/api/v1/batches/"+list[0].ID, &d)
	// Wood chips, March: 3 deliveries x 3 + 2 runs x 4 + lab 2 + energy 2 + biochar delivery 2 + soil 1.
	if len(d.InputData) != 24 {
		t.Errorf("input_data has %d entries, want 24", len(d.InputData))
	}
	if d.ReportAllocations == nil || d.DownstreamBatchAllocations == nil {
		t.Error("allocation arrays missing")
	}
	if len(d.ModelRun.Calculations) < 15 || len(d.ModelRun.OutputDataPoints) != 13 || !strings.HasPrefix(d.ModelRun.OutputDataPoints[0].ID, "dp_") {
		t.Errorf("model run %+v", d.ModelRun)
	}
	if d.PrimaryOutput.Name != "Net Carbon Removal" || d.PrimaryOutput.DataPointTypeID != 15 {
		t.Errorf("primary output %+v", d.PrimaryOutput)
	}
	usTon := false
	for _, in := range d.InputData {
		if in.DataPoint.ID == nil || !strings.HasPrefix(*in.DataPoint.ID, "in_") || in.Event == nil || !strings.HasPrefix(in.Event.ID, "evt_") {
			t.Errorf("input %+v", in)
		}
		usTon = usTon || (in.DataPoint.Unit != nil && *in.DataPoint.Unit == "U.S. ton")
	}
	if usTon {
		t.Error("the U.S. ton delivery is nut shells, not wood chips")
	}

	// The seeded August 2024 nut shell batch has no pyrolysis run.
	errs, _ := e.batches("/api/v1/ledgers/" + ncr + "/batches?filter[state][eq]=error")
	if len(errs) != 1 || errs[0].ModelRun.ErrorMessage == nil || *errs[0].ModelRun.ErrorMessage != "required input missing: biochar-mass-produced" ||
		errs[0].ModelRun.State != "failed" || errs[0].PrimaryOutput.Value != 0 || errs[0].TrackingID != "Aug-2024-002" {
		t.Errorf("error batches %+v", errs)
	}

	// ledger_balance is the batch's own unallocated amount: nothing is allocated here.
	all, _ := e.batches("/api/v1/ledgers/" + ncr + "/batches?sort=start_time&page_size=100")
	for _, b := range all {
		if b.LedgerBalance != b.PrimaryOutput.Value {
			t.Fatalf("balance of %s = %v, output %v", b.TrackingID, b.LedgerBalance, b.PrimaryOutput.Value)
		}
	}
}

func TestGenerationOptions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	ncr := e.ledgerID("Net Carbon Removal")
	march := map[string]any{"start_time": "2025-03-01T00:00:00.000Z", "end_time": "2025-04-01T00:00:00.000Z"}

	t.Run("DataPointSelection", func(t *testing.T) {
		e := e.with(t)
		// Pin one wood chip pyrolysis run: one batch per ledger, on wood chips.
		var dps struct{ Data []dataPointItemJSON }
		e.get(fmt.Sprintf("/api/v1/projects/%d/data_points?filter[slug][eq]=biochar-mass-produced&filter[start_time][geq]=2025-03-01&filter[start_time][leq]=2025-03-31", demoProjectID), &dps)
		if len(dps.Data) != 3 {
			t.Fatalf("%d March runs", len(dps.Data))
		}
		var woodRun string
		for _, d := range dps.Data {
			if d.Feedstock != nil && d.Feedstock.Name == "Wood chips" {
				woodRun = d.ID
				break
			}
		}
		body := map[string]any{"start_time": march["start_time"], "end_time": march["end_time"], "data_point_ids": []string{woodRun}}
		p := e.preview(ncr, body)
		if p["Net Carbon Removal"] != 1 || p["Biochar Produced"] != 1 {
			t.Fatalf("preview %v", p)
		}
		done := e.waitComplete(e.startGeneration(ncr, body).ID)
		if len(done.Result.BatchIDs) != 2 {
			t.Fatalf("result %+v", done.Result)
		}
		var b wireBatch
		e.get("/api/v1/batches/"+done.Result.BatchIDs[0], &b)
		for _, c := range b.ModelRun.Calculations {
			if c.Name == "Biochar dry mass" && math.Abs(c.Value-32.0) > 1e-6 {
				t.Errorf("only the pinned 40 t @ 20%% run should count: %v", c.Value)
			}
		}
	})
	t.Run("EmptyRange", func(t *testing.T) {
		e := e.with(t)
		body := map[string]string{"start_time": "2023-01-01", "end_time": "2023-12-31"}
		if p := e.preview(ncr, body); p["Net Carbon Removal"] != 0 || p["Biochar Produced"] != 0 || len(p) != 2 {
			t.Fatalf("preview %v", p)
		}
		done := e.waitTask(e.startGeneration(ncr, body).ID)
		if done.State != "complete" || done.Result == nil || len(done.Result.BatchIDs) != 0 {
			t.Errorf("empty generation %+v", done)
		}
	})
	t.Run("SkippedTypes", func(t *testing.T) {
		e := e.with(t)
		body := map[string]any{"start_time": march["start_time"], "end_time": march["end_time"], "skipped_data_point_type_ids": []int{3}}
		done := e.waitComplete(e.startGeneration(ncr, body).ID)
		var d struct {
			wireBatch
			InputData []struct {
				DataPoint dataPointJSON `json:"data_point"`
			} `json:"input_data"`
		}
		e.get("/api/v1/batches/"+done.Result.BatchIDs[0], &d)
		skipped := 0
		for _, in := range d.InputData {
			if in.DataPoint.Status == "skipped" {
				skipped++
				if in.DataPoint.ID != nil || in.DataPoint.Slug != "feedstock-transport-distance" {
					t.Errorf("placeholder %+v", in.DataPoint)
				}
			}
		}
		if skipped != 1 {
			t.Errorf("%d skipped placeholders", skipped)
		}
		for _, o := range d.ModelRun.OutputDataPoints {
			if o.Slug == "emissions-feedstock-transport" && o.Value != 0 {
				t.Errorf("skipped distance still emits %v", o.Value)
			}
		}
	})
	t.Run("BatchAmounts", func(t *testing.T) {
		// An allocation from the month's Biochar Produced batch, not an override: the
		// Net Carbon Removal batch keeps the output its model computed (TestAllocations).
		e := e.with(t)
		bp := e.ledgerID("Biochar Produced")
		list, _ := e.batches("/api/v1/ledgers/" + bp + "/batches?filter[tracking_id][eq]=Mar-2025-001")
		before, _ := e.batches("/api/v1/ledgers/" + ncr + "/batches?filter[tracking_id][eq]=Mar-2025-001") // wood chips
		if len(list) != 1 || len(before) != 1 {
			t.Fatalf("%d upstream and %d downstream batches", len(list), len(before))
		}
		body := map[string]any{"start_time": march["start_time"], "end_time": march["end_time"],
			"batch_amounts": []map[string]any{{"batch_id": list[0].ID, "primary_output_amount": 15.0, "allocation_group": nil}}}
		e.waitComplete(e.startGeneration(ncr, body).ID)
		var b wireBatch
		e.get("/api/v1/batches/"+before[0].ID, &b)
		// Wood chips, March 2025: MODEL.md's example 1, whatever was allocated to it.
		if math.Abs(b.PrimaryOutput.Value-152.69) > 0.005 || len(b.Allocations) != 1 || b.Allocations[0].Amount != 15 || b.Allocations[0].Batch.ID != list[0].ID {
			t.Errorf("downstream batch after the allocation: output %v, want 152.69, allocations %+v", b.PrimaryOutput.Value, b.Allocations)
		}
	})
}

func TestAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Token: "demo-secret"})
	if e.tok.ReadWrite != "demo-secret" || e.tok.ReadOnly == "" || e.tok.Other == "" {
		t.Fatalf("tokens %+v", e.tok)
	}
	ncr := e.ledgerID("Net Carbon Removal")
	task := e.waitComplete(e.startGeneration(ncr, map[string]string{"start_time": "2025-02-01", "end_time": "2025-02-28"}).ID)
	batch := task.Result.BatchIDs[0]

	// A bare token (the OpenAPI form) works too.
	req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/ledgers", nil)
	req.Header.Set("Authorization", e.tok.ReadWrite)
	res, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("bare token: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("bare token: %d", res.StatusCode)
	}

	cross := []string{
		"/api/v1/ledgers/" + ncr, "/api/v1/ledgers/" + ncr + "/batches", "/api/v1/ledgers/" + ncr + "/required_inputs",
		"/api/v1/batches/" + batch, "/api/v1/async_tasks/" + strconv.FormatInt(task.ID, 10),
		fmt.Sprintf("/api/v1/projects/%d/data_points", demoProjectID), fmt.Sprintf("/api/v1/projects/%d", demoProjectID),
	}
	tests := []struct {
		name, method, path, token string
		body                      any
		want                      int
	}{
		{"NoToken", "GET", "/api/v1/ledgers", "", nil, 401},
		{"UnknownToken", "GET", "/api/v1/ledgers", "nope", nil, 401},
		{"ReadOnlyCanRead", "GET", "/api/v1/ledgers/" + ncr + "/batches", e.tok.ReadOnly, nil, 200},
		{"ReadOnlyCanPreview", "POST", "/api/v1/ledgers/" + ncr + "/generate_preview", e.tok.ReadOnly, q1, 200},
		{"ReadOnlyCannotGenerate", "POST", "/api/v1/ledgers/" + ncr + "/batch_generations", e.tok.ReadOnly, q1, 403},
		{"OtherCannotGenerateOnDemo", "POST", "/api/v1/ledgers/" + ncr + "/batch_generations", e.tok.Other, q1, 404},
		{"OtherCannotPreviewDemo", "POST", "/api/v1/ledgers/" + ncr + "/generate_preview", e.tok.Other, q1, 404},
		{"UnknownLedger", "GET", "/api/v1/ledgers/lgr_doesnotexist", e.tok.ReadWrite, nil, 404},
		{"UnknownTask", "GET", "/api/v1/async_tasks/999999", e.tok.ReadWrite, nil, 404},
		{"BadTaskID", "GET", "/api/v1/async_tasks/abc", e.tok.ReadWrite, nil, 404},
		{"UnknownRoute", "GET", "/api/v1/nothing-here", e.tok.ReadWrite, nil, 404},
	}
	for _, p := range cross {
		tests = append(tests, struct {
			name, method, path, token string
			body                      any
			want                      int
		}{"CrossProject " + p, "GET", p, e.tok.Other, nil, 404})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(tt.method, tt.path, tt.token, tt.body)
			if r.status != tt.want {
				t.Fatalf("%s %s: %d %s, want %d", tt.method, tt.path, r.status, r.body, tt.want)
			}
			if r.status >= 400 && r.message(t) == "" {
				t.Errorf("error without message: %s", r.body)
			}
			if r.header.Get("RateLimit-Limit") != "1000" || r.header.Get("RateLimit-Remaining") == "" || r.header.Get("RateLimit-Reset") == "" {
				t.Errorf("rate limit headers %v", r.header)
			}
		})
	}

	// The other project sees only its own ledger, batches and data points.
	var other struct {
		Data []wireLedger
		Info wireInfo
	}
	r := e.do("GET", "/api/v1/ledgers", e.tok.Other, nil)
	r.decode(t, &other)
	if other.Info.TotalItems != 1 || len(other.Data) != 1 || other.Data[0].Name != "Kiln Output" {
		t.Fatalf("other project's ledgers %+v", other)
	}
	var otherBatches struct{ Info wireInfo }
	e.do("GET", fmt.Sprintf("/api/v1/batches?filter[project_id][eq]=%d", demoProjectID), e.tok.Other, nil).decode(t, &otherBatches)
	if otherBatches.Info.TotalItems != 0 {
		t.Errorf("other token sees %d demo batches", otherBatches.Info.TotalItems)
	}
	var otherPoints struct{ Info wireInfo }
	e.do("GET", fmt.Sprintf("/api/v1/projects/%d/data_points", otherProjectID), e.tok.Other, nil).decode(t, &otherPoints)
	if otherPoints.Info.TotalItems != 6 {
		t.Errorf("other project has %d data points", otherPoints.Info.TotalItems)
	}
	// The other project's ledger is not partitioned: one batch per month.
	kiln := other.Data[0].ID
	r = e.do("POST", "/api/v1/ledgers/"+kiln+"/generate_preview", e.tok.Other, q1)
	if r.status != 200 || !strings.Contains(string(r.body), `"count":2`) {
		t.Errorf("kiln preview %d %s", r.status, r.body)
	}
	if e.s.RequestCount("GET /api/v1/async_tasks/{id}") == 0 || e.s.RequestCount("POST /api/v1/ledgers/{ledger_id}/batch_generations") != 3 {
		t.Errorf("request counts: tasks %d, generations %d", e.s.RequestCount("GET /api/v1/async_tasks/{id}"),
			e.s.RequestCount("POST /api/v1/ledgers/{ledger_id}/batch_generations"))
	}
}

func TestValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	ncr := e.ledgerID("Net Carbon Removal")
	inventory := e.ledgerID("Biochar Inventory")
	var otherBatch string
	{
		var l struct{ Data []wireLedger }
		e.do("GET", "/api/v1/ledgers", e.tok.Other, nil).decode(t, &l)
		if len(l.Data) == 0 {
			t.Fatal("the other project has no ledger")
		}
		r := e.do("POST", "/api/v1/ledgers/"+l.Data[0].ID+"/batch_generations", e.tok.Other, q1)
		var task wireTask
		r.decode(t, &task)
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) && task.State != "complete" && task.State != "failed" {
			time.Sleep(5 * time.Millisecond)
			e.do("GET", "/api/v1/async_tasks/"+strconv.FormatInt(task.ID, 10), e.tok.Other, nil).decode(t, &task)
		}
		if task.State != "complete" || task.Result == nil || len(task.Result.BatchIDs) == 0 {
			t.Fatalf("the other project's generation ended %q with result %+v", task.State, task.Result)
		}
		otherBatch = task.Result.BatchIDs[0]
	}
	tests := []struct {
		name, ledger string
		body         any
		want         int
		msg          string
	}{
		{"MalformedJSON", ncr, `{"start_time": `, 400, "malformed JSON"},
		{"EmptyBody", ncr, "", 400, "JSON object"},
		{"WrongType", ncr, `{"start_time": 5, "end_time": "2025-01-01"}`, 400, "malformed JSON"},
		{"MissingStart", ncr, map[string]any{"end_time": "2025-03-31"}, 422, "start_time is required"},
		{"MissingEnd", ncr, map[string]any{"start_time": "2025-03-01"}, 422, "end_time is required"},
		{"UnparsableTime", ncr, map[string]any{"start_time": "March", "end_time": "2025-03-31"}, 422, "start_time"},
		{"EndBeforeStart", ncr, map[string]any{"start_time": "2025-03-31", "end_time": "2025-03-01"}, 422, "after start_time"},
		{"NoModel", inventory, q1, 422, "no linked model"},
		{"UnknownDataPoint", ncr, map[string]any{"start_time": "2025-03-01", "end_time": "2025-03-31", "data_point_ids": []string{"in_nope"}}, 422, "in_nope"},
		{"UnknownSkippedType", ncr, map[string]any{"start_time": "2025-03-01", "end_time": "2025-03-31", "skipped_data_point_type_ids": []int{9999}}, 422, "9999"},
		{"SkippedTypeNotAnInput", ncr, map[string]any{"start_time": "2025-03-01", "end_time": "2025-03-31", "skipped_data_point_type_ids": []int{15}}, 422, "not a required input"},
		{"UnknownBatchAmount", ncr, map[string]any{"start_time": "2025-03-01", "end_time": "2025-03-31",
			"batch_amounts": []map[string]any{{"batch_id": "bat_nope", "primary_output_amount": 1}}}, 404, "bat_nope"},
		{"OtherProjectsBatchAmount", ncr, map[string]any{"start_time": "2025-03-01", "end_time": "2025-03-31",
			"batch_amounts": []map[string]any{{"batch_id": otherBatch, "primary_output_amount": 1}}}, 404, otherBatch},
		{"BatchAmountWithoutAmount", ncr, map[string]any{"start_time": "2025-03-01", "end_time": "2025-03-31",
			"batch_amounts": []map[string]any{{"batch_id": "bat_x"}}}, 422, "primary_output_amount"},
	}
	for _, tt := range tests {
		for _, action := range []string{"generate_preview", "batch_generations"} {
			t.Run(tt.name+"/"+action, func(t *testing.T) {
				r := e.do("POST", "/api/v1/ledgers/"+tt.ledger+"/"+action, e.tok.ReadWrite, tt.body)
				if r.status != tt.want || !strings.Contains(r.message(t), tt.msg) {
					t.Errorf("%d %s, want %d containing %q", r.status, r.body, tt.want, tt.msg)
				}
			})
		}
	}
	// Nothing was started by the rejected requests.
	if n := e.s.RequestCount("POST /api/v1/ledgers/{ledger_id}/batch_generations"); n != int64(len(tests))+1 {
		t.Errorf("%d generation requests", n)
	}
	var count int
	e.s.db.QueryRow(`SELECT COUNT(*) FROM async_tasks WHERE project_id = ?`, demoProjectID).Scan(&count)
	if count != 1 { // the seeding task
		t.Errorf("%d demo tasks", count)
	}
}

func TestPagination(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	ncr := e.ledgerID("Net Carbon Removal")
	base := "/api/v1/ledgers/" + ncr + "/batches"

	// 2024 seeded: 12 months x 2 feedstocks.
	page3, info := e.batches(base + "?page=3&page_size=10&sort=start_time,tracking_id")
	if info.TotalItems != 24 || info.TotalPages != 3 || info.Items != 4 || len(page3) != 4 || info.CurrentPage != 3 ||
		info.NextPage != nil || info.PreviousPage == nil || *info.PreviousPage != 2 || info.PageSize != 10 {
		t.Errorf("page 3 info %+v", info)
	}
	if len(page3) != 4 || page3[3].TrackingID != "Dec-2024-002" {
		t.Errorf("page 3 has %v, want 4 batches ending with Dec-2024-002", trackingIDs(page3))
	}
	_, info = e.batches(base + "?page_size=7")
	if info.TotalPages != 4 || info.NextPage == nil || *info.NextPage != 2 || info.PreviousPage != nil {
		t.Errorf("page 1 info %+v", info)
	}
	_, info = e.batches(base + "?page=9")
	if info.Items != 0 || info.NextPage != nil {
		t.Errorf("past the end %+v", info)
	}
	desc, _ := e.batches(base + "?sort=-start_time,-tracking_id&page_size=1")
	if len(desc) != 1 || desc[0].TrackingID != "Dec-2024-002" {
		t.Errorf("descending sort gave %v, want [Dec-2024-002]", trackingIDs(desc))
	}
	filtered, info := e.batches(base + "?filter[start_time][geq]=2024-03-01&filter[end_time][leq]=2024-04-30T23:59:59Z")
	if info.TotalItems != 4 || len(filtered) != 4 {
		t.Errorf("range filter: %d", info.TotalItems)
	}
	var points struct{ Info wireInfo }
	e.get(fmt.Sprintf("/api/v1/projects/%d/data_points?page_size=100&filter[data_point_type_id][eq]=14", demoProjectID), &points)
	if points.Info.TotalItems != 1 {
		t.Errorf("soil temperature points: %d", points.Info.TotalItems)
	}

	for _, q := range []string{
		"?page=0", "?page=x", "?page_size=0", "?page_size=101", "?page_size=-1", "?sort=colour", "?sort=-", "?filter[colour][eq]=red",
		"?filter[state][gt]=x", "?filter[start_time][geq]=soon", "?filter=1", "?filter[project_id][eq]=abc",
	} {
		r := e.do("GET", base+q, e.tok.ReadWrite, nil)
		if r.status != 400 || r.message(t) == "" {
			t.Errorf("%s: %d %s", q, r.status, r.body)
		}
	}
	if r := e.do("GET", "/api/v1/batches?page_size=101", e.tok.ReadWrite, nil); !strings.Contains(r.message(t), "at most 100") {
		t.Errorf("max page size message: %s", r.body)
	}
}

// TestConcurrentGenerations starts two overlapping generations on one ledger at once.
func TestConcurrentGenerations(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{StepDelay: 2 * time.Millisecond})
	ncr := e.ledgerID("Net Carbon Removal")
	bodies := []map[string]string{
		{"start_time": "2025-01-01", "end_time": "2025-02-28"},
		{"start_time": "2025-02-01", "end_time": "2025-03-31"},
		{"start_time": "2024-11-01", "end_time": "2025-03-31"},
	}
	tasks := make([]wireTask, len(bodies))
	var wg sync.WaitGroup
	for i, b := range bodies {
		wg.Go(func() {
			r := e.do("POST", "/api/v1/ledgers/"+ncr+"/batch_generations", e.tok.ReadWrite, b)
			if r.status != 202 {
				t.Errorf("start %d: %d %s", i, r.status, r.body)
				return
			}
			if err := json.Unmarshal(r.body, &tasks[i]); err != nil { // not r.decode: t.Fatal belongs to the test's goroutine
				t.Errorf("start %d: %v in %s", i, err, r.body)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for _, task := range tasks {
		if done := e.waitTask(task.ID); done.State != "complete" {
			t.Errorf("task %+v", done)
		}
	}
	var dup int
	e.s.db.QueryRow(`SELECT COUNT(*) FROM (SELECT ledger_id, period_start, partition_key FROM batches GROUP BY 1, 2, 3 HAVING COUNT(*) > 1)`).Scan(&dup)
	if dup != 0 {
		t.Errorf("%d duplicated batches", dup)
	}
	_, info := e.batches("/api/v1/ledgers/" + ncr + "/batches")
	if info.TotalItems != 30 {
		t.Errorf("NCR has %d batches, want 30 (24 for 2024 + 6)", info.TotalItems)
	}
	var trackDup int
	e.s.db.QueryRow(`SELECT COUNT(*) FROM (SELECT ledger_id, tracking_id FROM batches GROUP BY 1, 2 HAVING COUNT(*) > 1)`).Scan(&trackDup)
	if trackDup != 0 {
		t.Errorf("%d duplicated tracking ids", trackDup)
	}
}

// TestRestartRecovery closes the sandbox mid-generation and opens the same file again.
func TestRestartRecovery(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sandbox.db")
	e := newEnv(t, Options{DBPath: path, StepDelay: time.Minute})
	ncr := e.ledgerID("Net Carbon Removal")
	task := e.startGeneration(ncr, q1)
	deadline := time.Now().Add(5 * time.Second)
	var running wireTask
	for time.Now().Before(deadline) {
		e.get("/api/v1/async_tasks/"+strconv.FormatInt(task.ID, 10), &running)
		if running.State == "running" && running.ProgressDescription != nil {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	if running.State != "running" || running.ProgressDescription == nil || *running.ProgressDescription != "Processing batch 1 of 12" || running.StartedAt == nil {
		t.Fatalf("task did not run: %+v", running)
	}
	closeStart := time.Now()
	if err := e.s.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(closeStart); d > 2*time.Second {
		t.Errorf("Close took %v despite a one-minute StepDelay", d)
	}
	if err := e.s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	tokens := e.tok

	e2 := newEnv(t, Options{DBPath: path})
	if e2.tok != tokens {
		t.Errorf("tokens changed across restart: %+v vs %+v", e2.tok, tokens)
	}
	var after wireTask
	e2.get("/api/v1/async_tasks/"+strconv.FormatInt(task.ID, 10), &after)
	if after.State != "failed" || after.ErrorMessage == nil || *after.ErrorMessage != restartMessage || after.FinishedAt == nil {
		t.Fatalf("after restart %+v", after)
	}
	// The seeded history was not seeded twice, and the range can be generated again.
	_, info := e2.batches("/api/v1/ledgers/" + ncr + "/batches")
	if info.TotalItems != 24 {
		t.Errorf("%d batches after restart", info.TotalItems)
	}
	if done := e2.waitTask(e2.startGeneration(ncr, q1).ID); done.State != "complete" {
		t.Errorf("rerun %+v", done)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	fixed := time.Date(2025, 4, 1, 12, 0, 30, 0, time.UTC)
	e.s.limiter.mu.Lock()
	e.s.limiter.now = func() time.Time { return fixed }
	e.s.limiter.mu.Unlock()
	for i := 1; i <= rateLimit; i++ {
		r := e.do("GET", "/api/v1/projects", e.tok.ReadOnly, nil)
		if r.status != 200 {
			t.Fatalf("request %d: %d", i, r.status)
		}
		if i == rateLimit && r.header.Get("RateLimit-Remaining") != "0" {
			t.Errorf("remaining after %d: %s", i, r.header.Get("RateLimit-Remaining"))
		}
	}
	r := e.do("GET", "/api/v1/projects", e.tok.ReadOnly, nil)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "30" || r.message(t) == "" {
		t.Fatalf("over the limit: %d Retry-After %q %s", r.status, r.header.Get("Retry-After"), r.body)
	}
	if r.header.Get("RateLimit-Reset") != strconv.FormatInt(fixed.Truncate(time.Minute).Add(time.Minute).Unix(), 10) {
		t.Errorf("reset %s", r.header.Get("RateLimit-Reset"))
	}
	// Another token has its own window; the next minute starts afresh.
	if r := e.do("GET", "/api/v1/projects", e.tok.ReadWrite, nil); r.status != 200 {
		t.Errorf("other token limited: %d", r.status)
	}
	e.s.limiter.mu.Lock()
	e.s.limiter.now = func() time.Time { return fixed.Add(30 * time.Second) }
	e.s.limiter.mu.Unlock()
	if r := e.do("GET", "/api/v1/projects", e.tok.ReadOnly, nil); r.status != 200 || r.header.Get("RateLimit-Remaining") != "999" {
		t.Errorf("next window: %d %s", r.status, r.header.Get("RateLimit-Remaining"))
	}
}

// TestSeededIDs pins the ids README.md documents: the seed is deterministic.
func TestSeededIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	want := map[string]string{
		"Net Carbon Removal": "lgr_3047w5rbxmym",
		"Biochar Produced":   "lgr_9zcc26rt5i43",
		"Biochar Inventory":  "lgr_vq27b9bmrler",
	}
	for name, id := range want {
		if got := e.ledgerID(name); got != id {
			t.Errorf("%s = %s, want %s", name, got, id)
		}
	}
	var p projectJSON
	e.get(fmt.Sprintf("/api/v1/projects/%d", demoProjectID), &p)
	if p.Name != "Cedar Ridge Biochar" {
		t.Errorf("project %+v", p)
	}
}
