package provider

import (
	"testing"
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
