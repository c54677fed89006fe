package main

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/internal/clocktest"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
)

// clientDocServer serves client ID metadata documents over HTTPS on
// loopback, as a client's web site would.
type clientDocServer struct {
	srv  *httptest.Server
	mu   sync.Mutex
	docs map[string]string // path -> body; absent: 404
	ca   string            // PEM file of the server's certificate
}

func startClientDocServer(t *testing.T) *clientDocServer {
	t.Helper()
	ds := &clientDocServer{docs: map[string]string{}}
	ds.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ds.mu.Lock()
		body, ok := ds.docs[r.URL.Path]
		ds.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(ds.srv.Close)
	ds.ca = filepath.Join(t.TempDir(), "ca.pem")
	block := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ds.srv.Certificate().Raw})
	if err := os.WriteFile(ds.ca, block, 0o600); err != nil {
		t.Fatal(err)
	}
	return ds
}

// put serves doc at path (nil removes it) and returns its URL.
func (ds *clientDocServer) put(path string, doc map[string]any) string {
	id := ds.srv.URL + path
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if doc == nil {
		delete(ds.docs, path)
		return id
	}
	if _, ok := doc["client_id"]; !ok {
		doc["client_id"] = id
	}
	b, _ := json.Marshal(doc)
	ds.docs[path] = string(b)
	return id
}

// withClientDocuments turns the documents on, trusting ds's certificate
// and its loopback address, as only tests and development may.
func withClientDocuments(ds *clientDocServer, mods ...func(*config.ClientIDMetadataDocuments)) func(*config.Config) {
	return func(c *config.Config) {
		c.ClientIDMetadataDocuments.Enabled = true
		c.ClientIDMetadataDocuments.Resources = []string{"https://mcp.example/mcp"}
		c.ClientIDMetadataDocuments.Scopes = []string{"openid", "offline_access", "mcp:tools"}
		c.HTTPClient.AllowPrivateNetworks = true
		c.HTTPClient.CAFile = ds.ca
		for _, m := range mods {
			m(&c.ClientIDMetadataDocuments)
		}
	}
}

// TestClientIDMetadataDocument: an MCP-style public client known only by
// the URL of its metadata document signs a person in with PKCE through
// the real login and consent pages, with no registration: discovery says
// so, the consent page names the document's host and the redirect host
// and warns that only localhost receives the sign-in, the token is bound
// to the requested resource, consent is remembered per document URL, a
// refresh works, and once the document is gone neither a new
// authorization nor a refresh does.
func TestClientIDMetadataDocument(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		ds := startClientDocServer(t)
		clock := clocktest.New(time.Now().UTC())
		s, _ := startServerAt(t, dialect, clock, withClientDocuments(ds))
		s.user("alice@example.com", alicePassword)
		gateway, gatewaySecret := s.client(admin.ClientSpec{Name: "Gateway", Scopes: []string{"x"}, IntrospectAnyToken: true})

		status, meta, _ := jsonRequest(t, http.MethodGet, s.issuer+"/.well-known/oauth-authorization-server", "", "")
		if status != http.StatusOK || meta["client_id_metadata_document_supported"] != true {
			t.Fatalf("discovery: %d %v", status, meta["client_id_metadata_document_supported"])
		}

		const redirect = "http://127.0.0.1:33418/callback"
		id := ds.put("/oauth/client.json", map[string]any{
			"client_name": "Editor", "redirect_uris": []string{redirect}, "token_endpoint_auth_method": "none",
			"grant_types": []string{"authorization_code", "refresh_token"}, "scope": "openid offline_access mcp:tools",
			"software_version": "1.2.3", "logo_uri": "https://app.example/logo.png",
		})
		conf := &oauth2.Config{
			ClientID: id, RedirectURL: redirect, Scopes: []string{"openid", "offline_access", "mcp:tools"},
			Endpoint: oauth2.Endpoint{AuthURL: s.issuer + provider.PathAuthorize, TokenURL: s.issuer + provider.PathToken, AuthStyle: oauth2.AuthStyleInParams},
		}
		resource := oauth2.SetAuthURLParam("resource", "https://mcp.example/mcp")
		verifier, challenge := pkce()
		b := s.newBrowser()
		p := b.login(b.get(conf.AuthCodeURL("st", challenge, resource)), "alice@example.com", alicePassword)
		if !p.isConsentPage() {
			t.Fatalf("want the consent page: %d %s %.600s", p.status, p.url, p.body)
		}
		docHost := strings.TrimPrefix(ds.srv.URL, "https://")
		docHost = docHost[:strings.LastIndexByte(docHost, ':')]
		if strings.Contains(p.body, "app.example/logo.png") {
			t.Fatal("the consent page loads the document's logo from the client's host")
		}
		for _, want := range []string{`id="client-document"`, "<strong>" + docHost + "</strong>", "<strong>127.0.0.1:33418</strong>", `id="localhost-warning"`, "Editor"} {
			if !strings.Contains(p.body, want) {
				t.Fatalf("the consent page lacks %q: %.1500s", want, p.body)
			}
		}
		p = b.consent(p, "allow")
		tok, err := conf.Exchange(context.Background(), p.callback(t).Get("code"), oauth2.VerifierOption(verifier),
			oauth2.SetAuthURLParam("resource", "https://mcp.example/mcp"))
		if err != nil {
			t.Fatal(err)
		}
		if claims := s.introspect(t, gateway.ID, gatewaySecret, tok.AccessToken); claims["client_id"] != id || !audienceHas(claims["aud"], "https://mcp.example/mcp") {
			t.Fatalf("the access token: %v", claims)
		}

		// Consent is remembered for the document URL.
		verifier2, challenge2 := pkce()
		p = b.get(conf.AuthCodeURL("st2", challenge2))
		if _, err := conf.Exchange(context.Background(), p.callback(t).Get("code"), oauth2.VerifierOption(verifier2)); err != nil {
			t.Fatalf("second authorization: %v", err)
		}
		// A refresh uses the stored copy.
		if _, err := conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err != nil {
			t.Fatalf("refresh: %v", err)
		}

		// The document disappears (after its copy is stale): no new
		// authorization, the person sees why, the client is not
		// redirected to; and no refresh either.
		ds.put("/oauth/client.json", nil)
		clock.Advance(6 * time.Minute) // past the copy's freshness (min_cache_ttl, 5m)
		_, challenge3 := pkce()
		p = b.get(conf.AuthCodeURL("st3", challenge3))
		if p.status < 400 || p.location != "" || !strings.Contains(p.body, "gone") {
			t.Fatalf("authorization with a gone document: %d %q %.600s", p.status, p.location, p.body)
		}
		if _, err := conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); oauthErrorCode(err) != "invalid_client" {
			t.Fatalf("refresh with a gone document: %v", err)
		}
	})
}

