package provider

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	josev3 "github.com/go-jose/go-jose/v3"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/ory/fosite"

	"github.com/gatehouse-dev/gatehouse/internal/clocktest"
	"github.com/gatehouse-dev/gatehouse/storage"
)

const (
	testASIssuer  = "https://as.example.com"
	testIdPIssuer = "https://idp.example.com"
	testJWKSURI   = "https://idp.example.com/jwks"
)

// staticKeys serves one key set; a refresh (ignoreCache) serves next when
// set, as an issuer that rotated would.
type staticKeys struct {
	set, next *josev3.JSONWebKeySet
	refreshes int
}

func (s *staticKeys) Resolve(_ context.Context, location string, ignoreCache bool) (*josev3.JSONWebKeySet, error) {
	if location != testJWKSURI {
		return nil, errors.New("unknown location")
	}
	if ignoreCache {
		s.refreshes++
		if s.next != nil {
			return s.next, nil
		}
	}
	return s.set, nil
}

type signingKey struct {
	key any
	alg jose.SignatureAlgorithm
	kid string
}

func newECKey(t testing.TB, kid string) signingKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signingKey{key: k, alg: jose.ES256, kid: kid}
}

func (k signingKey) public() josev3.JSONWebKey {
	var pub any
	switch p := k.key.(type) {
	case *ecdsa.PrivateKey:
		pub = &p.PublicKey
	case *rsa.PrivateKey:
		pub = &p.PublicKey
	}
	return josev3.JSONWebKey{Key: pub, KeyID: k.kid, Use: "sig"}
}

// mint signs claims with k under header typ (none when typ is "").
func mint(t testing.TB, k signingKey, typ string, claims map[string]any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	if k.kid != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), k.kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.key}, opts)
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

func validClaims(now time.Time) map[string]any {
	return map[string]any{
		"iss": testIdPIssuer, "sub": "U019488227", "aud": testASIssuer, "client_id": "client-1",
		"jti": "9e43f81b64a33f20116179", "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"resource": "https://api.example.com/mcp", "scope": "chat.read chat.history",
	}
}

func newTestVerifier(clock *clocktest.Clock, keys KeySetResolver) *idJAGVerifier {
	return &idJAGVerifier{
		audience:    testASIssuer,
		issuers:     map[string]IDJAGIssuer{testIdPIssuer: {Issuer: testIdPIssuer, JWKSURI: testJWKSURI, Upstream: "corp"}},
		maxLifetime: DefaultIDJAGMaxLifetime,
		keys:        keys,
		now:         clock.Now,
	}
}

// wantInvalidGrant fails unless err is invalid_grant whose hint says
// what went wrong.
func wantInvalidGrant(t *testing.T, err error, hint string) {
	t.Helper()
	if err == nil {
		t.Fatal("accepted")
	}
	rfc := fosite.ErrorToRFC6749Error(err)
	if rfc.ErrorField != fosite.ErrInvalidGrant.ErrorField {
		t.Fatalf("error %q (%s), want invalid_grant", rfc.ErrorField, rfc.HintField)
	}
	if !strings.Contains(rfc.HintField, hint) {
		t.Fatalf("hint %q does not say %q", rfc.HintField, hint)
	}
}

