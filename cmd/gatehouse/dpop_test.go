package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	josev4 "github.com/go-jose/go-jose/v4"
	"github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/internal/clocktest"
	"github.com/gatehouse-dev/gatehouse/internal/testservices"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/provider/dpop"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

// DPoP (RFC 9449) at the token endpoint, end to end: a real client
// (dpop.Prover) against the running server, proofs made by hand with
// go-jose for the refusals of §4.3.

// newProver is a DPoP client with a fresh ES256 key.
func newProver(t *testing.T) *dpop.Prover {
	t.Helper()
	p, err := dpop.NewProver(newECKey(t), "ES256")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newECKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// tokenURL is what a proof's htu names: the issuer's token endpoint.
func (s *testServer) tokenURL() string { return s.issuer + provider.PathToken }

// proveToken is a proof of p for a token request to s, with nonce when
// not empty.
func proveToken(t *testing.T, s *testServer, p *dpop.Prover, nonce string) string {
	t.Helper()
	proof, err := p.Proof(http.MethodPost, s.tokenURL(), "", nonce)
	if err != nil {
		t.Fatal(err)
	}
	return proof
}

// dpopTokenRequest posts form to the token endpoint of s (at its own
// listener, whatever the issuer says) with one DPoP header per proof, and
// HTTP Basic when user is set.
func dpopTokenRequest(t *testing.T, s *testServer, form url.Values, user, pass string, proofs ...string) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.addr+provider.PathToken, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	for _, p := range proofs {
		req.Header.Add(dpop.HeaderName, p)
	}
	return doJSON(t, req)
}

var clientCredentials = url.Values{"grant_type": {"client_credentials"}}

// wantDPoPToken checks a successful token response bound to p's key.
func wantDPoPToken(t *testing.T, what string, status int, body map[string]any) string {
	t.Helper()
	if status != http.StatusOK || body["token_type"] != dpop.TokenType {
		t.Fatalf("%s: %d %v; want a DPoP token", what, status, body)
	}
	for k := range body {
		if strings.HasPrefix(k, "gatehouse_") {
			t.Fatalf("%s: the response carries gatehouse's own member %s: %v", what, k, body)
		}
	}
	at, _ := body["access_token"].(string)
	return at
}

// wantProofRefused checks a 400 with code (invalid_dpop_proof or
// use_dpop_nonce) whose description contains reason (in any case).
func wantProofRefused(t *testing.T, what string, status int, body map[string]any, code, reason string) {
	t.Helper()
	desc, _ := body["error_description"].(string)
	if status != http.StatusBadRequest || body["error"] != code || !strings.Contains(strings.ToLower(desc), strings.ToLower(reason)) {
		t.Fatalf("%s: %d %v; want 400 %s (%q)", what, status, body, code, reason)
	}
	if body["access_token"] != nil {
		t.Fatalf("%s: a token came with the refusal", what)
	}
}

// cnfJKT is the cnf.jkt of an introspection answer or JWT claims.
func cnfJKT(m map[string]any) string {
	cnf, _ := m["cnf"].(map[string]any)
	jkt, _ := cnf["jkt"].(string)
	return jkt
}

// TestDPoPClientCredentials: a client_credentials token requested with a
// proof is a DPoP token (RFC 9449 §5), its introspection says so with the
// key's thumbprint (§6.2), a JWT access token carries it as cnf.jkt
// (§6.1), discovery lists the algorithms (§5.1), and the audit trail says
// DPoP; without a proof the same client gets a Bearer token.
func TestDPoPClientCredentials(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect, func(c *config.Config) { c.DPoP.Algorithms = []string{"ES256", "EdDSA"} })
		svc, svcSecret := s.client(admin.ClientSpec{Name: "jobs", Scopes: []string{"api:read"}})
		rs, rsSecret := s.client(admin.ClientSpec{Name: "rs", Scopes: []string{"api:read"}, IntrospectAnyToken: true})
		jwtSvc, jwtSecret := s.client(admin.ClientSpec{Name: "jwt jobs", Scopes: []string{"api:read"}, AccessTokenFormat: provider.FormatJWT})
		prover := newProver(t)

		status, body, _ := dpopTokenRequest(t, s, clientCredentials, svc.ID, svcSecret, proveToken(t, s, prover, ""))
		at := wantDPoPToken(t, "client_credentials with a proof", status, body)
		for who, in := range map[string]map[string]any{
			"the token's client": s.introspect(t, svc.ID, svcSecret, at),
			"a resource server":  s.introspect(t, rs.ID, rsSecret, at),
		} {
			if in["active"] != true || in["token_type"] != dpop.TokenType || cnfJKT(in) != prover.JKT() {
				t.Fatalf("introspection by %s: %v; want DPoP with cnf.jkt %s", who, in, prover.JKT())
			}
		}

		status, body, _ = dpopTokenRequest(t, s, clientCredentials, jwtSvc.ID, jwtSecret, proveToken(t, s, prover, ""))
		jwtAT := wantDPoPToken(t, "a JWT access token with a proof", status, body)
		if _, claims := verifyAccessJWT(t, s, jwtAT, josev4.RS256); cnfJKT(claims) != prover.JKT() {
			t.Fatalf("JWT claims %v; want cnf.jkt %s", claims, prover.JKT())
		}

		// An API key authenticates the same request: bound too.
		_, key, err := s.app.admin.CreateAPIKey(context.Background(), nil, admin.APIKeySpec{ClientID: svc.ID, Name: "ci", Scopes: []string{"api:read"}})
		if err != nil {
			t.Fatal(err)
		}
		status, body, _ = dpopTokenRequest(t, s, clientCredentials, svc.ID, key, proveToken(t, s, prover, ""))
		if in := s.introspect(t, rs.ID, rsSecret, wantDPoPToken(t, "an API key with a proof", status, body)); cnfJKT(in) != prover.JKT() {
			t.Fatalf("introspection of the API key's token: %v", in)
		}

		// Without a proof: Bearer, no cnf.
		status, body, _ = dpopTokenRequest(t, s, clientCredentials, svc.ID, svcSecret)
		if status != http.StatusOK || !strings.EqualFold(body["token_type"].(string), "bearer") {
			t.Fatalf("without a proof: %d %v; want a Bearer token", status, body)
		}
		bearer, _ := body["access_token"].(string)
		if in := s.introspect(t, rs.ID, rsSecret, bearer); in["token_type"] != "Bearer" || in["cnf"] != nil {
			t.Fatalf("introspection of the Bearer token: %v", in)
		}

		var disc map[string]any
		if err := json.Unmarshal([]byte(getBody(t, s.issuer+"/.well-known/openid-configuration")), &disc); err != nil {
			t.Fatal(err)
		}
		if algs, _ := disc["dpop_signing_alg_values_supported"].([]any); len(algs) != 2 || algs[0] != "ES256" || algs[1] != "EdDSA" {
			t.Fatalf("dpop_signing_alg_values_supported = %v; want the configured [ES256 EdDSA]", disc["dpop_signing_alg_values_supported"])
		}
	})
}

