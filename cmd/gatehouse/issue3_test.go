package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
)

// push sends a pushed authorization request and returns its request_uri.
func (s *testServer) push(t *testing.T, form url.Values, user, pass string) (int, map[string]interface{}) {
	t.Helper()
	status, body, _ := postForm(t, s.issuer+provider.PathPAR, form, user, pass)
	return status, body
}

// TestPushedAuthorizationRequests: PAR, then authorize, login, consent and
// the code exchange; the request_uri works once, client credentials are not
// stored, and a client that must use PAR cannot skip it.
func TestPushedAuthorizationRequests(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		s.user("par@example.com", alicePassword)
		c, secretValue := s.client(admin.ClientSpec{Name: "PAR app", RedirectURIs: []string{appRedirect}, TokenEndpointAuthMethod: provider.AuthMethodPost})
		conf := s.oauthConfig(c, secretValue, "openid", "email")
		verifier, _ := pkce()
		challenge := oauth2.S256ChallengeFromVerifier(verifier)
		state, nonce := randomString(t, 16), randomString(t, 16)
		form := url.Values{
			"response_type": {"code"}, "client_id": {c.ID}, "client_secret": {secretValue},
			"redirect_uri": {appRedirect}, "scope": {"openid email"}, "state": {state}, "nonce": {nonce},
			"code_challenge": {challenge}, "code_challenge_method": {"S256"},
		}
		status, body := s.push(t, form, "", "")
		requestURI, _ := body["request_uri"].(string)
		if status != http.StatusCreated || !strings.HasPrefix(requestURI, provider.PARRequestURIPrefix) || body["expires_in"] == nil {
			t.Fatalf("PAR: %d %v", status, body)
		}
		// What is stored carries no client secret.
		pr, err := s.store.PushedRequest(context.Background(), secret.HashHandle(requestURI))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(pr.Form, "client_secret") || strings.Contains(pr.Form, secretValue) {
			t.Fatalf("stored pushed request carries the client secret: %q", pr.Form)
		}

		b := s.newBrowser()
		authURL := s.issuer + provider.PathAuthorize + "?" + url.Values{"client_id": {c.ID}, "request_uri": {requestURI}}.Encode()
		cb := b.authorizeAndLogin(authURL, "par@example.com", alicePassword)
		if cb.Get("state") != state || cb.Get("code") == "" {
			t.Fatalf("callback after PAR: %v", cb)
		}
		tok, err := conf.Exchange(context.Background(), cb.Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("exchange after PAR: %v", err)
		}
		op, err := oidc.NewProvider(context.Background(), s.issuer)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := tok.Extra("id_token").(string)
		idt, err := op.Verifier(&oidc.Config{ClientID: c.ID}).Verify(context.Background(), raw)
		if err != nil || idt.Nonce != nonce {
			t.Fatalf("ID token after PAR: %v nonce %q", err, idt.Nonce)
		}
		// The request_uri was used up.
		if p := b.get(authURL); p.status != http.StatusBadRequest || p.location != "" {
			t.Fatalf("request_uri reused: %d %q", p.status, p.location)
		}

		// Pushing a bad request fails at once, as JSON.
		bad := url.Values{}
		for k, v := range form {
			bad[k] = v
		}
		bad.Del("code_challenge")
		if status, body := s.push(t, bad, "", ""); status != http.StatusBadRequest || body["error"] != "invalid_request" {
			t.Fatalf("PAR without PKCE: %d %v", status, body)
		}
		bad = url.Values{"response_type": {"code"}, "client_id": {c.ID}, "client_secret": {"gth_cs_wrong"}, "redirect_uri": {appRedirect}}
		if status, body := s.push(t, bad, "", ""); status != http.StatusUnauthorized || body["error"] != "invalid_client" {
			t.Fatalf("PAR with a wrong secret: %d %v", status, body)
		}

		// A client that must use PAR cannot skip it.
		strict, strictSecret := s.client(admin.ClientSpec{Name: "Strict", RedirectURIs: []string{appRedirect}})
		strict.RequirePushedAuthorizationRequests = true
		if err := s.store.UpdateClient(context.Background(), strict); err != nil {
			t.Fatal(err)
		}
		strictConf := s.oauthConfig(strict, strictSecret, "openid")
		_, ch := pkce()
		if cb := b.get(strictConf.AuthCodeURL(randomString(t, 16), ch)).callback(t); cb.Get("error") != "invalid_request" {
			t.Fatalf("a PAR-only client authorized without PAR: %v", cb)
		}
		verifier, _ = pkce()
		status, body = s.push(t, url.Values{
			"response_type": {"code"}, "client_id": {strict.ID}, "redirect_uri": {appRedirect}, "scope": {"openid"},
			"state": {randomString(t, 16)}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
		}, strict.ID, strictSecret)
		if status != http.StatusCreated {
			t.Fatalf("PAR for the strict client: %d %v", status, body)
		}
		requestURI, _ = body["request_uri"].(string)
		p := b.get(s.issuer + provider.PathAuthorize + "?" + url.Values{"client_id": {strict.ID}, "request_uri": {requestURI}}.Encode())
		if p.isConsentPage() {
			p = b.consent(p, "allow")
		}
		if cb := p.callback(t); cb.Get("code") == "" {
			t.Fatalf("the strict client via PAR: %v", cb)
		}
	})
}

