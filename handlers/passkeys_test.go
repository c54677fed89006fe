package handlers

import (
	"context"
	"slices"
	"time"

	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/storage"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/passkey"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
)

// newPasskeyFixture is newFixture with passkeys wired as the server wires
// them.
func newPasskeyFixture(t *testing.T, issuer string) *fixture {
	t.Helper()
	return newFixtureOn(t, issuer, provider.RegistrationPolicyOff, func(store *bunstore.Store, o *Options) {
		pk, err := passkey.New(passkey.Options{Store: store, Issuer: issuer, PasswordLogin: true})
		if err != nil {
			t.Fatal(err)
		}
		o.Passkeys = pk
	})
}

// csrfOf returns the CSRF cookie a page set and the token in its forms.
func csrfOf(t *testing.T, rec *httptest.ResponseRecorder) (*http.Cookie, string) {
	t.Helper()
	var ck *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if strings.HasSuffix(c.Name, "gth_csrf") {
			ck = c
		}
	}
	m := regexp.MustCompile(`name="_csrf" value="([^"]+)"`).FindStringSubmatch(rec.Body.String())
	if ck == nil || m == nil {
		t.Fatalf("no CSRF cookie or token on the page (%d)", rec.Code)
	}
	return ck, m[1]
}

var inlineScript = regexp.MustCompile(`<script(?:\s[^>]*)?>`)

// TestPasskeyPagesCSP: the sign-in page and the passkeys section load the
// passkey script from this origin only (script-src 'self', connect-src
// 'self' for the begin endpoint), with no inline script; pages without a
// ceremony keep the policy without any script.
func TestPasskeyPagesCSP(t *testing.T) {
	f := newPasskeyFixture(t, "http://localhost:8080")
	login := f.do(httptest.NewRequest(http.MethodGet, "/login", nil))
	csp := login.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "connect-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Fatalf("login page CSP %q: want script-src 'self' and connect-src 'self' only", csp)
	}
	body := login.Body.String()
	for _, tag := range inlineScript.FindAllString(body, -1) {
		if tag != `<script src="/static/passkeys.js" defer>` {
			t.Errorf("login page has a script that is not the passkey script: %s", tag)
		}
	}
	if !strings.Contains(body, `autocomplete="username webauthn"`) || !strings.Contains(body, `id="passkey-signin"`) {
		t.Errorf("login page lacks the passkey autofill or button")
	}
	js := f.do(httptest.NewRequest(http.MethodGet, "/static/passkeys.js", nil))
	if js.Code != http.StatusOK || !strings.Contains(js.Header().Get("Content-Type"), "javascript") {
		t.Fatalf("passkeys.js: %d %q", js.Code, js.Header().Get("Content-Type"))
	}
	for _, path := range []string{"/account/apps", "/nowhere", "/oauth2/logout"} {
		rec := f.do(httptest.NewRequest(http.MethodGet, path, nil))
		if got := rec.Header().Get("Content-Security-Policy"); strings.Contains(got, "script-src") {
			t.Errorf("%s: CSP %q allows script", path, got)
		}
		if strings.Contains(rec.Body.String(), "<script") {
			t.Errorf("%s: the page has a script", path)
		}
	}
}

