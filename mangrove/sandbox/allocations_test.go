package sandbox

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
)

// allocBatch is a batch as GET /batches/{id} answers it, with its allocations.
type allocBatch struct {
	wireBatch
	DownstreamBatchAllocations []batchAllocationJSON `json:"downstream_batch_allocations"`
}

// batchByTracking finds a ledger's batch by tracking id through the API.
func (e *testEnv) batchByTracking(ledger, tracking string) wireBatch {
	e.t.Helper()
	list, _ := e.batches("/api/v1/ledgers/" + ledger + "/batches?filter[tracking_id][eq]=" + tracking)
	if len(list) != 1 {
		e.t.Fatalf("%d batches %s on %s", len(list), tracking, ledger)
	}
	return list[0]
}

func (e *testEnv) allocationRows() int {
	e.t.Helper()
	var n int
	if err := e.s.db.QueryRow(`SELECT COUNT(*) FROM allocations`).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func amounts(start, end string, items ...map[string]any) map[string]any {
	return map[string]any{"start_time": start, "end_time": end, "batch_amounts": items}
}

// TestLedgerBalanceWithoutAllocations: with nothing allocated, every batch's
// ledger_balance is its own primary output (not a running total of the ledger), and
// its allocations are an empty array.
func TestLedgerBalanceWithoutAllocations(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	for _, name := range []string{"Net Carbon Removal", "Biochar Produced"} {
		list, info := e.batches("/api/v1/ledgers/" + e.ledgerID(name) + "/batches?sort=start_time&page_size=100")
		if info.TotalItems < 20 {
			t.Fatalf("%s has %d batches", name, info.TotalItems)
		}
		for _, b := range list {
			if b.LedgerBalance != b.PrimaryOutput.Value || b.Allocations == nil || len(b.Allocations) != 0 {
				t.Errorf("%s %s: ledger_balance %v, primary output %v, allocations %v", name, b.TrackingID, b.LedgerBalance, b.PrimaryOutput.Value, b.Allocations)
			}
		}
	}
}

// TestAllocations allocates part of a Biochar Produced batch to the Net Carbon Removal
// batch of the same month and feedstock through batch_amounts.
func TestAllocations(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	ncr, bp := e.ledgerID("Net Carbon Removal"), e.ledgerID("Biochar Produced")
	const start, end = "2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z"
	up := e.batchByTracking(bp, "Mar-2024-001")
	down := e.batchByTracking(ncr, "Mar-2024-001")
	if len(up.Feedstocks) != 1 || len(down.Feedstocks) != 1 || up.Feedstocks[0] != down.Feedstocks[0] || up.PrimaryOutput.Value < 40 {
		t.Fatalf("upstream %+v, downstream %+v: want one feedstock each, the same, and at least 40 t upstream", up, down)
	}
	value := up.PrimaryOutput.Value

	t.Run("RequiredInputGroups", func(t *testing.T) {
		e := e.with(t)
		var inputs struct{ Data []requiredInputJSON }
		e.get("/api/v1/ledgers/"+ncr+"/required_inputs", &inputs)
		for _, in := range inputs.Data {
			want := "[]"
			if in.Slug == "biochar-mass-produced" {
				want = `[{biochar-produced Biochar produced}]`
			}
			if got := fmt.Sprint(in.AllocationGroups); got != want || in.AllocationGroups == nil {
				t.Errorf("%s: allocation_groups %s, want %s", in.Slug, got, want)
			}
		}
		r := e.do("GET", "/api/v1/ledgers/"+ncr+"/required_inputs", e.tok.ReadWrite, nil)
		if !strings.Contains(string(r.body), `"allocation_groups":[{"id":"biochar-produced","name":"Biochar produced"}]`) {
			t.Errorf("required inputs JSON: %s", r.body)
		}
	})

	t.Run("PreviewWritesNothing", func(t *testing.T) {
		e := e.with(t)
		p := e.preview(ncr, amounts(start, end, map[string]any{"batch_id": up.ID, "primary_output_amount": 40}))
		if p["Net Carbon Removal"] != 2 {
			t.Errorf("preview %v", p)
		}
		if n := e.allocationRows(); n != 0 {
			t.Errorf("the preview wrote %d allocations", n)
		}
		if b := e.batchByTracking(bp, "Mar-2024-001"); b.LedgerBalance != value {
			t.Errorf("after the preview, ledger_balance %v, want %v", b.LedgerBalance, value)
		}
	})

	t.Run("Allocate40", func(t *testing.T) {
		e := e.with(t)
		e.waitComplete(e.startGeneration(ncr, amounts(start, end, map[string]any{"batch_id": up.ID, "primary_output_amount": 40, "allocation_group": nil})).ID)
		var u allocBatch
		e.get("/api/v1/batches/"+up.ID, &u)
		if u.PrimaryOutput.Value != value || math.Abs(u.LedgerBalance-(value-40)) > 1e-9 {
			t.Errorf("upstream output %v, ledger_balance %v: want %v and %v", u.PrimaryOutput.Value, u.LedgerBalance, value, value-40)
		}
		if len(u.DownstreamBatchAllocations) != 1 {
			t.Fatalf("downstream_batch_allocations %+v", u.DownstreamBatchAllocations)
		}
		a := u.DownstreamBatchAllocations[0]
		if a.Amount != 40 || a.Allocation.Amount != 40 || a.Allocation.ID == 0 || a.Unit == nil || *a.Unit != "t" || a.AllocationGroup == nil ||
			*a.AllocationGroup != "biochar-produced" || a.Batch.ID != down.ID || a.Batch.TrackingID != "Mar-2024-001" || a.Batch.Ledger.Name != "Net Carbon Removal" {
			t.Errorf("downstream allocation %+v", a)
		}
		if len(u.Allocations) != 0 {
			t.Errorf("the upstream batch received %+v", u.Allocations)
		}
		d := e.batchByTracking(ncr, "Mar-2024-001")
		if len(d.Allocations) != 1 || d.Allocations[0].Amount != 40 || d.Allocations[0].Batch.ID != up.ID ||
			d.Allocations[0].Allocation.ID != a.Allocation.ID || d.Allocations[0].Batch.Ledger.Name != "Biochar Produced" {
			t.Errorf("downstream allocations %+v", d.Allocations)
		}
		if d.LedgerBalance != d.PrimaryOutput.Value {
			t.Errorf("downstream ledger_balance %v, output %v: nothing was allocated from it", d.LedgerBalance, d.PrimaryOutput.Value)
		}
		// The list form shows the same balance.
		list, _ := e.batches("/api/v1/batches?filter[id][eq]=" + up.ID)
		if len(list) != 1 || list[0].LedgerBalance != u.LedgerBalance {
			t.Errorf("list form %+v", list)
		}
	})

	t.Run("RegenerationReplaces", func(t *testing.T) {
		e := e.with(t)
		// Again with 30: the 40 is replaced, not added to.
		e.waitComplete(e.startGeneration(ncr, amounts(start, end, map[string]any{"batch_id": up.ID, "primary_output_amount": 30, "allocation_group": "biochar-produced"})).ID)
		if b := e.batchByTracking(bp, "Mar-2024-001"); math.Abs(b.LedgerBalance-(value-30)) > 1e-9 {
			t.Errorf("after a second allocation of 30, ledger_balance %v, want %v", b.LedgerBalance, value-30)
		}
		if n := e.allocationRows(); n != 1 {
			t.Errorf("%d allocation rows, want 1", n)
		}
		// Without batch_amounts the batch keeps what it received.
		e.waitComplete(e.startGeneration(ncr, map[string]any{"start_time": start, "end_time": end}).ID)
		if d := e.batchByTracking(ncr, "Mar-2024-001"); len(d.Allocations) != 1 || d.Allocations[0].Amount != 30 {
			t.Errorf("after regenerating without batch_amounts: %+v", d.Allocations)
		}
		// The whole output can go, since the 30 it replaces is counted back.
		e.waitComplete(e.startGeneration(ncr, amounts(start, end, map[string]any{"batch_id": up.ID, "primary_output_amount": value})).ID)
		if b := e.batchByTracking(bp, "Mar-2024-001"); b.LedgerBalance != 0 {
			t.Errorf("after allocating all of it, ledger_balance %v", b.LedgerBalance)
		}
		e.waitComplete(e.startGeneration(ncr, amounts(start, end, map[string]any{"batch_id": up.ID, "primary_output_amount": 40})).ID)
	})

	other := e.batchByTracking(bp, "Apr-2024-001")
	ncrBatch := e.batchByTracking(ncr, "Mar-2024-002")
	april := func(items ...map[string]any) map[string]any {
		return amounts("2024-04-01T00:00:00Z", "2024-05-01T00:00:00Z", items...)
	}
	tests := []struct {
		name, ledger string
		body         map[string]any
		want         int
		msgs         []string
	}{
		{"UnknownBatch", ncr, amounts(start, end, map[string]any{"batch_id": "bat_nope", "primary_output_amount": 1}), 404, []string{"bat_nope"}},
		{"MoreThanBalance", ncr, april(map[string]any{"batch_id": other.ID, "primary_output_amount": other.PrimaryOutput.Value + 40}), 422,
			[]string{other.ID, formatAmount(other.PrimaryOutput.Value + 40), "unallocated balance", formatAmount(other.PrimaryOutput.Value)}},
		{"MoreThanBalanceAndReplaced", ncr, amounts(start, end, map[string]any{"batch_id": up.ID, "primary_output_amount": value + 40}), 422,
			[]string{up.ID, formatAmount(value + 40), "ledger_balance " + formatAmount(value-40), "the 40 it gave"}},
		{"NotFeedingLedger", ncr, amounts(start, end, map[string]any{"batch_id": ncrBatch.ID, "primary_output_amount": 1}), 422,
			[]string{ncrBatch.ID, "feeds no manual-select input", "Biochar Produced (" + bp + ")"}},
		{"LedgerWithoutManualInput", bp, amounts(start, end, map[string]any{"batch_id": up.ID, "primary_output_amount": 1}), 422,
			[]string{"no manual-select input"}},
		{"NoDownstreamBatch", ncr, april(map[string]any{"batch_id": up.ID, "primary_output_amount": 1}), 422,
			[]string{up.ID, "2024-03-01 to 2024-03-31", "range must include"}},
		{"ZeroAmount", ncr, amounts(start, end, map[string]any{"batch_id": up.ID, "primary_output_amount": 0}), 422, []string{"greater than 0"}},
		{"NegativeAmount", ncr, amounts(start, end, map[string]any{"batch_id": up.ID, "primary_output_amount": -5}), 422, []string{"greater than 0", "-5"}},
		{"UnknownGroup", ncr, amounts(start, end, map[string]any{"batch_id": up.ID, "primary_output_amount": 1, "allocation_group": "nope"}), 422,
			[]string{`"nope"`, "biochar-produced"}},
		{"GroupNotAString", ncr, amounts(start, end, map[string]any{"batch_id": up.ID, "primary_output_amount": 1, "allocation_group": 5}), 422,
			[]string{"allocation_group"}},
		{"SameBatchTwice", ncr, amounts(start, end, map[string]any{"batch_id": up.ID, "primary_output_amount": 1},
			map[string]any{"batch_id": up.ID, "primary_output_amount": 2}), 422, []string{"already in batch_amounts[0]"}},
		{"NoBatchID", ncr, amounts(start, end, map[string]any{"primary_output_amount": 1}), 422, []string{"batch_id is required"}},
	}
	for _, tt := range tests {
		for _, action := range []string{"generate_preview", "batch_generations"} {
			t.Run(tt.name+"/"+action, func(t *testing.T) {
				r := e.do("POST", "/api/v1/ledgers/"+tt.ledger+"/"+action, e.tok.ReadWrite, tt.body)
				msg := r.message(t)
				if r.status != tt.want || msg == "" {
					t.Fatalf("%d %s, want %d with a message", r.status, r.body, tt.want)
				}
				for _, m := range tt.msgs {
					if !strings.Contains(msg, m) {
						t.Errorf("message %q does not say %q", msg, m)
					}
				}
			})
		}
	}
	// The refused requests changed nothing: the 40 of the last generation stands.
	if b := e.batchByTracking(bp, "Mar-2024-001"); math.Abs(b.LedgerBalance-(value-40)) > 1e-9 || e.with(t).allocationRows() != 1 {
		t.Errorf("after the refused requests, ledger_balance %v (want %v)", b.LedgerBalance, value-40)
	}
	if b := e.batchByTracking(bp, "Apr-2024-001"); b.LedgerBalance != other.PrimaryOutput.Value {
		t.Errorf("April's ledger_balance %v, want %v", b.LedgerBalance, other.PrimaryOutput.Value)
	}
}

// TestAllocationsCheckedAtExecution: a task checks its batch_amounts again when it runs
// (the batch may be gone or spent by then) and fails with the request's message.
func TestAllocationsCheckedAtExecution(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	ctx := context.Background()
	l, err := ledgerByFriendlyID(ctx, e.s.db, demoProjectID, e.ledgerID("Net Carbon Removal"))
	if err != nil || l == nil {
		t.Fatal(err)
	}
	task, err := createTask(ctx, e.s.db, demoProjectID, l.ID, genParams{Start: ms(2024, 4, 1), End: ms(2024, 5, 1),
		BatchAmounts: []batchAmount{{BatchID: "bat_gone", Amount: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.s.eng.execute(ctx, task.ID, 0); err != nil {
		t.Fatal(err)
	}
	var done wireTask
	e.get(fmt.Sprintf("/api/v1/async_tasks/%d", task.ID), &done)
	if done.State != "failed" || done.ErrorMessage == nil || !strings.Contains(*done.ErrorMessage, "bat_gone") {
		t.Errorf("task %+v", done)
	}
}

// TestLedgerBalanceCountsReportAllocations: what went to a report leaves the batch too
// (the documented example: output 100.5, a report allocation of 50.25, ledger_balance
// 50.25). The sandbox has no reports to allocate to, so the row is written directly.
func TestLedgerBalanceCountsReportAllocations(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	up := e.batchByTracking(e.ledgerID("Biochar Produced"), "Jan-2024-001")
	if _, err := e.s.db.Exec(`INSERT INTO allocations (project_id, from_batch_id, report_id, amount, unit, created_at)
		SELECT project_id, id, 'rpt_abc123', ?, 't', 0 FROM batches WHERE friendly_id = ?`, up.PrimaryOutput.Value/2, up.ID); err != nil {
		t.Fatal(err)
	}
	var d allocBatch
	e.get("/api/v1/batches/"+up.ID, &d)
	if math.Abs(d.LedgerBalance-up.PrimaryOutput.Value/2) > 1e-6 || len(d.DownstreamBatchAllocations) != 0 {
		t.Errorf("ledger_balance %v of %v, downstream %+v", d.LedgerBalance, up.PrimaryOutput.Value, d.DownstreamBatchAllocations)
	}
	if r := e.do("GET", "/api/v1/batches/"+up.ID, e.tok.ReadWrite, nil); r.status != http.StatusOK {
		t.Errorf("%d %s", r.status, r.body)
	}
}

// TestMigrationAllocations: a file at schema version 3 gets the allocations table and
// its demo input's allocation group when it is opened by this sandbox.
func TestMigrationAllocations(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	db := e.s.db
	for _, q := range []string{`DROP TABLE allocations`, `ALTER TABLE model_inputs DROP COLUMN allocation_groups`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	// Back at version 3's schema: run version 4 alone, as migrate does on such a file.
	if _, err := db.Exec(migrations[3]); err != nil {
		t.Fatal(err)
	}
	var groups []string
	rows, err := db.Query(`SELECT allocation_groups FROM model_inputs WHERE is_manual_select = 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var g string
		rows.Scan(&g)
		groups = append(groups, g)
	}
	rows.Close()
	if len(groups) != 1 || groups[0] != biocharAllocationGroups {
		t.Errorf("manual-select inputs' groups after the migration: %v", groups)
	}
	var n int
	db.QueryRow(`SELECT COUNT(*) FROM model_inputs WHERE allocation_groups <> '[]'`).Scan(&n)
	if n != 1 {
		t.Errorf("%d inputs with groups", n)
	}
}
