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
	p, err := New(Options{
		Issuer: "http://127.0.0.1:8080", Store: store, Keys: km, Keyring: ring,
		Lifespans: Lifespans{AccessToken: time.Minute, IDToken: time.Minute, AuthorizationCode: time.Minute,
			RefreshToken: time.Hour, LoginSession: time.Hour, AuthFlow: time.Minute},
		RefreshRetryWindow: 10 * time.Second,
		Logger:             slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{p: p, store: store, ring: ring}
}

func TestBuildClientValidation(t *testing.T) {
	h := secret.NewHasher(mustRing(t))
	for _, tc := range []struct {
		name string
		spec ClientSpec
		errs []string // substrings of the joined error; none = valid
	}{
		{"machine client", ClientSpec{Name: "job", Scopes: []string{"api:read"}}, nil},
		{"web app", ClientSpec{Name: "web", RedirectURIs: []string{"https://app.example/cb"}}, nil},
		{"loopback http", ClientSpec{Name: "cli", Public: true, RedirectURIs: []string{"http://127.0.0.1:1234/cb", "http://[::1]/cb", "http://localhost/cb"}}, nil},
		{"everything wrong at once", ClientSpec{
			Name: "", GrantTypes: []string{"password", "refresh_token"}, RedirectURIs: []string{"http://app.example/cb", "https://a.example/*", "https://a.example/#frag", "custom://host/cb"},
			Scopes: []string{"bad scope\""}, IDTokenSignedResponseAlg: "HS256", AllowedOrigins: []string{"https://a.example/path"},
			TokenEndpointAuthMethod: "private_key_jwt",
		}, []string{"name:", `"password" is not supported`, "refresh_token needs authorization_code", "non-loopback host", "wildcard", "fragment", "scheme must be https", "not a valid scope token", "HS256", "not an origin", "private_key_jwt"}},
		{"public with client_credentials", ClientSpec{Name: "x", Public: true, GrantTypes: []string{GrantClientCredentials}}, []string{"public client cannot use client_credentials"}},
		{"code without redirect", ClientSpec{Name: "x", GrantTypes: []string{GrantAuthorizationCode}}, []string{"needs at least one redirect URI"}},
		{"public with a secret method", ClientSpec{Name: "x", Public: true, RedirectURIs: []string{"https://a.example/cb"}, TokenEndpointAuthMethod: AuthMethodBasic}, []string{"public client uses none"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, plain, err := BuildClient(tc.spec, h, time.Now())
			if len(tc.errs) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if c.Public != (plain == "") || (!c.Public && !secret.CheckOpaque(secret.PrefixClientSecret, plain)) {
					t.Fatalf("secret %q for public=%v", plain, c.Public)
				}
				if !c.Public && h.Compare(context.Background(), []byte(c.SecretHash), []byte(plain)) != nil {
					t.Fatal("stored hash does not verify the secret")
				}
				if strings.Contains(c.SecretHash, plain) && plain != "" {
					t.Fatal("secret stored in clear")
				}
				return
			}
			if err == nil {
				t.Fatal("invalid spec accepted")
			}
			for _, want := range tc.errs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
		})
	}
}

func TestBuildClientDefaults(t *testing.T) {
	h := secret.NewHasher(mustRing(t))
	web, _, _ := BuildClient(ClientSpec{Name: "web", RedirectURIs: []string{"https://a.example/cb"}}, h, time.Now())
	if strings.Join(web.GrantTypes, ",") != "authorization_code,refresh_token" || strings.Join(web.Scopes, " ") != "openid profile email offline_access" ||
		web.GetTokenEndpointAuthMethod() != AuthMethodBasic || strings.Join(web.ResponseTypes, ",") != "code" {
		t.Fatalf("web defaults: %+v", web)
	}
	m2m, _, _ := BuildClient(ClientSpec{Name: "job"}, h, time.Now())
	if strings.Join(m2m.GrantTypes, ",") != "client_credentials" || len(m2m.Scopes) != 0 || len(m2m.ResponseTypes) != 0 {
		t.Fatalf("machine defaults: %+v", m2m)
	}
	spa, plain, _ := BuildClient(ClientSpec{Name: "spa", Public: true, RedirectURIs: []string{"https://a.example/cb"}}, h, time.Now())
	if plain != "" || spa.SecretHash != "" || spa.GetTokenEndpointAuthMethod() != AuthMethodNone {
		t.Fatalf("public defaults: %+v", spa)
	}
}

func TestBuildUser(t *testing.T) {
	u, err := BuildUser(UserSpec{Email: "Alice@Example.COM", Password: "long enough password", Roles: []string{"admin", "admin"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "alice@example.com" || len(u.Roles) != 1 || !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
		t.Fatalf("user: %+v", u)
	}
	_, err = BuildUser(UserSpec{Email: "not an address", Password: "short", Roles: []string{"a b"}}, time.Now())
	for _, want := range []string{"email:", "password:", "role:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
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
	u, _ := BuildUser(UserSpec{Email: "bob@example.com", Password: "bobs password"}, time.Now())
	if err := f.store.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
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
	h := secret.NewHasher(f.ring)
	c, _, _ := BuildClient(ClientSpec{Name: "web", RedirectURIs: []string{"https://a.example/cb"}}, h, time.Now())
	if err := f.store.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	u, _ := BuildUser(UserSpec{Email: "carol@example.com", Password: "carols password"}, time.Now())
	_ = f.store.CreateUser(ctx, u)
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
