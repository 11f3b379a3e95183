package mangrove

import (
	"context"
	"encoding/json"
	"net/http"
)

// RequiredInput is one data input a ledger's model needs; ID is the data point type id.
type RequiredInput struct {
	ID          int64   `json:"id"`
	Name        string  `json:"name"`
	Slug        string  `json:"slug"`
	Unit        *string `json:"unit"`
	ValueType   string  `json:"value_type"`  // e.g. "number"
	Category    string  `json:"category"`    // e.g. "input"
	Subcategory string  `json:"subcategory"` // e.g. "feedstock", "transport"
	// IsManualSelect is true when the values come from other ledgers: the user may have
	// to pick data points (GenerationRequest.DataPointIDs).
	IsManualSelect   bool              `json:"is_manual_select"`
	AllocationGroups []json.RawMessage `json:"allocation_groups"` // item shape undocumented
	OutputOfLedgers  []json.RawMessage `json:"output_of_ledgers"` // ledgers whose output feeds this input
}

// RequiredInputs returns GET /ledgers/{ledgerID}/required_inputs.
func (c *Client) RequiredInputs(ctx context.Context, token, ledgerID string) ([]RequiredInput, error) {
	id, err := pathSegment("ledger", ledgerID)
	if err != nil {
		return nil, err
	}
	l, err := getList[RequiredInput](ctx, c, token, call{method: http.MethodGet, path: "/ledgers/" + id + "/required_inputs"})
	if err != nil {
		return nil, err
	}
	return l.Data, nil
}
