package sandbox

import (
	"net/http"
	"time"
)

// Limits of the sandbox's HTTP server. Its answers are small JSON documents computed in
// milliseconds, so each limit is far above what a working client needs; they are there
// so that a stuck or hostile client cannot hold a connection (and its goroutine) forever.
const (
	// readHeaderTimeout bounds the request line and headers: a client that trickles them
	// and never ends (slowloris) is cut off instead of holding the connection.
	readHeaderTimeout = 10 * time.Second
	// readTimeout bounds the whole request, body included; the largest body the sandbox
	// reads is maxBodyBytes (1 MiB), a second's work on a slow link.
	readTimeout = 30 * time.Second
	// writeTimeout bounds handling plus writing the response: the slowest answer (a
	// preview over years of a million data points) takes well under a second. Requests
	// held back by injected latency get it again after the delay (see extendDeadlines).
	writeTimeout = 60 * time.Second
	// idleTimeout closes keep-alive connections left unused this long; a client polling a
	// task every few seconds keeps its connection.
	idleTimeout = 2 * time.Minute
	// maxHeaderBytes: a bearer token and a few headers need a few hundred bytes.
	maxHeaderBytes = 64 << 10
)

// NewHTTPServer is the http.Server to serve a sandbox's Handler (h, possibly wrapped)
// with: every timeout set, so no client can hold a connection open forever. The caller
// sets Addr or calls Serve with its listener, and may set ErrorLog.
func NewHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
	}
}

// extendDeadlines gives a request held back by injected latency its full read and write
// time after the delay, as a slow server would: without it a latency above readTimeout or
// writeTimeout would turn into a cut connection, a fault nobody asked for. Writers that
// cannot set deadlines (recorders, HTTP/2 without support) are left as they are.
func extendDeadlines(w http.ResponseWriter, latency time.Duration) {
	rc := http.NewResponseController(w)
	now := time.Now()
	_ = rc.SetReadDeadline(now.Add(latency + readTimeout))
	_ = rc.SetWriteDeadline(now.Add(latency + writeTimeout))
}