// TestPasskeyBeginGuards: the begin endpoint answers only a same-origin
// request with the page's CSRF token in X-CSRF-Token, and then never asks
// for an account: allowCredentials is empty and user verification is
// required (a discoverable credential).
func TestPasskeyBeginGuards(t *testing.T) {
	f := newPasskeyFixture(t, "http://localhost:8080")
	ck, token := csrfOf(t, f.do(httptest.NewRequest(http.MethodGet, "/login", nil)))
	begin := func(origin, token string, fetchSite ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/login/passkey/begin", strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		for _, s := range fetchSite {
			req.Header.Set("Sec-Fetch-Site", s)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if token != "" {
			req.Header.Set("X-CSRF-Token", token)
		}
		req.AddCookie(ck)
		return f.do(req)
	}
	for name, rec := range map[string]*httptest.ResponseRecorder{
		"no origin":                   begin("", token),
		"other origin":                begin("https://evil.example", token),
		"no token":                    begin("http://localhost:8080", ""),
		"wrong token":                 begin("http://localhost:8080", token+"x"),
		"cross-site":                  begin("http://localhost:8080", token, "cross-site"),
		"same-site":                   begin("http://localhost:8080", token, "same-site"),
		"no token, same-origin fetch": begin("http://localhost:8080", "", "same-origin"),
	} {
		if rec.Code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, rec.Code)
		}
	}
	// A browser's same-origin fetch (the page's token is then echo's
	// fixed one), and a browser without fetch metadata (double submit).
	if rec := begin("http://localhost:8080", "page-token", "same-origin"); rec.Code != http.StatusOK {
		t.Fatalf("same-origin begin: %d %s", rec.Code, rec.Body)
	}
	rec := begin("http://localhost:8080", token)
	if rec.Code != http.StatusOK {
		t.Fatalf("begin: %d %s", rec.Code, rec.Body)
	}
	var opts struct {
		PublicKey struct {
			Challenge        string            `json:"challenge"`
			RPID             string            `json:"rpId"`
			AllowCredentials []json.RawMessage `json:"allowCredentials"`
			UserVerification string            `json:"userVerification"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &opts); err != nil {
		t.Fatal(err)
	}
	pk := opts.PublicKey
	if pk.Challenge == "" || pk.RPID != "localhost" || len(pk.AllowCredentials) != 0 || pk.UserVerification != "required" {
		t.Fatalf("begin options = %+v; want a challenge, rp id localhost, no allowCredentials, UV required", pk)
	}
	if got := rec.Header().Get("Set-Cookie"); !strings.Contains(got, "gth_webauthn=") || !strings.Contains(got, "HttpOnly") {
		t.Fatalf("no ceremony cookie: %q", got)
	}

	// A finish with bad input is the sign-in page with one message.
	var ceremony *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == "gth_webauthn" {
			ceremony = c
		}
	}
	for _, credential := range []string{"{not json", `{"id":"x","type":"public-key","response":{"userHandle":"AA"}}`, strings.Repeat("a", 40<<10)} {
		form := url.Values{"_csrf": {token}, "credential": {credential}}
		req := httptest.NewRequest(http.MethodPost, "/login/passkey", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(ck)
		req.AddCookie(ceremony)
		if rec := f.do(req); rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "could not sign you in") {
			t.Errorf("sign-in with credential %.20q: %d, want 401 and the message", credential, rec.Code)
		}
	}
}

// TestPasskeyRegisterBegin: a signed-in person's registration begins with
// a discoverable credential required and user verification preferred.
func TestPasskeyRegisterBegin(t *testing.T) {
	f := newPasskeyFixture(t, "http://localhost:8080")
	u := &storage.User{ID: "user-1", Email: "reg@example.com", CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := f.store.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	handle, _, err := f.login.Start(context.Background(), u, time.Now(), provider.MethodPassword)
	if err != nil {
		t.Fatal(err)
	}
	session := &http.Cookie{Name: "gth_session", Value: handle}
	req := httptest.NewRequest(http.MethodGet, PathAccountPasskeys, nil)
	req.AddCookie(session)
	page := f.do(req)
	ck, token := csrfOf(t, page)
	req = httptest.NewRequest(http.MethodPost, PathAccountPasskeys+"/begin", strings.NewReader("{}"))
	req.Header.Set("Origin", "http://localhost:8080")
	req.Header.Set("X-CSRF-Token", token)
	req.AddCookie(ck)
	req.AddCookie(session)
	rec := f.do(req)
	if rec.Code != http.StatusOK {
		t.Fatalf("begin registration: %d %s", rec.Code, rec.Body)
	}
	var opts struct {
		PublicKey struct {
			AuthenticatorSelection struct {
				ResidentKey      string `json:"residentKey"`
				UserVerification string `json:"userVerification"`
			} `json:"authenticatorSelection"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &opts); err != nil {
		t.Fatal(err)
	}
	if sel := opts.PublicKey.AuthenticatorSelection; sel.ResidentKey != "required" || sel.UserVerification != "preferred" {
		t.Fatalf("authenticator selection = %+v; want resident key required, UV preferred", sel)
	}

	// Bad input to the finish is a page saying so, never a 500; the
	// ceremony is spent either way.
	var ceremony *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == "gth_webauthn" {
			ceremony = c
		}
	}
	for _, credential := range []string{"{not json", `{"id":"x","type":"public-key","response":{}}`, "", strings.Repeat("a", 40<<10)} {
		form := url.Values{"_csrf": {token}, "name": {"Key"}, "credential": {credential}}
		req = httptest.NewRequest(http.MethodPost, PathAccountPasskeys+"/add", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(ck)
		req.AddCookie(session)
		req.AddCookie(ceremony)
		if rec := f.do(req); rec.Code != http.StatusBadRequest {
			t.Errorf("finish with credential %.20q: %d, want 400", credential, rec.Code)
		}
	}
}

// TestSignInPathsAreReservedUpstreamIDs: every page of gatehouse's own
// under /login/ has its first segment in config.ReservedUpstreamIDs, so
// that no upstream can take an id that would be shadowed by it
// (/login/:upstream).
func TestSignInPathsAreReservedUpstreamIDs(t *testing.T) {
	f := newPasskeyFixture(t, "https://localhost")
	for _, r := range f.e.Routes() {
		rest, ok := strings.CutPrefix(r.Path, "/login/")
		if !ok || strings.HasPrefix(rest, ":") {
			continue
		}
		first, _, _ := strings.Cut(rest, "/")
		if !slices.Contains(config.ReservedUpstreamIDs, first) {
			t.Errorf("route %s %s: %q is not in config.ReservedUpstreamIDs", r.Method, r.Path, first)
		}
	}
}