// TestDPoPBoundAccessTokensClient: a client registered with
// dpop_bound_access_tokens (RFC 9449 §5.2) gets no token without a proof.
func TestDPoPBoundAccessTokensClient(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		c, secret := s.client(admin.ClientSpec{Name: "bound", Scopes: []string{"api:read"}, DPoPBoundAccessTokens: true})
		status, body, _ := dpopTokenRequest(t, s, clientCredentials, c.ID, secret)
		wantProofRefused(t, "no proof", status, body, dpop.CodeInvalidProof, "A DPoP proof is required")
		status, body, _ = dpopTokenRequest(t, s, clientCredentials, c.ID, secret, proveToken(t, s, newProver(t), ""))
		wantDPoPToken(t, "with a proof", status, body)
	})
}

// codeFlow signs jane in for conf and returns the code and its PKCE
// verifier.
func codeFlow(t *testing.T, s *testServer, conf *oauth2.Config) (code, verifier string) {
	t.Helper()
	b := s.newBrowser()
	verifier, challenge := pkce()
	cb := b.authorizeAndLogin(conf.AuthCodeURL(randomString(t, 16), challenge), "jane@example.com", alicePassword)
	return cb.Get("code"), verifier
}

// TestDPoPPublicClientRefreshBound: a public client's refresh token is
// bound to the key of its first DPoP token request (RFC 9449 §5): a
// refresh with another key, or without a proof, is refused and spends
// nothing; the right key refreshes, also within the retry window, where
// the kept response goes only to that key.
func TestDPoPPublicClientRefreshBound(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		s.user("jane@example.com", alicePassword)
		spa, _ := s.client(admin.ClientSpec{Name: "SPA", Public: true, RedirectURIs: []string{appRedirect}, SkipConsent: true})
		conf := s.oauthConfig(spa, "", "openid", "offline_access")
		prover, thief := newProver(t), newProver(t)

		code, verifier := codeFlow(t, s, conf)
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
			"redirect_uri": {appRedirect}, "client_id": {spa.ID}}
		status, body, _ := dpopTokenRequest(t, s, form, "", "", proveToken(t, s, prover, ""))
		wantDPoPToken(t, "code exchange", status, body)
		rt, _ := body["refresh_token"].(string)
		if rt == "" {
			t.Fatalf("no refresh token: %v", body)
		}

		refresh := func(rt string) url.Values {
			return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {spa.ID}}
		}
		status, body, _ = dpopTokenRequest(t, s, refresh(rt), "", "", proveToken(t, s, thief, ""))
		wantProofRefused(t, "refresh with another key", status, body, dpop.CodeInvalidProof, "the key the refresh token is bound to")
		status, body, _ = dpopTokenRequest(t, s, refresh(rt), "", "")
		wantProofRefused(t, "refresh without a proof", status, body, dpop.CodeInvalidProof, "the refresh token is bound to a key")

		// The refusals spent nothing: the right key refreshes.
		status, body, _ = dpopTokenRequest(t, s, refresh(rt), "", "", proveToken(t, s, prover, ""))
		at := wantDPoPToken(t, "refresh with the bound key", status, body)
		next, _ := body["refresh_token"].(string)
		// Within the retry window the same (now rotated) refresh token gets
		// the kept response again — with a proof of the key only.
		status, body, _ = dpopTokenRequest(t, s, refresh(rt), "", "", proveToken(t, s, thief, ""))
		if status == http.StatusOK {
			t.Fatalf("the kept response went to another key: %v", body)
		}
		status, body, _ = dpopTokenRequest(t, s, refresh(rt), "", "", proveToken(t, s, prover, ""))
		if again := wantDPoPToken(t, "retry within the window", status, body); again != at {
			t.Fatal("the retry did not get the kept response")
		}
		// And the new refresh token is bound too.
		status, body, _ = dpopTokenRequest(t, s, refresh(next), "", "", proveToken(t, s, thief, ""))
		wantProofRefused(t, "the next refresh token with another key", status, body, dpop.CodeInvalidProof, "bound")
	})
}

