package main

// Request objects (RFC 9101, OpenID Connect Core §6) against the real
// server: signed with go-jose by a client whose keys are registered, sent
// by value to the authorization endpoint and to PAR, and every way one
// can be wrong answered invalid_request_object at the redirect URI.

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	josev4 "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// signRequestObject returns claims as a compact JWS signed with key (alg
// none: unsigned; a []byte key: HMAC), typed as a request object.
func signRequestObject(t *testing.T, alg josev4.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	if alg == "none" {
		enc := base64.RawURLEncoding
		header, _ := json.Marshal(map[string]string{"alg": "none", "typ": "oauth-authz-req+jwt"})
		body, _ := json.Marshal(claims)
		return enc.EncodeToString(header) + "." + enc.EncodeToString(body) + "."
	}
	signer, err := josev4.NewSigner(josev4.SigningKey{Algorithm: alg, Key: josev4.JSONWebKey{Key: key, KeyID: kid}},
		(&josev4.SignerOptions{}).WithType("oauth-authz-req+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// requestObjectClaims is a well-formed request object of client c on
// server s: an OpenID Connect code request with PKCE.
func requestObjectClaims(s *testServer, c *storage.Client, challenge, state, nonce, scope string) map[string]any {
	return map[string]any{
		"iss": c.ID, "aud": s.issuer, "client_id": c.ID,
		"exp": time.Now().Add(5 * time.Minute).Unix(), "nbf": time.Now().Add(-time.Second).Unix(),
		"response_type": "code", "redirect_uri": appRedirect, "scope": scope,
		"state": state, "nonce": nonce, "code_challenge": challenge, "code_challenge_method": "S256",
	}
}

// authorizeURL is the authorization endpoint with params.
func (s *testServer) authorizeURL(params url.Values) string {
	return s.issuer + provider.PathAuthorize + "?" + params.Encode()
}

// wantRedirectError checks that p sends the browser to the client's
// redirect URI with error code (and, when given, a description saying
// says).
func wantRedirectError(t *testing.T, what string, p *page, code, says string) url.Values {
	t.Helper()
	if p.status != http.StatusSeeOther && p.status != http.StatusFound || !strings.HasPrefix(p.location, appRedirect) {
		t.Errorf("%s: got %d %q %.300s, want a redirect to the client", what, p.status, p.location, p.body)
		return nil
	}
	u, _ := url.Parse(p.location)
	q := u.Query()
	if q.Get("error") != code {
		t.Errorf("%s: error %q (%s), want %s", what, q.Get("error"), q.Get("error_description"), code)
	}
	if says != "" && !strings.Contains(q.Get("error_description"), says) {
		t.Errorf("%s: description %q does not say %q", what, q.Get("error_description"), says)
	}
	return q
}

// jarClient creates an operator's client that signs its request objects
// with key (kid rsa-1), pinned to alg when alg is set.
func (s *testServer) jarClient(t *testing.T, name string, key crypto.Signer, alg string) (*storage.Client, string) {
	t.Helper()
	spec := admin.ClientSpec{
		Name: name, RedirectURIs: []string{appRedirect}, RequestObjectSigningAlg: alg,
		Scopes: []string{"openid", "profile", "email", "offline_access"},
	}
	if key != nil {
		spec.JWKS = publicJWKS(t, map[string]crypto.Signer{"rsa-1": key})
	}
	return s.client(spec)
}

func TestRequestObjects(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		alice := s.user("jar@example.com", alicePassword)
		ctx := context.Background()
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		c, secret := s.jarClient(t, "JAR app", key, "")
		conf := s.oauthConfig(c, secret, "openid")
		op, err := oidc.NewProvider(ctx, s.issuer)
		if err != nil {
			t.Fatal(err)
		}

		// Discovery says what works: request objects by value, signed
		// with these algorithms; request_uri by reference explicitly not.
		var meta map[string]any
		if err := op.Claims(&meta); err != nil {
			t.Fatal(err)
		}
		algs, _ := meta["request_object_signing_alg_values_supported"].([]any)
		if meta["request_parameter_supported"] != true || meta["request_uri_parameter_supported"] != false || len(algs) != len(provider.RequestObjectAlgs) {
			t.Fatalf("discovery: request_parameter_supported %v, request_uri_parameter_supported %v, algs %v",
				meta["request_parameter_supported"], meta["request_uri_parameter_supported"], algs)
		}
		for _, a := range algs {
			if a == "none" || strings.HasPrefix(a.(string), "HS") {
				t.Fatalf("discovery advertises request object alg %v", a)
			}
		}

		// exchange swaps the code for tokens and checks the ID token's nonce
		// and e-mail (the request object asked for the email scope, the
		// query did not).
		exchange := func(t *testing.T, cb url.Values, verifier, nonce string) {
			t.Helper()
			tok, err := conf.Exchange(ctx, cb.Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			raw, _ := tok.Extra("id_token").(string)
			idt, err := op.Verifier(&oidc.Config{ClientID: c.ID}).Verify(ctx, raw)
			if err != nil {
				t.Fatalf("ID token: %v", err)
			}
			var claims struct {
				Email string `json:"email"`
			}
			_ = idt.Claims(&claims)
			if idt.Nonce != nonce || idt.Subject != alice.ID || claims.Email != alice.Email {
				t.Fatalf("ID token: nonce %q (want %q), sub %q, email %q", idt.Nonce, nonce, idt.Subject, claims.Email)
			}
		}

		t.Run("by value at the authorization endpoint, its values win", func(t *testing.T) {
			verifier, _ := pkce()
			state, nonce := "object-"+randomString(t, 16), randomString(t, 16)
			ro := signRequestObject(t, josev4.RS256, key, "rsa-1",
				requestObjectClaims(s, c, oauth2.S256ChallengeFromVerifier(verifier), state, nonce, "openid email"))
			// The query repeats response_type and scope (OpenID Connect
			// Core §6.1) and brings a state and a challenge of its own,
			// which must be ignored (RFC 9101 §6.3).
			other, _ := pkce()
			u := s.authorizeURL(url.Values{
				"client_id": {c.ID}, "response_type": {"code"}, "scope": {"openid"}, "request": {ro},
				"state": {"query-" + randomString(t, 16)}, "code_challenge": {oauth2.S256ChallengeFromVerifier(other)},
				"code_challenge_method": {"S256"}, "redirect_uri": {appRedirect},
			})
			// The request waits for sign-in and consent: the resumed
			// request is the request object's.
			cb := s.newBrowser().authorizeAndLogin(u, alice.Email, alicePassword)
			if cb.Get("state") != state || cb.Get("code") == "" {
				t.Fatalf("callback: %v, want the request object's state %q", cb, state)
			}
			exchange(t, cb, verifier, nonce)
		})

		t.Run("only client_id and request in the query", func(t *testing.T) {
			verifier, _ := pkce()
			state, nonce := randomString(t, 16), randomString(t, 16)
			ro := signRequestObject(t, josev4.RS256, key, "rsa-1",
				requestObjectClaims(s, c, oauth2.S256ChallengeFromVerifier(verifier), state, nonce, "openid email"))
			cb := s.newBrowser().authorizeAndLogin(s.authorizeURL(url.Values{"client_id": {c.ID}, "request": {ro}}), alice.Email, alicePassword)
			if cb.Get("state") != state {
				t.Fatalf("callback: %v", cb)
			}
			exchange(t, cb, verifier, nonce)
		})

		t.Run("by value at PAR", func(t *testing.T) {
			verifier, _ := pkce()
			state, nonce := randomString(t, 16), randomString(t, 16)
			ro := signRequestObject(t, josev4.RS256, key, "rsa-1",
				requestObjectClaims(s, c, oauth2.S256ChallengeFromVerifier(verifier), state, nonce, "openid email"))
			// A parameter outside the request object is not used.
			status, body := s.push(t, url.Values{"request": {ro}, "state": {"pushed-" + randomString(t, 16)}}, c.ID, secret)
			requestURI, _ := body["request_uri"].(string)
			if status != http.StatusCreated || requestURI == "" {
				t.Fatalf("PAR with a request object: %d %v", status, body)
			}
			cb := s.newBrowser().authorizeAndLogin(s.authorizeURL(url.Values{"client_id": {c.ID}, "request_uri": {requestURI}}), alice.Email, alicePassword)
			if cb.Get("state") != state {
				t.Fatalf("callback after PAR: %v, want state %q", cb, state)
			}
			exchange(t, cb, verifier, nonce)

			bad := requestObjectClaims(s, c, oauth2.S256ChallengeFromVerifier(verifier), state, nonce, "openid")
			bad["aud"] = "https://elsewhere.example"
			status, body = s.push(t, url.Values{"request": {signRequestObject(t, josev4.RS256, key, "rsa-1", bad)}}, c.ID, secret)
			if status != http.StatusBadRequest || body["error"] != "invalid_request_object" {
				t.Fatalf("PAR with a request object for another audience: %d %v", status, body)
			}
		})

		t.Run("refused request objects", func(t *testing.T) {
			stranger, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				t.Fatal(err)
			}
			pinned, _ := s.jarClient(t, "JAR app pinned to PS256", key, "PS256")
			good := func(client *storage.Client) map[string]any {
				return requestObjectClaims(s, client, oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier()), randomString(t, 16), randomString(t, 16), "openid")
			}
			with := func(k string, v any) map[string]any {
				cl := good(c)
				if v == nil {
					delete(cl, k)
				} else {
					cl[k] = v
				}
				return cl
			}
			for _, tc := range []struct {
				name   string
				client *storage.Client
				ro     string
				says   string
			}{
				{"alg other than the registered one", pinned, signRequestObject(t, josev4.RS256, key, "rsa-1", good(pinned)), "request_object_signing_alg PS256"},
				{"key the client did not register", c, signRequestObject(t, josev4.RS256, stranger, "rsa-1", good(c)), "does not verify"},
				{"aud another server", c, signRequestObject(t, josev4.RS256, key, "rsa-1", with("aud", "https://elsewhere.example")), "aud"},
				{"aud missing", c, signRequestObject(t, josev4.RS256, key, "rsa-1", with("aud", nil)), "aud"},
				{"iss another client", c, signRequestObject(t, josev4.RS256, key, "rsa-1", with("iss", "someone-else")), "iss"},
				{"client_id claim another client", c, signRequestObject(t, josev4.RS256, key, "rsa-1", with("client_id", "someone-else")), "client_id"},
				{"expired", c, signRequestObject(t, josev4.RS256, key, "rsa-1", with("exp", time.Now().Add(-5*time.Minute).Unix())), "expired"},
				{"valid for too long", c, signRequestObject(t, josev4.RS256, key, "rsa-1", with("exp", time.Now().Add(3*time.Hour).Unix())), "in the future"},
				{"not valid yet", c, signRequestObject(t, josev4.RS256, key, "rsa-1", with("nbf", time.Now().Add(10*time.Minute).Unix())), "nbf"},
				{"unsigned (alg none)", c, signRequestObject(t, "none", nil, "", good(c)), "unsigned"},
				{"HMAC with the client secret", c, signRequestObject(t, josev4.HS256, []byte(secret), "", good(c)), "shared secret"},
				{"nested request_uri", c, signRequestObject(t, josev4.RS256, key, "rsa-1", with("request_uri", "https://elsewhere.example/ro")), "request_uri"},
				{"response_type differs from the query's", c, signRequestObject(t, josev4.RS256, key, "rsa-1", with("response_type", "code id_token")), "response_type"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					p := s.newBrowser().get(s.authorizeURL(url.Values{"client_id": {tc.client.ID}, "response_type": {"code"}, "scope": {"openid"}, "request": {tc.ro}}))
					wantRedirectError(t, tc.name, p, "invalid_request_object", tc.says)
				})
			}
		})

		t.Run("client without keys", func(t *testing.T) {
			keyless, _ := s.jarClient(t, "Keyless app", nil, "")
			state := randomString(t, 16)
			cl := requestObjectClaims(s, keyless, oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier()), state, randomString(t, 16), "openid")
			p := s.newBrowser().get(s.authorizeURL(url.Values{"client_id": {keyless.ID}, "request": {signRequestObject(t, josev4.RS256, key, "rsa-1", cl)}}))
			q := wantRedirectError(t, "keyless client", p, "invalid_request_object", "no registered keys")
			if q != nil && (q.Get("state") != state || q.Get("iss") != s.issuer) {
				t.Errorf("keyless client: error response %v lacks state %q or iss", q, state)
			}
		})

		t.Run("request_uri by reference", func(t *testing.T) {
			state := randomString(t, 16)
			p := s.newBrowser().get(s.authorizeURL(url.Values{
				"client_id": {c.ID}, "response_type": {"code"}, "scope": {"openid"}, "redirect_uri": {appRedirect},
				"state": {state}, "request_uri": {"https://client.example/request.jwt"},
			}))
			if q := wantRedirectError(t, "request_uri", p, "request_uri_not_supported", ""); q != nil && q.Get("state") != state {
				t.Errorf("request_uri: state %q, want %q", q.Get("state"), state)
			}
			// request and request_uri together are a malformed request.
			ro := signRequestObject(t, josev4.RS256, key, "rsa-1", requestObjectClaims(s, c, oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier()), state, "n", "openid"))
			p = s.newBrowser().get(s.authorizeURL(url.Values{"client_id": {c.ID}, "request": {ro}, "request_uri": {"https://client.example/request.jwt"}}))
			wantRedirectError(t, "request and request_uri", p, "invalid_request", "")
		})
	})
}

