package main

// private_key_jwt client authentication (RFC 7523 §2.2) against the real
// server: clients with inline keys (jwks) and with keys at a URL
// (jwks_uri, served on loopback, hence http_client.allow_private_networks).

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	josev4 "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/clientjwks"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// clientAssertion describes a client assertion; the zero values of the
// optional fields mean "as a well-behaved client would send it".
type clientAssertion struct {
	clientID string
	key      crypto.Signer // nil with alg "none"
	alg      josev4.SignatureAlgorithm
	kid      string
	aud      string        // default: the token endpoint
	auds     []string      // aud as an array (overrides aud)
	exp      time.Duration // default: 1 minute from now
	iat      time.Duration // offset of iat from now; default: now
	noIAT    bool          // leave iat out
	hmacKey  []byte        // for alg HS256
}

// sign returns the compact JWS of a.
func (a clientAssertion) sign(t *testing.T, tokenURL string) string {
	t.Helper()
	now := time.Now()
	aud := a.aud
	if aud == "" {
		aud = tokenURL
	}
	exp := a.exp
	if exp == 0 {
		exp = time.Minute
	}
	claims := josejwt.Claims{
		Issuer: a.clientID, Subject: a.clientID, Audience: josejwt.Audience{aud},
		ID: randomString(t, 16), IssuedAt: josejwt.NewNumericDate(now.Add(a.iat)), Expiry: josejwt.NewNumericDate(now.Add(exp)),
	}
	if a.noIAT {
		claims.IssuedAt = nil
	}
	if a.auds != nil {
		claims.Audience = a.auds
	}
	if a.alg == "none" {
		// go-jose will not produce an unsigned JWS; build it by hand.
		enc := base64.RawURLEncoding
		header, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT", "kid": a.kid})
		body, _ := json.Marshal(claims)
		return enc.EncodeToString(header) + "." + enc.EncodeToString(body) + "."
	}
	var key any = josev4.JSONWebKey{Key: a.key, KeyID: a.kid}
	if a.hmacKey != nil {
		key = josev4.JSONWebKey{Key: a.hmacKey, KeyID: a.kid}
	}
	signer, err := josev4.NewSigner(josev4.SigningKey{Algorithm: a.alg, Key: key}, (&josev4.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	jws, err := josejwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return jws
}

// tokenWithAssertion asks for a client_credentials token authenticating
// with the assertion.
func (s *testServer) tokenWithAssertion(t *testing.T, jws string) (int, map[string]interface{}) {
	t.Helper()
	status, body, _ := postForm(t, s.issuer+provider.PathToken, url.Values{
		"grant_type":            {"client_credentials"},
		"scope":                 {"api:read"},
		"client_assertion_type": {clientjwks.JWTBearerAssertionType},
		"client_assertion":      {jws},
	}, "", "")
	return status, body
}

// keyClient stores a private_key_jwt client directly (the registration
// paths have their own tests).
func (s *testServer) keyClient(t *testing.T, id, alg, jwks, jwksURI string) {
	t.Helper()
	now := time.Now()
	c := &storage.Client{
		ID: id, Name: "Key client " + id,
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"api:read"},
		TokenEndpointAuthMethod: "private_key_jwt", TokenEndpointAuthSigningAlg: alg,
		JWKS: jwks, JWKSURI: jwksURI,
		CreatedAt: now, UpdatedAt: now,
	}
	if err := s.store.CreateClient(context.Background(), c); err != nil {
		t.Fatal(err)
	}
}

// publicJWKS is the canonical JWK Set of the public halves of keys.
func publicJWKS(t *testing.T, keys map[string]crypto.Signer) string {
	t.Helper()
	var set josev4.JSONWebKeySet
	for kid, k := range keys {
		set.Keys = append(set.Keys, josev4.JSONWebKey{Key: k.Public(), KeyID: kid, Use: "sig"})
	}
	raw, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	norm, err := clientjwks.Normalize(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	return norm
}

// wantAssertionRejected checks a 401 invalid_client answer; the description
// must contain each of says.
func wantAssertionRejected(t *testing.T, what string, status int, body map[string]interface{}, says ...string) {
	t.Helper()
	if status != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Errorf("%s: got %d %v, want 401 invalid_client", what, status, body)
		return
	}
	desc, _ := body["error_description"].(string)
	for _, s := range says {
		if !strings.Contains(desc, s) {
			t.Errorf("%s: description %q does not say %q", what, desc, s)
		}
	}
}

func wantAssertionToken(t *testing.T, what string, status int, body map[string]interface{}) {
	t.Helper()
	if status != http.StatusOK || body["access_token"] == nil || body["token_type"] != "bearer" || body["scope"] != "api:read" {
		t.Fatalf("%s: got %d %v, want a token", what, status, body)
	}
}

// inlineKeyClient stores an RS256 private_key_jwt client with one inline
// key, and returns a well-formed assertion description for it and a key
// it does not know.
func (s *testServer) inlineKeyClient(t *testing.T) (good clientAssertion, stranger *rsa.PrivateKey) {
	t.Helper()
	registered, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	stranger, err = rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s.keyClient(t, "pkjwt-inline", "RS256", publicJWKS(t, map[string]crypto.Signer{"rsa-1": registered}), "")
	return clientAssertion{clientID: "pkjwt-inline", key: registered, alg: josev4.RS256, kid: "rsa-1"}, stranger
}

func TestPrivateKeyJWTInlineKeys(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		tokenURL := s.issuer + provider.PathToken
		good, stranger := s.inlineKeyClient(t)

		status, body := s.tokenWithAssertion(t, good.sign(t, tokenURL))
		wantAssertionToken(t, "valid assertion", status, body)

		// client_id in the form as well is fine (RFC 7521 §4.2).
		status, body, _ = postForm(t, tokenURL, url.Values{
			"grant_type": {"client_credentials"}, "scope": {"api:read"}, "client_id": {good.clientID},
			"client_assertion_type": {clientjwks.JWTBearerAssertionType}, "client_assertion": {good.sign(t, tokenURL)},
		}, "", "")
		wantAssertionToken(t, "valid assertion with client_id", status, body)

		bad := map[string]clientAssertion{
			"wrong aud":            {clientID: good.clientID, key: good.key, alg: josev4.RS256, kid: "rsa-1", aud: s.issuer + provider.PathIntrospect},
			"unregistered key":     {clientID: good.clientID, key: stranger, alg: josev4.RS256, kid: "rsa-1"},
			"unregistered, no kid": {clientID: good.clientID, key: stranger, alg: josev4.RS256},
			"alg none":             {clientID: good.clientID, alg: "none", kid: "rsa-1"},
			"HS256":                {clientID: good.clientID, alg: josev4.HS256, kid: "rsa-1", hmacKey: []byte(strings.Repeat("k", 32))},
			"alg not registered":   {clientID: good.clientID, key: good.key, alg: josev4.PS256, kid: "rsa-1"},
		}
		for name, a := range bad {
			status, body := s.tokenWithAssertion(t, a.sign(t, tokenURL))
			wantAssertionRejected(t, name, status, body)
		}
	})
}

