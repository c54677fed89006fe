package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/internal/clocktest"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
)

const (
	alicePassword = "correct horse battery staple"
	appRedirect   = "http://127.0.0.1:9/callback"
	logoutReturn  = "http://127.0.0.1:9/signed-out"
)

// TestAuthorizationCodeFlow drives the whole browser flow for a
// confidential and a public client: discovery via go-oidc, authorization
// code + PKCE through the real login and consent pages, ID token checks,
// userinfo, refresh rotation with reuse detection, and logout.
func TestAuthorizationCodeFlow(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		const retryWindow = 400 * time.Millisecond
		// The retry window runs on the server's clock, which the test moves.
		clock := clocktest.New(time.Now())
		s, _ := startServerAt(t, dialect, clock, func(c *config.Config) { c.RefreshRetryWindow = retryWindow })
		alice := s.user("alice@example.com", alicePassword, "admin")
		ctx := context.Background()

		// go-oidc fetches discovery and checks that its issuer matches.
		op, err := oidc.NewProvider(ctx, s.issuer)
		if err != nil {
			t.Fatalf("go-oidc rejected discovery: %v", err)
		}
		var meta struct {
			CodeChallengeMethods []string `json:"code_challenge_methods_supported"`
			EndSession           string   `json:"end_session_endpoint"`
		}
		if err := op.Claims(&meta); err != nil {
			t.Fatal(err)
		}
		if len(meta.CodeChallengeMethods) != 1 || meta.CodeChallengeMethods[0] != "S256" || meta.EndSession != s.issuer+provider.PathLogout {
			t.Fatalf("discovery metadata: %+v", meta)
		}

		for _, tc := range []struct {
			name   string
			public bool
			alg    string
		}{
			{"confidential", false, ""},
			{"public", true, "ES256"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c, secret := s.client(admin.ClientSpec{
					Name: "App " + tc.name, Public: tc.public, RedirectURIs: []string{appRedirect},
					PostLogoutRedirectURIs: []string{logoutReturn}, IDTokenSignedResponseAlg: tc.alg,
					Scopes: []string{"openid", "profile", "email", "roles", "offline_access"},
				})
				conf := s.oauthConfig(c, secret, "openid", "profile", "email", "roles", "offline_access")
				b := s.newBrowser()

				verifier, challenge := pkce()
				state, nonce := randomString(t, 16), randomString(t, 16)
				p := b.get(conf.AuthCodeURL(state, challenge, oidc.Nonce(nonce)))
				if !p.isLoginPage() {
					t.Fatalf("expected login page, got %d: %.300s", p.status, p.body)
				}
				if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") {
					t.Fatalf("login page CSP: %q", csp)
				}
				// A wrong password shows the form again with a generic error.
				p2 := b.login(p, alice.Email, "wrong password")
				if p2.status != http.StatusUnauthorized || !p2.isLoginPage() || !strings.Contains(p2.body, "Wrong e-mail or password.") {
					t.Fatalf("wrong password: %d %.300s", p2.status, p2.body)
				}
				p = b.login(p2, alice.Email, alicePassword)
				if !p.isConsentPage() || !strings.Contains(p.body, "App "+tc.name) || !strings.Contains(p.body, "See your e-mail address") {
					t.Fatalf("expected consent page naming the client and scopes, got %d: %.500s", p.status, p.body)
				}
				cb := b.consent(p, "allow").callback(t)
				if cb.Get("state") != state || cb.Get("iss") != s.issuer || cb.Get("code") == "" {
					t.Fatalf("callback: %v", cb)
				}
				if !strings.HasPrefix(cb.Get("code"), "gth_ac_") {
					t.Fatalf("code lacks the gth_ac_ prefix: %q", cb.Get("code"))
				}

				tok, err := conf.Exchange(ctx, cb.Get("code"), oauth2.VerifierOption(verifier))
				if err != nil {
					t.Fatalf("exchange: %v", err)
				}
				if !strings.HasPrefix(tok.AccessToken, "gth_at_") || !strings.HasPrefix(tok.RefreshToken, "gth_rt_") {
					t.Fatalf("token prefixes: %q %q", tok.AccessToken, tok.RefreshToken)
				}
				raw, _ := tok.Extra("id_token").(string)
				algs := []string{"RS256"}
				if tc.alg != "" {
					algs = []string{tc.alg}
				}
				idt, err := op.Verifier(&oidc.Config{ClientID: c.ID, SupportedSigningAlgs: algs}).Verify(ctx, raw)
				if err != nil {
					t.Fatalf("go-oidc rejected the ID token: %v", err)
				}
				if idt.Nonce != nonce || idt.Subject != alice.ID || idt.Issuer != s.issuer {
					t.Fatalf("ID token: nonce %q sub %q iss %q", idt.Nonce, idt.Subject, idt.Issuer)
				}
				var claims struct {
					Email    string   `json:"email"`
					Verified bool     `json:"email_verified"`
					Roles    []string `json:"roles"`
					AuthTime int64    `json:"auth_time"`
					AtHash   string   `json:"at_hash"`
				}
				if err := idt.Claims(&claims); err != nil {
					t.Fatal(err)
				}
				if claims.Email != alice.Email || !claims.Verified || len(claims.Roles) != 1 || claims.Roles[0] != "admin" || claims.AuthTime == 0 || claims.AtHash == "" {
					t.Fatalf("ID token claims: %+v", claims)
				}
				if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
					t.Fatalf("at_hash: %v", err)
				}

				info, err := op.UserInfo(ctx, oauth2.StaticTokenSource(tok))
				if err != nil {
					t.Fatalf("userinfo: %v", err)
				}
				if info.Subject != alice.ID || info.Email != alice.Email {
					t.Fatalf("userinfo: %+v", info)
				}

				// A second authorization in the same browser skips the
				// password and (remembered) consent.
				verifier2, challenge2 := pkce()
				p = b.get(conf.AuthCodeURL(randomString(t, 16), challenge2, oidc.Nonce(randomString(t, 16))))
				cb2 := p.callback(t)
				if _, err := conf.Exchange(ctx, cb2.Get("code"), oauth2.VerifierOption(verifier2)); err != nil {
					t.Fatalf("second exchange: %v", err)
				}

				// Refresh rotates; the old refresh token then fails and
				// revokes the whole grant.
				refreshed, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
				if err != nil {
					t.Fatalf("refresh: %v", err)
				}
				if refreshed.RefreshToken == tok.RefreshToken || refreshed.AccessToken == tok.AccessToken {
					t.Fatal("refresh did not rotate the tokens")
				}
				if rawID, _ := refreshed.Extra("id_token").(string); rawID == "" {
					t.Fatal("refresh returned no ID token")
				} else if _, err := op.Verifier(&oidc.Config{ClientID: c.ID, SupportedSigningAlgs: algs}).Verify(ctx, rawID); err != nil {
					t.Fatalf("refreshed ID token: %v", err)
				}
				// Within the retry window a spent token gets the same
				// successor pair again (a client retrying a lost
				// response), and nothing is revoked...
				again, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
				if err != nil {
					t.Fatalf("retried refresh token within the window: %v", err)
				}
				if again.AccessToken != refreshed.AccessToken || again.RefreshToken != refreshed.RefreshToken {
					t.Fatal("a retry within the window got a different pair")
				}
				if _, err := op.UserInfo(ctx, oauth2.StaticTokenSource(refreshed)); err != nil {
					t.Fatalf("a retry within the window revoked the grant: %v", err)
				}
				// ...after it, reuse is theft: the grant is revoked.
				clock.Advance(retryWindow + 100*time.Millisecond)
				_, err = conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
				if code := oauthErrorCode(err); code != "invalid_grant" {
					t.Fatalf("reused refresh token: want invalid_grant, got %s", code)
				}
				if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshed.RefreshToken}).Token(); oauthErrorCode(err) != "invalid_grant" {
					t.Fatalf("the successor refresh token survived reuse detection: %v", err)
				}
				if _, err := op.UserInfo(ctx, oauth2.StaticTokenSource(refreshed)); err == nil {
					t.Fatal("the successor access token survived reuse detection")
				}

				// Logout with id_token_hint ends the browser session and
				// returns to the registered URI with state.
				q := url.Values{"id_token_hint": {raw}, "post_logout_redirect_uri": {logoutReturn}, "state": {"bye-bye-state"}}
				p = b.get(s.issuer + provider.PathLogout + "?" + q.Encode())
				if p.status != http.StatusSeeOther || p.location != logoutReturn+"?state=bye-bye-state" {
					t.Fatalf("logout: %d %q %.300s", p.status, p.location, p.body)
				}
				_, challenge3 := pkce()
				p = b.get(conf.AuthCodeURL(randomString(t, 16), challenge3, oauth2.SetAuthURLParam("prompt", "none")))
				if cb := p.callback(t); cb.Get("error") != "login_required" {
					t.Fatalf("after logout, prompt=none: %v", cb)
				}
				p = b.get(conf.AuthCodeURL(randomString(t, 16), challenge3))
				if !p.isLoginPage() {
					t.Fatalf("after logout the browser is still signed in: %d %.300s", p.status, p.body)
				}
			})
		}
	})
}

