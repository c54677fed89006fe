package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	josev4 "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
)

// verifyAccessJWT checks a JWT access token with go-jose v4 against the
// server's JWKS, independently of gatehouse's own code, and returns its
// header and claims.
func verifyAccessJWT(t *testing.T, s *testServer, token string, alg josev4.SignatureAlgorithm) (josev4.Header, map[string]interface{}) {
	t.Helper()
	resp, err := http.Get(s.issuer + provider.PathJWKS)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var set josev4.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	tok, err := josejwt.ParseSigned(token, []josev4.SignatureAlgorithm{alg})
	if err != nil {
		t.Fatalf("parse access token: %v", err)
	}
	hdr := tok.Headers[0]
	keys := set.Key(hdr.KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q not in the JWKS", hdr.KeyID)
	}
	var claims map[string]interface{}
	if err := tok.Claims(keys[0].Key, &claims); err != nil {
		t.Fatalf("signature: %v", err)
	}
	var std josejwt.Claims
	_ = tok.Claims(keys[0].Key, &std)
	if err := std.ValidateWithLeeway(josejwt.Expected{Issuer: s.issuer, Time: time.Now()}, time.Second); err != nil {
		t.Fatalf("standard claims: %v", err)
	}
	return hdr, claims
}

// TestJWTAccessTokens: RFC 9068 tokens for clients that ask for them,
// verified with go-jose against the JWKS; resource indicators set the
// audience; introspection and revocation still work.
func TestJWTAccessTokens(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		s.user("jane@example.com", alicePassword)
		const api = "https://api.example/"
		m2m, m2mSecret := s.client(admin.ClientSpec{Name: "jobs", Scopes: []string{"api:read"}, Audience: []string{api}, AccessTokenFormat: provider.FormatJWT})
		// A resource server the operator lets introspect any token.
		other, otherSecret := s.client(admin.ClientSpec{Name: "other", Scopes: []string{"api:read"}, IntrospectAnyToken: true})

		st, body, hdr := postForm(t, s.issuer+provider.PathToken, url.Values{"grant_type": {"client_credentials"}, "scope": {"api:read"}, "resource": {api}}, m2m.ID, m2mSecret)
		if st != http.StatusOK || hdr.Get("Cache-Control") != "no-store" {
			t.Fatalf("token: %d %v", st, body)
		}
		at, _ := body["access_token"].(string)
		h, claims := verifyAccessJWT(t, s, at, josev4.RS256)
		if h.ExtraHeaders["typ"] != "at+jwt" {
			t.Fatalf("typ header: %v", h.ExtraHeaders)
		}
		for _, k := range []string{"iss", "sub", "aud", "client_id", "scope", "jti", "iat", "exp"} {
			if claims[k] == nil {
				t.Errorf("claim %s missing: %v", k, claims)
			}
		}
		if claims["client_id"] != m2m.ID || claims["sub"] != m2m.ID || claims["scope"] != "api:read" || claims["auth_time"] != nil {
			t.Fatalf("claims: %v", claims)
		}
		if aud, _ := claims["aud"].([]interface{}); len(aud) != 1 || aud[0] != api {
			t.Fatalf("aud: %v", claims["aud"])
		}
		// Introspection and revocation work on the JWT too.
		if in := s.introspect(t, other.ID, otherSecret, at); in["active"] != true || in["client_id"] != m2m.ID {
			t.Fatalf("introspect JWT: %v", in)
		}
		tampered := at[:len(at)-4] + "AAAA"
		if s.active(t, other.ID, otherSecret, tampered) {
			t.Fatal("tampered JWT is active")
		}
		parts := strings.Split(at, ".")
		none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt"}`)) + "." + parts[1] + "."
		if s.active(t, other.ID, otherSecret, none) {
			t.Fatal("alg none JWT is active")
		}
		if st, _, _ := postForm(t, s.issuer+provider.PathRevoke, url.Values{"token": {at}}, m2m.ID, m2mSecret); st != http.StatusOK {
			t.Fatal("revoke")
		}
		if s.active(t, other.ID, otherSecret, at) {
			t.Fatal("revoked JWT still active")
		}

		// A resource the client may not use: invalid_target.
		st, body, _ = postForm(t, s.issuer+provider.PathToken, url.Values{"grant_type": {"client_credentials"}, "resource": {"https://evil.example/"}}, m2m.ID, m2mSecret)
		if st != http.StatusBadRequest || body["error"] != "invalid_target" {
			t.Fatalf("foreign resource: %d %v", st, body)
		}

		// A person's JWT: sub is the user, auth_time is there, and userinfo
		// accepts it; the resource at authorize becomes the audience.
		web, webSecret := s.client(admin.ClientSpec{Name: "web", RedirectURIs: []string{appRedirect}, Audience: []string{api}, AccessTokenFormat: provider.FormatJWT, SkipConsent: true})
		conf := s.oauthConfig(web, webSecret, "openid", "email")
		b := s.newBrowser()
		verifier, challenge := pkce()
		cb := b.authorizeAndLogin(conf.AuthCodeURL(randomString(t, 16), challenge, oauth2.SetAuthURLParam("resource", api)), "jane@example.com", alicePassword)
		tok, err := conf.Exchange(context.Background(), cb.Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		_, claims = verifyAccessJWT(t, s, tok.AccessToken, josev4.RS256)
		jane, _ := s.store.UserByEmail(context.Background(), "jane@example.com")
		if claims["sub"] != jane.ID || claims["auth_time"] == nil || claims["client_id"] != web.ID {
			t.Fatalf("user JWT claims: %v", claims)
		}
		if aud, _ := claims["aud"].([]interface{}); len(aud) != 1 || aud[0] != api {
			t.Fatalf("user JWT aud: %v", claims["aud"])
		}
		op, _ := oidc.NewProvider(context.Background(), s.issuer)
		if info, err := op.UserInfo(context.Background(), oauth2.StaticTokenSource(tok)); err != nil || info.Subject != jane.ID {
			t.Fatalf("userinfo with a JWT: %v", err)
		}
		// The at_hash of the ID token covers the JWT access token.
		raw, _ := tok.Extra("id_token").(string)
		idt, err := op.Verifier(&oidc.Config{ClientID: web.ID}).Verify(context.Background(), raw)
		if err != nil || idt.VerifyAccessToken(tok.AccessToken) != nil {
			t.Fatalf("ID token / at_hash: %v", err)
		}
		// At authorize, a foreign resource comes back as invalid_target.
		_, ch := pkce()
		if cb := b.get(conf.AuthCodeURL(randomString(t, 16), ch, oauth2.SetAuthURLParam("resource", "https://evil.example/"))).callback(t); cb.Get("error") != "invalid_target" {
			t.Fatalf("authorize with a foreign resource: %v", cb)
		}
		// Opaque clients still get opaque tokens; the default audience of a
		// JWT without resource is the issuer.
		_, body, _ = postForm(t, s.issuer+provider.PathToken, url.Values{"grant_type": {"client_credentials"}}, other.ID, otherSecret)
		if at, _ := body["access_token"].(string); !strings.HasPrefix(at, provider.PrefixAccessToken) {
			t.Fatalf("opaque client got %q", at)
		}
		_, body, _ = postForm(t, s.issuer+provider.PathToken, url.Values{"grant_type": {"client_credentials"}}, m2m.ID, m2mSecret)
		at, _ = body["access_token"].(string)
		if _, claims := verifyAccessJWT(t, s, at, josev4.RS256); claims["aud"] == nil {
			t.Fatalf("no default aud: %v", claims)
		} else if aud, _ := claims["aud"].([]interface{}); len(aud) != 1 || aud[0] != s.issuer {
			t.Fatalf("default aud: %v", claims["aud"])
		}
	})
}

