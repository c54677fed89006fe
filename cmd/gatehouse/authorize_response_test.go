package main

// The authorization response as relying-party libraries in their default
// configuration expect it (openid-client v6 / oauth4webapi and others):
// state and nonce optional and returned exactly as sent, and the query and
// form_post response modes.

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/provider/admin"
)

// authorizeURL is an authorization request of conf with a PKCE challenge
// and the extra parameters (an empty value leaves the parameter out).
func authorizeURL(conf *oauth2.Config, challenge oauth2.AuthCodeOption, extra map[string]string) string {
	opts := []oauth2.AuthCodeOption{challenge}
	state := ""
	for k, v := range extra {
		switch {
		case v == "":
		case k == "state":
			state = v
		default:
			opts = append(opts, oauth2.SetAuthURLParam(k, v))
		}
	}
	return conf.AuthCodeURL(state, opts...)
}

// TestStateAndNonceOptional: PKCE protects the code flow (RFC 9700
// §2.1.1), so state is optional; when sent, any value comes back exactly
// as sent, on success and on error, and a response to a request without
// state has no state parameter at all (oauth4webapi refuses one). nonce is
// optional too, and any value is put in the ID token as sent.
func TestStateAndNonceOptional(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		s.user("state@example.com", alicePassword)
		c, secret := s.client(admin.ClientSpec{Name: "State app", RedirectURIs: []string{appRedirect}, Scopes: []string{"openid", "email"}, SkipConsent: true})
		conf := s.oauthConfig(c, secret, "openid", "email")
		ctx := context.Background()
		op, err := oidc.NewProvider(ctx, s.issuer)
		if err != nil {
			t.Fatal(err)
		}
		verifierOf := op.Verifier(&oidc.Config{ClientID: c.ID})

		b := s.newBrowser()
		for _, tc := range []struct{ name, state, nonce string }{
			{"neither", "", ""},
			{"one character each", "x", "n"},
			{"spaces and reserved characters", "a b&c=d/é+%", "n o&n=c/é"},
		} {
			verifier, challenge := pkce()
			cb := b.authorizeAndLogin(authorizeURL(conf, challenge, map[string]string{"state": tc.state, "nonce": tc.nonce}), "state@example.com", alicePassword)
			if cb.Get("code") == "" || cb.Get("iss") != s.issuer {
				t.Fatalf("%s: callback %v", tc.name, cb)
			}
			if got, has := cb.Get("state"), cb.Has("state"); got != tc.state || has != (tc.state != "") {
				t.Errorf("%s: callback state %q (present %v), want %q", tc.name, got, has, tc.state)
			}
			tok, err := conf.Exchange(ctx, cb.Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("%s: exchange: %v", tc.name, err)
			}
			raw, _ := tok.Extra("id_token").(string)
			idt, err := verifierOf.Verify(ctx, raw)
			if err != nil {
				t.Fatalf("%s: ID token: %v", tc.name, err)
			}
			if idt.Nonce != tc.nonce {
				t.Errorf("%s: ID token nonce %q, want %q", tc.name, idt.Nonce, tc.nonce)
			}
		}

		// Errors carry state as sent, and none when none was sent.
		for _, state := range []string{"", "s", "a b&c"} {
			_, challenge := pkce()
			p := b.get(authorizeURL(conf, challenge, map[string]string{"state": state, "scope": "openid not-a-scope"}))
			cb := p.callback(t)
			if cb.Get("error") != "invalid_scope" || cb.Get("iss") != s.issuer || cb.Get("state") != state || cb.Has("state") != (state != "") {
				t.Errorf("error with state %q: callback %v", state, cb)
			}
		}
	})
}

var (
	formAction   = regexp.MustCompile(`<form method="post" action="([^"]*)">`)
	inlineScript = regexp.MustCompile(`(?s)<script>(.*?)</script>`)
)