// TestClientCredentials covers client_secret_basic and client_secret_post,
// introspection before and after revocation, and the error for bad
// credentials.
func TestClientCredentials(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		ctx := context.Background()
		basic, basicSecret := s.client(admin.ClientSpec{Name: "worker", Scopes: []string{"api:read", "api:write"}})
		post, postSecret := s.client(admin.ClientSpec{Name: "cron", Scopes: []string{"api:read"}, TokenEndpointAuthMethod: provider.AuthMethodPost})

		for _, tc := range []struct {
			id, secret string
			style      oauth2.AuthStyle
		}{{basic.ID, basicSecret, oauth2.AuthStyleInHeader}, {post.ID, postSecret, oauth2.AuthStyleInParams}} {
			cc := clientcredentials.Config{ClientID: tc.id, ClientSecret: tc.secret, TokenURL: s.issuer + provider.PathToken, Scopes: []string{"api:read"}, AuthStyle: tc.style}
			tok, err := cc.Token(ctx)
			if err != nil {
				t.Fatalf("client_credentials (%v): %v", tc.style, err)
			}
			if tok.RefreshToken != "" {
				t.Fatal("client_credentials issued a refresh token")
			}
			in := s.introspect(t, tc.id, tc.secret, tok.AccessToken)
			if in["active"] != true || in["client_id"] != tc.id || in["scope"] != "api:read" || in["sub"] != tc.id {
				t.Fatalf("introspection: %v", in)
			}
			status, _, _ := postForm(t, s.issuer+provider.PathRevoke, url.Values{"token": {tok.AccessToken}, "client_id": {tc.id}, "client_secret": {tc.secret}}, "", "")
			if tc.style == oauth2.AuthStyleInHeader {
				status, _, _ = postForm(t, s.issuer+provider.PathRevoke, url.Values{"token": {tok.AccessToken}}, tc.id, tc.secret)
			}
			if status != http.StatusOK {
				t.Fatalf("revoke: %d", status)
			}
			if s.active(t, tc.id, tc.secret, tok.AccessToken) {
				t.Fatal("token still active after revocation")
			}
		}

		// The basic-only client may not use client_secret_post.
		cc := clientcredentials.Config{ClientID: basic.ID, ClientSecret: basicSecret, TokenURL: s.issuer + provider.PathToken, AuthStyle: oauth2.AuthStyleInParams}
		if _, err := cc.Token(ctx); oauthErrorCode(err) != "invalid_client" {
			t.Fatalf("post with a basic client: %v", err)
		}
		// Wrong secret, unknown client: invalid_client with 401.
		for _, creds := range [][2]string{{basic.ID, "gth_cs_wrong"}, {"no-such-client", "x"}} {
			status, body, _ := postForm(t, s.issuer+provider.PathToken, url.Values{"grant_type": {"client_credentials"}}, creds[0], creds[1])
			if status != http.StatusUnauthorized || body["error"] != "invalid_client" {
				t.Fatalf("bad credentials %v: %d %v", creds, status, body)
			}
		}
		// A scope the client was not given.
		cc = clientcredentials.Config{ClientID: post.ID, ClientSecret: postSecret, TokenURL: s.issuer + provider.PathToken, Scopes: []string{"api:write"}, AuthStyle: oauth2.AuthStyleInParams}
		if _, err := cc.Token(ctx); oauthErrorCode(err) != "invalid_scope" {
			t.Fatalf("unallowed scope: %v", err)
		}
		// Introspection needs client authentication, not a bearer token.
		tok, _ := (&clientcredentials.Config{ClientID: basic.ID, ClientSecret: basicSecret, TokenURL: s.issuer + provider.PathToken}).Token(ctx)
		req, _ := http.NewRequest(http.MethodPost, s.issuer+provider.PathIntrospect, strings.NewReader("token="+url.QueryEscape(tok.AccessToken)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		if status, body, _ := doJSON(t, req); status != http.StatusUnauthorized || body["error"] != "invalid_client" {
			t.Fatalf("bearer introspection: %d %v", status, body)
		}
	})
}