// TestRequestObjectKeysAtURL: a request object verified with keys the
// client publishes at its jwks_uri (the private_key_jwt fetcher), and one
// from a client whose jwks_uri fails answered invalid_request_object at
// the redirect URI.
func TestRequestObjectKeysAtURL(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect, func(c *config.Config) { c.HTTPClient.AllowPrivateNetworks = true })
		alice := s.user("jar-uri@example.com", alicePassword)
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		var hits atomic.Int64
		srv := clientJWKSServer(t, publicJWKS(t, map[string]crypto.Signer{"ec-1": key}), &hits)
		clientAt := func(path string) *storage.Client {
			c, _ := s.client(admin.ClientSpec{
				Name: "JAR at " + path, RedirectURIs: []string{appRedirect}, Scopes: []string{"openid"},
				JWKSURI: srv.URL + "/" + path, RequestObjectSigningAlg: "ES256",
			})
			return c
		}
		good, broken := clientAt("jwks"), clientAt("500")

		state := randomString(t, 16)
		ro := signRequestObject(t, josev4.ES256, key, "ec-1",
			requestObjectClaims(s, good, oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier()), state, randomString(t, 16), "openid"))
		cb := s.newBrowser().authorizeAndLogin(s.authorizeURL(url.Values{"client_id": {good.ID}, "request": {ro}}), alice.Email, alicePassword)
		if cb.Get("state") != state || cb.Get("code") == "" || hits.Load() == 0 {
			t.Fatalf("callback %v after %d fetches of the jwks_uri", cb, hits.Load())
		}

		ro = signRequestObject(t, josev4.ES256, key, "ec-1",
			requestObjectClaims(s, broken, oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier()), state, randomString(t, 16), "openid"))
		p := s.newBrowser().get(s.authorizeURL(url.Values{"client_id": {broken.ID}, "request": {ro}}))
		wantRedirectError(t, "jwks_uri answering 500", p, "invalid_request_object", "jwks_uri")
	})
}
