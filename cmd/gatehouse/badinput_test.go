package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/handlers"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

// TestAuthorizeBadInput: what a broken or hostile authorization request
// gets. Before the redirect URI is verified, an error page (never a
// redirect); after, the RFC 6749 error on the redirect.
func TestAuthorizeBadInput(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		s.user("erin@example.com", alicePassword)
		c, secret := s.client(admin.ClientSpec{Name: "App", RedirectURIs: []string{appRedirect}, SkipConsent: true})
		conf := s.oauthConfig(c, secret, "openid")
		b := s.newBrowser()
		_, challenge := pkce()
		state := randomString(t, 16)

		errorPage := func(name, rawURL string) {
			t.Helper()
			p := b.get(rawURL)
			if p.status < 400 || p.status >= 500 || p.location != "" || !strings.Contains(p.header.Get("Content-Type"), "text/html") {
				t.Errorf("%s: want a 4xx error page and no redirect, got %d location=%q type=%q", name, p.status, p.location, p.header.Get("Content-Type"))
			}
		}
		redirectError := func(name, rawURL, wantError string) {
			t.Helper()
			p := b.get(rawURL)
			if p.status != http.StatusSeeOther && p.status != http.StatusFound {
				t.Errorf("%s: want a redirect with error %s, got %d: %.200s", name, wantError, p.status, p.body)
				return
			}
			u, _ := url.Parse(p.location)
			if !strings.HasPrefix(p.location, appRedirect) || u.Query().Get("error") != wantError || u.Query().Get("state") != state {
				t.Errorf("%s: redirect %q, want error=%s with state", name, p.location, wantError)
			}
		}

		bad := *conf
		bad.RedirectURL = "http://127.0.0.1:9/evil"
		errorPage("unregistered redirect_uri", bad.AuthCodeURL(state, challenge))
		bad.RedirectURL = "https://attacker.example/callback"
		errorPage("foreign redirect_uri", bad.AuthCodeURL(state, challenge))
		unknown := *conf
		unknown.ClientID = "no-such-client"
		errorPage("unknown client", unknown.AuthCodeURL(state, challenge))
		errorPage("duplicated redirect_uri", conf.AuthCodeURL(state, challenge)+"&redirect_uri="+url.QueryEscape(appRedirect))
		errorPage("invalid UTF-8", conf.AuthCodeURL(state, challenge)+"&login_hint=%ff%fe")

		redirectError("missing PKCE", conf.AuthCodeURL(state), "invalid_request")
		redirectError("plain PKCE", conf.AuthCodeURL(state, oauth2.SetAuthURLParam("code_challenge", strings.Repeat("a", 43)), oauth2.SetAuthURLParam("code_challenge_method", "plain")), "invalid_request")
		wide := *conf
		wide.Scopes = []string{"openid", "admin:everything"}
		redirectError("unknown scope", wide.AuthCodeURL(state, challenge), "invalid_scope")
		redirectError("implicit flow", conf.AuthCodeURL(state, challenge, oauth2.SetAuthURLParam("response_type", "token")), "unsupported_response_type")
		redirectError("unsupported prompt", conf.AuthCodeURL(state, challenge, oauth2.SetAuthURLParam("prompt", "select_account")), "invalid_request")

		// The callback never carries a token; only the code.
		cb := b.authorizeAndLogin(conf.AuthCodeURL(state, challenge), "erin@example.com", alicePassword)
		for k := range cb {
			if k != "code" && k != "state" && k != "iss" && k != "scope" {
				t.Errorf("unexpected callback parameter %q", k)
			}
		}
	})
}

