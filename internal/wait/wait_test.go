package wait

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestUntil(t *testing.T) {
	var n atomic.Int32
	if !Until(context.Background(), time.Minute, func() bool { return n.Add(1) >= 3 }) {
		t.Fatal("a condition that comes true was not seen")
	}
	if n.Load() != 3 {
		t.Errorf("checked %d times, want 3 (no check after it held)", n.Load())
	}
	if Until(context.Background(), 5*Poll, func() bool { return false }) {
		t.Error("a condition that never holds reported true")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Until(ctx, time.Hour, func() bool { return false }) {
		t.Error("an ended context did not stop the wait")
	}
	if !Until(ctx, 0, func() bool { return true }) {
		t.Error("a condition holding at once must report true whatever the limits")
	}
}
