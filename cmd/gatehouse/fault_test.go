package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

// tcpProxy forwards loopback connections to PostgreSQL and can cut them:
// while down it closes every open connection and refuses new ones, as a
// database that went away would.
type tcpProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]struct{}
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.setDown(true) })
	return p
}

func (p *tcpProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); up.Close(); c.Close() }()
		go func() { _, _ = io.Copy(c, up); up.Close(); c.Close() }()
	}
}

func (p *tcpProxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			c.Close()
		}
		p.conns = map[net.Conn]struct{}{}
	}
}

// TestDatabaseOutage: while PostgreSQL is unreachable, token requests and
// readiness answer 503 with a JSON error (never a 500 or a hang), and the
// service recovers by itself when the database comes back.
func TestDatabaseOutage(t *testing.T) {
	dsn := bunstoretest.NewDSN(t, "postgres") // skips without PostgreSQL
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newTCPProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	ctx := context.Background()
	store, err := bunstore.Open(ctx, u.String(), bunstore.Options{ClientCacheTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	s := startServerOn(t, store)
	c, secret := s.client(provider.ClientSpec{Name: "worker", Scopes: []string{"api"}})
	token := func() (int, map[string]interface{}) {
		st, body, _ := postForm(t, s.issuer+provider.PathToken, url.Values{"grant_type": {"client_credentials"}}, c.ID, secret)
		return st, body
	}
	if st, body := token(); st != http.StatusOK {
		t.Fatalf("before the outage: %d %v", st, body)
	}

	proxy.setDown(true)
	for i := 0; i < 5; i++ {
		st, body := token()
		if st != http.StatusServiceUnavailable || body["error"] != "temporarily_unavailable" {
			t.Fatalf("during the outage, request %d: %d %v", i, st, body)
		}
	}
	st, body, _ := doJSON(t, mustRequest(t, http.MethodGet, s.admin+"/health/ready"))
	if st != http.StatusServiceUnavailable || body["status"] != "unavailable" {
		t.Fatalf("ready during the outage: %d %v", st, body)
	}

	proxy.setDown(false)
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, body := token()
		if st == http.StatusOK {
			break
		}
		if st != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("after the outage: %d %v", st, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st, _, _ := doJSON(t, mustRequest(t, http.MethodGet, s.admin+"/health/ready")); st != http.StatusOK {
		t.Fatalf("ready after the outage: %d", st)
	}
}
