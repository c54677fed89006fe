package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
)

// TestAccountAppsRevoke: the account page lists an allowed app with its
// scopes; revoking it kills the grant's tokens and brings consent back.
func TestAccountAppsRevoke(t *testing.T) {
	t.Parallel()
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
