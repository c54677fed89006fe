package outbound

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingServer serves "ok" and counts requests.
func countingServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(ts.Close)
	return ts, &hits
}

func get(c *http.Client, u string) (string, error) {
	resp, err := c.Get(u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestLoopbackRefusedByDefault(t *testing.T) {
	ts, hits := countingServer(t)
	c := NewClient(Options{})
	_, port, _ := net.SplitHostPort(ts.Listener.Addr().String())
	// By address and by name: the check runs on the resolved address.
	for _, u := range []string{ts.URL, "http://localhost:" + port + "/"} {
		_, err := get(c, u)
		b, ok := IsBlocked(err)
		if !ok {
			t.Fatalf("%s: got %v, want a blocked-address error", u, err)
		}
		if b.Reason != "loopback address" || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("%s: error does not say why: %v", u, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the server was reached %d times", n)
	}
}

func TestLoopbackAllowedWithOption(t *testing.T) {
	ts, hits := countingServer(t)
	c := NewClient(Options{AllowPrivateNetworks: true})
	body, err := get(c, ts.URL)
	if err != nil || body != "ok" {
		t.Fatalf("got %q, %v", body, err)
	}
	if hits.Load() != 1 {
		t.Fatalf("hits = %d", hits.Load())
	}
}

func TestOnlyHTTPAndHTTPS(t *testing.T) {
	c := NewClient(Options{AllowPrivateNetworks: true})
	for _, u := range []string{"ftp://127.0.0.1/x", "file:///etc/passwd", "gopher://127.0.0.1/"} {
		if _, err := get(c, u); err == nil || !strings.Contains(err.Error(), "scheme") {
			t.Errorf("%s: got %v, want a scheme refusal", u, err)
		}
	}
}

func TestNoProxyFromEnvironment(t *testing.T) {
	proxy, proxyHits := countingServer(t)
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("http_proxy", proxy.URL)
	t.Setenv("NO_PROXY", "")
	ts, hits := countingServer(t)
	c := NewClient(Options{AllowPrivateNetworks: true})
	if tr := c.Transport.(schemeCheck).next.(*http.Transport); tr.Proxy != nil {
		t.Fatal("transport has a proxy function")
	}
	if _, err := get(c, ts.URL); err != nil {
		t.Fatal(err)
	}
	if proxyHits.Load() != 0 || hits.Load() != 1 {
		t.Fatalf("proxy hits %d, direct hits %d", proxyHits.Load(), hits.Load())
	}
}

// waitGoroutines waits (bounded) until the goroutine count is back to at
// most base, and fails with a dump otherwise.
func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("%d goroutines left, started with %d:\n%s", runtime.NumGoroutine(), base, buf[:n])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestHangingServerIsBoundedByTimeout(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
	}{
		// Never answers: the response-header timeout and the overall one.
		{"no response", func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		}},
		// Answers the header at once, then trickles the body forever:
		// only the overall timeout catches this one.
		{"endless body", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusOK)
			for {
				if _, err := io.WriteString(w, "{"); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := runtime.NumGoroutine()
			ts := httptest.NewServer(tc.handler)
			c := NewClient(Options{AllowPrivateNetworks: true, Timeout: 300 * time.Millisecond})
			start := time.Now()
			_, err := get(c, ts.URL)
			elapsed := time.Since(start)
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("got %v, want a timeout", err)
			}
			if elapsed > 2*time.Second {
				t.Fatalf("the call took %s with a 300ms timeout", elapsed)
			}
			c.CloseIdleConnections()
			ts.Close()
			waitGoroutines(t, base)
		})
	}
}

