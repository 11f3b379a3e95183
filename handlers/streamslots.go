package handlers

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/carbon-dash/mangrove-dashboard/store"
	"github.com/carbon-dash/mangrove-dashboard/views"
)

// Default caps on open event streams (STREAMS_PER_SESSION,
// STREAMS_PER_CLIENT): a few dozen tabs are a person's worth; beyond that
// they only hold file descriptors everyone shares.
const (
	DefaultStreamsPerSession = 16
	DefaultStreamsPerClient  = 64
)

// streamSlots counts the event streams open per session and per client
// address, refuses one beyond either cap, and ends a session's streams when
// it signs out.
type streamSlots struct {
	perSession, perClient, total int

	mu   sync.Mutex
	open int
	// bySession is keyed by the hash of the session id (store.SessionIDHash),
	// the name a sign-out on another replica gives it.
	bySession map[string]*sessionStreams
	byClient  map[string]int
}

// sessionStreams are a session's open streams: signedIn ends with sign-out.
type sessionStreams struct {
	open     int
	signedIn context.Context
	signOut  context.CancelFunc
}

func newStreamSlots(perSession, perClient, total int) *streamSlots {
	return &streamSlots{
		perSession: perSession, perClient: perClient, total: total,
		bySession: map[string]*sessionStreams{}, byClient: map[string]int{},
	}
}

// errTooManyStreams is a cap reached: 429, with the cap in words.
func errTooManyStreams(limit int, whose string) *pageError {
	return &pageError{Status: http.StatusTooManyRequests, Heading: "Too many progress pages open",
		Message: fmt.Sprintf("%s already has %d live progress %s open, the most allowed. Close some task pages (tabs), then reload this one.",
			whose, limit, views.Plural(limit, "stream", "streams")),
		Action: "Back to the history", ActionURL: views.TasksPath()}
}

// errServerStreamsFull is the dashboard-wide cap reached: streams never go
// idle, so without it they could take every connection and leave none for
// pages and health checks.
var errServerStreamsFull = &pageError{Status: http.StatusTooManyRequests, Heading: "Too many progress pages open",
	Message: "The dashboard is following as many live progress streams as it serves at once. The task page still shows the state when it was loaded: reload it in a minute.",
	Action:  "Back to the history", ActionURL: views.TasksPath()}

// acquire takes a slot for a stream of session sid ("" when the session has
// none, as with a server-wide token) from client. It returns the context
// that ends at sign-out (nil without a session) and release, to be called
// once when the stream ends.
func (s *streamSlots) acquire(sid, client string) (context.Context, func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open >= s.total {
		return nil, nil, errServerStreamsFull
	}
	if s.byClient[client] >= s.perClient {
		return nil, nil, errTooManyStreams(s.perClient, "Your network address")
	}
	var ss *sessionStreams
	var key string
	if sid != "" {
		key = store.SessionIDHash(sid)
		ss = s.bySession[key]
		if ss == nil {
			ctx, cancel := context.WithCancel(context.Background())
			ss = &sessionStreams{signedIn: ctx, signOut: cancel}
			s.bySession[key] = ss
		}
		if ss.open >= s.perSession {
			return nil, nil, errTooManyStreams(s.perSession, "Your session")
		}
		ss.open++
	}
	s.byClient[client]++
	s.open++
	release := sync.OnceFunc(func() { s.release(key, ss, client) })
	if ss == nil {
		return nil, release, nil
	}
	return ss.signedIn, release, nil
}

func (s *streamSlots) release(key string, ss *sessionStreams, client string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.open--
	if s.byClient[client]--; s.byClient[client] <= 0 {
		delete(s.byClient, client)
	}
	if ss == nil {
		return
	}
	if ss.open--; ss.open <= 0 && s.bySession[key] == ss {
		ss.signOut() // frees the context; nothing is open on it any more
		delete(s.bySession, key)
	}
}

// endSession ends every open stream of the session whose id hashes to
// idHash (store.SessionIDHash).
func (s *streamSlots) endSession(idHash string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss := s.bySession[idHash]; ss != nil {
		ss.signOut()
		delete(s.bySession, idHash) // its streams release against their own entry
	}
}