// TestJWTAccessTokensGlobalES256: access_tokens.format jwt with ES256.
func TestJWTAccessTokensGlobalES256(t *testing.T) {
	t.Parallel()
	s := startServer(t, "sqlite", func(c *config.Config) { c.AccessTokens.Format = "jwt"; c.AccessTokens.SigningAlg = "ES256" })
	c, sec := s.client(admin.ClientSpec{Name: "jobs", Scopes: []string{"a"}})
	_, body, _ := postForm(t, s.issuer+provider.PathToken, url.Values{"grant_type": {"client_credentials"}}, c.ID, sec)
	at, _ := body["access_token"].(string)
	h, _ := verifyAccessJWT(t, s, at, josev4.ES256)
	if h.Algorithm != "ES256" {
		t.Fatalf("alg %s", h.Algorithm)
	}
	// A client may opt out.
	c2, sec2 := s.client(admin.ClientSpec{Name: "legacy", Scopes: []string{"a"}, AccessTokenFormat: provider.FormatOpaque})
	_, body, _ = postForm(t, s.issuer+provider.PathToken, url.Values{"grant_type": {"client_credentials"}}, c2.ID, sec2)
	if at, _ := body["access_token"].(string); !strings.HasPrefix(at, provider.PrefixAccessToken) {
		t.Fatalf("opted-out client got %q", at)
	}
}
