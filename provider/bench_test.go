package provider

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-dev/gatehouse/provider/apikey"
	"github.com/gatehouse-dev/gatehouse/provider/dpop"
	"github.com/gatehouse-dev/gatehouse/provider/keys"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

// The token endpoint's hot paths through the provider (fosite composed
// with our storage, strategies and client authentication), per dialect:
// SQLite always, PostgreSQL with GATEHOUSE_TEST_POSTGRES_DSN. The load
// benchmark (make bench) measures the same paths over HTTP; these isolate
// them from the network and the other processes on the machine.
//
//	go test -run '^$' -bench . -benchmem ./provider/

// benchFixture is a provider on a fresh store with one client_credentials
// client (scope "api"), its secret and an API key of it.
type benchFixture struct {
	p      *Provider
	store  *bunstore.Store
	ring   *secret.Keyring
	client *storage.Client
	secret string
	apiKey string
}

// newBenchFixture builds a provider whose JWT access tokens (when a client
// asks for them) are signed with alg.
func newBenchFixture(b *testing.B, dialect, alg string) *benchFixture {
	b.Helper()
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	store := bunstoretest.Open(b, dialect, bunstore.Options{})
	ring, err := secret.NewKeyring(testSecret, nil)
	if err != nil {
		b.Fatal(err)
	}
	km, err := keys.New(ctx, keys.Options{Store: store, Keyring: ring, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	verifier := apikey.NewVerifier(apikey.Options{Store: store, Keyring: ring, Logger: quiet})
	p, err := New(Options{
		Issuer: "http://127.0.0.1:8080", Store: store, Keys: km, Keyring: ring, Logger: quiet, APIKeys: verifier,
		Lifespans: Lifespans{AccessToken: time.Hour, IDToken: time.Minute, AuthorizationCode: time.Minute,
			RefreshToken: time.Hour},
		AccessTokenAlg: alg,
	})
	if err != nil {
		b.Fatal(err)
	}
	f := &benchFixture{p: p, store: store, ring: ring}
	f.client, f.secret = f.newClient(b, "")
	// An API key of the client, as the administration mints it.
	key, id, secretPart, err := apikey.Mint()
	if err != nil {
		b.Fatal(err)
	}
	if err := store.CreateAPIKey(ctx, &storage.APIKey{ID: id, ClientID: f.client.ID, Name: "bench", Scopes: []string{"api"},
		SecretHash: verifier.Hash(secretPart), CreatedBy: "operator", CreatedAt: time.Now()}); err != nil {
		b.Fatal(err)
	}
	f.apiKey = key
	return f
}

// newClient stores a client_credentials client; format "jwt" makes it
// ask for JWT access tokens.
func (f *benchFixture) newClient(b *testing.B, format string) (*storage.Client, string) {
	b.Helper()
	c := &storage.Client{Name: "bench", GrantTypes: []string{GrantClientCredentials}, ResponseTypes: []string{},
		Scopes: []string{"api"}, TokenEndpointAuthMethod: AuthMethodBasic, AccessTokenFormat: format}
	plain := storedClient(b, f.store, f.ring, c)
	return c, plain
}

// post is a form POST to path with HTTP Basic client authentication, as
// the load generator sends it. A request's body is read once, so every
// iteration needs its own; building it is part of what is measured (a few
// hundred nanoseconds, small next to the rest).
func post(path string, form url.Values, id, secret string) *http.Request {
	r, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:8080"+path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return r
}

var ccForm = url.Values{"grant_type": {GrantClientCredentials}}

// mint runs a client_credentials token request the way the token handler
// does and returns the access token.
func (f *benchFixture) mint(ctx context.Context, id, secret string) (string, error) {
	ar, err := f.p.oauth2.NewAccessRequest(ctx, post(PathToken, ccForm, id, secret), NewSession())
	if err == nil {
		err = f.p.prepareAccessRequest(ctx, ar)
	}
	if err != nil {
		return "", err
	}
	resp, err := f.p.newAccessResponse(ctx, ar)
	if err != nil {
		return "", err
	}
	return resp.GetAccessToken(), nil
}

// BenchmarkAuthenticateClient is client authentication alone, as the token
// endpoint runs it: with the client secret (client lookup, in-process
// cache, keyed SHA-256 compare) and with an API key (parse, checksum, key
// lookup, keyed hash compare, then the client).
func BenchmarkAuthenticateClient(b *testing.B) {
	for _, d := range bunstoretest.Dialects() {
		b.Run(d, func(b *testing.B) {
			f := newBenchFixture(b, d, keys.ES256)
			ctx := context.Background()
			for _, c := range []struct{ name, secret string }{{"secret", f.secret}, {"apikey", f.apiKey}} {
				b.Run(c.name, func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						if _, err := f.p.authenticateClient(ctx, post(PathToken, ccForm, f.client.ID, c.secret)); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
			b.Run("wrong-secret", func(b *testing.B) {
				// A failure must cost no more than a success (no slow
				// hash, no extra query): the same compare, refused.
				b.ReportAllocs()
				for b.Loop() {
					if _, err := f.p.authenticateClient(ctx, post(PathToken, ccForm, f.client.ID, "gth_cs_wrong")); err == nil {
						b.Fatal("wrong secret accepted")
					}
				}
			})
		})
	}
}

// BenchmarkClientCredentialsToken is a whole client_credentials token
// request through the provider: authentication, the grant, minting and the
// one INSERT of the token, committed. Opaque with the client secret and
// with an API key, and JWT access tokens signed with each algorithm.
func BenchmarkClientCredentialsToken(b *testing.B) {
	for _, d := range bunstoretest.Dialects() {
		b.Run(d, func(b *testing.B) {
			ctx := context.Background()
			es := newBenchFixture(b, d, keys.ES256)
			rs := newBenchFixture(b, d, keys.RS256)
			esJWT, esJWTSecret := es.newClient(b, FormatJWT)
			rsJWT, rsJWTSecret := rs.newClient(b, FormatJWT)
			for _, c := range []struct {
				name       string
				f          *benchFixture
				id, secret string
				jwt        bool
			}{
				{"opaque", es, es.client.ID, es.secret, false},
				{"opaque-apikey", es, es.client.ID, es.apiKey, false},
				{"jwt-ES256", es, esJWT.ID, esJWTSecret, true},
				{"jwt-RS256", rs, rsJWT.ID, rsJWTSecret, true},
			} {
				b.Run(c.name, func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						tok, err := c.f.mint(ctx, c.id, c.secret)
						if err != nil {
							b.Fatal(err)
						}
						if isJWT(tok) != c.jwt {
							b.Fatalf("token %.10s...: jwt=%v, want %v", tok, isJWT(tok), c.jwt)
						}
					}
				})
			}
		})
	}
}

// BenchmarkIntrospect is token lookup: an RFC 7662 introspection request
// through fosite (the caller's client authentication, then the token's
// one primary-key lookup, or for a JWT the signature and the lookup that
// revocation needs).
func BenchmarkIntrospect(b *testing.B) {
	for _, d := range bunstoretest.Dialects() {
		b.Run(d, func(b *testing.B) {
			ctx := context.Background()
			f := newBenchFixture(b, d, keys.ES256)
			jwtClient, jwtSecret := f.newClient(b, FormatJWT)
			opaque, err := f.mint(ctx, f.client.ID, f.secret)
			if err != nil {
				b.Fatal(err)
			}
			signed, err := f.mint(ctx, jwtClient.ID, jwtSecret)
			if err != nil {
				b.Fatal(err)
			}
			// Each token introspected by its own client: the common case,
			// decided without a query beyond the token's.
			for _, c := range []struct{ name, token, client, secret string }{
				{"opaque", opaque, f.client.ID, f.secret}, {"jwt-ES256", signed, jwtClient.ID, jwtSecret},
			} {
				b.Run(c.name, func(b *testing.B) {
					form := url.Values{"token": {c.token}, "token_type_hint": {"access_token"}}
					b.ReportAllocs()
					for b.Loop() {
						in, err := f.p.introspect(ctx, post(PathIntrospect, form, c.client, c.secret))
						if err != nil {
							b.Fatal(err)
						}
						if in["active"] != true {
							b.Fatal("token not active")
						}
					}
				})
			}
		})
	}
}

// BenchmarkDPoPToken is a client_credentials token request through the
// token endpoint with and without a DPoP proof (ES256): the proof costs
// one signature verification and one replay-cache write, in the database
// (one upsert) or, with GATEHOUSE_TEST_REDIS_URL, in Redis (one SET NX).
// Proofs are made outside the measured time, as a client makes them.
func BenchmarkDPoPToken(b *testing.B) {
	for _, d := range bunstoretest.Dialects() {
		b.Run(d, func(b *testing.B) {
			ctx := context.Background()
			f := newBenchFixture(b, d, keys.ES256)
			caches := []struct {
				name   string
				replay dpop.ReplayCache
			}{{"bearer", nil}, {"dpop-db", f.p.dpop.Replay}}
			if u := os.Getenv("GATEHOUSE_TEST_REDIS_URL"); u != "" {
				o, err := redis.ParseURL(u)
				if err != nil {
					b.Fatal(err)
				}
				o.MaxRetries = -1
				rdb := redis.NewClient(o)
				b.Cleanup(func() { _ = rdb.Close() })
				caches = append(caches, struct {
					name   string
					replay dpop.ReplayCache
				}{"dpop-redis", NewRedisReplayCache(rdb, nil)})
			}
			prover, err := dpop.NewProver(benchECKey(b), "ES256")
			if err != nil {
				b.Fatal(err)
			}
			for _, c := range caches {
				b.Run(c.name, func(b *testing.B) {
					if c.replay != nil {
						f.p.dpop.Replay = c.replay
					}
					var proofs []string
					b.ReportAllocs()
					for b.Loop() {
						r := post(PathToken, ccForm, f.client.ID, f.secret)
						if c.replay != nil {
							if len(proofs) == 0 {
								b.StopTimer()
								proofs = benchProofs(b, prover, 256)
								b.StartTimer()
							}
							r.Header.Set(dpop.HeaderName, proofs[0])
							proofs = proofs[1:]
						}
						w := httptest.NewRecorder()
						f.p.Token(ctx, w, r)
						if w.Code != http.StatusOK {
							b.Fatalf("token: %d %s", w.Code, w.Body)
						}
					}
				})
			}
		})
	}
}

func benchProofs(b *testing.B, p *dpop.Prover, n int) []string {
	out := make([]string, n)
	for i := range out {
		proof, err := p.Proof(http.MethodPost, "http://127.0.0.1:8080"+PathToken, "", "")
		if err != nil {
			b.Fatal(err)
		}
		out[i] = proof
	}
	return out
}

func benchECKey(b *testing.B) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	return k
}
