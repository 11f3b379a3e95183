package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

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
	br     *bufio.Reader
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
	br := bufio.NewReaderSize(conn, 1024)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	s := &sseSub{conn: conn, Status: res.StatusCode}
	// The stream is chunked; http.ReadResponse's body undoes that.
	s.br = bufio.NewReaderSize(res.Body, 1024)
	return s, nil
}

// next reads the next event with data (comments are skipped); it returns an
// error when the stream ends.
func (s *sseSub) next() (sseEvent, error) {
	var ev sseEvent
	var data bytes.Buffer
	has := false
	for {
		line, err := s.br.ReadBytes('\n')
		if err != nil {
			return ev, err
		}
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case len(line) == 0:
			if has {
				ev.At = time.Now()
				ev.Data = data.Bytes()
				return ev, nil
			}
		case line[0] == ':':
		case bytes.HasPrefix(line, []byte("event:")):
			ev.Name = string(bytes.TrimSpace(line[6:]))
			has = true
		case bytes.HasPrefix(line, []byte("id:")):
			ev.ID = string(bytes.TrimSpace(line[3:]))
		case bytes.HasPrefix(line, []byte("data:")):
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.Write(bytes.TrimPrefix(line[5:], []byte(" ")))
			has = true
		}
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
			dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
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

// waitUntil polls cond every 10ms until it holds or timeout passes.
func waitUntil(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}
