package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
)

// The authorization server is no open redirector (RFC 9700 §4.11.2): it
// sends a browser by itself only to a URI it trusts. These tests use a
// browser that never follows a redirect off the server, and check the
// page, its link and its escaping.

// appLink returns the href of the page's "Return to ..." link, unescaped,
// and fails unless the link text is want (as HTML, escaped).
func appLink(t *testing.T, p *page, want string) string {
	t.Helper()
	m := regexp.MustCompile(`<a class="btn btn-secondary" href="([^"]*)"[^>]*>([^<]*)</a>`).FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no link back to the app on the page: %d %.600s", p.status, p.body)
	}
	if m[2] != want {
		t.Fatalf("link text %q, want %q", m[2], want)
	}
	return htmlUnescape(m[1])
}

// TestLogoutRedirectsOnlyWithIDTokenHint: without a valid id_token_hint,
// logout never sends the browser to the post_logout_redirect_uri a
// client_id names (OpenID Connect RP-Initiated Logout §3); the signed-out
// page links to it with the app's name. With one, it redirects as before.
func TestLogoutRedirectsOnlyWithIDTokenHint(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		s.user("bye@example.com", alicePassword)
		const name, returnURI = `Tom & Jerry's <Notes>`, "https://notes.example/bye?a=1&b=2"
		const escapedName = `Tom &amp; Jerry&#39;s &lt;Notes&gt;`
		c, secret := s.client(admin.ClientSpec{Name: name, RedirectURIs: []string{appRedirect}, PostLogoutRedirectURIs: []string{returnURI}, SkipConsent: true})
		q := url.Values{"client_id": {c.ID}, "post_logout_redirect_uri": {returnURI}, "state": {"s-1"}}
		wantLink := returnURI + "&state=s-1"

		// A browser that is not signed in: the signed-out page, with a link.
		b := s.newBrowser()
		p := b.get(s.issuer + provider.PathLogout + "?" + q.Encode())
		if p.status != http.StatusOK || p.location != "" {
			t.Fatalf("logout without id_token_hint, signed out: %d %q", p.status, p.location)
		}
		if got := appLink(t, p, "Return to "+escapedName); got != wantLink {
			t.Fatalf("link %q, want %q", got, wantLink)
		}
		if !strings.Contains(p.body, `href="https://notes.example/bye?a=1&amp;b=2&amp;state=s-1"`) {
			t.Fatalf("the link is not HTML-escaped as expected: %.600s", p.body)
		}

		// Signed in, without a hint: the person confirms, is signed out and
		// gets the same page.
		conf := s.oauthConfig(c, secret, "openid")
		verifier, challenge := pkce()
		cb := b.authorizeAndLogin(conf.AuthCodeURL(randomString(t, 16), challenge), "bye@example.com", alicePassword)
		tok, err := conf.Exchange(context.Background(), cb.Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		p = b.get(s.issuer + provider.PathLogout + "?" + q.Encode())
		if !strings.Contains(p.body, `action="/oauth2/logout"`) {
			t.Fatalf("signed in, no hint: want the confirmation page, got %d %.300s", p.status, p.body)
		}
		p = b.post(s.issuer+provider.PathLogout, p.formValues())
		if p.status != http.StatusOK || p.location != "" {
			t.Fatalf("confirmed logout without id_token_hint: %d %q", p.status, p.location)
		}
		if got := appLink(t, p, "Return to "+escapedName); got != wantLink {
			t.Fatalf("link after the confirmation %q, want %q", got, wantLink)
		}
		if p := b.get(conf.AuthCodeURL(randomString(t, 16), challenge)); !p.isLoginPage() {
			t.Fatalf("the confirmed logout did not sign the browser out: %d", p.status)
		}

		// With the app's ID token as the hint: straight back to the app.
		idToken, _ := tok.Extra("id_token").(string)
		hinted := url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {returnURI}, "state": {"s-2"}}
		p = b.get(s.issuer + provider.PathLogout + "?" + hinted.Encode())
		if p.status != http.StatusSeeOther || p.location != returnURI+"&state=s-2" {
			t.Fatalf("logout with id_token_hint: %d %q", p.status, p.location)
		}
	})
}

