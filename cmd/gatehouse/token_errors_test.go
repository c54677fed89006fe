package main

// The error answers of the endpoints that authenticate clients (token, PAR,
// introspection, revocation) as RFC 6749 §5.2 defines them, with
// descriptions that say what happened.

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/clocktest"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
)

// wantOAuthError checks an RFC 6749 §5.2 error answer; its description
// must contain each of says (case-insensitive).
func wantOAuthError(t *testing.T, what string, status int, body map[string]interface{}, wantStatus int, wantCode string, says ...string) {
	t.Helper()
	if status != wantStatus || body["error"] != wantCode {
		t.Errorf("%s: got %d %v, want %d %s", what, status, body, wantStatus, wantCode)
		return
	}
	desc, _ := body["error_description"].(string)
	for _, s := range says {
		if !strings.Contains(strings.ToLower(desc), strings.ToLower(s)) {
			t.Errorf("%s: description %q does not say %q", what, desc, s)
		}
	}
}

// TestTokenGrantTypeErrors: a grant type the server does not support is
// unsupported_grant_type; one it supports but the client may not use is
// unauthorized_client; a missing grant_type is invalid_request (RFC 6749
// §5.2).
func TestTokenGrantTypeErrors(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		web, webSecret := s.client(admin.ClientSpec{Name: "Web", RedirectURIs: []string{appRedirect}})
		tokenURL := s.issuer + provider.PathToken
		for _, grant := range []string{"password", "urn:ietf:params:oauth:grant-type:jwt-bearer", "implicit", "authorization_code refresh_token"} {
			status, body, _ := postForm(t, tokenURL, url.Values{"grant_type": {grant}}, web.ID, webSecret)
			wantOAuthError(t, "grant_type "+grant, status, body, http.StatusBadRequest, "unsupported_grant_type", "grant_type")
			if desc, _ := body["error_description"].(string); strings.Contains(desc, "redirect_uri") {
				t.Errorf("grant_type %s: description speaks of redirect URIs: %q", grant, desc)
			}
		}
		status, body, _ := postForm(t, tokenURL, url.Values{"grant_type": {"client_credentials"}}, web.ID, webSecret)
		wantOAuthError(t, "client_credentials for a code-flow client", status, body, http.StatusBadRequest, "unauthorized_client", "client_credentials")
		status, body, _ = postForm(t, tokenURL, url.Values{"scope": {"openid"}}, web.ID, webSecret)
		wantOAuthError(t, "no grant_type", status, body, http.StatusBadRequest, "invalid_request", "grant_type")
	})
}

// TestClientAuthenticationFailures: at every endpoint that authenticates
// clients, a failed authentication is 401 invalid_client with a
// WWW-Authenticate challenge (RFC 6749 §5.2 requires one after HTTP
// Basic), and so is a request that carries no client authentication at
// all (no credentials, no client_id naming a public client).
func TestClientAuthenticationFailures(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		machine, _ := s.client(admin.ClientSpec{Name: "Machine", GrantTypes: []string{"client_credentials"}, Scopes: []string{"api:read"}})
		endpoints := map[string]url.Values{
			provider.PathToken:      {"grant_type": {"client_credentials"}},
			provider.PathPAR:        {"response_type": {"code"}, "redirect_uri": {appRedirect}},
			provider.PathIntrospect: {"token": {"gth_at_unknown"}},
			provider.PathRevoke:     {"token": {"gth_at_unknown"}},
		}
		for path, form := range endpoints {
			for name, send := range map[string]func() (int, map[string]interface{}, http.Header){
				"wrong secret in HTTP Basic": func() (int, map[string]interface{}, http.Header) {
					return postForm(t, s.issuer+path, form, machine.ID, "gth_cs_wrong")
				},
				"unknown client in HTTP Basic": func() (int, map[string]interface{}, http.Header) {
					return postForm(t, s.issuer+path, form, "no-such-client", "secret")
				},
				"HTTP Basic that does not decode": func() (int, map[string]interface{}, http.Header) {
					req, _ := http.NewRequest(http.MethodPost, s.issuer+path, strings.NewReader(form.Encode()))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.SetBasicAuth("%zz", "secret")
					return doJSON(t, req)
				},
				"wrong client_secret in the body": func() (int, map[string]interface{}, http.Header) {
					f := url.Values{"client_id": {machine.ID}, "client_secret": {"gth_cs_wrong"}}
					for k, v := range form {
						f[k] = v
					}
					return postForm(t, s.issuer+path, f, "", "")
				},
				"no client authentication": func() (int, map[string]interface{}, http.Header) {
					return postForm(t, s.issuer+path, form, "", "")
				},
				"a confidential client's id alone": func() (int, map[string]interface{}, http.Header) {
					f := url.Values{"client_id": {machine.ID}}
					for k, v := range form {
						f[k] = v
					}
					return postForm(t, s.issuer+path, f, "", "")
				},
			} {
				status, body, header := send()
				wantOAuthError(t, path+", "+name, status, body, http.StatusUnauthorized, "invalid_client")
				if ch := header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Basic ") {
					t.Errorf("%s, %s: WWW-Authenticate %q, want a Basic challenge", path, name, ch)
				}
			}
		}
	})
}

