package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/provider"
)

// TestAuthorizeBadInput: what a broken or hostile authorization request
// gets. Before the redirect URI is verified, an error page (never a
// redirect); after, the RFC 6749 error on the redirect.
func TestAuthorizeBadInput(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		s.user("erin@example.com", alicePassword)
		c, secret := s.client(provider.ClientSpec{Name: "App", RedirectURIs: []string{appRedirect}, SkipConsent: true})
		conf := s.oauthConfig(c, secret, "openid")
		b := s.newBrowser()
		_, challenge := pkce()
		state := randomString(t, 16)

		errorPage := func(name, rawURL string) {
			t.Helper()
			p := b.get(rawURL)
			if p.status < 400 || p.status >= 500 || p.location != "" || !strings.Contains(p.header.Get("Content-Type"), "text/html") {
				t.Errorf("%s: want a 4xx error page and no redirect, got %d location=%q type=%q", name, p.status, p.location, p.header.Get("Content-Type"))
			}
		}
		redirectError := func(name, rawURL, wantError string) {
			t.Helper()
			p := b.get(rawURL)
			if p.status != http.StatusSeeOther && p.status != http.StatusFound {
				t.Errorf("%s: want a redirect with error %s, got %d: %.200s", name, wantError, p.status, p.body)
				return
			}
			u, _ := url.Parse(p.location)
			if !strings.HasPrefix(p.location, appRedirect) || u.Query().Get("error") != wantError || u.Query().Get("state") != state {
				t.Errorf("%s: redirect %q, want error=%s with state", name, p.location, wantError)
			}
		}

		bad := *conf
		bad.RedirectURL = "http://127.0.0.1:9/evil"
		errorPage("unregistered redirect_uri", bad.AuthCodeURL(state, challenge))
		bad.RedirectURL = "https://attacker.example/callback"
		errorPage("foreign redirect_uri", bad.AuthCodeURL(state, challenge))
		unknown := *conf
		unknown.ClientID = "no-such-client"
		errorPage("unknown client", unknown.AuthCodeURL(state, challenge))
		errorPage("duplicated redirect_uri", conf.AuthCodeURL(state, challenge)+"&redirect_uri="+url.QueryEscape(appRedirect))
		errorPage("invalid UTF-8", conf.AuthCodeURL(state, challenge)+"&login_hint=%ff%fe")

		redirectError("missing PKCE", conf.AuthCodeURL(state), "invalid_request")
		redirectError("plain PKCE", conf.AuthCodeURL(state, oauth2.SetAuthURLParam("code_challenge", strings.Repeat("a", 43)), oauth2.SetAuthURLParam("code_challenge_method", "plain")), "invalid_request")
		wide := *conf
		wide.Scopes = []string{"openid", "admin:everything"}
		redirectError("unknown scope", wide.AuthCodeURL(state, challenge), "invalid_scope")
		redirectError("implicit flow", conf.AuthCodeURL(state, challenge, oauth2.SetAuthURLParam("response_type", "token")), "unsupported_response_type")
		redirectError("unsupported prompt", conf.AuthCodeURL(state, challenge, oauth2.SetAuthURLParam("prompt", "select_account")), "invalid_request")

		// The callback never carries a token; only the code.
		cb := b.authorizeAndLogin(conf.AuthCodeURL(state, challenge), "erin@example.com", alicePassword)
		for k := range cb {
			if k != "code" && k != "state" && k != "iss" && k != "scope" {
				t.Errorf("unexpected callback parameter %q", k)
			}
		}
	})
}

