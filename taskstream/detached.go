package taskstream

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

	"github.com/r3labs/sse/v2"
)

// Detached event streams: what an idle subscriber costs.
//
// Served the ordinary way, an idle event stream keeps, for as long as it is open,
// net/http's connection state (a 4 KiB read buffer, a 4 KiB write buffer and a 2 KiB
// chunking buffer) and three goroutines, one of them the connection's serving
// goroutine, whose stack still holds every (Echo) middleware frame under r3labs' loop.
// Measured with 10,000 idle streams (go run ./cmd/bench -only 3) that was about 44 KiB
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

const (
	// directParam marks the r3labs subscriptions of detached streams.
	directParam = "direct"
	// resendDelay coalesces the snapshot broadcasts of in-place subscribers
	// that join together.
	resendDelay = 20 * time.Millisecond
	// renderedPruneAt is the number of cached status events above which the
	// events of tasks whose stream is gone are dropped.
	renderedPruneAt = 64
	// maxPooledBuffer is the largest buffer put back in streamBufs; an
	// unusually large event's buffer is left to the GC.
	maxPooledBuffer = 64 << 10
	// finishTimeout bounds the write of a detached response's last chunk.
	finishTimeout = time.Second
	// hangupReadSize is the buffer of the goroutine that notices a viewer
	// hanging up (anything it reads is discarded).
	hangupReadSize = 64
)

// detachedStreams is the state of the detached streams of one Streams.
type detachedStreams struct {
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

// forget drops the task's cached status event (a new watcher numbers its
// states from the start again).
func (d *detachedStreams) forget(id int64) {
	d.mu.Lock()
	delete(d.rendered, id)
	d.mu.Unlock()
}

var streamBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func putStreamBuf(b *bytes.Buffer) {
	if b.Cap() <= maxPooledBuffer {
		streamBufs.Put(b)
	}
}

// isDirect reports whether a subscriber belongs to a detached stream, which got
// its first state on its own connection.
func isDirect(sub *sse.Subscriber) bool {
	return sub != nil && sub.URL != nil && sub.URL.Query().Get(directParam) == "1"
}

// resendSoon broadcasts the task's latest state once for the in-place subscribers
// that join within resendDelay.
func (s *Streams) resendSoon(id int64) {
	if s.markResend(id) {
		s.resendAfter(id, resendDelay, time.Now().Add(s.finalBudget))
	}
}

// markResend marks a broadcast of the task's state pending; it reports
// false when one is already.
func (s *Streams) markResend(id int64) bool {
	d := s.detached
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.resends[id] {
		return false
	}
	d.resends[id] = true
	return true
}

// resendAfter broadcasts the task's latest state after delay. A broadcast
// that finds the stream's buffer full is tried again (with the state then
// latest, so never an older one) every finalRetryInterval until giveUp.
func (s *Streams) resendAfter(id int64, delay time.Duration, giveUp time.Time) {
	time.AfterFunc(delay, func() {
		d := s.detached
		d.mu.Lock()
		delete(d.resends, id) // a subscriber joining from now on needs another
		d.mu.Unlock()
		snap, ok := s.watchers.Latest(id)
		e := s.entry(id)
		if !ok || e == nil || s.publishStatus(id, e, snap, true, false) || s.closing() {
			return
		}
		if time.Now().Before(giveUp) && s.markResend(id) {
			s.resendAfter(id, finalRetryInterval, giveUp)
		}
	})
}

// currentStatus is the task's current state as a status event, encoded as
// r3labs encodes it, rendered once per state for all joining subscribers.
func (s *Streams) currentStatus(id int64) []byte {
	snap, ok := s.watchers.Latest(id)
	if !ok {
		return nil
	}
	d := s.detached
	d.mu.Lock()
	r, ok := d.rendered[id]
	d.mu.Unlock()
	if ok && r.seq == snap.Seq {
		return r.event
	}
	html, err := s.render(context.Background(), id, snap)
	if err != nil {
		s.log.Error("rendering a task status failed", "task_id", id, "err", err)
		return nil
	}
	ev := AppendEvent(nil, statusEvent(snap.Seq, html))
	d.mu.Lock()
	if cur, ok := d.rendered[id]; !ok || cur.seq <= snap.Seq {
		d.rendered[id] = renderedStatus{seq: snap.Seq, event: ev}
	}
	prune := len(d.rendered) > renderedPruneAt
	d.mu.Unlock()
	if prune {
		s.pruneRendered()
	}
	return ev
}

// pruneRendered drops the cached events of tasks whose stream is gone.
func (s *Streams) pruneRendered() {
	s.mu.Lock()
	live := make(map[int64]bool, len(s.entries))
	for id := range s.entries {
		live[id] = true
	}
	s.mu.Unlock()
	d := s.detached
	d.mu.Lock()
	defer d.mu.Unlock()
	for id := range d.rendered {
		if !live[id] {
			delete(d.rendered, id)
		}
	}
}

// tryDetach hijacks w's connection and runs the stream on it; it reports
// false, w untouched, when the connection cannot be hijacked.
func (s *Streams) tryDetach(w http.ResponseWriter, id int64, leave func(), watching context.Context) bool {
	w.Header().Set("Content-Type", "text/event-stream") // for the caller's request metrics and log
	header := w.Header().Clone()
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		w.Header().Del("Content-Type")
		return false
	}
	s.detach(conn, header, id, leave, watching)
	return true
}

