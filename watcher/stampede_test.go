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

// TestFinishedTasksAreKept: a finished task never changes, so a token that
// saw it sees it again without an API call, whether it was found finished
// or watched to its end; another token is still checked once.
func TestFinishedTasksAreKept(t *testing.T) {
	api := newFakeAPI(mangrove.AsyncTask{State: mangrove.TaskComplete, Progress: 100})
	rec := newRecorder()
	p := newPool(api, rec, Options{Interval: 5 * time.Millisecond})
	defer p.Close()
	ctx := context.Background()
	for range 3 {
		if snap, err := p.Authorize(ctx, 1, "good"); err != nil || !snap.Terminal() {
			t.Fatalf("finished task: %+v, %v", snap, err)
		}
	}
	if n := api.total(); n != 1 {
		t.Errorf("%d API calls for three views of a finished task, want 1", n)
	}
	if _, err := p.Authorize(ctx, 1, "also-good"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Authorize(ctx, 1, "bad"); err == nil {
		t.Error("a token never checked saw the kept task")
	}
	if n := api.total(); n != 3 {
		t.Errorf("%d API calls, want one more per new token (3)", n)
	}

	// Watched to its end: kept for the tokens that watched it.
	api2 := newFakeAPI(running(50), mangrove.AsyncTask{State: mangrove.TaskFailed, Progress: 50})
	rec2 := newRecorder()
	p2 := newPool(api2, rec2, Options{Interval: 5 * time.Millisecond})
	defer p2.Close()
	if _, err := p2.Authorize(ctx, 2, "good"); err != nil {
		t.Fatal(err)
	}
	waitStopped(t, rec2, 2)
	before := api2.total()
	if snap, err := p2.Authorize(ctx, 2, "good"); err != nil || snap.Task.State != mangrove.TaskFailed {
		t.Fatalf("after the watcher ended: %+v, %v", snap, err)
	}
	if n := api2.total() - before; n != 0 {
		t.Errorf("%d API calls to see a task watched to its end, want 0", n)
	}
}
