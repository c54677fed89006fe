package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
)

// TestCORSForSPAs: preflight and token requests from a registered origin
// get CORS headers; from any other origin they get none.
func TestCORSForSPAs(t *testing.T) {
	t.Parallel()
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