// TestTokenBadInput: malformed, oversized, repeated and invalid token
// requests get 4xx JSON, never a 500; a reused code revokes what it gave.
func TestTokenBadInput(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		s.user("frank@example.com", alicePassword)
		c, secret := s.client(admin.ClientSpec{Name: "App", RedirectURIs: []string{appRedirect}, SkipConsent: true})
		conf := s.oauthConfig(c, secret, "openid", "offline_access")
		tokenURL := s.issuer + provider.PathToken

		send := func(name, contentType, body string, wantStatus int, wantError string) {
			t.Helper()
			req, _ := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(body))
			req.Header.Set("Content-Type", contentType)
			req.SetBasicAuth(c.ID, secret)
			status, out, hdr := doJSON(t, req)
			if status != wantStatus || (wantError != "" && out["error"] != wantError) {
				t.Errorf("%s: got %d %v, want %d %s", name, status, out, wantStatus, wantError)
			}
			if status >= 500 {
				t.Errorf("%s: server error %d", name, status)
			}
			if cc := hdr.Get("Cache-Control"); status < 500 && !strings.Contains(cc, "no-store") {
				t.Errorf("%s: Cache-Control %q", name, cc)
			}
		}
		form := "application/x-www-form-urlencoded"
		send("malformed body", form, "grant_type=%zz&code=%", http.StatusBadRequest, "invalid_request")
		send("empty body", form, "", http.StatusBadRequest, "invalid_request")
		send("unknown grant", form, "grant_type=password&username=a&password=b", http.StatusBadRequest, "")
		send("repeated grant_type", form, "grant_type=client_credentials&grant_type=authorization_code", http.StatusBadRequest, "invalid_request")
		send("invalid UTF-8", form, "grant_type=authorization_code&code=%ff%fe%fd", http.StatusBadRequest, "invalid_request")
		send("unknown code", form, "grant_type=authorization_code&code=gth_ac_nope.nope&redirect_uri="+url.QueryEscape(appRedirect)+"&code_verifier="+strings.Repeat("v", 43), http.StatusBadRequest, "invalid_grant")
		send("unknown refresh token", form, "grant_type=refresh_token&refresh_token=gth_rt_nope.nope", http.StatusBadRequest, "invalid_grant")
		huge := "grant_type=client_credentials&scope=" + strings.Repeat("a", 200<<10)
		req, _ := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(huge))
		req.Header.Set("Content-Type", form)
		if status, _, _ := doJSON(t, req); status != http.StatusRequestEntityTooLarge {
			t.Errorf("oversized body: got %d, want 413", status)
		}

		// A wrong PKCE verifier: invalid_grant, and the code is spent.
		b := s.newBrowser()
		verifier, challenge := pkce()
		cb := b.authorizeAndLogin(conf.AuthCodeURL(randomString(t, 16), challenge), "frank@example.com", alicePassword)
		_, err := conf.Exchange(context.Background(), cb.Get("code"), oauth2.VerifierOption(oauth2.GenerateVerifier()))
		if code := oauthErrorCode(err); code != "invalid_grant" {
			t.Fatalf("wrong verifier: %s", code)
		}
		if _, err := conf.Exchange(context.Background(), cb.Get("code"), oauth2.VerifierOption(verifier)); oauthErrorCode(err) != "invalid_grant" {
			t.Fatalf("a code survived a failed PKCE check: %v", err)
		}
		// A good exchange; the code then cannot be used again, and its
		// reuse revokes what the first exchange issued.
		verifier, challenge = pkce()
		cb = b.authorizeAndLogin(conf.AuthCodeURL(randomString(t, 16), challenge), "frank@example.com", alicePassword)
		tok, err := conf.Exchange(context.Background(), cb.Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		if !s.active(t, c.ID, secret, tok.AccessToken) {
			t.Fatal("fresh token inactive")
		}
		_, err = conf.Exchange(context.Background(), cb.Get("code"), oauth2.VerifierOption(verifier))
		if code := oauthErrorCode(err); code != "invalid_grant" {
			t.Fatalf("reused code: %s", code)
		}
		if s.active(t, c.ID, secret, tok.AccessToken) {
			t.Fatal("the access token of a reused code is still active")
		}
		if _, err := conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); oauthErrorCode(err) != "invalid_grant" {
			t.Fatalf("the refresh token of a reused code still works: %v", err)
		}
	})
}

