package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/federation/fedtest"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// fedServer is gatehouse with one upstream ("corp") played by fedtest.
type fedServer struct {
	*testServer
	up *fedtest.Server
}

func startFedServer(t *testing.T, dialect string, mods ...func(*config.Upstream)) *fedServer {
	t.Helper()
	var up *fedtest.Server
	s := startServer(t, dialect, func(c *config.Config) {
		up = fedtest.New(t, fedtest.Options{RedirectURI: c.Issuer + "/login/corp/callback"})
		u := config.Upstream{ID: "corp", Name: "Corp SSO", Issuer: up.URL, ClientID: up.ClientID(), ClientSecret: up.ClientSecret(), AllowSignup: true}
		for _, m := range mods {
			m(&u)
		}
		c.Upstreams = []config.Upstream{u}
	})
	return &fedServer{testServer: s, up: up}
}

// upstreamLogin drives the browser from the login page through the fake
// upstream and back to gatehouse's callback; it returns gatehouse's answer.
func (f *fedServer) upstreamLogin(t *testing.T, b *browser, loginPage *page) *page {
	t.Helper()
	if !strings.Contains(loginPage.body, "Continue with Corp SSO") {
		t.Fatalf("login page has no upstream button: %.400s", loginPage.body)
	}
	link := loginPage.url.Query().Get("flow")
	begin := b.get(f.issuer + "/login/corp?flow=" + url.QueryEscape(link))
	if begin.status != http.StatusSeeOther || !strings.HasPrefix(begin.location, f.up.URL) {
		t.Fatalf("upstream begin: %d %q %.300s", begin.status, begin.location, begin.body)
	}
	return b.get(f.up.Authorize(t, begin.location))
}

// users counts gatehouse's users.
func (f *fedServer) users(t *testing.T) int {
	t.Helper()
	list, err := f.store.ListUsers(context.Background(), storage.Page{})
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

// TestUpstreamSignIn: a first sign-in through the upstream creates the
// user, a second finds the link, an existing user with the same verified
// e-mail is linked, and the client gets gatehouse's own ID token for the
// right user with amr fed.
func TestUpstreamSignIn(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		f := startFedServer(t, dialect)
		ctx := context.Background()
		c, secretValue := f.client(admin.ClientSpec{Name: "App", RedirectURIs: []string{appRedirect}})
		conf := f.oauthConfig(c, secretValue, "openid", "email", "profile")
		op, err := oidc.NewProvider(ctx, f.issuer)
		if err != nil {
			t.Fatal(err)
		}
		signIn := func(b *browser) (*oidc.IDToken, map[string]interface{}) {
			t.Helper()
			verifier, challenge := pkce()
			nonce := randomString(t, 16)
			p := f.upstreamLogin(t, b, b.get(conf.AuthCodeURL(randomString(t, 16), challenge, oidc.Nonce(nonce))))
			if p.isConsentPage() {
				p = b.consent(p, "allow")
			}
			cb := p.callback(t)
			tok, err := conf.Exchange(ctx, cb.Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			raw, _ := tok.Extra("id_token").(string)
			idt, err := op.Verifier(&oidc.Config{ClientID: c.ID}).Verify(ctx, raw)
			if err != nil || idt.Nonce != nonce {
				t.Fatalf("ID token: %v", err)
			}
			var claims map[string]interface{}
			_ = idt.Claims(&claims)
			return idt, claims
		}

		f.up.SetIdentity(fedtest.Identity{Subject: "corp-ada", Email: "ada@corp.example", EmailVerified: true, Name: "Ada L"})
		before := f.users(t)
		idt, claims := signIn(f.newBrowser())
		if f.users(t) != before+1 {
			t.Fatal("first sign-in did not create a user")
		}
		u, err := f.store.UserByEmail(ctx, "ada@corp.example")
		if err != nil || idt.Subject != u.ID || u.Name != "Ada L" || !u.EmailVerified || u.PasswordHash != "" {
			t.Fatalf("created user %+v (sub %s): %v", u, idt.Subject, err)
		}
		if amr, _ := claims["amr"].([]interface{}); len(amr) != 1 || amr[0] != "fed" || claims["acr"] != "urn:gatehouse:upstream:corp" || claims["email"] != "ada@corp.example" {
			t.Fatalf("ID token claims: %v", claims)
		}

		// The second sign-in (another browser) finds the link.
		idt2, _ := signIn(f.newBrowser())
		if idt2.Subject != u.ID || f.users(t) != before+1 {
			t.Fatalf("second sign-in: sub %s, users %d", idt2.Subject, f.users(t))
		}

		// An existing password user with the same, verified e-mail is linked.
		bob := f.user("bob@corp.example", alicePassword)
		f.up.SetIdentity(fedtest.Identity{Subject: "corp-bob", Email: "Bob@corp.example", EmailVerified: true, Name: "Bob"})
		idt3, _ := signIn(f.newBrowser())
		if idt3.Subject != bob.ID || f.users(t) != before+2 {
			t.Fatalf("linking: sub %s want %s", idt3.Subject, bob.ID)
		}
		ids, err := f.store.FederatedIdentitiesOfUser(ctx, bob.ID)
		if err != nil || len(ids) != 1 || ids[0].UpstreamID != "corp" || ids[0].Subject != "corp-bob" {
			t.Fatalf("bob's identities: %v %v", ids, err)
		}

		// The account page lists the link; bob may unlink (he has a
		// password), Ada may not (it is her only way in).
		b := f.newBrowser()
		p := b.login(b.get(f.issuer+"/account/identities"), "bob@corp.example", alicePassword)
		p = b.get(f.issuer + "/account/identities")
		if !strings.Contains(p.body, "Corp SSO") || !strings.Contains(p.body, `action="/account/identities/unlink"`) {
			t.Fatalf("bob's identities page: %.500s", p.body)
		}
		p = b.post(f.issuer+"/account/identities/unlink", p.formValues())
		if !strings.Contains(p.body, "Corp SSO was unlinked.") {
			t.Fatalf("unlink: %d %.400s", p.status, p.body)
		}
		if ids, _ := f.store.FederatedIdentitiesOfUser(ctx, bob.ID); len(ids) != 0 {
			t.Fatal("identity still linked")
		}
		ada := f.newBrowser()
		f.up.SetIdentity(fedtest.Identity{Subject: "corp-ada", Email: "ada@corp.example", EmailVerified: true, Name: "Ada L"})
		p = ada.get(f.issuer + "/account/identities")
		if !p.isLoginPage() {
			t.Fatalf("identities page without session: %d", p.status)
		}
		p = f.upstreamLoginNext(t, ada, p)
		if !strings.Contains(p.body, "only way to sign in") || strings.Contains(p.body, `action="/account/identities/unlink"`) {
			t.Fatalf("Ada's identities page: %d %.500s", p.status, p.body)
		}
		p = ada.post(f.issuer+"/account/identities/unlink", url.Values{"_csrf": {csrfOf(t, ada, f.issuer)}, "upstream": {"corp"}, "subject": {"corp-ada"}})
		if !strings.Contains(p.body, "cannot unlink your only way") {
			t.Fatalf("unlinking the last method: %.400s", p.body)
		}
	})
}

