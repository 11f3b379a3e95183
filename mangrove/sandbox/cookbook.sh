#!/usr/bin/env bash
# The public "Generating batches via the API" cookbook, step by step with curl
# and jq, against any Mangrove API: the sandbox by default. Only the base URL
# and the token differ from the cookbook.
#   BASE=http://127.0.0.1:8081/api/v1 TOKEN=sbx_rw_… ./cookbook.sh
set -euo pipefail
BASE=${BASE:-http://127.0.0.1:8081/api/v1}
: "${TOKEN:?set TOKEN to a read-write token}"
START=${START:-2025-01-01T00:00:00Z}
END=${END:-2025-03-31T23:59:59Z}
LEDGER_NAME=${LEDGER_NAME:-Net Carbon Removal}
auth=(-H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json")

# 1. Find the ledger and check it has a model.
ledger=$(curl -sf "${auth[@]}" "$BASE/ledgers?page_size=100" | jq -c --arg n "$LEDGER_NAME" '.data[] | select(.name == $n)')
LEDGER_ID=$(jq -r .id <<<"$ledger")
[ "$(jq -r .latest_model <<<"$ledger")" != null ] || { echo "ledger has no model"; exit 1; }
echo "1. ledger $LEDGER_ID ($LEDGER_NAME), model $(jq -r .latest_model.name <<<"$ledger")"

# 2. Required inputs.
curl -sf "${auth[@]}" "$BASE/ledgers/$LEDGER_ID/required_inputs" |
  jq -r '"2. " + (.data | length | tostring) + " required inputs; manual select: " + ([.data[] | select(.is_manual_select) | .slug] | join(", "))'

# 3. Preview.
body=$(jq -nc --arg s "$START" --arg e "$END" '{start_time: $s, end_time: $e}')
preview=$(curl -sf "${auth[@]}" -X POST -d "$body" "$BASE/ledgers/$LEDGER_ID/generate_preview")
expected=$(jq --arg id "$LEDGER_ID" '[.data[] | select(.id == $id) | .count] | add // 0' <<<"$preview")
echo "3. preview: $(jq -c '[.data[] | {name, count}]' <<<"$preview")"

count_batches() { curl -sf "${auth[@]}" "$BASE/ledgers/$LEDGER_ID/batches?page_size=1" | jq .info.total_items; }
before=$(count_batches)

# 4. Create, 5. poll until complete or failed.
generate() {
  local task state
  task=$(curl -sf "${auth[@]}" -X POST -d "$body" -w '\n%{http_code}' "$BASE/ledgers/$LEDGER_ID/batch_generations")
  [ "$(tail -n1 <<<"$task")" = 202 ] || { echo "expected 202: $task"; exit 1; }
  TASK_ID=$(head -n1 <<<"$task" | jq .id)
  while :; do
    t=$(curl -sf "${auth[@]}" "$BASE/async_tasks/$TASK_ID")
    state=$(jq -r .state <<<"$t")
    case $state in complete) break ;; failed) echo "task failed: $(jq -r .error_message <<<"$t")"; exit 1 ;; esac
    sleep "${POLL:-0.2}"
  done
}
generate
echo "4-5. task $TASK_ID complete"

# 6. Verify: the newest batches, as many new as the preview said, non-zero outputs.
after=$(count_batches)
new=$((after - before))
curl -sf "${auth[@]}" "$BASE/ledgers/$LEDGER_ID/batches?sort=-created_at&page_size=$expected" |
  jq -r '.data[] | "   \(.tracking_id)  \(.start_time[0:7])  \(.state)  \(.primary_output.value) \(.primary_output.unit)"'
zero=$(curl -sf "${auth[@]}" "$BASE/ledgers/$LEDGER_ID/batches?sort=-created_at&page_size=$expected" | jq '[.data[] | select(.primary_output.value == 0)] | length')
echo "6. $new new batches (preview said $expected), $zero with a zero output"
[ "$new" = "$expected" ] && [ "$zero" = 0 ] || { echo "FAIL"; exit 1; }

# Generating the same range again updates, never duplicates.
generate
[ "$(count_batches)" = "$after" ] || { echo "FAIL: a second generation changed the batch count"; exit 1; }
echo "again: task $TASK_ID complete, batch count unchanged at $after"