// TestDPoPConfidentialClientRebinds: a confidential client may refresh
// with a new key, or go back to Bearer tokens (RFC 9449 §5: only public
// clients' refresh tokens are bound).
func TestDPoPConfidentialClientRebinds(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		s.user("jane@example.com", alicePassword)
		web, secret := s.client(admin.ClientSpec{Name: "web", RedirectURIs: []string{appRedirect}, SkipConsent: true})
		conf := s.oauthConfig(web, secret, "openid", "offline_access")
		first, second := newProver(t), newProver(t)

		code, verifier := codeFlow(t, s, conf)
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {appRedirect}}
		status, body, _ := dpopTokenRequest(t, s, form, web.ID, secret, proveToken(t, s, first, ""))
		wantDPoPToken(t, "code exchange", status, body)
		rt, _ := body["refresh_token"].(string)

		status, body, _ = dpopTokenRequest(t, s, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, web.ID, secret, proveToken(t, s, second, ""))
		at := wantDPoPToken(t, "refresh with a new key", status, body)
		if in := s.introspect(t, web.ID, secret, at); cnfJKT(in) != second.JKT() {
			t.Fatalf("introspection after rebinding: %v; want cnf.jkt of the new key", in)
		}
		rt, _ = body["refresh_token"].(string)
		status, body, _ = dpopTokenRequest(t, s, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, web.ID, secret)
		if status != http.StatusOK || !strings.EqualFold(body["token_type"].(string), "bearer") {
			t.Fatalf("refresh without a proof: %d %v; want a Bearer token", status, body)
		}
		at, _ = body["access_token"].(string)
		if in := s.introspect(t, web.ID, secret, at); in["cnf"] != nil || in["token_type"] != "Bearer" {
			t.Fatalf("introspection after going back to Bearer: %v", in)
		}
	})
}

// proofParts are what a hand-made proof is made of.
type proofParts struct {
	key    crypto.Signer
	alg    josev4.SignatureAlgorithm
	typ    string
	jwk    any // the header's jwk; nil: the public key
	claims map[string]any
}

// goodClaims are a valid proof's claims for s.
func goodClaims(s *testServer) map[string]any {
	return map[string]any{"jti": randomJTI(), "htm": "POST", "htu": s.tokenURL(), "iat": time.Now().Unix()}
}

