package watcher

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// TestWatcherGivesUpAfterMaxLifetime: a task that never finishes (here it
// stays running) is not polled forever: after MaxLifetime its viewers get a
// last snapshot that says so, and the watcher stops.
func TestWatcherGivesUpAfterMaxLifetime(t *testing.T) {
	api := newFakeAPI(running(10))
	rec := newRecorder()
	p := newPool(api, rec, Options{Interval: 5 * time.Millisecond, MaxLifetime: 60 * time.Millisecond})
	defer p.Close()
	if _, err := p.Authorize(context.Background(), 3, "good"); err != nil {
		t.Fatal(err)
	}
	leave, _ := p.Join(3)
	defer leave()
	waitStopped(t, rec, 3)
	snaps := rec.all()
	last := snaps[len(snaps)-1]
	if !last.Ended() || last.Terminal() || !strings.Contains(last.GaveUp, `"running"`) || !strings.Contains(last.GaveUp, "reload the page") {
		t.Fatalf("last snapshot %+v: want one that ends the stream and says the watcher gave up on a running task", last.Snapshot)
	}
	if p.Active() != 0 {
		t.Errorf("%d watchers active after giving up", p.Active())
	}
}

// TestUnknownFinishedStateEndsTheWatch: a state the reference does not list,
// with finished_at set, is a finished task: polling stops and the state is
// published as it came.
func TestUnknownFinishedStateEndsTheWatch(t *testing.T) {
	done := time.Date(2025, 4, 1, 12, 0, 15, 0, time.UTC)
	api := newFakeAPI(running(10), mangrove.AsyncTask{State: "cancelled", Progress: 40, FinishedAt: &done})
	rec := newRecorder()
	p := newPool(api, rec, Options{Interval: 5 * time.Millisecond})
	defer p.Close()
	if _, err := p.Authorize(context.Background(), 5, "good"); err != nil {
		t.Fatal(err)
	}
	leave, _ := p.Join(5)
	defer leave()
	waitStopped(t, rec, 5)
	snaps := rec.all()
	if last := snaps[len(snaps)-1]; !last.Terminal() || last.Task.State != "cancelled" || last.GaveUp != "" {
		t.Fatalf("last snapshot %+v: want the unknown state, finished", last.Snapshot)
	}
}