// upstreamLoginNext signs in through the upstream from a flow-less login
// page (the account pages) and returns where it lands.
func (f *fedServer) upstreamLoginNext(t *testing.T, b *browser, loginPage *page) *page {
	t.Helper()
	next := loginPage.formValues().Get("next")
	begin := b.get(f.issuer + "/login/corp?next=" + url.QueryEscape(next))
	if begin.status != http.StatusSeeOther {
		t.Fatalf("upstream begin: %d %.300s", begin.status, begin.body)
	}
	return b.get(f.up.Authorize(t, begin.location))
}

func csrfOf(t *testing.T, b *browser, issuer string) string {
	t.Helper()
	u, _ := url.Parse(issuer)
	for _, ck := range b.client.Jar.Cookies(u) {
		if strings.HasSuffix(ck.Name, "gth_csrf") {
			return ck.Value
		}
	}
	t.Fatal("no CSRF cookie")
	return ""
}

// TestUpstreamSignInRejections: every bad answer ends on an error page
// with a way back to sign-in, and nothing is created or linked.
func TestUpstreamSignInRejections(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		f := startFedServer(t, dialect, func(u *config.Upstream) { u.AllowedDomains = []string{"corp.example"} })
		ctx := context.Background()
		c, secretValue := f.client(admin.ClientSpec{Name: "App", RedirectURIs: []string{appRedirect}})
		conf := f.oauthConfig(c, secretValue, "openid", "email")
		f.user("eve@corp.example", alicePassword)
		unverified := f.user("sam@corp.example", alicePassword)
		unverified.EmailVerified = false
		if err := f.store.UpdateUser(ctx, unverified); err != nil {
			t.Fatal(err)
		}

		// start returns the upstream authorize URL of a fresh sign-in.
		start := func(b *browser) string {
			t.Helper()
			_, ch := pkce()
			login := b.get(conf.AuthCodeURL(randomString(t, 16), ch))
			begin := b.get(f.issuer + "/login/corp?flow=" + url.QueryEscape(login.url.Query().Get("flow")))
			return begin.location
		}
		rejected := func(name string, p *page, wantBack bool) {
			t.Helper()
			if p.status < 400 || p.location != "" || !strings.Contains(p.header.Get("Content-Type"), "text/html") {
				t.Errorf("%s: want an error page, got %d %q", name, p.status, p.location)
				return
			}
			if wantBack && !strings.Contains(p.body, `href="/login?flow=`) {
				t.Errorf("%s: no way back to sign-in: %.400s", name, p.body)
			}
		}
		users := f.users(t)

		for _, tc := range []struct {
			name  string
			ident fedtest.Identity
			brk   []fedtest.Breakage
		}{
			{"wrong nonce", fedtest.Identity{Subject: "x1", Email: "x1@corp.example", EmailVerified: true}, []fedtest.Breakage{fedtest.WrongNonce}},
			{"other issuer", fedtest.Identity{Subject: "x2", Email: "x2@corp.example", EmailVerified: true}, []fedtest.Breakage{fedtest.WrongIssuer}},
			{"other audience", fedtest.Identity{Subject: "x3", Email: "x3@corp.example", EmailVerified: true}, []fedtest.Breakage{fedtest.WrongAudience}},
			{"expired", fedtest.Identity{Subject: "x4", Email: "x4@corp.example", EmailVerified: true}, []fedtest.Breakage{fedtest.Expired}},
			{"bad signature", fedtest.Identity{Subject: "x5", Email: "x5@corp.example", EmailVerified: true}, []fedtest.Breakage{fedtest.BadSignature}},
			{"alg none", fedtest.Identity{Subject: "x6", Email: "x6@corp.example", EmailVerified: true}, []fedtest.Breakage{fedtest.AlgNone}},
			{"unverified e-mail of an existing user", fedtest.Identity{Subject: "x7", Email: "eve@corp.example", EmailVerified: false}, nil},
			{"domain not allowed", fedtest.Identity{Subject: "x8", Email: "mallory@evil.example", EmailVerified: true}, nil},
		} {
			b := f.newBrowser()
			f.up.SetIdentity(tc.ident)
			f.up.Break(tc.brk...)
			rejected(tc.name, b.get(f.up.Authorize(t, start(b))), true)
		}

		// An account whose own address is not verified is never linked,
		// even to an upstream that verified that address.
		b := f.newBrowser()
		f.up.SetIdentity(fedtest.Identity{Subject: "x10", Email: "sam@corp.example", EmailVerified: true})
		p := b.get(f.up.Authorize(t, start(b)))
		rejected("an account with an unverified address", p, true)
		if !strings.Contains(p.body, "has not been verified") {
			t.Errorf("unverified account page: %.300s", p.body)
		}
		if _, err := f.store.FederatedIdentity(ctx, "corp", "x10"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("the upstream identity was linked to an unverified account: %v", err)
		}

		// The upstream says no.
		b = f.newBrowser()
		f.up.DenyNext()
		f.up.SetIdentity(fedtest.Identity{Subject: "x9", Email: "x9@corp.example", EmailVerified: true})
		p = b.get(f.up.Authorize(t, start(b)))
		rejected("access denied", p, true)
		if !strings.Contains(p.body, "did not allow") {
			t.Errorf("access denied page: %.300s", p.body)
		}

		// State: missing, unknown, replayed, from another browser.
		b = f.newBrowser()
		cb := f.up.Authorize(t, start(b))
		u, _ := url.Parse(cb)
		q := u.Query()
		q.Del("state")
		rejected("missing state", b.get(f.issuer+"/login/corp/callback?"+q.Encode()), false)
		q.Set("state", "made-up-state-value")
		rejected("unknown state", b.get(f.issuer+"/login/corp/callback?"+q.Encode()), false)
		other := f.newBrowser()
		rejected("another browser", other.get(cb), true)
		rejected("replayed state", b.get(cb), false)

		// Everything above created and linked nothing.
		if f.users(t) != users {
			t.Fatalf("users went from %d to %d", users, f.users(t))
		}
		eve, _ := f.store.UserByEmail(ctx, "eve@corp.example")
		if ids, _ := f.store.FederatedIdentitiesOfUser(ctx, eve.ID); len(ids) != 0 {
			t.Fatal("an unverified e-mail was linked")
		}

		// Without a domain policy, an unverified e-mail still never links
		// to the existing account with that address.
		f3 := startFedServer(t, dialect)
		c3, s3 := f3.client(admin.ClientSpec{Name: "App", RedirectURIs: []string{appRedirect}})
		victim := f3.user("victim@corp.example", alicePassword)
		b = f3.newBrowser()
		_, ch3 := pkce()
		f3.up.SetIdentity(fedtest.Identity{Subject: "attacker", Email: "victim@corp.example", EmailVerified: false})
		p = f3.upstreamLogin(t, b, b.get(f3.oauthConfig(c3, s3, "openid").AuthCodeURL(randomString(t, 16), ch3)))
		rejected("unverified e-mail, no domain policy", p, true)
		if ids, _ := f3.store.FederatedIdentitiesOfUser(ctx, victim.ID); len(ids) != 0 || f3.users(t) != 1 {
			t.Fatalf("an unverified e-mail was linked or created a user: %v, %d users", ids, f3.users(t))
		}

		// With sign-up off, an unknown person is refused.
		f2 := startFedServer(t, dialect, func(u *config.Upstream) { u.AllowSignup = false })
		c2, s2 := f2.client(admin.ClientSpec{Name: "App", RedirectURIs: []string{appRedirect}})
		conf2 := f2.oauthConfig(c2, s2, "openid")
		b = f2.newBrowser()
		_, ch := pkce()
		f2.up.SetIdentity(fedtest.Identity{Subject: "n1", Email: "new@corp.example", EmailVerified: true})
		p = f2.upstreamLogin(t, b, b.get(conf2.AuthCodeURL(randomString(t, 16), ch)))
		rejected("no sign-up", p, true)
		if f2.users(t) != 0 {
			t.Fatal("a user was created with sign-up off")
		}
	})
}