func randomJTI() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// signProof signs a proof as parts say, bypassing what dpop.Prover would
// get right.
func signProof(t *testing.T, parts proofParts) string {
	t.Helper()
	opts := &josev4.SignerOptions{}
	opts.WithType(josev4.ContentType(parts.typ))
	jwk := parts.jwk
	if jwk == nil {
		jwk = josev4.JSONWebKey{Key: parts.key.Public()}
	}
	opts.WithHeader("jwk", jwk)
	signer, err := josev4.NewSigner(josev4.SigningKey{Algorithm: parts.alg, Key: parts.key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(parts.claims)
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

// TestDPoPProofChecks: the checks of RFC 9449 §4.3 one by one at the token
// endpoint, each refused with a clear invalid_dpop_proof, and the htu
// compared without query and fragment.
func TestDPoPProofChecks(t *testing.T) {
	t.Parallel()
	s := startServer(t, "sqlite")
	svc, secret := s.client(admin.ClientSpec{Name: "jobs", Scopes: []string{"api:read"}})
	key := newECKey(t)
	prover := newProver(t)
	with := func(change func(c map[string]any)) proofParts {
		c := goodClaims(s)
		change(c)
		return proofParts{key: key, alg: josev4.ES256, typ: dpop.ProofType, claims: c}
	}
	good := signProof(t, with(func(map[string]any) {}))
	goodParts := strings.Split(good, ".")
	otherSig := strings.Split(signProof(t, with(func(map[string]any) {})), ".")[2]
	unsigned := func(header, claims map[string]any) string {
		h, _ := json.Marshal(header)
		c, _ := json.Marshal(claims)
		return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + "."
	}
	pubJWK, _ := json.Marshal(josev4.JSONWebKey{Key: key.Public()})
	var pubJWKMap map[string]any
	_ = json.Unmarshal(pubJWK, &pubJWKMap)

	cases := []struct {
		name   string
		proofs []string
		reason string
	}{
		{"two DPoP headers", []string{proveToken(t, s, prover, ""), proveToken(t, s, prover, "")}, "exactly one DPoP header"},
		{"not a JWT", []string{"not-a-jwt"}, "not a compact JWS"},
		{"a JWS in JSON serialization", []string{`{"payload":"e30","signatures":[]}`}, "not a compact JWS"},
		{"typ JWT", []string{signProof(t, proofParts{key: key, alg: josev4.ES256, typ: "JWT", claims: goodClaims(s)})}, "typ must be dpop+jwt"},
		{"alg none", []string{unsigned(map[string]any{"typ": dpop.ProofType, "alg": "none", "jwk": pubJWKMap}, goodClaims(s))}, "not a compact JWS"},
		{"HS256", []string{signHS256(t, goodClaims(s))}, "not a compact JWS"},
		{"private key in the jwk", []string{signProof(t, proofParts{key: key, alg: josev4.ES256, typ: dpop.ProofType,
			jwk: josev4.JSONWebKey{Key: key}, claims: goodClaims(s)})}, "private"},
		{"an RSA jwk for ES256", []string{signProof(t, proofParts{key: key, alg: josev4.ES256, typ: dpop.ProofType,
			jwk: josev4.JSONWebKey{Key: rsaPublicKey(t)}, claims: goodClaims(s)})}, "does not fit alg"},
		{"bad signature", []string{goodParts[0] + "." + goodParts[1] + "." + otherSig}, "signature does not verify"},
		{"no jti", []string{signProof(t, with(func(c map[string]any) { delete(c, "jti") }))}, "jti, htm, htu and iat are required"},
		{"no htm", []string{signProof(t, with(func(c map[string]any) { delete(c, "htm") }))}, "are required"},
		{"no htu", []string{signProof(t, with(func(c map[string]any) { delete(c, "htu") }))}, "are required"},
		{"no iat", []string{signProof(t, with(func(c map[string]any) { delete(c, "iat") }))}, "are required"},
		{"htm GET", []string{signProof(t, with(func(c map[string]any) { c["htm"] = "GET" }))}, "htm"},
		{"htu of another endpoint", []string{signProof(t, with(func(c map[string]any) { c["htu"] = s.issuer + provider.PathIntrospect }))}, "htu"},
		{"htu of another host", []string{signProof(t, with(func(c map[string]any) { c["htu"] = "https://evil.example" + provider.PathToken }))}, "htu"},
		{"iat too old", []string{signProof(t, with(func(c map[string]any) { c["iat"] = time.Now().Add(-2 * time.Minute).Unix() }))}, "too old"},
		{"iat in the future", []string{signProof(t, with(func(c map[string]any) { c["iat"] = time.Now().Add(time.Minute).Unix() }))}, "in the future"},
		{"iat not a number", []string{signProof(t, with(func(c map[string]any) { c["iat"] = "yesterday" }))}, "not a JSON object"},
	}
	for _, tc := range cases {
		status, body, _ := dpopTokenRequest(t, s, clientCredentials, svc.ID, secret, tc.proofs...)
		wantProofRefused(t, tc.name, status, body, dpop.CodeInvalidProof, tc.reason)
	}

	// §4.3 check 9: the htu is compared without query and fragment (and
	// normalized: scheme and host case, the default port).
	for _, htu := range []string{s.tokenURL() + "?x=1#frag", strings.Replace(s.tokenURL(), "http://", "HTTP://", 1)} {
		proof := signProof(t, with(func(c map[string]any) { c["htu"] = htu }))
		status, body, _ := dpopTokenRequest(t, s, clientCredentials, svc.ID, secret, proof)
		wantDPoPToken(t, "htu "+htu, status, body)
	}

	// §11.1: a proof is used once.
	proof := proveToken(t, s, prover, "")
	status, body, _ := dpopTokenRequest(t, s, clientCredentials, svc.ID, secret, proof)
	wantDPoPToken(t, "first use", status, body)
	status, body, _ = dpopTokenRequest(t, s, clientCredentials, svc.ID, secret, proof)
	wantProofRefused(t, "reused jti", status, body, dpop.CodeInvalidProof, "used before")
}

// signHS256 is a proof signed with a shared key: refused whatever the
// key (§4.2: no symmetric algorithm).
func signHS256(t *testing.T, claims map[string]any) string {
	t.Helper()
	opts := (&josev4.SignerOptions{}).WithType(dpop.ProofType)
	signer, err := josev4.NewSigner(josev4.SigningKey{Algorithm: josev4.HS256, Key: []byte("a shared secret of thirty-two b!")}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := jws.CompactSerialize()
	return out
}

// TestDPoPReplayAcrossInstances: two instances on one PostgreSQL database
// (no Redis) refuse each other's used proofs; so do two instances sharing
// Redis (where the proof is then recorded). RFC 9449 §11.1.
func TestDPoPReplayAcrossInstances(t *testing.T) {
	t.Parallel()
	t.Run("database", func(t *testing.T) {
		t.Parallel()
		testservices.PostgresDSNFor(t, "several instances share a database only on PostgreSQL")
		dsn := bunstoretest.NewDSN(t, "postgres")
		shared := sharedIssuer(t)
		a := startServerOn(t, openMigrated(t, dsn, bunstore.Options{}), shared)
		b := startServerOn(t, openMigrated(t, dsn, bunstore.Options{}), shared)
		wantReplayRefusedAcross(t, a, b)
	})
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		redisURL := testservices.RedisURL(t)
		store := bunstoretest.Open(t, "sqlite", bunstore.Options{})
		shared := sharedIssuer(t)
		withRedis := func(c *config.Config) { c.RedisURL = redisURL }
		a := startServerOn(t, store, shared, withRedis)
		b := startServerOn(t, store, shared, withRedis)
		t.Cleanup(func() { _ = a.app.closeRedis(); _ = b.app.closeRedis() })
		proof := wantReplayRefusedAcross(t, a, b)

		// The proof is remembered in Redis, under gatehouse's namespace,
		// for about its lifetime.
		o, err := redis.ParseURL(redisURL)
		if err != nil {
			t.Fatal(err)
		}
		rdb := redis.NewClient(o)
		defer rdb.Close()
		ttl, err := rdb.TTL(context.Background(), provider.DefaultRedisDPoPKeyPrefix+replayKeyOf(t, proof)).Result()
		if err != nil || ttl <= 0 || ttl > 70*time.Second {
			t.Fatalf("Redis TTL of the proof = %s, %v; want about a minute", ttl, err)
		}
	})
}

// sharedIssuer makes instances answer as one issuer (a proof's htu names
// it), and share the secret.
func sharedIssuer(t *testing.T) func(*config.Config) {
	issuer, secret := newBalancer(t).url, randomString(t, 32)
	return func(c *config.Config) { c.Issuer, c.Secret = issuer, secret }
}

// wantReplayRefusedAcross uses a proof on a and replays it on b; it
// returns the proof.
func wantReplayRefusedAcross(t *testing.T, a, b *testServer) string {
	t.Helper()
	c, secret := a.client(admin.ClientSpec{Name: "jobs", Scopes: []string{"api:read"}})
	proof := proveToken(t, a, newProver(t), "")
	status, body, _ := dpopTokenRequest(t, a, clientCredentials, c.ID, secret, proof)
	wantDPoPToken(t, "first use on A", status, body)
	status, body, _ = dpopTokenRequest(t, b, clientCredentials, c.ID, secret, proof)
	wantProofRefused(t, "replay on B", status, body, dpop.CodeInvalidProof, "used before")
	// A fresh proof is fine on B.
	status, body, _ = dpopTokenRequest(t, b, clientCredentials, c.ID, secret, proveToken(t, b, newProver(t), ""))
	wantDPoPToken(t, "a fresh proof on B", status, body)

	// One proof sent at once to both instances, several times: one token.
	concurrent := proveToken(t, a, newProver(t), "")
	const n = 8
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		s := []*testServer{a, b}[i%2]
		wg.Go(func() {
			// No t.Fatal off the test's goroutine: a failed request is
			// status 0, reported below.
			req, _ := http.NewRequest(http.MethodPost, s.addr+provider.PathToken, strings.NewReader(clientCredentials.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(secret))
			req.Header.Set(dpop.HeaderName, concurrent)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				statuses[i] = resp.StatusCode
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	won := 0
	for _, st := range statuses {
		switch st {
		case http.StatusOK:
			won++
		case http.StatusBadRequest:
		default:
			t.Fatalf("concurrent uses of one proof: statuses %v; want 200 once and 400", statuses)
		}
	}
	if won != 1 {
		t.Fatalf("concurrent uses of one proof: statuses %v; want exactly one 200", statuses)
	}
	return proof
}

// replayKeyOf is the replay cache's key of proof: the SHA-256 of its
// key's thumbprint and its jti (package dpop).
func replayKeyOf(t *testing.T, proof string) string {
	t.Helper()
	jws, err := josev4.ParseSignedCompact(proof, []josev4.SignatureAlgorithm{josev4.ES256})
	if err != nil {
		t.Fatal(err)
	}
	jkt, err := dpop.Thumbprint(jws.Signatures[0].Protected.JSONWebKey)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		JTI string `json:"jti"`
	}
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &c); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(jkt + "\x00" + c.JTI))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// TestDPoPRedisDownRefuses: with Redis configured but not answering, a
// proof cannot be checked for replay: the request is answered 503
// temporarily_unavailable, never accepted. Requests without DPoP are
// served (the rate limits fail open).
func TestDPoPRedisDownRefuses(t *testing.T) {
	t.Parallel()
	s := startServer(t, "sqlite", func(c *config.Config) { c.RedisURL = "redis://127.0.0.1:1/0" })
	t.Cleanup(func() { _ = s.app.closeRedis() })
	c, secret := s.client(admin.ClientSpec{Name: "jobs", Scopes: []string{"api:read"}})
	status, body, _ := dpopTokenRequest(t, s, clientCredentials, c.ID, secret, proveToken(t, s, newProver(t), ""))
	if status != http.StatusServiceUnavailable || body["error"] != "temporarily_unavailable" {
		t.Fatalf("with Redis down: %d %v; want 503 temporarily_unavailable", status, body)
	}
	if status, body, _ := dpopTokenRequest(t, s, clientCredentials, c.ID, secret); status != http.StatusOK {
		t.Fatalf("a Bearer request with Redis down: %d %v", status, body)
	}
}

// TestDPoPNonces: with dpop.require_nonce, a proof without a nonce is
// answered use_dpop_nonce with a DPoP-Nonce header; the client retries
// with it and succeeds, and the response carries the nonce to use next
// (RFC 9449 §8). A nonce expires: the clock moves past its lifetime and
// the client is given a new one. Any instance accepts any instance's
// nonce.
func TestDPoPNonces(t *testing.T) {
	t.Parallel()
	clock := clocktest.New(time.Now())
	store := bunstoretest.Open(t, "sqlite", bunstore.Options{Now: clock.Now})
	nonces := func(c *config.Config) { c.DPoP.RequireNonce, c.DPoP.NonceLifetime = true, time.Minute }
	shared := sharedIssuer(t)
	s := startServerWith(t, store, appOptions{now: clock.Now}, nonces, shared)
	other := startServerWith(t, store, appOptions{now: clock.Now}, nonces, shared)
	c, secret := s.client(admin.ClientSpec{Name: "jobs", Scopes: []string{"api:read"}})
	prover := newProver(t)
	prover.Now = clock.Now

	status, body, h := dpopTokenRequest(t, s, clientCredentials, c.ID, secret, proveToken(t, s, prover, ""))
	wantProofRefused(t, "no nonce", status, body, dpop.CodeUseNonce, "a nonce is required")
	nonce := h.Get(dpop.NonceHeader)
	if nonce == "" {
		t.Fatal("use_dpop_nonce without a DPoP-Nonce header")
	}
	status, body, h = dpopTokenRequest(t, s, clientCredentials, c.ID, secret, proveToken(t, s, prover, nonce))
	wantDPoPToken(t, "retry with the nonce", status, body)
	if next := h.Get(dpop.NonceHeader); next == "" {
		t.Fatal("a token response without the next nonce")
	}
	// The other instance takes the nonce too.
	status, body, _ = dpopTokenRequest(t, other, clientCredentials, c.ID, secret, proveToken(t, other, prover, nonce))
	wantDPoPToken(t, "the nonce on another instance", status, body)

	status, body, _ = dpopTokenRequest(t, s, clientCredentials, c.ID, secret, proveToken(t, s, prover, "made-up"))
	wantProofRefused(t, "a made-up nonce", status, body, dpop.CodeUseNonce, "unknown or expired")

	clock.Advance(61 * time.Second)
	status, body, h = dpopTokenRequest(t, s, clientCredentials, c.ID, secret, proveToken(t, s, prover, nonce))
	wantProofRefused(t, "an expired nonce", status, body, dpop.CodeUseNonce, "unknown or expired")
	fresh := h.Get(dpop.NonceHeader)
	if fresh == "" || fresh == nonce {
		t.Fatalf("after expiry the nonce given is %q; want a new one", fresh)
	}
	status, body, _ = dpopTokenRequest(t, s, clientCredentials, c.ID, secret, proveToken(t, s, prover, fresh))
	wantDPoPToken(t, "with the new nonce", status, body)
}

// TestDPoPTokenExchange: token exchange binds its access token too (every
// grant goes through the same check).
func TestDPoPTokenExchange(t *testing.T) {
	t.Parallel()
	s := startServer(t, "sqlite")
	p := newExchangeParties(s)
	subjectClient, subjectSecret := s.client(admin.ClientSpec{Name: "jobs", Scopes: []string{"docs.read"},
		Audience: []string{exchangeResourceA}, DefaultResource: exchangeResourceA})
	_, body, _ := dpopTokenRequest(t, s, clientCredentials, subjectClient.ID, subjectSecret)
	subject, _ := body["access_token"].(string)
	_, body, _ = dpopTokenRequest(t, s, clientCredentials, p.a.ID, p.aSecret)
	actor, _ := body["access_token"].(string)
	form := delegation(subject, actor, "resource", exchangeResourceB)
	form.Set("grant_type", provider.GrantTokenExchange)
	prover := newProver(t)
	status, body, _ := dpopTokenRequest(t, s, form, p.a.ID, p.aSecret, proveToken(t, s, prover, ""))
	at := wantDPoPToken(t, "token exchange", status, body)
	if in := s.introspect(t, p.a.ID, p.aSecret, at); cnfJKT(in) != prover.JKT() || in["token_type"] != dpop.TokenType {
		t.Fatalf("the exchanged token: %v; want cnf.jkt", in)
	}
}

// rsaPublicKey is some RSA public key.
func rsaPublicKey(t *testing.T) *rsa.PublicKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &k.PublicKey
}

// TestDPoPDeviceGrant: a device (a public client) that polls with DPoP
// proofs gets tokens bound to its key, its refresh token included.
func TestDPoPDeviceGrant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := startServer(t, "sqlite", deviceConfig)
	s.user("tv@example.com", alicePassword)
	c, cfg := s.deviceClient(provider.GrantDeviceCode, provider.GrantRefreshToken)
	da, err := cfg.DeviceAuth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b := s.newBrowser()
	if p := b.decideDevice(b.enterUserCode(da.UserCode, "tv@example.com", alicePassword), "allow"); p.status != http.StatusOK {
		t.Fatalf("approval: %d %.300s", p.status, p.body)
	}
	prover := newProver(t)
	form := url.Values{"grant_type": {provider.GrantDeviceCode}, "client_id": {c.ID}, "device_code": {da.DeviceCode}}
	status, body, _ := dpopTokenRequest(t, s, form, "", "", proveToken(t, s, prover, ""))
	wantDPoPToken(t, "device token", status, body)
	rt, _ := body["refresh_token"].(string)
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {c.ID}}
	status, body, _ = dpopTokenRequest(t, s, refresh, "", "", proveToken(t, s, newProver(t), ""))
	wantProofRefused(t, "the device's refresh token with another key", status, body, dpop.CodeInvalidProof, "bound")
	status, body, _ = dpopTokenRequest(t, s, refresh, "", "", proveToken(t, s, prover, ""))
	wantDPoPToken(t, "the device's refresh token with its key", status, body)
}

