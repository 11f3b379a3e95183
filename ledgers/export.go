package ledgers

import (
	"context"
	"errors"
	"fmt"

	"github.com/carbon-dash/mangrove-dashboard/forms"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

const (
	// ExportPageSize is the page size an export reads with.
	ExportPageSize = 100
	// MaxExportPages bounds an export (200,000 rows at the default page
	// size): past it the export fails rather than end short and look
	// complete.
	MaxExportPages = 2000
)

// ErrExportTooLarge ends an export past MaxExportPages.
var ErrExportTooLarge = fmt.Errorf("more than %d pages of batches", MaxExportPages)

// ExportError is an export that failed after its first page was handed
// over: what was written is incomplete.
type ExportError struct{ Err error }

func (e *ExportError) Error() string { return "export incomplete: " + e.Err.Error() }
func (e *ExportError) Unwrap() error { return e.Err }

// EachBatch calls fn with every batch of a ledger that matches the query's
// filters and sort, a page at a time. The first page is read before fn is
// first called, so an unknown ledger or a refused token comes back as a
// plain error; a failure after that is an *ExportError. An error of fn ends
// the export and is returned as is.
func (s *Service) EachBatch(ctx context.Context, token, ledgerID string, q forms.BatchListQuery, pageSize int, fn func([]mangrove.Batch) error) error {
	opts := ListOptions(q)
	opts.Page, opts.PageSize = 1, pageSize
	list, err := s.api.LedgerBatches(ctx, token, ledgerID, opts)
	if err != nil {
		return err
	}
	for page := 1; ; page++ {
		if err := fn(list.Data); err != nil {
			return err
		}
		next, ok := list.NextPageAfter(opts.Page)
		if !ok {
			return nil
		}
		if page >= MaxExportPages {
			return &ExportError{Err: ErrExportTooLarge}
		}
		opts.Page = next
		if list, err = s.api.LedgerBatches(ctx, token, ledgerID, opts); err != nil {
			return &ExportError{Err: err}
		}
	}
}

// IsIncomplete reports whether err ended an export midway.
func IsIncomplete(err error) bool {
	var e *ExportError
	return errors.As(err, &e)
}
