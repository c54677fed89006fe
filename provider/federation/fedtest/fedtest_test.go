package fedtest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

const redirectURI = "https://rp.test/login/fake/callback"

func noRedirects() *http.Client {
	return &http.Client{
		Transport:     &http.Transport{DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

const verifier = "dBjftJeZ4CVP-mJ92K9qYyt4fsLz3iYwtuLIYa6xnHz-this-is-long-enough"

func authURL(s *Server, mutate func(url.Values)) string {
	q := url.Values{
		"client_id":             {s.ClientID()},
		"redirect_uri":          {redirectURI},
		"response_type":         {"code"},
		"scope":                 {"openid email"},
		"state":                 {"st"},
		"nonce":                 {"nn"},
		"code_challenge":        {s256(verifier)},
		"code_challenge_method": {"S256"},
	}
	if mutate != nil {
		mutate(q)
	}
	return s.URL + "/authorize?" + q.Encode()
}

func TestAuthorizeValidation(t *testing.T) {
	s := New(t, Options{RedirectURI: redirectURI})
	c := noRedirects()
	// Wrong client or redirect URI: an error page, no redirect.
	for name, mutate := range map[string]func(url.Values){
		"client_id":             func(q url.Values) { q.Set("client_id", "other") },
		"redirect_uri":          func(q url.Values) { q.Set("redirect_uri", redirectURI+"/x") },
		"redirect_uri prefix":   func(q url.Values) { q.Set("redirect_uri", "https://rp.test/login/fake") },
		"redirect_uri with arg": func(q url.Values) { q.Set("redirect_uri", redirectURI+"?a=b") },
	} {
		resp, err := c.Get(authURL(s, mutate))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %s, want 400", name, resp.Status)
		}
	}
	// Other problems are reported to the redirect URI.
	for name, tc := range map[string]struct {
		mutate func(url.Values)
		err    string
	}{
		"response_type": {func(q url.Values) { q.Set("response_type", "token") }, "unsupported_response_type"},
		"no openid":     {func(q url.Values) { q.Set("scope", "email") }, "invalid_scope"},
		"plain PKCE":    {func(q url.Values) { q.Set("code_challenge_method", "plain") }, "invalid_request"},
		"no PKCE":       {func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }, "invalid_request"},
	} {
		cb, _ := url.Parse(s.Authorize(t, authURL(s, tc.mutate)))
		if got := cb.Query().Get("error"); got != tc.err || cb.Query().Get("state") != "st" {
			t.Errorf("%s: callback %s, want error=%s", name, cb, tc.err)
		}
	}
	s.DenyNext()
	cb, _ := url.Parse(s.Authorize(t, authURL(s, nil)))
	if cb.Query().Get("error") != "access_denied" {
		t.Errorf("DenyNext: %s", cb)
	}
	cb, _ = url.Parse(s.Authorize(t, authURL(s, nil)))
	if cb.Query().Get("code") == "" || cb.Query().Get("state") != "st" {
		t.Errorf("callback %s", cb)
	}
}

func TestToken(t *testing.T) {
	s := New(t, Options{RedirectURI: redirectURI})
	c := noRedirects()
	code := func() string {
		cb, _ := url.Parse(s.Authorize(t, authURL(s, nil)))
		return cb.Query().Get("code")
	}
	to := s
	post := func(form url.Values, basicID, basicSecret string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, to.URL+"/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if basicID != "" {
			req.SetBasicAuth(url.QueryEscape(basicID), url.QueryEscape(basicSecret))
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	form := func(code string) url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}
	}

	// Basic, then the code is used up.
	k := code()
	if st, body := post(form(k), s.ClientID(), s.ClientSecret()); st != 200 || body["id_token"] == nil {
		t.Fatalf("basic: %d %v", st, body)
	}
	if s.LastTokenAuthMethod() != "client_secret_basic" {
		t.Errorf("auth method %q", s.LastTokenAuthMethod())
	}
	if st, body := post(form(k), s.ClientID(), s.ClientSecret()); st != 400 || body["error"] != "invalid_grant" {
		t.Errorf("replay: %d %v", st, body)
	}
	// Post.
	f := form(code())
	f.Set("client_id", s.ClientID())
	f.Set("client_secret", s.ClientSecret())
	if st, body := post(f, "", ""); st != 200 || body["id_token"] == nil {
		t.Fatalf("post: %d %v", st, body)
	}
	if s.LastTokenAuthMethod() != "client_secret_post" {
		t.Errorf("auth method %q", s.LastTokenAuthMethod())
	}

	for name, tc := range map[string]struct {
		mutate     func(url.Values)
		id, secret string
		status     int
		err        string
	}{
		"wrong secret":   {nil, s.ClientID(), "nope", 401, "invalid_client"},
		"no auth":        {nil, "", "", 401, "invalid_client"},
		"wrong verifier": {func(f url.Values) { f.Set("code_verifier", strings.Repeat("a", 43)) }, s.ClientID(), s.ClientSecret(), 400, "invalid_grant"},
		"wrong redirect": {func(f url.Values) { f.Set("redirect_uri", redirectURI+"x") }, s.ClientID(), s.ClientSecret(), 400, "invalid_grant"},
		"unknown code":   {func(f url.Values) { f.Set("code", "nope") }, s.ClientID(), s.ClientSecret(), 400, "invalid_grant"},
		"grant type":     {func(f url.Values) { f.Set("grant_type", "password") }, s.ClientID(), s.ClientSecret(), 400, "unsupported_grant_type"},
	} {
		f := form(code())
		if tc.mutate != nil {
			tc.mutate(f)
		}
		if st, body := post(f, tc.id, tc.secret); st != tc.status || body["error"] != tc.err {
			t.Errorf("%s: %d %v, want %d %s", name, st, body, tc.status, tc.err)
		}
	}

	// Only the advertised methods are accepted.
	p := New(t, Options{RedirectURI: redirectURI, AuthMethods: []string{"client_secret_post"}})
	cb, _ := url.Parse(p.Authorize(t, authURL(p, nil)))
	to = p
	if st, body := post(form(cb.Query().Get("code")), p.ClientID(), p.ClientSecret()); st != 401 || body["error"] != "invalid_client" {
		t.Errorf("basic where only post is allowed: %d %v", st, body)
	}
}
