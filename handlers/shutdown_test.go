package handlers_test

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/internal/testapp"
)

// TestStreamsEndAfterClose: a viewer that subscribes after the streams were
// closed for shutdown (its request was already in flight) is not left
// hanging, and one that was subscribed sees its stream end.
func TestStreamsEndAfterClose(t *testing.T) {
	app := testapp.Start(t, testapp.Options{StepDelay: time.Second})
	b := app.NewBrowser(t)
	b.SignIn(app.Tokens.ReadWrite)
	u := app.URL + "/tasks/" + strconv.FormatInt(startTask(t, app), 10) + "/events"

	open := func() (chan struct{}, func()) {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		req.Header.Set("Accept", "text/event-stream")
		resp, err := b.HTTP.Do(req)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		ended := make(chan struct{})
		go func() {
			defer close(ended)
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
			}
		}()
		return ended, cancel
	}
	before, cancelBefore := open()
	defer cancelBefore()
	time.Sleep(100 * time.Millisecond)
	app.Streams.Close()
	select {
	case <-before:
	case <-time.After(3 * time.Second):
		t.Fatal("a subscribed stream did not end when the streams closed")
	}
	after, cancelAfter := open()
	defer cancelAfter()
	select {
	case <-after:
	case <-time.After(3 * time.Second):
		t.Fatal("a stream opened after Close hangs: shutdown would wait for it")
	}
	// Once the watchers are closed too, a page that needs one says the
	// dashboard is restarting, not that something went wrong.
	app.Watchers.Close()
	if r := b.Get(strings.TrimSuffix(strings.TrimPrefix(u, app.URL), "/events")); r.Status != http.StatusServiceUnavailable || !strings.Contains(r.Body, "restarting") {
		t.Errorf("task page during shutdown: %d %.200s", r.Status, r.Body)
	}
}
