package resourceserver

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// testClock is a clock the test moves.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *testClock { return &testClock{now: time.Unix(1_900_000_000, 0)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testAS is an authorization server on loopback: RFC 8414 metadata, a
// JWKS the test can rotate, and an introspection endpoint answering from a
// table, each counting its requests.
type testAS struct {
	t      *testing.T
	srv    *httptest.Server
	issuer string

	mu      sync.Mutex
	keys    []jose.JSONWebKey // published (public)
	signers map[string]crypto.Signer
	answers map[string]map[string]any // token → introspection answer

	metadataHits, jwksHits, introspectHits atomic.Int32
	// metadataDown makes the metadata endpoint answer 503.
	metadataDown                 atomic.Bool
	lastBasicUser, lastBasicPass atomic.Value
}

func newTestAS(t *testing.T) *testAS {
	t.Helper()
	as := &testAS{t: t, signers: map[string]crypto.Signer{}, answers: map[string]map[string]any{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		as.metadataHits.Add(1)
		if as.metadataDown.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		writeTestJSON(w, map[string]any{
			"issuer": as.issuer, "jwks_uri": as.issuer + "/jwks", "introspection_endpoint": as.issuer + "/introspect",
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		as.jwksHits.Add(1)
		as.mu.Lock()
		defer as.mu.Unlock()
		writeTestJSON(w, jose.JSONWebKeySet{Keys: as.keys})
	})
	mux.HandleFunc("POST /introspect", func(w http.ResponseWriter, r *http.Request) {
		as.introspectHits.Add(1)
		user, pass, _ := r.BasicAuth()
		as.lastBasicUser.Store(user)
		as.lastBasicPass.Store(pass)
		if user != "rs" || pass != "rs-secret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		as.mu.Lock()
		defer as.mu.Unlock()
		answer, ok := as.answers[r.PostFormValue("token")]
		if !ok {
			answer = map[string]any{"active": false}
		}
		writeTestJSON(w, answer)
	})
	as.srv = httptest.NewServer(mux)
	t.Cleanup(as.srv.Close)
	as.issuer = as.srv.URL
	return as
}

func writeTestJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// addKey makes and publishes an ES256 key.
func (as *testAS) addKey(kid string) {
	as.t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		as.t.Fatal(err)
	}
	as.mu.Lock()
	defer as.mu.Unlock()
	as.signers[kid] = k
	as.keys = append(as.keys, jose.JSONWebKey{Key: k.Public(), KeyID: kid, Algorithm: string(jose.ES256), Use: "sig"})
}

// setAnswer makes the introspection endpoint answer token with answer.
func (as *testAS) setAnswer(token string, answer map[string]any) {
	as.mu.Lock()
	defer as.mu.Unlock()
	as.answers[token] = answer
}

// sign makes a JWT with the key kid (an unpublished key of that id when
// the AS has none), with header typ and claims.
func (as *testAS) sign(kid, typ string, claims map[string]any) string {
	as.t.Helper()
	as.mu.Lock()
	key, ok := as.signers[kid]
	as.mu.Unlock()
	if !ok {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			as.t.Fatal(err)
		}
		key = k
	}
	opts := (&jose.SignerOptions{}).WithHeader(jose.HeaderKey("kid"), kid)
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, opts)
	if err != nil {
		as.t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		as.t.Fatal(err)
	}
	return tok
}

const testResource = "http://127.0.0.1:9999/mcp"

// claimsAt are good access-token claims issued at now.
func (as *testAS) claimsAt(now time.Time) map[string]any {
	return map[string]any{
		"iss": as.issuer, "sub": "user-1", "aud": []string{testResource}, "client_id": "app",
		"scope": "mcp:tools files:read", "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"jti": "j1",
	}
}

func newTestAuthenticator(t *testing.T, as *testAS, clock *testClock, mod func(*Options)) *Authenticator {
	t.Helper()
	opts := Options{
		Issuer: as.issuer, Resource: testResource, RequiredScopes: []string{"mcp:tools"},
		ClientID: "rs", ClientSecret: "rs-secret", APIKeys: true, Clock: clock.Now,
	}
	if mod != nil {
		mod(&opts)
	}
	a, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// boundClaimsAt are good claims of an access token bound to the DPoP key
// of thumbprint jkt (RFC 9449 §6.1).
func (as *testAS) boundClaimsAt(now time.Time, jkt string) map[string]any {
	c := as.claimsAt(now)
	c["cnf"] = map[string]any{"jkt": jkt}
	return c
}

// boundAnswer is the introspection answer of an opaque token bound to
// the DPoP key of thumbprint jkt (RFC 9449 §6.2).
func (as *testAS) boundAnswer(now time.Time, jkt string) map[string]any {
	return map[string]any{"active": true, "iss": as.issuer, "client_id": "app", "sub": "user-2", "scope": "mcp:tools",
		"aud": []string{testResource}, "exp": now.Add(time.Hour).Unix(), "token_type": "DPoP", "cnf": map[string]any{"jkt": jkt}}
}
