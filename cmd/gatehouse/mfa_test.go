package main

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/internal/clocktest"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

var (
	totpSecretRe   = regexp.MustCompile(`<code class="secret-text" id="totp-secret">([A-Z2-7]+)</code>`)
	recoveryCodeRe = regexp.MustCompile(`<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>`)
)

// totpCode is the code of secret at t, as an authenticator app computes it
// (RFC 6238: 30-second steps, six digits, HMAC-SHA-1).
func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// isSecondFactorPage recognises the second-factor form for method.
func (p *page) isSecondFactorPage(method string) bool {
	return strings.Contains(p.body, `action="/login/second-factor"`) && strings.Contains(p.body, `name="method" value="`+method+`"`)
}

// secondFactor posts a code on the second-factor page p.
func (b *browser) secondFactor(p *page, method, code string) *page {
	b.t.Helper()
	if !p.isSecondFactorPage(method) {
		b.t.Fatalf("expected the second-factor page with %s, got %d %s: %.400s", method, p.status, p.url, p.body)
	}
	form := p.formValues()
	form.Set("method", method)
	form.Set("code", code)
	return b.post(b.s.issuer+"/login/second-factor", form)
}

// refusedSecondFactor checks the generic refusal of a code and returns
// the page to try again on.
func refusedSecondFactor(t *testing.T, p *page, what string) *page {
	t.Helper()
	if p.status != http.StatusUnauthorized || !strings.Contains(p.body, "That code did not work.") {
		t.Fatalf("%s: got %d, want 401 with the generic message: %.400s", what, p.status, p.body)
	}
	return p
}

