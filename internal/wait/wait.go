// Package wait is the project's one way to wait for a state: check a
// condition often until it holds, a time limit passes or the context ends.
// Tests and the benchmarks wait for the state they assert; they never sleep
// a guessed time.
package wait

import (
	"context"
	"time"
)

// Poll is how often Until checks its condition.
const Poll = 10 * time.Millisecond

// Until checks cond every Poll until it holds (true), or timeout passes or
// ctx ends first (false).
func Until(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	t := time.NewTicker(Poll)
	defer t.Stop()
	for !cond() {
		if !time.Now().Before(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	return true
}
