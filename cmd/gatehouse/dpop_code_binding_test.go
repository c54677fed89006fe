package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/dpop"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// Binding the authorization code to a DPoP key (RFC 9449 §10), end to
// end: dpop_jkt at the authorization endpoint, a DPoP proof (or dpop_jkt)
// at the PAR endpoint, and the code exchange that then needs a proof of
// that key.

// parURL is what a proof for a pushed authorization request names as htu.
func (s *testServer) parURL() string { return s.issuer + provider.PathPAR }

// dpopPush sends a pushed authorization request for c with the DPoP
// headers proofs (client_secret_basic).
func dpopPush(t *testing.T, s *testServer, c *storage.Client, secret string, form url.Values, proofs ...string) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.addr+provider.PathPAR, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(secret))
	for _, p := range proofs {
		req.Header.Add(dpop.HeaderName, p)
	}
	return doJSON(t, req)
}

// pushForm is a pushed authorization request of c, with its PKCE
// verifier.
func pushForm(t *testing.T, c *storage.Client) (url.Values, string) {
	verifier := oauth2.GenerateVerifier()
	return url.Values{
		"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {c.RedirectURIs[0]}, "scope": {"openid"},
		"state": {randomString(t, 16)}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
	}, verifier
}

// proveAt is a proof of p for a request of method to u, presenting
// accessToken (ath) and nonce when not empty.
func proveAt(t *testing.T, p *dpop.Prover, method, u, accessToken, nonce string) string {
	t.Helper()
	proof, err := p.Proof(method, u, accessToken, nonce)
	if err != nil {
		t.Fatal(err)
	}
	return proof
}

// TestDPoPPushedRequestBindsCode: a pushed request with a DPoP proof binds
// its code to the proof's key (RFC 9449 §10.1): the code is exchanged for
// a DPoP token with a proof of that key only; a dpop_jkt that names
// another key than the proof's is refused, as is a proof for another
// endpoint; a malformed dpop_jkt is invalid_request.
func TestDPoPPushedRequestBindsCode(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		s.user("jane@example.com", alicePassword)
		c, secret := s.client(admin.ClientSpec{Name: "PAR app", RedirectURIs: []string{appRedirect}, SkipConsent: true})
		prover, thief := newProver(t), newProver(t)

		form, verifier := pushForm(t, c)
		status, body, _ := dpopPush(t, s, c, secret, form, proveAt(t, prover, http.MethodPost, s.parURL(), "", ""))
		requestURI, _ := body["request_uri"].(string)
		if status != http.StatusCreated || requestURI == "" {
			t.Fatalf("PAR with a proof: %d %v", status, body)
		}
		authURL := s.issuer + provider.PathAuthorize + "?" + url.Values{"client_id": {c.ID}, "request_uri": {requestURI}}.Encode()
		cb := s.newBrowser().authorizeAndLogin(authURL, "jane@example.com", alicePassword)
		exchange := url.Values{"grant_type": {"authorization_code"}, "code": {cb.Get("code")}, "code_verifier": {verifier}, "redirect_uri": {appRedirect}}

		status, body, _ = dpopTokenRequest(t, s, exchange, c.ID, secret, proveToken(t, s, thief, ""))
		wantProofRefused(t, "code exchange with another key", status, body, dpop.CodeInvalidProof, "the key the authorization code is bound to")
		status, body, _ = dpopTokenRequest(t, s, exchange, c.ID, secret)
		wantProofRefused(t, "code exchange without a proof", status, body, dpop.CodeInvalidProof, "the authorization code is bound to a key")
		status, body, _ = dpopTokenRequest(t, s, exchange, c.ID, secret, proveToken(t, s, prover, ""))
		at := wantDPoPToken(t, "code exchange with the key", status, body)
		if in := s.introspect(t, c.ID, secret, at); cnfJKT(in) != prover.JKT() {
			t.Fatalf("introspection: %v; want cnf.jkt %s", in, prover.JKT())
		}

		// dpop_jkt and the proof must name one key.
		form, _ = pushForm(t, c)
		form.Set(provider.ParamDPoPJKT, thief.JKT())
		status, body, _ = dpopPush(t, s, c, secret, form, proveAt(t, prover, http.MethodPost, s.parURL(), "", ""))
		wantProofRefused(t, "PAR with the dpop_jkt of another key", status, body, dpop.CodeInvalidProof, "dpop_jkt is not the thumbprint")
		form.Set(provider.ParamDPoPJKT, prover.JKT())
		if status, body, _ = dpopPush(t, s, c, secret, form, proveAt(t, prover, http.MethodPost, s.parURL(), "", "")); status != http.StatusCreated {
			t.Fatalf("PAR with the proof's own dpop_jkt: %d %v", status, body)
		}
		// A proof for the token endpoint is no proof for PAR (htu).
		form, _ = pushForm(t, c)
		status, body, _ = dpopPush(t, s, c, secret, form, proveToken(t, s, prover, ""))
		wantProofRefused(t, "PAR with a proof for the token endpoint", status, body, dpop.CodeInvalidProof, "htu")
		// Two proofs.
		status, body, _ = dpopPush(t, s, c, secret, form,
			proveAt(t, prover, http.MethodPost, s.parURL(), "", ""), proveAt(t, prover, http.MethodPost, s.parURL(), "", ""))
		wantProofRefused(t, "PAR with two proofs", status, body, dpop.CodeInvalidProof, "exactly one DPoP header")

		for _, bad := range []string{"abc", prover.JKT() + "A", strings.Repeat("!", 43)} {
			form, _ = pushForm(t, c)
			form.Set(provider.ParamDPoPJKT, bad)
			status, body, _ = dpopPush(t, s, c, secret, form)
			if status != http.StatusBadRequest || body["error"] != "invalid_request" || !strings.Contains(body["error_description"].(string), "dpop_jkt") {
				t.Fatalf("PAR with dpop_jkt %q: %d %v; want invalid_request", bad, status, body)
			}
		}
	})
}

