package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
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
	t.Parallel()
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
	t.Parallel()
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

// pushFor pushes an authorization request for client c and returns the
// authorization URL that uses its request_uri, with the PKCE verifier and
// the state.
func (s *testServer) pushFor(t *testing.T, c *storage.Client, secret string) (authURL, verifier, state string) {
	t.Helper()
	verifier, state = oauth2.GenerateVerifier(), randomString(t, 16)
	status, body := s.push(t, url.Values{
		"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {c.RedirectURIs[0]}, "scope": {"openid"},
		"state": {state}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
	}, c.ID, secret)
	requestURI, _ := body["request_uri"].(string)
	if status != http.StatusCreated || requestURI == "" {
		t.Fatalf("PAR: %d %v", status, body)
	}
	return s.issuer + provider.PathAuthorize + "?" + url.Values{"client_id": {c.ID}, "request_uri": {requestURI}}.Encode(), verifier, state
}

// TestPushedRequestURIOfAnotherClient: a request_uri presented with another
// client's client_id is refused (RFC 9126 §4: the client_id must be the
// one that pushed it) without being consumed, so the client that pushed it
// still signs its user in with it; and it is not redirected anywhere.
func TestPushedRequestURIOfAnotherClient(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		s.user("par@example.com", alicePassword)
		c, secret := s.client(admin.ClientSpec{Name: "PAR app", RedirectURIs: []string{appRedirect}, SkipConsent: true})
		other, _ := s.client(admin.ClientSpec{Name: "Other app", RedirectURIs: []string{"http://127.0.0.1:8/cb"}, SkipConsent: true})
		authURL, verifier, state := s.pushFor(t, c, secret)

		b := s.newBrowser()
		for _, clientID := range []string{other.ID, "", "unknown-client"} {
			q, _ := url.ParseQuery(strings.SplitN(authURL, "?", 2)[1])
			q.Set("client_id", clientID)
			if clientID == "" {
				q.Del("client_id")
			}
			p := b.get(s.issuer + provider.PathAuthorize + "?" + q.Encode())
			if p.status != http.StatusBadRequest || p.location != "" {
				t.Fatalf("request_uri with client_id %q: %d %q, want a 400 page", clientID, p.status, p.location)
			}
		}

		cb := b.authorizeAndLogin(authURL, "par@example.com", alicePassword)
		if cb.Get("state") != state || cb.Get("code") == "" {
			t.Fatalf("the pushing client after the refusals: %v", cb)
		}
		conf := s.oauthConfig(c, secret, "openid")
		if _, err := conf.Exchange(context.Background(), cb.Get("code"), oauth2.VerifierOption(verifier)); err != nil {
			t.Fatalf("exchange: %v", err)
		}
		// Now it is spent: invalid_request_uri, a 400 page.
		if p := b.get(authURL); p.status != http.StatusBadRequest || p.location != "" {
			t.Fatalf("spent request_uri: %d %q", p.status, p.location)
		}
	})
}

// TestPushedRequestURIConcurrentUse: of two browsers that bring one
// request_uri at the same moment, exactly one gets on to the login page;
// the other gets a 400 page, never a 5xx.
func TestPushedRequestURIConcurrentUse(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		c, secret := s.client(admin.ClientSpec{Name: "PAR app", RedirectURIs: []string{appRedirect}})
		for round := range 5 {
			authURL, _, _ := s.pushFor(t, c, secret)
			pages := make([]*page, 2)
			browsers := []*browser{s.newBrowser(), s.newBrowser()}
			var start, done sync.WaitGroup
			start.Add(1)
			for i := range pages {
				done.Add(1)
				go func() {
					defer done.Done()
					start.Wait()
					req, _ := http.NewRequest(http.MethodGet, authURL, nil)
					resp, err := browsers[i].client.Do(req)
					if err != nil {
						t.Errorf("use %d: %v", i, err)
						return
					}
					resp.Body.Close()
					pages[i] = &page{status: resp.StatusCode, url: resp.Request.URL}
				}()
			}
			start.Done()
			done.Wait()
			if t.Failed() {
				t.FailNow()
			}
			wins := 0
			for i, p := range pages {
				switch {
				case p.status == http.StatusOK && p.url.Path == "/login":
					wins++
				case p.status == http.StatusBadRequest:
				default:
					t.Fatalf("round %d, use %d: %d at %s", round, i, p.status, p.url)
				}
			}
			if wins != 1 {
				t.Fatalf("round %d: %d of 2 concurrent uses got on, want exactly 1", round, wins)
			}
		}
	})
}
