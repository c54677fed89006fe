package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/login"
	"github.com/gatehouse-dev/gatehouse/provider/providertest"
	"github.com/gatehouse-dev/gatehouse/provider/registration"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
	"github.com/gatehouse-dev/gatehouse/templates"
)

type fixture struct {
	e      *echo.Echo // the public listener
	h      *Handler
	store  *bunstore.Store
	p      *provider.Provider
	login  *login.Service
	admin  *admin.Admin
	ring   *secret.Keyring
	issuer string
}

// newFixture builds the handlers for issuer on a fresh SQLite store, wired
// as the server wires them (registration off). Requests go straight to
// echo (httptest recorders), so the issuer can be https without TLS. mods
// adjust the handlers' options.
func newFixture(t testing.TB, issuer string, mods ...func(*Options)) *fixture {
	t.Helper()
	return newFixtureWith(t, issuer, provider.RegistrationPolicyOff, mods...)
}

// newFixtureWith is newFixture with a registration policy; mods also see
// the engine's options (and can change them) through o.Provider only
// after it is built.
func newFixtureWith(t testing.TB, issuer, policy string, mods ...func(*Options)) *fixture {
	t.Helper()
	return newFixtureOn(t, issuer, policy, nil, mods...)
}

// newFixtureOn is newFixtureWith whose withStore, when not nil, adjusts
// the options with the fixture's store at hand.
func newFixtureOn(t testing.TB, issuer, policy string, withStore func(*bunstore.Store, *Options), mods ...func(*Options)) *fixture {
	t.Helper()
	store := bunstoretest.Open(t, "sqlite", bunstore.Options{})
	pf := providertest.NewOn(t, store, providertest.Ring(t), func(o *provider.Options) {
		o.Issuer = issuer
		o.RegistrationPolicy = policy
	})
	signIn, err := login.New(login.Options{Store: store, Keyring: pf.Ring, SessionLifespan: time.Hour, FlowLifespan: time.Minute, Logger: pf.Logger})
	if err != nil {
		t.Fatal(err)
	}
	adm, err := admin.New(admin.Options{Store: store, Keyring: pf.Ring, APIKeys: pf.APIKeys, Bearer: pf.P, Grants: signIn, Logger: pf.Logger})
	if err != nil {
		t.Fatal(err)
	}
	var reg *registration.Registration
	if provider.NormalRegistrationPolicy(policy) != provider.RegistrationPolicyOff {
		if reg, err = registration.New(registration.Options{Store: store, Keyring: pf.Ring, Issuer: issuer, Policy: policy, Logger: pf.Logger}); err != nil {
			t.Fatal(err)
		}
	}
	pages, err := templates.Parse()
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Provider: pf.P, Login: signIn, Admin: adm, Registration: reg, Pages: pages, Keys: pf.Keys, Logger: pf.Logger,
		Ready: func(context.Context) error { return nil }}
	if withStore != nil {
		withStore(store, &opts)
	}
	for _, m := range mods {
		m(&opts)
	}
	h, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{e: h.Public(), h: h, store: store, p: pf.P, login: signIn, admin: adm, ring: pf.Ring, issuer: issuer}
}

func (f *fixture) do(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	f.e.ServeHTTP(rec, req)
	return rec
}

func (f *fixture) client(t testing.TB, spec admin.ClientSpec) (*storage.Client, string) {
	t.Helper()
	c, plain, err := f.admin.CreateClient(context.Background(), nil, spec)
	if err != nil {
		t.Fatal(err)
	}
	return c, plain
}

func TestHTTPSIssuerHardensCookiesAndHeaders(t *testing.T) {
	f := newFixture(t, "https://id.example.com")
	c, _ := f.client(t, admin.ClientSpec{Name: "web", RedirectURIs: []string{"https://app.example/cb"}})
	q := url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {"https://app.example/cb"}, "scope": {"openid"},
		"state": {"state-1234"}, "code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {"S256"}}
	rec := f.do(httptest.NewRequest(http.MethodGet, "/oauth2/authorize?"+q.Encode(), nil))
	if rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/login?flow=") {
		t.Fatalf("authorize: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	if hsts := rec.Header().Get("Strict-Transport-Security"); !strings.Contains(hsts, "max-age=") {
		t.Fatalf("no HSTS on https: %q", hsts)
	}

	login := f.do(httptest.NewRequest(http.MethodGet, rec.Header().Get("Location"), nil))
	if login.Code != http.StatusOK {
		t.Fatalf("login page: %d", login.Code)
	}
	var csrf *http.Cookie
	for _, ck := range login.Result().Cookies() {
		if strings.Contains(ck.Name, "csrf") {
			csrf = ck
		}
	}
	if csrf == nil || csrf.Name != "__Host-gth_csrf" || !csrf.Secure || !csrf.HttpOnly || csrf.Path != "/" || csrf.Domain != "" || csrf.SameSite != http.SameSiteLaxMode {
		t.Fatalf("CSRF cookie on https: %+v", csrf)
	}
	hd := login.Header()
	for name, want := range map[string]string{
		"X-Frame-Options":        "DENY",
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "no-referrer",
		"Cache-Control":          "no-store",
	} {
		if hd.Get(name) != want {
			t.Errorf("%s = %q, want %q", name, hd.Get(name), want)
		}
	}
	csp := hd.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "form-action 'self' https://app.example"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(login.Body.String(), "<script") {
		t.Error("inline script allowed or present")
	}
}

