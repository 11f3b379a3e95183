package handlers

// OpenStreams reports how many task event streams (r3labs streams, one
// goroutine each) are open, for the leak tests.
func OpenStreams(h *Handlers) int {
	h.streams.mu.Lock()
	defer h.streams.mu.Unlock()
	return len(h.streams.entries)
}

// CloseStreams runs the first half of Close (the event streams), as a
// shutdown hook does while requests are still being served.
func CloseStreams(h *Handlers) { h.streams.Close() }
