package main

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	josev4 "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/internal/testservices"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

const (
	mcpResource   = "https://mcp.example/mcp"
	otherResource = "https://other.example/api"
)

// resourceToken gets a client_credentials token for the resources given
// (none: the request names none), or the OAuth error code.
func (s *testServer) resourceToken(t *testing.T, id, secret, scope string, resources ...string) (*oauth2.Token, string) {
	t.Helper()
	cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: s.issuer + provider.PathToken,
		Scopes: strings.Fields(scope), EndpointParams: url.Values{"resource": resources},
		// Not the default auto-detection: after a 400 it retries with the
		// secret in the form, which the client may not use (invalid_client).
		AuthStyle: oauth2.AuthStyleInHeader}
	tok, err := cc.Token(context.Background())
	if err != nil {
		return nil, oauthErrorCode(err)
	}
	return tok, ""
}

// wantAudience fails unless the JWT claims name exactly aud.
func wantAudience(t *testing.T, what string, claims map[string]interface{}, aud string) {
	t.Helper()
	if got, _ := claims["aud"].([]interface{}); len(got) != 1 || got[0] != aud {
		t.Fatalf("%s: aud %v, want exactly [%s]", what, claims["aud"], aud)
	}
}

// wantLifetime fails unless the JWT lives for want (exp - iat).
func wantLifetime(t *testing.T, what string, claims map[string]interface{}, want time.Duration) {
	t.Helper()
	exp, _ := claims["exp"].(float64)
	iat, _ := claims["iat"].(float64)
	if got := time.Duration(exp-iat) * time.Second; math.Abs(float64(got-want)) > float64(time.Second) {
		t.Fatalf("%s: lifetime %s, want %s", what, got, want)
	}
}