// TestResponseModes: response_mode=query (sent explicitly) and form_post
// work for every client, for answers and errors; fragment is refused with
// invalid_request sent by query; discovery lists exactly query and
// form_post. The form_post page posts the parameters, HTML-escaped, to the
// redirect URI, with a script its Content-Security-Policy allows by hash
// and a button for browsers without script.
func TestResponseModes(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		s.user("modes@example.com", alicePassword)
		c, secret := s.client(admin.ClientSpec{Name: "Modes app", RedirectURIs: []string{appRedirect}, Scopes: []string{"openid"}, SkipConsent: true})
		conf := s.oauthConfig(c, secret, "openid")
		ctx := context.Background()

		status, meta, _ := doJSON(t, mustRequest(t, http.MethodGet, s.issuer+"/.well-known/openid-configuration"))
		if modes, _ := meta["response_modes_supported"].([]interface{}); status != http.StatusOK || len(modes) != 2 || modes[0] != "query" || modes[1] != "form_post" {
			t.Fatalf("discovery response_modes_supported: %v", meta["response_modes_supported"])
		}

		b := s.newBrowser()
		// Signed in once; the requests below are answered at once.
		_, challenge := pkce()
		b.authorizeAndLogin(authorizeURL(conf, challenge, nil), "modes@example.com", alicePassword)

		// query, explicitly.
		verifier, challenge := pkce()
		cb := b.get(authorizeURL(conf, challenge, map[string]string{"response_mode": "query", "state": "q-state"})).callback(t)
		if cb.Get("code") == "" || cb.Get("state") != "q-state" {
			t.Fatalf("response_mode=query: %v", cb)
		}
		if _, err := conf.Exchange(ctx, cb.Get("code"), oauth2.VerifierOption(verifier)); err != nil {
			t.Fatalf("exchange of the query code: %v", err)
		}

		// form_post: a page, not a redirect.
		hostile := `"><script>alert(1)</script>&amp;`
		verifier, challenge = pkce()
		p := b.get(authorizeURL(conf, challenge, map[string]string{"response_mode": "form_post", "state": hostile}))
		params := wantFormPost(t, "form_post answer", p, appRedirect)
		if params.Get("code") == "" || params.Get("state") != hostile || params.Get("iss") != s.issuer {
			t.Fatalf("form_post parameters: %v", params)
		}
		if strings.Contains(p.body, "<script>alert") {
			t.Fatalf("form_post page reflects state unescaped: %s", p.body)
		}
		if _, err := conf.Exchange(ctx, params.Get("code"), oauth2.VerifierOption(verifier)); err != nil {
			t.Fatalf("exchange of the form_post code: %v", err)
		}

		// form_post errors, state as sent and iss.
		_, challenge = pkce()
		p = b.get(authorizeURL(conf, challenge, map[string]string{"response_mode": "form_post", "state": "e-state", "scope": "openid nope"}))
		params = wantFormPost(t, "form_post error", p, appRedirect)
		if params.Get("error") != "invalid_scope" || params.Get("state") != "e-state" || params.Get("iss") != s.issuer || params.Get("code") != "" {
			t.Fatalf("form_post error parameters: %v", params)
		}

		// fragment: refused, by query (the code flow's default mode).
		_, challenge = pkce()
		p = b.get(authorizeURL(conf, challenge, map[string]string{"response_mode": "fragment", "state": "f-state"}))
		if strings.Contains(p.location, "#") {
			t.Fatalf("fragment answered in the fragment: %s", p.location)
		}
		cb = p.callback(t)
		if cb.Get("error") != "invalid_request" || !strings.Contains(cb.Get("error_description"), "fragment") || cb.Get("state") != "f-state" || cb.Get("iss") != s.issuer || cb.Get("code") != "" {
			t.Fatalf("response_mode=fragment: %v", cb)
		}

		// A mode nobody knows: refused on a page (fosite refuses it before the
		// redirect URI is verified).
		_, challenge = pkce()
		p = b.get(authorizeURL(conf, challenge, map[string]string{"response_mode": "web_message"}))
		if p.status != http.StatusBadRequest || !strings.Contains(p.body, "web_message") {
			t.Fatalf("response_mode=web_message: %d %.300s", p.status, p.body)
		}
	})
}

// wantFormPost checks that p is a form_post page posting to redirectURI
// under a policy that allows its one script by hash and posts only to the
// redirect URI's origin, with a submit button; it returns the posted
// parameters.
func wantFormPost(t *testing.T, what string, p *page, redirectURI string) url.Values {
	t.Helper()
	if p.status != http.StatusOK || !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") {
		t.Fatalf("%s: got %d %s %s, want an HTML page", what, p.status, p.header.Get("Content-Type"), p.location)
	}
	m := formAction.FindStringSubmatch(p.body)
	if m == nil || htmlUnescape(m[1]) != redirectURI {
		t.Fatalf("%s: form action %v, want %s: %s", what, m, redirectURI, p.body)
	}
	if !strings.Contains(p.body, `<button type="submit">`) {
		t.Errorf("%s: no submit button for browsers without script", what)
	}
	scripts := inlineScript.FindAllStringSubmatch(p.body, -1)
	if len(scripts) != 1 {
		t.Fatalf("%s: %d inline scripts", what, len(scripts))
	}
	sum := sha256.Sum256([]byte(scripts[0][1]))
	csp := p.header.Get("Content-Security-Policy")
	target, _ := url.Parse(redirectURI)
	for _, want := range []string{
		"script-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'",
		"form-action " + target.Scheme + "://" + target.Host + ";", "frame-ancestors 'none'", "default-src 'none'",
	} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: CSP %q lacks %q", what, csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || p.header.Get("Cache-Control") != "no-store" {
		t.Errorf("%s: CSP %q, Cache-Control %q", what, csp, p.header.Get("Cache-Control"))
	}
	return p.formValues()
}
