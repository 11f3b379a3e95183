package checkapi

// The fields the dashboard reads, per response, with the JSON type the
// reference gives them (mangrove-api-reference.md, the section named on
// each list). Needed marks those without which pages break or show wrong
// numbers; the rest are shown when present and left blank when not.

// ledgerFields: a ledger of GET /ledgers and GET /ledgers/{id} (3.1).
var ledgerFields = []Field{
	{Path: "id", Kind: String, Needed: true},
	{Path: "name", Kind: String, Needed: true},
	{Path: "unit", Kind: String, Nullable: true},
	{Path: "cadence", Kind: String, Nullable: true}, // the coverage infers it from the batches when absent
	{Path: "partition_type", Kind: String, Nullable: true},
	{Path: "system_ledger_type", Kind: String, Nullable: true},
	// null means no model: generation impossible (the cookbook's rule); an
	// absent key would read as "no model" on every ledger.
	{Path: "latest_model", Kind: Object, Nullable: true, Needed: true},
	{Path: "latest_model.id", Kind: String, Needed: true},
	{Path: "latest_model.name", Kind: String},
	{Path: "created_at", Kind: Time},
	{Path: "updated_at", Kind: Time},
}

// requiredInputFields: an item of GET /ledgers/{id}/required_inputs (3.1).
var requiredInputFields = []Field{
	{Path: "id", Kind: Integer, Needed: true}, // skipped_data_point_type_ids are these ids
	{Path: "name", Kind: String, Needed: true},
	{Path: "slug", Kind: String, Needed: true}, // the input check matches data points by slug
	{Path: "unit", Kind: String, Nullable: true},
	{Path: "value_type", Kind: String},
	{Path: "category", Kind: String},
	{Path: "subcategory", Kind: String},
	{Path: "is_manual_select", Kind: Bool, Needed: true},
	{Path: "allocation_groups", Kind: Array, Needed: true},
	{Path: "output_of_ledgers", Kind: Array, Needed: true},
}

// listInfoFields: the info of a paginated list (2.4), as the pagers and the
// page-by-page readers use it.
var listInfoFields = []Field{
	{Path: "info.total_pages", Kind: Integer, Needed: true},
	{Path: "info.next_page", Kind: Integer, Nullable: true, Needed: true},
	{Path: "info.total_items", Kind: Integer},
	{Path: "info.current_page", Kind: Integer},
	{Path: "info.page_size", Kind: Integer},
}

// batchFields: a batch of GET /ledgers/{id}/batches and GET /batches/{id} (3.3).
var batchFields = []Field{
	{Path: "id", Kind: String, Needed: true},
	{Path: "tracking_id", Kind: String, Nullable: true},
	{Path: "start_time", Kind: Time, Needed: true},
	{Path: "end_time", Kind: Time, Needed: true},
	{Path: "state", Kind: String, Needed: true},
	{Path: "created_at", Kind: Time, Needed: true}, // the produced-batches list matches on it
	{Path: "updated_at", Kind: Time, Needed: true},
	{Path: "primary_output", Kind: Object, Needed: true},
	{Path: "primary_output.value", Kind: Number, Needed: true},
	{Path: "primary_output.unit", Kind: String, Nullable: true},
	{Path: "ledger_balance", Kind: Number, Needed: true}, // the batch's unallocated amount
	{Path: "model_run", Kind: Object, Nullable: true},
	{Path: "model_run.state", Kind: String},
	{Path: "model_run.error_message", Kind: String, Nullable: true},
	{Path: "feedstocks", Kind: Array},
}

// batchDetailFields: what GET /batches/{id} adds (3.3, 3.5).
var batchDetailFields = []Field{
	{Path: "allocations", Kind: Array},
	{Path: "model_run.calculations", Kind: Array, Needed: true},
	{Path: "model_run.calculations[].id", Kind: Integer},
	{Path: "model_run.calculations[].name", Kind: String, Needed: true},
	{Path: "model_run.calculations[].value", Kind: Number, Needed: true},
	{Path: "model_run.calculations[].unit", Kind: String, Nullable: true},
	{Path: "model_run.calculations[].category", Kind: String, Nullable: true},
	{Path: "model_run.calculations[].ghg", Kind: Any},
	{Path: "model_run.calculations[].lca_role", Kind: Any},
	{Path: "model_run.output_data_points", Kind: Array},
	{Path: "input_data", Kind: Array},
	{Path: "input_data[].data_point", Kind: Object},
	{Path: "input_data[].event", Kind: Object, Nullable: true},
	{Path: "report_allocations", Kind: Array},
	{Path: "downstream_batch_allocations", Kind: Array},
}

// projectFields: an item of GET /projects (not documented beyond its
// existence; GET /projects/{id} shows integer ids, 3.7).
var projectFields = []Field{
	{Path: "id", Kind: Integer, Needed: true, Basis: Guess}, // events are read by it
	{Path: "name", Kind: String, Basis: Guess},
}

// eventFields: an item of GET /projects/{id}/events (3.8), as the data
// range and the preview's input check read it. Needed: absent, the check
// would call data missing that is there.
var eventFields = []Field{
	{Path: "id", Kind: String},
	{Path: "start_time", Kind: Time, Needed: true},
	{Path: "end_time", Kind: Time},
	{Path: "data_points", Kind: Array, Needed: true},
	{Path: "data_points[].slug", Kind: String, Needed: true},
	{Path: "data_points[].value", Kind: Any},
}

// taskFields: GET /async_tasks/{id} (3.2).
var taskFields = []Field{
	{Path: "id", Kind: Integer, Needed: true},
	{Path: "type", Kind: String},
	{Path: "state", Kind: String, Needed: true},
	{Path: "progress", Kind: Integer, Needed: true},
	{Path: "progress_description", Kind: String, Nullable: true},
	{Path: "started_at", Kind: Time, Nullable: true},
	{Path: "finished_at", Kind: Time, Nullable: true, Needed: true}, // an unknown state with finished_at set ends the watch
	{Path: "error_message", Kind: String, Nullable: true, Needed: true},
	{Path: "result", Kind: Any},
	{Path: "args", Kind: Any},
}