// setUpResources registers two resources: an MCP server whose tokens are
// ES256 JWTs living two minutes, and an API with the server's defaults
// (opaque tokens, the default lifetime).
func setUpResources(t *testing.T, s *testServer) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.app.admin.CreateResource(ctx, nil, admin.ResourceSpec{
		ID: mcpResource, Name: "MCP server", Scopes: []string{"tools:read", "tools:call"},
		AccessTokenFormat: provider.FormatJWT, AccessTokenLifetime: 2 * time.Minute, SigningAlg: "ES256",
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.app.admin.CreateResource(ctx, nil, admin.ResourceSpec{ID: otherResource, Scopes: []string{"other:read"}}); err != nil {
		t.Fatal(err)
	}
}

// TestResourceBoundClientCredentials: a client_credentials token for a
// registered resource names exactly it and follows its format, lifetime
// and algorithm; unknown resources, several, one outside the client's
// audience and scopes the resource does not understand are refused with
// RFC 8707 / RFC 6749 §5.2 errors; the default resource applies when a
// request names none; each resource's introspecting client sees its own
// tokens only.
func TestResourceBoundClientCredentials(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		setUpResources(t, s)
		m2m, m2mSecret := s.client(admin.ClientSpec{Name: "agent", GrantTypes: []string{"client_credentials"}, Scopes: []string{"tools:read", "tools:call", "other:read"}})
		// The resource servers: each may introspect the tokens for its
		// resource (storage.Client.Resources).
		rsMCP, rsMCPSecret := s.client(admin.ClientSpec{Name: "mcp server", GrantTypes: []string{"client_credentials"}, Resources: []string{mcpResource}})
		rsOther, rsOtherSecret := s.client(admin.ClientSpec{Name: "other api", GrantTypes: []string{"client_credentials"}, Resources: []string{otherResource}})

		tok, code := s.resourceToken(t, m2m.ID, m2mSecret, "tools:read", mcpResource)
		if code != "" {
			t.Fatalf("token for the MCP server: %s", code)
		}
		h, claims := verifyAccessJWT(t, s, tok.AccessToken, josev4.ES256)
		if h.ExtraHeaders["typ"] != "at+jwt" || claims["scope"] != "tools:read" || claims["client_id"] != m2m.ID {
			t.Fatalf("MCP token: %v %v", h.ExtraHeaders, claims)
		}
		wantAudience(t, "MCP token", claims, mcpResource)
		wantLifetime(t, "MCP token", claims, 2*time.Minute)
		if left := time.Until(tok.Expiry); left > 2*time.Minute+time.Second || left < time.Minute {
			t.Fatalf("expires_in of the MCP token: %s left", left)
		}
		mcpToken := tok.AccessToken

		tok, code = s.resourceToken(t, m2m.ID, m2mSecret, "other:read", otherResource)
		if code != "" || !strings.HasPrefix(tok.AccessToken, provider.PrefixAccessToken) {
			t.Fatalf("token for the other API: %v %s; want an opaque token (server default)", tok, code)
		}
		otherToken := tok.AccessToken

		// Introspection: each resource server sees its own tokens, with the
		// audience exactly its resource, and not the other's.
		if in := s.introspect(t, rsMCP.ID, rsMCPSecret, mcpToken); in["active"] != true || !sameList(in["aud"], mcpResource) {
			t.Fatalf("MCP server introspecting its token: %v", in)
		}
		if s.active(t, rsOther.ID, rsOtherSecret, mcpToken) {
			t.Fatal("the other API sees the MCP server's token")
		}
		if in := s.introspect(t, rsOther.ID, rsOtherSecret, otherToken); in["active"] != true || !sameList(in["aud"], otherResource) {
			t.Fatalf("other API introspecting its token: %v", in)
		}
		if s.active(t, rsMCP.ID, rsMCPSecret, otherToken) {
			t.Fatal("the MCP server sees the other API's token")
		}

		refusals := []struct {
			what, scope string
			resources   []string
			want        string
		}{
			{"an unknown resource", "tools:read", []string{"https://unknown.example/"}, "invalid_target"},
			{"a resource with a fragment", "tools:read", []string{mcpResource + "#x"}, "invalid_target"},
			{"a relative resource", "tools:read", []string{"/mcp"}, "invalid_target"},
			{"two resources", "tools:read", []string{mcpResource, otherResource}, "invalid_target"},
			{"a scope the resource does not understand", "other:read", []string{mcpResource}, "invalid_scope"},
			{"one scope of two the resource does not understand", "tools:read other:read", []string{mcpResource}, "invalid_scope"},
		}
		for _, r := range refusals {
			if _, code := s.resourceToken(t, m2m.ID, m2mSecret, r.scope, r.resources...); code != r.want {
				t.Errorf("%s: %q, want %s", r.what, code, r.want)
			}
		}
		// gatehouse perform asks for a resource too.
		out, stderr, err := cli(t, "", "perform", "client-credentials", "--endpoint", s.issuer, "--client-id", m2m.ID,
			"--client-secret", m2mSecret, "--scope", "tools:read", "--resource", mcpResource)
		if err != nil {
			t.Fatalf("perform client-credentials --resource: %v\n%s", err, stderr)
		}
		_, claims = verifyAccessJWT(t, s, strings.TrimSpace(out), josev4.ES256)
		wantAudience(t, "token from gatehouse perform", claims, mcpResource)
		if _, stderr, err := cli(t, "", "perform", "client-credentials", "--endpoint", s.issuer, "--client-id", m2m.ID,
			"--client-secret", m2mSecret, "--resource", "https://unknown.example/"); err == nil || !strings.Contains(err.Error()+stderr, "invalid_target") {
			t.Fatalf("perform for an unknown resource: %v %s", err, stderr)
		}

		// The error is RFC 6749 §5.2's JSON with status 400.
		st, body, _ := postForm(t, s.issuer+provider.PathToken, url.Values{"grant_type": {"client_credentials"}, "resource": {"https://unknown.example/"}}, m2m.ID, m2mSecret)
		if st != http.StatusBadRequest || body["error"] != "invalid_target" || body["error_description"] == nil {
			t.Fatalf("unknown resource: %d %v", st, body)
		}

		// A client whose audience lists resources may use only those.
		narrow, narrowSecret := s.client(admin.ClientSpec{Name: "narrow", GrantTypes: []string{"client_credentials"},
			Scopes: []string{"tools:read", "other:read"}, Audience: []string{otherResource}})
		if _, code := s.resourceToken(t, narrow.ID, narrowSecret, "tools:read", mcpResource); code != "invalid_target" {
			t.Fatalf("a resource outside the client's audience: %q", code)
		}
		if _, code := s.resourceToken(t, narrow.ID, narrowSecret, "other:read", otherResource); code != "" {
			t.Fatalf("a resource in the client's audience: %q", code)
		}

		// A client that registered itself (RFC 7591) gets machine tokens
		// for a resource only when an operator lists it in its audience.
		self, selfSecret := s.client(admin.ClientSpec{Name: "self-registered", GrantTypes: []string{"client_credentials"}, Scopes: []string{"tools:read"}})
		self.RegistrationAccessTokenHash = "registered-by-itself"
		if err := s.store.UpdateClient(context.Background(), self); err != nil {
			t.Fatal(err)
		}
		if _, code := s.resourceToken(t, self.ID, selfSecret, "tools:read", mcpResource); code != "invalid_target" {
			t.Fatalf("self-registered client, machine token for a resource: %q", code)
		}
		self.Audience = []string{mcpResource}
		if err := s.store.UpdateClient(context.Background(), self); err != nil {
			t.Fatal(err)
		}
		if _, code := s.resourceToken(t, self.ID, selfSecret, "tools:read", mcpResource); code != "" {
			t.Fatalf("self-registered client with the resource in its audience: %q", code)
		}

		// The default resource applies to a request that names none.
		older, olderSecret := s.client(admin.ClientSpec{Name: "older MCP client", GrantTypes: []string{"client_credentials"},
			Scopes: []string{"tools:read"}, DefaultResource: mcpResource})
		tok, code = s.resourceToken(t, older.ID, olderSecret, "tools:read")
		if code != "" {
			t.Fatalf("default resource: %s", code)
		}
		_, claims = verifyAccessJWT(t, s, tok.AccessToken, josev4.ES256)
		wantAudience(t, "token for the default resource", claims, mcpResource)
		if s.active(t, rsOther.ID, rsOtherSecret, tok.AccessToken) || !s.active(t, rsMCP.ID, rsMCPSecret, tok.AccessToken) {
			t.Fatal("introspection of a default-resource token")
		}

		// A change to the resource applies to the next token: this
		// instance's cache is dropped at once.
		if _, err := s.app.admin.ChangeResource(context.Background(), nil, mcpResource, func(spec *admin.ResourceSpec) {
			spec.AccessTokenFormat, spec.AccessTokenLifetime, spec.SigningAlg = provider.FormatOpaque, 0, ""
		}); err != nil {
			t.Fatal(err)
		}
		if tok, code = s.resourceToken(t, m2m.ID, m2mSecret, "tools:read", mcpResource); code != "" || !strings.HasPrefix(tok.AccessToken, provider.PrefixAccessToken) {
			t.Fatalf("after the change to opaque: %v %s", tok, code)
		}
		if in := s.introspect(t, rsMCP.ID, rsMCPSecret, tok.AccessToken); in["active"] != true || !sameList(in["aud"], mcpResource) {
			t.Fatalf("opaque MCP token: %v", in)
		}
		// A deleted resource is unknown again.
		if err := s.app.admin.DeleteResource(context.Background(), nil, mcpResource); err != nil {
			t.Fatal(err)
		}
		if _, code := s.resourceToken(t, m2m.ID, m2mSecret, "tools:read", mcpResource); code != "invalid_target" {
			t.Fatalf("deleted resource: %q", code)
		}
		// So is a default resource that was deleted; the answer says so.
		st, body, _ = postForm(t, s.issuer+provider.PathToken, url.Values{"grant_type": {"client_credentials"}, "scope": {"tools:read"}}, older.ID, olderSecret)
		if d, _ := body["error_description"].(string); st != http.StatusBadRequest || body["error"] != "invalid_target" || !strings.Contains(d, "default resource") {
			t.Fatalf("deleted default resource: %d %v", st, body)
		}
	})
}

