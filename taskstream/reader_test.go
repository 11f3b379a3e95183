package taskstream

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func TestReader(t *testing.T) {
	t.Parallel()
	for _, tt := range readerCases {
		for _, oneByte := range []bool{false, true} {
			var r io.Reader = strings.NewReader(tt.stream)
			if oneByte {
				r = iotest.OneByteReader(r) // "\r" and "\n" in separate reads
			}
			got, err := readEvents(NewReader(r))
			want := tt.err
			if want == nil {
				want = io.EOF
			}
			if !errors.Is(err, want) {
				t.Errorf("%s (one byte at a time: %v): error %v, want %v", tt.name, oneByte, err, want)
			}
			if !sameEvents(got, tt.want) {
				t.Errorf("%s (one byte at a time: %v):\n got %+v\nwant %+v", tt.name, oneByte, got, tt.want)
			}
		}
	}
}

// readerCases are hand-written streams and what Reader makes of them.
var readerCases = []struct {
	name   string
	stream string
	want   []Event
	err    error // after the events; nil: io.EOF
}{
	{"LF", "id: 1\nevent: status\ndata: a\ndata: b\n\n",
		[]Event{{ID: "1", Event: "status", Data: bs("a\nb")}}, nil},
	{"CRLF", "id: 1\r\nevent: status\r\ndata: a\r\ndata: b\r\n\r\n",
		[]Event{{ID: "1", Event: "status", Data: bs("a\nb")}}, nil},
	{"CR only", "id: 1\revent: status\rdata: a\rdata: b\r\rdata: c\r\r",
		[]Event{{ID: "1", Event: "status", Data: bs("a\nb")}, {Data: bs("c")}}, nil},
	{"mixed breaks", "data: a\r\ndata: b\rdata: c\n\r\n",
		[]Event{{Data: bs("a\nb\nc")}}, nil},
	{"a bare CR forges a field", "data: x\revent: done\n\n",
		[]Event{{Event: "done", Data: bs("x")}}, nil},
	{"comments", ": keep-alive\n\n:x\ndata: d\n: y\n\n",
		[]Event{{Comment: "keep-alive"}, {Data: bs("d"), Comment: "x\ny"}}, nil},
	{"empty and unspaced values", "data\n\ndata:\n\ndata:tight\ndata:  two\n\n",
		[]Event{{Data: bs("")}, {Data: bs("")}, {Data: bs("tight\n two")}}, nil},
	{"data ending in a blank data line", "data: a\ndata:\n\n",
		[]Event{{Data: bs("a\n")}}, nil},
	{"retry", "retry: 3000\n\nretry: 3s\n\nretry: -1\n\nretry:\n\n",
		[]Event{{Retry: 3 * time.Second}}, nil},
	{"id with NUL is ignored", "id: a\x00b\ndata: x\n\n",
		[]Event{{Data: bs("x")}}, nil},
	{"unknown fields are ignored", "foo: bar\n\nfoo: bar\ndata: x\n\n",
		[]Event{{Data: bs("x")}}, nil},
	{"a colon in the value", "data: a: b\nevent:x:y\n\n",
		[]Event{{Event: "x:y", Data: bs("a: b")}}, nil},
	{"byte order mark", "\xEF\xBB\xBFdata: x\n\n",
		[]Event{{Data: bs("x")}}, nil},
	{"blank lines only", "\n\r\n\r\n\n", nil, nil},
	{"empty", "", nil, nil},
	{"missing final blank line", "data: a\n\ndata: b\n",
		[]Event{{Data: bs("a")}}, io.ErrUnexpectedEOF},
	{"missing final line break", "data: a\n\ndata: b",
		[]Event{{Data: bs("a")}}, io.ErrUnexpectedEOF},
	{"id and type without data", "id: done\nevent: done\n\n",
		[]Event{{ID: "done", Event: "done"}}, nil},
}

func bs(s string) []byte { return []byte(s) }

func readEvents(rd *Reader) ([]Event, error) {
	var out []Event
	for {
		ev, err := rd.Next()
		if err != nil {
			return out, err
		}
		out = append(out, ev)
	}
}

func sameEvents(a, b []Event) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.ID != y.ID || x.Event != y.Event || x.Comment != y.Comment || x.Retry != y.Retry ||
			!bytes.Equal(x.Data, y.Data) || (x.Data == nil) != (y.Data == nil) {
			return false
		}
	}
	return true
}

func TestReaderLastEventID(t *testing.T) {
	t.Parallel()
	rd := NewReader(strings.NewReader("id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\n"))
	for _, want := range []struct{ id, last string }{{"1", "1"}, {"", "1"}, {"", ""}} {
		ev, err := rd.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.ID != want.id || rd.LastEventID() != want.last {
			t.Errorf("event %q: ID %q, LastEventID %q; want %q, %q", ev.Data, ev.ID, rd.LastEventID(), want.id, want.last)
		}
	}
}

// TestReaderDoesNotWaitPastAnEvent: an event ending in "\r\r" is returned
// at once, without waiting for a "\n" that might follow.
func TestReaderDoesNotWaitPastAnEvent(t *testing.T) {
	t.Parallel()
	pr, pw := io.Pipe()
	defer pw.Close()
	rd := NewReader(pr)
	got := make(chan Event)
	go func() {
		for {
			ev, err := rd.Next()
			if err != nil {
				close(got)
				return
			}
			got <- ev
		}
	}()
	for _, chunk := range []string{"data: a\r\r", "\ndata: b\r", "\r", "\n\ndata: c\r\n\r\n"} {
		if _, err := pw.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(chunk, "data: b\r") {
			continue // not an event yet
		}
		select {
		case ev := <-got:
			t.Logf("after %q: %q", chunk, ev.Data)
		case <-time.After(10 * time.Second): // a hang guard, not a timing assertion
			t.Fatalf("no event after %q", chunk)
		}
	}
	pw.Close()
	if _, ok := <-got; ok {
		t.Fatal("an event after the last")
	}
}

func TestReaderLimitsEventSize(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", maxEventSize/2)
	stream := "data: " + long + "\ndata: " + long + "\ndata: " + long + "\n\n"
	if _, err := NewReader(strings.NewReader(stream)).Next(); !errors.Is(err, ErrEventTooLarge) {
		t.Errorf("a 1.5 MiB event: %v", err)
	}
	if _, err := NewReader(strings.NewReader("data: " + long + long + "x\n\n")).Next(); !errors.Is(err, ErrEventTooLarge) {
		t.Errorf("a 1 MiB line: %v", err)
	}
	if ev, err := NewReader(strings.NewReader("data: " + long + "\n\n")).Next(); err != nil || len(ev.Data) != len(long) {
		t.Errorf("a 512 KiB event: %d bytes, %v", len(ev.Data), err)
	}
}
