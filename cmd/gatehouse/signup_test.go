package main

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/internal/smtptest"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/storage"
)

var signupLink = regexp.MustCompile(`https?://[^\s"<>]+/signup/complete\?token=[A-Za-z0-9_\-]+`)

func withSignup(domains ...string) func(*config.Config) {
	return func(c *config.Config) { c.Signup.Enabled, c.Signup.AllowedDomains = true, domains }
}

// promptValues reads prompt_values_supported from discovery.
func (s *testServer) promptValues(t *testing.T) []string {
	t.Helper()
	status, doc, _ := jsonRequest(t, http.MethodGet, s.issuer+"/.well-known/openid-configuration", "", "")
	if status != http.StatusOK {
		t.Fatalf("discovery: %d", status)
	}
	var out []string
	for _, v := range doc["prompt_values_supported"].([]any) {
		out = append(out, v.(string))
	}
	return out
}

// signup fills in the sign-up form shown on p.
func (b *browser) signup(p *page, email, name, password string) *page {
	b.t.Helper()
	if !strings.Contains(p.body, `action="/signup"`) {
		b.t.Fatalf("expected the sign-up page, got %d %s: %.300s", p.status, p.url, p.body)
	}
	form := p.formValues()
	form.Set("email", email)
	form.Set("name", name)
	form.Set("password", password)
	form.Set("password_confirm", password)
	return b.post(b.s.issuer+"/signup", form)
}

// TestSignupWithPromptCreate: an app sends a person straight to sign-up
// with prompt=create (Initiating User Registration 1.0); the e-mail
// arrives at a real SMTP server, its link makes the account (address
// verified), signs the browser in and finishes the app's request; the ID
// token names the new account with email_verified true. The link works
// once. Discovery advertises create only with sign-up on, and prompt=create
// is refused when it is off.
func TestSignupWithPromptCreate(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		srv := smtptest.Start(t)
		s := startServer(t, dialect, withSMTP(srv), withSignup())
		if v := s.promptValues(t); !slices.Contains(v, "create") {
			t.Errorf("prompt_values_supported = %v, want create", v)
		}
		app, appSecret := s.client(admin.ClientSpec{Name: "App", RedirectURIs: []string{appRedirect}, SkipConsent: true})
		conf := s.oauthConfig(app, appSecret, "openid", "email")
		verifier, challenge := pkce()
		b := s.newBrowser()
		p := b.get(conf.AuthCodeURL(randomString(t, 16), challenge, oauth2.SetAuthURLParam("prompt", "create")))
		if p.url.Path != "/signup" || p.url.Query().Get("flow") == "" {
			t.Fatalf("prompt=create landed on %s: %d %.300s", p.url, p.status, p.body)
		}
		if sent := b.signup(p, "nina@example.com", "Nina", "password-123"); sent.status != http.StatusOK || !strings.Contains(sent.body, `id="signup-sent"`) {
			t.Fatalf("signing up: %d %.300s", sent.status, sent.body)
		}
		if _, err := s.store.UserByEmail(context.Background(), "nina@example.com"); err == nil {
			t.Fatal("the account was made before the link was opened")
		}
		text, _ := srv.Wait(mailWait).Part("text/plain")
		link := signupLink.FindString(text)
		if link == "" {
			t.Fatalf("no sign-up link in %q", text)
		}
		page := b.get(link)
		if page.status != http.StatusOK || !strings.Contains(page.body, `action="/signup/complete"`) {
			t.Fatalf("sign-up link page: %d %.300s", page.status, page.body)
		}
		done := b.post(s.issuer+"/signup/complete", page.formValues())
		cb := done.callback(t)
		tok, err := conf.Exchange(context.Background(), cb.Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		u, err := s.store.UserByEmail(context.Background(), "nina@example.com")
		if err != nil || !u.EmailVerified || u.Name != "Nina" {
			t.Fatalf("the new account = %+v, %v", u, err)
		}
		if v := emailVerifiedClaim(t, tok); v != true {
			t.Errorf("email_verified = %v", v)
		}
		if p := b.get(link); p.status != http.StatusBadRequest {
			t.Errorf("the used link: %d", p.status)
		}
		// The new password signs in.
		fresh := s.newBrowser()
		fresh.login(fresh.get(s.issuer+"/login"), "nina@example.com", "password-123")
		if !fresh.signedIn() {
			t.Error("the password chosen at sign-up does not sign in")
		}

		off := startServer(t, dialect, withSMTP(srv))
		if v := off.promptValues(t); slices.Contains(v, "create") {
			t.Errorf("prompt_values_supported with sign-up off = %v", v)
		}
		if p := off.newBrowser().get(off.issuer + "/login"); strings.Contains(p.body, `href="/signup`) {
			t.Error("the login page offers sign-up while it is off")
		}
		offApp, offSecret := off.client(admin.ClientSpec{Name: "App", RedirectURIs: []string{appRedirect}, SkipConsent: true})
		_, ch := pkce()
		p = off.newBrowser().get(off.oauthConfig(offApp, offSecret, "openid").AuthCodeURL(randomString(t, 16), ch, oauth2.SetAuthURLParam("prompt", "create")))
		if q := p.callback(t); q.Get("error") != "invalid_request" {
			t.Errorf("prompt=create with sign-up off: %v", q)
		}
	})
}

