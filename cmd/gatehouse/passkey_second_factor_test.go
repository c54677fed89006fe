package main

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/clocktest"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/providertest"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// passkeyBegin posts to a JSON begin endpoint as passkeys.js does, from a
// browser that sends no fetch metadata (the token must then equal the
// CSRF cookie), and returns the status and body.
func (b *browser) passkeyBegin(path, token string) (int, []byte) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.s.issuer+path, strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", b.s.issuer)
	req.Header.Set("X-CSRF-Token", token)
	p := b.do(req)
	return p.status, []byte(p.body)
}

// addPasskey registers key for the person signed in in b, through the
// account's passkeys page.
func addPasskey(t *testing.T, b *browser, key *providertest.SoftKey) {
	t.Helper()
	p := b.get(b.s.issuer + "/account/security/passkeys")
	token := csrfToken(t, p.body)
	status, options := b.passkeyBegin("/account/security/passkeys/begin", token)
	if status != http.StatusOK {
		t.Fatalf("registration begin: %d %s", status, options)
	}
	p = b.post(b.s.issuer+"/account/security/passkeys/add", url.Values{
		"_csrf": {token}, "name": {"Key"}, "credential": {string(key.Create(t, options))},
	})
	if p.status != http.StatusOK || !strings.Contains(p.body, "was added") {
		t.Fatalf("add a passkey: %d %.400s", p.status, p.body)
	}
}

// passkeySecondFactor answers the passkey form of the second-factor page p
// with an assertion of key (nil: the options are returned unanswered).
func (b *browser) passkeySecondFactor(p *page, key *providertest.SoftKey) *page {
	b.t.Helper()
	if !p.isSecondFactorPage("passkey") {
		b.t.Fatalf("want the second-factor page offering a passkey, got %d %s: %.500s", p.status, p.url, p.body)
	}
	form := p.formValues()
	status, options := b.passkeyBegin("/login/second-factor/passkey/begin", form.Get("_csrf"))
	if status != http.StatusOK {
		b.t.Fatalf("second-factor begin: %d %s", status, options)
	}
	form.Set("method", "passkey")
	form.Set("credential", string(key.Get(b.t, options)))
	return b.post(b.s.issuer+"/login/second-factor", form)
}

