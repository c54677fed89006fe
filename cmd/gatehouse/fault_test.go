package main

import (
	"context"
	"database/sql"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun/driver/sqliteshim"

	"github.com/gatehouse-dev/gatehouse/handlers"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

// tcpProxy forwards loopback connections to PostgreSQL and can cut them:
// while down it closes every open connection and refuses new ones, as a
// database that went away would. While stalled it forwards nothing, in
// either direction, and holds new connections unanswered, as a network
// partition or a frozen host would.
type tcpProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	// unstall is non-nil while stalled, and closed when the stall ends.
	unstall chan struct{}
	conns   map[net.Conn]struct{}
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.setStalled(false); p.setDown(true) })
	return p
}

func (p *tcpProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		switch {
		case p.down:
			p.mu.Unlock()
			c.Close()
			continue
		case p.unstall != nil:
			// Accepted and never answered; closed when the stall ends.
			p.conns[c] = struct{}{}
			p.mu.Unlock()
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
		go p.pipe(up, c)
		go p.pipe(c, up)
	}
}

// pipe copies src to dst, holding what it read while the proxy is stalled.
func (p *tcpProxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			unstall := p.unstall
			p.mu.Unlock()
			if unstall != nil {
				select {
				case <-unstall:
				case <-time.After(time.Minute): // bounded even if a test forgets to end the stall
				}
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *tcpProxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		p.closeAll()
	}
}

// setStalled starts or ends a stall. Ending it closes every connection
// (those held unanswered included): TCP connections rarely survive a
// partition, and the pool must then open fresh ones.
func (p *tcpProxy) setStalled(stalled bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case stalled && p.unstall == nil:
		p.unstall = make(chan struct{})
	case !stalled && p.unstall != nil:
		close(p.unstall)
		p.unstall = nil
		p.closeAll()
	}
}

// closeAll closes every connection; p.mu is held.
func (p *tcpProxy) closeAll() {
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]struct{}{}
}

// TestDatabaseOutage: while PostgreSQL is unreachable, token requests and
// readiness answer 503 with a JSON error (never a 500 or a hang), and the
// service recovers by itself when the database comes back.
func TestDatabaseOutage(t *testing.T) {
	t.Parallel()
	dsn := bunstoretest.NewDSN(t, "postgres") // skips without PostgreSQL
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newTCPProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	store := openMigrated(t, u.String(), bunstore.Options{ClientCacheTTL: -1})
	s := startServerOn(t, store)
	c, secret := s.client(admin.ClientSpec{Name: "worker", Scopes: []string{"api"}})
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
	if !waitFor(15*time.Second, func() bool {
		st, body = token()
		return st != http.StatusServiceUnavailable
	}) || st != http.StatusOK {
		t.Fatalf("after the outage: %d %v", st, body)
	}
	if st, _, _ := doJSON(t, mustRequest(t, http.MethodGet, s.admin+"/health/ready")); st != http.StatusOK {
		t.Fatalf("ready after the outage: %d", st)
	}
}

