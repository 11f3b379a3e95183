package handlers

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/r3labs/sse/v2"
)

// Detached event streams: what an idle subscriber costs.
//
// Served the ordinary way, an idle event stream keeps, for as long as it is open,
// net/http's connection state (a 4 KiB read buffer, a 4 KiB write buffer and a 2 KiB
// chunking buffer) and three goroutines, one of them the connection's serving
// goroutine, whose stack still holds every Echo middleware frame under r3labs' loop.
// Measured with 10,000 idle streams (go run ./bench -only 3) that was about 44 KiB
// per connection, buffers and stacks in equal parts.
//
// So once a subscriber is admitted, its HTTP/1.1 connection is hijacked: the handler
// returns (the serving goroutine, its stack and net/http's buffers go), and a fresh
// goroutine runs r3labs' loop for that subscriber alone, writing through streamConn,
// which frames the response as chunked HTTP/1.1 itself and borrows a buffer from a
// pool only while it writes an event. A second small goroutine blocks on reading the
// connection, so a viewer who leaves is noticed at once (the third is r3labs' own
// per-subscriber goroutine). Where the connection cannot be hijacked (HTTP/2, a
// wrapping ResponseWriter without Hijack, HTTP/1.0) the stream is served in place,
// as before.
//
// A detached subscriber also gets the task's current state written on its own
// connection as its stream starts, rather than through r3labs' OnSubscribe, which can
// only publish to every subscriber of the task: when a thousand viewers join one task,
// that broadcast was a thousand snapshots sent to up to a thousand connections each
// (10,000 subscriptions took a minute to open). In-place subscribers still get it by
// a broadcast, coalesced so that a burst of joins costs one.

// directParam marks the r3labs subscriptions of detached streams.
const directParam = "direct"

// resendDelay coalesces the snapshot broadcasts of in-place subscribers that join
// together.
const resendDelay = 20 * time.Millisecond

// detachedStreams is the state of the detached streams of one taskStreams.
type detachedStreams struct {
	wg sync.WaitGroup

	mu       sync.Mutex
	rendered map[int64]renderedStatus // the latest status event of each task, as sent
	resends  map[int64]bool           // tasks with a coalesced broadcast pending
}

type renderedStatus struct {
	seq   int64
	event []byte
}

func newDetachedStreams() *detachedStreams {
	return &detachedStreams{rendered: map[int64]renderedStatus{}, resends: map[int64]bool{}}
}

var streamBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// isDirect reports whether a subscriber belongs to a detached stream, which got
// its first state on its own connection.
func isDirect(sub *sse.Subscriber) bool {
	return sub != nil && sub.URL != nil && sub.URL.Query().Get(directParam) == "1"
}

// resendSoon broadcasts the task's latest state once for the in-place subscribers
// that join within resendDelay.
func (ts *taskStreams) resendSoon(id int64) {
	d := ts.detached
	d.mu.Lock()
	if d.resends[id] {
		d.mu.Unlock()
		return
	}
	d.resends[id] = true
	d.mu.Unlock()
	time.AfterFunc(resendDelay, func() {
		d.mu.Lock()
		delete(d.resends, id)
		d.mu.Unlock()
		if snap, ok := ts.pool.Latest(id); ok {
			ts.publishStatus(id, snap, true)
		}
	})
}

// statusEvent is the task's current state as a status event, formatted as r3labs
// formats it, rendered once per state for all joining subscribers.
func (ts *taskStreams) statusEvent(id int64) []byte {
	snap, ok := ts.pool.Latest(id)
	if !ok {
		return nil
	}
	d := ts.detached
	d.mu.Lock()
	r, ok := d.rendered[id]
	d.mu.Unlock()
	if ok && r.seq == snap.Seq {
		return r.event
	}
	e := ts.entry(id)
	if e == nil {
		return nil
	}
	html, err := ts.renderStatus(id, e, snap)
	if err != nil {
		ts.h.log.Error("rendering a task status failed", "task_id", id, "err", err)
		return nil
	}
	var b bytes.Buffer
	b.WriteString("id: ")
	b.WriteString(strconv.FormatInt(snap.Seq, 10))
	b.WriteByte('\n')
	for _, line := range bytes.Split(html, []byte("\n")) {
		b.WriteString("data: ")
		b.Write(line)
		b.WriteByte('\n')
	}
	b.WriteString("event: status\n\n")
	d.mu.Lock()
	if cur, ok := d.rendered[id]; !ok || cur.seq <= snap.Seq {
		d.rendered[id] = renderedStatus{seq: snap.Seq, event: b.Bytes()}
	}
	prune := len(d.rendered) > 64
	d.mu.Unlock()
	if prune {
		ts.pruneRendered()
	}
	return b.Bytes()
}

// pruneRendered drops the cached events of tasks whose stream is gone.
func (ts *taskStreams) pruneRendered() {
	ts.mu.Lock()
	live := make(map[int64]bool, len(ts.entries))
	for id := range ts.entries {
		live[id] = true
	}
	ts.mu.Unlock()
	ts.detached.mu.Lock()
	defer ts.detached.mu.Unlock()
	for id := range ts.detached.rendered {
		if !live[id] {
			delete(ts.detached.rendered, id)
		}
	}
}

