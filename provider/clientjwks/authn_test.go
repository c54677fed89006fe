package clientjwks

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/ory/fosite"
)

// unsignedAssertion is a compact JWS with the claims given and no valid
// signature: checkAssertionLifetime reads claims only.
func unsignedAssertion(t *testing.T, claims map[string]any) string {
	t.Helper()
	body, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"RS256"}`)) + "." + enc.EncodeToString(body) + ".c2ln"
}

// assertionRequest is a token request authenticated by assertion, and its
// form.
func assertionRequest(assertion string) (*http.Request, url.Values) {
	form := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {JWTBearerAssertionType}, "client_assertion": {assertion}}
	return httptest.NewRequest(http.MethodPost, testTokenURL, strings.NewReader(form.Encode())), form
}

// TestCheckAssertionLifetime: exp at most MaxAssertionLifetime after iat,
// or after now (with AssertionClockSkew) without iat; no iat in the future
// beyond the skew; exp required. Claims that cannot be read are left to
// fosite.
func TestCheckAssertionLifetime(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	at := func(d time.Duration) float64 { return float64(now.Add(d).Unix()) }
	life, skew := MaxAssertionLifetime, AssertionClockSkew
	for _, tc := range []struct {
		name   string
		claims map[string]any
		ok     bool
	}{
		{"one minute", map[string]any{"iat": at(0), "exp": at(time.Minute)}, true},
		{"exactly the maximum", map[string]any{"iat": at(-time.Minute), "exp": at(life - time.Minute)}, true},
		{"a second longer", map[string]any{"iat": at(-time.Minute), "exp": at(life - time.Minute + time.Second)}, false},
		{"a year", map[string]any{"iat": at(0), "exp": at(365 * 24 * time.Hour)}, false},
		{"fractional seconds", map[string]any{"iat": at(0) + 0.5, "exp": at(life) + 0.5}, true},
		{"no iat, within the maximum and skew", map[string]any{"exp": at(life + skew)}, true},
		{"no iat, beyond", map[string]any{"exp": at(life + skew + time.Second)}, false},
		{"iat within the skew", map[string]any{"iat": at(skew), "exp": at(skew + time.Minute)}, true},
		{"iat beyond the skew", map[string]any{"iat": at(skew + time.Second), "exp": at(skew + time.Minute)}, false},
		{"no exp", map[string]any{"iat": at(0)}, false},
		{"exp not a number: fosite's to refuse", map[string]any{"iat": at(0), "exp": "tomorrow"}, true},
		{"exp out of range", map[string]any{"iat": at(0), "exp": 1e300}, false},
	} {
		err := checkAssertionLifetime(unsignedAssertion(t, tc.claims), now)
		if tc.ok && err != nil {
			t.Errorf("%s: refused: %v", tc.name, err)
		}
		if !tc.ok && !errors.Is(err, fosite.ErrInvalidClient) {
			t.Errorf("%s: got %v, want invalid_client", tc.name, err)
		}
	}
	for _, junk := range []string{"", "a.b", "a.%%%.c", "a." + base64.RawURLEncoding.EncodeToString([]byte("[1]")) + ".c"} {
		if err := checkAssertionLifetime(junk, now); err != nil {
			t.Errorf("%q: %v, want it left to fosite", junk, err)
		}
	}
}

// TestOneMethodShortAssertions wraps fosite's real client authentication:
// a good assertion passes; the same with a client secret or HTTP Basic
// credentials, or one valid for a year, is invalid_client before fosite
// sees it (so its jti is not spent).
func TestOneMethodShortAssertions(t *testing.T) {
	f, c, r := fositeWithInlineKey(t)
	strategy := OneMethodShortAssertions(AssertionErrorsAsInvalidClient(f.DefaultClientAuthenticationStrategy), time.Now)

	yearLong := signAssertion(t, c, r, "k1", func(cl *josejwt.Claims) {
		cl.Expiry = josejwt.NewNumericDate(time.Now().Add(365 * 24 * time.Hour))
	})
	if _, err := runAuth(strategy, yearLong); !errors.Is(err, fosite.ErrInvalidClient) {
		t.Fatalf("a year-long assertion: %v, want invalid_client", err)
	}

	good := signAssertion(t, c, r, "k1", nil)
	withSecret := func(form, basic bool) error {
		t.Helper()
		req, values := assertionRequest(good)
		if form {
			values.Set("client_secret", "s3cret")
		}
		if basic {
			req.SetBasicAuth(c.GetID(), "s3cret")
		}
		_, err := strategy(req.Context(), req, values)
		return err
	}
	if err := withSecret(true, false); !errors.Is(err, fosite.ErrInvalidClient) {
		t.Errorf("assertion with client_secret: %v, want invalid_client", err)
	}
	if err := withSecret(false, true); !errors.Is(err, fosite.ErrInvalidClient) {
		t.Errorf("assertion with HTTP Basic: %v, want invalid_client", err)
	}
	// Refused before fosite: the assertion's jti is still unused.
	if got, err := runAuth(strategy, good); err != nil || got.GetID() != c.GetID() {
		t.Fatalf("the good assertion after the refusals: %v %v", got, err)
	}
}