// TestDPoPAuthorizeDPoPJKT: dpop_jkt at the authorization endpoint binds
// the code to that key (RFC 9449 §10): the exchange needs a proof of it;
// a malformed one is invalid_request, sent back to the client; a dpop_jkt
// given twice is refused.
func TestDPoPAuthorizeDPoPJKT(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		s.user("jane@example.com", alicePassword)
		spa, _ := s.client(admin.ClientSpec{Name: "SPA", Public: true, RedirectURIs: []string{appRedirect}, SkipConsent: true})
		conf := s.oauthConfig(spa, "", "openid")
		prover, thief := newProver(t), newProver(t)

		verifier, challenge := pkce()
		b := s.newBrowser()
		cb := b.authorizeAndLogin(conf.AuthCodeURL(randomString(t, 16), challenge, oauth2.SetAuthURLParam(provider.ParamDPoPJKT, prover.JKT())),
			"jane@example.com", alicePassword)
		exchange := url.Values{"grant_type": {"authorization_code"}, "code": {cb.Get("code")}, "code_verifier": {verifier},
			"redirect_uri": {appRedirect}, "client_id": {spa.ID}}
		status, body, _ := dpopTokenRequest(t, s, exchange, "", "", proveToken(t, s, thief, ""))
		wantProofRefused(t, "code exchange with another key", status, body, dpop.CodeInvalidProof, "dpop_jkt")
		status, body, _ = dpopTokenRequest(t, s, exchange, "", "")
		wantProofRefused(t, "code exchange without a proof", status, body, dpop.CodeInvalidProof, "dpop_jkt")
		status, body, _ = dpopTokenRequest(t, s, exchange, "", "", proveToken(t, s, prover, ""))
		wantDPoPToken(t, "code exchange with the key", status, body)

		// Without dpop_jkt the code is not bound: a Bearer token without a
		// proof (the binding is the client's choice).
		verifier, challenge = pkce()
		cb = b.authorizeAndLogin(conf.AuthCodeURL(randomString(t, 16), challenge), "jane@example.com", alicePassword)
		exchange.Set("code", cb.Get("code"))
		exchange.Set("code_verifier", verifier)
		if status, body, _ = dpopTokenRequest(t, s, exchange, "", ""); status != http.StatusOK || !strings.EqualFold(body["token_type"].(string), "bearer") {
			t.Fatalf("an unbound code: %d %v; want a Bearer token", status, body)
		}

		_, challenge = pkce()
		bad := conf.AuthCodeURL(randomString(t, 16), challenge, oauth2.SetAuthURLParam(provider.ParamDPoPJKT, "not-a-thumbprint"))
		if cb := b.get(bad).callback(t); cb.Get("error") != "invalid_request" || !strings.Contains(cb.Get("error_description"), "dpop_jkt") {
			t.Fatalf("a malformed dpop_jkt: %v; want invalid_request", cb)
		}
		twice := conf.AuthCodeURL(randomString(t, 16), challenge, oauth2.SetAuthURLParam(provider.ParamDPoPJKT, prover.JKT())) +
			"&" + provider.ParamDPoPJKT + "=" + thief.JKT()
		if p := b.get(twice); p.status != http.StatusBadRequest || p.location != "" {
			t.Fatalf("dpop_jkt given twice: %d %q; want a 400 page", p.status, p.location)
		}
	})
}

// TestDPoPPushedRequestNonce: with nonces required, a pushed request's
// proof without one is answered use_dpop_nonce with the nonce to use
// (RFC 9449 §8), and the retry with it succeeds.
func TestDPoPPushedRequestNonce(t *testing.T) {
	t.Parallel()
	s := startServer(t, "sqlite", func(c *config.Config) { c.DPoP.RequireNonce = true })
	c, secret := s.client(admin.ClientSpec{Name: "PAR app", RedirectURIs: []string{appRedirect}})
	prover := newProver(t)
	form, _ := pushForm(t, c)
	status, body, hdr := dpopPush(t, s, c, secret, form, proveAt(t, prover, http.MethodPost, s.parURL(), "", ""))
	nonce := hdr.Get(dpop.NonceHeader)
	wantProofRefused(t, "PAR without a nonce", status, body, dpop.CodeUseNonce, "nonce")
	if nonce == "" {
		t.Fatal("use_dpop_nonce without a DPoP-Nonce header")
	}
	status, body, hdr = dpopPush(t, s, c, secret, form, proveAt(t, prover, http.MethodPost, s.parURL(), "", nonce))
	if status != http.StatusCreated || hdr.Get(dpop.NonceHeader) == "" {
		t.Fatalf("PAR with the nonce: %d %v (DPoP-Nonce %q)", status, body, hdr.Get(dpop.NonceHeader))
	}
}
