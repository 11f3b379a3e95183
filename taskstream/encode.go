package taskstream

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/r3labs/sse/v2"
)

// Event is one server-sent event, as written by AppendEvent and read by
// Reader.
type Event struct {
	ID    string
	Event string // the event type; empty is EventSource's "message"
	Data  []byte
	// Comment is written as ": …" lines; a browser ignores it (heartbeats).
	Comment string
	// Retry is the reconnection delay, sent in whole milliseconds.
	Retry time.Duration
}

// AppendEvent appends ev to dst exactly as r3labs/sse v2.10.0 writes it
// (with SplitData): "id: …" (even when empty), one "data: …" line per line
// of Data, "event: …", "retry: …", then ": …" comment lines and a blank line.
// r3labs can write an event without Data only as a comment (any other one
// ends its response instead); AppendEvent writes such an event's non-empty
// fields in the same order, and nothing at all for the zero Event.
//
// Field values are made safe first, so no value can start a field of its
// own: Data's line breaks ("\r\n", a bare "\r" or "\n", all of which end an
// EventSource line) become "\n" before it is split into data lines; line
// breaks (and, in the ID, NUL, which makes a browser ignore the id) are
// removed from ID and Event; a multi-line Comment gets one ": " line each.
func AppendEvent(dst []byte, ev Event) []byte {
	id, name := cleanID(ev.ID), cleanName(ev.Event)
	data, comment := normalizeBreaks(ev.Data), commentText(ev.Comment)
	retry := ev.Retry > 0
	if len(data) == 0 && id == "" && name == "" && !retry && len(comment) == 0 {
		return dst
	}
	if len(data) > 0 || id != "" {
		dst = appendField(dst, "id: ", id)
	}
	if len(data) > 0 {
		for line := range bytes.SplitSeq(data, []byte("\n")) {
			dst = append(dst, "data: "...)
			dst = append(dst, line...)
			dst = append(dst, '\n')
		}
	}
	if name != "" {
		dst = appendField(dst, "event: ", name)
	}
	if retry {
		dst = appendField(dst, "retry: ", retryText(ev.Retry))
	}
	if len(comment) > 0 {
		dst = append(dst, ": "...)
		dst = append(dst, comment...)
		dst = append(dst, '\n')
	}
	return append(dst, '\n')
}

// WriteEvent writes ev to w as AppendEvent encodes it, in one Write.
func WriteEvent(w io.Writer, ev Event) error {
	b := AppendEvent(nil, ev)
	if len(b) == 0 {
		return nil
	}
	_, err := w.Write(b)
	return err
}

func appendField(dst []byte, prefix, value string) []byte {
	dst = append(dst, prefix...)
	dst = append(dst, value...)
	return append(dst, '\n')
}

// toSSE is ev as an r3labs event, its fields made safe as AppendEvent makes
// them, so r3labs writes what AppendEvent would. r3labs splits data on "\n"
// only and writes ID, Event and Comment as they are.
func toSSE(ev Event) *sse.Event {
	out := &sse.Event{Data: normalizeBreaks(ev.Data), Comment: commentText(ev.Comment)}
	if id := cleanID(ev.ID); id != "" {
		out.ID = []byte(id)
	}
	if name := cleanName(ev.Event); name != "" {
		out.Event = []byte(name)
	}
	if ev.Retry > 0 {
		out.Retry = []byte(retryText(ev.Retry))
	}
	return out
}

func retryText(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

// normalizeBreaks turns "\r\n" and a bare "\r" into "\n"; b is returned as
// it is when it has no "\r".
func normalizeBreaks(b []byte) []byte {
	if bytes.IndexByte(b, '\r') < 0 {
		return b
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == '\r' {
			c = '\n'
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
		}
		out = append(out, c)
	}
	return out
}

// cleanID drops line breaks and NUL (a browser ignores an id with NUL).
func cleanID(s string) string { return strip(s, "\r\n\x00") }

// cleanName drops line breaks from an event type.
func cleanName(s string) string { return strip(s, "\r\n") }

// strip removes the bytes in chars (ASCII) from s, leaving any other byte,
// valid UTF-8 or not, as it is.
func strip(s, chars string) string {
	if !strings.ContainsAny(s, chars) {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(chars, s[i]) < 0 {
			b = append(b, s[i])
		}
	}
	return string(b)
}

// commentText is the comment as written after the first ": ": its lines
// joined by "\n: ", so each is a comment line of its own.
func commentText(s string) []byte {
	if s == "" {
		return nil
	}
	return bytes.ReplaceAll(normalizeBreaks([]byte(s)), []byte("\n"), []byte("\n: "))
}