// detach runs the stream on its own goroutines over the hijacked connection.
func (s *Streams) detach(conn net.Conn, header http.Header, id int64, leave func(), watching context.Context) {
	// The stream ends with Close (shutdown), when the task's watcher stops, when the
	// viewer leaves and when a write fails. The request's own context ends as the
	// handler returns, so it is not the parent.
	ctx, cancel := context.WithCancel(s.ctx)
	stopWatching := context.AfterFunc(watching, cancel)
	sc := &streamConn{conn: conn, header: header, cancel: cancel, timeout: s.writeTimeout,
		first: func() []byte { return s.currentStatus(id) }}
	go watchHangup(conn, cancel)
	go func() {
		defer leave()
		defer stopWatching()
		defer cancel()
		s.sse.ServeHTTP(sc, detachedRequest(ctx, id))
		sc.finish()
		conn.Close()
	}()
}

// detachedRequest is the request r3labs serves a detached subscriber.
func detachedRequest(ctx context.Context, id int64) *http.Request {
	return (&http.Request{
		Method: http.MethodGet, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		URL:    &url.URL{Path: "/", RawQuery: "stream=" + streamName(id) + "&" + directParam + "=1"},
		Header: http.Header{},
	}).WithContext(ctx)
}

// watchHangup reads the connection until it fails: the viewer left, or the
// stream ended and closed the connection.
func watchHangup(conn net.Conn, cancel context.CancelFunc) {
	var b [hangupReadSize]byte
	for {
		if _, err := conn.Read(b[:]); err != nil {
			cancel()
			return
		}
	}
}

// streamConn is the http.ResponseWriter of a detached stream: chunked HTTP/1.1 on
// the hijacked connection, each flush one write with its own deadline (a viewer that
// stopped reading fails instead of stalling the task's other viewers), no buffer held
// between events.
type streamConn struct {
	conn    net.Conn
	header  http.Header
	cancel  context.CancelFunc
	timeout time.Duration // of each write
	first   func() []byte // the first event, sent with the response head

	head   []byte        // the response head, until sent
	body   *bytes.Buffer // the event being written, from streamBufs
	status int
	failed bool
}

var errStreamClosed = errors.New("taskstream: event stream closed")

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
	s.send(out.Bytes(), s.timeout)
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
		s.send([]byte("0\r\n\r\n"), finishTimeout)
	}
	s.release()
}
