package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// testIdP is an enterprise identity provider that issues ID-JAGs: an
// ES256 key published as a JWKS (and an OpenID Connect discovery document,
// so that it can be a federation upstream) on a loopback server.
type testIdP struct {
	url      string
	key      *ecdsa.PrivateKey
	kid      string
	jwksHits atomic.Int32
}

func newTestIdP(t *testing.T) *testIdP {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	idp := &testIdP{key: key, kid: uuid.NewString()}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		writeTestJSON(w, map[string]any{
			"issuer": idp.url, "authorization_endpoint": idp.url + "/authorize", "token_endpoint": idp.url + "/token",
			"jwks_uri": idp.url + "/jwks", "response_types_supported": []string{"code"},
			"subject_types_supported": []string{"public"}, "id_token_signing_alg_values_supported": []string{"ES256"},
			"code_challenge_methods_supported": []string{"S256"},
		})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, _ *http.Request) {
		idp.jwksHits.Add(1)
		writeTestJSON(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: idp.kid, Algorithm: "ES256", Use: "sig"}}})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	idp.url = srv.URL
	return idp
}

func writeTestJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// assertion mints an ID-JAG for audience, client and subject; mod changes
// the claims, typ the JOSE type.
func (idp *testIdP) assertion(t *testing.T, claims map[string]any) string {
	t.Helper()
	return signAssertion(t, jose.SigningKey{Algorithm: jose.ES256, Key: idp.key}, idp.kid, "oauth-id-jag+jwt", claims)
}

