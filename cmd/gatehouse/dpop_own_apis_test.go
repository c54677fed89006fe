package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/handlers"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/dpop"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

// gatehouse's own APIs (userinfo, the admin API, the self-service key
// API) with DPoP-bound access tokens (RFC 9449 §7), end to end: the DPoP
// scheme with a proof per request, the Bearer scheme refused for a bound
// token, and the challenges of §7.1.

// apiAnswer is the answer of an API request.
type apiAnswer struct {
	status int
	body   string
	header http.Header
}

// challenges are the WWW-Authenticate fields of a, one per scheme.
func (a apiAnswer) challenge(scheme string) string {
	for _, c := range a.header.Values("WWW-Authenticate") {
		if name, _, _ := strings.Cut(c, " "); name == scheme {
			return c
		}
	}
	return ""
}

// callAPI sends method u with Authorization auth ("" for none) and the
// DPoP headers proofs.
func callAPI(t *testing.T, method, u, auth string, proofs ...string) apiAnswer {
	t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for _, p := range proofs {
		req.Header.Add(dpop.HeaderName, p)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return apiAnswer{status: resp.StatusCode, body: string(body), header: resp.Header}
}

// wantChallenge checks a 401 whose challenge of scheme carries error
// code (and, for DPoP, the algorithms), as the body does unless it is a
// problem document (which keeps its shape).
func wantChallenge(t *testing.T, what string, a apiAnswer, scheme, code string) {
	t.Helper()
	ch := a.challenge(scheme)
	problem := a.header.Get("Content-Type") == "application/problem+json"
	if a.status != http.StatusUnauthorized || !strings.Contains(ch, `error="`+code+`"`) || !(problem || strings.Contains(a.body, `"error":"`+code+`"`)) {
		t.Fatalf("%s: %d %q (WWW-Authenticate %q); want 401 with %s error=%q", what, a.status, a.body, a.header.Values("WWW-Authenticate"), scheme, code)
	}
	if d := a.challenge(dpop.Scheme); !strings.Contains(d, `algs="ES256 `) {
		t.Fatalf("%s: DPoP challenge %q; want the proof algorithms", what, d)
	}
}

// dpopUserToken signs jane in for client c (its secret: "" for a public
// client) and exchanges the code with a proof of p: a DPoP-bound access
// token.
func dpopUserToken(t *testing.T, s *testServer, c, secret string, p *dpop.Prover, email string, scopes ...string) string {
	t.Helper()
	client, err := s.store.ClientByID(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	conf := s.oauthConfig(client, secret, scopes...)
	verifier, challenge := pkce()
	cb := s.newBrowser().authorizeAndLogin(conf.AuthCodeURL(randomString(t, 16), challenge), email, alicePassword)
	form := url.Values{"grant_type": {"authorization_code"}, "code": {cb.Get("code")}, "code_verifier": {verifier}, "redirect_uri": {appRedirect}}
	user := c
	if secret == "" {
		form.Set("client_id", c)
		user = ""
	}
	status, body, _ := dpopTokenRequest(t, s, form, user, secret, proveToken(t, s, p, ""))
	return wantDPoPToken(t, "code exchange", status, body)
}

// TestDPoPUserinfo: userinfo takes a DPoP-bound token with the DPoP
// scheme and a proof of its key for this request and this token; every
// other way of presenting it is refused with the challenge RFC 9449 §7.1
// names.
func TestDPoPUserinfo(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		jane := s.user("jane@example.com", alicePassword)
		c, secret := s.client(admin.ClientSpec{Name: "web", RedirectURIs: []string{appRedirect}, SkipConsent: true})
		prover, thief := newProver(t), newProver(t)
		at := dpopUserToken(t, s, c.ID, secret, prover, "jane@example.com", "openid", "email")
		userinfo := s.issuer + provider.PathUserinfo
		prove := func(p *dpop.Prover, method, u, token string) string { return proveAt(t, p, method, u, token, "") }

		a := callAPI(t, http.MethodGet, userinfo, "DPoP "+at, prove(prover, http.MethodGet, userinfo, at))
		if a.status != http.StatusOK || !strings.Contains(a.body, jane.ID) || !strings.Contains(a.body, "jane@example.com") {
			t.Fatalf("userinfo with the DPoP scheme and a proof: %d %s", a.status, a.body)
		}
		req, _ := http.NewRequest(http.MethodPost, userinfo, nil)
		req.Header.Set("Authorization", "DPoP "+at)
		req.Header.Set(dpop.HeaderName, prove(prover, http.MethodPost, userinfo, at))
		if status, out, _ := doJSON(t, req); status != http.StatusOK || out["sub"] != jane.ID {
			t.Fatalf("userinfo by POST: %d %v", status, out)
		}

		// §7.2: a bound token presented as a bearer token is refused, with
		// or without a proof beside it.
		wantChallenge(t, "as Bearer", callAPI(t, http.MethodGet, userinfo, "Bearer "+at), "Bearer", "invalid_token")
		wantChallenge(t, "as Bearer with a proof", callAPI(t, http.MethodGet, userinfo, "Bearer "+at, prove(prover, http.MethodGet, userinfo, at)),
			"Bearer", "invalid_token")
		form := url.Values{"access_token": {at}}
		status, out, hdr := postForm(t, userinfo, form, "", "")
		if status != http.StatusUnauthorized || out["error"] != "invalid_token" || !strings.Contains(hdr.Get("WWW-Authenticate"), "invalid_token") {
			t.Fatalf("as access_token in the body: %d %v", status, out)
		}

		for what, proofs := range map[string][]string{
			"no proof":                              nil,
			"two proofs":                            {prove(prover, http.MethodGet, userinfo, at), prove(prover, http.MethodGet, userinfo, at)},
			"a proof without ath":                   {prove(prover, http.MethodGet, userinfo, "")},
			"a proof for another token":             {prove(prover, http.MethodGet, userinfo, at+"x")},
			"a proof of another key":                {prove(thief, http.MethodGet, userinfo, at)},
			"a proof for another URL":               {prove(prover, http.MethodGet, s.issuer+provider.PathToken, at)},
			"a proof for another method":            {prove(prover, http.MethodPost, userinfo, at)},
			"a proof at the listener's own address": {prove(prover, http.MethodGet, strings.Replace(userinfo, "127.0.0.1", "localhost", 1), at)},
		} {
			wantChallenge(t, what, callAPI(t, http.MethodGet, userinfo, "DPoP "+at, proofs...), dpop.Scheme, dpop.CodeInvalidProof)
		}
		// A proof is good once (§11.1).
		proof := prove(prover, http.MethodGet, userinfo, at)
		if a := callAPI(t, http.MethodGet, userinfo, "DPoP "+at, proof); a.status != http.StatusOK {
			t.Fatalf("a fresh proof: %d %s", a.status, a.body)
		}
		wantChallenge(t, "a replayed proof", callAPI(t, http.MethodGet, userinfo, "DPoP "+at, proof), dpop.Scheme, dpop.CodeInvalidProof)

		// A Bearer token cannot be presented with the DPoP scheme.
		conf := s.oauthConfig(c, secret, "openid")
		bearer := s.signIn(t, conf, "jane@example.com", alicePassword).AccessToken
		wantChallenge(t, "an unbound token with the DPoP scheme",
			callAPI(t, http.MethodGet, userinfo, "DPoP "+bearer, prove(prover, http.MethodGet, userinfo, bearer)), dpop.Scheme, "invalid_token")
		if a := callAPI(t, http.MethodGet, userinfo, "Bearer "+bearer); a.status != http.StatusOK {
			t.Fatalf("a Bearer token as Bearer: %d %s", a.status, a.body)
		}

		// No credential: both challenges (RFC 9449 §7.1), the error on
		// Bearer as before.
		a = callAPI(t, http.MethodGet, userinfo, "")
		if a.status != http.StatusUnauthorized || a.challenge("Bearer") == "" || a.challenge(dpop.Scheme) == "" ||
			strings.Contains(a.challenge(dpop.Scheme), "error=") {
			t.Fatalf("no credential: %d %q", a.status, a.header.Values("WWW-Authenticate"))
		}
	})
}

