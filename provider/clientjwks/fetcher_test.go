package clientjwks

import (
	"bytes"
	"context"
	"crypto/elliptic"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	josev3 "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"

	"github.com/gatehouse-dev/gatehouse/internal/clocktest"
	"github.com/gatehouse-dev/gatehouse/provider/outbound"
)

// testStart is where the tests' clocks start.
var testStart = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// logBuffer collects log output for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), s)
}

// server serves handler and counts requests.
type server struct {
	*httptest.Server
	hits atomic.Int64
}

func newServer(t *testing.T, handler http.HandlerFunc) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		handler(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func serveBody(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	}
}

type fixture struct {
	f     *Fetcher
	clock *clocktest.Clock
	logs  *logBuffer
}

// newFixture returns a Fetcher that may reach loopback (the test servers).
func newFixture(t *testing.T, mod func(*FetcherOptions)) *fixture {
	t.Helper()
	fx := &fixture{clock: clocktest.New(testStart), logs: &logBuffer{}}
	opts := FetcherOptions{
		Outbound: outbound.Options{AllowPrivateNetworks: true, Timeout: 2 * time.Second},
		Logger:   slog.New(slog.NewTextHandler(fx.logs, nil)),
		Now:      fx.clock.Now,
	}
	if mod != nil {
		mod(&opts)
	}
	fx.f = NewFetcher(opts)
	return fx
}

// wantInvalidClient checks err is what fosite turns into a 401
// invalid_client, and that its hint says hint.
func wantInvalidClient(t *testing.T, err error, hint string) {
	t.Helper()
	var rfc *fosite.RFC6749Error
	if !errors.As(err, &rfc) {
		t.Fatalf("got %v (%T), want a fosite error", err, err)
	}
	if rfc.ErrorField != "invalid_client" || rfc.CodeField != http.StatusUnauthorized {
		t.Fatalf("got %s %d, want invalid_client 401", rfc.ErrorField, rfc.CodeField)
	}
	if !strings.Contains(rfc.HintField, hint) {
		t.Fatalf("hint %q does not say %q", rfc.HintField, hint)
	}
}

func TestFetcherResolvesAndCaches(t *testing.T) {
	r := rsaKey(t, 2048)
	e := ecKey(t, elliptic.P256())
	srv := newServer(t, serveBody(set(jwk(t, &r.PublicKey, map[string]any{"kid": "r"}), jwk(t, &e.PublicKey, map[string]any{"kid": "e", "use": "sig"}))))
	fx := newFixture(t, nil)
	ctx := context.Background()

	got, err := fx.f.Resolve(ctx, srv.URL, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Keys) != 2 || got.Keys[0].KeyID != "r" || got.Keys[0].Use != "sig" || got.Keys[1].KeyID != "e" {
		t.Fatalf("keys: %+v", got.Keys)
	}
	// Cache hit within the TTL.
	fx.clock.Advance(DefaultTTL - time.Second)
	if again, err := fx.f.Resolve(ctx, srv.URL, false); err != nil || again != got || srv.hits.Load() != 1 {
		t.Fatalf("cache miss: %v, hits %d", err, srv.hits.Load())
	}
	// Expired: fetched again.
	fx.clock.Advance(2 * time.Second)
	if _, err := fx.f.Resolve(ctx, srv.URL, false); err != nil || srv.hits.Load() != 2 {
		t.Fatalf("after TTL: %v, hits %d", err, srv.hits.Load())
	}
}