// TestDPoPClientMetadata: dpop_bound_access_tokens (RFC 9449 §5.2) goes in
// and out of dynamic registration (RFC 7591) and the admin API, and is
// audited as DPoP in the trail of the tokens it gets.
func TestDPoPClientMetadata(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		_, iat := s.registrationToken(t, "partners", time.Hour, time.Now())
		status, reg, _ := jsonRequest(t, http.MethodPost, s.issuer+provider.PathRegister, iat,
			`{"client_name":"Agent","grant_types":["client_credentials"],"scope":"api:read","dpop_bound_access_tokens":true}`)
		if status != http.StatusCreated || reg["dpop_bound_access_tokens"] != true {
			t.Fatalf("register: %d %v; want dpop_bound_access_tokens true", status, reg)
		}
		id, _ := reg["client_id"].(string)
		secret, _ := reg["client_secret"].(string)
		stored, err := s.store.ClientByID(context.Background(), id)
		if err != nil || !stored.DPoPBoundAccessTokens {
			t.Fatalf("stored: %+v, %v", stored, err)
		}
		status, body, _ := dpopTokenRequest(t, s, clientCredentials, id, secret)
		wantProofRefused(t, "the registered client without a proof", status, body, dpop.CodeInvalidProof, "required")

		robot, robotSecret := s.client(admin.ClientSpec{Name: "robot", Scopes: []string{provider.ScopeAdmin}, FirstParty: true})
		tok, code := s.ccToken(t, robot.ID, robotSecret, provider.ScopeAdmin)
		if code != "" {
			t.Fatal(code)
		}
		status, created, _ := jsonRequest(t, http.MethodPost, s.admin+"/admin/clients", tok,
			`{"client_name":"Service","grant_types":["client_credentials"],"scope":"api:read","dpop_bound_access_tokens":true}`)
		if status != http.StatusCreated || created["dpop_bound_access_tokens"] != true {
			t.Fatalf("admin API create: %d %v", status, created)
		}
		status, got, _ := jsonRequest(t, http.MethodGet, s.admin+"/admin/clients/"+created["client_id"].(string), tok, "")
		if status != http.StatusOK || got["dpop_bound_access_tokens"] != true {
			t.Fatalf("admin API get: %d %v", status, got)
		}
	})
}