// TestPasskeySecondFactor: a person whose only second factor is a passkey
// signs in with the password and then the passkey, for a request that
// asks for two factors (acr_values): no session before the passkey, and
// the ID token says amr pwd hwk user mfa, acr urn:gatehouse:acr:mfa. A
// session signed in with the password alone steps up with the passkey for
// a client with require_mfa and keeps its sid. The second factor's begin
// takes its person from the pending first factor (or the session) only:
// without either it is refused; another person's passkey, bad input and a
// passkey whose counter went back (audited as a suspected clone) are
// refused; the success is audited as mfa.succeeded, method passkey.
func TestPasskeySecondFactor(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		clock := clocktest.New(time.Now().Add(-2 * time.Hour).UTC().Truncate(30 * time.Second))
		s, dsn := startServerAt(t, dialect, clock, onLocalhost)
		ctx := context.Background()
		alice := s.user("alice@example.com", alicePassword)
		bob := s.user("bob@example.com", alicePassword)
		plain, plainSecret := s.client(admin.ClientSpec{
			Name: "Plain app", RedirectURIs: []string{"http://127.0.0.1:9999/cb"}, SkipConsent: true, Scopes: []string{"openid"},
		})
		strict, strictSecret := s.client(admin.ClientSpec{
			Name: "Strict app", RedirectURIs: []string{"http://127.0.0.1:9998/cb"}, SkipConsent: true, Scopes: []string{"openid"},
			RequireMFA: true,
		})
		plainConf, strictConf := s.oauthConfig(plain, plainSecret, "openid"), s.oauthConfig(strict, strictSecret, "openid")
		exchange := func(conf *oauth2.Config, p *page, verifier string) *oauth2.Token {
			t.Helper()
			tok, err := conf.Exchange(ctx, p.callback(t).Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			return tok
		}
		wantNoSession := func(b *browser, what string) {
			t.Helper()
			if p := b.get(s.issuer + "/account/sessions"); !p.isLoginPage() {
				t.Fatalf("%s: a session exists: %d %s", what, p.status, p.url)
			}
		}

		// Alice and Bob each add a passkey (a password session each).
		aliceKey := providertest.NewSoftKey(t, "localhost", s.issuer)
		bobKey := providertest.NewSoftKey(t, "localhost", s.issuer)
		x := s.newBrowser()
		verifier, challenge := pkce()
		tok := exchange(plainConf, x.login(x.get(plainConf.AuthCodeURL("st", challenge)), alice.Email, alicePassword), verifier)
		wantAMR(t, idTokenClaims(t, tok), []string{"pwd"}, "")
		sid := sidOf(t, tok)
		addPasskey(t, x, aliceKey)
		bx := s.newBrowser()
		bx.login(bx.get(s.issuer+"/login"), bob.Email, alicePassword)
		addPasskey(t, bx, bobKey)

		// A begin without a first factor (no pending sign-in, no session)
		// is refused.
		n := s.newBrowser()
		p := n.get(s.issuer + "/login")
		if status, body := n.passkeyBegin("/login/second-factor/passkey/begin", csrfToken(t, p.body)); status != http.StatusUnauthorized {
			t.Fatalf("second-factor begin without a first factor: %d %s", status, body)
		}

		// Password, then passkey, for acr_values asking for two factors.
		// The page offers the passkey (and no authenticator set-up) under
		// a policy allowing this origin's script only.
		signIn := func(what string) (*browser, *page, string) {
			t.Helper()
			b := s.newBrowser()
			verifier, challenge := pkce()
			p := b.login(b.get(plainConf.AuthCodeURL("st", challenge,
				oauth2.SetAuthURLParam("acr_values", provider.ACRMultiFactor))), alice.Email, alicePassword)
			if !p.isSecondFactorPage("passkey") || p.isSecondFactorPage("enrol") || p.isSecondFactorPage("totp") {
				t.Fatalf("%s: after the password, want the passkey offered: %d %s %.500s", what, p.status, p.url, p.body)
			}
			csp := p.header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") ||
				!strings.Contains(p.body, `<script src="/static/passkeys.js" defer></script>`) || strings.Count(p.body, "<script") != 1 {
				t.Fatalf("%s: the page's script or policy: %q %.500s", what, csp, p.body)
			}
			wantNoSession(b, what)
			return b, b.get(p.url.String()), verifier
		}
		y, p, verifier := signIn("password then passkey")
		// Even with a first factor waiting, a begin from another origin is
		// refused (the JSON endpoints' same-origin guard).
		req, _ := http.NewRequest(http.MethodPost, s.issuer+"/login/second-factor/passkey/begin", strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", "https://evil.example")
		req.Header.Set("X-CSRF-Token", p.formValues().Get("_csrf"))
		if got := y.do(req); got.status != http.StatusForbidden {
			t.Fatalf("a cross-origin second-factor begin: %d %.200s", got.status, got.body)
		}
		tok = exchange(plainConf, y.passkeySecondFactor(p, aliceKey), verifier)
		wantAMR(t, idTokenClaims(t, tok), []string{"pwd", "hwk", "user", "mfa"}, provider.ACRMultiFactor)
		if sidOf(t, tok) == sid {
			t.Fatal("a new sign-in kept another browser's session")
		}

		// Bob's passkey does not answer for Alice's pending sign-in.
		y, p, _ = signIn("another person's passkey")
		p = y.passkeySecondFactor(p, bobKey)
		if p.status != http.StatusUnauthorized || !strings.Contains(p.body, "That passkey did not work.") {
			t.Fatalf("another person's passkey: %d %.400s", p.status, p.body)
		}
		wantNoSession(y, "another person's passkey")

		// Bad input: no credential (no JavaScript), garbage, an oversized
		// one; a finish without a begun ceremony.
		for _, c := range []struct {
			credential string
			status     int
		}{
			{"", http.StatusBadRequest},
			{"{not json", http.StatusUnauthorized},
			{`{"id":"` + strings.Repeat("A", 40<<10) + `"}`, http.StatusUnauthorized},
			{string(aliceKey.Get(t, []byte(`{"publicKey":{"challenge":"`+base64.RawURLEncoding.EncodeToString([]byte("not a challenge"))+`"}}`))), http.StatusUnauthorized},
		} {
			form := p.formValues()
			form.Set("method", "passkey")
			form.Set("credential", c.credential)
			if got := y.post(s.issuer+"/login/second-factor", form); got.status != c.status || !got.isSecondFactorPage("passkey") {
				t.Fatalf("credential %.40q: %d, want %d: %.300s", c.credential, got.status, c.status, got.body)
			}
		}
		wantNoSession(y, "bad input")

		// Step-up: browser x's password session meets the strict client;
		// the passkey upgrades it in place (same sid).
		verifier, challenge = pkce()
		p = x.get(strictConf.AuthCodeURL("st", challenge))
		if p.isLoginPage() {
			t.Fatalf("step-up asked for the password again: %s", p.url)
		}
		tok = exchange(strictConf, x.passkeySecondFactor(p, aliceKey), verifier)
		wantAMR(t, idTokenClaims(t, tok), []string{"pwd", "hwk", "user", "mfa"}, provider.ACRMultiFactor)
		if got := sidOf(t, tok); got != sid {
			t.Fatalf("the step-up started a new session: sid %q, was %q", got, sid)
		}

		// A clone: the stored counter is ahead of the key's. Refused and
		// audited as at a passwordless sign-in, and no longer offered.
		keys, err := s.store.PasskeysOfUser(ctx, alice.ID)
		if err != nil || len(keys) != 1 {
			t.Fatalf("alice's passkeys: %v %v", keys, err)
		}
		keys[0].SignCount = aliceKey.Count + 1000
		if err := s.store.RecordPasskeyUse(ctx, keys[0], time.Time{}); err != nil {
			t.Fatal(err)
		}
		y, p, _ = signIn("a cloned passkey")
		if p = y.passkeySecondFactor(p, aliceKey); p.status != http.StatusUnauthorized {
			t.Fatalf("a cloned passkey: %d %.300s", p.status, p.body)
		}
		wantNoSession(y, "a cloned passkey")
		if keys, _ := s.store.PasskeysOfUser(ctx, alice.ID); !keys[0].CloneWarning {
			t.Fatalf("not marked possibly cloned: %+v", keys[0])
		}
		if p.isSecondFactorPage("passkey") || !p.isSecondFactorPage("enrol") {
			t.Fatalf("the refusal page still offers the cloned passkey: %.400s", p.body)
		}
		waitAuditEvents(t, dsn,
			auditRow{Type: "mfa.succeeded", Actor: "user:" + alice.ID, Subject: "user:" + alice.ID},
			auditRow{Type: "passkey.clone_suspected", Actor: "anonymous", Subject: "user:" + alice.ID},
			auditRow{Type: "login.failed", Actor: "anonymous", Subject: "user:" + alice.ID})
		wantPasskeyMFAAudited(t, dsn, alice)
	})
}

// wantPasskeyMFAAudited checks that u's second factor was audited with
// its method (mfa.succeeded's details).
func wantPasskeyMFAAudited(t *testing.T, dsn string, u *storage.User) {
	t.Helper()
	db := openReadOnly(t, dsn)
	defer db.Close()
	var n int
	waitFor(10*time.Second, func() bool {
		if err := db.QueryRowContext(context.Background(),
			`SELECT COUNT(*) FROM audit_events WHERE type = 'mfa.succeeded' AND subject = 'user:`+u.ID+`' AND details LIKE '%"method":"passkey"%'`,
		).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 2
	})
	if n != 2 {
		t.Fatalf("mfa.succeeded with method passkey: %d events, want 2 (sign-in and step-up)", n)
	}
}