func TestFetcherIgnoreCacheIsRateLimited(t *testing.T) {
	r := rsaKey(t, 2048)
	srv := newServer(t, serveBody(set(jwk(t, &r.PublicKey, kid(1)))))
	fx := newFixture(t, nil)
	ctx := context.Background()

	if _, err := fx.f.Resolve(ctx, srv.URL, false); err != nil {
		t.Fatal(err)
	}
	// fosite asks again, bypassing the cache, for every unknown kid: an
	// attacker sending made-up kids must not make us fetch each time.
	for i := 0; i < 20; i++ {
		if _, err := fx.f.Resolve(ctx, srv.URL, true); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("%d fetches within the refresh interval", n)
	}
	fx.clock.Advance(DefaultMinRefreshInterval)
	if _, err := fx.f.Resolve(ctx, srv.URL, true); err != nil || srv.hits.Load() != 2 {
		t.Fatalf("after the interval: %v, hits %d", err, srv.hits.Load())
	}
	if _, err := fx.f.Resolve(ctx, srv.URL, true); err != nil || srv.hits.Load() != 2 {
		t.Fatalf("right after the refetch: %v, hits %d", err, srv.hits.Load())
	}
}

func TestFetcherSingleflight(t *testing.T) {
	r := rsaKey(t, 2048)
	release := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, req *http.Request) {
		<-release
		serveBody(set(jwk(t, &r.PublicKey, kid(1))))(w, req)
	})
	fx := newFixture(t, nil)

	const n = 50
	var wg sync.WaitGroup
	results := make([]*josev3.JSONWebKeySet, n)
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i], errs[i] = fx.f.Resolve(context.Background(), srv.URL, i%2 == 0)
		}(i)
	}
	// Let every caller reach the wait, then answer.
	deadline := time.Now().Add(5 * time.Second)
	for srv.hits.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	// Nothing is cached yet, so every caller that has arrived is waiting
	// on the one fetch in progress.
	if h := srv.hits.Load(); h != 1 {
		t.Fatalf("%d fetches in progress", h)
	}
	close(release)
	wg.Wait()
	if h := srv.hits.Load(); h != 1 {
		t.Fatalf("%d concurrent resolves made %d fetches", n, h)
	}
	for i := range results {
		if errs[i] != nil || results[i] != results[0] {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
	}
}

// TestFetcherLateCallerUsesTheFetchThatJustEnded: a caller that found the
// cached set stale, and asks for a fetch just after another caller's fetch
// ended, gets that fetch's set instead of fetching again. The late caller
// is held by the clock, right after it read the stale entry.
func TestFetcherLateCallerUsesTheFetchThatJustEnded(t *testing.T) {
	r := rsaKey(t, 2048)
	srv := newServer(t, serveBody(set(jwk(t, &r.PublicKey, kid(1)))))
	var hold atomic.Bool
	held, release := make(chan struct{}), make(chan struct{})
	fx := newFixture(t, func(o *FetcherOptions) {
		now := o.Now
		o.Now = func() time.Time {
			if hold.CompareAndSwap(true, false) {
				close(held)
				<-release
			}
			return now()
		}
	})
	ctx := context.Background()
	if _, err := fx.f.Resolve(ctx, srv.URL, false); err != nil {
		t.Fatal(err)
	}
	fx.clock.Advance(DefaultTTL)

	hold.Store(true)
	late := make(chan error, 1)
	go func() {
		_, err := fx.f.Resolve(ctx, srv.URL, false)
		late <- err
	}()
	<-held
	if _, err := fx.f.Resolve(ctx, srv.URL, false); err != nil || srv.hits.Load() != 2 {
		t.Fatalf("the other caller: %v, hits %d", err, srv.hits.Load())
	}
	close(release)
	if err := <-late; err != nil {
		t.Fatal(err)
	}
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("%d fetches: the late caller fetched again", n)
	}
}