// idTokenClaims decodes the claims of the ID token of tok (the other
// end-to-end tests verify its signature).
func idTokenClaims(t *testing.T, tok *oauth2.Token) map[string]any {
	t.Helper()
	raw, _ := tok.Extra("id_token").(string)
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("no ID token: %q", raw)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(b, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

func wantAMR(t *testing.T, claims map[string]any, amr []string, acr string) {
	t.Helper()
	var got []string
	list, _ := claims["amr"].([]any)
	for _, v := range list {
		s, _ := v.(string)
		got = append(got, s)
	}
	if !slices.Equal(got, amr) || claims["acr"] != (any)(acr) && !(acr == "" && claims["acr"] == nil) {
		t.Fatalf("ID token amr %v acr %v; want amr %v acr %q", got, claims["acr"], amr, acr)
	}
}

// enrolTOTP sets up an authenticator on the security page with browser b
// (signed in) at the server's clock, and returns its secret and the
// recovery codes shown.
func enrolTOTP(t *testing.T, b *browser, clock *clocktest.Clock) (string, []string) {
	t.Helper()
	p := b.get(b.s.issuer + "/account/security")
	if p.status != http.StatusOK || !strings.Contains(p.body, `action="/account/security/totp"`) {
		t.Fatalf("security page: %d %.400s", p.status, p.body)
	}
	p = b.post(b.s.issuer+"/account/security/totp", p.formValues())
	m := totpSecretRe.FindStringSubmatch(p.body)
	if p.status != http.StatusOK || m == nil {
		t.Fatalf("enrolment page: %d %.600s", p.status, p.body)
	}
	secret := m[1]
	// The QR code is a data: URI (no script, no route of its own), which
	// the page's CSP allows.
	if !strings.Contains(p.body, `src="data:image/png;base64,`) || !strings.Contains(p.header.Get("Content-Security-Policy"), "img-src 'self' https: data:") {
		t.Fatalf("QR code or CSP: %q %.600s", p.header.Get("Content-Security-Policy"), p.body)
	}
	if strings.Contains(p.body, "<script") {
		t.Fatal("the enrolment page has a script")
	}
	form := p.formValues()
	form.Set("code", totpCode(t, secret, clock.Now().Add(-time.Hour)))
	p = b.post(b.s.issuer+"/account/security/totp/confirm", form)
	if p.status != http.StatusUnauthorized {
		t.Fatalf("a wrong first code: %d, want 401", p.status)
	}
	form = p.formValues()
	form.Set("code", totpCode(t, secret, clock.Now()))
	p = b.post(b.s.issuer+"/account/security/totp/confirm", form)
	var codes []string
	for _, m := range recoveryCodeRe.FindAllStringSubmatch(p.body, -1) {
		codes = append(codes, m[1])
	}
	if p.status != http.StatusOK || len(codes) != 10 || !strings.Contains(p.body, "Recovery codes left: 10") {
		t.Fatalf("confirmation: %d, %d recovery codes: %.800s", p.status, len(codes), p.body)
	}
	return secret, codes
}

// TestSecondFactorTOTP: a person sets up an authenticator on the security
// page (the secret sealed at rest); signing in then asks for a code after
// the password, and the ID token says so (amr pwd otp mfa, acr). A code
// is accepted once, one step of clock skew either way and not two; a
// recovery code works once; wrong codes count towards the password
// lockout and lock the account like wrong passwords.
func TestSecondFactorTOTP(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		// The clock starts two hours back and on a step boundary: fosite
		// refuses an auth_time in the future, and codes are deterministic.
		clock := clocktest.New(time.Now().Add(-2 * time.Hour).UTC().Truncate(30 * time.Second))
		dsn := bunstoretest.NewMigratedDSN(t, dialect)
		s, store := lockoutServer(t, dsn, clock, config.Login{
			MaxFailures: 3, Lockout: time.Hour, MaxLockout: 4 * time.Hour, FailureReset: 24 * time.Hour,
		})
		ctx := context.Background()
		alice := s.user("alice@example.com", alicePassword)
		c, secret := s.client(admin.ClientSpec{
			Name: "MFA app", RedirectURIs: []string{"http://127.0.0.1:9999/cb"}, SkipConsent: true, Scopes: []string{"openid"},
		})
		conf := s.oauthConfig(c, secret, "openid")

		// Enrolment, from a password session.
		b := s.newBrowser()
		p := b.get(s.issuer + "/account/security")
		p = b.login(p, alice.Email, alicePassword)
		if p.status != http.StatusOK || p.url.Path != "/account/security" {
			t.Fatalf("sign-in to the security page: %d %s", p.status, p.url)
		}
		key, recovery := enrolTOTP(t, b, clock)
		row, err := store.UserTOTP(ctx, alice.ID)
		raw, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(key)
		if err != nil || row.ConfirmedAt.IsZero() || bytes.Contains(row.Secret, raw) || bytes.Contains(row.Secret, []byte(key)) {
			t.Fatalf("stored authenticator %+v, %v: want confirmed and sealed", row, err)
		}

		signIn := func(what string) (*browser, *page, string) {
			t.Helper()
			verifier, challenge := pkce()
			b := s.newBrowser()
			p := b.login(b.get(conf.AuthCodeURL("st", challenge)), alice.Email, alicePassword)
			if !p.isSecondFactorPage("totp") || !p.isSecondFactorPage("recovery_code") {
				t.Fatalf("%s: after the password, want the second-factor page: %d %s %.400s", what, p.status, p.url, p.body)
			}
			// No session before the second factor.
			if acc := b.get(s.issuer + "/account/sessions"); !acc.isLoginPage() {
				t.Fatalf("%s: the account pages before the second factor: %d %s", what, acc.status, acc.url)
			}
			p = b.get(p.url.String())
			return b, p, verifier
		}
		exchange := func(p *page, verifier string) *oauth2.Token {
			t.Helper()
			tok, err := conf.Exchange(ctx, p.callback(t).Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			return tok
		}

		// The code that confirmed the enrolment is used: replaying it is
		// refused. The next step's code works.
		b2, p, verifier := signIn("first sign-in")
		p = refusedSecondFactor(t, b2.secondFactor(p, "totp", totpCode(t, key, clock.Now())), "the enrolment's code replayed")
		clock.Advance(30 * time.Second)
		used := totpCode(t, key, clock.Now())
		tok := exchange(b2.secondFactor(p, "totp", used), verifier)
		wantAMR(t, idTokenClaims(t, tok), []string{"pwd", "otp", "mfa"}, provider.ACRMultiFactor)

		// A code accepted once is refused in another browser.
		b3, p, _ := signIn("replay")
		p = refusedSecondFactor(t, b3.secondFactor(p, "totp", used), "an accepted code replayed")

		// One step of skew either way is accepted, two are not.
		clock.Advance(90 * time.Second)
		p = refusedSecondFactor(t, b3.secondFactor(p, "totp", totpCode(t, key, clock.Now().Add(-60*time.Second))), "a code two steps old")
		p = b3.secondFactor(p, "totp", totpCode(t, key, clock.Now().Add(-30*time.Second)))
		p.callback(t)
		b4, p, _ := signIn("clock ahead")
		p = refusedSecondFactor(t, b4.secondFactor(p, "totp", totpCode(t, key, clock.Now().Add(60*time.Second))), "a code two steps ahead")
		b4.secondFactor(p, "totp", totpCode(t, key, clock.Now().Add(30*time.Second))).callback(t)

		// A recovery code works once.
		b5, p, verifier := signIn("recovery code")
		tok = exchange(b5.secondFactor(p, "recovery_code", strings.ToUpper(recovery[0])), verifier)
		wantAMR(t, idTokenClaims(t, tok), []string{"pwd", "otp", "mfa"}, provider.ACRMultiFactor)
		b6, p, _ := signIn("recovery code again")
		p = refusedSecondFactor(t, b6.secondFactor(p, "recovery_code", recovery[0]), "a used recovery code")
		b6.secondFactor(p, "recovery_code", recovery[1]).callback(t)

		// Guessing codes locks the account as guessing passwords does:
		// MaxFailures wrong codes, then even the right code and the right
		// password are refused.
		// The password's success in between does not clear the count: only
		// the second factor's does.
		b7, p, _ := signIn("brute force")
		for i := range 3 {
			if i == 2 {
				b7, p, _ = signIn("brute force, the password again")
			}
			wrong := totpCode(t, key, clock.Now().Add(time.Duration(i+10)*time.Hour))
			p = refusedSecondFactor(t, b7.secondFactor(p, "totp", wrong), "a wrong code")
		}
		if th := accountThrottle(t, store, alice.Email); !th.Locked(clock.Now()) || th.Failures != 3 {
			t.Fatalf("after 3 wrong codes: %+v, want locked", th)
		}
		clock.Advance(30 * time.Second)
		refusedSecondFactor(t, b7.secondFactor(p, "totp", totpCode(t, key, clock.Now())), "the right code while locked")
		b8 := s.newBrowser()
		refusedLogin(t, b8.login(b8.get(s.issuer+"/login"), alice.Email, alicePassword), "the right password while locked")
	})
}

// enrolOnSecondFactorPage sets up an authenticator on the second-factor
// page p (a sign-in that needs one from a person who has none), and
// returns the secret and the page after the recovery codes' Continue.
func enrolOnSecondFactorPage(t *testing.T, b *browser, p *page, clock *clocktest.Clock) (string, *page) {
	t.Helper()
	m := totpSecretRe.FindStringSubmatch(p.body)
	if !p.isSecondFactorPage("enrol") || m == nil {
		t.Fatalf("want the second-factor page setting up an authenticator: %d %s %.500s", p.status, p.url, p.body)
	}
	p = b.secondFactor(p, "enrol", totpCode(t, m[1], clock.Now()))
	if p.status != http.StatusOK || len(recoveryCodeRe.FindAllString(p.body, -1)) != 10 {
		t.Fatalf("after the first code: %d %.500s", p.status, p.body)
	}
	cont := regexp.MustCompile(`href="(/login/second-factor\?[^"]+)"`).FindStringSubmatch(p.body)
	if cont == nil {
		t.Fatalf("no Continue link: %.500s", p.body)
	}
	return m[1], b.get(b.s.issuer + htmlUnescape(cont[1]))
}

// sidOf is the sid claim of tok's ID token.
func sidOf(t *testing.T, tok *oauth2.Token) string {
	t.Helper()
	sid, _ := idTokenClaims(t, tok)["sid"].(string)
	if sid == "" {
		t.Fatal("ID token without sid")
	}
	return sid
}

// TestSecondFactorStepUp: a session signed in with a password only meets
// a client that requires a second factor (require_mfa) or a request that
// asks for one (acr_values, an essential acr claim): only the second
// factor is asked — or set up, for a person without one — and the session
// is kept (same sid) and upgraded (amr pwd otp mfa, acr). prompt=none
// cannot step up. An administrator's reset removes the factors, ends the
// sessions and is audited.
func TestSecondFactorStepUp(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		clock := clocktest.New(time.Now().Add(-2 * time.Hour).UTC().Truncate(30 * time.Second))
		s, dsn := startServerAt(t, dialect, clock)
		ctx := context.Background()
		bob := s.user("bob@example.com", alicePassword)
		carol := s.user("carol@example.com", alicePassword)
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

		// Bob signs in to the plain app with his password (browser x),
		// then sets up an authenticator elsewhere (browser y).
		x := s.newBrowser()
		verifier, challenge := pkce()
		tok := exchange(plainConf, x.login(x.get(plainConf.AuthCodeURL("st", challenge)), bob.Email, alicePassword), verifier)
		wantAMR(t, idTokenClaims(t, tok), []string{"pwd"}, "")
		sid := sidOf(t, tok)
		y := s.newBrowser()
		y.login(y.get(s.issuer+"/account/security"), bob.Email, alicePassword)
		key, _ := enrolTOTP(t, y, clock)
		clock.Advance(30 * time.Second)

		// prompt=none cannot ask for the second factor.
		_, challenge = pkce()
		p := x.get(strictConf.AuthCodeURL("st", challenge, oauth2.SetAuthURLParam("prompt", "none")))
		if cb := p.callback(t); cb.Get("error") != "login_required" {
			t.Fatalf("prompt=none needing a second factor: %v", cb)
		}
		// The strict app asks browser x for the code only; the session is
		// kept and upgraded.
		verifier, challenge = pkce()
		p = x.get(strictConf.AuthCodeURL("st", challenge))
		if p.isLoginPage() || !p.isSecondFactorPage("totp") {
			t.Fatalf("step-up for require_mfa: %d %s %.400s", p.status, p.url, p.body)
		}
		tok = exchange(strictConf, x.secondFactor(p, "totp", totpCode(t, key, clock.Now())), verifier)
		wantAMR(t, idTokenClaims(t, tok), []string{"pwd", "otp", "mfa"}, provider.ACRMultiFactor)
		if got := sidOf(t, tok); got != sid {
			t.Fatalf("the step-up started a new session: sid %q, was %q", got, sid)
		}
		// The upgraded session serves the plain app with its new amr.
		verifier, challenge = pkce()
		tok = exchange(plainConf, x.get(plainConf.AuthCodeURL("st", challenge)), verifier)
		wantAMR(t, idTokenClaims(t, tok), []string{"pwd", "otp", "mfa"}, provider.ACRMultiFactor)

		// A first factor left waiting (Bob's) does not stand in for a later
		// session (Carol's) at a step-up.
		w := s.newBrowser()
		if p := w.login(w.get(s.issuer+"/login"), bob.Email, alicePassword); !p.isSecondFactorPage("totp") {
			t.Fatalf("bob's password: %d %s", p.status, p.url)
		}
		w.login(w.get(s.issuer+"/login"), carol.Email, alicePassword)
		_, challenge = pkce()
		if p := w.get(strictConf.AuthCodeURL("st", challenge)); !p.isSecondFactorPage("enrol") || p.isSecondFactorPage("totp") {
			t.Fatalf("step-up of carol's session after bob's first factor: %d %s %.300s", p.status, p.url, p.body)
		}

		// Carol has no second factor: acr_values asking for one makes her
		// set one up, without her password again, in the same session.
		z := s.newBrowser()
		verifier, challenge = pkce()
		tok = exchange(plainConf, z.login(z.get(plainConf.AuthCodeURL("st", challenge)), carol.Email, alicePassword), verifier)
		sid = sidOf(t, tok)
		verifier, challenge = pkce()
		p = z.get(plainConf.AuthCodeURL("st", challenge, oauth2.SetAuthURLParam("acr_values", provider.ACRMultiFactor)))
		_, p = enrolOnSecondFactorPage(t, z, p, clock)
		tok = exchange(plainConf, p, verifier)
		wantAMR(t, idTokenClaims(t, tok), []string{"pwd", "otp", "mfa"}, provider.ACRMultiFactor)
		if got := sidOf(t, tok); got != sid {
			t.Fatalf("acr_values step-up started a new session: sid %q, was %q", got, sid)
		}

		// An administrator resets Bob's second factors: his sessions end,
		// the reset is audited, and his next sign-in asks the password only.
		robot, robotSecret := s.client(admin.ClientSpec{Name: "robot", Scopes: []string{provider.ScopeAdmin}, FirstParty: true})
		adminTok, errCode := s.ccToken(t, robot.ID, robotSecret, provider.ScopeAdmin)
		if errCode != "" {
			t.Fatal(errCode)
		}
		if status, got, _ := jsonRequest(t, http.MethodGet, s.admin+"/admin/clients/"+strict.ID, adminTok, ""); status != http.StatusOK || got["require_mfa"] != true {
			t.Fatalf("admin API client: %d %v", status, got)
		}
		status, got, _ := jsonRequest(t, http.MethodPost, s.admin+"/admin/users/"+bob.ID+"/reset-mfa", adminTok, "")
		if status != http.StatusOK || got["removed"] != true || got["sessions_ended"] != float64(2) {
			t.Fatalf("reset-mfa: %d %v", status, got)
		}
		status, body, hdr := jsonRequest(t, http.MethodPost, s.admin+"/admin/users/no-such-user/reset-mfa", adminTok, "")
		wantAdminProblem(t, "reset-mfa of an unknown user", status, body, hdr, http.StatusNotFound)
		if p := x.get(s.issuer + "/account/sessions"); !p.isLoginPage() {
			t.Fatalf("bob's session after the reset: %d %s", p.status, p.url)
		}
		verifier, challenge = pkce()
		tok = exchange(plainConf, x.login(x.get(plainConf.AuthCodeURL("st", challenge)), bob.Email, alicePassword), verifier)
		wantAMR(t, idTokenClaims(t, tok), []string{"pwd"}, "")
		waitAuditEvents(t, dsn,
			auditRow{Type: "mfa.reset", Actor: "client:" + robot.ID, Subject: "user:" + bob.ID, ClientID: robot.ID},
			auditRow{Type: "mfa.enrolled", Actor: "user:" + carol.ID, Subject: "user:" + carol.ID})
	})
}

