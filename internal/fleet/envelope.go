package fleet

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// The envelope is the NOTIFY payload (signed: see sign), a small JSON
// object in one of four forms:
//
//	{"r":"<replica>","t":<task>,"s":<snapshot>}              inline JSON
//	{"r":"<replica>","t":<task>,"b":"<base64 snapshot>"}     inline bytes
//	{"r":"<replica>","t":<task>,"ref":true,"h":"<sha256>"}  body in fleet_snapshots
//	{"r":"<replica>","se":"<sha256>"}                        a session ended
//
// The last names a signed-out session by the hash the store keeps of its id
// (never the id, which would sign anyone in), so every replica ends that
// session's open event streams.
//
// "s" carries the snapshot verbatim when it is valid UTF-8 JSON without
// surrounding white space, which is what the watcher pool sends. Anything
// else (the fleet treats snapshots as opaque bytes) goes base64 in "b"
// rather than being rejected, so the receiver always gets exactly the bytes
// that were announced. A ref envelope adds "b64":true when the table body is
// base64 (the snapshot is not UTF-8 text, or contains NUL, which TEXT cannot
// hold). "h" is the hex SHA-256 of the table body: a receiver that reads a
// body with another hash drops it, since a newer snapshot replaced the row
// and its own notification follows (the upsert and its NOTIFY are one
// statement, so every committed body has a notification behind it).
//
// Unknown fields are ignored, so a newer replica may add some.

// maxReplicaLen bounds the replica id a decoded envelope may carry (ours
// are 16 hex characters).
const maxReplicaLen = 64

// message is a decoded envelope.
type message struct {
	replica  string
	task     int64
	snapshot []byte // inline forms
	ref      bool   // the snapshot is in fleet_snapshots
	hash     string // ref: hex SHA-256 of the table body
	b64      bool   // ref: the table body is base64
	// sessionEnded is the hash of a signed-out session's id; the other
	// fields are then empty.
	sessionEnded string
}

type wireEnvelope struct {
	R   *string         `json:"r"`
	T   *int64          `json:"t"`
	S   json.RawMessage `json:"s"`
	B   *string         `json:"b"`
	Ref bool            `json:"ref"`
	H   string          `json:"h"`
	B64 bool            `json:"b64"`
	SE  string          `json:"se"`
}