// TestOtherEndpointsBadInput: userinfo, logout, unknown paths.
func TestOtherEndpointsBadInput(t *testing.T) {
	t.Parallel()
	s := startServer(t, "sqlite")
	c, _ := s.client(admin.ClientSpec{Name: "App", RedirectURIs: []string{appRedirect}, PostLogoutRedirectURIs: []string{logoutReturn}})

	for _, auth := range []string{"", "Bearer ", "Bearer gth_at_nope.nope", "Basic Zm9vOmJhcg=="} {
		req, _ := http.NewRequest(http.MethodGet, s.issuer+provider.PathUserinfo, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		status, out, hdr := doJSON(t, req)
		if status != http.StatusUnauthorized || out["error"] != "invalid_token" || !strings.Contains(hdr.Get("WWW-Authenticate"), "invalid_token") {
			t.Errorf("userinfo with %q: %d %v %q", auth, status, out, hdr.Get("WWW-Authenticate"))
		}
	}
	// Tokens in the query string are ignored.
	req, _ := http.NewRequest(http.MethodGet, s.issuer+provider.PathUserinfo+"?access_token=gth_at_x.y", nil)
	if status, _, _ := doJSON(t, req); status != http.StatusUnauthorized {
		t.Errorf("userinfo with a query token: %d", status)
	}

	b := s.newBrowser()
	for name, q := range map[string]url.Values{
		"unregistered post_logout_redirect_uri": {"client_id": {c.ID}, "post_logout_redirect_uri": {"https://evil.example/"}},
		"redirect without client":               {"post_logout_redirect_uri": {logoutReturn}},
		"forged id_token_hint":                  {"id_token_hint": {"eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."}, "post_logout_redirect_uri": {logoutReturn}},
		"unknown client":                        {"client_id": {"nope"}},
	} {
		p := b.get(s.issuer + provider.PathLogout + "?" + q.Encode())
		if p.status != http.StatusBadRequest || p.location != "" {
			t.Errorf("logout %s: %d location %q", name, p.status, p.location)
		}
	}
	// Logout without a session and without a redirect: the signed-out page.
	if p := b.get(s.issuer + provider.PathLogout); p.status != http.StatusOK || !strings.Contains(p.body, "signed out") {
		t.Errorf("plain logout: %d %.200s", p.status, p.body)
	}

	status, out, _ := doJSON(t, mustRequest(t, http.MethodGet, s.issuer+"/no/such/path"))
	if status != http.StatusNotFound || out["error"] != "not_found" {
		t.Errorf("unknown path: %d %v", status, out)
	}
	status, out, _ = doJSON(t, mustRequest(t, http.MethodGet, s.issuer+"/static/%ff"))
	if status != http.StatusNotFound || out["error"] != "not_found" {
		t.Errorf("undecodable static path: %d %v", status, out)
	}
	status, _, _ = doJSON(t, mustRequest(t, http.MethodDelete, s.issuer+provider.PathToken))
	if status != http.StatusMethodNotAllowed {
		t.Errorf("DELETE token: %d", status)
	}
	// A login POST without the CSRF token is refused.
	p := b.post(s.issuer+"/login", url.Values{"email": {"x@example.com"}, "password": {"y"}, "flow": {"z"}})
	if p.status != http.StatusForbidden && p.status != http.StatusBadRequest {
		t.Errorf("login without CSRF: %d", p.status)
	}
	// A stale flow handle gets an error page.
	p = b.get(s.issuer + "/login?flow=does-not-exist")
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, "expired") {
		t.Errorf("unknown flow: %d %.200s", p.status, p.body)
	}
}

func mustRequest(t *testing.T, method, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// TestControlCharactersRejected: invalid UTF-8 and control characters (C0
// including tab, CR and LF; DEL; C1) in any OAuth parameter, name or
// value, get a 400 (JSON on the API, an error page on the browser
// endpoints, never a redirect), and so do the fields of the login and
// consent forms. Other non-ASCII text passes.
func TestControlCharactersRejected(t *testing.T) {
	t.Parallel()
	s := startServer(t, "sqlite", noRateLimits)
	s.user("gina@example.com", alicePassword)
	worker, workerSecret := s.client(admin.ClientSpec{Name: "worker", Scopes: []string{"api"}})
	app, appSecret := s.client(admin.ClientSpec{Name: "App", RedirectURIs: []string{appRedirect}})
	bad := []string{"%00", "%09", "%0A", "%0D", "%1B", "%1F", "%7F", "%C2%80", "%C2%85", "%C2%9F", "%FF"}

	post := func(path, body string) (int, map[string]interface{}) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, s.issuer+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(worker.ID, workerSecret)
		status, out, _ := doJSON(t, req)
		return status, out
	}
	for _, b := range bad {
		for name, req := range map[string]struct{ path, body string }{
			"token value":         {provider.PathToken, "grant_type=client_credentials&scope=api" + b},
			"token name":          {provider.PathToken, "grant_type=client_credentials&x" + b + "y=1"},
			"introspection value": {provider.PathIntrospect, "token=gth_at_x.y" + b},
			"revocation value":    {provider.PathRevoke, "token=gth_at_x.y" + b + "&token_type_hint=access_token"},
		} {
			if status, out := post(req.path, req.body); status != http.StatusBadRequest || out["error"] != "invalid_request" {
				t.Errorf("%s with %s: %d %v, want 400 invalid_request", name, b, status, out)
			}
		}
	}
	// Non-ASCII that is not a control character is fine (an unknown
	// parameter is ignored).
	if status, out := post(provider.PathToken, "grant_type=client_credentials&scope=api&note=caf%C3%A9%C2%A0%E2%80%94"); status != http.StatusOK {
		t.Errorf("token with non-ASCII text: %d %v", status, out)
	}

	conf := s.oauthConfig(app, appSecret, "openid")
	_, challenge := pkce()
	b := s.newBrowser()
	for _, c := range bad {
		p := b.get(conf.AuthCodeURL("state-1234", challenge) + "&login_hint=x" + c)
		if p.status != http.StatusBadRequest || p.location != "" || !strings.Contains(p.header.Get("Content-Type"), "text/html") {
			t.Errorf("authorize with %s: %d location=%q, want a 400 error page", c, p.status, p.location)
		}
	}

	// The login form: the fields reach the password check only when clean.
	login := b.get(s.issuer + "/login")
	for _, f := range []struct{ email, password string }{
		{"gina@example.com\x00", alicePassword},
		{"gina@example.com\r\nBcc: x@example.com", alicePassword},
		{"gina@example.com", alicePassword + "\t"},
		{"gina@example.com", alicePassword + "\u0085"},
		{"gina@example.com", alicePassword + "\x7f"},
		{"gina@example.com", "\xff" + alicePassword},
	} {
		if p := b.login(login, f.email, f.password); p.status != http.StatusBadRequest || !strings.Contains(p.header.Get("Content-Type"), "text/html") {
			t.Errorf("login with %q / %q: %d, want a 400 page", f.email, f.password, p.status)
		}
	}
	if p := b.login(login, "gina@example.com", "wrong password"); p.status != http.StatusUnauthorized {
		t.Errorf("login with a clean wrong password: %d, want 401", p.status)
	}

	// The consent form.
	p := b.get(conf.AuthCodeURL("state-1234", challenge))
	p = b.login(p, "gina@example.com", alicePassword)
	form := p.formValues()
	if !p.isConsentPage() {
		t.Fatalf("expected the consent page, got %d: %.300s", p.status, p.body)
	}
	for _, decision := range []string{"allow\r", "allow\n", "\u009fallow", "allow\x00"} {
		form.Set("decision", decision)
		if p := b.post(s.issuer+"/consent", form); p.status != http.StatusBadRequest || p.location != "" {
			t.Errorf("consent with decision %q: %d location=%q, want a 400 page", decision, p.status, p.location)
		}
	}
	form.Set("decision", "allow")
	if cb := b.post(s.issuer+"/consent", form).callback(t); cb.Get("code") == "" {
		t.Errorf("a clean consent did not complete: %v", cb)
	}
}

