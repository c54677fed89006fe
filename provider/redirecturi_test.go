package provider

import (
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/provider/secret"
)

// TestRedirectURIMatches: redirect URIs match as strings; a registered
// loopback http URI may differ in its port only (RFC 8252 §7.3).
func TestRedirectURIMatches(t *testing.T) {
	registered := []string{
		"http://127.0.0.1/callback",
		"http://[::1]:8080/cb?app=1",
		"https://app.example/cb",
		"http://localhost:3000/cb",
		"https://127.0.0.1/secure",
	}
	for _, tc := range []struct {
		requested string
		want      bool
	}{
		// Exact matches.
		{"http://127.0.0.1/callback", true},
		{"http://[::1]:8080/cb?app=1", true},
		{"https://app.example/cb", true},
		{"http://localhost:3000/cb", true},
		// The port of a loopback IP literal may vary: added, changed, left out.
		{"http://127.0.0.1:51234/callback", true},
		{"http://127.0.0.1:1/callback", true},
		{"http://127.0.0.1:65535/callback", true},
		{"http://[::1]/cb?app=1", true},
		{"http://[::1]:61000/cb?app=1", true},
		// Invalid ports.
		{"http://127.0.0.1:0/callback", false},
		{"http://127.0.0.1:028999/callback", false},
		{"http://127.0.0.1:08080/callback", false},
		{"http://127.0.0.1:99999/callback", false},
		{"http://127.0.0.1:65536/callback", false},
		{"http://127.0.0.1:/callback", false},
		{"http://127.0.0.1:+80/callback", false},
		{"http://127.0.0.1:8x/callback", false},
		// Anything else that differs.
		{"http://evil@127.0.0.1:51234/callback", false},
		{"http://evil@127.0.0.1/callback", false},
		{"http://evil:pw@127.0.0.1:51234/callback", false},
		{"HTTP://127.0.0.1:51234/callback", false},
		{"Http://127.0.0.1/callback", false},
		{"https://127.0.0.1:51234/callback", false},
		{"http://127.0.0.1:51234/%63allback", false},
		{"http://127.0.0.1:51234/callback%2F", false},
		{"http://127.0.0.1:51234/callback/", false},
		{"http://127.0.0.1:51234/Callback", false},
		{"http://127.0.0.1:51234/callback?x=1", false},
		{"http://127.0.0.1:51234/callback#frag", false},
		{"http://127.0.0.2:51234/callback", false},
		{"http://127.1:51234/callback", false},
		{"http://[::1]:61000/cb?app=2", false},
		{"http://[0:0:0:0:0:0:0:1]:61000/cb?app=1", false},
		{"http://[::ffff:127.0.0.1]:61000/callback", false},
		// Only loopback IP literals over http vary in the port.
		{"http://localhost:3001/cb", false},
		{"http://localhost/cb", false},
		{"https://app.example:8443/cb", false},
		{"http://127.0.0.1:51234/secure", false},
		{"https://127.0.0.1:51234/secure", false},
		{"", false},
	} {
		if got := RedirectURIMatches(tc.requested, registered); got != tc.want {
			t.Errorf("RedirectURIMatches(%q) = %v, want %v", tc.requested, got, tc.want)
		}
	}
}

// TestRegisteredRedirectURIs: a redirect URI that could never be matched
// as written, or that carries what a redirect URI must not, is refused at
// registration with invalid_redirect_uri.
func TestRegisteredRedirectURIs(t *testing.T) {
	h := secret.NewHasher(mustRing(t))
	for _, tc := range []struct {
		uri string
		ok  bool
	}{
		{"https://app.example/cb", true},
		{"https://app.example:8443/cb", true},
		{"http://127.0.0.1/callback", true},
		{"http://127.0.0.1:3000/callback", true},
		{"http://[::1]:3000/callback", true},
		{"http://localhost:3000/cb", true},
		{"https://app.example/c%20b?x=1", true},
		{"http://evil@127.0.0.1:3000/cb", false},
		{"https://user:pw@app.example/cb", false},
		{"https://app.example/cb#frag", false},
		{"https://app.example/cb#", false},
		{"HTTPS://app.example/cb", false},
		{"HTTP://127.0.0.1/cb", false},
		{"http://127.0.0.1:0/cb", false},
		{"http://127.0.0.1:028999/cb", false},
		{"http://127.0.0.1:99999/cb", false},
		{"http://127.0.0.1:/cb", false},
		{"https://app.example:0/cb", false},
		{"http://app.example/cb", false},
		{"https://*.app.example/cb", false},
		{"app.example/cb", false},
	} {
		_, _, err := BuildClient(ClientSpec{Name: "app", RedirectURIs: []string{tc.uri}}, h, time.Now())
		if tc.ok {
			if err != nil {
				t.Errorf("%q refused: %v", tc.uri, err)
			}
			continue
		}
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.RegistrationErrorCode() != ErrorInvalidRedirectURI {
			t.Errorf("%q: got %v, want invalid_redirect_uri", tc.uri, err)
		}
	}
}
