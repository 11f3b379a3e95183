package taskstream

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/r3labs/sse/v2"
)

// Tests of the one event encoder and the one reader, apart and together.

// wireEvents are events r3labs can write (each has Data or only a
// Comment), including hostile line breaks.
var wireEvents = []Event{
	{ID: "1", Event: "status", Data: []byte("<div class=\"task-status\">\n  <progress value=\"3\"></progress>\n</div>")},
	{Data: []byte("no id, no type")},
	{ID: "done", Event: "done", Data: []byte("complete")},
	{ID: "2", Data: []byte("trailing\n"), Retry: 3 * time.Second},
	{Data: []byte("\n\n")},
	{Comment: "keep-alive"},
	{Comment: "two\r\nlines\rhere"},
	{ID: "7", Event: "status", Data: []byte("with a comment"), Comment: "c"},
	{ID: "8\r\nevent: done", Event: "sta\rtus\n", Data: []byte("x\revent: done\r\ndata: forged\rid: 9")},
	{ID: "9", Event: "e", Data: []byte(" leading space, ünïcødé, \x00 NUL"), Retry: 1500 * time.Millisecond},
	{ID: "a\x00b", Data: []byte("id with NUL")},
}

// TestAppendEventMatchesR3labs publishes events through a real r3labs
// server to an HTTP subscriber: the bytes on the wire are AppendEvent's.
func TestAppendEventMatchesR3labs(t *testing.T) {
	t.Parallel()
	srv := sse.New()
	srv.AutoReplay = false
	srv.SplitData = true
	srv.CreateStream("s")
	defer srv.RemoveStream("s")
	hs := httptest.NewServer(srv)
	defer hs.Close()

	resp, err := hs.Client().Get(hs.URL + "/?stream=s") // returns once subscribed
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var want []byte
	for _, ev := range wireEvents {
		srv.Publish("s", toSSE(ev))
		want = AppendEvent(want, ev)
	}
	srv.Publish("s", &sse.Event{}) // ends the response
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("r3labs wrote\n%q\nAppendEvent\n%q", got, want)
	}
}

// r3labsWire is what r3labs writes for events, served to a recorder.
func r3labsWire(tb testing.TB, events ...Event) []byte {
	tb.Helper()
	subscribed, unsubscribed := make(chan struct{}), make(chan struct{})
	srv := sse.NewWithCallback(func(string, *sse.Subscriber) { close(subscribed) },
		func(string, *sse.Subscriber) { close(unsubscribed) })
	srv.AutoReplay = false
	srv.SplitData = true
	srv.CreateStream("s")
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/?stream=s", nil)
	rec := httptest.NewRecorder()
	served := make(chan struct{})
	go func() { defer close(served); srv.ServeHTTP(rec, req) }()
	<-subscribed
	for _, ev := range events {
		srv.Publish("s", toSSE(ev))
	}
	srv.Publish("s", &sse.Event{})
	<-served
	cancel()
	<-unsubscribed // removing the stream before would leak r3labs' goroutine
	srv.RemoveStream("s")
	return rec.Body.Bytes()
}

func TestWriteEventMatchesAppendEvent(t *testing.T) {
	t.Parallel()
	for _, ev := range wireEvents {
		var b bytes.Buffer
		if err := WriteEvent(&b, ev); err != nil {
			t.Fatal(err)
		}
		if want := AppendEvent(nil, ev); !bytes.Equal(b.Bytes(), want) {
			t.Errorf("WriteEvent %q, AppendEvent %q", b.Bytes(), want)
		}
	}
	if got := r3labsWire(t, wireEvents...); !bytes.Equal(got, appendAll(wireEvents)) {
		t.Errorf("r3labs (recorded) wrote\n%q\nwant\n%q", got, appendAll(wireEvents))
	}
}

func appendAll(evs []Event) []byte {
	var b []byte
	for _, ev := range evs {
		b = AppendEvent(b, ev)
	}
	return b
}

// TestAppendEventFormats pins the encoding of events r3labs cannot write.
func TestAppendEventFormats(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ev   Event
		want string
	}{
		{Event{}, ""},
		{Event{Retry: reconnectDelay}, "retry: 3000\n\n"},
		{Event{ID: "done", Event: "done"}, "id: done\nevent: done\n\n"},
		{Event{Event: "\r\n"}, ""},
		{Event{Data: []byte("a\r\rb")}, "id: \ndata: a\ndata: \ndata: b\n\n"},
		{Event{Data: []byte("x\revent: done")}, "id: \ndata: x\ndata: event: done\n\n"},
		{Event{Comment: "a\nb"}, ": a\n: b\n\n"},
	}
	for _, tt := range tests {
		if got := string(AppendEvent(nil, tt.ev)); got != tt.want {
			t.Errorf("AppendEvent(%+v) = %q, want %q", tt.ev, got, tt.want)
		}
	}
}

