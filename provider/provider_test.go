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
			RefreshToken: time.Hour, LoginSession: time.Hour, AuthFlow: time.Minute},
		RefreshRetryWindow: 10 * time.Second,
		Logger:             slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{p: p, store: store, ring: ring, clock: clock}
}

// storedUser stores a person signing in with password ("" for none), as
// the administration would have made them.
func storedUser(t testing.TB, st storage.UserStore, email, password string) *storage.User {
	t.Helper()
	now := time.Now().UTC()
	u := &storage.User{ID: uuid.NewString(), Email: email, Roles: []string{}, CreatedAt: now, UpdatedAt: now}
	if password != "" {
		var err error
		if u.PasswordHash, err = secret.HashPassword(password); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
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

func TestAuthenticate(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	u := storedUser(t, f.store, "bob@example.com", "bobs password")
	if got, err := f.p.Authenticate(ctx, " BOB@example.com ", "bobs password", ""); err != nil || got.ID != u.ID {
		t.Fatalf("right password: %v", err)
	}
	for _, tc := range [][2]string{{"bob@example.com", "wrong"}, {"nobody@example.com", "bobs password"}, {"", ""}, {"bob@example.com", strings.Repeat("x", 2000)}} {
		if _, err := f.p.Authenticate(ctx, tc[0], tc[1], ""); !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("%q: %v", tc[0], err)
		}
	}
}

func authorizeRequest(t *testing.T, f *fixture, c *storage.Client, extra url.Values) fosite.AuthorizeRequester {
	t.Helper()
	ar, err := f.p.OAuth2.NewAuthorizeRequest(context.Background(), authorizeHTTPRequest(c, extra))
	if err != nil {
		t.Fatalf("authorize request: %v", err)
	}
	return ar
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

func TestNextStepAndChecks(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := webClient("https://a.example/cb")
	storedClient(t, f.store, f.ring, c)
	u := storedUser(t, f.store, "carol@example.com", "carols password")
	_, login, err := f.p.StartLogin(ctx, u, time.Now().Add(-time.Hour), MethodPassword)
	if err != nil {
		t.Fatal(err)
	}

	step := func(extra url.Values, l *Login, st FlowState) (Step, error) {
		return f.p.NextStep(ctx, authorizeRequest(t, f, c, extra), l, st)
	}
	if s, err := step(nil, nil, FlowState{}); s != StepLogin || err != nil {
		t.Fatalf("no session: %v %v", s, err)
	}
	if _, err := step(url.Values{"prompt": {"none"}}, nil, FlowState{}); !errors.Is(err, fosite.ErrLoginRequired) {
		t.Fatalf("prompt=none without session: %v", err)
	}
	if s, _ := step(nil, login, FlowState{}); s != StepConsent {
		t.Fatalf("no consent yet: %v", s)
	}
	if _, err := step(url.Values{"prompt": {"none"}}, login, FlowState{}); !errors.Is(err, fosite.ErrConsentRequired) {
		t.Fatalf("prompt=none without consent: %v", err)
	}
	if err := f.p.RememberConsent(ctx, u.ID, c.ID, []string{"openid", "email"}); err != nil {
		t.Fatal(err)
	}
	if s, _ := step(nil, login, FlowState{}); s != StepDone {
		t.Fatalf("remembered consent: %v", s)
	}
	if s, _ := step(url.Values{"scope": {"openid email profile"}}, login, FlowState{}); s != StepConsent {
		t.Fatalf("new scope: %v", s)
	}
	if s, _ := step(url.Values{"prompt": {"login"}}, login, FlowState{}); s != StepLogin {
		t.Fatalf("prompt=login: %v", s)
	}
	if s, _ := step(url.Values{"prompt": {"login"}}, login, FlowState{LoggedIn: true}); s != StepDone {
		t.Fatalf("prompt=login after signing in: %v", s)
	}
	if s, _ := step(url.Values{"max_age": {"60"}}, login, FlowState{}); s != StepLogin {
		t.Fatalf("max_age exceeded (signed in an hour ago): %v", s)
	}
	if s, _ := step(url.Values{"max_age": {"7200"}}, login, FlowState{}); s != StepDone {
		t.Fatalf("max_age satisfied: %v", s)
	}
	for _, bad := range []url.Values{{"prompt": {"none login"}}, {"prompt": {"select_account"}}, {"max_age": {"-1"}}, {"max_age": {"soon"}}} {
		if _, err := step(bad, login, FlowState{}); !errors.Is(err, fosite.ErrInvalidRequest) {
			t.Errorf("%v: %v", bad, err)
		}
	}

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

func mustRing(t *testing.T) *secret.Keyring {
	t.Helper()
	r, err := secret.NewKeyring(testSecret, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
