package fleet_test

import (
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/internal/fleet"
)

// blackhole is a TCP proxy to a database server whose connections can be
// silenced: from freeze on, the bytes of the connections open then are
// dropped in both directions while their sockets stay open, as when a
// network path dies without a reset reaching either end. Connections
// opened later pass.
type blackhole struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	conns  map[*proxied]bool
	wg     sync.WaitGroup
	closed bool
}

type proxied struct {
	client, server net.Conn
	mu             sync.Mutex
	frozen         bool
}

func (p *proxied) isFrozen() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.frozen
}

// proxyURL starts a blackhole in front of the server of databaseURL and
// returns it with the URL that goes through it.
func proxyURL(t *testing.T, databaseURL string) (*blackhole, string) {
	t.Helper()
	u, err := url.Parse(databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackhole{ln: ln, target: u.Host, conns: make(map[*proxied]bool)}
	b.wg.Add(1)
	go b.accept()
	t.Cleanup(b.close)
	u.Host = ln.Addr().String()
	return b, u.String()
}

func (b *blackhole) accept() {
	defer b.wg.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.DialTimeout("tcp", b.target, waitFor)
		if err != nil {
			c.Close()
			continue
		}
		p := &proxied{client: c, server: s}
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			c.Close()
			s.Close()
			return
		}
		b.conns[p] = true
		b.wg.Add(2)
		b.mu.Unlock()
		go b.pipe(p, c, s)
		go b.pipe(p, s, c)
	}
}

// pipe copies from src to dst until either closes, dropping what it reads
// once p is frozen.
func (b *blackhole) pipe(p *proxied, src, dst net.Conn) {
	defer b.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.isFrozen() {
			if _, err := dst.Write(buf[:n]); err != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	if !p.isFrozen() {
		// Pass a close on, as a live network would.
		p.client.Close()
		p.server.Close()
	}
}

// freeze silences every connection open now.
func (b *blackhole) freeze() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for p := range b.conns {
		p.mu.Lock()
		p.frozen = true
		p.mu.Unlock()
	}
}

func (b *blackhole) close() {
	b.mu.Lock()
	b.closed = true
	b.ln.Close()
	for p := range b.conns {
		p.client.Close()
		p.server.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
}

// TestListenerNoticesSilentDeath: a listen connection whose network path
// died without a reset is noticed by its quiet-time ping and reopened.
func TestListenerNoticesSilentDeath(t *testing.T) {
	fleet.SetListenCheck(t, 300*time.Millisecond)
	url := setup(t)
	proxy, viaProxy := proxyURL(t, url)
	a, b := open(t, url, "a"), open(t, viaProxy, "b")
	lead(t, a, 7)
	announce(t, a, 7, []byte(`{"n":-1}`))
	receive(t, b)

	oldPID := b.ListenPID()
	proxy.freeze()

	start := time.Now()
	deadline := start.Add(waitFor)
	for n := 0; ; n++ {
		if time.Now().After(deadline) {
			t.Fatal("B never received an announcement after its listen connection went silent")
		}
		announce(t, a, 7, []byte(`{"n":0}`))
		select {
		case <-b.inbox:
		case <-time.After(200 * time.Millisecond):
			continue
		}
		break
	}
	if pid := b.ListenPID(); pid == oldPID {
		t.Errorf("B's listen pid is still %d", pid)
	}
	t.Logf("B listened again after %s", time.Since(start).Round(time.Millisecond))
}

// TestSilentLeader: the leader's lock connection goes silent while the
// server keeps its session (and its locks). The leader gives up its leads
// within a check and a ping timeout, while nobody else can take them, so
// the task is never led twice; once the server ends the session, another
// replica leads.
func TestSilentLeader(t *testing.T) {
	url := setup(t)
	proxy, viaProxy := proxyURL(t, url)
	a, b := open(t, viaProxy, "a"), open(t, url, "b")
	if !lead(t, a, 7) {
		t.Fatal("A.Lead(7) = false on a free task")
	}
	proxy.freeze()

	eventually(t, "A to give up task 7", func() bool { return !lead(t, a, 7) })
	if got := a.counts.lost.Load(); got != 1 {
		t.Errorf("A LeadLost = %d, want 1", got)
	}
	if lead(t, b, 7) {
		t.Fatal("B.Lead(7) = true while A's old session still holds the lock")
	}

	proxy.close() // the server sees the old session end
	eventually(t, "B to lead task 7", func() bool { return lead(t, b, 7) })
}