// sameList reports whether v (a decoded JSON array) is exactly want.
func sameList(v interface{}, want ...string) bool {
	got, _ := v.([]interface{})
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

// TestResourceBoundAuthorizationCode: the resource of the authorization
// request becomes the token's audience, exactly, with the resource's
// format and lifetime, also after a refresh; a grant of two resources
// gives a token for the one the token request names (RFC 8707 §2.2), and
// never for one it was not authorized for; the authorization endpoint
// refuses an unknown resource (invalid_target) and a scope the resource
// does not understand (invalid_scope) at the redirect URI; the client's
// default resource applies when the request names none.
func TestResourceBoundAuthorizationCode(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		setUpResources(t, s)
		jane := s.user("jane@example.com", alicePassword)
		web, webSecret := s.client(admin.ClientSpec{Name: "web", RedirectURIs: []string{appRedirect}, SkipConsent: true,
			Scopes: []string{"openid", "email", "offline_access", "tools:read", "other:read"}})
		rsOther, rsOtherSecret := s.client(admin.ClientSpec{Name: "other api", GrantTypes: []string{"client_credentials"}, Resources: []string{otherResource}})
		b := s.newBrowser()
		ctx := context.Background()

		// One resource: the token is for it, an ES256 JWT of two minutes.
		conf := s.oauthConfig(web, webSecret, "openid", "tools:read", "offline_access")
		verifier, challenge := pkce()
		cb := b.authorizeAndLogin(conf.AuthCodeURL(randomString(t, 16), challenge, oauth2.SetAuthURLParam("resource", mcpResource)), "jane@example.com", alicePassword)
		tok, err := conf.Exchange(ctx, cb.Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		_, claims := verifyAccessJWT(t, s, tok.AccessToken, josev4.ES256)
		wantAudience(t, "user token", claims, mcpResource)
		wantLifetime(t, "user token", claims, 2*time.Minute)
		if claims["sub"] != jane.ID || claims["scope"] != "openid tools:read offline_access" {
			t.Fatalf("user token claims: %v", claims)
		}
		// A refresh keeps the binding.
		st, body, _ := postForm(t, s.issuer+provider.PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, web.ID, webSecret)
		if st != http.StatusOK {
			t.Fatalf("refresh: %d %v", st, body)
		}
		_, claims = verifyAccessJWT(t, s, body["access_token"].(string), josev4.ES256)
		wantAudience(t, "refreshed token", claims, mcpResource)
		// A refresh may not widen the grant to another resource.
		st, body, _ = postForm(t, s.issuer+provider.PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {body["refresh_token"].(string)}, "resource": {otherResource}}, web.ID, webSecret)
		if st != http.StatusBadRequest || body["error"] != "invalid_target" {
			t.Fatalf("refresh for a resource outside the grant: %d %v", st, body)
		}

		// Two resources at authorization (only scopes both understand);
		// each token request names one and gets a token for it alone.
		conf = s.oauthConfig(web, webSecret, "openid", "offline_access")
		verifier, challenge = pkce()
		// RFC 8707 §2.1 repeats the parameter; SetAuthURLParam would
		// replace it.
		cb = b.get(conf.AuthCodeURL(randomString(t, 16), challenge, oauth2.SetAuthURLParam("resource", mcpResource)) +
			"&resource=" + url.QueryEscape(otherResource)).callback(t)
		if cb.Get("code") == "" {
			t.Fatalf("authorization for two resources: %v", cb)
		}
		tok, err = conf.Exchange(ctx, cb.Get("code"), oauth2.VerifierOption(verifier), oauth2.SetAuthURLParam("resource", otherResource))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(tok.AccessToken, provider.PrefixAccessToken) {
			t.Fatalf("token for the other API: %q, want opaque", tok.AccessToken)
		}
		if in := s.introspect(t, rsOther.ID, rsOtherSecret, tok.AccessToken); in["active"] != true || !sameList(in["aud"], otherResource) {
			t.Fatalf("other API introspecting the narrowed token: %v", in)
		}
		// The refresh token keeps both: a refresh names the MCP server.
		st, body, _ = postForm(t, s.issuer+provider.PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "resource": {mcpResource}}, web.ID, webSecret)
		if st != http.StatusOK {
			t.Fatalf("refresh for the other resource of the grant: %d %v", st, body)
		}
		_, claims = verifyAccessJWT(t, s, body["access_token"].(string), josev4.ES256)
		wantAudience(t, "token narrowed at refresh", claims, mcpResource)
		if s.active(t, rsOther.ID, rsOtherSecret, body["access_token"].(string)) {
			t.Fatal("the other API sees the MCP server's token")
		}
		// Naming two resources in one token request is refused.
		st, body, _ = postForm(t, s.issuer+provider.PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {body["refresh_token"].(string)}, "resource": {mcpResource, otherResource}}, web.ID, webSecret)
		if st != http.StatusBadRequest || body["error"] != "invalid_target" {
			t.Fatalf("token request for two resources: %d %v", st, body)
		}

		// Refusals at the authorization endpoint go to the redirect URI.
		for _, r := range []struct {
			what, scope, resource, want string
		}{
			{"an unknown resource", "openid", "https://unknown.example/", "invalid_target"},
			{"a scope the resource does not understand", "openid other:read", mcpResource, "invalid_scope"},
		} {
			_, ch := pkce()
			c := s.oauthConfig(web, webSecret, strings.Fields(r.scope)...)
			if cb := b.get(c.AuthCodeURL(randomString(t, 16), ch, oauth2.SetAuthURLParam("resource", r.resource))).callback(t); cb.Get("error") != r.want {
				t.Errorf("authorize with %s: %v, want %s", r.what, cb, r.want)
			}
		}

		// The default resource, when the request names none.
		older, olderSecret := s.client(admin.ClientSpec{Name: "older MCP client", RedirectURIs: []string{appRedirect}, SkipConsent: true,
			Scopes: []string{"openid", "tools:read"}, DefaultResource: mcpResource})
		conf = s.oauthConfig(older, olderSecret, "openid", "tools:read")
		verifier, challenge = pkce()
		cb = b.get(conf.AuthCodeURL(randomString(t, 16), challenge)).callback(t)
		tok, err = conf.Exchange(ctx, cb.Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("default resource: %v (%v)", err, cb)
		}
		_, claims = verifyAccessJWT(t, s, tok.AccessToken, josev4.ES256)
		wantAudience(t, "token for the default resource", claims, mcpResource)
	})
}

