package main

import (
	"html"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/provider/admin"
)

// TestAuthorizeErrorPagesInPlainWords: an authorization error that cannot
// go back to the app shows a person one plain sentence and the OAuth error
// code, and a developer (in a collapsed section) what is wrong: the
// redirect_uri received against the registered ones, or that no client
// has the id received. Values from the request are escaped; the library's
// boilerplate and the client's secret are never shown.
func TestAuthorizeErrorPagesInPlainWords(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		c, secret := s.client(admin.ClientSpec{Name: "Photo <Album>", RedirectURIs: []string{appRedirect}, SkipConsent: true})
		conf := s.oauthConfig(c, secret, "openid")
		b := s.newBrowser()
		_, challenge := pkce()

		check := func(name string, p *page, wantCode string, want ...string) {
			t.Helper()
			if p.status != http.StatusBadRequest && p.status != http.StatusUnauthorized || p.location != "" {
				t.Fatalf("%s: %d location=%q, want an error page", name, p.status, p.location)
			}
			for _, w := range append([]string{
				"Error code: <code>" + wantCode + "</code>",
				`<details class="developer-details">`,
			}, want...) {
				if !strings.Contains(p.body, w) {
					t.Errorf("%s: page lacks %q:\n%s", name, w, p.body)
				}
			}
			for _, never := range []string{"The request is missing a required parameter", secret, "<evil>"} {
				if strings.Contains(p.body, never) {
					t.Errorf("%s: page shows %q", name, never)
				}
			}
		}

		received := "https://attacker.example/cb?<evil>"
		bad := *conf
		bad.RedirectURL = received
		p := b.get(bad.AuthCodeURL("s", challenge))
		check("unregistered redirect_uri", p, "invalid_request", "this service cannot accept",
			html.EscapeString(`redirect_uri received: "`+received+`"`),
			html.EscapeString(`registered for this client`),
			html.EscapeString(`"`+appRedirect+`"`),
			html.EscapeString(`Client: "Photo <Album>"`))

		unknown := *conf
		unknown.ClientID = "no-such-<client>"
		p = b.get(unknown.AuthCodeURL("s", challenge))
		if p.status != http.StatusUnauthorized || !strings.Contains(p.body, "is not registered with this sign-in service") {
			t.Fatalf("unknown client: %d %.400s", p.status, p.body)
		}
		if !strings.Contains(p.body, html.EscapeString(`client_id received: "no-such-<client>". No client with this id is registered here.`)) {
			t.Errorf("unknown client: the page does not name the client id received:\n%s", p.body)
		}
	})
}