// TestUpstreamIsAnotherGatehouse: gatehouse B signs people in through
// gatehouse A (a real OpenID Connect provider with its own login and
// consent pages), then issues its own tokens for its own user.
func TestUpstreamIsAnotherGatehouse(t *testing.T) {
	t.Parallel()
	// A lives on "localhost", B on "127.0.0.1": browsers share cookies
	// between ports of one host, so the two must differ by name.
	a := startServer(t, "sqlite", func(c *config.Config) { c.Issuer = strings.Replace(c.Issuer, "127.0.0.1", "localhost", 1) })
	a.user("grace@a.example", alicePassword)
	var bIssuer string
	var upClient *storage.Client
	var upSecret string
	b := startServer(t, "sqlite", func(c *config.Config) {
		bIssuer = c.Issuer
		upClient, upSecret = a.client(admin.ClientSpec{Name: "Gatehouse B", RedirectURIs: []string{c.Issuer + "/login/gha/callback"}})
		c.Upstreams = []config.Upstream{{ID: "gha", Name: "Gatehouse A", Issuer: a.issuer, ClientID: upClient.ID, ClientSecret: upSecret, AllowSignup: true}}
	})
	ctx := context.Background()
	c, secretValue := b.client(admin.ClientSpec{Name: "App on B", RedirectURIs: []string{appRedirect}, SkipConsent: true})
	conf := b.oauthConfig(c, secretValue, "openid", "email")

	// A browser that follows redirects within A and B and stops at the app.
	jar, _ := cookiejar.New(nil)
	aURL, _ := url.Parse(a.issuer)
	bURL, _ := url.Parse(bIssuer)
	br := &browser{t: t, s: b, client: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if req.URL.Host != aURL.Host && req.URL.Host != bURL.Host {
				return http.ErrUseLastResponse
			}
			return nil
		}}}

	verifier, challenge := pkce()
	p := br.get(conf.AuthCodeURL(randomString(t, 16), challenge))
	p = br.get(bIssuer + "/login/gha?flow=" + url.QueryEscape(p.url.Query().Get("flow")))
	if !p.isLoginPage() || p.url.Host != aURL.Host {
		t.Fatalf("expected A's login page, got %d at %s", p.status, p.url)
	}
	form := p.formValues()
	form.Set("email", "grace@a.example")
	form.Set("password", alicePassword)
	p = br.post(a.issuer+"/login", form)
	if p.isConsentPage() {
		form = p.formValues()
		form.Set("decision", "allow")
		p = br.post(a.issuer+"/consent", form)
	}
	cb := p.callback(t)
	tok, err := conf.Exchange(ctx, cb.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange at B: %v", err)
	}
	op, err := oidc.NewProvider(ctx, bIssuer)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := op.Verifier(&oidc.Config{ClientID: c.ID}).Verify(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	gB, err := b.store.UserByEmail(ctx, "grace@a.example")
	if err != nil {
		t.Fatalf("B has no user for Grace: %v", err)
	}
	gA, _ := a.store.UserByEmail(ctx, "grace@a.example")
	if idt.Subject != gB.ID || gB.ID == gA.ID || idt.Issuer != bIssuer {
		t.Fatalf("B's token: sub %s iss %s (B user %s, A user %s)", idt.Subject, idt.Issuer, gB.ID, gA.ID)
	}
}
