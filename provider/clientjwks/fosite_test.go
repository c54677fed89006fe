package clientjwks

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	josev3 "github.com/go-jose/go-jose/v3"
	josev4 "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/ory/fosite"
	"github.com/ory/fosite/storage"
)

const testTokenURL = "https://id.example.com/oauth2/token"

// fositeWith returns a fosite whose client "c1" authenticates with
// private_key_jwt (RS256) against keys at jwksURI, resolved by fetcher.
func fositeWith(t *testing.T, fetcher fosite.JWKSFetcherStrategy, jwksURI string) (*fosite.Fosite, fosite.Client) {
	t.Helper()
	store := storage.NewMemoryStore()
	c := &fosite.DefaultOpenIDConnectClient{
		DefaultClient:                     &fosite.DefaultClient{ID: "c1", GrantTypes: []string{"client_credentials"}},
		JSONWebKeysURI:                    jwksURI,
		TokenEndpointAuthMethod:           "private_key_jwt",
		TokenEndpointAuthSigningAlgorithm: "RS256",
	}
	store.Clients[c.GetID()] = c
	cfg := &fosite.Config{TokenURL: testTokenURL, JWKSFetcherStrategy: fetcher}
	return &fosite.Fosite{Store: store, Config: cfg}, c
}

// signAssertion returns an RS256 client assertion for c signed by key with
// kid; mod may change the claims.
func signAssertion(t *testing.T, c fosite.Client, key any, kid string, mod func(*josejwt.Claims)) string {
	t.Helper()
	signer, err := josev4.NewSigner(josev4.SigningKey{Algorithm: josev4.RS256, Key: josev4.JSONWebKey{Key: key, KeyID: kid}}, (&josev4.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	jti := make([]byte, 16)
	_, _ = rand.Read(jti)
	now := time.Now()
	claims := josejwt.Claims{
		Issuer: c.GetID(), Subject: c.GetID(), Audience: josejwt.Audience{testTokenURL},
		ID: hex.EncodeToString(jti), IssuedAt: josejwt.NewNumericDate(now), Expiry: josejwt.NewNumericDate(now.Add(time.Minute)),
	}
	if mod != nil {
		mod(&claims)
	}
	assertion, err := josejwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return assertion
}

func runAuth(strategy fosite.ClientAuthenticationStrategy, assertion string) (fosite.Client, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {JWTBearerAssertionType}}
	if assertion != "" {
		form.Set("client_assertion", assertion)
	}
	r := httptest.NewRequest(http.MethodPost, testTokenURL, strings.NewReader(form.Encode()))
	return strategy(context.Background(), r, form)
}

// authenticate runs fosite's own client authentication on an assertion.
func authenticate(t *testing.T, f *fosite.Fosite, c fosite.Client, key any, kid string) (fosite.Client, error) {
	t.Helper()
	return runAuth(f.DefaultClientAuthenticationStrategy, signAssertion(t, c, key, kid, nil))
}

// failingJTIStore fails to record a jti, as a database that is down would.
type failingJTIStore struct{ *storage.MemoryStore }

var errDBDown = errors.New("database down")

func (failingJTIStore) SetClientAssertionJWT(context.Context, string, time.Time) error {
	return errDBDown
}

// TestAssertionErrorsAsInvalidClient pins what fosite v0.49.0 answers for
// bad assertions, and what the wrapper makes of it.
// fositeWithInlineKey returns a fosite whose client "c1" authenticates
// with private_key_jwt against one inline RS256 key, kid "k1", and that
// key's private half.
func fositeWithInlineKey(t *testing.T) (*fosite.Fosite, fosite.Client, *rsa.PrivateKey) {
	t.Helper()
	r := rsaKey(t, 2048)
	norm, err := Normalize(set(jwk(t, &r.PublicKey, map[string]any{"kid": "k1"})))
	if err != nil {
		t.Fatal(err)
	}
	var keys josev3.JSONWebKeySet
	if err := json.Unmarshal([]byte(norm), &keys); err != nil {
		t.Fatal(err)
	}
	f, c := fositeWith(t, nil, "")
	c.(*fosite.DefaultOpenIDConnectClient).JSONWebKeys = &keys
	return f, c, r
}

func TestAssertionErrorsAsInvalidClient(t *testing.T) {
	f, c, r := fositeWithInlineKey(t)
	wrapped := AssertionErrorsAsInvalidClient(f.DefaultClientAuthenticationStrategy)

	past := func(cl *josejwt.Claims) {
		cl.IssuedAt = josejwt.NewNumericDate(time.Now().Add(-time.Hour))
		cl.Expiry = josejwt.NewNumericDate(time.Now().Add(-time.Minute))
	}
	future := func(cl *josejwt.Claims) { cl.IssuedAt = josejwt.NewNumericDate(time.Now().Add(time.Hour)) }
	notYet := func(cl *josejwt.Claims) { cl.NotBefore = josejwt.NewNumericDate(time.Now().Add(time.Hour)) }
	replayed := signAssertion(t, c, r, "k1", nil)
	if _, err := runAuth(wrapped, replayed); err != nil {
		t.Fatalf("valid assertion: %v", err)
	}

	tests := []struct {
		name      string
		assertion string
		fosite    string // fosite's own error field; "" = a bare error
	}{
		{"expired", signAssertion(t, c, r, "k1", past), ""},
		{"issued in the future", signAssertion(t, c, r, "k1", future), ""},
		{"not valid yet", signAssertion(t, c, r, "k1", notYet), ""},
		{"unknown kid", signAssertion(t, c, r, "k2", nil), "invalid_request"},
		{"replayed jti", replayed, "jti_known"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runAuth(f.DefaultClientAuthenticationStrategy, tc.assertion)
			var rfc *fosite.RFC6749Error
			switch {
			case tc.fosite == "" && errors.As(err, &rfc):
				t.Fatalf("fosite now answers %s: the wrapper may be unnecessary", rfc.ErrorField)
			case tc.fosite == "" && err == nil:
				t.Fatal("fosite accepted it")
			case tc.fosite == "":
				if _, ok := claimsErrorHint(err); !ok {
					t.Fatalf("fosite's bare error %q is not recognised", err)
				}
			case !errors.As(err, &rfc) || rfc.ErrorField != tc.fosite:
				t.Fatalf("fosite answers %v, want %s", err, tc.fosite)
			}

			_, err = runAuth(wrapped, tc.assertion)
			wantInvalidClient(t, err, "")
		})
	}

	// A missing assertion stays a malformed request; a storage failure
	// stays the server's.
	if _, err := runAuth(wrapped, ""); fosite.ErrorToRFC6749Error(err).ErrorField != "invalid_request" {
		t.Fatalf("missing assertion: %v", err)
	}
	broken := &fosite.Fosite{Store: failingJTIStore{f.Store.(*storage.MemoryStore)}, Config: f.Config}
	_, err := runAuth(AssertionErrorsAsInvalidClient(broken.DefaultClientAuthenticationStrategy), signAssertion(t, c, r, "k1", nil))
	if !errors.Is(err, errDBDown) {
		t.Fatalf("storage failure: %v", err)
	}
}
