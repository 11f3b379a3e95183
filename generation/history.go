package generation

import (
	"context"

	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/store"
)

// Limits of the history.
const (
	HistoryPageSize = 50
	MaxHistoryPage  = 10000
	// exportChunk is how many audit rows an export reads at a time.
	exportChunk = 500
)

// HistoryEntry is one confirmed generation, with the live state of its task
// when a watcher follows it.
type HistoryEntry struct {
	store.Generation
	LiveState    string
	LiveProgress int
}

// History lists one page (from 1) of the generations confirmed with token,
// newest first, and the total.
func (s *Service) History(ctx context.Context, token string, page int) ([]HistoryEntry, int, error) {
	gens, total, err := s.store.Generations(ctx, mangrove.TokenHash(token), HistoryPageSize, (page-1)*HistoryPageSize)
	if err != nil {
		return nil, 0, err
	}
	out := make([]HistoryEntry, len(gens))
	for i, g := range gens {
		out[i].Generation = g
		if g.TaskID != nil {
			if snap, ok := s.watchers.Latest(*g.TaskID); ok {
				out[i].LiveState, out[i].LiveProgress = snap.Task.State, snap.Task.Progress
			}
		}
	}
	return out, total, nil
}

// EachGeneration calls fn with the generations confirmed with token, newest
// first, a chunk at a time, until fn or the store fails. The first chunk is
// read before fn is first called, so an error there comes back before
// anything was written.
func (s *Service) EachGeneration(ctx context.Context, token string, fn func([]store.Generation) error) error {
	th := mangrove.TokenHash(token)
	for offset := 0; ; {
		gens, total, err := s.store.Generations(ctx, th, exportChunk, offset)
		if err != nil {
			return err
		}
		if err := fn(gens); err != nil {
			return err
		}
		offset += len(gens)
		if len(gens) == 0 || offset >= total {
			return nil
		}
	}
}