// TestOversizedRequests: headers over the server's limit get 431, bodies
// over the limit 413, with or without a Content-Length.
func TestOversizedRequests(t *testing.T) {
	t.Parallel()
	s := startServer(t, "sqlite", noRateLimits)
	worker, workerSecret := s.client(admin.ClientSpec{Name: "worker", Scopes: []string{"api"}})

	req := mustRequest(t, http.MethodGet, s.issuer+"/health/alive")
	req.Header.Set("X-Big", strings.Repeat("h", 64<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("oversized header: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("oversized header: %d, want 431", resp.StatusCode)
	}

	big := "token=" + strings.Repeat("a", handlers.MaxBodyBytes)
	for _, tc := range []struct {
		name, path, contentType string
		chunked                 bool
	}{
		{"introspection", provider.PathIntrospect, "application/json", false},
		{"revocation", provider.PathRevoke, "application/json", false},
		{"token, chunked", provider.PathToken, "application/json", true},
		{"introspection, chunked", provider.PathIntrospect, "application/json", true},
		{"login form", "/login", "text/html", false},
		{"login form, chunked", "/login", "text/html", true},
		{"consent form, chunked", "/consent", "text/html", true},
	} {
		var body io.Reader = strings.NewReader(big)
		if tc.chunked {
			body = io.MultiReader(body) // hides the length: sent chunked
		}
		req, _ := http.NewRequest(http.MethodPost, s.issuer+tc.path, body)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(worker.ID, workerSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.contentType) {
			t.Errorf("%s: %d %q, want 413 %s", tc.name, resp.StatusCode, resp.Header.Get("Content-Type"), tc.contentType)
		}
	}
}

// TestSlowClientsCutOff: the listeners' http.Server cuts off a client that
// sends its headers slowly (slowloris) after ReadHeaderTimeout, and one
// that sends its body slowly after ReadTimeout. The defaults are checked
// as configured; the behaviour with shortened timeouts, to keep the test
// fast.
func TestSlowClientsCutOff(t *testing.T) {
	t.Parallel()
	s := startServer(t, "sqlite", noRateLimits)
	srv := handlers.Server(s.app.handler.Public(), slog.New(slog.DiscardHandler))
	if srv.ReadHeaderTimeout != 5*time.Second || srv.ReadTimeout != 10*time.Second || srv.MaxHeaderBytes != 32<<10 ||
		srv.WriteTimeout <= handlers.RequestTimeout || srv.IdleTimeout <= 0 {
		t.Errorf("server limits: header %v, read %v, write %v, idle %v, max header bytes %d",
			srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout, srv.MaxHeaderBytes)
	}
	srv.ReadHeaderTimeout, srv.ReadTimeout = 500*time.Millisecond, time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })

	// cutOff sends start at once, then a byte of trickle every 100ms, and
	// reports how long the server took to answer or hang up, and what it
	// answered (0: nothing, it just closed).
	cutOff := func(start, trickle string) (time.Duration, int) {
		conn, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		began := time.Now()
		if _, err := conn.Write([]byte(start)); err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for i := 0; i < len(trickle); i++ {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
				if _, err := conn.Write([]byte{trickle[i]}); err != nil {
					return
				}
			}
		}()
		_ = conn.SetReadDeadline(time.Now().Add(8 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		took := time.Since(began)
		var ne net.Error
		switch {
		case err == nil:
			resp.Body.Close()
			return took, resp.StatusCode
		case errors.As(err, &ne) && ne.Timeout():
			t.Fatalf("the server kept a slow client connected for %v", took)
		}
		return took, 0 // closed (EOF or reset)
	}

	took, status := cutOff("GET /health/alive HTTP/1.1\r\nHost: x\r\n", strings.Repeat("X-Slow: 1\r\n", 10))
	if took > 3*time.Second || status != 0 && status < 400 {
		t.Errorf("slow headers: %d after %v, want the connection cut off within 3s", status, took)
	}
	t.Logf("slow headers: cut off after %v (status %d)", took.Round(time.Millisecond), status)

	body := "grant_type=client_credentials&scope=api"
	took, status = cutOff("POST "+provider.PathToken+" HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: "+
		strconv.Itoa(len(body))+"\r\n\r\n", body)
	if took > 3*time.Second || status != 0 && status < 400 {
		t.Errorf("slow body: %d after %v, want the request cut off within 3s", status, took)
	}
	t.Logf("slow body: cut off after %v (status %d)", took.Round(time.Millisecond), status)
}

// csrfCookie is the browser's CSRF token: the double-submit cookie's value,
// which the forms carry as _csrf.
func (b *browser) csrfCookie() string {
	b.t.Helper()
	u, _ := url.Parse(b.s.issuer)
	for _, ck := range b.client.Jar.Cookies(u) {
		if strings.HasSuffix(ck.Name, "gth_csrf") {
			return ck.Value
		}
	}
	b.t.Fatal("the browser has no CSRF cookie")
	return ""
}

// noErrorLogged fails the test if the server logged at level ERROR.
func noErrorLogged(t *testing.T, logs *logCapture) {
	t.Helper()
	for _, line := range strings.Split(logs.Tail(), "\n") {
		if strings.Contains(line, `"level":"ERROR"`) {
			t.Errorf("the server logged an error: %s", line)
		}
	}
}

// TestIDsWithNULRefused: an id holding a NUL byte (which PostgreSQL
// refuses in text) is answered 400 or 404 in each route's own format —
// problem details on /admin and /api, the RFC 7591 error on
// /oauth2/register, an error page on /account, OAuth JSON on the OAuth
// endpoints — never a 500, and nothing is logged as a server error.
func TestIDsWithNULRefused(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		logs := &logCapture{}
		s := startServerLogged(t, bunstoretest.Open(t, dialect, bunstore.Options{}), logs, noRateLimits)
		robot, robotSecret := s.client(admin.ClientSpec{Name: "robot", Scopes: []string{provider.ScopeAdmin}, FirstParty: true})
		adminToken, errCode := s.ccToken(t, robot.ID, robotSecret, provider.ScopeAdmin)
		if errCode != "" {
			t.Fatal(errCode)
		}
		const nul = "a%00b"

		problem := func(what string, status int, body map[string]interface{}, hdr http.Header, want int) {
			t.Helper()
			if status != want || hdr.Get("Content-Type") != "application/problem+json" || body["status"] != float64(want) {
				t.Errorf("%s: %d %q %v, want a %d problem document", what, status, hdr.Get("Content-Type"), body, want)
			}
		}
		for _, tc := range []struct {
			method, path, body string
			want               int
		}{
			{http.MethodGet, "/admin/clients/" + nul, "", http.StatusNotFound},
			{http.MethodPut, "/admin/clients/" + nul, `{"client_name":"x","grant_types":["client_credentials"]}`, http.StatusNotFound},
			{http.MethodDelete, "/admin/clients/" + nul, "", http.StatusNotFound},
			{http.MethodPost, "/admin/clients/" + nul + "/rotate-secret", "", http.StatusNotFound},
			{http.MethodGet, "/admin/clients?after=" + nul, "", http.StatusBadRequest},
			{http.MethodGet, "/admin/users/" + nul, "", http.StatusNotFound},
			{http.MethodPut, "/admin/users/" + nul, `{"email":"x@example.com"}`, http.StatusNotFound},
			{http.MethodDelete, "/admin/users/" + nul, "", http.StatusNotFound},
			{http.MethodPost, "/admin/users/" + nul + "/disable", "", http.StatusNotFound},
			{http.MethodPost, "/admin/users/" + nul + "/enable", "", http.StatusNotFound},
			{http.MethodPost, "/admin/users/" + nul + "/unlock", "", http.StatusNotFound},
			{http.MethodPut, "/admin/users/" + nul + "/password", `{"password":"a long enough new password"}`, http.StatusNotFound},
			{http.MethodGet, "/admin/users?after=" + nul, "", http.StatusBadRequest},
			{http.MethodGet, "/admin/apikeys/" + nul, "", http.StatusNotFound},
			{http.MethodDelete, "/admin/apikeys/" + nul, "", http.StatusNotFound},
			{http.MethodGet, "/admin/apikeys?client_id=" + nul, "", http.StatusNotFound},
			{http.MethodPost, "/admin/apikeys", `{"client_id":"a\u0000b","name":"ci"}`, http.StatusBadRequest},
			{http.MethodGet, "/admin/audit?client_id=" + nul, "", http.StatusBadRequest},
			{http.MethodGet, "/admin/audit?subject=" + nul, "", http.StatusBadRequest},
			{http.MethodGet, "/admin/audit?actor=" + nul, "", http.StatusBadRequest},
			{http.MethodGet, "/admin/audit?before=" + nul, "", http.StatusBadRequest},
		} {
			status, body, hdr := jsonRequest(t, tc.method, s.admin+tc.path, adminToken, tc.body)
			problem(tc.method+" "+tc.path, status, body, hdr, tc.want)
		}

		// Self-service keys, with a person's token.
		s.user("kim@example.com", alicePassword)
		console, consoleSecret := s.client(admin.ClientSpec{Name: "Developer console", RedirectURIs: []string{appRedirect},
			Scopes: []string{"openid", provider.ScopeAPIKeys}, SkipConsent: true, FirstParty: true})
		kim := s.signIn(t, s.oauthConfig(console, consoleSecret, "openid", provider.ScopeAPIKeys), "kim@example.com", alicePassword).AccessToken
		for _, tc := range []struct {
			method, path, body string
			want               int
		}{
			{http.MethodGet, "/api/apikeys?client_id=" + nul, "", http.StatusNotFound},
			{http.MethodGet, "/api/apikeys/" + nul, "", http.StatusNotFound},
			{http.MethodDelete, "/api/apikeys/" + nul, "", http.StatusNotFound},
			{http.MethodPost, "/api/apikeys", `{"client_id":"a\u0000b","name":"ci"}`, http.StatusBadRequest},
		} {
			status, body, hdr := jsonRequest(t, tc.method, s.issuer+tc.path, kim, tc.body)
			problem(tc.method+" "+tc.path, status, body, hdr, tc.want)
		}

		// Client configuration (RFC 7592) with a valid registration access
		// token: an id that cannot exist is a wrong token for it.
		_, iat := s.registrationToken(t, "partners", time.Hour, time.Now())
		status, reg, _ := jsonRequest(t, http.MethodPost, s.issuer+provider.PathRegister, iat,
			`{"client_name":"Printer","redirect_uris":["`+appRedirect+`"]}`)
		rat, _ := reg["registration_access_token"].(string)
		if status != http.StatusCreated || rat == "" {
			t.Fatalf("register: %d %v", status, reg)
		}
		for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
			body := ""
			if method == http.MethodPut {
				body = `{"client_id":"a\u0000b","client_name":"Printer","redirect_uris":["` + appRedirect + `"]}`
			}
			status, out, hdr := jsonRequest(t, method, s.issuer+provider.PathRegister+"/"+nul, rat, body)
			if status != http.StatusUnauthorized || out["error"] != "invalid_token" || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s %s/%s: %d %v, want 401 invalid_token", method, provider.PathRegister, nul, status, out)
			}
		}

		// The account pages, signed in, with the form's CSRF token.
		b := s.newBrowser()
		b.login(b.get(s.issuer+"/login"), "kim@example.com", alicePassword)
		csrf := b.csrfCookie()
		for path, form := range map[string]url.Values{
			provider.PathAccount + "/revoke":     {"client_id": {"a\x00b"}},
			handlers.PathAccountKeys + "/revoke": {"key_id": {"a\x00b"}},
			"/account/identities/unlink":         {"upstream": {"a\x00b"}, "subject": {"a\x00b"}},
		} {
			form.Set("_csrf", csrf)
			p := b.post(s.issuer+path, form)
			if (p.status != http.StatusBadRequest && p.status != http.StatusNotFound) || !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") {
				t.Errorf("POST %s: %d %q, want a 400 or 404 page", path, p.status, p.header.Get("Content-Type"))
			}
		}

		// The OAuth endpoints: client_id in the form, in HTTP Basic, and
		// as the subject of a client assertion.
		assertion := "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(
			`{"iss":"a\u0000b","sub":"a\u0000b","aud":"`+s.issuer+provider.PathToken+`","jti":"j1","exp":4102444800}`)) + ".c2ln"
		for _, path := range []string{provider.PathToken, provider.PathIntrospect, provider.PathRevoke, provider.PathPAR} {
			form := "grant_type=client_credentials&token=x&response_type=code&redirect_uri=" + url.QueryEscape(appRedirect)
			for name, tc := range map[string]struct {
				body, basicUser string
				want            int
				code            string
			}{
				"form":      {form + "&client_id=" + nul + "&client_secret=x", "", http.StatusBadRequest, "invalid_request"},
				"basic":     {form, nul, http.StatusUnauthorized, "invalid_client"},
				"assertion": {form + "&client_assertion_type=" + url.QueryEscape("urn:ietf:params:oauth:client-assertion-type:jwt-bearer") + "&client_assertion=" + assertion, "", http.StatusUnauthorized, "invalid_client"},
			} {
				req, _ := http.NewRequest(http.MethodPost, s.issuer+path, strings.NewReader(tc.body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				if tc.basicUser != "" {
					req.SetBasicAuth(tc.basicUser, "x") // the user name is form-urlencoded (RFC 6749 §2.3.1)
				}
				status, out, _ := doJSON(t, req)
				code := out["error"]
				if path == provider.PathIntrospect && status == http.StatusUnauthorized {
					code = tc.code // which 401 code introspection answers is not this test's concern
				}
				if status != tc.want || code != tc.code {
					t.Errorf("%s with client_id in the %s: %d %v, want %d %s", path, name, status, out, tc.want, tc.code)
				}
			}
		}
		if p := b.get(s.issuer + provider.PathAuthorize + "?response_type=code&client_id=" + nul); p.status != http.StatusBadRequest {
			t.Errorf("authorize with client_id %s: %d, want 400", nul, p.status)
		}
		noErrorLogged(t, logs)
	})
}

