package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
)

// generationRequest is the body of generate_preview and batch_generations (top level,
// not wrapped in a resource key, as documented).
type generationRequest struct {
	StartTime               *string              `json:"start_time"`
	EndTime                 *string              `json:"end_time"`
	DataPointIDs            []string             `json:"data_point_ids"`
	BatchAmounts            []batchAmountRequest `json:"batch_amounts"`
	SkippedDataPointTypeIDs []int64              `json:"skipped_data_point_type_ids"`
}

type batchAmountRequest struct {
	BatchID             string          `json:"batch_id"`
	PrimaryOutputAmount *float64        `json:"primary_output_amount"`
	AllocationGroup     json.RawMessage `json:"allocation_group"`
}

const maxBodyBytes = 1 << 20

// decodeGeneration parses and validates a generation body: malformed JSON is 400, a
// well-formed body that cannot be acted on (missing or unparsable times, end not after
// start, a batch amount without a batch, a positive amount or a string group) is 422.
func decodeGeneration(w http.ResponseWriter, r *http.Request) (genParams, error) {
	var req generationRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err := dec.Decode(&req); err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return genParams{}, badRequest("request body larger than %d bytes", maxBodyBytes)
		case errors.Is(err, io.EOF):
			return genParams{}, badRequest("request body must be a JSON object with start_time and end_time")
		default:
			return genParams{}, badRequest("malformed JSON body: %v", err)
		}
	}
	if dec.More() {
		return genParams{}, badRequest("malformed JSON body: more than one JSON value")
	}
	if req.StartTime == nil || strings.TrimSpace(*req.StartTime) == "" {
		return genParams{}, unprocessable("start_time is required")
	}
	if req.EndTime == nil || strings.TrimSpace(*req.EndTime) == "" {
		return genParams{}, unprocessable("end_time is required")
	}
	start, _, err := parseAPITime(*req.StartTime)
	if err != nil {
		return genParams{}, unprocessable("start_time: %v", err)
	}
	end, dateOnly, err := parseAPITime(*req.EndTime)
	if err != nil {
		return genParams{}, unprocessable("end_time: %v", err)
	}
	if dateOnly {
		end = end.AddDate(0, 0, 1) // a bare end date includes that whole day
	}
	if !end.After(start) {
		return genParams{}, unprocessable("end_time must be after start_time")
	}
	p := genParams{Start: start.UnixMilli(), End: end.UnixMilli(), DataPointIDs: req.DataPointIDs, SkippedTypeIDs: req.SkippedDataPointTypeIDs}
	if p.BatchAmounts, err = decodeBatchAmounts(req.BatchAmounts); err != nil {
		return genParams{}, err
	}
	return p, nil
}

// decodeBatchAmounts checks the shape of each batch_amounts item (422 when it cannot be
// acted on); whether the batch exists and may be allocated from is the plan's to check
// (checkAmounts).
func decodeBatchAmounts(items []batchAmountRequest) ([]batchAmount, error) {
	var out []batchAmount
	seen := map[string]int{}
	for i, a := range items {
		if strings.TrimSpace(a.BatchID) == "" {
			return nil, unprocessable("batch_amounts[%d].batch_id is required", i)
		}
		if j, dup := seen[a.BatchID]; dup {
			return nil, unprocessable("batch_amounts[%d]: batch %s is already in batch_amounts[%d]; list each batch once", i, a.BatchID, j)
		}
		seen[a.BatchID] = i
		if a.PrimaryOutputAmount == nil {
			return nil, unprocessable("batch_amounts[%d].primary_output_amount is required", i)
		}
		if *a.PrimaryOutputAmount <= 0 {
			return nil, unprocessable("batch_amounts[%d].primary_output_amount must be greater than 0 (the amount to allocate from batch %s), not %s",
				i, a.BatchID, formatAmount(*a.PrimaryOutputAmount))
		}
		var group *string
		if raw := bytes.TrimSpace(a.AllocationGroup); len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
			var g string
			if err := json.Unmarshal(raw, &g); err != nil {
				return nil, unprocessable("batch_amounts[%d].allocation_group must be an allocation group id (a string) or null", i)
			}
			group = &g
		}
		out = append(out, batchAmount{BatchID: a.BatchID, Amount: *a.PrimaryOutputAmount, AllocationGroup: group})
	}
	return out, nil
}

// planRequest does what preview and create share: find the ledger, decode and
// validate the body, and plan the batches. When it fails it has answered.
func (s *Server) planRequest(w http.ResponseWriter, r *http.Request, p principal) (*ledgerRow, genParams, *genPlan, bool) {
	l, err := visibleLedger(r.Context(), s.db, p, r.PathValue("ledger_id"))
	if err != nil {
		s.fail(w, r, err)
		return nil, genParams{}, nil, false
	}
	if l == nil {
		notFound(w)
		return nil, genParams{}, nil, false
	}
	params, err := decodeGeneration(w, r)
	if err != nil {
		s.fail(w, r, err)
		return nil, genParams{}, nil, false
	}
	plan, err := buildPlan(r.Context(), s.db, s.cat, l, params)
	if err != nil {
		s.fail(w, r, err)
		return nil, genParams{}, nil, false
	}
	return l, params, plan, true
}

// previewGeneration is POST /ledgers/{ledger_id}/generate_preview: a dry run that
// counts, per ledger of the concurrent group, the batches the same request would create
// or update. Every ledger of the group is listed, requested ledger first, even at 0.
func (s *Server) previewGeneration(w http.ResponseWriter, r *http.Request, p principal) {
	_, _, plan, ok := s.planRequest(w, r, p)
	if !ok {
		return
	}
	out := make([]previewEntryJSON, 0, len(plan.Ledgers))
	for _, pl := range plan.Ledgers {
		out = append(out, previewEntryJSON{ID: pl.FriendlyID, Name: pl.Name, Count: pl.count})
	}
	writeJSON(w, http.StatusOK, dataJSON[previewEntryJSON]{Data: out})
}

// createGeneration is POST /ledgers/{ledger_id}/batch_generations: it validates the
// request exactly as the preview does, records a pending task and answers 202 with it.
func (s *Server) createGeneration(w http.ResponseWriter, r *http.Request, p principal) {
	if !p.CanWrite {
		writeError(w, http.StatusForbidden, "this token is read-only: batch generation needs Production Accounting write permission")
		return
	}
	l, params, _, ok := s.planRequest(w, r, p)
	if !ok {
		return
	}
	t, err := createTask(r.Context(), s.db, l.ProjectID, l.ID, params)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.eng.submit(t.ID)
	s.log.Info("generation started", "task_id", t.ID, "ledger", l.FriendlyID)
	writeJSON(w, http.StatusAccepted, t.json())
}
