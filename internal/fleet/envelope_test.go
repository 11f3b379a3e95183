package fleet

import (
	"bytes"
	"strings"
	"testing"
)

const testHash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestDecodeEnvelope(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    message // compared when wantErr is false
		wantErr bool
	}{
		{name: "inline json", payload: `{"r":"ab","t":7,"s":{"a":[1,2]}}`,
			want: message{replica: "ab", task: 7, snapshot: []byte(`{"a":[1,2]}`)}},
		{name: "inline json keeps bytes", payload: `{"r":"ab","t":7,"s":{"a" : "<&>"} }`,
			want: message{replica: "ab", task: 7, snapshot: []byte(`{"a" : "<&>"}`)}},
		{name: "inline null", payload: `{"r":"ab","t":7,"s":null}`,
			want: message{replica: "ab", task: 7, snapshot: []byte(`null`)}},
		{name: "negative task", payload: `{"r":"ab","t":-3,"s":1}`,
			want: message{replica: "ab", task: -3, snapshot: []byte(`1`)}},
		{name: "base64", payload: `{"r":"ab","t":7,"b":"AP8="}`,
			want: message{replica: "ab", task: 7, snapshot: []byte{0, 0xff}}},
		{name: "empty base64", payload: `{"r":"ab","t":7,"b":""}`,
			want: message{replica: "ab", task: 7, snapshot: []byte{}}},
		{name: "ref", payload: `{"r":"ab","t":7,"ref":true,"h":"` + testHash + `"}`,
			want: message{replica: "ab", task: 7, ref: true, hash: testHash}},
		{name: "ref base64", payload: `{"r":"ab","t":7,"ref":true,"h":"` + testHash + `","b64":true}`,
			want: message{replica: "ab", task: 7, ref: true, hash: testHash, b64: true}},
		{name: "unknown fields ignored", payload: `{"r":"ab","t":7,"s":1,"v":2}`,
			want: message{replica: "ab", task: 7, snapshot: []byte(`1`)}},

		{name: "not json", payload: `not json`, wantErr: true},
		{name: "empty", payload: ``, wantErr: true},
		{name: "json null", payload: `null`, wantErr: true},
		{name: "array", payload: `[1]`, wantErr: true},
		{name: "string", payload: `"x"`, wantErr: true},
		{name: "empty object", payload: `{}`, wantErr: true},
		{name: "trailing garbage", payload: `{"r":"ab","t":7,"s":1} x`, wantErr: true},
		{name: "truncated", payload: `{"r":"ab","t":7,"s":{"a":`, wantErr: true},
		{name: "no replica", payload: `{"t":7,"s":1}`, wantErr: true},
		{name: "empty replica", payload: `{"r":"","t":7,"s":1}`, wantErr: true},
		{name: "replica not a string", payload: `{"r":5,"t":7,"s":1}`, wantErr: true},
		{name: "replica too long", payload: `{"r":"` + strings.Repeat("a", 65) + `","t":7,"s":1}`, wantErr: true},
		{name: "no task", payload: `{"r":"ab","s":1}`, wantErr: true},
		{name: "task null", payload: `{"r":"ab","t":null,"s":1}`, wantErr: true},
		{name: "task fraction", payload: `{"r":"ab","t":7.5,"s":1}`, wantErr: true},
		{name: "task string", payload: `{"r":"ab","t":"7","s":1}`, wantErr: true},
		{name: "task overflow", payload: `{"r":"ab","t":99999999999999999999,"s":1}`, wantErr: true},
		{name: "no snapshot", payload: `{"r":"ab","t":7}`, wantErr: true},
		{name: "ref false", payload: `{"r":"ab","t":7,"ref":false}`, wantErr: true},
		{name: "session ended", payload: `{"r":"ab","se":"` + testHash + `"}`,
			want: message{replica: "ab", sessionEnded: testHash}},
		{name: "session ended short hash", payload: `{"r":"ab","se":"abc"}`, wantErr: true},
		{name: "session ended with a task", payload: `{"r":"ab","t":7,"se":"` + testHash + `"}`, wantErr: true},
		{name: "session ended with a snapshot", payload: `{"r":"ab","se":"` + testHash + `","s":1}`, wantErr: true},
		{name: "session ended without replica", payload: `{"se":"` + testHash + `"}`, wantErr: true},
		{name: "s and b", payload: `{"r":"ab","t":7,"s":1,"b":"AA=="}`, wantErr: true},
		{name: "s and ref", payload: `{"r":"ab","t":7,"s":1,"ref":true,"h":"` + testHash + `"}`, wantErr: true},
		{name: "bad base64", payload: `{"r":"ab","t":7,"b":"!!"}`, wantErr: true},
		{name: "b not a string", payload: `{"r":"ab","t":7,"b":1}`, wantErr: true},
		{name: "ref without hash", payload: `{"r":"ab","t":7,"ref":true}`, wantErr: true},
		{name: "ref short hash", payload: `{"r":"ab","t":7,"ref":true,"h":"abc"}`, wantErr: true},
		{name: "ref upper-case hash", payload: `{"r":"ab","t":7,"ref":true,"h":"` + strings.ToUpper(testHash) + `"}`, wantErr: true},
		{name: "ref not a bool", payload: `{"r":"ab","t":7,"ref":"yes","h":"` + testHash + `"}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeEnvelope(tt.payload)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("decodeEnvelope(%q) = %+v, want an error", tt.payload, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("decodeEnvelope(%q): %v", tt.payload, err)
			}
			if got.replica != tt.want.replica || got.task != tt.want.task || got.ref != tt.want.ref ||
				got.hash != tt.want.hash || got.b64 != tt.want.b64 || got.sessionEnded != tt.want.sessionEnded ||
				!bytes.Equal(got.snapshot, tt.want.snapshot) ||
				(got.snapshot == nil) != (tt.want.snapshot == nil) {
				t.Errorf("decodeEnvelope(%q) = %+v, want %+v", tt.payload, got, tt.want)
			}
		})
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		snapshot []byte
		inline   bool // travels verbatim in "s"
	}{
		{"object", []byte(`{"state":"running","done":3,"of":9}`), true},
		{"spaced object", []byte(`{ "a" : [ 1 , 2 ] }`), true},
		{"html characters", []byte(`{"msg":"<b>&amp;</b>"}`), true},
		{"unicode", []byte(`{"msg":"✓ ünïcode \u00e9"}`), true},
		{"null", []byte(`null`), true},
		{"number", []byte(`42`), true},
		{"leading space", []byte(` {"a":1}`), false},
		{"trailing newline", []byte("{\"a\":1}\n"), false},
		{"not json", []byte(`not json`), false},
		{"empty", []byte{}, false},
		{"nil", nil, false},
		{"binary", []byte{0, 1, 2, 0xff, 0xfe}, false},
		{"invalid utf-8 in a string", []byte("\"\xff\""), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := encodeInline("0123456789abcdef", -12, tt.snapshot)
			if inline := bytes.Contains(env, []byte(`"s":`)); inline != tt.inline {
				t.Errorf("envelope %s: inline %v, want %v", env, inline, tt.inline)
			}
			m, err := decodeEnvelope(string(env))
			if err != nil {
				t.Fatalf("decodeEnvelope(%s): %v", env, err)
			}
			if m.replica != "0123456789abcdef" || m.task != -12 || m.ref || !bytes.Equal(m.snapshot, tt.snapshot) {
				t.Errorf("round trip of %q through %s = %+v", tt.snapshot, env, m)
			}

			body, b64 := tableBody(tt.snapshot)
			ref := encodeRef("0123456789abcdef", -12, body, b64)
			m, err = decodeEnvelope(string(ref))
			if err != nil || !m.ref || m.task != -12 {
				t.Fatalf("decodeEnvelope(%s) = %+v, %v", ref, m, err)
			}
			got, err := decodeBody(m, body)
			if err != nil || !bytes.Equal(got, tt.snapshot) {
				t.Errorf("table round trip of %q = %q, %v", tt.snapshot, got, err)
			}
			if _, err := decodeBody(m, body+"x"); err != errSuperseded {
				t.Errorf("decodeBody of another body: %v, want errSuperseded", err)
			}
		})
	}
}

func TestRefEnvelopeIsSmall(t *testing.T) {
	env := encodeRef(newReplicaID(), -1<<63, "body", true)
	if len(env) > 200 {
		t.Errorf("ref envelope is %d bytes: %s", len(env), env)
	}
}

// FuzzDecodeEnvelope checks that no payload makes the decoder panic, that
// whatever it accepts re-encodes to the same message, and that any bytes
// announced come back unchanged, inline or through the table.
func FuzzDecodeEnvelope(f *testing.F) {
	for _, s := range []string{
		`{"r":"ab","t":7,"s":{"a":1}}`,
		`{"r":"ab","t":7,"s":null}`,
		`{"r":"ab","t":7,"b":"AP8="}`,
		`{"r":"ab","t":7,"ref":true,"h":"` + testHash + `","b64":true}`,
		`{"r":"ab","t":7,"s":1,"b":"AA=="}`,
		`{"r":"ab","t":1e3,"s":1}`,
		`{"R":"ab","T":7,"S":1}`,
		`not json`,
		``,
		"\x00\xff",
		`{"r":"\ud800","t":0,"s":"\ud800"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, payload string) {
		m, err := decodeEnvelope(payload)
		if err == nil && !m.ref {
			again, err := decodeEnvelope(string(encodeInline(m.replica, m.task, m.snapshot)))
			if err != nil || again.replica != m.replica || again.task != m.task || !bytes.Equal(again.snapshot, m.snapshot) {
				t.Fatalf("re-encoding %+v gave %+v, %v", m, again, err)
			}
		}

		snapshot := []byte(payload)
		env := encodeInline("r", 5, snapshot)
		got, err := decodeEnvelope(string(env))
		if err != nil || got.replica != "r" || got.task != 5 || !bytes.Equal(got.snapshot, snapshot) {
			t.Fatalf("inline round trip of %q via %s = %+v, %v", snapshot, env, got, err)
		}
		body, b64 := tableBody(snapshot)
		ref, err := decodeEnvelope(string(encodeRef("r", 5, body, b64)))
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodeBody(ref, body)
		if err != nil || !bytes.Equal(back, snapshot) {
			t.Fatalf("table round trip of %q = %q, %v", snapshot, back, err)
		}
	})
}