// TestDPoPAudited: the trail of a DPoP token says token_type DPoP (and no
// key material).
func TestDPoPAudited(t *testing.T) {
	t.Parallel()
	s := startServer(t, "sqlite")
	u := s.user("jane@example.com", alicePassword)
	web, secret := s.client(admin.ClientSpec{Name: "web", RedirectURIs: []string{appRedirect}, SkipConsent: true})
	conf := s.oauthConfig(web, secret, "openid")
	code, verifier := codeFlow(t, s, conf)
	prover := newProver(t)
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {appRedirect}}
	status, body, _ := dpopTokenRequest(t, s, form, web.ID, secret, proveToken(t, s, prover, ""))
	wantDPoPToken(t, "code exchange", status, body)
	evs := awaitEvents(t, s.store, wantEvent{Type: audit.TokenIssued, Actor: "client:" + web.ID, Subject: "user:" + u.ID, ClientID: web.ID,
		Details: map[string]string{"grant_type": "authorization_code", "token_type": dpop.TokenType}})
	for _, v := range evs[0].Details {
		if strings.Contains(v, prover.JKT()) {
			t.Fatalf("the trail holds the key's thumbprint: %v", evs[0].Details)
		}
	}
}

// TestCLIClientDPoPBoundAccessTokens: `clients create/update
// --dpop-bound-access-tokens` sets and clears the client's requirement,
// and `clients get` shows it.
func TestCLIClientDPoPBoundAccessTokens(t *testing.T) {
	cliEnv(t)
	if _, _, err := cli(t, "", "migrate"); err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	cliJSON(t, &c, "", "clients", "create", "--name", "Agent", "--grant-type", "client_credentials", "--dpop-bound-access-tokens", "--json")
	id, _ := c["client_id"].(string)
	if c["dpop_bound_access_tokens"] != true {
		t.Fatalf("created: %v", c)
	}
	cliJSON(t, &c, "", "clients", "update", id, "--name", "Agent 2", "--json")
	if c["dpop_bound_access_tokens"] != true {
		t.Fatalf("an update of another field changed it: %v", c)
	}
	cliJSON(t, &c, "", "clients", "update", id, "--dpop-bound-access-tokens=false", "--json")
	if c["dpop_bound_access_tokens"] != false {
		t.Fatalf("after clearing it: %v", c)
	}
	if out, _, err := cli(t, "", "clients", "get", id); err != nil || !strings.Contains(out, "dpop_bound_access_tokens") {
		t.Fatalf("get: %q %v", out, err)
	}
}

