package fleet

import (
	"testing"
	"time"
)

// SetListenCheck shortens how long a listen connection may stay quiet
// before it is pinged, for the fleets opened until the test ends.
func SetListenCheck(t testing.TB, d time.Duration) {
	old := listenCheck
	listenCheck = d
	t.Cleanup(func() { listenCheck = old })
}

// LockPID returns the backend pid of the lock connection, 0 while it is down.
func (f *Fleet) LockPID() uint32 {
	f.mu.lockAlways()
	defer f.mu.Unlock()
	if f.conn == nil {
		return 0
	}
	return f.conn.PgConn().PID()
}

// ListenPID returns the backend pid of the last listen connection opened.
func (f *Fleet) ListenPID() uint32 { return f.listenPID.Load() }

// Listening reports whether the listen connection is up.
func (f *Fleet) Listening() bool { return f.listening.Load() }

// LeadRoundTrips counts the statements Lead ran.
func (f *Fleet) LeadRoundTrips() int64 { return f.leadTrips.Load() }

// ReplicaID is the fleet's replica id.
func (f *Fleet) ReplicaID() string { return f.id }

const MaxInlinePayload = maxInlinePayload

// Sign signs an envelope as a replica with key does.
func Sign(key []byte, env string) string { return sign(key, []byte(env)) }