func signAssertion(t *testing.T, key jose.SigningKey, kid, typ string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithHeader("kid", kid)
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	signer, err := jose.NewSigner(key, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestIdentityAssertionGrant: the token endpoint redeems an ID-JAG of a
// trusted upstream (MCP Enterprise-Managed Authorization) for the user
// linked to its subject, once, with the audience bound to its resource and
// the scopes both asked and asserted, and refuses every faulty assertion
// with invalid_grant, a client without the grant with unauthorized_client.
func TestIdentityAssertionGrant(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		idp, stranger := newTestIdP(t), newTestIdP(t)
		s, dsn := startServerDSN(t, dialect, func(c *config.Config) {
			c.HTTPClient.AllowPrivateNetworks = true // the IdPs are on loopback
			c.Upstreams = []config.Upstream{{ID: "corp", Name: "Corp SSO", Issuer: idp.url, ClientID: "gatehouse", ClientSecret: "upstream-secret"}}
			c.IDJAG.Issuers = []config.IDJAGIssuer{
				{Upstream: "corp"},
				// Trusted for its signature, but no upstream: no subject maps.
				{Issuer: stranger.url, JWKSURI: stranger.url + "/jwks"},
			}
		})
		ctx := context.Background()
		const resource = "https://mcp.example.com/mcp"

		// Discovery advertises the grant and its profile (the draft: both).
		_, disc, _ := getJSON(t, s.issuer+"/.well-known/oauth-authorization-server")
		if !slices.Contains(toStrings(disc["grant_types_supported"]), provider.GrantJWTBearer) ||
			!slices.Equal(toStrings(disc["authorization_grant_profiles_supported"]), []string{provider.GrantProfileIDJAG}) {
			t.Fatalf("discovery: grant_types_supported %v, authorization_grant_profiles_supported %v",
				disc["grant_types_supported"], disc["authorization_grant_profiles_supported"])
		}

		agent, agentSecret := s.client(admin.ClientSpec{
			Name: "MCP agent", GrantTypes: []string{provider.GrantJWTBearer},
			Scopes: []string{"chat.read", "chat.history", "tools.run"}, Audience: []string{resource},
		})
		other, _ := s.client(admin.ClientSpec{
			Name: "Other agent", GrantTypes: []string{provider.GrantJWTBearer}, Scopes: []string{"chat.read"},
		})
		machine, machineSecret := s.client(admin.ClientSpec{Name: "Machine", GrantTypes: []string{provider.GrantClientCredentials}, Scopes: []string{"chat.read"}})
		if _, _, err := s.app.admin.CreateClient(ctx, nil, admin.ClientSpec{
			Name: "SPA", Public: true, GrantTypes: []string{provider.GrantAuthorizationCode, provider.GrantJWTBearer},
			RedirectURIs: []string{"http://127.0.0.1/cb"},
		}); err == nil || !strings.Contains(err.Error(), "public client") {
			t.Fatalf("a public client with the jwt-bearer grant: %v", err)
		}

		alice := s.user("alice@example.com", "pw-"+randomString(t, 8))
		bob := s.user("bob@example.com", "pw-"+randomString(t, 8))
		link := func(u *storage.User, sub string) {
			now := time.Now().UTC()
			if err := s.store.CreateFederatedIdentity(ctx, &storage.FederatedIdentity{
				UpstreamID: "corp", Subject: sub, UserID: u.ID, CreatedAt: now, LastLoginAt: now,
			}); err != nil {
				t.Fatal(err)
			}
		}
		link(alice, "idp-alice")
		link(bob, "idp-bob")
		bob.Disabled = true
		if err := s.store.UpdateUser(ctx, bob); err != nil {
			t.Fatal(err)
		}

		claims := func(mod func(map[string]any)) map[string]any {
			now := time.Now()
			c := map[string]any{
				"iss": idp.url, "sub": "idp-alice", "aud": s.issuer, "client_id": agent.ID, "jti": uuid.NewString(),
				"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
				"resource": resource, "scope": "chat.read chat.history",
			}
			if mod != nil {
				mod(c)
			}
			return c
		}
		redeem := func(clientID, secret, assertion string, extra url.Values) (int, map[string]any) {
			form := url.Values{"grant_type": {provider.GrantJWTBearer}, "assertion": {assertion}}
			for k, v := range extra {
				form[k] = v
			}
			status, out, _ := postForm(t, s.issuer+provider.PathToken, form, clientID, secret)
			return status, out
		}

		// Success: the token is alice's, for the resource, with the scopes
		// asked and asserted (tools.run is not asserted), and no refresh
		// token (the draft's "Refresh Token").
		first := idp.assertion(t, claims(nil))
		status, tok := redeem(agent.ID, agentSecret, first, url.Values{"scope": {"chat.read tools.run"}})
		if status != http.StatusOK {
			t.Fatalf("redeem: %d %v", status, tok)
		}
		if tok["scope"] != "chat.read" || tok["refresh_token"] != nil || tok["access_token"] == nil {
			t.Fatalf("token response %v", tok)
		}
		info := s.introspect(t, agent.ID, agentSecret, tok["access_token"].(string))
		if info["active"] != true || info["sub"] != alice.ID || info["client_id"] != agent.ID ||
			!slices.Equal(toStrings(info["aud"]), []string{resource}) || info["scope"] != "chat.read" {
			t.Fatalf("introspection %v", info)
		}
		waitAuditEvents(t, dsn, auditRow{Type: audit.TokenIssued, Actor: "client:" + agent.ID, Subject: "user:" + alice.ID, ClientID: agent.ID})

		// No scope parameter: the asserted scopes the client may have.
		status, tok = redeem(agent.ID, agentSecret, idp.assertion(t, claims(nil)), nil)
		if status != http.StatusOK || tok["scope"] != "chat.history chat.read" && tok["scope"] != "chat.read chat.history" {
			t.Fatalf("redeem without scope: %d %v", status, tok)
		}

		// The same assertion again: single use (RFC 7523 §3 item 7).
		if status, out := redeem(agent.ID, agentSecret, first, nil); status != http.StatusBadRequest || out["error"] != "invalid_grant" ||
			!strings.Contains(out["error_description"].(string), "already used") {
			t.Fatalf("replayed assertion: %d %v", status, out)
		}
		// Presented concurrently, one assertion gets one token.
		contested := idp.assertion(t, claims(nil))
		results := make(chan int, 4)
		for range 4 {
			go func() {
				status, _ := redeem(agent.ID, agentSecret, contested, nil)
				results <- status
			}()
		}
		var won, lost int
		for range 4 {
			switch <-results {
			case http.StatusOK:
				won++
			case http.StatusBadRequest:
				lost++
			}
		}
		if won != 1 || lost != 3 {
			t.Fatalf("concurrent redemptions of one assertion: %d won, %d refused, want 1 and 3", won, lost)
		}

		strangerKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		for _, tc := range []struct {
			name      string
			assertion string
			clientID  string
			says      string
		}{
			{"wrong aud", idp.assertion(t, claims(func(c map[string]any) { c["aud"] = "https://other-as.example.com" })), agent.ID, "aud"},
			{"token endpoint as aud", idp.assertion(t, claims(func(c map[string]any) { c["aud"] = s.issuer + provider.PathToken })), agent.ID, "aud"},
			{"typ JWT", signAssertion(t, jose.SigningKey{Algorithm: jose.ES256, Key: idp.key}, idp.kid, "JWT", claims(nil)), agent.ID, "typ"},
			{"no typ", signAssertion(t, jose.SigningKey{Algorithm: jose.ES256, Key: idp.key}, idp.kid, "", claims(nil)), agent.ID, "typ"},
			{"alg HS256", signAssertion(t, jose.SigningKey{Algorithm: jose.HS256, Key: []byte(strings.Repeat("s", 32))}, idp.kid, "oauth-id-jag+jwt", claims(nil)), agent.ID, "signed with one of"},
			{"key not the issuer's", signAssertion(t, jose.SigningKey{Algorithm: jose.ES256, Key: strangerKey}, idp.kid, "oauth-id-jag+jwt", claims(nil)), agent.ID, "signature"},
			{"expired", idp.assertion(t, claims(func(c map[string]any) {
				c["iat"] = time.Now().Add(-10 * time.Minute).Unix()
				c["exp"] = time.Now().Add(-5 * time.Minute).Unix()
			})), agent.ID, "expired"},
			{"longer than id_jag.max_lifetime", idp.assertion(t, claims(func(c map[string]any) { c["exp"] = time.Now().Add(time.Hour).Unix() })), agent.ID, "longer"},
			{"untrusted issuer", idp.assertion(t, claims(func(c map[string]any) { c["iss"] = "https://idp.evil.example" })), agent.ID, "not trusted"},
			{"unknown subject", idp.assertion(t, claims(func(c map[string]any) { c["sub"] = "idp-nobody" })), agent.ID, "not linked"},
			{"disabled user", idp.assertion(t, claims(func(c map[string]any) { c["sub"] = "idp-bob" })), agent.ID, "not active"},
			{"issuer without an upstream", stranger.assertion(t, claims(func(c map[string]any) { c["iss"] = stranger.url })), agent.ID, "not linked"},
			{"another client's assertion", idp.assertion(t, claims(func(c map[string]any) { c["client_id"] = other.ID })), agent.ID, "another client"},
			{"bound to a key", idp.assertion(t, claims(func(c map[string]any) { c["cnf"] = map[string]string{"jkt": "abc"} })), agent.ID, "cnf"},
			{"not a JWT", "not-a-jwt", agent.ID, "not a JWT"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, out := redeem(tc.clientID, agentSecret, tc.assertion, nil)
				if desc, _ := out["error_description"].(string); status != http.StatusBadRequest || out["error"] != "invalid_grant" || !strings.Contains(desc, tc.says) {
					t.Fatalf("%d %v, want 400 invalid_grant saying %q", status, out, tc.says)
				}
			})
		}
		waitAuditEvents(t, dsn, auditRow{Type: audit.AssertionRefused, Actor: "client:" + agent.ID, ClientID: agent.ID})

		// Resources and scopes beyond the assertion or the client.
		if status, out := redeem(agent.ID, agentSecret, idp.assertion(t, claims(nil)), url.Values{"resource": {"https://other.example.com/api"}}); status != http.StatusBadRequest || out["error"] != "invalid_target" {
			t.Fatalf("resource not asserted: %d %v", status, out)
		}
		unregistered := idp.assertion(t, claims(func(c map[string]any) { c["resource"] = "https://not-for-this-client.example.com/" }))
		if status, out := redeem(agent.ID, agentSecret, unregistered, nil); status != http.StatusBadRequest || out["error"] != "invalid_target" {
			t.Fatalf("asserted resource the client may not use: %d %v", status, out)
		}
		if status, out := redeem(agent.ID, agentSecret, idp.assertion(t, claims(nil)), url.Values{"scope": {"admin.everything"}}); status != http.StatusBadRequest || out["error"] != "invalid_scope" {
			t.Fatalf("scope the client may not have: %d %v", status, out)
		}

		// RFC 6749 §3.2: a parameter sent twice is invalid_request, not
		// "the first one".
		twice := url.Values{"grant_type": {provider.GrantJWTBearer}, "assertion": {idp.assertion(t, claims(nil)), idp.assertion(t, claims(nil))}}
		if status, out, _ := postForm(t, s.issuer+provider.PathToken, twice, agent.ID, agentSecret); status != http.StatusBadRequest || out["error"] != "invalid_request" {
			t.Fatalf("two assertions: %d %v", status, out)
		}

		// A client without the grant type.
		machineAssertion := idp.assertion(t, claims(func(c map[string]any) { c["client_id"] = machine.ID }))
		if status, out := redeem(machine.ID, machineSecret, machineAssertion, nil); status != http.StatusBadRequest || out["error"] != "unauthorized_client" {
			t.Fatalf("client without the grant: %d %v", status, out)
		}
		// A wrong client secret is still invalid_client (client
		// authentication as usual).
		if status, out := redeem(agent.ID, "wrong", idp.assertion(t, claims(nil)), nil); status != http.StatusUnauthorized || out["error"] != "invalid_client" {
			t.Fatalf("wrong secret: %d %v", status, out)
		}
		if idp.jwksHits.Load() == 0 {
			t.Fatal("the IdP's key set was never fetched")
		}
	})
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// TestCLIClientWithIdentityAssertionGrant: an operator gives a client the
// jwt-bearer grant with --grant-type; a public client cannot have it.
func TestCLIClientWithIdentityAssertionGrant(t *testing.T) {
	cliEnv(t)
	if _, _, err := cli(t, "", "migrate"); err != nil {
		t.Fatal(err)
	}
	var created map[string]any
	cliJSON(t, &created, "", "clients", "create", "--name", "MCP agent", "--grant-type", provider.GrantJWTBearer,
		"--scope", "chat.read", "--audience", "https://mcp.example.com/mcp", "--json")
	if !slices.Equal(toStrings(created["grant_types"]), []string{provider.GrantJWTBearer}) || created["client_secret"] == nil {
		t.Fatalf("created client: %v", created)
	}
	if _, _, err := cli(t, "", "clients", "create", "--name", "SPA", "--public", "--redirect-uri", "http://127.0.0.1:3000/cb",
		"--grant-type", "authorization_code", "--grant-type", provider.GrantJWTBearer); err == nil || !strings.Contains(err.Error(), "public client cannot use") {
		t.Fatalf("public client with the jwt-bearer grant: %v", err)
	}
}