// TestDPoPCORS: a browser app of a registered origin may send the DPoP
// header (preflight) and read the DPoP-Nonce of the answer (RFC 9449 §8).
func TestDPoPCORS(t *testing.T) {
	t.Parallel()
	s := startServer(t, "sqlite", func(c *config.Config) { c.DPoP.RequireNonce = true })
	const origin = "http://127.0.0.1:3000"
	c, _ := s.client(admin.ClientSpec{Name: "SPA", Public: true, RedirectURIs: []string{appRedirect}, AllowedOrigins: []string{origin},
		GrantTypes: []string{"authorization_code", "refresh_token"}})
	req := mustRequest(t, http.MethodOptions, s.issuer+provider.PathToken)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "dpop, content-type")
	_, _, hdr := doJSON(t, req)
	if allowed := strings.ToLower(hdr.Get("Access-Control-Allow-Headers")); !strings.Contains(allowed, "dpop") {
		t.Fatalf("preflight: Access-Control-Allow-Headers %q; want DPoP", hdr.Get("Access-Control-Allow-Headers"))
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"gth_rt_x"}, "client_id": {c.ID}}
	req, _ = http.NewRequest(http.MethodPost, s.issuer+provider.PathToken, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", origin)
	req.Header.Set(dpop.HeaderName, proveToken(t, s, newProver(t), ""))
	status, body, hdr := doJSON(t, req)
	if status != http.StatusBadRequest || body["error"] != dpop.CodeUseNonce || hdr.Get(dpop.NonceHeader) == "" ||
		hdr.Get("Access-Control-Allow-Origin") != origin || !strings.Contains(hdr.Get("Access-Control-Expose-Headers"), "DPoP-Nonce") {
		t.Fatalf("token request from the app: %d %v %v; want use_dpop_nonce readable by the app", status, body, hdr)
	}
}

