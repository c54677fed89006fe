package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/provider/admin"
)

// The endpoints that parse client input must never answer 5xx or panic,
// whatever the input. `go test` runs the seeds; `go test -fuzz` explores.

func FuzzTokenEndpoint(f *testing.F) {
	fx := newFixture(f, "http://127.0.0.1:8080")
	c, secret := fx.client(f, admin.ClientSpec{Name: "job", Scopes: []string{"api"}})
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
	c, _ := fx.client(f, admin.ClientSpec{Name: "web", RedirectURIs: []string{"https://app.example/cb"}})
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

// loginFixture is a fixture with a user, a client and an authorization
// flow waiting at the login page, and the CSRF token of that page.
type loginFixture struct {
	*fixture
	flow, csrfCookie, csrfToken string
}

func newLoginFixture(f *testing.F) *loginFixture {
	fx := newFixture(f, "http://127.0.0.1:8080")
	u, err := admin.BuildUser(admin.UserSpec{Email: "fuzz@example.com", Password: "fuzz-password-1"}, time.Now())
	if err != nil {
		f.Fatal(err)
	}
	if err := fx.store.CreateUser(context.Background(), u); err != nil {
		f.Fatal(err)
	}
	c, _ := fx.client(f, admin.ClientSpec{Name: "web", RedirectURIs: []string{"https://app.example/cb"}})
	q := url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {"https://app.example/cb"}, "scope": {"openid"},
		"state": {"state-1234"}, "code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {"S256"}}
	rec := fx.do(httptest.NewRequest(http.MethodGet, "/oauth2/authorize?"+q.Encode(), nil))
	loc, err := url.Parse(rec.Header().Get("Location"))
	if err != nil || loc.Query().Get("flow") == "" {
		f.Fatalf("authorize: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	page := fx.do(httptest.NewRequest(http.MethodGet, loc.String(), nil))
	lf := &loginFixture{fixture: fx, flow: loc.Query().Get("flow")}
	for _, ck := range page.Result().Cookies() {
		if strings.Contains(ck.Name, "csrf") {
			lf.csrfCookie, lf.csrfToken = ck.Name, ck.Value
		}
	}
	if lf.csrfToken == "" {
		f.Fatalf("login page set no CSRF cookie: %d", page.Code)
	}
	return lf
}

// FuzzLoginForm: whatever a browser (or anything else) posts to the login
// form, the answer is a page or a redirect, never a 5xx, and the e-mail it
// echoes back is escaped. mode bit 0 sends the real flow handle, bit 1 the
// real CSRF token, so the fuzzer reaches the password check too; extra is
// appended to the body unencoded.
func FuzzLoginForm(f *testing.F) {
	lf := newLoginFixture(f)
	for _, s := range []struct {
		email, password, flow, csrf, extra string
		mode                               byte
	}{
		{"fuzz@example.com", "fuzz-password-1", "", "", "", 3},
		{"fuzz@example.com", "wrong-password", "", "", "", 3},
		{"<script>alert(1)</script>@example.com", "x", "", "", "", 3},
		{"nobody@example.com", "fuzz-password-1", "no-such-flow", "", "", 2},
		{"fuzz@example.com", "fuzz-password-1", "", "bad-token", "", 1},
		{"fuzz@example.com\r\nX-Injected: 1", "p\x00w", "", "", "", 3},
		{"fuzz@example.com", "fuzz-password-1", "", "", "email=second@example.com", 3},
		{"", "", "", "", "%zz=%&&==", 3},
		{"fuzz@example.com", strings.Repeat("p", 5000), "", "", "", 3},
		{"\xff\xfe@example.com", "\u0085", "", "", "next=%2F%2Fevil.example", 2},
		{"", "", "", "", "next=/account/keys", 2},
	} {
		f.Add(s.email, s.password, s.flow, s.csrf, s.extra, s.mode)
	}
	f.Fuzz(func(t *testing.T, email, password, flow, csrf, extra string, mode byte) {
		if mode&1 != 0 {
			flow = lf.flow
		}
		if mode&2 != 0 {
			csrf = lf.csrfToken
		}
		post := func(email string) (string, *httptest.ResponseRecorder) {
			form := url.Values{"email": {email}, "password": {password}, "_csrf": {csrf}}
			if flow != "" {
				form.Set("flow", flow)
			}
			body := form.Encode()
			if extra != "" {
				body += "&" + extra
			}
			req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.AddCookie(&http.Cookie{Name: lf.csrfCookie, Value: lf.csrfToken})
			return body, lf.do(req)
		}
		body, rec := post(email)
		if rec.Code >= 500 {
			t.Fatalf("body %q: status %d: %s", body, rec.Code, rec.Body.String())
		}
		// An e-mail such as "<" or "</p>" is also a piece of the page's own
		// markup, so finding it is not yet a reflection: the same request
		// with the angle brackets replaced by "x" takes the same path and
		// shows how often the markup alone contains it.
		if strings.ContainsAny(email, "<>") && strings.Contains(rec.Body.String(), email) {
			_, neutral := post(strings.NewReplacer("<", "x", ">", "x").Replace(email))
			if strings.Count(rec.Body.String(), email) > strings.Count(neutral.Body.String(), email) {
				t.Fatalf("the e-mail %q is reflected unescaped", email)
			}
		}
		if loc := rec.Header().Get("Location"); loc != "" && !strings.HasPrefix(loc, "https://app.example/cb") &&
			!strings.HasPrefix(loc, "/consent?") && !strings.HasPrefix(loc, "/account") {
			t.Fatalf("body %q redirected to %q", body, loc)
		}
	})
}

// FuzzIntrospectionRevocation: the introspection (RFC 7662) and revocation
// (RFC 7009) forms, with and without client authentication, never get a
// 5xx; an authenticated introspection always answers {"active": bool}.
func FuzzIntrospectionRevocation(f *testing.F) {
	fx := newFixture(f, "http://127.0.0.1:8080")
	c, secret := fx.client(f, admin.ClientSpec{Name: "rs", Scopes: []string{"api"}})
	req := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader("grant_type=client_credentials&scope=api"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(c.ID, secret)
	rec := fx.do(req)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil || tok.AccessToken == "" {
		f.Fatalf("token: %d %s", rec.Code, rec.Body.String())
	}
	for _, seed := range []string{
		"token=" + tok.AccessToken,
		"token=" + tok.AccessToken + "&token_type_hint=access_token",
		"token=" + tok.AccessToken + "&token_type_hint=refresh_token",
		"token=gth_rt_nope.nope&token_type_hint=refresh_token",
		"token=gth_at_x.y&token=gth_at_z.w",
		"token=a%0Ab", "token=%00", "token=%c2%85", "token=%ff%fe", "token_type_hint=%7f",
		"token=gth_ak_0000000000000000000000000000000000000000000", "token=" + strings.Repeat("a", 10000),
		"", "&&&==", "%zz=%", "token=eyJhbGciOiJub25lIn0.e30.",
		"token=x&client_id=" + c.ID + "&client_secret=" + secret,
	} {
		f.Add(seed, false, true)
		f.Add(seed, true, true)
	}
	f.Add("token=x", false, false)
	f.Fuzz(func(t *testing.T, body string, revoke, auth bool) {
		path := "/oauth2/introspect"
		if revoke {
			path = "/oauth2/revoke"
		}
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if auth {
			req.SetBasicAuth(c.ID, secret)
		}
		rec := fx.do(req)
		if rec.Code >= 500 {
			t.Fatalf("%s body %q: status %d: %s", path, body, rec.Code, rec.Body.String())
		}
		if !revoke && auth && rec.Code == http.StatusOK {
			var out map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
				t.Fatalf("introspection body %q: invalid JSON %q", body, rec.Body.String())
			}
			if _, ok := out["active"].(bool); !ok {
				t.Fatalf("introspection body %q: no active member: %s", body, rec.Body.String())
			}
		}
	})
}