// TestPrivateKeyJWTFositeQuirks: bad assertions that fosite v0.49.0 alone
// answers with 400 (jti_known, invalid_request) or 500 (an expired one);
// RFC 7523 §3.2 wants invalid_client. Needs the provider to install
// clientjwks.AssertionErrorsAsInvalidClient as fosite's
// ClientAuthenticationStrategy.
func TestPrivateKeyJWTFositeQuirks(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		tokenURL := s.issuer + provider.PathToken
		good, _ := s.inlineKeyClient(t)

		// Success; then the same assertion again is a replay.
		jws := good.sign(t, tokenURL)
		status, body := s.tokenWithAssertion(t, jws)
		wantAssertionToken(t, "valid assertion", status, body)
		status, body = s.tokenWithAssertion(t, jws)
		wantAssertionRejected(t, "replayed jti", status, body)

		expired := good
		expired.exp = -time.Minute
		status, body = s.tokenWithAssertion(t, expired.sign(t, tokenURL))
		wantAssertionRejected(t, "expired", status, body, "expired")

		unknownKid := good
		unknownKid.kid = "rsa-2"
		status, body = s.tokenWithAssertion(t, unknownKid.sign(t, tokenURL))
		wantAssertionRejected(t, "unknown kid", status, body, "rsa-2")
	})
}