// TestFormBodyCutShort: a form POST whose body never fully arrives (the
// client declares 53 bytes, sends 3 and shuts its side) is answered 400
// with an error page by every form route — a client that goes away is not
// a server error, and nothing is logged as one. The browser's cookies and
// Sec-Fetch-Site: same-origin (with which echo's CSRF check lets a
// browser's POST through without a token) get the request as far as it
// can go.
func TestFormBodyCutShort(t *testing.T) {
	t.Parallel()
	logs := &logCapture{}
	s := startServerLogged(t, bunstoretest.Open(t, "sqlite", bunstore.Options{}), logs, noRateLimits)
	s.user("lee@example.com", alicePassword)
	b := s.newBrowser()
	b.login(b.get(s.issuer+"/login"), "lee@example.com", alicePassword)
	issuer, _ := url.Parse(s.issuer)
	var cookies []string
	for _, ck := range b.client.Jar.Cookies(issuer) {
		cookies = append(cookies, ck.Name+"="+ck.Value)
	}

	for _, path := range []string{"/login", "/consent", provider.PathLogout, provider.PathAccount + "/revoke",
		handlers.PathAccountKeys + "/revoke", "/account/identities/unlink"} {
		for _, fetchSite := range []string{"same-origin", ""} {
			conn, err := net.Dial("tcp", issuer.Host)
			if err != nil {
				t.Fatal(err)
			}
			head := "POST " + path + " HTTP/1.1\r\nHost: " + issuer.Host + "\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
				"Content-Length: 53\r\nCookie: " + strings.Join(cookies, "; ") + "\r\n"
			if fetchSite != "" {
				head += "Sec-Fetch-Site: " + fetchSite + "\r\n"
			}
			if _, err := conn.Write([]byte(head + "\r\n_cs")); err != nil {
				t.Fatal(err)
			}
			// The server sees the end of the body at once, rather than
			// after its 10 s read timeout.
			if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("%s (Sec-Fetch-Site %q): %v", path, fetchSite, err)
			}
			resp.Body.Close()
			conn.Close()
			if resp.StatusCode != http.StatusBadRequest || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
				t.Errorf("%s (Sec-Fetch-Site %q): %d %q, want a 400 page", path, fetchSite, resp.StatusCode, resp.Header.Get("Content-Type"))
			}
		}
	}
	noErrorLogged(t, logs)
}

