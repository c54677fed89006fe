package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
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
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
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

// TestSecretRotation: GATEHOUSE_SECRET is replaced with the old one listed;
// nobody is logged out and nothing breaks; after `keys reencrypt` the old
// secret can go, and client secrets and API keys still work.
func TestSecretRotation(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		dsn := bunstoretest.NewDSN(t, dialect)
		store, err := bunstore.Open(ctx, dsn, bunstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		if err := store.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		secretA := "rotation-secret-A-0123456789abcdef0123456789"
		secretB := "rotation-secret-B-0123456789abcdef0123456789"
		withSecret := func(cur string, old ...string) func(*config.Config) {
			return func(c *config.Config) { c.Secret, c.OldSecrets = cur, old }
		}

		s1 := startServerOn(t, store, withSecret(secretA))
		s1.user("rot@example.com", alicePassword)
		web, webSecret := s1.client(admin.ClientSpec{Name: "web", RedirectURIs: []string{appRedirect}, SkipConsent: true})
		m2m, m2mSecret := s1.client(admin.ClientSpec{Name: "jobs", Scopes: []string{"api"}})
		_, apiKey, err := s1.app.admin.CreateAPIKey(ctx, nil, admin.APIKeySpec{ClientID: m2m.ID, Name: "k"})
		if err != nil {
			t.Fatal(err)
		}
		conf := s1.oauthConfig(web, webSecret, "openid", "offline_access")
		b := s1.newBrowser()
		verifier, challenge := pkce()
		cb := b.authorizeAndLogin(conf.AuthCodeURL(randomString(t, 16), challenge), "rot@example.com", alicePassword)
		tok, err := conf.Exchange(ctx, cb.Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		s1.stop()

		// works checks that everything made under secret A still works on s.
		works := func(s *testServer, label string) {
			t.Helper()
			// The browser is still signed in: prompt=none gives a code.
			conf := s.oauthConfig(web, webSecret, "openid", "offline_access")
			_, ch := pkce()
			if cb := b.get(conf.AuthCodeURL(randomString(t, 16), ch, oauth2.SetAuthURLParam("prompt", "none"))).callback(t); cb.Get("code") == "" {
				t.Fatalf("%s: the browser was logged out: %v", label, cb)
			}
			for name, sec := range map[string]string{"client secret": m2mSecret, "API key": apiKey} {
				if st, body, _ := postForm(t, s.issuer+provider.PathToken, url.Values{"grant_type": {"client_credentials"}}, m2m.ID, sec); st != http.StatusOK {
					t.Fatalf("%s: %s refused: %d %v", label, name, st, body)
				}
			}
			if _, err := http.Get(s.issuer + provider.PathJWKS); err != nil {
				t.Fatal(err)
			}
		}

		// New secret, old one listed: tokens made under A keep working.
		s2 := startServerOn(t, store, withSecret(secretB, secretA))
		works(s2, "with the old secret listed")
		conf2 := s2.oauthConfig(web, webSecret, "openid", "offline_access")
		next, err := conf2.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if err != nil {
			t.Fatalf("refresh token made under the old secret: %v", err)
		}
		if !s2.active(t, web.ID, webSecret, tok.AccessToken) {
			t.Fatal("access token made under the old secret is inactive")
		}
		s2.stop()

		// Re-encrypt under B, then drop A.
		t.Setenv("GATEHOUSE_DSN", dsn)
		t.Setenv("GATEHOUSE_SECRET", secretB)
		t.Setenv("GATEHOUSE_OLD_SECRETS", secretA)
		t.Setenv("GATEHOUSE_LOG_LEVEL", "error")
		if out, _, err := cli(t, "", "keys", "reencrypt"); err != nil {
			t.Fatalf("keys reencrypt: %v (%s)", err, out)
		}
		s3 := startServerOn(t, store, withSecret(secretB))
		works(s3, "after re-encryption, old secret dropped")
		// Tokens made under B (the refreshed pair) keep working too.
		if !s3.active(t, web.ID, webSecret, next.AccessToken) {
			t.Fatal("a token made under the new secret is inactive")
		}
		// Opaque tokens made under A stop now: they were meant to expire
		// before A was dropped (README: keep the old secret listed for the
		// longest token lifetime).
		if s3.active(t, web.ID, webSecret, tok.AccessToken) {
			t.Fatal("a token made under the dropped secret is still active")
		}
	})
}