// serve runs an admitted subscriber's stream: detached when its connection can be
// hijacked, in place otherwise. leave ends its membership of the task's viewers;
// watching ends when the task's watcher stops.
func (ts *taskStreams) serve(c echo.Context, id int64, leave func(), watching context.Context) error {
	r := c.Request()
	if r.ProtoAtLeast(1, 1) && r.ProtoMajor == 1 {
		resp := c.Response()
		resp.Header().Set(echo.HeaderContentType, "text/event-stream") // for the request metrics and log
		header := resp.Header().Clone()
		if conn, _, err := http.NewResponseController(resp).Hijack(); err == nil {
			ts.detach(conn, header, id, leave, watching)
			return nil
		}
		resp.Header().Del(echo.HeaderContentType)
	}
	defer leave()
	// The subscription ends with the request, with Close (shutdown) and
	// when the task's watcher stops, whichever comes first.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(ts.ctx, cancel)()
	defer context.AfterFunc(watching, cancel)()

	// r3labs answers 400 to a non-numeric Last-Event-ID and would replay on a
	// numeric one; snapshots make both pointless, so drop the header.
	r = r.Clone(ctx)
	r.Header.Del("Last-Event-ID")
	q := r.URL.Query()
	q.Set("stream", streamName(id))
	r.URL.RawQuery = q.Encode()
	w := &deadlineWriter{ResponseWriter: c.Response(), rc: http.NewResponseController(c.Response())}
	_ = w.rc.SetWriteDeadline(time.Time{}) // lift the server's WriteTimeout for this stream
	ts.sse.ServeHTTP(w, r)
	return nil
}

// detach runs the stream on its own goroutine over the hijacked connection.
func (ts *taskStreams) detach(conn net.Conn, header http.Header, id int64, leave func(), watching context.Context) {
	// The stream ends with Close (shutdown), when the task's watcher stops, when the
	// viewer leaves and when a write fails. The request's own context ends as this
	// handler returns, so it is not the parent.
	ctx, cancel := context.WithCancel(ts.ctx)
	stopWatching := context.AfterFunc(watching, cancel)
	sc := &streamConn{conn: conn, header: header, cancel: cancel, first: func() []byte { return ts.statusEvent(id) }}
	req := (&http.Request{
		Method: http.MethodGet, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		URL:    &url.URL{Path: "/", RawQuery: "stream=" + streamName(id) + "&" + directParam + "=1"},
		Header: http.Header{},
	}).WithContext(ctx)
	ts.detached.wg.Add(2)
	go func() {
		defer ts.detached.wg.Done()
		var b [64]byte
		for {
			if _, err := conn.Read(b[:]); err != nil {
				cancel() // the viewer left (or the stream ended and closed the connection)
				return
			}
		}
	}()
	go func() {
		defer ts.detached.wg.Done()
		defer leave()
		defer stopWatching()
		defer cancel()
		ts.sse.ServeHTTP(sc, req)
		sc.finish()
		conn.Close()
	}()
}

// streamConn is the http.ResponseWriter of a detached stream: chunked HTTP/1.1 on
// the hijacked connection, each flush one write with its own deadline (a viewer that
// stopped reading fails instead of stalling the task's other viewers), no buffer held
// between events.
type streamConn struct {
	conn   net.Conn
	header http.Header
	cancel context.CancelFunc
	first  func() []byte // the first event, sent with the response head

	head   []byte        // the response head, until sent
	body   *bytes.Buffer // the event being written, from streamBufs
	status int
	failed bool
}

var errStreamClosed = errors.New("event stream closed")

func (s *streamConn) Header() http.Header { return s.header }

func (s *streamConn) WriteHeader(code int) {
	if s.status != 0 {
		return
	}
	s.status = code
	h := s.header
	h.Del("Content-Length")
	h.Set("Transfer-Encoding", "chunked")
	h.Set("Connection", "close") // the connection is the stream's: it ends with it
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 ")
	b.WriteString(strconv.Itoa(code))
	b.WriteByte(' ')
	b.WriteString(http.StatusText(code))
	b.WriteString("\r\n")
	_ = h.Write(&b)
	b.WriteString("\r\n")
	s.head = b.Bytes()
	s.header = nil
	if code == http.StatusOK && s.first != nil {
		if ev := s.first(); len(ev) > 0 {
			s.buf().Write(ev)
		}
	}
}

func (s *streamConn) buf() *bytes.Buffer {
	if s.body == nil {
		s.body = streamBufs.Get().(*bytes.Buffer)
		s.body.Reset()
	}
	return s.body
}

func (s *streamConn) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.WriteHeader(http.StatusOK)
	}
	if s.failed {
		return 0, errStreamClosed
	}
	return s.buf().Write(p)
}

// Flush sends the head (once) and what was written since the last flush as one chunk.
func (s *streamConn) Flush() {
	if s.status == 0 {
		s.WriteHeader(http.StatusOK)
	}
	n := 0
	if s.body != nil {
		n = s.body.Len()
	}
	if s.failed || (n == 0 && s.head == nil) {
		s.release()
		return
	}
	out := streamBufs.Get().(*bytes.Buffer)
	out.Reset()
	out.Write(s.head)
	s.head = nil
	if n > 0 {
		out.WriteString(strconv.FormatInt(int64(n), 16))
		out.WriteString("\r\n")
		out.Write(s.body.Bytes())
		out.WriteString("\r\n")
	}
	s.release()
	s.send(out.Bytes(), writeTimeout)
	putStreamBuf(out)
}

func (s *streamConn) send(p []byte, timeout time.Duration) {
	_ = s.conn.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := s.conn.Write(p); err != nil {
		s.failed = true
		s.cancel()
	}
}

func (s *streamConn) release() {
	if s.body != nil {
		putStreamBuf(s.body)
		s.body = nil
	}
}

// finish ends the chunked body, so the client reads a complete response.
func (s *streamConn) finish() {
	if s.status == 0 {
		s.WriteHeader(http.StatusOK)
	}
	s.Flush()
	if !s.failed {
		s.send([]byte("0\r\n\r\n"), time.Second)
	}
	s.release()
}

func putStreamBuf(b *bytes.Buffer) {
	if b.Cap() <= 64<<10 { // an unusually large event's buffer is left to the GC
		streamBufs.Put(b)
	}
}