// TestHTMLPagesCarryPageHeaders: every HTML response carries the page
// security headers (CSP with frame-ancestors 'none', X-Frame-Options,
// nosniff, Referrer-Policy, Cache-Control no-store) — the pages of the
// routes, the error pages of the error handler, and those of answers echo
// makes before any route runs (405 from the router, 413 from the body
// limit on the declared length).
func TestHTMLPagesCarryPageHeaders(t *testing.T) {
	t.Parallel()
	s := startServer(t, "sqlite", noRateLimits)
	s.user("max@example.com", alicePassword)
	b := s.newBrowser()
	login := b.get(s.issuer + "/login")
	form := login.formValues()
	form.Set("email", "max@example.com")
	form.Set("password", "wrong password")
	big := url.Values{"email": {strings.Repeat("m", handlers.MaxBodyBytes)}}.Encode()

	request := func(method, path, body string, chunked bool) *http.Request {
		var r io.Reader
		if body != "" {
			r = strings.NewReader(body)
			if chunked {
				r = io.MultiReader(r) // hides the length: sent chunked
			}
		}
		req, _ := http.NewRequest(method, s.issuer+path, r)
		if body != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		return req
	}
	for _, tc := range []struct {
		name string
		req  *http.Request
		want int
	}{
		{"login page", request(http.MethodGet, "/login", "", false), http.StatusOK},
		{"wrong password", request(http.MethodPost, "/login", form.Encode(), false), http.StatusUnauthorized},
		{"unknown flow", request(http.MethodGet, "/login?flow=nope", "", false), http.StatusBadRequest},
		{"form without CSRF token", request(http.MethodPost, "/consent", "decision=allow", false), http.StatusForbidden},
		{"unknown upstream", request(http.MethodGet, "/login/nope", "", false), http.StatusNotFound},
		{"authorize error", request(http.MethodGet, provider.PathAuthorize+"?client_id=nope&response_type=code", "", false), http.StatusUnauthorized},
		{"method not allowed", request(http.MethodPatch, "/login", "", false), http.StatusMethodNotAllowed},
		{"method not allowed on an account page", request(http.MethodDelete, provider.PathAccount, "", false), http.StatusMethodNotAllowed},
		{"body over the limit, declared", request(http.MethodPost, "/login", big, false), http.StatusRequestEntityTooLarge},
		{"body over the limit, chunked", request(http.MethodPost, "/login", big, true), http.StatusRequestEntityTooLarge},
	} {
		p := b.do(tc.req)
		h := p.header
		if p.status != tc.want || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
			t.Errorf("%s: %d %q, want a %d page", tc.name, p.status, h.Get("Content-Type"), tc.want)
			continue
		}
		if !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") || h.Get("X-Frame-Options") != "DENY" ||
			h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" ||
			h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s (%d): page headers missing: CSP %q, X-Frame-Options %q, X-Content-Type-Options %q, Referrer-Policy %q, Cache-Control %q",
				tc.name, p.status, h.Get("Content-Security-Policy"), h.Get("X-Frame-Options"), h.Get("X-Content-Type-Options"),
				h.Get("Referrer-Policy"), h.Get("Cache-Control"))
		}
	}
}

