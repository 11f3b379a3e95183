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
	"time"

	"github.com/r3labs/sse/v2"
)

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
