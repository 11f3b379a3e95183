package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// The params and preview columns hold JSON in types this package owns, with
// a version, so that renaming a field elsewhere (in mangrove's API types or
// in views) cannot silently change how stored rows read. Rows written before
// these types existed are rewritten by migration 4 (upgradeRecords).

// RecordVersion is the version of the JSON the store writes in params and preview columns.
const RecordVersion = 1

// GenerationParams are the parameters a generation was sent with.
//
// Version is RecordVersion on every row the store wrote or migrated; it is
// 0 when the row recorded no parameters or its JSON could not be decoded.
type GenerationParams struct {
	Version                 int           `json:"v"`
	StartTime               time.Time     `json:"start_time"`
	EndTime                 time.Time     `json:"end_time"`
	DataPointIDs            []string      `json:"data_point_ids,omitempty"`
	SkippedDataPointTypeIDs []int64       `json:"skipped_data_point_type_ids,omitempty"`
	BatchAmounts            []BatchAmount `json:"batch_amounts,omitempty"`
}

// BatchAmount is a custom primary output amount set on an existing batch.
type BatchAmount struct {
	BatchID             string  `json:"batch_id"`
	PrimaryOutputAmount float64 `json:"primary_output_amount"`
	AllocationGroup     string  `json:"allocation_group,omitempty"` // "" = none
}

// PreviewEntry is one ledger of the preview the user saw when confirming.
type PreviewEntry struct {
	LedgerID   string `json:"ledger_id"`
	LedgerName string `json:"ledger_name"`
	Count      int    `json:"count"`
	// Existing are the ledger's batches already in the range when the
	// preview was shown, with their outputs then, so that what a
	// regeneration changed can be shown later. Added within version 1:
	// rows written before it have none.
	Existing []ExistingBatch `json:"existing,omitempty"`
}

// ExistingBatch is a batch as it was when a preview was confirmed.
type ExistingBatch struct {
	BatchID    string    `json:"batch_id"`
	TrackingID string    `json:"tracking_id,omitempty"`
	StartTime  time.Time `json:"start_time"`
	EndTime    time.Time `json:"end_time"`
	Output     *float64  `json:"output,omitempty"` // nil: the batch had no primary output
	Unit       string    `json:"unit,omitempty"`
}

// previewRecord is the JSON of a preview column: an object rather than a
// bare array so that it can carry its version.
type previewRecord struct {
	Version int            `json:"v"`
	Entries []PreviewEntry `json:"entries"`
}

// jsonNull is what the store writes when there is nothing to record.
const jsonNull = "null"

// encodeParams is the params column text of p, at RecordVersion. Times are
// stored in UTC so the text does not depend on the caller's location.
func encodeParams(p GenerationParams) (string, error) {
	p.Version = RecordVersion
	p.StartTime, p.EndTime = p.StartTime.UTC(), p.EndTime.UTC()
	b, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("store: encode params: %w", err)
	}
	return string(b), nil
}

// decodeParams reads a params column. "null" (nothing recorded) is the zero
// value without error; any other text must be a RecordVersion object.
// Unknown fields are ignored so that a field added within a version does
// not make older code fail.
func decodeParams(text string) (GenerationParams, error) {
	if isNull(text) {
		return GenerationParams{}, nil
	}
	var p GenerationParams
	if err := unmarshalOne([]byte(text), &p, false); err != nil {
		return GenerationParams{}, fmt.Errorf("store: decode params: %w", err)
	}
	if p.Version != RecordVersion {
		return GenerationParams{}, fmt.Errorf("store: decode params: version %d, want %d", p.Version, RecordVersion)
	}
	return p, nil
}

// encodePreview is the preview column text of entries. An empty preview is
// stored as null: the views treat "no ledgers" and "not recorded" alike, and
// one representation keeps the column easy to query.
func encodePreview(entries []PreviewEntry) (string, error) {
	if len(entries) == 0 {
		return jsonNull, nil
	}
	b, err := json.Marshal(previewRecord{Version: RecordVersion, Entries: entries})
	if err != nil {
		return "", fmt.Errorf("store: encode preview: %w", err)
	}
	return string(b), nil
}

// decodePreview reads a preview column; "null" is a nil preview.
func decodePreview(text string) ([]PreviewEntry, error) {
	if isNull(text) {
		return nil, nil
	}
	var r previewRecord
	if err := unmarshalOne([]byte(text), &r, false); err != nil {
		return nil, fmt.Errorf("store: decode preview: %w", err)
	}
	if r.Version != RecordVersion {
		return nil, fmt.Errorf("store: decode preview: version %d, want %d", r.Version, RecordVersion)
	}
	return r.Entries, nil
}

// isNull reports whether a column holds no record: JSON null, or blank
// text, which no writer produced but a hand-edited row might.
func isNull(text string) bool {
	t := bytes.TrimSpace([]byte(text))
	return len(t) == 0 || string(t) == jsonNull
}