// TestIDJAGVerification: the assertion checks of the ID-JAG draft's
// processing rules and RFC 7523 §3, each refused as invalid_grant with a
// hint that names it.
func TestIDJAGVerification(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	clock := clocktest.New(now)
	key := newECKey(t, "k1")
	other := newECKey(t, "k1")
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keys := &staticKeys{set: &josev3.JSONWebKeySet{Keys: []josev3.JSONWebKey{key.public()}}}
	v := newTestVerifier(clock, keys)

	with := func(mod func(map[string]any)) map[string]any {
		c := validClaims(now)
		mod(c)
		return c
	}
	ok := mint(t, key, idJAGType, validClaims(now))
	g, err := v.verify(context.Background(), ok, "client-1")
	if err != nil {
		t.Fatalf("valid assertion refused: %v", err)
	}
	if g.claims.Subject != "U019488227" || g.issuer.Upstream != "corp" ||
		strings.Join(g.resources, " ") != "https://api.example.com/mcp" || strings.Join(g.scopes, " ") != "chat.read chat.history" {
		t.Fatalf("verified grant %+v", g)
	}
	// RFC 7515 §4.1.9: media types compare case-insensitively, application/ optional.
	if _, err := v.verify(context.Background(), mint(t, key, "application/OAUTH-ID-JAG+JWT", validClaims(now)), "client-1"); err != nil {
		t.Errorf("typ with application/ prefix refused: %v", err)
	}
	arrayAud := with(func(c map[string]any) { c["aud"] = []string{testASIssuer} })
	if _, err := v.verify(context.Background(), mint(t, key, idJAGType, arrayAud), "client-1"); err != nil {
		t.Errorf("aud as a one-element array refused: %v", err)
	}
	resources := with(func(c map[string]any) { c["resource"] = []string{"https://a.example/", "https://b.example/"} })
	if g, err := v.verify(context.Background(), mint(t, key, idJAGType, resources), "client-1"); err != nil || len(g.resources) != 2 {
		t.Errorf("resource array: %v %v", g, err)
	}

	hs := signingKey{key: []byte(strings.Repeat("k", 32)), alg: jose.HS256, kid: "k1"}
	unsigned := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"oauth-id-jag+jwt"}`)) + "." +
		base64.RawURLEncoding.EncodeToString(mustJSON(t, validClaims(now))) + "."
	for _, tc := range []struct {
		name, assertion, client, hint string
	}{
		{"not a JWT", "not-a-jwt", "client-1", "not a JWT"},
		{"alg none", unsigned, "client-1", "not a JWT signed"},
		{"alg HS256", mint(t, hs, idJAGType, validClaims(now)), "client-1", "not a JWT signed"},
		{"no typ", mint(t, key, "", validClaims(now)), "client-1", "typ"},
		{"typ JWT (an ID token)", mint(t, key, "JWT", validClaims(now)), "client-1", "typ"},
		{"another key", mint(t, other, idJAGType, validClaims(now)), "client-1", "signature"},
		{"RSA key for an EC kid", mint(t, signingKey{key: rsaKey, alg: jose.RS256, kid: "k1"}, idJAGType, validClaims(now)), "client-1", "signature"},
		{"untrusted issuer", mint(t, key, idJAGType, with(func(c map[string]any) { c["iss"] = "https://evil.example" })), "client-1", "not trusted"},
		{"wrong aud", mint(t, key, idJAGType, with(func(c map[string]any) { c["aud"] = "https://other.example" })), "client-1", "aud"},
		{"aud of two", mint(t, key, idJAGType, with(func(c map[string]any) { c["aud"] = []string{testASIssuer, "https://x.example"} })), "client-1", "aud"},
		{"aud missing", mint(t, key, idJAGType, with(func(c map[string]any) { delete(c, "aud") })), "client-1", "aud"},
		{"another client's", ok, "client-2", "another client"},
		{"client_id missing", mint(t, key, idJAGType, with(func(c map[string]any) { delete(c, "client_id") })), "", "another client"},
		{"sub missing", mint(t, key, idJAGType, with(func(c map[string]any) { delete(c, "sub") })), "client-1", "sub"},
		{"sub with a control character", mint(t, key, idJAGType, with(func(c map[string]any) { c["sub"] = "a\nb" })), "client-1", "sub"},
		{"jti missing", mint(t, key, idJAGType, with(func(c map[string]any) { delete(c, "jti") })), "client-1", "jti"},
		{"expired", mint(t, key, idJAGType, with(func(c map[string]any) { c["exp"] = now.Unix() })), "client-1", "expired"},
		{"exp missing", mint(t, key, idJAGType, with(func(c map[string]any) { delete(c, "exp") })), "client-1", "exp and iat"},
		{"iat missing", mint(t, key, idJAGType, with(func(c map[string]any) { delete(c, "iat") })), "client-1", "exp and iat"},
		{"iat in the future", mint(t, key, idJAGType, with(func(c map[string]any) {
			c["iat"] = now.Add(2 * time.Minute).Unix()
			c["exp"] = now.Add(5 * time.Minute).Unix()
		})), "client-1", "future"},
		{"too long-lived", mint(t, key, idJAGType, with(func(c map[string]any) { c["exp"] = now.Add(DefaultIDJAGMaxLifetime + time.Second).Unix() })), "client-1", "longer"},
		{"nbf ahead", mint(t, key, idJAGType, with(func(c map[string]any) { c["nbf"] = now.Add(2 * time.Minute).Unix() })), "client-1", "nbf"},
		{"bound to a key", mint(t, key, idJAGType, with(func(c map[string]any) { c["cnf"] = map[string]string{"jkt": "x"} })), "client-1", "cnf"},
		{"resource not URIs", mint(t, key, idJAGType, with(func(c map[string]any) { c["resource"] = 5 })), "client-1", "resource"},
		{"scope not a string", mint(t, key, idJAGType, with(func(c map[string]any) { c["scope"] = []string{"a"} })), "client-1", "claims"},
		{"too long", strings.Repeat("a", idJAGMaxLen+1), "client-1", "longer than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.verify(context.Background(), tc.assertion, tc.client)
			wantInvalidGrant(t, err, tc.hint)
		})
	}
}

func mustJSON(t testing.TB, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestIDJAGKeyRotation: an assertion signed with a kid the cached set
// lacks makes one refresh of the set (the issuer rotated), and verifies
// with the new key; a kid known and a signature that does not verify
// costs no refresh.
func TestIDJAGKeyRotation(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	clock := clocktest.New(now)
	oldKey, newKey := newECKey(t, "old"), newECKey(t, "new")
	keys := &staticKeys{
		set:  &josev3.JSONWebKeySet{Keys: []josev3.JSONWebKey{oldKey.public()}},
		next: &josev3.JSONWebKeySet{Keys: []josev3.JSONWebKey{oldKey.public(), newKey.public()}},
	}
	v := newTestVerifier(clock, keys)
	if _, err := v.verify(context.Background(), mint(t, newKey, idJAGType, validClaims(now)), "client-1"); err != nil {
		t.Fatalf("assertion with the rotated key: %v", err)
	}
	if keys.refreshes != 1 {
		t.Fatalf("%d refreshes, want 1", keys.refreshes)
	}
	forged := newECKey(t, "old")
	_, err := v.verify(context.Background(), mint(t, forged, idJAGType, validClaims(now)), "client-1")
	wantInvalidGrant(t, err, "signature")
	if keys.refreshes != 1 {
		t.Fatalf("a known kid that did not verify refreshed the set (%d refreshes)", keys.refreshes)
	}
}

// TestIDJAGReplayKey: the single-use key is namespaced by issuer and
// cannot be forged from another issuer's or a client assertion's jti.
func TestIDJAGReplayKey(t *testing.T) {
	a := idJAGReplayKey("https://a.example", "x:y")
	b := idJAGReplayKey("https://a.example:x", "y")
	if a == b || a == "x:y" || !strings.HasPrefix(a, "id-jag:") {
		t.Fatalf("keys %q and %q", a, b)
	}
}

// FuzzIDJAGVerify: whatever the assertion, verification never panics and
// refuses with invalid_grant only (RFC 7521 §4.1.1: every assertion
// problem), never with a server error.
func FuzzIDJAGVerify(f *testing.F) {
	now := time.Unix(1_900_000_000, 0)
	key := newECKey(f, "k1")
	keys := &staticKeys{set: &josev3.JSONWebKeySet{Keys: []josev3.JSONWebKey{key.public()}}}
	v := newTestVerifier(clocktest.New(now), keys)
	valid := mint(f, key, idJAGType, validClaims(now))
	f.Add(valid)
	f.Add(valid[:len(valid)-5])
	f.Add(strings.Replace(valid, ".", "..", 1))
	f.Add("a.b.c")
	f.Add("")
	f.Add(mint(f, key, idJAGType, map[string]any{"iss": testIdPIssuer, "aud": []any{1, 2}, "exp": "soon"}))
	f.Fuzz(func(t *testing.T, assertion string) {
		g, err := v.verify(context.Background(), assertion, "client-1")
		if err == nil {
			if g == nil || g.claims.ClientID != "client-1" || g.claims.Subject == "" || g.claims.ID == "" {
				t.Fatalf("accepted %q as %+v", assertion, g)
			}
			return
		}
		if rfc := fosite.ErrorToRFC6749Error(err); rfc.ErrorField != fosite.ErrInvalidGrant.ErrorField {
			t.Fatalf("%q: error %q, want invalid_grant", assertion, rfc.ErrorField)
		}
	})
}

// TestIDJAGGrant: the token gets the scopes both asked for and asserted
// that the client may have, never a management scope nor offline_access;
// its audience is the resources asked for within the asserted ones, each
// one the client may use.
func TestIDJAGGrant(t *testing.T) {
	client := &storage.Client{
		ID: "c", FirstParty: true, GrantTypes: []string{GrantJWTBearer},
		Scopes:   []string{"chat.read", "chat.history", ScopeAdmin, ScopeOfflineAccess},
		Audience: []string{"https://api.example.com/a", "https://api.example.com/b"},
	}
	asserted := &idJAG{
		scopes:    []string{"chat.read", "chat.history", ScopeAdmin, ScopeOfflineAccess, "not.for.client"},
		resources: []string{"https://api.example.com/a", "https://api.example.com/b"},
	}
	h := &idJAGHandler{}
	for _, tc := range []struct {
		name             string
		form             url.Values
		grant            *idJAG
		scopes, audience string
		err              string
	}{
		{"asserted scopes, no management, no offline", url.Values{}, asserted, "chat.read chat.history", "https://api.example.com/a https://api.example.com/b", ""},
		{"intersection", url.Values{"scope": {"chat.read"}, "resource": {"https://api.example.com/b"}}, asserted, "chat.read", "https://api.example.com/b", ""},
		{"management scope asked", url.Values{"scope": {ScopeAdmin}}, asserted, "", "", "invalid_scope"},
		{"scope of another client", url.Values{"scope": {"not.for.client"}}, asserted, "", "", "invalid_scope"},
		{"nothing asked is asserted", url.Values{"scope": {"chat.read"}}, &idJAG{scopes: []string{"chat.history"}}, "", "", "invalid_scope"},
		{"resource not asserted", url.Values{"resource": {"https://api.example.com/c"}}, &idJAG{resources: []string{"https://api.example.com/a"}}, "", "", "invalid_target"},
		{"asserted resource the client may not use", url.Values{}, &idJAG{resources: []string{"https://other.example.com/"}}, "", "", "invalid_target"},
		{"no resource asserted: asked one the client may use", url.Values{"resource": {"https://api.example.com/a"}}, &idJAG{}, "", "https://api.example.com/a", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ar := fosite.NewAccessRequest(NewSession())
			ar.Client = client
			ar.Form = tc.form
			ar.SetRequestedScopes(fosite.RemoveEmpty(strings.Split(tc.form.Get("scope"), " ")))
			_, err := h.grant(context.Background(), ar, tc.grant)
			if tc.err != "" {
				if err == nil || fosite.ErrorToRFC6749Error(err).ErrorField != tc.err {
					t.Fatalf("error %v, want %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(ar.GetGrantedScopes(), " "); got != tc.scopes {
				t.Errorf("scopes %q, want %q", got, tc.scopes)
			}
			if got := strings.Join(ar.GetGrantedAudience(), " "); got != tc.audience {
				t.Errorf("audience %q, want %q", got, tc.audience)
			}
		})
	}
}