// TestDPoPUserinfoNonce: with nonces required, a proof without one is
// answered 401 use_dpop_nonce with the nonce in DPoP-Nonce (RFC 9449 §9);
// the retry with it succeeds, and its answer carries the nonce to use
// next.
func TestDPoPUserinfoNonce(t *testing.T) {
	t.Parallel()
	s := startServer(t, "sqlite", func(c *config.Config) { c.DPoP.RequireNonce = true })
	s.user("jane@example.com", alicePassword)
	c, secret := s.client(admin.ClientSpec{Name: "web", RedirectURIs: []string{appRedirect}, SkipConsent: true})
	prover := newProver(t)

	// The token request learns the nonce first (the token side's §8).
	conf := s.oauthConfig(c, secret, "openid")
	verifier, challenge := pkce()
	cb := s.newBrowser().authorizeAndLogin(conf.AuthCodeURL(randomString(t, 16), challenge), "jane@example.com", alicePassword)
	form := url.Values{"grant_type": {"authorization_code"}, "code": {cb.Get("code")}, "code_verifier": {verifier}, "redirect_uri": {appRedirect}}
	_, _, hdr := dpopTokenRequest(t, s, form, c.ID, secret, proveToken(t, s, prover, ""))
	nonce := hdr.Get(dpop.NonceHeader)
	status, body, _ := dpopTokenRequest(t, s, form, c.ID, secret, proveToken(t, s, prover, nonce))
	at := wantDPoPToken(t, "code exchange with the nonce", status, body)

	userinfo := s.issuer + provider.PathUserinfo
	a := callAPI(t, http.MethodGet, userinfo, "DPoP "+at, proveAt(t, prover, http.MethodGet, userinfo, at, ""))
	wantChallenge(t, "userinfo without a nonce", a, dpop.Scheme, dpop.CodeUseNonce)
	nonce = a.header.Get(dpop.NonceHeader)
	if nonce == "" {
		t.Fatal("use_dpop_nonce without a DPoP-Nonce header")
	}
	a = callAPI(t, http.MethodGet, userinfo, "DPoP "+at, proveAt(t, prover, http.MethodGet, userinfo, at, nonce))
	if a.status != http.StatusOK || a.header.Get(dpop.NonceHeader) == "" {
		t.Fatalf("userinfo with the nonce: %d %s (DPoP-Nonce %q)", a.status, a.body, a.header.Get(dpop.NonceHeader))
	}
	wantChallenge(t, "a forged nonce", callAPI(t, http.MethodGet, userinfo, "DPoP "+at, proveAt(t, prover, http.MethodGet, userinfo, at, "AAAA")),
		dpop.Scheme, dpop.CodeUseNonce)
}