// TestDPoPIdentityAssertion: an identity assertion (jwt-bearer) redeemed
// with a proof gets a DPoP token.
func TestDPoPIdentityAssertion(t *testing.T) {
	t.Parallel()
	idp := newTestIdP(t)
	s := startServer(t, "sqlite", func(c *config.Config) {
		c.HTTPClient.AllowPrivateNetworks = true // the IdP is on loopback
		c.Upstreams = []config.Upstream{{ID: "corp", Name: "Corp SSO", Issuer: idp.url, ClientID: "gatehouse", ClientSecret: "upstream-secret"}}
		c.IDJAG.Issuers = []config.IDJAGIssuer{{Upstream: "corp"}}
	})
	const resource = "https://mcp.example.com/mcp"
	agent, agentSecret := s.client(admin.ClientSpec{Name: "MCP agent", GrantTypes: []string{provider.GrantJWTBearer},
		Scopes: []string{"chat.read"}, Audience: []string{resource}})
	alice := s.user("alice@example.com", alicePassword)
	now := time.Now().UTC()
	if err := s.store.CreateFederatedIdentity(context.Background(), &storage.FederatedIdentity{
		UpstreamID: "corp", Subject: "idp-alice", UserID: alice.ID, CreatedAt: now, LastLoginAt: now,
	}); err != nil {
		t.Fatal(err)
	}
	assertion := idp.assertion(t, map[string]any{
		"iss": idp.url, "sub": "idp-alice", "aud": s.issuer, "client_id": agent.ID, "jti": randomJTI(),
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "resource": resource, "scope": "chat.read",
	})
	prover := newProver(t)
	form := url.Values{"grant_type": {provider.GrantJWTBearer}, "assertion": {assertion}}
	status, body, _ := dpopTokenRequest(t, s, form, agent.ID, agentSecret, proveToken(t, s, prover, ""))
	at := wantDPoPToken(t, "identity assertion", status, body)
	if in := s.introspect(t, agent.ID, agentSecret, at); cnfJKT(in) != prover.JKT() || in["sub"] != alice.ID {
		t.Fatalf("introspection: %v; want alice's token bound to the key", in)
	}

	// An assertion bound to a key (cnf jkt, the draft's proof of
	// possession) is redeemed only with a proof of that key.
	bound := func() url.Values {
		return url.Values{"grant_type": {provider.GrantJWTBearer}, "assertion": {idp.assertion(t, map[string]any{
			"iss": idp.url, "sub": "idp-alice", "aud": s.issuer, "client_id": agent.ID, "jti": randomJTI(),
			"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "resource": resource, "scope": "chat.read",
			"cnf": map[string]string{"jkt": prover.JKT()},
		})}}
	}
	status, body, _ = dpopTokenRequest(t, s, bound(), agent.ID, agentSecret)
	if desc, _ := body["error_description"].(string); status != http.StatusBadRequest || body["error"] != "invalid_dpop_proof" || !strings.Contains(desc, "assertion is bound") {
		t.Fatalf("a bound assertion without a proof: %d %v, want invalid_dpop_proof", status, body)
	}
	status, body, _ = dpopTokenRequest(t, s, bound(), agent.ID, agentSecret, proveToken(t, s, newProver(t), ""))
	if status != http.StatusBadRequest || body["error"] != "invalid_dpop_proof" {
		t.Fatalf("a bound assertion with another key's proof: %d %v, want invalid_dpop_proof", status, body)
	}
	status, body, _ = dpopTokenRequest(t, s, bound(), agent.ID, agentSecret, proveToken(t, s, prover, ""))
	if at := wantDPoPToken(t, "bound identity assertion", status, body); cnfJKT(s.introspect(t, agent.ID, agentSecret, at)) != prover.JKT() {
		t.Fatal("the token of a bound assertion is not bound to its key")
	}
}