// TestNonFormBodies: the endpoints that take client requests read
// application/x-www-form-urlencoded bodies (RFC 6749 §3.2, RFC 7662 §2.1,
// RFC 7009 §2.1, RFC 9126 §2.1); any other body is invalid_request saying
// so, not "the POST body can not be empty".
func TestNonFormBodies(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		machine, secret := s.client(admin.ClientSpec{Name: "Machine", GrantTypes: []string{"client_credentials"}, Scopes: []string{"api:read"}})
		for _, path := range []string{provider.PathToken, provider.PathPAR, provider.PathIntrospect, provider.PathRevoke} {
			for contentType, body := range map[string]string{
				"application/json": `{"grant_type":"client_credentials","token":"x"}`,
				"text/plain":       "grant_type=client_credentials&token=x",
				"":                 "grant_type=client_credentials&token=x",
			} {
				req, _ := http.NewRequest(http.MethodPost, s.issuer+path, strings.NewReader(body))
				if contentType != "" {
					req.Header.Set("Content-Type", contentType)
				}
				req.SetBasicAuth(machine.ID, secret)
				status, out, _ := doJSON(t, req)
				wantOAuthError(t, path+" with "+contentType, status, out, http.StatusBadRequest, "invalid_request", "application/x-www-form-urlencoded")
			}
		}
		// A form still works, with its media type parameters in any case.
		req, _ := http.NewRequest(http.MethodPost, s.issuer+provider.PathToken, strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "Application/X-WWW-Form-Urlencoded; charset=UTF-8")
		req.SetBasicAuth(machine.ID, secret)
		if status, out, _ := doJSON(t, req); status != http.StatusOK {
			t.Fatalf("form with charset: %d %v", status, out)
		}
	})
}

// TestTokenErrorDescriptions: invalid_grant (RFC 6749 §5.2) for each way a
// code or refresh token stops being usable, each described as what
// happened; a missing code_verifier is invalid_request saying so.
func TestTokenErrorDescriptions(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		clock := clocktest.New(time.Now())
		s, _ := startServerAt(t, dialect, clock)
		s.user("errors@example.com", alicePassword)
		c, secret := s.client(admin.ClientSpec{Name: "Errors app", RedirectURIs: []string{appRedirect}, Scopes: []string{"openid", "offline_access"}, SkipConsent: true})
		conf := s.oauthConfig(c, secret, "openid", "offline_access")
		tokenURL := s.issuer + provider.PathToken
		ctx := context.Background()
		b := s.newBrowser()
		code := func() (string, string) {
			verifier, challenge := pkce()
			return b.authorizeAndLogin(conf.AuthCodeURL("state-1", challenge), "errors@example.com", alicePassword).Get("code"), verifier
		}
		exchange := func(code, verifier string) (int, map[string]interface{}) {
			form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {appRedirect}}
			if verifier != "" {
				form.Set("code_verifier", verifier)
			}
			status, body, _ := postForm(t, tokenURL, form, c.ID, secret)
			return status, body
		}
		refresh := func(rt string) (int, map[string]interface{}) {
			status, body, _ := postForm(t, tokenURL, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, c.ID, secret)
			return status, body
		}

		// A code used once, successfully, then again.
		cd, verifier := code()
		if status, body := exchange(cd, verifier); status != http.StatusOK {
			t.Fatalf("exchange: %d %v", status, body)
		}
		status, body := exchange(cd, verifier)
		wantOAuthError(t, "code used twice", status, body, http.StatusBadRequest, "invalid_grant", "already been used")

		// A wrong verifier: says so, and burns the code.
		cd, verifier = code()
		status, body = exchange(cd, strings.Repeat("w", 43))
		wantOAuthError(t, "wrong verifier", status, body, http.StatusBadRequest, "invalid_grant", "code_verifier does not match the code_challenge")
		status, body = exchange(cd, verifier)
		wantOAuthError(t, "code after a failed exchange", status, body, http.StatusBadRequest, "invalid_grant", "already been used")

		// No verifier at all.
		cd, _ = code()
		status, body = exchange(cd, "")
		wantOAuthError(t, "no verifier", status, body, http.StatusBadRequest, "invalid_request", "code_verifier", "missing")

		// An expired code.
		cd, verifier = code()
		clock.Advance(config10Minutes)
		status, body = exchange(cd, verifier)
		wantOAuthError(t, "expired code", status, body, http.StatusBadRequest, "invalid_grant", "authorization code has expired")
		clock.Advance(-config10Minutes)

		// A revoked refresh token.
		cd, verifier = code()
		tok, err := conf.Exchange(ctx, cd, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		if status, body, _ := postForm(t, s.issuer+provider.PathRevoke, url.Values{"token": {tok.RefreshToken}}, c.ID, secret); status != http.StatusOK {
			t.Fatalf("revoke: %d %v", status, body)
		}
		status, body = refresh(tok.RefreshToken)
		wantOAuthError(t, "revoked refresh token", status, body, http.StatusBadRequest, "invalid_grant", "refresh token was revoked")

		// A refresh token that was never issued (the right shape, a wrong
		// signature).
		status, body = refresh(provider.PrefixRefreshToken + "bm90LWlzc3VlZA.bm90LXNpZ25lZA")
		wantOAuthError(t, "unknown refresh token", status, body, http.StatusBadRequest, "invalid_grant", "not issued by this server")

		// An expired refresh token.
		cd, verifier = code()
		tok, err = conf.Exchange(ctx, cd, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		clock.Advance(31 * 24 * time.Hour)
		status, body = refresh(tok.RefreshToken)
		wantOAuthError(t, "expired refresh token", status, body, http.StatusBadRequest, "invalid_grant", "refresh token has expired")
	})
}

// config10Minutes is beyond the longest authorization code lifespan
// (config.MaxAuthorizationCodeLifespan).
const config10Minutes = 10*time.Minute + time.Second