// TestDPoPAdminAndKeyAPIs: the admin API (on its own listener, where a
// proof names the URL the request was made to) and the self-service key
// API take DPoP-bound tokens with a proof and refuse them as Bearer; their
// refusals stay problem documents.
func TestDPoPAdminAndKeyAPIs(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		robot, robotSecret := s.client(admin.ClientSpec{Name: "robot", Scopes: []string{provider.ScopeAdmin}, FirstParty: true})
		prover, thief := newProver(t), newProver(t)
		status, body, _ := dpopTokenRequest(t, s, url.Values{"grant_type": {"client_credentials"}, "scope": {provider.ScopeAdmin}},
			robot.ID, robotSecret, proveToken(t, s, prover, ""))
		at := wantDPoPToken(t, "the admin client's token", status, body)

		clients := s.admin + "/admin/clients"
		a := callAPI(t, http.MethodGet, clients, "DPoP "+at, proveAt(t, prover, http.MethodGet, clients, at, ""))
		if a.status != http.StatusOK || !strings.Contains(a.body, robot.ID) {
			t.Fatalf("admin API with a proof: %d %s", a.status, a.body)
		}
		problem := func(what string, a apiAnswer, scheme, code string) {
			t.Helper()
			wantChallenge(t, what, a, scheme, code)
			if ct := a.header.Get("Content-Type"); ct != "application/problem+json" || !strings.Contains(a.body, `"status":401`) {
				t.Fatalf("%s: %s %s; want a problem document", what, ct, a.body)
			}
			if !strings.Contains(a.challenge(scheme), `realm="gatehouse-admin"`) {
				t.Fatalf("%s: challenge %q; want the realm", what, a.challenge(scheme))
			}
		}
		problemDPoP := func(what string, a apiAnswer) { t.Helper(); problem(what, a, dpop.Scheme, dpop.CodeInvalidProof) }
		problem("admin API as Bearer", callAPI(t, http.MethodGet, clients, "Bearer "+at), "Bearer", "invalid_token")
		problemDPoP("admin API with another key's proof", callAPI(t, http.MethodGet, clients, "DPoP "+at, proveAt(t, thief, http.MethodGet, clients, at, "")))
		problemDPoP("admin API with a proof for the public listener",
			callAPI(t, http.MethodGet, clients, "DPoP "+at, proveAt(t, prover, http.MethodGet, s.issuer+"/admin/clients", at, "")))
		problemDPoP("admin API with a proof for another resource",
			callAPI(t, http.MethodGet, clients, "DPoP "+at, proveAt(t, prover, http.MethodGet, s.admin+"/admin/users", at, "")))
		if a := callAPI(t, http.MethodGet, clients, ""); a.status != http.StatusUnauthorized || a.challenge("Bearer") != `Bearer realm="gatehouse-admin"` ||
			a.challenge(dpop.Scheme) == "" || strings.Contains(a.challenge(dpop.Scheme), "error=") {
			t.Fatalf("admin API without a token: %d %q", a.status, a.header.Values("WWW-Authenticate"))
		}

		// The key API: a person's token from a first-party app.
		kim := s.user("kim@example.com", alicePassword)
		console, consoleSecret := s.client(admin.ClientSpec{Name: "Developer console", RedirectURIs: []string{appRedirect},
			Scopes: []string{"openid", provider.ScopeAPIKeys}, FirstParty: true, SkipConsent: true})
		s.client(admin.ClientSpec{Name: "Kim's job", Scopes: []string{"reports:read"}, OwnerID: kim.ID})
		kimAT := dpopUserToken(t, s, console.ID, consoleSecret, prover, "kim@example.com", "openid", provider.ScopeAPIKeys)
		keys := s.issuer + handlers.PathAPIKeys
		if a := callAPI(t, http.MethodGet, keys, "DPoP "+kimAT, proveAt(t, prover, http.MethodGet, keys, kimAT, "")); a.status != http.StatusOK {
			t.Fatalf("key API with a proof: %d %s", a.status, a.body)
		}
		a = callAPI(t, http.MethodGet, keys, "Bearer "+kimAT)
		if a.status != http.StatusUnauthorized || !strings.Contains(a.challenge("Bearer"), `error="invalid_token"`) {
			t.Fatalf("key API as Bearer: %d %q %s", a.status, a.header.Values("WWW-Authenticate"), a.body)
		}
		a = callAPI(t, http.MethodGet, keys, "DPoP "+kimAT, proveAt(t, prover, http.MethodGet, keys, "", ""))
		if a.status != http.StatusUnauthorized || !strings.Contains(a.challenge(dpop.Scheme), `error="invalid_dpop_proof"`) {
			t.Fatalf("key API with a proof without ath: %d %q %s", a.status, a.header.Values("WWW-Authenticate"), a.body)
		}
	})
}