// TestSignupAnswersAlike: signing up with the address of an existing
// account and with a new one gives the same status and page; the owner of
// the existing account gets an e-mail saying someone tried, and no second
// account is made. Both requests do the same work (argon2id of the
// password and one deferred outbox row; the account is looked up later by
// the outbox); medians of 30 tries each are logged and compared with a
// generous bound only.
func TestSignupAnswersAlike(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		srv := smtptest.Start(t)
		s := startServer(t, dialect, withSMTP(srv), withSignup(), func(c *config.Config) { c.RateLimits.Enabled = false })
		owner := s.user("owner@example.com", "password-123")
		b := s.newBrowser()
		form := b.get(s.issuer + "/signup")
		existing := b.signup(form, "owner@example.com", "Mallory", "password-456")
		fresh := b.signup(form, "newbie@example.com", "Mallory", "password-456")
		normal := func(p *page, email string) string { return strings.ReplaceAll(p.body, email, "EMAIL") }
		if existing.status != fresh.status || normal(existing, "owner@example.com") != normal(fresh, "newbie@example.com") {
			t.Fatalf("answers differ:\n%d %s\n%d %s", existing.status, existing.body, fresh.status, fresh.body)
		}
		got := map[string]string{}
		for range 2 {
			m := srv.Wait(mailWait)
			got[m.To[0]] = m.Header("Subject")
		}
		if !strings.Contains(got["owner@example.com"], "tried to sign up") || !strings.Contains(got["newbie@example.com"], "Finish creating") {
			t.Fatalf("messages: %v", got)
		}
		list, err := s.store.ListUsers(context.Background(), storage.Page{})
		if err != nil || len(list) != 1 || list[0].ID != owner.ID {
			t.Fatalf("users = %v, %v; want only the owner", list, err)
		}

		timed := func(email string) time.Duration {
			start := time.Now()
			if p := b.signup(form, email, "X", "password-789"); p.status != http.StatusOK {
				t.Fatalf("sign-up: %d", p.status)
			}
			return time.Since(start)
		}
		var ed, nd []time.Duration
		for range 30 {
			ed = append(ed, timed("owner@example.com"))
			nd = append(nd, timed("newbie@example.com"))
		}
		me, mn := median(ed), median(nd)
		t.Logf("%s: median sign-up answer for an existing account %s, for a new address %s", dialect, me, mn)
		if d := (me - mn).Abs(); d > 50*time.Millisecond+max(me, mn) {
			t.Errorf("medians differ by %s (existing %s, new %s)", d, me, mn)
		}
	})
}

// TestSignupAllowedDomainsAndLimits: only the allowed domains may sign
// up; a fourth request for one address within 15 minutes is refused.
func TestSignupAllowedDomainsAndLimits(t *testing.T) {
	srv := smtptest.Start(t)
	s := startServer(t, "sqlite", withSMTP(srv), withSignup("example.com"))
	b := s.newBrowser()
	form := b.get(s.issuer + "/signup")
	if p := b.signup(form, "eve@evil.example", "", "password-123"); p.status != http.StatusBadRequest || !strings.Contains(p.body, "domain") {
		t.Errorf("another domain: %d %.300s", p.status, p.body)
	}
	if p := b.signup(form, "x@example.com", "", "short"); p.status != http.StatusBadRequest || !strings.Contains(p.body, "8 to") {
		t.Errorf("a short password: %d", p.status)
	}
	for i := range 3 {
		if p := b.signup(form, "amy@example.com", "", "password-123"); p.status != http.StatusOK {
			t.Fatalf("request %d: %d", i+1, p.status)
		}
	}
	if p := b.signup(form, "amy@example.com", "", "password-123"); p.status != http.StatusTooManyRequests {
		t.Errorf("fourth request: %d", p.status)
	}
}

// TestSignupThenSecondFactorWhenRequired: a completed sign-up is a first
// factor like a password sign-in. When the operator asks everyone for a
// second factor (login.require_mfa), the new person sets one up before any
// session exists, as after a password sign-in.
func TestSignupThenSecondFactorWhenRequired(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		srv := smtptest.Start(t)
		s := startServer(t, dialect, withSMTP(srv), withSignup(), func(c *config.Config) { c.Login.RequireMFA = true })
		b := s.newBrowser()
		if sent := b.signup(b.get(s.issuer+"/signup"), "mona@example.com", "Mona", "password-123"); sent.status != http.StatusOK {
			t.Fatalf("signing up: %d %.300s", sent.status, sent.body)
		}
		text, _ := srv.Wait(mailWait).Part("text/plain")
		page := b.get(signupLink.FindString(text))
		done := b.post(s.issuer+"/signup/complete", page.formValues())
		if done.url.Path != "/login/second-factor" {
			t.Fatalf("after sign-up with a second factor required: %d at %s, want the second-factor page", done.status, done.url)
		}
		if b.signedIn() {
			t.Fatal("a session exists before the second factor")
		}
	})
}
