package main

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/provider/admin"
)

// TestPKCEOptionalOnlyWhereAnOperatorSaysSo: every client must use PKCE
// (RFC 9700 §2.1.1), except a confidential client an operator made
// PKCE-optional, which then signs people in without it. Even that client
// cannot downgrade a code issued with a challenge, nor send a verifier for
// a code issued without one; a public client can never be exempt; and a
// client that loses the exemption while a person signs in gets no code.
func TestPKCEOptionalOnlyWhereAnOperatorSaysSo(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		ctx := context.Background()
		user := s.user("pia@example.com", alicePassword)
		legacy, legacySecret := s.client(admin.ClientSpec{Name: "Legacy", RedirectURIs: []string{appRedirect}, SkipConsent: true, PKCEOptional: true})
		strict, strictSecret := s.client(admin.ClientSpec{Name: "Strict", RedirectURIs: []string{appRedirect}, SkipConsent: true})
		legacyConf, strictConf := s.oauthConfig(legacy, legacySecret, "openid"), s.oauthConfig(strict, strictSecret, "openid")

		b := s.newBrowser()
		signInWith := func(conf *oauth2.Config, opts ...oauth2.AuthCodeOption) *page {
			t.Helper()
			p := b.get(conf.AuthCodeURL("pkce-state", opts...))
			if p.isLoginPage() {
				p = b.login(p, user.Email, alicePassword)
			}
			return p
		}

		// The exempt client: no challenge, no verifier.
		cb := signInWith(legacyConf).callback(t)
		code := cb.Get("code")
		if code == "" {
			t.Fatalf("PKCE-optional client without PKCE: no code: %v", cb)
		}
		if _, err := legacyConf.Exchange(ctx, code); err != nil {
			t.Fatalf("PKCE-optional client, exchange without a verifier: %v", err)
		}
		// A verifier for a code issued without a challenge: a downgrade.
		code = signInWith(legacyConf).callback(t).Get("code")
		if _, err := legacyConf.Exchange(ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier())); oauthErrorCode(err) != "invalid_grant" {
			t.Fatalf("verifier for a code without a challenge: %v, want invalid_grant", err)
		}
		// A code issued with a challenge needs its verifier, exempt or not.
		_, challenge := pkce()
		code = signInWith(legacyConf, challenge).callback(t).Get("code")
		if _, err := legacyConf.Exchange(ctx, code); oauthErrorCode(err) != "invalid_request" {
			// A missing parameter: invalid_request (RFC 6749 §5.2).
			t.Fatalf("code with a challenge, exchanged without its verifier: %v, want invalid_request", err)
		}

		// Every other client must send PKCE.
		if cb := signInWith(strictConf).callback(t); cb.Get("error") != "invalid_request" || !strings.Contains(cb.Get("error_description"), "PKCE") {
			t.Fatalf("client without the exemption, no PKCE: %v", cb)
		}

		// A public client cannot be exempt.
		_, _, err := s.app.admin.CreateClient(ctx, nil, admin.ClientSpec{Name: "SPA", Public: true, RedirectURIs: []string{appRedirect}, PKCEOptional: true})
		var ve *admin.ValidationError
		if !errors.As(err, &ve) || !strings.Contains(err.Error(), "PKCE") {
			t.Fatalf("public client with pkce_optional: %v, want a validation error", err)
		}

		// The exemption is withdrawn while a person signs in: no code.
		fresh := s.newBrowser()
		p := fresh.get(legacyConf.AuthCodeURL("pkce-state"))
		if !p.isLoginPage() {
			t.Fatalf("want the login page, got %d %s", p.status, p.url)
		}
		if _, err := s.app.admin.ChangeClient(ctx, nil, legacy.ID, func(spec *admin.ClientSpec) { spec.PKCEOptional = false }); err != nil {
			t.Fatal(err)
		}
		p = fresh.login(p, user.Email, alicePassword)
		if p.status == http.StatusSeeOther && strings.HasPrefix(p.location, appRedirect) {
			if q, _ := url.Parse(p.location); q.Query().Get("code") != "" {
				t.Fatalf("a code after the exemption was withdrawn: %s", p.location)
			}
		}
	})
}