// TestPrivateKeyJWTAssertionBounds: an assertion lives at most
// clientjwks.MaxAssertionLifetime (exp after iat, or after now without
// iat), is not issued in the future, and is the request's only client
// authentication (RFC 6749 §2.3). Each refusal is 401 invalid_client, at
// every endpoint that authenticates clients.
func TestPrivateKeyJWTAssertionBounds(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		tokenURL := s.issuer + provider.PathToken
		good, _ := s.inlineKeyClient(t)
		with := func(mod func(a *clientAssertion)) clientAssertion {
			a := good
			mod(&a)
			return a
		}

		accepted := map[string]clientAssertion{
			"the whole lifetime":             with(func(a *clientAssertion) { a.iat, a.exp = -time.Minute, clientjwks.MaxAssertionLifetime-time.Minute }),
			"no iat, expiring within bounds": with(func(a *clientAssertion) { a.noIAT, a.exp = true, clientjwks.MaxAssertionLifetime-time.Minute }),
		}
		for name, a := range accepted {
			status, body := s.tokenWithAssertion(t, a.sign(t, tokenURL))
			wantAssertionToken(t, name, status, body)
		}

		yearLong := with(func(a *clientAssertion) { a.exp = 365 * 24 * time.Hour })
		refused := map[string]clientAssertion{
			"valid for a year":            yearLong,
			"valid for a minute too long": with(func(a *clientAssertion) { a.iat, a.exp = -time.Minute, clientjwks.MaxAssertionLifetime }),
			"no iat, expiring in an hour": with(func(a *clientAssertion) { a.noIAT, a.exp = true, time.Hour }),
			"iat in the future":           with(func(a *clientAssertion) { a.iat, a.exp = 2*time.Minute, 3*time.Minute }),
		}
		for name, a := range refused {
			status, body := s.tokenWithAssertion(t, a.sign(t, tokenURL))
			wantAssertionRejected(t, name, status, body)
		}

		// The same client authentication guards PAR and revocation.
		for _, path := range []string{provider.PathPAR, provider.PathRevoke} {
			status, body, _ := postForm(t, s.issuer+path, url.Values{
				"token": {"gth_at_x"}, "response_type": {"code"}, "client_id": {good.clientID},
				"client_assertion_type": {clientjwks.JWTBearerAssertionType}, "client_assertion": {yearLong.sign(t, tokenURL)},
			}, "", "")
			wantAssertionRejected(t, "a year-long assertion at "+path, status, body)
		}

		// One authentication method per request: a valid assertion with a
		// client_secret, or with HTTP Basic credentials, is refused.
		status, body, _ := postForm(t, tokenURL, url.Values{
			"grant_type": {"client_credentials"}, "scope": {"api:read"}, "client_id": {good.clientID}, "client_secret": {"gth_cs_anything"},
			"client_assertion_type": {clientjwks.JWTBearerAssertionType}, "client_assertion": {good.sign(t, tokenURL)},
		}, "", "")
		wantAssertionRejected(t, "assertion with client_secret", status, body, "one client authentication method")
		status, body, _ = postForm(t, tokenURL, url.Values{
			"grant_type": {"client_credentials"}, "scope": {"api:read"},
			"client_assertion_type": {clientjwks.JWTBearerAssertionType}, "client_assertion": {good.sign(t, tokenURL)},
		}, good.clientID, "gth_cs_anything")
		wantAssertionRejected(t, "assertion with HTTP Basic", status, body, "one client authentication method")
	})
}

// clientJWKSServer serves the client's keys at /jwks, counting the
// requests in hits, and misbehaves elsewhere.
func clientJWKSServer(t *testing.T, jwks string, hits *atomic.Int64) *httptest.Server {
	t.Helper()
	stop := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = io.WriteString(w, jwks)
	})
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	})
	mux.HandleFunc("/huge", func(w http.ResponseWriter, r *http.Request) {
		// A valid set followed by a megabyte of padding.
		_, _ = io.WriteString(w, jwks[:len(jwks)-1]+`,"pad":"`+strings.Repeat("x", 1<<20)+`"}`)
	})
	mux.HandleFunc("/500", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "internal error", http.StatusInternalServerError)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		close(stop)
		srv.Close()
	})
	return srv
}

// TestPrivateKeyJWTKeysAtURL needs the server to resolve jwks_uri with
// clientjwks.Fetcher (provider.Options.JWKSFetcher).
func TestPrivateKeyJWTKeysAtURL(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect, func(c *config.Config) { c.HTTPClient.AllowPrivateNetworks = true })
		tokenURL := s.issuer + provider.PathToken
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		var hits atomic.Int64
		srv := clientJWKSServer(t, publicJWKS(t, map[string]crypto.Signer{"ec-1": key}), &hits)
		for _, path := range []string{"jwks", "hang", "huge", "500"} {
			s.keyClient(t, "pkjwt-uri-"+path, "ES256", "", srv.URL+"/"+path)
		}
		sign := func(clientID, kid string) string {
			return clientAssertion{clientID: clientID, key: key, alg: josev4.ES256, kid: kid}.sign(t, tokenURL)
		}

		status, body := s.tokenWithAssertion(t, sign("pkjwt-uri-jwks", "ec-1"))
		wantAssertionToken(t, "keys from jwks_uri", status, body)
		// Served from the cache: a second token works too.
		status, body = s.tokenWithAssertion(t, sign("pkjwt-uri-jwks", "ec-1"))
		wantAssertionToken(t, "keys from jwks_uri, cached", status, body)
		// An unknown kid makes fosite ask to bypass the cache; so soon after
		// the first fetch, the cached set is used again.
		status, body = s.tokenWithAssertion(t, sign("pkjwt-uri-jwks", "ec-unknown"))
		wantAssertionRejected(t, "unknown kid at jwks_uri", status, body)
		if n := hits.Load(); n != 1 {
			t.Errorf("the jwks_uri was fetched %d times for three token requests, want 1", n)
		}

		start := time.Now()
		status, body = s.tokenWithAssertion(t, sign("pkjwt-uri-hang", "ec-1"))
		wantAssertionRejected(t, "hanging jwks_uri", status, body, "timed out")
		if d := time.Since(start); d > 15*time.Second {
			t.Fatalf("a hanging jwks_uri held the token request for %s", d)
		}
		status, body = s.tokenWithAssertion(t, sign("pkjwt-uri-huge", "ec-1"))
		wantAssertionRejected(t, "huge jwks_uri response", status, body, "larger than")
		status, body = s.tokenWithAssertion(t, sign("pkjwt-uri-500", "ec-1"))
		wantAssertionRejected(t, "jwks_uri answering 500", status, body, "HTTP 500")
	})
}

