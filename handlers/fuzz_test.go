package handlers

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/provider"
)

// The endpoints that parse client input must never answer 5xx or panic,
// whatever the input. `go test` runs the seeds; `go test -fuzz` explores.

func FuzzTokenEndpoint(f *testing.F) {
	fx := newFixture(f, "http://127.0.0.1:8080")
	c, secret := fx.client(f, provider.ClientSpec{Name: "job", Scopes: []string{"api"}})
	for _, seed := range []string{
		"grant_type=client_credentials&scope=api",
		"grant_type=authorization_code&code=gth_ac_x.y&code_verifier=abc&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb",
		"grant_type=refresh_token&refresh_token=gth_rt_a.b",
		"grant_type=client_credentials&grant_type=client_credentials",
		"%zz=%", "a=%ff%fe", "scope=" + strings.Repeat("x", 5000), "", "&&&==",
		"grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=a.b.c",
		"grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=e30.e30.",
	} {
		f.Add(seed, true)
	}
	f.Fuzz(func(t *testing.T, body string, auth bool) {
		req := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if auth {
			req.SetBasicAuth(c.ID, secret)
		}
		if rec := fx.do(req); rec.Code >= 500 {
			t.Fatalf("body %q: status %d: %s", body, rec.Code, rec.Body.String())
		}
	})
}

func FuzzAuthorizeEndpoint(f *testing.F) {
	fx := newFixture(f, "http://127.0.0.1:8080")
	c, _ := fx.client(f, provider.ClientSpec{Name: "web", RedirectURIs: []string{"https://app.example/cb"}})
	base := "response_type=code&client_id=" + c.ID + "&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&state=state-1234"
	for _, seed := range []string{
		base + "&scope=openid&code_challenge=" + strings.Repeat("a", 43) + "&code_challenge_method=S256",
		base + "&scope=openid&prompt=none%20login&max_age=-5",
		base + "&request=eyJhbGciOiJub25lIn0.e30.",
		base + "&response_mode=form_post&nonce=x",
		"client_id=%ff", "redirect_uri=javascript:alert(1)", "", "response_type=token%20id_token&client_id=" + c.ID,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, query string) {
		if strings.ContainsAny(query, " #\r\n") {
			return // not a request line a client can send
		}
		req := httptest.NewRequest(http.MethodGet, "/oauth2/authorize", nil)
		req.URL.RawQuery = query
		rec := fx.do(req)
		if rec.Code >= 500 {
			t.Fatalf("query %q: status %d: %s", query, rec.Code, rec.Body.String())
		}
		if loc := rec.Header().Get("Location"); loc != "" && !strings.HasPrefix(loc, "https://app.example/cb") && !strings.HasPrefix(loc, "/login?") && !strings.HasPrefix(loc, "/consent?") {
			t.Fatalf("query %q redirected to %q", query, loc)
		}
	})
}
