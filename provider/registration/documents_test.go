package registration

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/clocktest"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/outbound"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

func TestCheckDocumentURL(t *testing.T) {
	for _, tc := range []struct {
		id        string
		httpLocal bool
		ok        bool
	}{
		{"https://app.example/client.json", false, true},
		{"https://app.example:8443/oauth/client", false, true},
		{"https://app.example", false, false},                  // no path
		{"https://app.example/", false, false},                 // no path
		{"http://app.example/client.json", false, false},       // http
		{"http://127.0.0.1:9/client.json", false, false},       // http on loopback, not admitted
		{"http://127.0.0.1:9/client.json", true, true},         // admitted for development
		{"http://app.example/client.json", true, false},        // only on loopback
		{"https://app.example/a/../client.json", false, false}, // dot segments
		{"https://app.example/a/%2E%2E/client.json", false, false},
		{"https://app.example/./client.json", false, false},
		{"https://app.example/client.json#x", false, false},
		{"https://app.example/client.json?v=1", false, false},
		{"https://user:pw@app.example/client.json", false, false},
		{"HTTPS://app.example/client.json", false, false},
		{"https://App.Example/client.json", false, false},
		{"https://app.example:0443/client.json", false, false},
		{"https://app.example/" + strings.Repeat("a", maxClientIDLen), false, false},
		{"urn:x:client", false, false},
	} {
		_, err := CheckDocumentURL(tc.id, tc.httpLocal)
		var de *provider.ClientDocumentError
		if tc.ok != (err == nil) || (err != nil && !errors.As(err, &de)) {
			t.Errorf("%q (http on loopback %v): %v, want ok %v", tc.id, tc.httpLocal, err, tc.ok)
		}
	}
}

func TestDocumentPolicyDomains(t *testing.T) {
	p := DocumentPolicy{AllowedDomains: []string{"example.com"}, DeniedDomains: []string{"bad.example.com"}, TrustedDomains: []string{"vscode.dev"}}
	for host, ok := range map[string]bool{
		"example.com": true, "app.example.com": true, "bad.example.com": false, "x.bad.example.com": false,
		"example.org": false, "notexample.com": false,
	} {
		if err := p.Admitted(host); (err == nil) != ok {
			t.Errorf("%s: %v, want admitted %v", host, err, ok)
		}
	}
	if !p.Trusted("insiders.vscode.dev") || p.Trusted("vscode.dev.evil.example") {
		t.Error("trusted domains match the host and its subdomains only")
	}
}

func testPolicy() DocumentPolicy {
	return DocumentPolicy{
		Scopes:    []string{"openid", "profile", "offline_access", "mcp:tools"},
		Resources: []string{"https://mcp.example/mcp"},
		MinTTL:    time.Minute, MaxTTL: time.Hour, StaleFor: 10 * time.Minute, MaxBytes: 5 << 10,
	}
}

func TestClientOfDocument(t *testing.T) {
	const id = "https://app.example/client.json"
	d := &Documents{o: DocumentOptions{Policy: testPolicy()}}
	doc := func(extra string) []byte {
		return []byte(`{"client_id":"` + id + `","client_name":"Editor","redirect_uris":["http://127.0.0.1:33418/callback"]` + extra + `}`)
	}
	now := time.Now()
	c, err := d.clientOf(id, doc(`,"grant_types":["authorization_code","refresh_token"],"scope":"openid mcp:tools gatehouse:admin","software_id":"x","client_name#ja":"エディタ"`), now)
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != id || !c.MetadataDocument || !c.Public || c.SecretHash != "" || c.FirstParty || c.SkipConsent ||
		!slices.Equal(c.Scopes, []string{"openid", "mcp:tools"}) || !slices.Equal(c.Audience, []string{"https://mcp.example/mcp"}) ||
		c.Name != "Editor" {
		t.Fatalf("client = %+v", c)
	}
	// No grant_types: RFC 7591's default, authorization_code, and so no
	// offline_access.
	c, err = d.clientOf(id, doc(``), now)
	if err != nil || slices.Contains(c.Scopes, "offline_access") || !slices.Equal(c.GrantTypes, []string{"authorization_code"}) {
		t.Fatalf("defaults: %+v %v", c, err)
	}

	for _, tc := range []struct{ name, body, want string }{
		{"not an object", `[1]`, "JSON object"},
		{"trailing data", string(doc(``)) + `{}`, "JSON object"},
		{"other client_id", `{"client_id":"https://other.example/client.json","redirect_uris":["https://app.example/cb"]}`, "not its URL"},
		{"no redirect", `{"client_id":"` + id + `"}`, "no redirect_uris"},
		{"secret method", string(doc(`,"token_endpoint_auth_method":"client_secret_basic"`)), "shared secret"},
		{"secret jwt", string(doc(`,"token_endpoint_auth_method":"client_secret_jwt"`)), "shared secret"},
		{"secret member", string(doc(`,"client_secret":"s3cret"`)), "client_secret is not allowed"},
		{"registration token", string(doc(`,"registration_access_token":"x"`)), "not allowed"},
		{"unknown member", string(doc(`,"is_admin":true`)), "is_admin is not a client metadata member"},
		{"client credentials", string(doc(`,"grant_types":["client_credentials"]`)), "client_credentials"},
		{"implicit", string(doc(`,"response_types":["token"]`)), "response type"},
		{"key jwt without keys", string(doc(`,"token_endpoint_auth_method":"private_key_jwt"`)), "jwks"},
		{"http redirect", `{"client_id":"` + id + `","redirect_uris":["http://app.example/cb"]}`, "http"},
		{"wrong type", string(doc(`,"contacts":"me"`)), "contacts"},
	} {
		_, err := d.clientOf(id, []byte(tc.body), now)
		var de *provider.ClientDocumentError
		if !errors.As(err, &de) || !strings.Contains(de.Reason, tc.want) {
			t.Errorf("%s: %v, want a document error saying %q", tc.name, err, tc.want)
		}
	}
}