func TestRedirects(t *testing.T) {
	// /hop/N redirects to /hop/N-1; /hop/0 answers.
	var hits atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		var n int
		switch {
		case r.URL.Path == "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		case r.URL.Path == "/to-file":
			http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
		case r.URL.Path == "/to-ftp":
			http.Redirect(w, r, "ftp://example.com/", http.StatusMovedPermanently)
		default:
			if _, err := fmt.Sscanf(r.URL.Path, "/hop/%d", &n); err != nil {
				http.NotFound(w, r)
			} else if n > 0 {
				http.Redirect(w, r, fmt.Sprintf("/hop/%d", n-1), http.StatusTemporaryRedirect)
			} else {
				_, _ = io.WriteString(w, "ok")
			}
		}
	}))
	defer ts.Close()
	c := NewClient(Options{AllowPrivateNetworks: true})

	if body, err := get(c, ts.URL+"/hop/3"); err != nil || body != "ok" {
		t.Fatalf("3 redirects: %q %v", body, err)
	}
	if _, err := get(c, ts.URL+"/hop/4"); err == nil || !strings.Contains(err.Error(), "stopped after 3 redirects") {
		t.Fatalf("4 redirects: %v", err)
	}
	hits.Store(0)
	if _, err := get(c, ts.URL+"/loop"); err == nil || !strings.Contains(err.Error(), "redirects") {
		t.Fatalf("loop: %v", err)
	}
	if n := hits.Load(); n != 4 {
		t.Fatalf("a redirect loop made %d requests, want 4 (1 + 3 redirects)", n)
	}
	for _, p := range []string{"/to-file", "/to-ftp"} {
		if _, err := get(c, ts.URL+p); err == nil || !strings.Contains(err.Error(), "scheme") {
			t.Errorf("%s: %v", p, err)
		}
	}

	none := NewClient(Options{AllowPrivateNetworks: true, MaxRedirects: -1})
	if _, err := get(none, ts.URL+"/hop/1"); err == nil || !strings.Contains(err.Error(), "not followed") {
		t.Fatalf("MaxRedirects -1: %v", err)
	}
}

// TestRedirectHopIsChecked: a permitted server redirecting to a forbidden
// address does not get us there, because every hop dials and is checked.
func TestRedirectHopIsChecked(t *testing.T) {
	inner, innerHits := countingServer(t)
	outer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, inner.URL+"/secret", http.StatusFound)
	}))
	defer outer.Close()
	permitted := netip.MustParseAddrPort(outer.Listener.Addr().String())
	c := newClient(Options{}, func(ap netip.AddrPort) error {
		if ap == permitted {
			return nil
		}
		return &BlockedAddressError{Addr: ap.Addr(), Reason: "test: not the permitted server"}
	})
	_, err := get(c, outer.URL)
	if _, ok := IsBlocked(err); !ok {
		t.Fatalf("got %v, want the redirect target refused", err)
	}
	if innerHits.Load() != 0 {
		t.Fatal("the redirect target was reached")
	}
}

func TestRedirectDowngradeRefused(t *testing.T) {
	plain, plainHits := countingServer(t)
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL, http.StatusFound)
	}))
	defer tlsSrv.Close()
	c := NewClient(Options{AllowPrivateNetworks: true})
	// Trust the test server's certificate.
	c.Transport.(schemeCheck).next.(*http.Transport).TLSClientConfig = tlsSrv.Client().Transport.(*http.Transport).TLSClientConfig
	_, err := get(c, tlsSrv.URL)
	if err == nil || !strings.Contains(err.Error(), "https to http") {
		t.Fatalf("got %v", err)
	}
	if plainHits.Load() != 0 {
		t.Fatal("the http target was reached")
	}
}

func TestCheckDialRefusesOtherNetworks(t *testing.T) {
	ok := func(netip.AddrPort) error { return nil }
	if err := checkDial("udp", "8.8.8.8:53", ok); err == nil {
		t.Error("udp accepted")
	}
	if err := checkDial("tcp", "not-an-address", ok); err == nil {
		t.Error("unparsable address accepted")
	}
	if err := checkDial("tcp6", "[2606:4700::1]:443", ok); err != nil {
		t.Error(err)
	}
}