func TestHTTPIssuerCookiesWithoutPrefix(t *testing.T) {
	f := newFixture(t, "http://127.0.0.1:8080")
	rec := f.do(httptest.NewRequest(http.MethodGet, "/login?flow=x", nil))
	for _, ck := range rec.Result().Cookies() {
		if strings.HasPrefix(ck.Name, "__Host-") || ck.Secure {
			t.Fatalf("http issuer set %+v (browsers drop __Host-/Secure cookies over http)", ck)
		}
	}
	if rec.Header().Get("Strict-Transport-Security") != "" {
		t.Fatal("HSTS over http")
	}
}

func TestCORS(t *testing.T) {
	f := newFixture(t, "http://127.0.0.1:8080")
	spa, _ := f.client(t, admin.ClientSpec{Name: "spa", Public: true, RedirectURIs: []string{"http://127.0.0.1:3000/cb"}, AllowedOrigins: []string{"http://127.0.0.1:3000"}})

	// Discovery and JWKS are public.
	for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/jwks.json"} {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Origin", "https://anyone.example")
		if rec := f.do(req); rec.Code != http.StatusOK || rec.Header().Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%s: %d ACAO=%q", path, rec.Code, rec.Header().Get("Access-Control-Allow-Origin"))
		}
	}
	// The token endpoint lets only the client's registered origins read.
	for origin, allowed := range map[string]bool{"http://127.0.0.1:3000": true, "https://evil.example": false} {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"gth_rt_x.y"}, "client_id": {spa.ID}}
		req := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", origin)
		rec := f.do(req)
		got := rec.Header().Get("Access-Control-Allow-Origin")
		if allowed && got != origin || !allowed && got != "" {
			t.Errorf("origin %s: ACAO=%q (status %d)", origin, got, rec.Code)
		}
	}
	// Preflights: registered origins may send, others get no CORS headers.
	for origin, allowed := range map[string]bool{"http://127.0.0.1:3000": true, "https://evil.example": false, "http://127.0.0.1:3000.evil": false} {
		req := httptest.NewRequest(http.MethodOptions, "/oauth2/token", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		rec := f.do(req)
		if rec.Code != http.StatusNoContent {
			t.Fatalf("preflight from %s: %d", origin, rec.Code)
		}
		got := rec.Header().Get("Access-Control-Allow-Origin")
		if allowed && (got != origin || !strings.Contains(rec.Header().Get("Access-Control-Allow-Methods"), "POST")) || !allowed && got != "" {
			t.Errorf("preflight from %s: %v", origin, rec.Header())
		}
	}
}

func TestDiscoveryListsWhatWorks(t *testing.T) {
	f := newFixture(t, "http://127.0.0.1:8080")
	rec := f.do(httptest.NewRequest(http.MethodGet, "/.well-known/oauth-authorization-server", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`"issuer":"http://127.0.0.1:8080"`, `"code_challenge_methods_supported":["S256"]`, `"response_types_supported":["code"]`,
		`"authorization_response_iss_parameter_supported":true`, `"id_token_signing_alg_values_supported":["RS256","ES256"]`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("discovery lacks %s", want)
		}
	}
	for _, want := range []string{`"private_key_jwt"`, `"pushed_authorization_request_endpoint":"http://127.0.0.1:8080/oauth2/par"`, `"require_pushed_authorization_requests":false`} {
		if !strings.Contains(body, want) {
			t.Errorf("discovery lacks %s", want)
		}
	}
	for _, absent := range []string{"implicit", "password", "token id_token", `"plain"`, "client_secret_jwt", "HS256"} {
		if strings.Contains(body, absent) {
			t.Errorf("discovery advertises %q, which does not work", absent)
		}
	}
}

func TestStaticAndErrors(t *testing.T) {
	f := newFixture(t, "http://127.0.0.1:8080")
	rec := f.do(httptest.NewRequest(http.MethodGet, "/static/style.css", nil))
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/css") {
		t.Fatalf("style.css: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	// Anything but a file's own name is a 404: other files, the folder,
	// escapes, and names that cannot be decoded (the file server answered
	// %ff with a 500 and "." with a redirect to a listing).
	for _, path := range []string{"/static/", "/static/../templates.go", "/static/login.html", "/static/%ff",
		"/static/style.css%ff", "/static/.", "/static/./style.css", "/static/%2e%2e/templates.go", "/static//style.css",
		"/static/style.css/", "/static/a%00b", "/static/%c0%ae%c0%ae/templates.go"} {
		if rec := f.do(httptest.NewRequest(http.MethodGet, path, nil)); rec.Code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", path, rec.Code)
		}
	}
	// A panic in a handler becomes a 500, and the server keeps serving.
	h := &Handler{log: slog.New(slog.DiscardHandler)}
	e := echo.New()
	e.HTTPErrorHandler = func(err error, c echo.Context) { _ = c.NoContent(http.StatusInternalServerError) }
	e.GET("/boom", func(echo.Context) error { panic("boom") }, h.recoverPanics)
	rec = httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/boom", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("panic: %d", rec.Code)
	}
}
