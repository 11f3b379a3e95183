package taskstream

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"time"
)

// maxEventSize bounds what a Reader holds for one event (its data and the
// line being read).
const maxEventSize = 1 << 20

// readerBufferSize is a Reader's read buffer: small, as load tools keep
// thousands of Readers open.
const readerBufferSize = 1024

// ErrEventTooLarge is returned by Reader.Next for an event over 1 MiB.
var ErrEventTooLarge = errors.New("taskstream: event too large")

// Reader reads server-sent events by the WHATWG EventSource rules: a line
// ends at "\r\n", "\r" or "\n"; a leading byte order mark is skipped; a
// field's value loses one leading space; "data" lines are joined with
// "\n"; an "id" with NUL and a "retry" that is not all digits are ignored;
// unknown fields are ignored; a blank line ends an event.
//
// Unlike a browser, Next also returns the blocks a browser would not
// dispatch because they carry no data (a comment, a "retry" alone), so
// callers can see heartbeats and reconnection hints; an event without data
// has a nil Data. Event.ID is the block's own id field; LastEventID is the
// browser's sticky last event ID.
type Reader struct {
	br     *bufio.Reader
	line   []byte
	data   []byte
	skipLF bool // the last line ended with "\r": a "\n" next belongs to it
	begun  bool // the first line (and its byte order mark) was read
	lastID string
}

// NewReader returns a Reader of the event stream r.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, readerBufferSize)}
}

// LastEventID is the last id field read, as EventSource would send it in
// Last-Event-ID on reconnection.
func (r *Reader) LastEventID() string { return r.lastID }

// Next returns the next event. At the end of the stream it returns io.EOF,
// or io.ErrUnexpectedEOF when the stream ends inside an event (which is
// dropped, as a browser drops it).
func (r *Reader) Next() (Event, error) {
	var ev Event
	r.data = r.data[:0]
	hasData, seen := false, false
	for {
		line, err := r.readLine()
		if err != nil {
			if errors.Is(err, io.EOF) && seen {
				err = io.ErrUnexpectedEOF
			}
			return Event{}, err
		}
		if len(line) == 0 {
			if !seen {
				continue
			}
			if hasData {
				ev.Data = bytes.Clone(r.data[:len(r.data)-1]) // without the last "\n"
			}
			return ev, nil
		}
		isData, ok := r.field(&ev, line)
		hasData = hasData || isData
		seen = seen || ok
		if len(r.data) > maxEventSize {
			return Event{}, ErrEventTooLarge
		}
	}
}

// field applies one non-empty line to ev; ok reports that it was a field
// Reader knows (or a comment), isData that it was a data line.
func (r *Reader) field(ev *Event, line []byte) (isData, ok bool) {
	name, value, _ := bytes.Cut(line, []byte(":"))
	value = bytes.TrimPrefix(value, []byte(" "))
	switch string(name) {
	case "": // a comment
		if ev.Comment != "" {
			ev.Comment += "\n"
		}
		ev.Comment += string(value)
	case "data":
		r.data = append(append(r.data, value...), '\n')
		return true, true
	case "event":
		ev.Event = string(value)
	case "id":
		if bytes.IndexByte(value, 0) >= 0 {
			return false, false
		}
		ev.ID = string(value)
		r.lastID = ev.ID
	case "retry":
		ms, err := strconv.ParseInt(string(value), 10, 64)
		if err != nil || len(value) == 0 || value[0] < '0' || value[0] > '9' {
			return false, false
		}
		ev.Retry = time.Duration(ms) * time.Millisecond
	default:
		return false, false
	}
	return false, true
}

// readLine returns the next line without its line break; the slice is
// valid until the next call. It never waits for a byte past the line break,
// so an event is returned as soon as its blank line arrives.
func (r *Reader) readLine() ([]byte, error) {
	r.line = r.line[:0]
	for {
		if r.br.Buffered() == 0 {
			if _, err := r.br.Peek(1); err != nil {
				if errors.Is(err, io.EOF) && len(r.line) > 0 {
					return nil, io.ErrUnexpectedEOF // a last line without its line break
				}
				return nil, err
			}
		}
		buf, _ := r.br.Peek(r.br.Buffered())
		if r.skipLF {
			r.skipLF = false
			if buf[0] == '\n' {
				_, _ = r.br.Discard(1)
				continue
			}
		}
		i := bytes.IndexAny(buf, "\r\n")
		if i < 0 {
			i = len(buf)
		}
		if len(r.line)+i > maxEventSize {
			return nil, ErrEventTooLarge
		}
		r.line = append(r.line, buf[:i]...)
		if i == len(buf) {
			_, _ = r.br.Discard(i)
			continue
		}
		r.skipLF = buf[i] == '\r'
		_, _ = r.br.Discard(i + 1)
		return r.firstLine(r.line), nil
	}
}

// firstLine drops a byte order mark from the stream's first line.
func (r *Reader) firstLine(line []byte) []byte {
	if !r.begun {
		r.begun = true
		return bytes.TrimPrefix(line, []byte("\xEF\xBB\xBF"))
	}
	return line
}