// TestDatabaseUnresponsive: a database that hangs instead of refusing (a
// partition, a frozen host) gets 503 temporarily_unavailable too, never a
// 500 and never invalid_client because the client lookup hung. A query on
// an open connection is bounded by the request timeout; opening a new
// connection by the PostgreSQL connect timeout, well within it.
func TestDatabaseUnresponsive(t *testing.T) {
	t.Parallel()
	requireFaultEnv(t)
	dsn := bunstoretest.NewDSN(t, "postgres") // skips without PostgreSQL
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newTCPProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	// No client cache: every token request starts with a client lookup.
	store := openMigrated(t, u.String(), bunstore.Options{ClientCacheTTL: -1})
	logs := &logCapture{}
	s := startServerLogged(t, store, logs, noRateLimits)
	c, secret := s.client(admin.ClientSpec{Name: "worker", Scopes: []string{"api"}})
	token := func() (int, map[string]interface{}, time.Duration) {
		start := time.Now()
		st, body, _ := postForm(t, s.issuer+provider.PathToken, url.Values{"grant_type": {"client_credentials"}}, c.ID, secret)
		return st, body, time.Since(start)
	}
	if st, body, _ := token(); st != http.StatusOK {
		t.Fatalf("before the stall: %d %v", st, body)
	}

	// Open connections stop answering: the request times out.
	proxy.setStalled(true)
	st, body, took := token()
	if st != http.StatusServiceUnavailable || body["error"] != "temporarily_unavailable" || took > handlers.RequestTimeout+3*time.Second {
		t.Errorf("a query on a stalled connection: %d %v after %v, want 503 temporarily_unavailable within the request timeout", st, body, took)
	}
	t.Logf("stalled connection: %d after %v", st, took.Round(time.Millisecond))

	// The open connections are gone and new ones are never answered: the
	// connect timeout ends each attempt.
	proxy.mu.Lock()
	proxy.closeAll()
	proxy.mu.Unlock()
	// The store's default connect timeout is 5 s; pgx lets the
	// environment (PGCONNECT_TIMEOUT, which .ci/run sets) choose another.
	connectTimeout := 5 * time.Second
	if v, err := strconv.Atoi(os.Getenv("PGCONNECT_TIMEOUT")); err == nil && v > 0 {
		connectTimeout = time.Duration(v) * time.Second
	}
	for i := range 2 {
		st, body, took := token()
		if st != http.StatusServiceUnavailable || body["error"] != "temporarily_unavailable" || took > connectTimeout+3*time.Second {
			t.Errorf("new connections unanswered, request %d: %d %v after %v, want 503 temporarily_unavailable within the connect timeout", i, st, body, took)
		}
		t.Logf("unanswered connect, request %d: %d after %v", i, st, took.Round(time.Millisecond))
	}

	proxy.setStalled(false)
	if !waitFor(recoveryBound, func() bool {
		st, body, _ = token()
		return st != http.StatusServiceUnavailable
	}) || st != http.StatusOK {
		t.Fatalf("after the stall: %d %v", st, body)
	}
	if p := logs.Panics(); len(p) > 0 {
		t.Errorf("the log mentions a panic:\n%s", strings.Join(p, "\n"))
	}
}

// TestSQLiteWriteLockHeld: another process holding SQLite's write lock
// longer than busy_timeout makes writes answer 503 temporarily_unavailable
// (SQLITE_BUSY mapped, never a 500), reads go on (WAL), and the service
// recovers as soon as the lock is released.
func TestSQLiteWriteLockHeld(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	ctx := context.Background()
	const busyTimeout = 300 * time.Millisecond
	store := openMigrated(t, "sqlite://"+path, bunstore.Options{SQLiteBusyTimeout: busyTimeout})
	logs := &logCapture{}
	s := startServerLogged(t, store, logs, noRateLimits)
	c, secret := s.client(admin.ClientSpec{Name: "worker", Scopes: []string{"api"}})
	token := func() (int, map[string]interface{}, time.Duration) {
		start := time.Now()
		st, body, _ := postForm(t, s.issuer+provider.PathToken, url.Values{"grant_type": {"client_credentials"}}, c.ID, secret)
		return st, body, time.Since(start)
	}
	st, before, _ := token()
	if st != http.StatusOK {
		t.Fatalf("before the lock: %d %v", st, before)
	}

	// Another connection (as another process would) takes the write lock
	// and keeps it.
	other, err := sql.Open(sqliteshim.ShimName, "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		st, body, took := token()
		if st != http.StatusServiceUnavailable || body["error"] != "temporarily_unavailable" || took > busyTimeout+3*time.Second {
			t.Errorf("write lock held, request %d: %d %v after %v, want 503 temporarily_unavailable", i, st, body, took)
		}
	}
	if !s.active(t, c.ID, secret, before["access_token"].(string)) {
		t.Error("a token issued before the lock is not active while the lock is held")
	}
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	var body map[string]interface{}
	if !waitFor(5*time.Second, func() bool {
		st, body, _ = token()
		return st != http.StatusServiceUnavailable
	}) || st != http.StatusOK {
		t.Fatalf("after the lock was released: %d %v", st, body)
	}
	if p := logs.Panics(); len(p) > 0 {
		t.Errorf("the log mentions a panic:\n%s", strings.Join(p, "\n"))
	}
}