// audienceHas says whether an introspected aud (a string or a list)
// names want.
func audienceHas(aud any, want string) bool {
	switch v := aud.(type) {
	case string:
		return v == want
	case []any:
		return slices.ContainsFunc(v, func(a any) bool { return a == want })
	}
	return false
}

// TestClientIDMetadataDocumentRefused: documents that break the draft's
// rules or the operator's policy are refused on a page that says why,
// never by a redirect to the client; nothing is stored for them.
func TestClientIDMetadataDocumentRefused(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) { testClientIDMetadataDocumentRefused(t, dialect) })
}

func testClientIDMetadataDocumentRefused(t *testing.T, dialect string) {
	ds := startClientDocServer(t)
	s := startServer(t, dialect, withClientDocuments(ds, func(d *config.ClientIDMetadataDocuments) {
		d.DeniedDomains = []string{"denied.example"}
	}))
	const redirect = "http://127.0.0.1:33418/callback"
	good := map[string]any{"client_name": "Editor", "redirect_uris": []string{redirect}}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range good {
			m[kk] = vv
		}
		m[k] = v
		return m
	}
	for _, tc := range []struct {
		name, path string
		doc        map[string]any
		clientID   string // when not the document's URL
		redirect   string
		says       string
	}{
		{name: "secret", path: "/secret.json", doc: with("token_endpoint_auth_method", "client_secret_basic"), says: "shared secret"},
		{name: "client_secret member", path: "/member.json", doc: with("client_secret", "x"), says: "client_secret is not allowed"},
		{name: "other client_id", path: "/other.json", doc: with("client_id", "https://elsewhere.example/c.json"), says: "not its URL"},
		{name: "redirect not listed", path: "/cb.json", doc: good, redirect: "http://127.0.0.1:1/other", says: "redirect"},
		{name: "gone", path: "/missing.json", says: "gone"},
		{name: "query", clientID: ds.srv.URL + "/c.json?x=1", says: "query"},
		{name: "http", clientID: "http://127.0.0.1:1/c.json", says: "https"},
		{name: "denied domain", clientID: "https://app.denied.example/c.json", says: "not admitted"},
	} {
		id := tc.clientID
		if id == "" {
			id = ds.put(tc.path, tc.doc)
		}
		r := redirect
		if tc.redirect != "" {
			r = tc.redirect
		}
		_, challenge := pkce()
		conf := &oauth2.Config{ClientID: id, RedirectURL: r, Scopes: []string{"openid"},
			Endpoint: oauth2.Endpoint{AuthURL: s.issuer + provider.PathAuthorize}}
		b := s.newBrowser()
		p := b.get(conf.AuthCodeURL("st", challenge))
		if p.status < 400 || p.location != "" || !strings.Contains(p.body, tc.says) {
			t.Errorf("%s: %d location %q, want an error page saying %q: %.800s", tc.name, p.status, p.location, tc.says, p.body)
		}
	}
}
