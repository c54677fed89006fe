package provider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-dev/gatehouse/internal/clocktest"

	"github.com/google/uuid"
	"github.com/ory/fosite"
	"github.com/ory/fosite/token/jwt"

	"github.com/gatehouse-dev/gatehouse/provider/keys"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

const testSecret = "provider-test-secret-provider-test-secret-01"

type fixture struct {
	p     *Provider
	store *bunstore.Store
	ring  *secret.Keyring
	clock *clocktest.Clock
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	store := bunstoretest.Open(t, "sqlite", bunstore.Options{})
	ring, err := secret.NewKeyring(testSecret, nil)
	if err != nil {
		t.Fatal(err)
	}
	km, err := keys.New(context.Background(), keys.Options{Store: store, Keyring: ring, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	clock := clocktest.New(time.Now().UTC())
	p, err := New(Options{
		Issuer: "http://127.0.0.1:8080", Store: store, Keys: km, Keyring: ring, Now: clock.Now,
		Lifespans: Lifespans{AccessToken: time.Minute, IDToken: time.Minute, AuthorizationCode: time.Minute,
			RefreshToken: time.Hour},
		RefreshRetryWindow: 10 * time.Second,
		Logger:             slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{p: p, store: store, ring: ring, clock: clock}
}

// storedClient stores c with a new secret (returned) unless it is
// public. The caller fills in what the administration would: grant and
// response types, scopes, the auth method.
func storedClient(t testing.TB, st storage.ClientStore, ring *secret.Keyring, c *storage.Client) string {
	t.Helper()
	var plain string
	if !c.Public {
		var err error
		if plain, err = secret.NewOpaque(secret.PrefixClientSecret); err != nil {
			t.Fatal(err)
		}
		c.SecretHash = secret.NewHasher(ring).HashString(plain)
	}
	if c.ID == "" {
		c.ID = uuid.NewString()
	}
	c.CreatedAt, c.UpdatedAt = time.Now().UTC(), time.Now().UTC()
	if err := st.CreateClient(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return plain
}

// webClient is a confidential web app's row as the administration makes
// it by default.
func webClient(redirectURI string) *storage.Client {
	return &storage.Client{
		Name: "web", RedirectURIs: []string{redirectURI},
		GrantTypes: []string{GrantAuthorizationCode, GrantRefreshToken}, ResponseTypes: []string{"code"},
		Scopes: []string{ScopeOpenID, "profile", "email", ScopeOfflineAccess}, TokenEndpointAuthMethod: AuthMethodBasic,
	}
}

func TestOAuthErrorMapping(t *testing.T) {
	wrapped := func(e *fosite.RFC6749Error, cause error) error { return e.WithWrap(cause) }
	for _, tc := range []struct {
		name  string
		err   error
		grant string
		want  string
		code  int
	}{
		{"database down", wrapped(fosite.ErrServerError, fmt.Errorf("x: %w", storage.ErrUnavailable)), "client_credentials", "temporarily_unavailable", 503},
		{"code race (server error)", wrapped(fosite.ErrServerError, fosite.ErrInvalidatedAuthorizeCode), "authorization_code", "invalid_grant", 400},
		{"refresh race", fmt.Errorf("x: %w", storage.ErrRefreshRace), "refresh_token", "invalid_grant", 400},
		{"refresh rotation lost (retry hint)", wrapped(fosite.ErrInvalidRequest, fmt.Errorf("x: %w", storage.ErrNotFound)), "refresh_token", "invalid_grant", 400},
		{"refresh serialization failure", wrapped(fosite.ErrInvalidRequest, fosite.ErrSerializationFailure), "refresh_token", "invalid_grant", 400},
		{"unknown client on refresh stays invalid_client", wrapped(fosite.ErrInvalidClient, storage.ErrNotFound), "refresh_token", "invalid_client", 401},
		{"other errors pass", fosite.ErrInvalidScope, "client_credentials", "invalid_scope", 400},
		{"identity assertion replayed", fmt.Errorf("x: %w", fosite.ErrJTIKnown), GrantJWTBearer, "invalid_grant", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := fosite.ErrorToRFC6749Error(oauthErrorOf(tc.err, tc.grant))
			if got.ErrorField != tc.want || got.CodeField != tc.code {
				t.Fatalf("got %s %d, want %s %d", got.ErrorField, got.CodeField, tc.want, tc.code)
			}
		})
	}
	if oauthErrorOf(nil, "") != nil {
		t.Fatal("nil error mapped to an error")
	}
}

// authorizeHTTPRequest is a valid authorization request of c, with extra
// parameters set.
func authorizeHTTPRequest(c *storage.Client, extra url.Values) *http.Request {
	q := url.Values{
		"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {c.RedirectURIs[0]},
		"scope": {"openid email"}, "state": {"state-123456"},
		"code_challenge": {strings.Repeat("A", 43)}, "code_challenge_method": {"S256"},
	}
	for k, v := range extra {
		q[k] = v
	}
	r, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:8080/oauth2/authorize?"+q.Encode(), nil)
	return r
}

func TestAuthorizeRequestChecks(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := webClient("https://a.example/cb")
	storedClient(t, f.store, f.ring, c)

	check := func(extra url.Values) error {
		_, err := f.p.NewAuthorizeRequest(ctx, authorizeHTTPRequest(c, extra))
		return err
	}
	if err := check(nil); err != nil {
		t.Fatalf("valid request: %v", err)
	}
	for _, bad := range []url.Values{
		{"code_challenge": {""}},
		{"code_challenge_method": {"plain"}},
		{"code_challenge_method": {""}},
		{"code_challenge": {"short"}},
		{"code_challenge": {strings.Repeat("+", 43)}},
		{"prompt": {"none login"}}, {"prompt": {"select_account"}}, {"max_age": {"-1"}}, {"max_age": {"soon"}},
	} {
		if err := check(bad); !errors.Is(err, fosite.ErrInvalidRequest) {
			t.Errorf("%v: %v", bad, err)
		}
	}
}

func TestVerifyIDTokenHint(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sign := func(claims map[string]interface{}) string {
		tok, _, err := f.p.signer.Generate(ctx, jwt.MapClaims(claims), &jwt.Headers{})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	now := time.Now()
	good := sign(map[string]interface{}{"iss": f.p.Issuer(), "sub": "u1", "aud": []string{"c1"}, "exp": now.Add(time.Minute).Unix()})
	if h, err := f.p.VerifyIDTokenHint(ctx, good); err != nil || h.Subject != "u1" || h.ClientID != "c1" {
		t.Fatalf("good hint: %+v %v", h, err)
	}
	expired := sign(map[string]interface{}{"iss": f.p.Issuer(), "sub": "u1", "aud": "c1", "exp": now.Add(-time.Hour).Unix()})
	if h, err := f.p.VerifyIDTokenHint(ctx, expired); err != nil || h.ClientID != "c1" {
		t.Fatalf("expired hint must be accepted: %v", err)
	}
	for name, tok := range map[string]string{
		"other issuer": sign(map[string]interface{}{"iss": "https://evil.example", "sub": "u1", "aud": "c1"}),
		"no subject":   sign(map[string]interface{}{"iss": f.p.Issuer(), "aud": "c1"}),
		"no audience":  sign(map[string]interface{}{"iss": f.p.Issuer(), "sub": "u1"}),
		"garbage":      "a.b.c",
		"empty":        "",
	} {
		if _, err := f.p.VerifyIDTokenHint(ctx, tok); !errors.Is(err, ErrBadIDTokenHint) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestMetricsRegistration: the engine's counters are registered on the
// registry it is given, every series from the start, and a second engine
// on the same registry is an error from New (the two would otherwise count
// apart, one of them unseen), not a panic.
func TestMetricsRegistration(t *testing.T) {
	f := newFixture(t)
	reg := prometheus.NewRegistry()
	opts := f.p.opts
	opts.Metrics = reg
	if _, err := New(opts); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]int{}
	for _, mf := range mfs {
		series[mf.GetName()] = len(mf.GetMetric())
	}
	for name, n := range map[string]int{
		"gatehouse_tokens_issued_total": len(grantTypes), "gatehouse_tokens_revoked_total": 1, "gatehouse_refresh_reuse_detections_total": 1,
	} {
		if series[name] != n {
			t.Errorf("%s has %d series, want %d", name, series[name], n)
		}
	}
	if _, err := New(opts); err == nil {
		t.Fatal("a second engine registered the same metrics")
	}
}
