package forms

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Hash returns a canonical SHA-256 (hex) of the parameters: times in UTC
// to the nanosecond, data point ids and skipped ids sorted and
// de-duplicated, batch amounts sorted by batch id. Two parameter sets that
// ask the API for the same generation have the same hash; it binds a
// confirmation key to what was previewed.
func (p GenerationParams) Hash() string {
	type amount struct {
		BatchID string `json:"batch_id"`
		Amount  string `json:"amount"`
		Group   string `json:"group"`
	}
	canon := struct {
		V       int      `json:"v"`
		Start   string   `json:"start"`
		End     string   `json:"end"`
		IDs     []string `json:"ids"`
		Skipped []int64  `json:"skipped"`
		Amounts []amount `json:"amounts"`
	}{
		V:       1,
		Start:   p.Start.UTC().Format(time.RFC3339Nano),
		End:     p.End.UTC().Format(time.RFC3339Nano),
		IDs:     slices.Compact(slices.Sorted(slices.Values(p.DataPointIDs))),
		Skipped: slices.Compact(slices.Sorted(slices.Values(p.SkippedTypeIDs))),
		Amounts: []amount{},
	}
	if canon.IDs == nil {
		canon.IDs = []string{}
	}
	if canon.Skipped == nil {
		canon.Skipped = []int64{}
	}
	for _, a := range p.BatchAmounts {
		v := a.Amount
		if v == 0 {
			v = 0
		}
		canon.Amounts = append(canon.Amounts, amount{BatchID: a.BatchID, Amount: strconv.FormatFloat(v, 'g', -1, 64), Group: a.AllocationGroup})
	}
	slices.SortFunc(canon.Amounts, func(x, y amount) int {
		if c := strings.Compare(x.BatchID, y.BatchID); c != 0 {
			return c
		}
		if c := strings.Compare(x.Amount, y.Amount); c != 0 {
			return c
		}
		return strings.Compare(x.Group, y.Group)
	})
	b, err := json.Marshal(canon)
	if err != nil {
		panic("forms: marshal canonical params: " + err.Error()) // strings and ints only
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// BindingHash ties a confirmation key to one ledger and one set of
// parameters.
func BindingHash(ledgerID string, p GenerationParams) string {
	sum := sha256.Sum256([]byte(ledgerID + "\x00" + p.Hash()))
	return hex.EncodeToString(sum[:])
}
