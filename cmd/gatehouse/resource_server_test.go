package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/cmd/example-mcp-server/exampleserver"
	"github.com/gatehouse-dev/gatehouse/internal/clocktest"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/resourceserver"
)

// serveLoopback serves h on a loopback port until the test ends and
// returns its base URL.
func serveLoopback(t *testing.T, ln net.Listener, h http.Handler) string {
	t.Helper()
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

func loopbackListener(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// resourceServerToken gets a client_credentials token for resource, failing the test otherwise.
func (s *testServer) resourceServerToken(t *testing.T, id, secret, resource, scope string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {resource}}
	if scope != "" {
		form.Set("scope", scope)
	}
	st, body, _ := postForm(t, s.issuer+provider.PathToken, form, id, secret)
	at, _ := body["access_token"].(string)
	if st != http.StatusOK || at == "" {
		t.Fatalf("token for %s: %d %v", resource, st, body)
	}
	return at
}

// call makes a request to u with the headers (name, value pairs) and
// returns the status, the WWW-Authenticate challenge and the body.
func call(t *testing.T, u string, hdr ...string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), string(body)
}

// TestResourceServerWithGatehouse: the resourceserver middleware in front
// of an API, with tokens gatehouse really issues: JWT access tokens
// (verified offline against its JWKS), opaque tokens and API keys
// (introspected with the API's own client). A token for another resource,
// an expired one, a revoked API key (once its cached answer is gone) and
// none at all are refused with the RFC 6750 / RFC 9728 challenges; a token
// without the route's scope gets 403 insufficient_scope.
func TestResourceServerWithGatehouse(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		ctx := context.Background()
		ln := loopbackListener(t)
		resource := "http://" + ln.Addr().String() + "/api"
		const other = "https://other.example/api"

		// The API's own client: it serves the resource, so gatehouse
		// answers its introspection of tokens for it.
		api, apiSecret := s.client(admin.ClientSpec{Name: "the API", Resources: []string{resource}})
		jwtApp, jwtSecret := s.client(admin.ClientSpec{Name: "jwt agent", Scopes: []string{"api:read", "api:write"},
			Audience: []string{resource, other}, AccessTokenFormat: provider.FormatJWT})
		opaqueApp, opaqueSecret := s.client(admin.ClientSpec{Name: "opaque agent", Scopes: []string{"api:read"},
			Audience: []string{resource}, AccessTokenFormat: provider.FormatOpaque})
		keyRecord, key, err := s.app.admin.CreateAPIKey(ctx, nil, admin.APIKeySpec{ClientID: opaqueApp.ID, Name: "ci", Scopes: []string{"api:read"}})
		if err != nil {
			t.Fatal(err)
		}

		clock := clocktest.New(time.Now())
		rs, err := resourceserver.New(resourceserver.Options{
			Issuer: s.issuer, Resource: resource, RequiredScopes: []string{"api:read"},
			ClientID: api.ID, ClientSecret: apiSecret, APIKeys: true, Clock: clock.Now,
		})
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		whoami := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, _ := resourceserver.FromContext(r.Context())
			_ = json.NewEncoder(w).Encode(p)
		})
		mux.Handle(resourceserver.MetadataPath+"/", rs.MetadataHandler())
		mux.Handle("/api", rs.Middleware(whoami))
		mux.Handle("/api/write", rs.Middleware(rs.RequireScopes("api:write")(whoami)))
		mux.Handle("/api/editors", rs.Middleware(rs.RequireRole("editor")(whoami)))
		mux.Handle("/api/admins", rs.Middleware(rs.RequireRole("admin")(whoami)))
		base := serveLoopback(t, ln, mux)
		md := base + "/.well-known/oauth-protected-resource/api"
		principal := func(body string) resourceserver.Principal {
			var p resourceserver.Principal
			if err := json.Unmarshal([]byte(body), &p); err != nil {
				t.Fatalf("%v: %s", err, body)
			}
			return p
		}

		// The metadata names gatehouse.
		st, _, body := call(t, md)
		if st != 200 || !strings.Contains(body, `"authorization_servers":["`+s.issuer+`"]`) || !strings.Contains(body, `"resource":"`+resource+`"`) {
			t.Fatalf("metadata: %d %s", st, body)
		}
		// No token: 401 naming the metadata and the scope.
		st, www, _ := call(t, resource)
		if st != 401 || www != `Bearer resource_metadata="`+md+`", scope="api:read"` {
			t.Fatalf("no token: %d %s", st, www)
		}

		// A JWT access token for the resource: verified offline.
		at := s.resourceServerToken(t, jwtApp.ID, jwtSecret, resource, "api:read")
		st, _, body = call(t, resource, "Authorization", "Bearer "+at)
		if p := principal(body); st != 200 || p.Subject != jwtApp.ID || p.ClientID != jwtApp.ID || p.Via != resourceserver.ViaJWT || !p.HasScope("api:read") {
			t.Fatalf("JWT: %d %s", st, body)
		}
		// Without the route's scope: 403 insufficient_scope naming it.
		st, www, _ = call(t, resource+"/write", "Authorization", "Bearer "+at)
		if st != 403 || www != `Bearer error="insufficient_scope", scope="api:write api:read", resource_metadata="`+md+`"` {
			t.Fatalf("missing scope: %d %s", st, www)
		}
		// With it: served.
		atWrite := s.resourceServerToken(t, jwtApp.ID, jwtSecret, resource, "api:read api:write")
		if st, _, _ = call(t, resource+"/write", "Authorization", "Bearer "+atWrite); st != 200 {
			t.Fatalf("with the scope: %d", st)
		}
		// A token for another resource: 401 invalid_token.
		foreign := s.resourceServerToken(t, jwtApp.ID, jwtSecret, other, "api:read")
		st, www, _ = call(t, resource, "Authorization", "Bearer "+foreign)
		if st != 401 || www != `Bearer error="invalid_token", resource_metadata="`+md+`", scope="api:read"` {
			t.Fatalf("other audience: %d %s", st, www)
		}

		// An opaque token: introspected by the API's client.
		opaque := s.resourceServerToken(t, opaqueApp.ID, opaqueSecret, resource, "api:read")
		if !strings.HasPrefix(opaque, provider.PrefixAccessToken) {
			t.Fatalf("not an opaque token: %s", opaque)
		}
		st, _, body = call(t, resource, "Authorization", "Bearer "+opaque)
		if p := principal(body); st != 200 || p.Subject != opaqueApp.ID || p.Via != resourceserver.ViaIntrospection {
			t.Fatalf("opaque: %d %s", st, body)
		}
		// A person's token (authorization code), JWT: the subject is the
		// person.
		jane := s.user("jane@example.com", alicePassword, "editor")
		web, webSecret := s.client(admin.ClientSpec{Name: "web", RedirectURIs: []string{appRedirect}, Scopes: []string{"openid", "api:read", "roles"},
			Audience: []string{resource}, AccessTokenFormat: provider.FormatJWT, SkipConsent: true})
		conf := s.oauthConfig(web, webSecret, "openid", "api:read", "roles")
		b := s.newBrowser()
		verifier, challenge := pkce()
		cb := b.authorizeAndLogin(conf.AuthCodeURL(randomString(t, 16), challenge, oauth2.SetAuthURLParam("resource", resource)), "jane@example.com", alicePassword)
		tok, err := conf.Exchange(ctx, cb.Get("code"), oauth2.VerifierOption(verifier), oauth2.SetAuthURLParam("resource", resource))
		if err != nil {
			t.Fatal(err)
		}
		st, _, body = call(t, resource, "Authorization", "Bearer "+tok.AccessToken)
		if p := principal(body); st != 200 || p.Subject != jane.ID || p.ClientID != web.ID || !p.HasRole("editor") {
			t.Fatalf("person's token: %d %s", st, body)
		}
		// Her roles travel in the token (the roles scope granted): a route
		// for editors serves her, one for admins does not.
		if st, _, _ = call(t, resource+"/editors", "Authorization", "Bearer "+tok.AccessToken); st != 200 {
			t.Fatalf("an editor on the editors' route: %d", st)
		}
		if st, _, _ = call(t, resource+"/admins", "Authorization", "Bearer "+tok.AccessToken); st != 403 {
			t.Fatalf("an editor on the admins' route: %d", st)
		}
		// The same through introspection, with an opaque token of another
		// app in the same browser session.
		web2, web2Secret := s.client(admin.ClientSpec{Name: "web2", RedirectURIs: []string{appRedirect}, Scopes: []string{"openid", "api:read", "roles"},
			Audience: []string{resource}, SkipConsent: true})
		conf2 := s.oauthConfig(web2, web2Secret, "openid", "api:read", "roles")
		verifier2, challenge2 := pkce()
		cb2 := b.get(conf2.AuthCodeURL(randomString(t, 16), challenge2, oauth2.SetAuthURLParam("resource", resource))).callback(t)
		tok2, err := conf2.Exchange(ctx, cb2.Get("code"), oauth2.VerifierOption(verifier2), oauth2.SetAuthURLParam("resource", resource))
		if err != nil {
			t.Fatal(err)
		}
		if st, _, body = call(t, resource+"/editors", "Authorization", "Bearer "+tok2.AccessToken); st != 200 || principal(body).Via != resourceserver.ViaIntrospection {
			t.Fatalf("an editor's opaque token on the editors' route: %d %s", st, body)
		}
		// Without the roles scope, no roles: the admins' and editors'
		// routes alike refuse.
		conf3 := s.oauthConfig(web, webSecret, "openid", "api:read")
		verifier3, challenge3 := pkce()
		cb3 := b.get(conf3.AuthCodeURL(randomString(t, 16), challenge3, oauth2.SetAuthURLParam("resource", resource))).callback(t)
		tok3, err := conf3.Exchange(ctx, cb3.Get("code"), oauth2.VerifierOption(verifier3), oauth2.SetAuthURLParam("resource", resource))
		if err != nil {
			t.Fatal(err)
		}
		if st, _, _ = call(t, resource+"/editors", "Authorization", "Bearer "+tok3.AccessToken); st != 403 {
			t.Fatalf("a token without the roles scope on the editors' route: %d", st)
		}

		// An API key, in X-API-Key or as a bearer token.
		st, _, body = call(t, resource, "X-API-Key", key)
		if p := principal(body); st != 200 || !p.IsAPIKey() || p.ClientID != opaqueApp.ID {
			t.Fatalf("API key: %d %s", st, body)
		}
		if st, _, _ = call(t, resource, "Authorization", "Bearer "+key); st != 200 {
			t.Fatalf("API key as bearer: %d", st)
		}
		// Revoked: the cached answer holds for its TTL; the re-check after
		// it fails and the key is refused.
		revoke := func(id string) {
			t.Helper()
			if err := s.app.admin.RevokeAPIKey(ctx, nil, id); err != nil {
				t.Fatal(err)
			}
		}
		revoke(keyRecord.ID)
		if st, _, _ = call(t, resource, "X-API-Key", key); st != 200 {
			t.Fatalf("revoked key within the cache TTL: %d", st)
		}
		clock.Advance(31 * time.Second)
		st, www, _ = call(t, resource, "X-API-Key", key)
		if st != 401 || !strings.Contains(www, `error="invalid_token"`) {
			t.Fatalf("revoked key after the cache TTL: %d %s", st, www)
		}
		// Forget drops the cached answer at once.
		key2Record, key2, err := s.app.admin.CreateAPIKey(ctx, nil, admin.APIKeySpec{ClientID: opaqueApp.ID, Name: "ci2", Scopes: []string{"api:read"}})
		if err != nil {
			t.Fatal(err)
		}
		if st, _, _ = call(t, resource, "X-API-Key", key2); st != 200 {
			t.Fatalf("second key: %d", st)
		}
		revoke(key2Record.ID)
		rs.Forget(key2)
		if st, _, _ = call(t, resource, "X-API-Key", key2); st != 401 {
			t.Fatalf("revoked key after Forget: %d", st)
		}
		// A token the key's client got with its secret is not touched by
		// the key's revocation: re-checked after the TTL, still good.
		if st, _, _ = call(t, resource, "Authorization", "Bearer "+opaque); st != 200 {
			t.Fatalf("opaque token after the cache TTL: %d", st)
		}

		// Expired, on the API's clock: JWT and opaque alike.
		clock.Advance(2 * time.Hour)
		for name, token := range map[string]string{"JWT": at, "opaque": opaque} {
			rs.Forget(token)
			st, www, _ = call(t, resource, "Authorization", "Bearer "+token)
			if st != 401 || !strings.Contains(www, `error="invalid_token"`) {
				t.Fatalf("expired %s: %d %s", name, st, www)
			}
		}
	})
}