func TestFetcherFailures(t *testing.T) {
	r := rsaKey(t, 2048)
	short := rsaKey(t, 1024)
	good := jwk(t, &r.PublicKey, kid(1))
	tests := []struct {
		name    string
		handler http.HandlerFunc
		hint    string
	}{
		{"500", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "boom", http.StatusInternalServerError) }, "answered HTTP 500"},
		{"404", http.NotFound, "answered HTTP 404"},
		{"redirect status", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }, "answered HTTP 204"},
		{"bad JSON", serveBody(`{"keys":[`), "not a JSON Web Key Set"},
		{"HTML", serveBody(`<html>hello</html>`), "not a JSON Web Key Set"},
		{"no keys array", serveBody(`{"kty":"RSA"}`), "not a JSON Web Key Set"},
		{"huge body", serveBody(set(good) + strings.Repeat(" ", MaxSetBytes)), "larger than 65536 bytes"},
		{"huge streamed body", func(w http.ResponseWriter, _ *http.Request) {
			chunk := strings.Repeat("x", 32<<10)
			for i := 0; i < 1024; i++ { // 32 MiB, unless we stop reading
				if _, err := io.WriteString(w, chunk); err != nil {
					return
				}
			}
		}, "larger than 65536 bytes"},
		{"only bad keys", serveBody(set(jwk(t, r, nil), jwk(t, &short.PublicKey, nil), `{"kty":"oct","k":"AAAA"}`)), "no usable key"},
		{"redirect loop", func(w http.ResponseWriter, req *http.Request) { http.Redirect(w, req, req.URL.Path, http.StatusFound) }, "request failed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, tc.handler)
			fx := newFixture(t, nil)
			_, err := fx.f.Resolve(context.Background(), srv.URL, false)
			wantInvalidClient(t, err, tc.hint)
			if n := fx.logs.count("client jwks_uri fetch failed"); n != 1 {
				t.Fatalf("logged %d times", n)
			}
		})
	}
}

// TestFetcherDropsBadKeys: a published set with one good key and some bad
// ones still works, with the good key only.
func TestFetcherDropsBadKeys(t *testing.T) {
	r := rsaKey(t, 2048)
	short := rsaKey(t, 1024)
	e := ecKey(t, elliptic.P256())
	srv := newServer(t, serveBody(set(
		jwk(t, r, map[string]any{"kid": "private"}),
		jwk(t, &short.PublicKey, map[string]any{"kid": "short"}),
		jwk(t, &e.PublicKey, map[string]any{"kid": "enc", "use": "enc"}),
		jwk(t, &r.PublicKey, map[string]any{"kid": "good"}),
		jwk(t, &e.PublicKey, map[string]any{"kid": "good"}), // repeated kid
	)))
	fx := newFixture(t, nil)
	got, err := fx.f.Resolve(context.Background(), srv.URL, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Keys) != 1 || got.Keys[0].KeyID != "good" || !got.Keys[0].IsPublic() {
		t.Fatalf("keys: %+v", got.Keys)
	}
	if n := fx.logs.count("key ignored"); n != 4 {
		t.Fatalf("%d keys logged as ignored, want 4", n)
	}
}

func TestFetcherFailureIsRememberedBriefly(t *testing.T) {
	var fail atomic.Bool
	fail.Store(true)
	r := rsaKey(t, 2048)
	srv := newServer(t, func(w http.ResponseWriter, req *http.Request) {
		if fail.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		serveBody(set(jwk(t, &r.PublicKey, kid(1))))(w, req)
	})
	fx := newFixture(t, nil)
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		_, err := fx.f.Resolve(ctx, srv.URL, i%2 == 1)
		wantInvalidClient(t, err, "HTTP 503")
	}
	if srv.hits.Load() != 1 || fx.logs.count("fetch failed") != 1 {
		t.Fatalf("hits %d, logged %d", srv.hits.Load(), fx.logs.count("fetch failed"))
	}
	fail.Store(false)
	fx.clock.Advance(DefaultMinRefreshInterval)
	if _, err := fx.f.Resolve(ctx, srv.URL, false); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

func TestFetcherHangIsBoundedByTimeout(t *testing.T) {
	base := runtime.NumGoroutine()
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	fx := newFixture(t, func(o *FetcherOptions) { o.Outbound.Timeout = 300 * time.Millisecond })
	start := time.Now()
	_, err := fx.f.Resolve(context.Background(), srv.URL, false)
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Fatalf("Resolve took %s with a 300ms timeout", elapsed)
	}
	wantInvalidClient(t, err, "timed out")
	close(stop)
	srv.Close()
	fx.f.client.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines left, started with %d:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFetcherCallerCancel: a caller whose request ends stops waiting; the