// TestPARRequiredGlobally: with par.required every client must push.
func TestPARRequiredGlobally(t *testing.T) {
	s := startServer(t, "sqlite", func(c *config.Config) { c.PAR.Required = true })
	c, secretValue := s.client(admin.ClientSpec{Name: "App", RedirectURIs: []string{appRedirect}})
	_, ch := pkce()
	if cb := s.newBrowser().get(s.oauthConfig(c, secretValue, "openid").AuthCodeURL(randomString(t, 16), ch)).callback(t); cb.Get("error") != "invalid_request" {
		t.Fatalf("authorized without PAR: %v", cb)
	}
	var meta map[string]interface{}
	_, meta, _ = doJSON(t, mustRequest(t, http.MethodGet, s.issuer+"/.well-known/openid-configuration"))
	if meta["require_pushed_authorization_requests"] != true || meta["pushed_authorization_request_endpoint"] != s.issuer+provider.PathPAR {
		t.Fatalf("discovery: %v", meta)
	}
}

// TestCORSForSPAs: preflight and token requests from a registered origin
// get CORS headers; from any other origin they get none.
func TestCORSForSPAs(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		s.user("spa@example.com", alicePassword)
		const origin = "http://127.0.0.1:3000"
		c, _ := s.client(admin.ClientSpec{Name: "SPA", Public: true, RedirectURIs: []string{appRedirect}, AllowedOrigins: []string{origin}, SkipConsent: true})
		conf := s.oauthConfig(c, "", "openid", "offline_access")
		tok := s.signIn(t, conf, "spa@example.com", alicePassword)

		for _, tc := range []struct {
			origin string
			want   bool
		}{{origin, true}, {"https://evil.example", false}, {"http://127.0.0.1:3001", false}} {
			req := mustRequest(t, http.MethodOptions, s.issuer+provider.PathToken)
			req.Header.Set("Origin", tc.origin)
			req.Header.Set("Access-Control-Request-Method", "POST")
			_, _, hdr := doJSON(t, req)
			if got := hdr.Get("Access-Control-Allow-Origin"); (got == tc.origin) != tc.want || (!tc.want && got != "") {
				t.Errorf("preflight from %s: ACAO %q", tc.origin, got)
			}

			form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {c.ID}}
			req, _ = http.NewRequest(http.MethodPost, s.issuer+provider.PathToken, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", tc.origin)
			status, body, hdr := doJSON(t, req)
			if status != http.StatusOK {
				t.Fatalf("refresh from %s: %d %v", tc.origin, status, body)
			}
			tok.RefreshToken, _ = body["refresh_token"].(string)
			if got := hdr.Get("Access-Control-Allow-Origin"); (got == tc.origin) != tc.want || (!tc.want && got != "") {
				t.Errorf("token response to %s: ACAO %q", tc.origin, got)
			}
		}
	})
}