// TestSecondFactorRequiredForEveryone: with login.require_mfa a person
// without a second factor sets one up right after the password, before
// any session exists; the essential acr claim is then met.
func TestSecondFactorRequiredForEveryone(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		clock := clocktest.New(time.Now().Add(-2 * time.Hour).UTC().Truncate(30 * time.Second))
		s, _ := startServerAt(t, dialect, clock, func(c *config.Config) { c.Login.RequireMFA = true })
		dan := s.user("dan@example.com", alicePassword)
		c, secret := s.client(admin.ClientSpec{
			Name: "App", RedirectURIs: []string{"http://127.0.0.1:9999/cb"}, SkipConsent: true, Scopes: []string{"openid"},
		})
		conf := s.oauthConfig(c, secret, "openid")
		b := s.newBrowser()
		verifier, challenge := pkce()
		claims := `{"id_token":{"acr":{"essential":true,"value":"` + provider.ACRMultiFactor + `"}}}`
		p := b.login(b.get(conf.AuthCodeURL("st", challenge, oauth2.SetAuthURLParam("claims", claims))), dan.Email, alicePassword)
		if acc := b.get(s.issuer + "/account/sessions"); !acc.isLoginPage() {
			t.Fatalf("a session before the second factor was set up: %d %s", acc.status, acc.url)
		}
		p = b.get(p.url.String())
		_, p = enrolOnSecondFactorPage(t, b, p, clock)
		tok, err := conf.Exchange(context.Background(), p.callback(t).Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		wantAMR(t, idTokenClaims(t, tok), []string{"pwd", "otp", "mfa"}, provider.ACRMultiFactor)
	})
}

