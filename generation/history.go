package generation

import (
	"context"

	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/store"
)

// Limits of the history.
const (
	HistoryPageSize = 50
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

// HistoryPage is one page of the history and the values it can be
// filtered by.
type HistoryPage struct {
	Entries []HistoryEntry
	Total   int // of every page
	Choices store.GenerationChoices
}

// History lists one page (from 1) of the generations confirmed with token
// that match f, newest first, with the total and the filter choices of all
// the token's generations.
func (s *Service) History(ctx context.Context, token string, f store.GenerationFilter, page int) (HistoryPage, error) {
	th := mangrove.TokenHash(token)
	gens, total, err := s.store.Generations(ctx, th, f, HistoryPageSize, (page-1)*HistoryPageSize)
	if err != nil {
		return HistoryPage{}, err
	}
	choices, err := s.store.GenerationChoices(ctx, th)
	if err != nil {
		return HistoryPage{}, err
	}
	out := HistoryPage{Entries: make([]HistoryEntry, len(gens)), Total: total, Choices: choices}
	for i, g := range gens {
		out.Entries[i].Generation = g
		if g.TaskID != nil {
			if snap, ok := s.watchers.Latest(*g.TaskID); ok {
				out.Entries[i].LiveState, out.Entries[i].LiveProgress = snap.Task.State, snap.Task.Progress
			}
		}
	}
	return out, nil
}

// EachGeneration calls fn with the generations confirmed with token that
// match f, newest first, a chunk at a time, until fn or the store fails.
// The first chunk is read before fn is first called, so an error there
// comes back before anything was written.
func (s *Service) EachGeneration(ctx context.Context, token string, f store.GenerationFilter, fn func([]store.Generation) error) error {
	th := mangrove.TokenHash(token)
	for offset := 0; ; {
		gens, total, err := s.store.Generations(ctx, th, f, exportChunk, offset)
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