// TestClientAssertionAudiences: a private_key_jwt assertion's aud may name
// the issuer (RFC 7523 §3 and its rfc7523bis update; openid-client v6 and
// oauth4webapi send it), the token endpoint or the PAR endpoint (RFC 9126
// §2 requires the PAR endpoint to accept all three), and the endpoint it
// is presented at; as a string or an array. Every endpoint that
// authenticates clients accepts them; any other aud is 401 invalid_client.
func TestClientAssertionAudiences(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		if err := s.store.CreateClient(context.Background(), &storage.Client{
			ID: "pkjwt-aud", Name: "Audiences",
			GrantTypes: []string{"client_credentials", "authorization_code"}, ResponseTypes: []string{"code"},
			RedirectURIs: []string{appRedirect}, Scopes: []string{"api:read", "openid"},
			TokenEndpointAuthMethod: "private_key_jwt", TokenEndpointAuthSigningAlg: "RS256",
			JWKS: publicJWKS(t, map[string]crypto.Signer{"k": key}), CreatedAt: now, UpdatedAt: now,
		}); err != nil {
			t.Fatal(err)
		}
		iss := s.issuer
		endpoints := map[string]url.Values{
			provider.PathToken: {"grant_type": {"client_credentials"}, "scope": {"api:read"}},
			provider.PathPAR: {
				"response_type": {"code"}, "client_id": {"pkjwt-aud"}, "redirect_uri": {appRedirect}, "scope": {"openid"}, "state": {"state-of-the-app"},
				"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"},
			},
			provider.PathIntrospect: {"token": {"gth_at_unknown"}},
			provider.PathRevoke:     {"token": {"gth_at_unknown"}},
		}
		okStatus := map[string]int{provider.PathToken: 200, provider.PathPAR: 201, provider.PathIntrospect: 200, provider.PathRevoke: 200}
		for path, form := range endpoints {
			accepted := map[string][]string{
				"issuer":                          {iss},
				"token endpoint":                  {iss + provider.PathToken},
				"PAR endpoint":                    {iss + provider.PathPAR},
				"array naming the issuer":         {"https://elsewhere.example", iss},
				"array naming the token endpoint": {iss + provider.PathToken, "https://elsewhere.example"},
			}
			refused := map[string][]string{
				"another server":           {"https://elsewhere.example"},
				"the issuer with a slash":  {iss + "/"},
				"array naming no endpoint": {"https://elsewhere.example", iss + "/userinfo"},
				"the userinfo endpoint":    {iss + provider.PathUserinfo},
			}
			switch path {
			case provider.PathIntrospect, provider.PathRevoke:
				accepted["this endpoint"] = []string{iss + path}
			}
			// An endpoint's own URL is no audience for the others.
			if path != provider.PathIntrospect {
				refused["the introspection endpoint"] = []string{iss + provider.PathIntrospect}
			}
			assertionFor := func(auds []string) string {
				a := clientAssertion{clientID: "pkjwt-aud", key: key, alg: josev4.RS256, kid: "k", aud: auds[0]}
				if len(auds) > 1 {
					a.auds = auds
				}
				return a.sign(t, "")
			}
			send := func(auds []string) (int, map[string]interface{}, http.Header) {
				f := url.Values{"client_assertion_type": {clientjwks.JWTBearerAssertionType}, "client_assertion": {assertionFor(auds)}}
				for k, v := range form {
					f[k] = v
				}
				return postForm(t, iss+path, f, "", "")
			}
			for name, auds := range accepted {
				status, body, _ := send(auds)
				if status != okStatus[path] {
					t.Errorf("%s, aud %s: got %d %v, want %d", path, name, status, body, okStatus[path])
				}
			}
			for name, auds := range refused {
				status, body, _ := send(auds)
				if status != http.StatusUnauthorized || body["error"] != "invalid_client" {
					t.Errorf("%s, aud %s: got %d %v, want 401 invalid_client", path, name, status, body)
				}
			}
		}
	})
}
