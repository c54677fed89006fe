package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/provider/admin"
)

// TestLoopbackRedirectURIPort: a native app registered with a loopback
// redirect URI signs in on any port it listens on (RFC 8252 §7.3), but a
// URI that differs in anything else — here userinfo and an invalid port —
// gets an error page: no sign-in, no redirect.
func TestLoopbackRedirectURIPort(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		s.user("native@example.com", alicePassword)
		const registered = "http://127.0.0.1/callback"
		c, _ := s.client(admin.ClientSpec{Name: "Desktop app", Public: true, RedirectURIs: []string{registered}, SkipConsent: true})
		conf := s.oauthConfig(c, "", "openid")
		b := s.newBrowser()

		for _, refused := range []string{"http://evil@127.0.0.1:51234/callback", "http://127.0.0.1:028999/callback"} {
			conf.RedirectURL = refused
			_, challenge := pkce()
			p := b.get(conf.AuthCodeURL(randomString(t, 16), challenge))
			if p.status != http.StatusBadRequest || p.location != "" || p.isLoginPage() {
				t.Fatalf("redirect_uri %s: %d %q, want a 400 error page", refused, p.status, p.location)
			}
		}

		conf.RedirectURL = "http://127.0.0.1:51234/callback"
		verifier, challenge := pkce()
		p := b.get(conf.AuthCodeURL(randomString(t, 16), challenge))
		p = b.login(p, "native@example.com", alicePassword)
		if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, conf.RedirectURL+"?") {
			t.Fatalf("the app's own port: %d %q", p.status, p.location)
		}
		if _, err := conf.Exchange(context.Background(), p.callback(t).Get("code"), oauth2.VerifierOption(verifier)); err != nil {
			t.Fatalf("exchange on the app's own port: %v", err)
		}
	})
}
