package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/internal/testservices"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/keys"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

// balancer is a loopback reverse proxy in front of several instances that
// sends every request to the instance the test chose last, as a load
// balancer without affinity may.
type balancer struct {
	url    string
	target atomic.Pointer[url.URL]
}

func newBalancer(t *testing.T) *balancer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lb := &balancer{url: "http://" + ln.Addr().String()}
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(lb.target.Load())
		r.Out.Host = r.In.Host // the instances answer for the balancer's name
	}}
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return lb
}

// to sends the following requests to s.
func (lb *balancer) to(s *testServer) {
	u, err := url.Parse(s.addr)
	if err != nil {
		panic(err)
	}
	lb.target.Store(u)
}

// changeCheck is how often the test's instances look for what the other
// changed (2 s in production), so that a change shows within milliseconds.
const changeCheck = 50 * time.Millisecond

// propagationBound is how long the test waits at most for another instance
// to see a change: many of its checks (a loaded CI machine delays them),
// yet below the 10 s the caches would take to expire on their own, so the
// test still fails without the checks.
const propagationBound = 7 * time.Second

// TestTwoInstancesBehaveAsOne runs two gatehouse instances on one
// PostgreSQL database behind a balancer and moves every step of a user's
// life to the other instance: sign-in and consent on A, code exchange on
// B, refresh on A, revocation on B, introspection on A; a session and a
// consent made on A hold on B; an API key revoked on B is refused by A
// within seconds, and so is a client secret rotated on B; a key rotation on
// B is published and used by A.
func TestTwoInstancesBehaveAsOne(t *testing.T) {
	t.Parallel()
	testservices.PostgresDSNFor(t, "several instances share a database only on PostgreSQL")
	ctx := context.Background()
	lb := newBalancer(t)
	sharedSecret := randomString(t, 32)
	shared := func(c *config.Config) {
		c.Issuer = lb.url // both answer as the one public name
		c.Secret = sharedSecret
	}
	dsn := bunstoretest.NewDSN(t, "postgres")
	checkOften := appOptions{background: backgroundIntervals{changeCheck: changeCheck}}
	a := startServerWith(t, openMigrated(t, dsn, bunstore.Options{}), checkOften, shared)
	b := startServerWith(t, openMigrated(t, dsn, bunstore.Options{}), checkOften, shared)
	// Both answer as the balancer: a.issuer == b.issuer == lb.url, and the
	// harness's clients and browser go through it.
	front := a

	u := a.user("ada@example.com", alicePassword)
	app, appSecret := a.client(admin.ClientSpec{Name: "Web app", RedirectURIs: []string{appRedirect}})
	conf := front.oauthConfig(app, appSecret, "openid", "offline_access")

	// Sign-in and consent on A.
	lb.to(a)
	br := front.newBrowser()
	verifier, challenge := pkce()
	p := br.get(conf.AuthCodeURL(randomString(t, 16), challenge, oauth2.SetAuthURLParam("nonce", randomString(t, 16))))
	p = br.login(p, "ada@example.com", alicePassword)
	p = br.consent(p, "allow")
	code := p.callback(t).Get("code")
	if code == "" {
		t.Fatal("no code from A")
	}

	// Code exchange on B; the ID token verifies against the balancer's
	// discovery and JWKS (whichever instance answers).
	lb.to(b)
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("code exchange on B: %v", err)
	}
	op, err := oidc.NewProvider(ctx, lb.url)
	if err != nil {
		t.Fatal(err)
	}
	verifyID := func(tok *oauth2.Token) *oidc.IDToken {
		t.Helper()
		raw, _ := tok.Extra("id_token").(string)
		idt, err := op.Verifier(&oidc.Config{ClientID: app.ID}).Verify(ctx, raw)
		if err != nil {
			t.Fatalf("ID token: %v", err)
		}
		return idt
	}
	if idt := verifyID(tok); idt.Subject != u.ID {
		t.Fatalf("ID token subject %q, want %q", idt.Subject, u.ID)
	}

	// Refresh on A.
	lb.to(a)
	refreshed, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refresh on A: %v", err)
	}
	if refreshed.RefreshToken == tok.RefreshToken || refreshed.AccessToken == tok.AccessToken {
		t.Fatal("refresh on A did not rotate the tokens")
	}
	verifyID(refreshed)
	if !front.active(t, app.ID, appSecret, refreshed.AccessToken) {
		t.Fatal("the refreshed access token is not active on A")
	}

	// The session and the consent made on A hold on B: a new authorization
	// request goes straight back to the app.
	lb.to(b)
	if p := br.get(conf.AuthCodeURL(randomString(t, 16), challenge)); p.isLoginPage() || p.isConsentPage() {
		t.Fatalf("B asked again for what A already has: %.200s", p.body)
	} else if p.callback(t).Get("code") == "" {
		t.Fatal("no code from B for the signed-in user")
	}

	// Revocation on B (of the refresh token: the grant ends), introspection
	// on A: inactive.
	if st, body, _ := postForm(t, lb.url+provider.PathRevoke, url.Values{"token": {refreshed.RefreshToken}}, app.ID, appSecret); st != http.StatusOK {
		t.Fatalf("revoke on B: %d %v", st, body)
	}
	lb.to(a)
	for name, tk := range map[string]string{"access": refreshed.AccessToken, "refresh": refreshed.RefreshToken} {
		if front.active(t, app.ID, appSecret, tk) {
			t.Fatalf("the %s token revoked on B is still active on A", name)
		}
	}

	// An API key used on A (so A holds it in its cache), revoked on B:
	// A refuses it within its revocation check, long before the cache
	// would expire.
	machine, _ := a.client(admin.ClientSpec{Name: "Cron", GrantTypes: []string{"client_credentials"}, Scopes: []string{"api"}})
	_, apiKey, err := a.app.admin.CreateAPIKey(ctx, nil, admin.APIKeySpec{ClientID: machine.ID, Name: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	lb.to(a)
	if tok, code := front.ccToken(t, machine.ID, apiKey, "api"); tok == "" {
		t.Fatalf("API key on A: %s", code)
	}
	keyRow, err := a.app.admin.APIKeys(ctx, machine.ID)
	if err != nil || len(keyRow) != 1 {
		t.Fatalf("API keys of the client: %v %v", keyRow, err)
	}
	if err := b.app.admin.RevokeAPIKey(ctx, nil, keyRow[0].ID); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	var refusal string
	if !waitFor(propagationBound, func() bool {
		var tok string
		tok, refusal = front.ccToken(t, machine.ID, apiKey, "api")
		return tok == ""
	}) {
		t.Fatalf("A still issues tokens for an API key revoked on B %s ago", time.Since(revoked))
	}
	if refusal != "invalid_client" {
		t.Fatalf("the revoked API key on A: %s, want invalid_client", refusal)
	}
	t.Logf("A refused the API key revoked on B after %s", time.Since(revoked).Round(time.Millisecond))

	// The app's secret rotated on B: A refuses the old one within its
	// client check, not only after its cache expires.
	if _, err := a.app.store.GetClient(ctx, app.ID); err != nil { // A has it cached
		t.Fatal(err)
	}
	_, newSecret, err := b.app.admin.RotateClientSecret(ctx, nil, app.ID)
	if err != nil {
		t.Fatal(err)
	}
	rotated := time.Now()
	var st int
	if !waitFor(propagationBound, func() bool {
		st, _, _ = postForm(t, lb.url+provider.PathIntrospect, url.Values{"token": {"x"}}, app.ID, appSecret)
		return st == http.StatusUnauthorized
	}) {
		t.Fatalf("A still takes the secret rotated away on B %s ago (status %d)", time.Since(rotated), st)
	}
	if st, _, _ := postForm(t, lb.url+provider.PathIntrospect, url.Values{"token": {"x"}}, app.ID, newSecret); st != http.StatusOK {
		t.Fatalf("the new secret on A: %d", st)
	}
	appSecret = newSecret
	conf.ClientSecret = newSecret

	// A key rotation on B: A publishes the new key and signs with it
	// within its change check, without a restart.
	res, err := b.app.keys.Rotate(ctx, keys.RS256, true)
	if err != nil {
		t.Fatal(err)
	}
	newKID, err := b.app.keys.CurrentKID(keys.RS256)
	if err != nil || newKID == res.RetiredKID {
		t.Fatalf("rotation on B: %+v, current %s, %v", res, newKID, err)
	}
	if !waitFor(propagationBound, func() bool {
		return strings.Contains(getBody(t, a.addr+"/.well-known/jwks.json"), newKID)
	}) {
		t.Fatalf("A's JWKS does not publish B's new key %s after %s", newKID, propagationBound)
	}
	// B publishes the new key before it promotes it: A may have seen the
	// one step and not yet the other.
	var kid string
	if !waitFor(propagationBound, func() bool {
		kid, _ = a.app.keys.CurrentKID(keys.RS256)
		return kid == newKID
	}) {
		t.Fatalf("A signs with %s, want B's new key %s", kid, newKID)
	}
	// A fresh sign-in through A gets an ID token under the new key that
	// verifies against the published set.
	lb.to(a)
	tok2 := front.signIn(t, conf, "ada@example.com", alicePassword)
	verifyID(tok2)
	if kid := jwtKID(t, tok2.Extra("id_token").(string)); kid != newKID {
		t.Fatalf("A's ID token is signed by %s, want %s", kid, newKID)
	}
}

func getBody(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// jwtKID returns the kid of a compact JWS's header.
func jwtKID(t *testing.T, raw string) string {
	t.Helper()
	h, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	var header struct {
		KID string `json:"kid"`
	}
	if err := json.Unmarshal(b, &header); err != nil {
		t.Fatal(err)
	}
	return header.KID
}
