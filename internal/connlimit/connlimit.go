// Package connlimit caps a server's open connections, so that idle or
// half-open clients cannot take every file descriptor of the process.
//
// At the cap, a new connection makes room by closing the connection that
// has been idle the longest: a keep-alive connection between requests, or
// one that has not sent a byte yet (a connection whose request has begun to
// arrive is busy). Health checks and scrapes therefore
// still get through when the cap is full of idle connections. When every
// connection is busy (requests being served, event streams), the new one is
// answered 503 and closed.
package connlimit

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Bounds of the answers to refused connections: each holds a descriptor
// until it is written, so a flood of them is bounded too.
const (
	refuseTimeout  = time.Second
	maxRefusing    = 64
	maxRefusedHead = 16 << 10 // bytes of a refused request read before the answer
)

// refusal is the whole answer to a connection over the cap.
var refusal = func() []byte {
	body := "The dashboard is at its connection limit. Try again in a few seconds.\n"
	return []byte("HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n" +
		"Retry-After: 5\r\nConnection: close\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
}()

// Listener is a net.Listener that keeps at most Max connections open. Its
// ConnState method must be the http.Server's ConnState, so it knows which
// connections are idle.
type Listener struct {
	net.Listener
	max int

	mu   sync.Mutex
	open int
	idle map[*conn]time.Time // connections between requests, and since when

	refusing atomic.Int64
	refused  atomic.Int64
	evicted  atomic.Int64
}

// New wraps l to keep at most max connections open.
func New(l net.Listener, max int) *Listener {
	return &Listener{Listener: l, max: max, idle: map[*conn]time.Time{}}
}

// Accept returns the next connection there is room for, closing the
// longest-idle one to make room at the cap; connections that find every
// slot busy are refused without Accept returning.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if wc, ok := l.admit(c); ok {
			return wc, nil
		}
		l.refused.Add(1)
		if l.refusing.Add(1) > maxRefusing {
			l.refusing.Add(-1)
			c.Close()
			continue
		}
		go l.refuse(c)
	}
}

// admit takes a slot for c, evicting the longest-idle connection when the
// cap is reached; ok is false when every connection is busy.
func (l *Listener) admit(c net.Conn) (net.Conn, bool) {
	l.mu.Lock()
	var victim *conn
	if l.open >= l.max {
		for ic, since := range l.idle {
			if victim == nil || since.Before(l.idle[victim]) {
				victim = ic
			}
		}
		if victim == nil {
			l.mu.Unlock()
			return nil, false
		}
		delete(l.idle, victim)
		victim.waiting.Store(false)
		victim.slotTaken = true // its slot passes to c
	} else {
		l.open++
	}
	wc := &conn{Conn: c, l: l}
	l.idle[wc] = time.Now() // no request yet
	wc.waiting.Store(true)
	l.mu.Unlock()
	if victim != nil {
		l.evicted.Add(1)
		victim.Close()
	}
	return wc, true
}

// refuse reads the request's head (a client is not listening for an answer
// before it sent its request) and answers 503.
func (l *Listener) refuse(c net.Conn) {
	defer l.refusing.Add(-1)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(refuseTimeout))
	if _, err := http.ReadRequest(bufio.NewReaderSize(io.LimitReader(c, maxRefusedHead), maxRefusedHead)); err != nil {
		return
	}
	_, _ = c.Write(refusal)
}

// ConnState tells the listener which connections are idle; set it as the
// http.Server's ConnState.
func (l *Listener) ConnState(c net.Conn, state http.ConnState) {
	wc, ok := c.(*conn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch state {
	case http.StateNew: // idle since admit
	case http.StateIdle:
		if !wc.slotTaken && !wc.closed {
			l.idle[wc] = time.Now()
			wc.waiting.Store(true)
		}
	default: // active, hijacked (an event stream), closed
		delete(l.idle, wc)
		wc.waiting.Store(false)
	}
}

// Stats are the listener's counts: connections open now, refused (every
// slot busy) and closed to make room, since it was made.
type Stats struct {
	Open             int
	Refused, Evicted int64
}

// Stats returns the listener's counts.
func (l *Listener) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Stats{Open: l.open, Refused: l.refused.Load(), Evicted: l.evicted.Load()}
}

// conn frees its slot when closed, unless an eviction passed it on.
type conn struct {
	net.Conn
	l         *Listener
	slotTaken bool // guarded by l.mu
	closed    bool // guarded by l.mu
	// waiting is set while the connection is in l.idle: a request's first
	// bytes take it out at once, before the server reports it active (only
	// once the whole head is read), so a request being received is never
	// closed to make room.
	waiting atomic.Bool
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.waiting.Load() {
		c.l.mu.Lock()
		delete(c.l.idle, c)
		c.waiting.Store(false)
		c.l.mu.Unlock()
	}
	return n, err
}

func (c *conn) Close() error {
	c.l.mu.Lock()
	if !c.closed {
		c.closed = true
		delete(c.l.idle, c)
		if !c.slotTaken {
			c.l.open--
		}
	}
	c.l.mu.Unlock()
	return c.Conn.Close()
}
