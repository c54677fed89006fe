package bunstore_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"

	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

// TestFositeFlows drives fosite v0.49.0's real handlers against the store:
// authorization code + PKCE + OpenID Connect, introspection, refresh
// rotation (also inside an outer transaction), a concurrent duplicate
// refresh, refresh-token reuse and code replay. It checks that the storage
// contracts fit what fosite actually calls.
func TestFositeFlows(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		f := newFositeFixture(t, dialect)
		ctx := context.Background()

		// Code exchange, then both tokens work.
		code, verifier := f.authorize(t)
		tokens, err := f.exchange(ctx, code, verifier)
		if err != nil {
			t.Fatalf("code exchange: %v", err)
		}
		if tokens.GetExtra("id_token") == nil {
			t.Error("no ID token issued")
		}
		f.wantActive(t, tokens.GetAccessToken(), fosite.AccessToken, true)
		rt1 := refreshToken(t, tokens)

		// Refresh inside an outer transaction, as gatehouse's handlers
		// wrap NewAccessResponse (fosite's BeginTX then joins it).
		var rt2 string
		err = f.store.InTx(ctx, func(txCtx context.Context) error {
			resp, err := f.refresh(txCtx, rt1)
			if err != nil {
				return err
			}
			rt2 = refreshToken(t, resp)
			return nil
		})
		if err != nil {
			t.Fatalf("refresh in a transaction: %v", err)
		}
		// The old access token is deliberately still valid.
		f.wantActive(t, tokens.GetAccessToken(), fosite.AccessToken, true)

		// A plain refresh (fosite's own transaction).
		resp, err := f.refresh(ctx, rt2)
		if err != nil {
			t.Fatalf("second refresh: %v", err)
		}
		rt3 := refreshToken(t, resp)
		at3 := resp.GetAccessToken()

		// Reuse of a rotated token revokes the whole grant (the retry
		// window is the provider's policy; fosite alone always revokes).
		if _, err := f.refresh(ctx, rt2); !errors.Is(err, fosite.ErrInvalidGrant) {
			t.Fatalf("refresh token reuse: %v, want invalid_grant", err)
		}
		f.wantActive(t, rt3, fosite.RefreshToken, false)
		f.wantActive(t, at3, fosite.AccessToken, false)

		// Code replay fails and revokes what the code issued.
		code, verifier = f.authorize(t)
		tokens, err = f.exchange(ctx, code, verifier)
		if err != nil {
			t.Fatalf("second code exchange: %v", err)
		}
		if _, err := f.exchange(ctx, code, verifier); !errors.Is(err, fosite.ErrInvalidGrant) {
			t.Fatalf("code replay: %v, want invalid_grant", err)
		}
		f.wantActive(t, tokens.GetAccessToken(), fosite.AccessToken, false)

		// Revocation (fosite passes a nil session prototype).
		code, verifier = f.authorize(t)
		tokens, err = f.exchange(ctx, code, verifier)
		if err != nil {
			t.Fatalf("third code exchange: %v", err)
		}
		form := url.Values{"token": {refreshToken(t, tokens)}, "client_id": {"spa"}}
		if err := f.provider.NewRevocationRequest(ctx, postForm("/revoke", form)); err != nil {
			t.Fatalf("revocation: %v", err)
		}
		f.wantActive(t, tokens.GetAccessToken(), fosite.AccessToken, false)
	})
}

type fositeFixture struct {
	store    *bunstore.Store
	provider fosite.OAuth2Provider
}