func TestDocumentFreshness(t *testing.T) {
	clock := clocktest.New(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC))
	d := &Documents{o: DocumentOptions{Policy: testPolicy(), Now: clock.Now}}
	for _, tc := range []struct {
		header map[string]string
		want   time.Duration
	}{
		{nil, time.Minute}, // nothing said: the lower bound
		{map[string]string{"Cache-Control": "max-age=600"}, 10 * time.Minute},
		{map[string]string{"Cache-Control": "public, max-age=600", "Age": "100"}, 500 * time.Second},
		{map[string]string{"Cache-Control": "max-age=5"}, time.Minute},       // raised to the lower bound
		{map[string]string{"Cache-Control": "max-age=999999999"}, time.Hour}, // cut to the upper bound
		{map[string]string{"Cache-Control": "no-store, max-age=600"}, time.Minute},
		{map[string]string{"Cache-Control": "max-age=x"}, time.Minute},
		{map[string]string{"Expires": clock.Now().Add(20 * time.Minute).Format(http.TimeFormat), "Date": clock.Now().Format(http.TimeFormat)}, 20 * time.Minute},
	} {
		h := http.Header{}
		for k, v := range tc.header {
			h.Set(k, v)
		}
		if got := d.freshFor(h); got != tc.want {
			t.Errorf("%v: fresh for %s, want %s", tc.header, got, tc.want)
		}
	}
}

// docServer serves one document over HTTPS on loopback, as the test
// wants it, and counts the fetches.
type docServer struct {
	srv     *httptest.Server
	mu      sync.Mutex
	status  int
	body    string
	cache   string
	fetches atomic.Int64
	block   chan struct{} // when set, a fetch waits for it
	arrived chan struct{} // told of each fetch that is blocked
}