// TestCLIResources: gatehouse resources create, list, get, update and
// delete, with clear errors for bad input; clients take a default
// resource only when they could get a token for it.
func TestCLIResources(t *testing.T) {
	cliEnv(t)
	if _, _, err := cli(t, "", "migrate"); err != nil {
		t.Fatal(err)
	}
	var created map[string]interface{}
	cliJSON(t, &created, "", "resources", "create", mcpResource, "--name", "MCP server", "--scope", "tools:read tools:call",
		"--access-token-format", "jwt", "--access-token-lifetime", "5m", "--signing-alg", "ES256", "--json")
	if created["resource"] != mcpResource || created["resource_name"] != "MCP server" || !sameList(created["scopes_supported"], "tools:read", "tools:call") ||
		created["access_token_format"] != "jwt" || created["access_token_lifetime"] != float64(300) || created["access_token_signing_alg"] != "ES256" {
		t.Fatalf("created: %v", created)
	}
	if out, _, err := cli(t, "", "resources", "create", otherResource); err != nil || !strings.Contains(out, "created resource "+otherResource) {
		t.Fatalf("create with defaults: %q %v", out, err)
	}

	var ue usageError
	bad := []struct {
		what   string
		args   []string
		fields []string
	}{
		{"a relative identifier", []string{"/mcp"}, []string{"resource"}},
		{"a fragment", []string{"https://api.example/#x"}, []string{"resource"}},
		{"every problem at once", []string{"https://bad.example/", "--access-token-format", "paseto", "--access-token-lifetime", "1s",
			"--signing-alg", "HS256", "--scope", `a"b`}, []string{"access_token_format", "access_token_lifetime", "access_token_signing_alg", "scopes_supported"}},
		{"an algorithm for opaque tokens", []string{"https://bad.example/", "--access-token-format", "opaque", "--signing-alg", "ES256"}, []string{"access_token_signing_alg"}},
	}
	for _, b := range bad {
		_, _, err := cli(t, "", append([]string{"resources", "create"}, b.args...)...)
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "invalid resource") {
			t.Fatalf("%s: %v", b.what, err)
		}
		for _, f := range b.fields {
			if !strings.Contains(err.Error(), f+":") {
				t.Errorf("%s: %q does not name %s", b.what, err, f)
			}
		}
	}
	if _, _, err := cli(t, "", "resources", "create", mcpResource); !errors.As(err, &ue) || !strings.Contains(err.Error(), "already registered") {
		t.Fatalf("duplicate: %v", err)
	}

	var list []map[string]interface{}
	cliJSON(t, &list, "", "resources", "list", "--json")
	if len(list) != 2 || list[0]["resource"] != mcpResource || list[1]["resource"] != otherResource {
		t.Fatalf("list: %v", list)
	}
	if out, _, err := cli(t, "", "resources", "list"); err != nil || !strings.Contains(out, mcpResource) || !strings.Contains(out, "5m0s") {
		t.Fatalf("list as text: %q %v", out, err)
	}
	if out, _, err := cli(t, "", "resources", "get", mcpResource); err != nil || !strings.Contains(out, "scopes_supported:") || !strings.Contains(out, "tools:call") {
		t.Fatalf("get: %q %v", out, err)
	}
	if _, _, err := cli(t, "", "resources", "get", "https://nope.example/"); err == nil || !strings.Contains(err.Error(), "no resource") {
		t.Fatalf("get unknown: %v", err)
	}

	// update: only the flags given change; bad values leave it as it was.
	var updated map[string]interface{}
	cliJSON(t, &updated, "", "resources", "update", mcpResource, "--scope", "tools:read", "--json")
	if !sameList(updated["scopes_supported"], "tools:read") || updated["access_token_format"] != "jwt" || updated["resource_name"] != "MCP server" {
		t.Fatalf("update: %v", updated)
	}
	if _, _, err := cli(t, "", "resources", "update", mcpResource, "--access-token-lifetime", "48h"); !errors.As(err, &ue) || !strings.Contains(err.Error(), "access_token_lifetime") {
		t.Fatalf("update with a bad lifetime: %v", err)
	}
	if _, _, err := cli(t, "", "resources", "update", mcpResource); !errors.As(err, &ue) {
		t.Fatalf("update without flags: %v", err)
	}
	if _, _, err := cli(t, "", "resources", "update", "https://nope.example/", "--name", "x"); err == nil || !strings.Contains(err.Error(), "no resource") {
		t.Fatalf("update unknown: %v", err)
	}
	var got map[string]interface{}
	cliJSON(t, &got, "", "resources", "get", mcpResource, "--json")
	if got["access_token_lifetime"] != float64(300) {
		t.Fatalf("after a refused update: %v", got)
	}

	// A client's default resource: registered, or in its audience.
	var client map[string]interface{}
	cliJSON(t, &client, "", "clients", "create", "--name", "agent", "--grant-type", "client_credentials", "--default-resource", mcpResource, "--json")
	if client["default_resource"] != mcpResource {
		t.Fatalf("client with a default resource: %v", client)
	}
	if _, _, err := cli(t, "", "clients", "create", "--name", "x", "--grant-type", "client_credentials", "--default-resource", "https://nope.example/"); !errors.As(err, &ue) ||
		!strings.Contains(err.Error(), "default_resource") {
		t.Fatalf("unregistered default resource: %v", err)
	}
	if _, _, err := cli(t, "", "clients", "create", "--name", "x", "--grant-type", "client_credentials", "--audience", otherResource, "--default-resource", mcpResource); !errors.As(err, &ue) ||
		!strings.Contains(err.Error(), "not in the client's audience") {
		t.Fatalf("default resource outside the audience: %v", err)
	}
	cliJSON(t, &client, "", "clients", "update", client["client_id"].(string), "--default-resource", "", "--json")
	if client["default_resource"] != "" {
		t.Fatalf("cleared default resource: %v", client)
	}

	if out, _, err := cli(t, "", "resources", "delete", otherResource); err != nil || !strings.Contains(out, "deleted resource") {
		t.Fatalf("delete: %q %v", out, err)
	}
	if _, _, err := cli(t, "", "resources", "delete", otherResource); err == nil || !strings.Contains(err.Error(), "no resource") {
		t.Fatalf("delete again: %v", err)
	}
	cliJSON(t, &list, "", "resources", "list", "--json")
	if len(list) != 1 {
		t.Fatalf("after delete: %v", list)
	}
}