// TestDPoPOwnAPIsAcrossInstances: a proof spent at one instance's
// userinfo is refused at another's (RFC 9449 §11.1: one replay cache for
// every instance), the proof naming the issuer's URL whichever instance
// answers; and an instance whose replay cache does not answer refuses a
// DPoP request with 503, never checking it halfway.
func TestDPoPOwnAPIsAcrossInstances(t *testing.T) {
	t.Parallel()
	store := bunstoretest.Open(t, "sqlite", bunstore.Options{})
	lb, sharedSecret := newBalancer(t), randomString(t, 32)
	shared := func(c *config.Config) { c.Issuer, c.Secret = lb.url, sharedSecret }
	a := startServerOn(t, store, shared)
	b := startServerOn(t, store, shared)
	down := startServerOn(t, store, shared, func(c *config.Config) { c.RedisURL = "redis://127.0.0.1:1/0" })
	t.Cleanup(func() { _ = down.app.closeRedis() })
	lb.to(a) // the browser's sign-in
	a.user("jane@example.com", alicePassword)
	c, secret := a.client(admin.ClientSpec{Name: "web", RedirectURIs: []string{appRedirect}, SkipConsent: true})
	prover := newProver(t)
	at := dpopUserToken(t, a, c.ID, secret, prover, "jane@example.com", "openid")

	userinfo := a.issuer + provider.PathUserinfo
	proof := proveAt(t, prover, http.MethodGet, userinfo, at, "")
	if r := callAPI(t, http.MethodGet, a.addr+provider.PathUserinfo, "DPoP "+at, proof); r.status != http.StatusOK {
		t.Fatalf("userinfo on A: %d %s", r.status, r.body)
	}
	wantChallenge(t, "the proof replayed on B", callAPI(t, http.MethodGet, b.addr+provider.PathUserinfo, "DPoP "+at, proof),
		dpop.Scheme, dpop.CodeInvalidProof)
	if r := callAPI(t, http.MethodGet, b.addr+provider.PathUserinfo, "DPoP "+at, proveAt(t, prover, http.MethodGet, userinfo, at, "")); r.status != http.StatusOK {
		t.Fatalf("a fresh proof on B: %d %s", r.status, r.body)
	}

	r := callAPI(t, http.MethodGet, down.addr+provider.PathUserinfo, "DPoP "+at, proveAt(t, prover, http.MethodGet, userinfo, at, ""))
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "temporarily_unavailable") {
		t.Fatalf("userinfo with the replay cache down: %d %s; want 503", r.status, r.body)
	}
	robot, robotSecret := a.client(admin.ClientSpec{Name: "robot", Scopes: []string{provider.ScopeAdmin}, FirstParty: true})
	status, body, _ := dpopTokenRequest(t, a, url.Values{"grant_type": {"client_credentials"}, "scope": {provider.ScopeAdmin}},
		robot.ID, robotSecret, proveToken(t, a, prover, ""))
	adminAT := wantDPoPToken(t, "the admin client's token", status, body)
	clients := down.admin + "/admin/clients"
	if r := callAPI(t, http.MethodGet, clients, "DPoP "+adminAT, proveAt(t, prover, http.MethodGet, clients, adminAT, "")); r.status != http.StatusServiceUnavailable ||
		r.header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("admin API with the replay cache down: %d %s; want a 503 problem document", r.status, r.body)
	}
}
