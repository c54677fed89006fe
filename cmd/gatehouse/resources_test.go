package main

import (
	"context"
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	josev4 "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
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