// TestCSRFTokenOnlyFromBody: a form's CSRF token counts only from the body.
// The right token in the query string and not in the body is refused
// (403); the same token in the body is accepted. On the logout endpoint a
// POST without a token in its body is an RP's request, which signs no one
// out without confirmation, whatever the query says.
func TestCSRFTokenOnlyFromBody(t *testing.T) {
	t.Parallel()
	s := startServer(t, "sqlite", noRateLimits)
	s.user("nia@example.com", alicePassword)
	b := s.newBrowser()
	form := b.get(s.issuer + "/login").formValues()
	token := form.Get("_csrf")
	if token == "" || token != b.csrfCookie() {
		t.Fatalf("login form token %q, cookie %q", token, b.csrfCookie())
	}
	form.Del("_csrf")
	form.Set("email", "nia@example.com")
	form.Set("password", alicePassword)
	query := "?" + url.Values{"_csrf": {token}}.Encode()

	if p := b.post(s.issuer+"/login"+query, form); p.status != http.StatusForbidden {
		t.Fatalf("sign-in with the token in the query: %d, want 403", p.status)
	}
	form.Set("_csrf", token)
	if p := b.post(s.issuer+"/login", form); p.status != http.StatusOK || !strings.HasPrefix(p.url.Path, provider.PathAccount) {
		t.Fatalf("sign-in with the token in the body: %d at %s, want the account page", p.status, p.url)
	}

	// Signed in: a revocation with the token in the query is refused too.
	if p := b.post(s.issuer+provider.PathAccount+"/revoke"+query, url.Values{"client_id": {"some-app"}}); p.status != http.StatusForbidden {
		t.Errorf("revoke with the token in the query: %d, want 403", p.status)
	}
	p := b.post(s.issuer+provider.PathLogout+query, url.Values{})
	if p.status != http.StatusOK || strings.Contains(p.body, "signed out") {
		t.Errorf("logout with the token in the query: %d %.300s, want the confirmation page", p.status, p.body)
	}
	if p := b.get(s.issuer + provider.PathAccount); p.status != http.StatusOK || p.url.Path != provider.PathAccount {
		t.Fatalf("after a logout with the token in the query: %d at %s, want still signed in", p.status, p.url)
	}
	if p := b.post(s.issuer+provider.PathLogout, url.Values{"_csrf": {token}}); p.status != http.StatusOK || !strings.Contains(p.body, "signed out") {
		t.Errorf("logout with the token in the body: %d %.300s, want signed out", p.status, p.body)
	}
}