// fetch goes on for the others and fills the cache.
func TestFetcherCallerCancel(t *testing.T) {
	r := rsaKey(t, 2048)
	release := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, req *http.Request) {
		<-release
		serveBody(set(jwk(t, &r.PublicKey, kid(1))))(w, req)
	})
	fx := newFixture(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := fx.f.Resolve(ctx, srv.URL, false)
		errc <- err
	}()
	for srv.hits.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-errc:
		wantInvalidClient(t, err, "request ended")
	case <-time.After(2 * time.Second):
		t.Fatal("a cancelled caller kept waiting")
	}
	close(release)
	if _, err := fx.f.Resolve(context.Background(), srv.URL, false); err != nil {
		t.Fatal(err)
	}
	if srv.hits.Load() != 1 {
		t.Fatalf("hits %d", srv.hits.Load())
	}
}

func TestFetcherRefusesPrivateAddresses(t *testing.T) {
	r := rsaKey(t, 2048)
	srv := newServer(t, serveBody(set(jwk(t, &r.PublicKey, kid(1)))))

	// The default: a loopback URL is refused before any request.
	strict := NewFetcher(FetcherOptions{Logger: slog.New(slog.DiscardHandler)})
	if strict.AllowPrivateNetworks() {
		t.Fatal("private networks allowed by default")
	}
	_, err := strict.Resolve(context.Background(), srv.URL, false)
	wantInvalidClient(t, err, "jwks_uri is not acceptable")
	_, err = strict.Resolve(context.Background(), "https://169.254.169.254/latest/meta-data/", false)
	wantInvalidClient(t, err, "link-local")

	// A URL that passes the early check but leads to a private address
	// (here: the client is strict, the URL check is not, as when a public
	// name resolves to a private address) is refused when dialling.
	fx := newFixture(t, func(o *FetcherOptions) { o.HTTPClient = outbound.NewClient(outbound.Options{}) })
	_, err = fx.f.Resolve(context.Background(), srv.URL, false)
	wantInvalidClient(t, err, "address is not allowed")
	if srv.hits.Load() != 0 {
		t.Fatal("the server was reached")
	}
}

func TestFetcherBoundsEntries(t *testing.T) {
	r := rsaKey(t, 2048)
	srv := newServer(t, serveBody(set(jwk(t, &r.PublicKey, kid(1)))))
	fx := newFixture(t, func(o *FetcherOptions) { o.MaxEntries = 3 })
	for i := 0; i < 10; i++ {
		fx.clock.Advance(time.Second)
		if _, err := fx.f.Resolve(context.Background(), srv.URL+"/?i="+string(rune('a'+i)), false); err != nil {
			t.Fatal(err)
		}
	}
	fx.f.mu.Lock()
	n := len(fx.f.cache)
	_, newest := fx.f.cache[srv.URL+"/?i=j"]
	fx.f.mu.Unlock()
	if n != 3 || !newest {
		t.Fatalf("cache holds %d entries (newest kept: %v)", n, newest)
	}
}

// TestFetcherThroughFosite: fosite's private_key_jwt verification turns a
// fetch failure into a 401 invalid_client, and accepts an assertion signed
// by a key from the jwks_uri.
func TestFetcherThroughFosite(t *testing.T) {
	r := rsaKey(t, 2048)
	var down atomic.Bool
	srv := newServer(t, func(w http.ResponseWriter, req *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		serveBody(set(jwk(t, &r.PublicKey, map[string]any{"kid": "k1"})))(w, req)
	})
	fx := newFixture(t, nil)
	f, client := fositeWith(t, fx.f, srv.URL)

	if _, err := authenticate(t, f, client, r, "k1"); err != nil {
		t.Fatalf("valid assertion: %v", err)
	}

	down.Store(true)
	fx.clock.Advance(DefaultTTL)
	_, err := authenticate(t, f, client, r, "k1")
	wantInvalidClient(t, err, "answered HTTP 500")
	if rfc := fosite.ErrorToRFC6749Error(err); rfc.StatusCode() != http.StatusUnauthorized {
		t.Fatalf("status %d", rfc.StatusCode())
	}
}