// TestConsentDenyAndRemembered: Deny returns access_denied to the client;
// consent is remembered per user, client and scopes, and asked again for a
// new scope; a first-party client never asks.
func TestConsentDenyAndRemembered(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		s.user("bob@example.com", alicePassword)
		c, secret := s.client(admin.ClientSpec{Name: "Third party", RedirectURIs: []string{appRedirect}})
		conf := s.oauthConfig(c, secret, "openid", "email")
		b := s.newBrowser()

		_, ch := pkce()
		state := randomString(t, 16)
		p := b.login(b.get(conf.AuthCodeURL(state, ch)), "bob@example.com", alicePassword)
		cb := b.consent(p, "deny").callback(t)
		if cb.Get("error") != "access_denied" || cb.Get("state") != state || cb.Get("iss") != s.issuer { // RFC 9207: iss on errors too
			t.Fatalf("deny: %v", cb)
		}

		// Allow once; the same scopes are then not asked again.
		p = b.get(conf.AuthCodeURL(randomString(t, 16), ch))
		if cb := b.consent(p, "allow").callback(t); cb.Get("code") == "" {
			t.Fatalf("allow: %v", cb)
		}
		if cb := b.get(conf.AuthCodeURL(randomString(t, 16), ch)).callback(t); cb.Get("code") == "" {
			t.Fatalf("remembered consent: %v", cb)
		}
		// A new scope asks again; prompt=consent always asks.
		wider := s.oauthConfig(c, secret, "openid", "email", "profile")
		if p := b.get(wider.AuthCodeURL(randomString(t, 16), ch)); !p.isConsentPage() {
			t.Fatalf("new scope did not ask for consent: %d", p.status)
		}
		if p := b.get(conf.AuthCodeURL(randomString(t, 16), ch, oauth2.SetAuthURLParam("prompt", "consent"))); !p.isConsentPage() {
			t.Fatalf("prompt=consent did not ask: %d", p.status)
		}
		// prompt=login asks for the password again, even when signed in.
		if p := b.get(conf.AuthCodeURL(randomString(t, 16), ch, oauth2.SetAuthURLParam("prompt", "login"))); !p.isLoginPage() {
			t.Fatalf("prompt=login did not ask for the password: %d", p.status)
		}
		// max_age=0 too.
		if p := b.get(conf.AuthCodeURL(randomString(t, 16), ch, oauth2.SetAuthURLParam("max_age", "0"))); !p.isLoginPage() {
			t.Fatalf("max_age=0 did not ask for the password: %d", p.status)
		}

		// A first-party client never shows consent.
		first, firstSecret := s.client(admin.ClientSpec{Name: "First party", RedirectURIs: []string{appRedirect}, SkipConsent: true})
		fconf := s.oauthConfig(first, firstSecret, "openid")
		if cb := b.get(fconf.AuthCodeURL(randomString(t, 16), ch)).callback(t); cb.Get("code") == "" {
			t.Fatalf("first-party client: %v", cb)
		}

		// A new browser with prompt=none gets login_required.
		fresh := s.newBrowser()
		if cb := fresh.get(conf.AuthCodeURL(randomString(t, 16), ch, oauth2.SetAuthURLParam("prompt", "none"))).callback(t); cb.Get("error") != "login_required" {
			t.Fatalf("prompt=none without a session: %v", cb)
		}
	})
}