func TestSessionEndedRoundTrip(t *testing.T) {
	env := encodeSessionEnded("ab\"c", testHash)
	m, err := decodeEnvelope(string(env))
	if err != nil || m.replica != "ab\"c" || m.sessionEnded != testHash || m.task != 0 || m.snapshot != nil {
		t.Fatalf("decodeEnvelope(%s) = %+v, %v", env, m, err)
	}
}

func TestSignVerify(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	env := []byte(`{"r":"ab","t":7,"s":1}`)
	payload := sign(key, env)
	if got, ok := verify(key, payload); !ok || got != string(env) {
		t.Fatalf("verify(sign(env)) = %q, %v", got, ok)
	}
	for name, bad := range map[string]string{
		"other key":     sign([]byte(strings.Repeat("z", 32)), env),
		"unsigned":      string(env),
		"empty":         "",
		"mac only":      payload[:macHexLen],
		"no dot":        strings.Replace(payload, ".", ":", 1),
		"changed body":  strings.Replace(payload, `"t":7`, `"t":8`, 1),
		"not hex":       strings.Repeat("g", macHexLen) + "." + string(env),
		"upper-case ok": strings.ToUpper(payload[:macHexLen]) + payload[macHexLen:], // hex decodes either case; still the right MAC
	} {
		_, ok := verify(key, bad)
		if want := name == "upper-case ok"; ok != want {
			t.Errorf("%s: verify = %v, want %v", name, ok, want)
		}
	}
}

func FuzzVerify(f *testing.F) {
	key := []byte(strings.Repeat("k", 32))
	f.Add(sign(key, []byte(`{"r":"ab","t":7,"s":1}`)))
	f.Add("")
	f.Add(strings.Repeat("0", macHexLen) + ".")
	f.Fuzz(func(t *testing.T, payload string) {
		env, ok := verify(key, payload)
		if ok && sign(key, []byte(env))[:macHexLen] != strings.ToLower(payload[:macHexLen]) {
			t.Fatalf("verify accepted %q, which is not the envelope's MAC", payload)
		}
	})
}