func newFositeFixture(t *testing.T, dialect string) *fositeFixture {
	t.Helper()
	s := bunstoretest.Open(t, dialect, bunstore.Options{})
	client := &storage.Client{
		ID:            "spa",
		Public:        true,
		RedirectURIs:  []string{"https://app.example/cb"},
		GrantTypes:    []string{"authorization_code", "refresh_token"},
		ResponseTypes: []string{"code"},
		Scopes:        []string{"openid", "offline_access", "profile"},
	}
	if err := s.CreateClient(context.Background(), client); err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keyGetter := func(context.Context) (any, error) { return key, nil }
	cfg := &fosite.Config{
		GlobalSecret:             []byte("0123456789abcdef0123456789abcdef"),
		AccessTokenLifespan:      time.Hour,
		RefreshTokenLifespan:     24 * time.Hour,
		AuthorizeCodeLifespan:    5 * time.Minute,
		IDTokenLifespan:          time.Hour,
		IDTokenIssuer:            "https://issuer.example",
		AccessTokenIssuer:        "https://issuer.example",
		TokenURL:                 "https://issuer.example/oauth2/token",
		EnforcePKCE:              true,
		ScopeStrategy:            fosite.ExactScopeStrategy,
		AudienceMatchingStrategy: fosite.DefaultAudienceMatchingStrategy,
		MinParameterEntropy:      8,
	}
	strategy := &compose.CommonStrategy{
		CoreStrategy:               compose.NewOAuth2HMACStrategy(cfg),
		OpenIDConnectTokenStrategy: compose.NewOpenIDConnectStrategy(keyGetter, cfg),
		Signer:                     &jwt.DefaultSigner{GetPrivateKey: keyGetter},
	}
	p := compose.Compose(cfg, s, strategy,
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OAuth2PKCEFactory,
		compose.OAuth2RefreshTokenGrantFactory,
		compose.OpenIDConnectExplicitFactory,
		compose.OpenIDConnectRefreshFactory,
		compose.OAuth2TokenIntrospectionFactory,
		compose.OAuth2TokenRevocationFactory,
	)
	return &fositeFixture{store: s, provider: p}
}

func (f *fositeFixture) authorize(t *testing.T) (code, verifier string) {
	t.Helper()
	ctx := context.Background()
	verifier = strings.Repeat("v", 20) + base64.RawURLEncoding.EncodeToString([]byte(time.Now().String()))
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"client_id":             {"spa"},
		"response_type":         {"code"},
		"redirect_uri":          {"https://app.example/cb"},
		"scope":                 {"openid offline_access"},
		"state":                 {"state-12345678"},
		"nonce":                 {"nonce-12345678"},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	r := httptest.NewRequest(http.MethodGet, "/oauth2/auth?"+q.Encode(), nil)
	ar, err := f.provider.NewAuthorizeRequest(ctx, r)
	if err != nil {
		t.Fatalf("NewAuthorizeRequest: %v", err)
	}
	ar.GrantScope("openid")
	ar.GrantScope("offline_access")
	now := time.Now().UTC()
	sess := &openid.DefaultSession{
		Subject: "alice",
		Claims: &jwt.IDTokenClaims{
			Subject: "alice", Issuer: "https://issuer.example", AuthTime: now, RequestedAt: now,
		},
		Headers: &jwt.Headers{Extra: map[string]any{}},
	}
	resp, err := f.provider.NewAuthorizeResponse(ctx, ar, sess)
	if err != nil {
		t.Fatalf("NewAuthorizeResponse: %v", err)
	}
	return resp.GetCode(), verifier
}

func postForm(path string, form url.Values) *http.Request {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

func (f *fositeFixture) token(ctx context.Context, form url.Values) (fosite.AccessResponder, error) {
	ar, err := f.provider.NewAccessRequest(ctx, postForm("/oauth2/token", form), &openid.DefaultSession{})
	if err != nil {
		return nil, err
	}
	return f.provider.NewAccessResponse(ctx, ar)
}

func (f *fositeFixture) exchange(ctx context.Context, code, verifier string) (fosite.AccessResponder, error) {
	return f.token(ctx, url.Values{
		"grant_type":    {"authorization_code"},
		"client_id":     {"spa"},
		"code":          {code},
		"code_verifier": {verifier},
		"redirect_uri":  {"https://app.example/cb"},
	})
}

func (f *fositeFixture) refresh(ctx context.Context, rt string) (fosite.AccessResponder, error) {
	return f.token(ctx, url.Values{
		"grant_type":    {"refresh_token"},
		"client_id":     {"spa"},
		"refresh_token": {rt},
	})
}

func (f *fositeFixture) wantActive(t *testing.T, token string, use fosite.TokenUse, want bool) {
	t.Helper()
	_, _, err := f.provider.IntrospectToken(context.Background(), token, use, &openid.DefaultSession{})
	if got := err == nil; got != want {
		t.Errorf("%s active = %v (err %v), want %v", use, got, err, want)
	}
}

func refreshToken(t *testing.T, resp fosite.AccessResponder) string {
	t.Helper()
	rt, _ := resp.GetExtra("refresh_token").(string)
	if rt == "" {
		t.Fatal("no refresh token issued")
	}
	return rt
}