// TestForgedFieldsStayData: upstream text with bare CRs (a ledger named
// "x\revent: done") cannot end the stream's events early.
func TestForgedFieldsStayData(t *testing.T) {
	t.Parallel()
	ev := Event{ID: "4", Event: "status", Data: []byte("x\revent: done\rdata: complete\r\rid: done")}
	for name, wire := range map[string][]byte{"AppendEvent": AppendEvent(nil, ev), "r3labs": r3labsWire(t, ev)} {
		evs := readAll(t, wire)
		if len(evs) != 1 {
			t.Fatalf("%s: %d events from one: %+v", name, len(evs), evs)
		}
		got := evs[0]
		if got.ID != "4" || got.Event != "status" || string(got.Data) != "x\nevent: done\ndata: complete\n\nid: done" {
			t.Errorf("%s: read back %+v (data %q)", name, got, got.Data)
		}
	}
}

func readAll(tb testing.TB, wire []byte) []Event {
	tb.Helper()
	var out []Event
	rd := NewReader(bytes.NewReader(wire))
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			tb.Fatalf("reading %q: %v", wire, err)
		}
		out = append(out, ev)
	}
}

// FuzzEventRoundTrip: an encoded event reads back as itself (line breaks
// in Data as "\n"; ID without line breaks or NUL, Event without line
// breaks), is one event whatever its fields hold, and is what r3labs
// writes for it.
func FuzzEventRoundTrip(f *testing.F) {
	for _, s := range roundTripSeeds {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(checkRoundTrip)
}

// roundTripSeeds are id, event and data: hostile line breaks, injected
// fields, empty and blank values.
var roundTripSeeds = [][3]string{
	{"1", "status", "<div>\n  x\n</div>"},
	{"", "", ""},
	{"done", "done", "complete"},
	{"5", "status", "x\revent: done"},
	{"1\r\nevent: done", "st\ratus", "a\r\nb\rc\n"},
	{"", "", "\n"},
	{"", "", "trailing\n\n"},
	{"", "", "\r"},
	{"", "", "\r\n\r\n"},
	{" lead", " sp", " data"},
	{"id\x00", "", "d"},
	{"", "message", ""},
	{"only-id", "", ""},
	{"data: x", "event: y", "id: z\rretry: 1"},
	{"", "", ":comment\r: more"},
	{"\xef\xbb\xbf", "\xff", "\xef\xbb\xbfdata"},
}

func checkRoundTrip(t *testing.T, id, event, data string) {
	ev := Event{ID: id, Event: event, Data: []byte(data)}
	wire := AppendEvent(nil, ev)
	if bytes.IndexByte(wire, '\r') >= 0 {
		t.Fatalf("CR on the wire: %q", wire)
	}
	if len(wire) > 0 && bytes.Index(wire, []byte("\n\n")) != len(wire)-2 {
		t.Fatalf("not exactly one event: %q", wire)
	}
	if data != "" {
		if r3 := r3labsWire(t, ev); !bytes.Equal(r3, wire) {
			t.Fatalf("r3labs wrote %q, AppendEvent %q", r3, wire)
		}
	}
	want := Event{
		ID:    strings.NewReplacer("\r", "", "\n", "", "\x00", "").Replace(id),
		Event: strings.NewReplacer("\r", "", "\n", "").Replace(event),
		Data:  []byte(strings.ReplaceAll(strings.ReplaceAll(data, "\r\n", "\n"), "\r", "\n")),
	}
	evs := readAll(t, wire)
	if want.ID == "" && want.Event == "" && data == "" {
		if len(evs) != 0 {
			t.Fatalf("the empty event read back as %+v", evs)
		}
		return
	}
	if len(evs) != 1 {
		t.Fatalf("%q read back as %d events: %+v", wire, len(evs), evs)
	}
	got := evs[0]
	if got.ID != want.ID || got.Event != want.Event || !bytes.Equal(got.Data, want.Data) || got.Comment != "" || got.Retry != 0 {
		t.Fatalf("%q read back as %+v, want %+v", wire, got, want)
	}
}

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
