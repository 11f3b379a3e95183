package sandbox

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// serve runs srv on a loopback listener until the test ends and returns its address.
func serve(t *testing.T, srv *http.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

func TestNewHTTPServerSetsEveryTimeout(t *testing.T) {
	t.Parallel()
	srv := NewHTTPServer(http.NotFoundHandler())
	for name, d := range map[string]time.Duration{
		"ReadHeaderTimeout": srv.ReadHeaderTimeout, "ReadTimeout": srv.ReadTimeout,
		"WriteTimeout": srv.WriteTimeout, "IdleTimeout": srv.IdleTimeout,
	} {
		if d <= 0 {
			t.Errorf("%s = %v: a client could hold a connection forever", name, d)
		}
	}
	if srv.ReadHeaderTimeout > srv.ReadTimeout {
		t.Errorf("ReadHeaderTimeout %v is above ReadTimeout %v, which already bounds the headers", srv.ReadHeaderTimeout, srv.ReadTimeout)
	}
	if srv.MaxHeaderBytes <= 0 || srv.Handler == nil {
		t.Errorf("MaxHeaderBytes %d, Handler %v", srv.MaxHeaderBytes, srv.Handler)
	}
}

// TestHTTPServerCutsSlowHeaders: a client that starts a request and never finishes its
// headers is disconnected after ReadHeaderTimeout (shortened from 10 s for the test).
func TestHTTPServerCutsSlowHeaders(t *testing.T) {
	t.Parallel()
	const headerTimeout = 200 * time.Millisecond
	srv := NewHTTPServer(http.NotFoundHandler())
	srv.ReadHeaderTimeout = headerTimeout
	conn, err := net.Dial("tcp", serve(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := fmt.Fprint(conn, "GET /api/v1/projects HTTP/1.1\r\nHost: sandbox\r\n"); err != nil {
		t.Fatal(err)
	}
	const patience = 5 * time.Second
	if err := conn.SetReadDeadline(time.Now().Add(patience)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	answer, err := io.ReadAll(conn) // returns at EOF, when the server closes the connection
	if err != nil {
		t.Fatalf("still connected after %v with unfinished headers: %v", time.Since(start), err)
	}
	if d := time.Since(start); d < headerTimeout/2 || d > patience/2 {
		t.Errorf("cut off after %v, want about %v", d, headerTimeout)
	}
	if len(answer) != 0 {
		t.Logf("answer before closing: %q", answer)
	}
}

// TestInjectedLatencyOutlastsServerTimeouts: a request held back by injected latency
// longer than the server's read and write timeouts is still read and answered, not cut
// off. The preview's body starts with 256 KiB of blanks, more than arrives with the
// headers, so the JSON is read from the connection after the delay.
func TestInjectedLatencyOutlastsServerTimeouts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Faults: Faults{Latency: 300 * time.Millisecond}})
	srv := NewHTTPServer(e.s.Handler())
	srv.ReadTimeout, srv.WriteTimeout = 100*time.Millisecond, 100*time.Millisecond
	base := "http://" + serve(t, srv) + "/api/v1"
	body := strings.Repeat(" ", 256<<10) + `{"start_time": "2025-01-01", "end_time": "2025-03-31"}`
	for _, tt := range []struct{ method, path, body string }{
		{"GET", "/projects", ""},
		{"POST", "/ledgers/lgr_3047w5rbxmym/generate_preview", body},
	} {
		req, err := http.NewRequest(tt.method, base+tt.path, strings.NewReader(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+e.tok.ReadWrite)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("%s %s, 300ms injected latency behind 100ms timeouts: %v", tt.method, tt.path, err)
			continue
		}
		answer, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK {
			t.Errorf("%s %s: %d %s (read error %v)", tt.method, tt.path, res.StatusCode, answer, err)
		}
	}
}