// bearerTransport adds a bearer token to every request.
type bearerTransport struct{ token string }

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

// TestExampleMCPServer: cmd/example-mcp-server's handler with gatehouse
// as its authorization server: the MCP Go SDK client calls its tools with
// a token gatehouse issued for it, and is refused without one.
func TestExampleMCPServer(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		ln := loopbackListener(t)
		resource := "http://" + ln.Addr().String() + "/mcp"
		mcpClient, mcpSecret := s.client(admin.ClientSpec{Name: "example MCP server", Resources: []string{resource}})
		agent, agentSecret := s.client(admin.ClientSpec{Name: "agent", Scopes: []string{"mcp:tools"}, Audience: []string{resource}})
		h, err := exampleserver.New(exampleserver.Config{Issuer: s.issuer, Resource: resource, ClientID: mcpClient.ID,
			ClientSecret: mcpSecret, Scope: "mcp:tools"})
		if err != nil {
			t.Fatal(err)
		}
		serveLoopback(t, ln, h)
		ctx := context.Background()
		client := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil)
		connect := func(hc *http.Client) (*mcp.ClientSession, error) {
			return client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: resource, HTTPClient: hc, MaxRetries: -1, DisableStandaloneSSE: true}, nil)
		}

		// Without a token: 401 with the challenge, and the SDK cannot connect.
		st, www, _ := call(t, resource)
		md := "http://" + ln.Addr().String() + "/.well-known/oauth-protected-resource/mcp"
		if st != 401 || www != `Bearer resource_metadata="`+md+`", scope="mcp:tools"` {
			t.Fatalf("no token: %d %s", st, www)
		}
		if st, _, body := call(t, md); st != 200 || !strings.Contains(body, s.issuer) {
			t.Fatalf("metadata: %d %s", st, body)
		}
		if cs, err := connect(&http.Client{}); err == nil {
			cs.Close()
			t.Fatal("connected without a token")
		}

		// With a token for the server (opaque, introspected).
		token := s.resourceServerToken(t, agent.ID, agentSecret, resource, "mcp:tools")
		cs, err := connect(&http.Client{Transport: bearerTransport{token}})
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		defer cs.Close()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"})
		if err != nil || res.IsError {
			t.Fatalf("whoami: %v %+v", err, res)
		}
		raw, _ := json.Marshal(res.StructuredContent)
		var who exampleserver.WhoAmI
		if err := json.Unmarshal(raw, &who); err != nil || who.Subject != agent.ID || who.ClientID != agent.ID || len(who.Scopes) != 1 || who.Scopes[0] != "mcp:tools" {
			t.Fatalf("whoami: %s %v", raw, err)
		}
		res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "add", Arguments: map[string]any{"a": 40, "b": 2}})
		if err != nil || res.IsError {
			t.Fatalf("add: %v %+v", err, res)
		}
		if raw, _ := json.Marshal(res.StructuredContent); string(raw) != `{"sum":42}` {
			t.Fatalf("add: %s", raw)
		}

		// A JWT access token, verified offline against gatehouse's JWKS.
		jwtAgent, jwtAgentSecret := s.client(admin.ClientSpec{Name: "jwt agent", Scopes: []string{"mcp:tools"}, Audience: []string{resource},
			AccessTokenFormat: provider.FormatJWT})
		jwtToken := s.resourceServerToken(t, jwtAgent.ID, jwtAgentSecret, resource, "mcp:tools")
		jcs, err := connect(&http.Client{Transport: bearerTransport{jwtToken}})
		if err != nil {
			t.Fatalf("connect with a JWT: %v", err)
		}
		defer jcs.Close()
		res, err = jcs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"})
		if err != nil || res.IsError {
			t.Fatalf("whoami with a JWT: %v %+v", err, res)
		}
		if raw, _ := json.Marshal(res.StructuredContent); !strings.Contains(string(raw), `"subject":"`+jwtAgent.ID+`"`) {
			t.Fatalf("whoami with a JWT: %s", raw)
		}

		// A token without the scope: 403 insufficient_scope.
		plain, plainSecret := s.client(admin.ClientSpec{Name: "no scope", Scopes: []string{"other"}, Audience: []string{resource}})
		weak := s.resourceServerToken(t, plain.ID, plainSecret, resource, "other")
		st, www, _ = call(t, resource, "Authorization", "Bearer "+weak)
		if st != 403 || www != `Bearer error="insufficient_scope", scope="mcp:tools", resource_metadata="`+md+`"` {
			t.Fatalf("without the scope: %d %s", st, www)
		}
	})
}