func newDocServer(t *testing.T) *docServer {
	ds := &docServer{status: http.StatusOK, arrived: make(chan struct{}, 64)}
	ds.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ds.fetches.Add(1)
		ds.mu.Lock()
		status, body, cache, block := ds.status, ds.body, ds.cache, ds.block
		ds.mu.Unlock()
		if block != nil {
			select {
			case ds.arrived <- struct{}{}:
			default:
			}
			<-block
		}
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, ds.srv.URL+"/client.json", http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if cache != "" {
			w.Header().Set("Cache-Control", cache)
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(ds.srv.Close)
	return ds
}

func (ds *docServer) set(status int, body, cache string) {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	ds.status, ds.body, ds.cache = status, body, cache
}

func (ds *docServer) id() string { return ds.srv.URL + "/client.json" }

func (ds *docServer) document(name string) string {
	b, _ := json.Marshal(map[string]any{
		"client_id": ds.id(), "client_name": name, "redirect_uris": []string{"http://127.0.0.1:33418/callback"},
		"grant_types": []string{"authorization_code", "refresh_token"}, "token_endpoint_auth_method": "none",
	})
	return string(b)
}

type docFixture struct {
	d     *Documents
	store *bunstore.Store
	clock *clocktest.Clock
	ds    *docServer
}

func newDocFixture(t *testing.T) *docFixture {
	ds := newDocServer(t)
	pool := x509.NewCertPool()
	pool.AddCert(ds.srv.Certificate())
	clock := clocktest.New(time.Now().UTC())
	store := bunstoretest.Open(t, "sqlite", bunstore.Options{Now: clock.Now})
	d, err := NewDocuments(DocumentOptions{
		Store: store,
		HTTPClient: outbound.NewClient(outbound.Options{
			AllowPrivateNetworks: true, MaxRedirects: -1, Timeout: 5 * time.Second, RootCAs: pool,
		}),
		Policy: testPolicy(), Now: clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &docFixture{d: d, store: store, clock: clock, ds: ds}
}

func (f *docFixture) stored(t *testing.T) *storage.Client {
	t.Helper()
	c, err := f.store.ClientByID(context.Background(), f.ds.id())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func wantDocumentError(t *testing.T, what string, err error, says string) {
	t.Helper()
	var de *provider.ClientDocumentError
	if !errors.As(err, &de) || !strings.Contains(de.Reason, says) {
		t.Fatalf("%s: %v, want a document error saying %q", what, err, says)
	}
}

// TestResolveDocument: a document is fetched once and stored, used while
// fresh, fetched again after, changes picked up, a stale copy stands in
// while the server fails (for a bounded time), a gone document stops the
// client, and bad answers are refused and never stored.
func TestResolveDocument(t *testing.T) {
	ctx := context.Background()
	f := newDocFixture(t)
	ds := f.ds
	ds.set(http.StatusOK, ds.document("Editor"), "max-age=300")

	if err := f.d.Resolve(ctx, ds.id()); err != nil {
		t.Fatal(err)
	}
	c := f.stored(t)
	if !c.MetadataDocument || c.Name != "Editor" || !c.Public || !c.DocumentFreshUntil.Equal(f.clock.Now().Add(5*time.Minute).Truncate(time.Microsecond)) {
		t.Fatalf("stored client = %+v", c)
	}
	if err := f.d.Resolve(ctx, ds.id()); err != nil || ds.fetches.Load() != 1 {
		t.Fatalf("a fresh copy was fetched again: %v, %d fetches", err, ds.fetches.Load())
	}
	if err := f.d.Resolve(ctx, "not-a-url"); err != nil || ds.fetches.Load() != 1 {
		t.Fatalf("a registered client id: %v", err)
	}

	// Past its freshness: fetched again, and a change is picked up.
	f.clock.Advance(6 * time.Minute)
	ds.set(http.StatusOK, ds.document("Editor 2"), "max-age=300")
	if err := f.d.Resolve(ctx, ds.id()); err != nil || f.stored(t).Name != "Editor 2" || ds.fetches.Load() != 2 {
		t.Fatalf("refetch: %v, %q, %d fetches", err, f.stored(t).Name, ds.fetches.Load())
	}

	// The server fails: the copy stands in for stale_for, then not.
	f.clock.Advance(6 * time.Minute)
	ds.set(http.StatusInternalServerError, "", "")
	if err := f.d.Resolve(ctx, ds.id()); err != nil {
		t.Fatalf("a stale copy within stale_for: %v", err)
	}
	f.clock.Advance(10 * time.Minute)
	wantDocumentError(t, "past stale_for", f.d.Resolve(ctx, ds.id()), "HTTP 500")

	// An invalid document is refused, and the old copy does not stand in.
	ds.set(http.StatusOK, `{"client_id":"`+ds.id()+`","redirect_uris":["http://127.0.0.1:1/cb"],"client_secret":"x"}`, "")
	f.clock.Advance(time.Minute)
	wantDocumentError(t, "invalid document", f.d.Resolve(ctx, ds.id()), "client_secret")
	if f.stored(t).Name != "Editor 2" {
		t.Fatal("an invalid document replaced the stored copy")
	}
	ds.set(http.StatusOK, ds.document("Editor 2"), "")
	if err := f.d.Resolve(ctx, ds.id()); err != nil {
		t.Fatal(err)
	}

	// Not JSON, too large: refused.
	f.clock.Advance(2 * time.Minute)
	ds.set(http.StatusOK, strings.Repeat(" ", 6<<10)+ds.document("Big"), "")
	wantDocumentError(t, "oversized", f.d.Resolve(ctx, ds.id()), "larger than")

	// Gone: the client stops, and a stale copy never stands in for it.
	ds.set(http.StatusNotFound, "", "")
	wantDocumentError(t, "gone", f.d.Resolve(ctx, ds.id()), "gone")
	if f.stored(t).DocumentGoneAt.IsZero() {
		t.Fatal("a gone document is not marked")
	}
	// And back: a new copy.
	ds.set(http.StatusOK, ds.document("Editor 3"), "")
	if err := f.d.Resolve(ctx, ds.id()); err != nil || !f.stored(t).DocumentGoneAt.IsZero() || f.stored(t).Name != "Editor 3" {
		t.Fatalf("back: %v %+v", err, f.stored(t))
	}
}

// A redirect is never followed (the draft: MUST NOT), and an operator's
// own client at a URL is never replaced by a fetched document.
func TestResolveDocumentRedirectAndRegistered(t *testing.T) {
	ctx := context.Background()
	f := newDocFixture(t)
	ds := f.ds
	ds.set(http.StatusOK, ds.document("Editor"), "")
	redirectID := ds.srv.URL + "/redirect"
	wantDocumentError(t, "redirect", f.d.Resolve(ctx, redirectID), "redirects")
	if _, err := f.store.ClientByID(ctx, redirectID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a client was stored for a redirect: %v", err)
	}

	own := &storage.Client{ID: ds.id(), Name: "Operator's", RedirectURIs: []string{"https://app.example/cb"}, Public: true,
		TokenEndpointAuthMethod: "none", GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"}}
	if err := f.store.CreateClient(ctx, own); err != nil {
		t.Fatal(err)
	}
	before := ds.fetches.Load()
	if err := f.d.Resolve(ctx, ds.id()); err != nil || ds.fetches.Load() != before || f.stored(t).Name != "Operator's" {
		t.Fatalf("a registered client was fetched or replaced: %v, %q", err, f.stored(t).Name)
	}
}

// SSRF and slowness: without leave to reach private networks a document
// on loopback is refused at the dial (provider/outbound), and a server
// that does not answer in time is an error, not a hang.
func TestResolveDocumentUnreachable(t *testing.T) {
	ctx := context.Background()
	f := newDocFixture(t)
	ds := f.ds
	ds.set(http.StatusOK, ds.document("Editor"), "")
	strict, err := NewDocuments(DocumentOptions{
		Store: f.store, HTTPClient: outbound.NewClient(outbound.Options{MaxRedirects: -1, Timeout: 5 * time.Second}),
		Policy: testPolicy(), Now: f.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	wantDocumentError(t, "loopback without leave", strict.Resolve(ctx, ds.id()), "could not be fetched")
	if ds.fetches.Load() != 0 {
		t.Fatal("the private address was reached")
	}

	pool := x509.NewCertPool()
	pool.AddCert(ds.srv.Certificate())
	impatient, err := NewDocuments(DocumentOptions{
		Store: f.store, HTTPClient: outbound.NewClient(outbound.Options{AllowPrivateNetworks: true, MaxRedirects: -1, Timeout: 100 * time.Millisecond, RootCAs: pool}),
		Policy: testPolicy(), Now: f.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	defer close(release)
	ds.mu.Lock()
	ds.block = release
	ds.mu.Unlock()
	wantDocumentError(t, "a server that does not answer", impatient.Resolve(ctx, ds.id()), "could not be fetched")
}

// Requests for one document at once make one fetch.
func TestResolveDocumentSingleFlight(t *testing.T) {
	ctx := context.Background()
	f := newDocFixture(t)
	ds := f.ds
	ds.set(http.StatusOK, ds.document("Editor"), "")
	release := make(chan struct{})
	ds.mu.Lock()
	ds.block = release
	ds.mu.Unlock()
	const n = 8
	errs := make(chan error, n)
	for range n {
		go func() { errs <- f.d.Resolve(ctx, ds.id()) }()
	}
	// Wait until the one fetch is in the server, then let it answer.
	<-ds.arrived
	close(release)
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := ds.fetches.Load(); got != 1 {
		t.Fatalf("%d fetches for %d requests at once, want 1", got, n)
	}
}

// FuzzClientOfDocument: whatever a document holds, validation never
// panics, and what it admits is a client without a secret, bound to its
// URL, with no more than the policy allows.
func FuzzClientOfDocument(f *testing.F) {
	const id = "https://app.example/client.json"
	f.Add([]byte(`{"client_id":"` + id + `","redirect_uris":["https://app.example/cb"]}`))
	f.Add([]byte(`{"client_id":"` + id + `","redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[]}}`))
	f.Add([]byte(`{"client_id":"` + id + `","redirect_uris":["https://app.example/cb"],"scope":"openid gatehouse:admin apikeys","grant_types":["refresh_token"]}`))
	f.Add([]byte(`{"client_id":1}`))
	d := &Documents{o: DocumentOptions{Policy: testPolicy()}}
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := d.clientOf(id, body, time.Now())
		if err != nil {
			return
		}
		if c.ID != id || c.SecretHash != "" || c.FirstParty || c.SkipConsent || !c.MetadataDocument ||
			(c.TokenEndpointAuthMethod != "none" && c.TokenEndpointAuthMethod != "private_key_jwt") {
			t.Fatalf("admitted %+v", c)
		}
		for _, s := range c.Scopes {
			if !slices.Contains(d.o.Policy.Scopes, s) {
				t.Fatalf("scope %q beyond the policy", s)
			}
		}
		for _, g := range c.GrantTypes {
			if !slices.Contains(grantsOfDocuments, g) {
				t.Fatalf("grant %q", g)
			}
		}
	})
}