// TestHealth: alive and ready answer on both listeners, metrics on admin.
func TestHealth(t *testing.T) {
	t.Parallel()
	s := startServer(t, "sqlite")
	for _, base := range []string{s.issuer, s.admin} {
		for _, path := range []string{"/health/alive", "/health/ready"} {
			resp, err := http.Get(base + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s%s: %d", base, path, resp.StatusCode)
			}
		}
	}
	resp, err := http.Get(s.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("metrics: %d", resp.StatusCode)
	}
	// `gatehouse health` (the container's health check) agrees.
	if out, _, err := cli(t, "", "health", "--url", s.admin+"/health/ready"); err != nil || !strings.Contains(out, "ready") {
		t.Fatalf("health command: %q %v", out, err)
	}
	if _, _, err := cli(t, "", "health", "--url", s.admin+"/no-such-probe"); err == nil {
		t.Fatal("health command passed against a 404")
	}
}

// TestReadyDuringRollingUpgrade: once a newer release has migrated the
// database, instances of the older one stay ready (migrations only add);
// a database missing one of this binary's migrations is not ready.
func TestReadyDuringRollingUpgrade(t *testing.T) {
	t.Parallel()
	s := startServer(t, "sqlite")
	ready := func() int {
		t.Helper()
		resp, err := http.Get(s.admin + "/health/ready")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	ctx := context.Background()
	db := s.store.Pools()["primary"]
	if _, err := db.ExecContext(ctx,
		"INSERT INTO bun_migrations (name, group_id, migrated_at) VALUES ('29991231000000', 99, ?)", time.Now().UTC(),
	); err != nil {
		t.Fatal(err)
	}
	if st := ready(); st != http.StatusOK {
		t.Fatalf("ready with a newer schema: %d, want 200", st)
	}
	if _, err := db.ExecContext(ctx, "DELETE FROM bun_migrations WHERE name = '20261127000006'"); err != nil {
		t.Fatal(err)
	}
	if st := ready(); st != http.StatusServiceUnavailable {
		t.Fatalf("ready with a migration missing: %d, want 503", st)
	}
}
