package main

// The claims request parameter (OpenID Connect Core §5.5) against the real
// server, with go-oidc as the relying party: claims asked for individually
// land where they were asked for, survive refresh, need consent, and come
// inside a request object too.

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	josev4 "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/provider/admin"
)

func TestClaimsParameter(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		alice := s.user("claims@example.com", alicePassword)
		ctx := context.Background()
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		c, secret := s.client(admin.ClientSpec{
			Name: "Claims app", RedirectURIs: []string{appRedirect},
			Scopes: []string{"openid", "profile", "email", "offline_access"},
			JWKS:   publicJWKS(t, map[string]crypto.Signer{"rsa-1": key}),
		})
		conf := s.oauthConfig(c, secret, "openid", "offline_access")
		op, err := oidc.NewProvider(ctx, s.issuer)
		if err != nil {
			t.Fatal(err)
		}
		verifier := op.Verifier(&oidc.Config{ClientID: c.ID})

		var meta struct {
			ClaimsParameterSupported bool     `json:"claims_parameter_supported"`
			ClaimsSupported          []string `json:"claims_supported"`
		}
		if err := op.Claims(&meta); err != nil {
			t.Fatal(err)
		}
		if !meta.ClaimsParameterSupported || !slices.Contains(meta.ClaimsSupported, "email") || !slices.Contains(meta.ClaimsSupported, "name") {
			t.Fatalf("discovery: %+v", meta)
		}

		idTokenClaims := func(t *testing.T, tok *oauth2.Token) map[string]any {
			t.Helper()
			raw, _ := tok.Extra("id_token").(string)
			idt, err := verifier.Verify(ctx, raw)
			if err != nil {
				t.Fatalf("ID token: %v", err)
			}
			var claims map[string]any
			if err := idt.Claims(&claims); err != nil {
				t.Fatal(err)
			}
			return claims
		}
		userinfo := func(t *testing.T, tok *oauth2.Token) map[string]any {
			t.Helper()
			info, err := op.UserInfo(ctx, oauth2.StaticTokenSource(tok))
			if err != nil {
				t.Fatalf("userinfo: %v", err)
			}
			var claims map[string]any
			if err := info.Claims(&claims); err != nil {
				t.Fatal(err)
			}
			return claims
		}
		// wantSplit: the e-mail address in the ID token only, the name at
		// userinfo only (the scopes asked for neither).
		wantSplit := func(t *testing.T, what string, tok *oauth2.Token) {
			t.Helper()
			idc, uic := idTokenClaims(t, tok), userinfo(t, tok)
			if idc["email"] != alice.Email || idc["name"] != nil {
				t.Errorf("%s: ID token email %v name %v; want the e-mail address and no name", what, idc["email"], idc["name"])
			}
			if uic["name"] != alice.Name || uic["email"] != nil || uic["sub"] != alice.ID {
				t.Errorf("%s: userinfo %v; want sub and name, no e-mail address", what, uic)
			}
		}

		t.Run("claims where they were asked for, through refresh", func(t *testing.T) {
			pkceVerifier, challenge := pkce()
			claims := `{"id_token":{"email":null,"shoe_size":{"essential":true}},"userinfo":{"name":{"essential":true}}}`
			b := s.newBrowser()
			p := b.get(conf.AuthCodeURL(randomString(t, 16), challenge, oauth2.SetAuthURLParam("claims", claims)))
			p = b.login(p, alice.Email, alicePassword)
			// The individually requested claims are part of what the
			// person allows.
			if !p.isConsentPage() || !strings.Contains(p.body, "See your e-mail address") || !strings.Contains(p.body, "See your name") {
				t.Fatalf("consent page does not show the requested claims: %d %.600s", p.status, p.body)
			}
			cb := b.consent(p, "allow").callback(t)
			tok, err := conf.Exchange(ctx, cb.Get("code"), oauth2.VerifierOption(pkceVerifier))
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			wantSplit(t, "after the code exchange", tok)

			refreshed, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token()
			if err != nil {
				t.Fatalf("refresh: %v", err)
			}
			if refreshed.AccessToken == tok.AccessToken || refreshed.Extra("id_token") == nil {
				t.Fatalf("refresh gave no new tokens: %+v", refreshed)
			}
			wantSplit(t, "after refresh", refreshed)

			// The consent is remembered with what it covered: the same
			// request needs no consent page the next time.
			pkceVerifier, challenge = pkce()
			cb = b.get(conf.AuthCodeURL(randomString(t, 16), challenge, oauth2.SetAuthURLParam("claims", claims))).callback(t)
			tok, err = conf.Exchange(ctx, cb.Get("code"), oauth2.VerifierOption(pkceVerifier))
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			wantSplit(t, "with remembered consent", tok)
		})

		t.Run("malformed claims", func(t *testing.T) {
			for _, claims := range []string{`{"id_token":`, `["email"]`, `{"id_token":{"email":{"essential":"yes"}}}`, `"email"`} {
				_, challenge := pkce()
				p := s.newBrowser().get(conf.AuthCodeURL(randomString(t, 16), challenge, oauth2.SetAuthURLParam("claims", claims)))
				wantRedirectError(t, claims, p, "invalid_request", "claims")
			}
		})

		t.Run("essential acr that cannot be met", func(t *testing.T) {
			_, challenge := pkce()
			claims := `{"id_token":{"acr":{"essential":true,"values":["urn:gatehouse:upstream:google"]}}}`
			b := s.newBrowser()
			p := b.get(conf.AuthCodeURL(randomString(t, 16), challenge, oauth2.SetAuthURLParam("claims", claims)))
			p = b.login(p, alice.Email, alicePassword)
			if p.isConsentPage() {
				p = b.consent(p, "allow")
			}
			wantRedirectError(t, "essential acr", p, "access_denied", "acr")
		})

		t.Run("inside a request object", func(t *testing.T) {
			pkceVerifier, _ := pkce()
			ro := requestObjectClaims(s, c, oauth2.S256ChallengeFromVerifier(pkceVerifier), randomString(t, 16), randomString(t, 16), "openid")
			// In a request object, claims is a JSON object, not a string.
			ro["claims"] = map[string]any{"id_token": map[string]any{"email": nil}, "userinfo": map[string]any{"name": nil}}
			u := s.authorizeURL(url.Values{"client_id": {c.ID}, "request": {signRequestObject(t, josev4.RS256, key, "rsa-1", ro)}})
			cb := s.newBrowser().authorizeAndLogin(u, alice.Email, alicePassword)
			tok, err := conf.Exchange(ctx, cb.Get("code"), oauth2.VerifierOption(pkceVerifier))
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			wantSplit(t, "from a request object", tok)
		})
	})
}