// TestResetMFACLI: `gatehouse users reset-mfa` removes a person's second
// factors on the shared database, ends their sessions and is audited.
func TestResetMFACLI(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		cliEnv(t)
		clock := clocktest.New(time.Now().Add(-2 * time.Hour).UTC().Truncate(30 * time.Second))
		s, dsn := startServerAt(t, dialect, clock)
		t.Setenv("GATEHOUSE_DSN", dsn)
		erin := s.user("erin@example.com", alicePassword)
		b := s.newBrowser()
		b.login(b.get(s.issuer+"/account/security"), erin.Email, alicePassword)
		enrolTOTP(t, b, clock)

		out, _, err := cli(t, "", "users", "reset-mfa", "--email", "Erin@Example.com", "--json")
		if err != nil {
			t.Fatalf("users reset-mfa: %v", err)
		}
		var res admin.SecondFactorResetView
		if err := json.Unmarshal([]byte(out), &res); err != nil || !res.Removed || res.SessionsEnded != 1 || res.UserID != erin.ID {
			t.Fatalf("reset-mfa output %q: %+v %v", out, res, err)
		}
		if _, err := s.store.UserTOTP(context.Background(), erin.ID); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("authenticator after the reset: %v", err)
		}
		if p := b.get(s.issuer + "/account/security"); !p.isLoginPage() {
			t.Fatalf("erin's session after the reset: %d %s", p.status, p.url)
		}
		waitAuditEvents(t, dsn, auditRow{Type: "mfa.reset", Actor: "operator", Subject: "user:" + erin.ID})

		// The operator's client setting: --require-mfa on create and update
		// (on a database of the CLI's own secret).
		t.Setenv("GATEHOUSE_DSN", bunstoretest.NewDSN(t, dialect))
		if _, _, err := cli(t, "", "migrate"); err != nil {
			t.Fatal(err)
		}
		var c map[string]any
		cliJSON(t, &c, "", "clients", "create", "--name", "Strict", "--redirect-uri", "http://127.0.0.1:9999/cb", "--require-mfa", "--json")
		if c["require_mfa"] != true {
			t.Fatalf("clients create --require-mfa: %v", c)
		}
		cliJSON(t, &c, "", "clients", "update", c["client_id"].(string), "--require-mfa=false", "--json")
		if c["require_mfa"] != false {
			t.Fatalf("clients update --require-mfa=false: %v", c)
		}
	})
}