// TestAdminAPIResources: /admin/resources creates, lists, reads, replaces
// and deletes resources (the identifier percent-encoded in the path), and
// answers bad input with RFC 9457 problems naming the fields.
func TestAdminAPIResources(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		robot, robotSecret := s.client(admin.ClientSpec{Name: "robot", Scopes: []string{provider.ScopeAdmin}, FirstParty: true})
		tok, code := s.ccToken(t, robot.ID, robotSecret, provider.ScopeAdmin)
		if code != "" {
			t.Fatal(code)
		}
		api := s.admin + "/admin/resources"
		item := api + "/" + url.PathEscape(mcpResource)

		status, created, hdr := jsonRequest(t, http.MethodPost, api, tok,
			`{"resource":"`+mcpResource+`","resource_name":"MCP","scopes_supported":["tools:read"],"access_token_format":"jwt","access_token_lifetime":120}`)
		if status != http.StatusCreated || created["resource"] != mcpResource || hdr.Get("Location") != "/admin/resources/"+url.PathEscape(mcpResource) ||
			hdr.Get("Cache-Control") != "no-store" {
			t.Fatalf("create: %d %v %v", status, created, hdr)
		}
		status, body, hdr := jsonRequest(t, http.MethodPost, api, tok, `{"resource":"`+mcpResource+`"}`)
		wantAdminProblem(t, "duplicate", status, body, hdr, http.StatusConflict)
		status, body, hdr = jsonRequest(t, http.MethodPost, api, tok, `{"resource":"not a uri","access_token_format":"x","access_token_lifetime":99999999999}`)
		wantAdminProblem(t, "invalid resource", status, body, hdr, http.StatusBadRequest)
		if d, _ := body["detail"].(string); !strings.Contains(d, "resource:") || !strings.Contains(d, "access_token_format") || !strings.Contains(d, "access_token_lifetime") {
			t.Fatalf("detail: %q", d)
		}
		if errs, _ := body["errors"].([]interface{}); len(errs) != 3 {
			t.Fatalf("errors: %v", body["errors"])
		}
		status, body, hdr = jsonRequest(t, http.MethodPost, api, tok, `{"resource":"https://x.example/","audience":["y"]}`)
		wantAdminProblem(t, "unknown member", status, body, hdr, http.StatusBadRequest)
		status, body, hdr = jsonRequest(t, http.MethodPost, api, tok, `{"resource":`)
		wantAdminProblem(t, "broken JSON", status, body, hdr, http.StatusBadRequest)

		// The new resource is on the token path at once.
		m2m, m2mSecret := s.client(admin.ClientSpec{Name: "agent", GrantTypes: []string{"client_credentials"}, Scopes: []string{"tools:read"}})
		at, code := s.resourceToken(t, m2m.ID, m2mSecret, "tools:read", mcpResource)
		if code != "" {
			t.Fatal(code)
		}
		_, claims := verifyAccessJWT(t, s, at.AccessToken, josev4.RS256)
		wantLifetime(t, "token after the admin API's create", claims, 2*time.Minute)

		status, list, _ := jsonRequest(t, http.MethodGet, api, tok, "")
		if items, _ := list["items"].([]interface{}); status != http.StatusOK || len(items) != 1 {
			t.Fatalf("list: %d %v", status, list)
		}
		status, got, _ := jsonRequest(t, http.MethodGet, item, tok, "")
		if status != http.StatusOK || got["resource_name"] != "MCP" || got["access_token_lifetime"] != float64(120) {
			t.Fatalf("get: %d %v", status, got)
		}
		status, body, hdr = jsonRequest(t, http.MethodGet, api+"/"+url.PathEscape("https://nope.example/"), tok, "")
		wantAdminProblem(t, "get unknown", status, body, hdr, http.StatusNotFound)
		status, body, hdr = jsonRequest(t, http.MethodGet, api+"/not-a-uri", tok, "")
		wantAdminProblem(t, "get a non-URI", status, body, hdr, http.StatusNotFound)

		// PUT replaces the settings; the identifier cannot change.
		status, got, _ = jsonRequest(t, http.MethodPut, item, tok, `{"resource_name":"MCP 2","scopes_supported":["tools:read","tools:call"]}`)
		if status != http.StatusOK || got["resource_name"] != "MCP 2" || got["access_token_format"] != "" || got["access_token_lifetime"] != float64(0) {
			t.Fatalf("replace: %d %v", status, got)
		}
		status, body, hdr = jsonRequest(t, http.MethodPut, item, tok, `{"resource":"https://elsewhere.example/"}`)
		wantAdminProblem(t, "change of identifier", status, body, hdr, http.StatusBadRequest)
		status, body, hdr = jsonRequest(t, http.MethodPut, item, tok, `{"access_token_signing_alg":"none"}`)
		wantAdminProblem(t, "bad algorithm", status, body, hdr, http.StatusBadRequest)
		status, body, hdr = jsonRequest(t, http.MethodPut, api+"/"+url.PathEscape("https://nope.example/"), tok, `{}`)
		wantAdminProblem(t, "replace unknown", status, body, hdr, http.StatusNotFound)

		// default_resource on a client through the admin API.
		status, cl, _ := jsonRequest(t, http.MethodPost, s.admin+"/admin/clients", tok,
			`{"client_name":"older","grant_types":["client_credentials"],"scope":"tools:read","default_resource":"`+mcpResource+`"}`)
		if status != http.StatusCreated || cl["default_resource"] != mcpResource {
			t.Fatalf("client with a default resource: %d %v", status, cl)
		}
		status, body, hdr = jsonRequest(t, http.MethodPost, s.admin+"/admin/clients", tok,
			`{"client_name":"x","grant_types":["client_credentials"],"default_resource":"https://nope.example/"}`)
		wantAdminProblem(t, "unregistered default resource", status, body, hdr, http.StatusBadRequest)

		req, _ := http.NewRequest(http.MethodDelete, item, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		if status, _, _ := doJSON(t, req); status != http.StatusNoContent {
			t.Fatalf("delete: %d", status)
		}
		status, body, hdr = doJSON(t, req.Clone(context.Background()))
		wantAdminProblem(t, "delete again", status, body, hdr, http.StatusNotFound)
		if _, code := s.resourceToken(t, m2m.ID, m2mSecret, "tools:read", mcpResource); code != "invalid_target" {
			t.Fatalf("token for a deleted resource: %q", code)
		}
		// Without a token: 401.
		status, body, hdr = jsonRequest(t, http.MethodGet, api, "", "")
		wantAdminProblem(t, "no token", status, body, hdr, http.StatusUnauthorized)
	})
}

