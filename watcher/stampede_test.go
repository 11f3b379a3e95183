package watcher

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// slowAPI answers a task check only once `want` callers are waiting in it,
// or after `patience`: with checks collapsed, one caller waits alone.
type slowAPI struct {
	calls    atomic.Int64
	want     int64
	patience time.Duration
	arrived  chan struct{}
}

func (s *slowAPI) AsyncTask(ctx context.Context, _ string, id int64) (*mangrove.AsyncTask, error) {
	if s.calls.Add(1) == s.want {
		close(s.arrived)
	}
	select {
	case <-s.arrived:
	case <-time.After(s.patience):
	}
	return &mangrove.AsyncTask{ID: id, State: mangrove.TaskRunning}, nil
}

// TestStampedeMakesOneCheck: 50 viewers with one token arriving at once
// (every tab reconnecting after a restart) make one token check upstream;
// a viewer who leaves while it waits gets its own context's error, and the
// others their answer.
func TestStampedeMakesOneCheck(t *testing.T) {
	const viewers = 50
	api := &slowAPI{want: viewers, patience: 2 * time.Second, arrived: make(chan struct{})}
	p := NewPool(api, Options{Interval: time.Minute})
	defer p.Close()

	leaving, leave := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, viewers+1)
	wg.Go(func() {
		if _, err := p.Authorize(leaving, 9, "tok"); !errors.Is(err, context.Canceled) {
			errs <- errors.New("the viewer who left got " + errString(err) + ", want its context's error")
		}
	})
	leave()
	for range viewers {
		wg.Go(func() {
			if snap, err := p.Authorize(context.Background(), 9, "tok"); err != nil || snap.Task.ID != 9 {
				errs <- errors.New("a viewer got " + errString(err))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := api.calls.Load(); n != 1 {
		t.Errorf("%d token checks upstream for %d viewers arriving at once, want 1", n, viewers+1)
	}
}

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}