// TestAccountAppsRevoke: the account page lists an allowed app with its
// scopes; revoking it kills the grant's tokens and brings consent back.
func TestAccountAppsRevoke(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		s.user("gina@example.com", alicePassword)
		c, secretValue := s.client(admin.ClientSpec{Name: "Photo Printer", RedirectURIs: []string{appRedirect}})
		c.LogoURI, c.ClientURI, c.PolicyURI, c.RegisteredBy = "https://printer.example/logo.png", "https://printer.example/", "https://printer.example/privacy", `registration token "partners"`
		if err := s.store.UpdateClient(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		conf := s.oauthConfig(c, secretValue, "openid", "email", "offline_access")
		b := s.newBrowser()

		// The account page needs a sign-in and comes back after it.
		p := b.get(s.issuer + provider.PathAccount)
		if !p.isLoginPage() || !strings.Contains(p.body, `name="next" value="/account/apps"`) {
			t.Fatalf("account page without a session: %d %.300s", p.status, p.body)
		}
		p = b.login(p, "gina@example.com", alicePassword)
		if p.status != http.StatusOK || !strings.Contains(p.body, "not allowed any app") {
			t.Fatalf("account page after sign-in: %d %.300s", p.status, p.body)
		}

		verifier, challenge := pkce()
		p = b.get(conf.AuthCodeURL(randomString(t, 16), challenge))
		for _, want := range []string{"Photo Printer", `src="https://printer.example/logo.png"`, "Privacy policy", `Registered by registration token &#34;partners&#34;`} {
			if !strings.Contains(p.body, want) {
				t.Errorf("consent page lacks %q", want)
			}
		}
		cb := b.consent(p, "allow").callback(t)
		tok, err := conf.Exchange(context.Background(), cb.Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}

		p = b.get(s.issuer + provider.PathAccount)
		if !strings.Contains(p.body, "Photo Printer") || !strings.Contains(p.body, "See your e-mail address") {
			t.Fatalf("account page does not list the app: %.500s", p.body)
		}
		form := p.formValues()
		if form.Get("client_id") != c.ID {
			t.Fatalf("revoke form: %v", form)
		}
		p = b.post(s.issuer+provider.PathAccount+"/revoke", form)
		if p.status != http.StatusOK || !strings.Contains(p.body, "Access for Photo Printer was revoked.") || strings.Contains(p.body, "/account/apps/revoke") {
			t.Fatalf("revoke: %d %.500s", p.status, p.body)
		}
		if _, err := conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); oauthErrorCode(err) != "invalid_grant" {
			t.Fatalf("refresh after revocation: %v", err)
		}
		if s.active(t, c.ID, secretValue, tok.AccessToken) {
			t.Fatal("access token active after revocation")
		}
		if p := b.get(conf.AuthCodeURL(randomString(t, 16), challenge)); !p.isConsentPage() {
			t.Fatalf("consent not asked again after revocation: %d", p.status)
		}
		// Revoking needs the CSRF token.
		p = b.post(s.issuer+provider.PathAccount+"/revoke", url.Values{"client_id": {c.ID}})
		if p.status != http.StatusForbidden {
			t.Fatalf("revoke without CSRF token: %d", p.status)
		}
		// next never leaves the account pages.
		if p := s.newBrowser().get(s.issuer + "/login?next=https://evil.example/"); !strings.Contains(p.body, `name="next" value="/account/apps"`) {
			t.Fatalf("open redirect through next: %.300s", p.body)
		}
	})
}
