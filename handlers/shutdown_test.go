package handlers_test

import (
	"bufio"
	"context"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/sessions"

	"github.com/carbon-dash/mangrove-dashboard/handlers"
	"github.com/carbon-dash/mangrove-dashboard/internal/testapp"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/store"
)

// TestCloseIsSafeTwiceAtOnce: main's shutdown runs Close from the server's
// shutdown hook and again after Shutdown returns, possibly at the same time.
func TestCloseIsSafeTwiceAtOnce(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "d.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for range 50 {
		h, err := handlers.New(handlers.Deps{
			Client: mangrove.NewClient("http://127.0.0.1:1/api/v1"), Store: st,
			Sessions: sessions.NewCookieStore([]byte(strings.Repeat("k", 32))),
		})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 2 {
			wg.Add(1)
			go func() { defer wg.Done(); h.Close() }()
		}
		wg.Wait()
	}
}

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
	handlers.CloseStreams(app.Handlers)
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
	app.Handlers.Close()
	if r := b.Get(strings.TrimSuffix(strings.TrimPrefix(u, app.URL), "/events")); r.Status != http.StatusServiceUnavailable || !strings.Contains(r.Body, "restarting") {
		t.Errorf("task page during shutdown: %d %.200s", r.Status, r.Body)
	}
}