// TestAccountSecurityManagesSecondFactors: on /account/security a person
// gets new recovery codes (the old ones stop), and removes the
// authenticator only with a current code or the password; sign-in then
// asks for the password alone. A session without the second factor of a
// person who has one is stepped up before the page shows.
func TestAccountSecurityManagesSecondFactors(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		clock := clocktest.New(time.Now().Add(-2 * time.Hour).UTC().Truncate(30 * time.Second))
		s, _ := startServerAt(t, dialect, clock)
		fay := s.user("fay@example.com", alicePassword)
		b := s.newBrowser()
		b.login(b.get(s.issuer+"/account/security"), fay.Email, alicePassword)
		key, old := enrolTOTP(t, b, clock)

		p := b.get(s.issuer + "/account/security")
		p = b.post(s.issuer+"/account/security/recovery-codes", p.formValues())
		var fresh []string
		for _, m := range recoveryCodeRe.FindAllStringSubmatch(p.body, -1) {
			fresh = append(fresh, m[1])
		}
		if p.status != http.StatusOK || len(fresh) != 10 || slices.Contains(fresh, old[0]) {
			t.Fatalf("new recovery codes: %d %v", p.status, fresh)
		}
		// The old codes no longer work, the new ones do.
		b2 := s.newBrowser()
		p = b2.login(b2.get(s.issuer+"/account/security"), fay.Email, alicePassword)
		p = refusedSecondFactor(t, b2.secondFactor(p, "recovery_code", old[2]), "an old recovery code")
		p = b2.secondFactor(p, "recovery_code", fresh[0])
		if p.status != http.StatusOK || p.url.Path != "/account/security" || !strings.Contains(p.body, "Recovery codes left: 9") {
			t.Fatalf("after a new recovery code: %d %s %.300s", p.status, p.url, p.body)
		}

		// Removing needs proof: nothing, or a wrong password, is refused.
		form := p.formValues()
		if p = b2.post(s.issuer+"/account/security/totp/remove", form); p.status != http.StatusBadRequest {
			t.Fatalf("remove without proof: %d", p.status)
		}
		form.Set("password", "not the password")
		if p = b2.post(s.issuer+"/account/security/totp/remove", form); p.status != http.StatusUnauthorized {
			t.Fatalf("remove with a wrong password: %d", p.status)
		}
		clock.Advance(30 * time.Second)
		form = p.formValues()
		form.Set("code", totpCode(t, key, clock.Now()))
		if p = b2.post(s.issuer+"/account/security/totp/remove", form); p.status != http.StatusOK || !strings.Contains(p.body, `action="/account/security/totp"`) {
			t.Fatalf("remove with a current code: %d %.300s", p.status, p.body)
		}
		b3 := s.newBrowser()
		if p = b3.login(b3.get(s.issuer+"/account/security"), fay.Email, alicePassword); p.status != http.StatusOK || p.url.Path != "/account/security" {
			t.Fatalf("sign-in after removal: %d %s", p.status, p.url)
		}
	})
}
