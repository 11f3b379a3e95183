package views

import (
	"net/url"
	"strconv"
)

// URL helpers shared by views and redirects, so a route changes in one place.

func LedgersPath() string { return "/ledgers" }

func LedgerPath(id string) string { return "/ledgers/" + url.PathEscape(id) }

func GeneratePath(ledgerID string) string { return LedgerPath(ledgerID) + "/generate" }

func PreviewPath(ledgerID string) string { return LedgerPath(ledgerID) + "/preview" }

func GenerationsPath(ledgerID string) string { return LedgerPath(ledgerID) + "/generations" }

func TasksPath() string { return "/tasks" }

func TaskPath(id int64) string { return "/tasks/" + strconv.FormatInt(id, 10) }

func TaskEventsPath(id int64) string { return TaskPath(id) + "/events" }

func TaskBatchesPath(id int64) string { return TaskPath(id) + "/batches" }

func LedgerBatchesCSVPath(id string) string { return LedgerPath(id) + "/batches.csv" }

func BatchPath(id string) string { return "/batches/" + url.PathEscape(id) }

// BatchOnLedgerPath is a batch's page opened from a ledger's table: the
// batch object names no ledger, so the link says which one it came from.
func BatchOnLedgerPath(id, ledgerID string) string {
	if ledgerID == "" {
		return BatchPath(id)
	}
	return BatchPath(id) + "?" + url.Values{"ledger": {ledgerID}}.Encode()
}

func TasksCSVPath() string { return "/tasks.csv" }