// unmarshalOne decodes exactly one JSON value from b into v, rejecting
// trailing data, and unknown fields when strict.
func unmarshalOne(b []byte, v any, strict bool) error {
	d := json.NewDecoder(bytes.NewReader(b))
	if strict {
		d.DisallowUnknownFields()
	}
	if err := d.Decode(v); err != nil {
		return err
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// errUnconvertible marks a stored value the migration does not recognise;
// the row is left as it is (and reads as zero params or a nil preview).
var errUnconvertible = errors.New("not a recognised params or preview record")

// legacyParams is the JSON handlers stored before RecordVersion 1: a
// marshalled mangrove.GenerationRequest, copied here so the migration does
// not depend on that type staying as it was.
type legacyParams struct {
	StartTime               *time.Time `json:"start_time"`
	EndTime                 *time.Time `json:"end_time"`
	DataPointIDs            []string   `json:"data_point_ids"`
	SkippedDataPointTypeIDs []int64    `json:"skipped_data_point_type_ids"`
	BatchAmounts            []*struct {
		BatchID             string  `json:"batch_id"`
		PrimaryOutputAmount float64 `json:"primary_output_amount"`
		AllocationGroup     *string `json:"allocation_group"`
	} `json:"batch_amounts"`
}

// legacyPreviewEntry is one element of the preview stored before
// RecordVersion 1: a views.PreviewEntry marshalled without json tags.
type legacyPreviewEntry struct {
	LedgerID string
	Name     string
	Count    int
}

// upgradeParams converts a params column value to the RecordVersion shape.
// A value already in that shape, and null, come back unchanged, so running
// it twice changes nothing. Anything it does not recognise exactly (unknown
// fields, missing times, another version, not JSON) is errUnconvertible:
// guessing could record parameters that were never sent.
func upgradeParams(text string) (string, error) {
	if isNull(text) {
		return text, nil
	}
	var fields map[string]json.RawMessage
	if err := unmarshalOne([]byte(text), &fields, false); err != nil || fields == nil {
		return "", errUnconvertible
	}
	if _, ok := fields["v"]; ok {
		if _, err := decodeParams(text); err != nil {
			return "", errUnconvertible
		}
		return text, nil
	}
	var old legacyParams
	if err := unmarshalOne([]byte(text), &old, true); err != nil || old.StartTime == nil || old.EndTime == nil {
		return "", errUnconvertible
	}
	p := GenerationParams{
		StartTime:               *old.StartTime,
		EndTime:                 *old.EndTime,
		DataPointIDs:            old.DataPointIDs,
		SkippedDataPointTypeIDs: old.SkippedDataPointTypeIDs,
	}
	for _, a := range old.BatchAmounts {
		if a == nil {
			return "", errUnconvertible
		}
		b := BatchAmount{BatchID: a.BatchID, PrimaryOutputAmount: a.PrimaryOutputAmount}
		if a.AllocationGroup != nil {
			b.AllocationGroup = *a.AllocationGroup
		}
		p.BatchAmounts = append(p.BatchAmounts, b)
	}
	out, err := encodeParams(p)
	if err != nil {
		return "", errUnconvertible
	}
	return out, nil
}

// upgradePreview converts a preview column value to the RecordVersion
// shape, like upgradeParams. The old empty array, the column default of
// keys issued before previews were recorded, becomes null.
func upgradePreview(text string) (string, error) {
	if isNull(text) {
		return text, nil
	}
	t := bytes.TrimSpace([]byte(text))
	if t[0] == '{' {
		if _, err := decodePreview(text); err != nil {
			return "", errUnconvertible
		}
		return text, nil
	}
	var old []*legacyPreviewEntry
	if err := unmarshalOne(t, &old, true); err != nil || old == nil {
		return "", errUnconvertible
	}
	entries := make([]PreviewEntry, len(old))
	for i, e := range old {
		if e == nil {
			return "", errUnconvertible
		}
		entries[i] = PreviewEntry{LedgerID: e.LedgerID, LedgerName: e.Name, Count: e.Count}
	}
	out, err := encodePreview(entries)
	if err != nil {
		return "", errUnconvertible
	}
	return out, nil
}

// upgradeRecords is migration 4: it rewrites the params and preview JSON of
// existing generations and confirmation keys into the RecordVersion shape.
// Values it cannot convert are left as they were rather than failing the
// migration, which would keep the dashboard from starting over one bad row.
func upgradeRecords(ctx context.Context, tx conn) error {
	// Both tables have a rowid (neither is WITHOUT ROWID), so one integer
	// key addresses a row of either.
	type change struct {
		rowid   int64
		column  string
		newText string
	}
	var changes []change
	collect := func(table string, columns ...string) error {
		rows, err := tx.QueryContext(ctx, `SELECT rowid, `+strings.Join(columns, ", ")+` FROM `+table)
		if err != nil {
			return fmt.Errorf("read %s: %w", table, err)
		}
		defer rows.Close()
		for rows.Next() {
			var rowid int64
			texts := make([]string, len(columns))
			dest := []any{&rowid}
			for i := range texts {
				dest = append(dest, &texts[i])
			}
			if err := rows.Scan(dest...); err != nil {
				return fmt.Errorf("read %s: %w", table, err)
			}
			for i, col := range columns {
				upgrade := upgradePreview
				if col == "params" {
					upgrade = upgradeParams
				}
				if out, err := upgrade(texts[i]); err == nil && out != texts[i] {
					changes = append(changes, change{rowid, table + "." + col, out})
				}
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read %s: %w", table, err)
		}
		return nil
	}
	if err := collect("generations", "params", "preview"); err != nil {
		return err
	}
	if err := collect("confirm_keys", "preview"); err != nil {
		return err
	}

	// Updated after reading, so that no statement writes to a table while
	// a cursor over it is still open.
	updates := map[string]string{
		"generations.params":   `UPDATE generations SET params = ? WHERE rowid = ?`,
		"generations.preview":  `UPDATE generations SET preview = ? WHERE rowid = ?`,
		"confirm_keys.preview": `UPDATE confirm_keys SET preview = ? WHERE rowid = ?`,
	}
	for _, c := range changes {
		if _, err := tx.ExecContext(ctx, updates[c.column], c.newText, c.rowid); err != nil {
			return fmt.Errorf("rewrite %s of row %d: %w", c.column, c.rowid, err)
		}
	}
	return nil
}