// TestAuthorizeErrorsOfRegisteredClients: for a client registered through
// /oauth2/register, an error found at the authorization endpoint before the
// person did anything is shown on a page with a link back to the app
// carrying error, state and iss; an operator's client gets the redirect of
// RFC 6749 §4.1.2.1; and access_denied after the consent page redirects
// for both.
func TestAuthorizeErrorsOfRegisteredClients(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		s.user("dcr@example.com", alicePassword)
		const redirect = "https://third.example/cb?x=1&y=2"
		_, iat := s.registrationToken(t, "partners", time.Hour, time.Now())
		body, _ := json.Marshal(map[string]any{"client_name": "Third & Co <Apps>", "redirect_uris": []string{redirect}, "scope": "openid email"})
		status, reg, _ := jsonRequest(t, http.MethodPost, s.issuer+provider.PathRegister, iat, string(body))
		registered, _ := reg["client_id"].(string)
		if status != http.StatusCreated || registered == "" {
			t.Fatalf("registration: %d %v", status, reg)
		}
		operator, _ := s.client(admin.ClientSpec{Name: "Operator app", RedirectURIs: []string{redirect}, Scopes: []string{"openid", "email"}})

		challenge := oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())
		authorize := func(clientID string, q url.Values) string {
			v := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect}, "state": {"st-123456"}, "scope": {"openid"},
				"code_challenge": {challenge}, "code_challenge_method": {"S256"}}
			for k, vs := range q {
				v[k] = vs
			}
			return s.issuer + provider.PathAuthorize + "?" + v.Encode()
		}
		b := s.newBrowser()
		for name, tc := range map[string]struct {
			q    url.Values
			code string
		}{
			"invalid scope": {url.Values{"scope": {"openid admin"}}, "invalid_scope"},
			"no PKCE":       {url.Values{"code_challenge": nil, "code_challenge_method": nil}, "invalid_request"},
			"prompt=none":   {url.Values{"prompt": {"none"}}, "login_required"},
		} {
			p := b.get(authorize(registered, tc.q))
			if p.status != http.StatusBadRequest || p.location != "" {
				t.Fatalf("%s, registered client: %d %q, want a 400 page", name, p.status, p.location)
			}
			if !strings.Contains(p.body, "Error code: <code>"+tc.code+"</code>") {
				t.Fatalf("%s, registered client: the page does not name %s: %.600s", name, tc.code, p.body)
			}
			link, err := url.Parse(appLink(t, p, "Return to Third &amp; Co &lt;Apps&gt;"))
			if err != nil {
				t.Fatal(err)
			}
			lq := link.Query()
			if link.Host != "third.example" || link.Path != "/cb" || lq.Get("x") != "1" || lq.Get("y") != "2" ||
				lq.Get("error") != tc.code || lq.Get("state") != "st-123456" || lq.Get("iss") != s.issuer {
				t.Fatalf("%s, registered client: link %s", name, link)
			}
			if !strings.Contains(p.body, `href="https://third.example/cb?error=`+tc.code+`&amp;error_description=`) {
				t.Fatalf("%s, registered client: the link is not HTML-escaped: %.600s", name, p.body)
			}

			p = b.get(authorize(operator.ID, tc.q))
			cb := p.callback(t)
			if cb.Get("error") != tc.code || cb.Get("state") != "st-123456" || cb.Get("iss") != s.issuer {
				t.Fatalf("%s, operator's client: %v", name, cb)
			}
		}

		// After the person acted, errors go back to the app at once.
		p := b.get(authorize(registered, nil))
		p = b.login(p, "dcr@example.com", alicePassword)
		p = b.consent(p, "deny")
		if cb := p.callback(t); cb.Get("error") != "access_denied" || cb.Get("state") != "st-123456" {
			t.Fatalf("denied on the consent page: %v", cb)
		}
	})
}