// TestCLIKeys drives `keys list` and `keys rotate` against the database a
// running server uses: a rotated-in key is published first, signs after
// --now, and the retired key keeps verifying what it signed.
func TestCLIKeys(t *testing.T) {
	ctx := context.Background()
	cliEnv(t)
	if _, _, err := cli(t, "", "migrate"); err != nil {
		t.Fatal(err)
	}
	store, err := bunstore.Open(ctx, os.Getenv("GATEHOUSE_DSN"), bunstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	jwtTokens := func(c *config.Config) {
		c.Secret = os.Getenv("GATEHOUSE_SECRET")
		c.AccessTokens.Format, c.AccessTokens.SigningAlg = "jwt", "RS256"
	}
	type keyRow struct {
		KID, Alg, State                                      string
		PlannedActivation, PlannedRetirement, PlannedRemoval *time.Time
	}
	list := func() map[string]keyRow {
		t.Helper()
		var rows []struct {
			KID               string     `json:"kid"`
			Alg               string     `json:"alg"`
			State             string     `json:"state"`
			PlannedActivation *time.Time `json:"planned_activation"`
			PlannedRetirement *time.Time `json:"planned_retirement"`
			PlannedRemoval    *time.Time `json:"planned_removal"`
		}
		cliJSON(t, &rows, "", "keys", "list", "--json")
		out := map[string]keyRow{}
		for _, r := range rows {
			out[r.KID] = keyRow{r.KID, r.Alg, r.State, r.PlannedActivation, r.PlannedRetirement, r.PlannedRemoval}
		}
		return out
	}
	// token gets a client-credentials JWT access token and returns it with
	// its kid, verified against the server's JWKS.
	token := func(s *testServer, id, sec string) (string, string) {
		t.Helper()
		_, body, _ := postForm(t, s.issuer+provider.PathToken, url.Values{"grant_type": {"client_credentials"}}, id, sec)
		at, _ := body["access_token"].(string)
		h, _ := verifyAccessJWT(t, s, at, josev4.RS256)
		return at, h.KeyID
	}

	s1 := startServerOn(t, store, jwtTokens)
	c, sec := s1.client(admin.ClientSpec{Name: "jobs", Scopes: []string{"api"}})
	old, oldKID := token(s1, c.ID, sec)
	s1.stop()

	keys0 := list()
	if k := keys0[oldKID]; k.Alg != "RS256" || k.State != "current" || k.PlannedRetirement == nil {
		t.Fatalf("keys list: the signing key %s is %+v", oldKID, keys0)
	}

	var rotated []struct {
		Alg         string     `json:"alg"`
		Action      string     `json:"action"`
		CurrentKID  string     `json:"current_kid"`
		NextKID     string     `json:"next_kid"`
		RetiredKID  string     `json:"retired_kid"`
		ScheduledAt *time.Time `json:"scheduled_at"`
		Skipped     bool       `json:"skipped_prepublish"`
	}
	cliJSON(t, &rotated, "", "keys", "rotate", "--alg", "rs256", "--json")
	if len(rotated) != 1 || rotated[0].Action != "created" || rotated[0].CurrentKID != oldKID || rotated[0].NextKID == "" ||
		rotated[0].ScheduledAt == nil || rotated[0].ScheduledAt.Before(time.Now()) {
		t.Fatalf("keys rotate: %+v", rotated)
	}
	next := rotated[0].NextKID
	if k := list()[next]; k.State != "next" || k.PlannedActivation == nil || !k.PlannedActivation.Equal(*rotated[0].ScheduledAt) {
		t.Fatalf("keys list after rotate: the new key is %+v", k)
	}

	// Published, not signing yet.
	s2 := startServerOn(t, store, jwtTokens)
	if _, kid := token(s2, c.ID, sec); kid != oldKID {
		t.Fatalf("a key published a moment ago already signs: %s", kid)
	}
	jwks := fetchJWKS(t, s2)
	if len(jwks.Key(next)) != 1 || len(jwks.Key(oldKID)) != 1 {
		t.Fatalf("JWKS after rotate lacks the old or the new key: %v", jwks)
	}
	s2.stop()

	// --now: signs at once, with a warning; the old key is retired.
	rotated = nil
	out, stderr, err := cli(t, "", "keys", "rotate", "--alg", "RS256", "--now", "--json")
	if err != nil {
		t.Fatal(err, stderr)
	}
	if err := json.Unmarshal([]byte(out), &rotated); err != nil {
		t.Fatal(err, out)
	}
	if len(rotated) != 1 || rotated[0].Action != "promoted" || rotated[0].CurrentKID != next || rotated[0].RetiredKID != oldKID || !rotated[0].Skipped ||
		!strings.Contains(stderr, "WARNING") {
		t.Fatalf("keys rotate --now: %+v, stderr %q", rotated, stderr)
	}
	keys1 := list()
	if keys1[oldKID].State != "retired" || keys1[oldKID].PlannedRemoval == nil || keys1[next].State != "current" {
		t.Fatalf("keys list after --now: %+v", keys1)
	}

	s3 := startServerOn(t, store, jwtTokens)
	if _, kid := token(s3, c.ID, sec); kid != next {
		t.Fatalf("after rotate --now tokens are signed by %s, want %s", kid, next)
	}
	// The retired key stays published and verifies what it signed (each
	// server here has its own issuer URL, so only the signature is
	// checked).
	jws, err := josev4.ParseSigned(old, []josev4.SignatureAlgorithm{josev4.RS256})
	if err != nil {
		t.Fatal(err)
	}
	jwks = fetchJWKS(t, s3)
	retired := jwks.Key(oldKID)
	if len(retired) != 1 {
		t.Fatalf("the retired key %s is not published", oldKID)
	}
	if _, err := jws.Verify(retired[0]); err != nil {
		t.Fatalf("the retired key no longer verifies its token: %v", err)
	}

	if _, _, err := cli(t, "", "keys", "rotate", "--alg", "HS256"); err == nil || !strings.Contains(err.Error(), "--alg") {
		t.Fatalf("keys rotate --alg HS256: %v", err)
	}
}

func fetchJWKS(t *testing.T, s *testServer) josev4.JSONWebKeySet {
	t.Helper()
	resp, err := http.Get(s.issuer + provider.PathJWKS)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set josev4.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	return set
}

// TestHashesFromBeforeThePepper: a database from before migration 5 holds
// client secrets hashed under the system secret itself. They keep working
// after the upgrade (while that secret is configured); new ones use the
// hash key.
func TestHashesFromBeforeThePepper(t *testing.T) {
	store := bunstoretest.Open(t, "sqlite", bunstore.Options{})
	const sec = "pre-pepper-secret-0123456789abcdef0123456789"
	plain, err := secret.NewKeyring(sec, nil)
	if err != nil {
		t.Fatal(err)
	}
	old, oldSecret, err := admin.BuildClient(admin.ClientSpec{Name: "old", Scopes: []string{"api"}}, secret.NewHasher(plain), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateClient(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	s := startServerOn(t, store, func(c *config.Config) { c.Secret = sec })
	if st, body, _ := postForm(t, s.issuer+provider.PathToken, url.Values{"grant_type": {"client_credentials"}}, old.ID, oldSecret); st != http.StatusOK {
		t.Fatalf("a client secret hashed before the upgrade: %d %v", st, body)
	}
	fresh, freshSecret := s.client(admin.ClientSpec{Name: "new", Scopes: []string{"api"}})
	if fresh.SecretHash == secret.NewHasher(plain).HashString(freshSecret) {
		t.Fatal("a new client secret is hashed under the system secret, not the hash key")
	}
	if st, body, _ := postForm(t, s.issuer+provider.PathToken, url.Values{"grant_type": {"client_credentials"}}, old.ID, "gth_cs_wrong"); st != http.StatusUnauthorized {
		t.Fatalf("a wrong secret: %d %v", st, body)
	}
}
