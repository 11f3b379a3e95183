package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/taskstream"
)

// sseConnBuffer is each subscriber's read buffer under the HTTP response:
// small, as the tool holds thousands of subscribers (taskstream's Reader
// keeps an equally small one above it).
const sseConnBuffer = 1024

// dialTimeout bounds a subscriber's dial and response header.
const dialTimeout = 30 * time.Second

// sseEvent is one event as a subscriber received it.
type sseEvent struct {
	Name string
	ID   string
	Data []byte
	At   time.Time // when its terminating blank line was read
}

// sseSub is one raw-TCP EventSource-like subscriber: cheaper than an
// http.Client per connection, so thousands fit in the load tool itself.
type sseSub struct {
	conn   net.Conn
	rd     *taskstream.Reader
	Status int
}

// dialSSE opens GET path on the dashboard at addr and reads the response
// header. The cookie may be empty (server-wide token).
func dialSSE(ctx context.Context, addr, path, cookie string) (*sseSub, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n"
	if cookie != "" {
		req += "Cookie: " + cookie + "\r\n"
	}
	req += "\r\n"
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := conn.Write([]byte(req)); err != nil {
		conn.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(conn, sseConnBuffer)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	s := &sseSub{conn: conn, Status: res.StatusCode}
	// The stream is chunked; http.ReadResponse's body undoes that.
	s.rd = taskstream.NewReader(res.Body)
	return s, nil
}

// next reads the next event with an event name or data with the project's
// one SSE reader (comments, heartbeats and retry hints are skipped); it
// returns an error when the stream ends. At is taken as Next returns, which
// is as soon as the event's blank line is read.
func (s *sseSub) next() (sseEvent, error) {
	for {
		ev, err := s.rd.Next()
		if err != nil {
			return sseEvent{}, err
		}
		if ev.Event == "" && ev.Data == nil {
			continue
		}
		return sseEvent{Name: ev.Event, ID: ev.ID, Data: ev.Data, At: time.Now()}, nil
	}
}

func (s *sseSub) Close() { s.conn.Close() }

var batchOfRE = regexp.MustCompile(`Processing batch (\d+) of (\d+)`)

// stepOf reads "Processing batch i of n" from a status fragment or task JSON.
func stepOf(b []byte) (int, bool) {
	m := batchOfRE.FindSubmatch(b)
	if m == nil {
		return 0, false
	}
	i, err := strconv.Atoi(string(m[1]))
	return i, err == nil
}

func eventsPath(taskID int64) string { return fmt.Sprintf("/tasks/%d/events", taskID) }

// subSet is a group of subscribers, each read by its own goroutine.
type subSet struct {
	addr    string
	onEvent func(i int, ev sseEvent) // on the reader goroutine; may be nil

	mu    sync.Mutex
	conns []*sseSub
	wg    sync.WaitGroup

	first   atomic.Int64 // subscribers that received a status event
	done    atomic.Int64 // subscribers that received the done event
	ended   atomic.Int64 // streams that ended (closed by either side)
	refused atomic.Int64 // non-200 answers
	dialErr atomic.Int64
}

func newSubSet(addr string, onEvent func(i int, ev sseEvent)) *subSet {
	return &subSet{addr: addr, onEvent: onEvent}
}

// add opens n more subscriptions, path(i) giving each one's URL path, at most
// parallel dials at a time.
func (ss *subSet) add(ctx context.Context, n, parallel int, path func(i int) string) error {
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	var firstErr error
	var errMu sync.Mutex
	base := ss.count()
	for k := range n {
		i := base + k
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			dctx, cancel := context.WithTimeout(ctx, dialTimeout)
			defer cancel()
			s, err := dialSSE(dctx, ss.addr, path(i), "")
			if err != nil {
				ss.dialErr.Add(1)
				errMu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				errMu.Unlock()
				return
			}
			if s.Status != 200 {
				ss.refused.Add(1)
				s.Close()
				return
			}
			ss.mu.Lock()
			ss.conns = append(ss.conns, s)
			ss.mu.Unlock()
			ss.wg.Add(1)
			go ss.read(i, s)
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return fmt.Errorf("%d of %d subscriptions failed to connect, first: %w", ss.dialErr.Load(), n, firstErr)
	}
	return nil
}

func (ss *subSet) read(i int, s *sseSub) {
	defer ss.wg.Done()
	defer ss.ended.Add(1)
	gotFirst := false
	for {
		ev, err := s.next()
		if err != nil {
			return
		}
		switch ev.Name {
		case "status":
			if !gotFirst {
				gotFirst = true
				ss.first.Add(1)
			}
		case "done":
			ss.done.Add(1)
		}
		if ss.onEvent != nil {
			ss.onEvent(i, ev)
		}
	}
}

func (ss *subSet) count() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.conns)
}

// closeAll closes every connection and waits for the readers.
func (ss *subSet) closeAll() {
	ss.mu.Lock()
	for _, c := range ss.conns {
		c.Close()
	}
	ss.conns = nil
	ss.mu.Unlock()
	ss.wg.Wait()
}