// TestResourceChangesReachOtherInstances: a resource registered, changed or
// deleted through one instance is on the token path of another within its
// change check, long before the resource cache would expire; until then
// the other serves its cached set (no query per token request).
func TestResourceChangesReachOtherInstances(t *testing.T) {
	t.Parallel()
	testservices.PostgresDSNFor(t, "several instances share a database only on PostgreSQL")
	ctx := context.Background()
	sharedSecret := randomString(t, 32)
	shared := func(c *config.Config) { c.Secret = sharedSecret }
	dsn := bunstoretest.NewDSN(t, "postgres")
	checkOften := appOptions{background: backgroundIntervals{changeCheck: changeCheck}}
	a := startServerWith(t, openMigrated(t, dsn, bunstore.Options{}), checkOften, shared)
	b := startServerWith(t, openMigrated(t, dsn, bunstore.Options{}), checkOften, shared)
	m2m, m2mSecret := a.client(admin.ClientSpec{Name: "agent", GrantTypes: []string{"client_credentials"}, Scopes: []string{"tools:read"}})

	// B reads (and caches) the resource set: the resource is unknown.
	if _, code := b.resourceToken(t, m2m.ID, m2mSecret, "tools:read", mcpResource); code != "invalid_target" {
		t.Fatalf("before the resource exists: %q", code)
	}
	if _, err := a.app.admin.CreateResource(ctx, nil, admin.ResourceSpec{ID: mcpResource, Scopes: []string{"tools:read"}}); err != nil {
		t.Fatal(err)
	}
	var code string
	if !waitFor(propagationBound, func() bool {
		_, code = b.resourceToken(t, m2m.ID, m2mSecret, "tools:read", mcpResource)
		return code == ""
	}) {
		t.Fatalf("B never issued a token for the resource registered on A: %q", code)
	}

	if _, err := a.app.admin.ChangeResource(ctx, nil, mcpResource, func(spec *admin.ResourceSpec) { spec.AccessTokenLifetime = 2 * time.Minute }); err != nil {
		t.Fatal(err)
	}
	var tok *oauth2.Token
	if !waitFor(propagationBound, func() bool {
		tok, code = b.resourceToken(t, m2m.ID, m2mSecret, "tools:read", mcpResource)
		return code == "" && time.Until(tok.Expiry) <= 2*time.Minute+time.Second
	}) {
		t.Fatalf("B never used the lifetime set on A: %v %q", tok, code)
	}

	if err := a.app.admin.DeleteResource(ctx, nil, mcpResource); err != nil {
		t.Fatal(err)
	}
	if !waitFor(propagationBound, func() bool {
		_, code = b.resourceToken(t, m2m.ID, m2mSecret, "tools:read", mcpResource)
		return code == "invalid_target"
	}) {
		t.Fatalf("B still issues tokens for the resource deleted on A: %q", code)
	}
}