// TestTokenBadInput: malformed, oversized, repeated and invalid token
// requests get 4xx JSON, never a 500; a reused code revokes what it gave.
func TestTokenBadInput(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		s.user("frank@example.com", alicePassword)
		c, secret := s.client(provider.ClientSpec{Name: "App", RedirectURIs: []string{appRedirect}, SkipConsent: true})
		conf := s.oauthConfig(c, secret, "openid", "offline_access")
		tokenURL := s.issuer + provider.PathToken

		send := func(name, contentType, body string, wantStatus int, wantError string) {
			t.Helper()
			req, _ := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(body))
			req.Header.Set("Content-Type", contentType)
			req.SetBasicAuth(c.ID, secret)
			status, out, hdr := doJSON(t, req)
			if status != wantStatus || (wantError != "" && out["error"] != wantError) {
				t.Errorf("%s: got %d %v, want %d %s", name, status, out, wantStatus, wantError)
			}
			if status >= 500 {
				t.Errorf("%s: server error %d", name, status)
			}
			if cc := hdr.Get("Cache-Control"); status < 500 && !strings.Contains(cc, "no-store") {
				t.Errorf("%s: Cache-Control %q", name, cc)
			}
		}
		form := "application/x-www-form-urlencoded"
		send("malformed body", form, "grant_type=%zz&code=%", http.StatusBadRequest, "invalid_request")
		send("empty body", form, "", http.StatusBadRequest, "invalid_request")
		send("unknown grant", form, "grant_type=password&username=a&password=b", http.StatusBadRequest, "")
		send("repeated grant_type", form, "grant_type=client_credentials&grant_type=authorization_code", http.StatusBadRequest, "invalid_request")
		send("invalid UTF-8", form, "grant_type=authorization_code&code=%ff%fe%fd", http.StatusBadRequest, "invalid_request")
		send("unknown code", form, "grant_type=authorization_code&code=gth_ac_nope.nope&redirect_uri="+url.QueryEscape(appRedirect)+"&code_verifier="+strings.Repeat("v", 43), http.StatusBadRequest, "invalid_grant")
		send("unknown refresh token", form, "grant_type=refresh_token&refresh_token=gth_rt_nope.nope", http.StatusBadRequest, "invalid_grant")
		huge := "grant_type=client_credentials&scope=" + strings.Repeat("a", 200<<10)
		req, _ := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(huge))
		req.Header.Set("Content-Type", form)
		if status, _, _ := doJSON(t, req); status != http.StatusRequestEntityTooLarge {
			t.Errorf("oversized body: got %d, want 413", status)
		}

		// A wrong PKCE verifier: invalid_grant, and the code is spent.
		b := s.newBrowser()
		verifier, challenge := pkce()
		cb := b.authorizeAndLogin(conf.AuthCodeURL(randomString(t, 16), challenge), "frank@example.com", alicePassword)
		_, err := conf.Exchange(context.Background(), cb.Get("code"), oauth2.VerifierOption(oauth2.GenerateVerifier()))
		if code := oauthErrorCode(err); code != "invalid_grant" {
			t.Fatalf("wrong verifier: %s", code)
		}
		if _, err := conf.Exchange(context.Background(), cb.Get("code"), oauth2.VerifierOption(verifier)); oauthErrorCode(err) != "invalid_grant" {
			t.Fatalf("a code survived a failed PKCE check: %v", err)
		}
		// A good exchange; the code then cannot be used again, and its
		// reuse revokes what the first exchange issued.
		verifier, challenge = pkce()
		cb = b.authorizeAndLogin(conf.AuthCodeURL(randomString(t, 16), challenge), "frank@example.com", alicePassword)
		tok, err := conf.Exchange(context.Background(), cb.Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		if !s.active(t, c.ID, secret, tok.AccessToken) {
			t.Fatal("fresh token inactive")
		}
		_, err = conf.Exchange(context.Background(), cb.Get("code"), oauth2.VerifierOption(verifier))
		if code := oauthErrorCode(err); code != "invalid_grant" {
			t.Fatalf("reused code: %s", code)
		}
		if s.active(t, c.ID, secret, tok.AccessToken) {
			t.Fatal("the access token of a reused code is still active")
		}
		if _, err := conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); oauthErrorCode(err) != "invalid_grant" {
			t.Fatalf("the refresh token of a reused code still works: %v", err)
		}
	})
}

// TestOtherEndpointsBadInput: userinfo, logout, unknown paths.
func TestOtherEndpointsBadInput(t *testing.T) {
	s := startServer(t, "sqlite")
	c, _ := s.client(provider.ClientSpec{Name: "App", RedirectURIs: []string{appRedirect}, PostLogoutRedirectURIs: []string{logoutReturn}})

	for _, auth := range []string{"", "Bearer ", "Bearer gth_at_nope.nope", "Basic Zm9vOmJhcg=="} {
		req, _ := http.NewRequest(http.MethodGet, s.issuer+provider.PathUserinfo, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		status, out, hdr := doJSON(t, req)
		if status != http.StatusUnauthorized || out["error"] != "invalid_token" || !strings.Contains(hdr.Get("WWW-Authenticate"), "invalid_token") {
			t.Errorf("userinfo with %q: %d %v %q", auth, status, out, hdr.Get("WWW-Authenticate"))
		}
	}
	// Tokens in the query string are ignored.
	req, _ := http.NewRequest(http.MethodGet, s.issuer+provider.PathUserinfo+"?access_token=gth_at_x.y", nil)
	if status, _, _ := doJSON(t, req); status != http.StatusUnauthorized {
		t.Errorf("userinfo with a query token: %d", status)
	}

	b := s.newBrowser()
	for name, q := range map[string]url.Values{
		"unregistered post_logout_redirect_uri": {"client_id": {c.ID}, "post_logout_redirect_uri": {"https://evil.example/"}},
		"redirect without client":               {"post_logout_redirect_uri": {logoutReturn}},
		"forged id_token_hint":                  {"id_token_hint": {"eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."}, "post_logout_redirect_uri": {logoutReturn}},
		"unknown client":                        {"client_id": {"nope"}},
	} {
		p := b.get(s.issuer + provider.PathLogout + "?" + q.Encode())
		if p.status != http.StatusBadRequest || p.location != "" {
			t.Errorf("logout %s: %d location %q", name, p.status, p.location)
		}
	}
	// Logout without a session and without a redirect: the signed-out page.
	if p := b.get(s.issuer + provider.PathLogout); p.status != http.StatusOK || !strings.Contains(p.body, "signed out") {
		t.Errorf("plain logout: %d %.200s", p.status, p.body)
	}

	status, out, _ := doJSON(t, mustRequest(t, http.MethodGet, s.issuer+"/no/such/path"))
	if status != http.StatusNotFound || out["error"] != "not_found" {
		t.Errorf("unknown path: %d %v", status, out)
	}
	status, _, _ = doJSON(t, mustRequest(t, http.MethodDelete, s.issuer+provider.PathToken))
	if status != http.StatusMethodNotAllowed {
		t.Errorf("DELETE token: %d", status)
	}
	// A login POST without the CSRF token is refused.
	p := b.post(s.issuer+"/login", url.Values{"email": {"x@example.com"}, "password": {"y"}, "flow": {"z"}})
	if p.status != http.StatusForbidden && p.status != http.StatusBadRequest {
		t.Errorf("login without CSRF: %d", p.status)
	}
	// A stale flow handle gets an error page.
	p = b.get(s.issuer + "/login?flow=does-not-exist")
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, "expired") {
		t.Errorf("unknown flow: %d %.200s", p.status, p.body)
	}
}

func mustRequest(t *testing.T, method, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