// rawJSON reports whether snapshot can travel verbatim in "s": decoding
// returns exactly the value's bytes, so it must be valid JSON (which NOTIFY
// and TEXT need as UTF-8) with no white space around it.
func rawJSON(snapshot []byte) bool {
	if len(snapshot) == 0 || isJSONSpace(snapshot[0]) || isJSONSpace(snapshot[len(snapshot)-1]) {
		return false
	}
	return utf8.Valid(snapshot) && json.Valid(snapshot)
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// textOK reports whether snapshot can be stored verbatim in a TEXT column.
func textOK(snapshot []byte) bool {
	return utf8.Valid(snapshot) && bytes.IndexByte(snapshot, 0) < 0
}

func appendHead(b []byte, replica string, task int64) []byte {
	r, _ := json.Marshal(replica) // a string never fails
	b = append(b, `{"r":`...)
	b = append(b, r...)
	b = append(b, `,"t":`...)
	return strconv.AppendInt(b, task, 10)
}

// encodeInline returns the inline envelope of snapshot. The caller checks
// its length against maxInlinePayload.
func encodeInline(replica string, task int64, snapshot []byte) []byte {
	b := make([]byte, 0, 64+len(replica)+base64.StdEncoding.EncodedLen(len(snapshot)))
	b = appendHead(b, replica, task)
	if rawJSON(snapshot) {
		b = append(b, `,"s":`...)
		b = append(b, snapshot...)
	} else {
		b = append(b, `,"b":"`...)
		b = base64.StdEncoding.AppendEncode(b, snapshot)
		b = append(b, '"')
	}
	return append(b, '}')
}

// tableBody returns what goes into fleet_snapshots.body for snapshot, and
// whether it is base64.
func tableBody(snapshot []byte) (body string, b64 bool) {
	if textOK(snapshot) {
		return string(snapshot), false
	}
	return base64.StdEncoding.EncodeToString(snapshot), true
}

func bodyHash(body string) string {
	h := sha256.Sum256([]byte(body))
	return hex.EncodeToString(h[:])
}

// encodeRef returns the envelope announcing that the task's snapshot is in
// fleet_snapshots with the given body.
func encodeRef(replica string, task int64, body string, b64 bool) []byte {
	b := appendHead(make([]byte, 0, 160), replica, task)
	b = append(b, `,"ref":true,"h":"`...)
	b = append(b, bodyHash(body)...)
	b = append(b, '"')
	if b64 {
		b = append(b, `,"b64":true`...)
	}
	return append(b, '}')
}

// encodeSessionEnded returns the envelope saying the session whose id
// hashes to idHash (hex SHA-256) ended.
func encodeSessionEnded(replica, idHash string) []byte {
	r, _ := json.Marshal(replica) // a string never fails
	b := append([]byte(`{"r":`), r...)
	b = append(b, `,"se":"`...)
	b = append(b, idHash...)
	return append(b, `"}`...)
}

// decodeEnvelope parses a notification payload. Anything that is not one of
// the four forms is an error; it never panics.
func decodeEnvelope(payload string) (message, error) {
	var w wireEnvelope
	if err := json.Unmarshal([]byte(payload), &w); err != nil {
		return message{}, fmt.Errorf("not a JSON envelope: %w", err)
	}
	switch {
	case w.R == nil || *w.R == "":
		return message{}, errors.New(`missing replica "r"`)
	case len(*w.R) > maxReplicaLen:
		return message{}, fmt.Errorf("replica id longer than %d bytes", maxReplicaLen)
	case w.SE != "":
		if !isSHA256Hex(w.SE) || w.T != nil || w.S != nil || w.B != nil || w.Ref {
			return message{}, errors.New(`"se" wants a hex SHA-256 alone`)
		}
		return message{replica: *w.R, sessionEnded: w.SE}, nil
	case w.T == nil:
		return message{}, errors.New(`missing task "t"`)
	}
	m := message{replica: *w.R, task: *w.T}
	forms := 0
	if w.S != nil {
		forms++
	}
	if w.B != nil {
		forms++
	}
	if w.Ref {
		forms++
	}
	if forms != 1 {
		return message{}, errors.New(`want exactly one of "s", "b" and "ref"`)
	}
	switch {
	case w.S != nil:
		m.snapshot = w.S
	case w.B != nil:
		s, err := base64.StdEncoding.DecodeString(*w.B)
		if err != nil {
			return message{}, fmt.Errorf(`bad base64 in "b": %w`, err)
		}
		m.snapshot = s
	default:
		if !isSHA256Hex(w.H) {
			return message{}, errors.New(`ref without a hex SHA-256 "h"`)
		}
		m.ref, m.hash, m.b64 = true, w.H, w.B64
	}
	return m, nil
}

func isSHA256Hex(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// decodeBody turns a fleet_snapshots body read for m back into the
// snapshot, checking it is the one m announced.
func decodeBody(m message, body string) ([]byte, error) {
	if bodyHash(body) != m.hash {
		return nil, errSuperseded
	}
	if !m.b64 {
		return []byte(body), nil
	}
	s, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		return nil, fmt.Errorf("bad base64 body: %w", err)
	}
	return s, nil
}

// errSuperseded: the row holds a newer snapshot than the notification
// announced; that snapshot's own notification follows.
var errSuperseded = errors.New("snapshot superseded by a newer one")

// A notification's payload is the envelope signed with the fleet's key:
// the hex HMAC-SHA256 of the envelope, a '.', then the envelope. A ref
// envelope carries the hash of its table row, so the row is covered too.
const macHexLen = 2 * sha256.Size

// sign returns the payload that carries env, signed with key.
func sign(key, env []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(env)
	return hex.EncodeToString(m.Sum(nil)) + "." + string(env)
}

// verify returns the envelope of payload when key signed it.
func verify(key []byte, payload string) (string, bool) {
	if len(payload) <= macHexLen || payload[macHexLen] != '.' {
		return "", false
	}
	got, err := hex.DecodeString(payload[:macHexLen])
	if err != nil {
		return "", false
	}
	env := payload[macHexLen+1:]
	m := hmac.New(sha256.New, key)
	m.Write([]byte(env))
	return env, hmac.Equal(got, m.Sum(nil))
}
