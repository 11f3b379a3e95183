package mangrove

import (
	"cmp"
	"encoding/json"
	"strings"
)

// Names reads names from arrays whose item shape is not documented
// (RequiredInput.OutputOfLedgers, Batch.Feedstocks): objects with a name (or
// an id), or plain strings. Items of another shape are left out.
func Names(raw []json.RawMessage) []string {
	var names []string
	for _, r := range raw {
		var obj struct {
			ID   json.RawMessage // a string or a number
			Name string
		}
		if json.Unmarshal(r, &obj) == nil && (obj.Name != "" || len(obj.ID) > 0) {
			names = append(names, cmp.Or(obj.Name, strings.Trim(string(obj.ID), `"`)))
			continue
		}
		var s string
		if json.Unmarshal(r, &s) == nil && s != "" {
			names = append(names, s)
		}
	}
	return names
}

// Deref is the value of an optional (nullable) field, or its zero value
// when the API sent none.
func Deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}
