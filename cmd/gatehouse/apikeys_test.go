package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/clocktest"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/apikey"
)

// TestAPIKeysAsClientCredentials: a key works wherever the client secret
// does for client_credentials, limited to its scopes; the token remembers
// the key; revocation and expiry cut the key and its tokens at once; every
// bad key is the same invalid_client.
func TestAPIKeysAsClientCredentials(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		// Key expiry is judged on the server's clock, which the test moves.
		clock := clocktest.New(time.Now())
		s, _ := startServerAt(t, dialect, clock)
		ctx := context.Background()
		c, secretValue := s.client(admin.ClientSpec{Name: "reports", Scopes: []string{"reports:read", "reports:write", "admin:x"}})
		// A resource server the operator lets introspect any token.
		other, otherSecret := s.client(admin.ClientSpec{Name: "other", Scopes: []string{"reports:read"}, IntrospectAnyToken: true})
		a := s.app.admin
		key, plain, err := a.CreateAPIKey(ctx, nil, admin.APIKeySpec{ClientID: c.ID, Name: "ci", Scopes: []string{"reports:read", "reports:write"}})
		if err != nil {
			t.Fatal(err)
		}
		if !apikey.LooksLikeKey(plain) || strings.Contains(key.SecretHash, plain) {
			t.Fatalf("key %q / hash %q", plain, key.SecretHash)
		}
		token := func(form url.Values, user, pass string) (int, map[string]interface{}) {
			t.Helper()
			st, body, _ := postForm(t, s.issuer+provider.PathToken, form, user, pass)
			return st, body
		}
		cc := url.Values{"grant_type": {"client_credentials"}}

		// Basic with the key; no scope asked: all the key's scopes.
		st, body := token(cc, c.ID, plain)
		if st != http.StatusOK || body["scope"] != "reports:read reports:write" {
			t.Fatalf("basic with key: %d %v", st, body)
		}
		at, _ := body["access_token"].(string)
		// client_secret_post with the key, narrowing the scopes.
		st, body = token(url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ID}, "client_secret": {plain}, "scope": {"reports:read"}}, "", "")
		if st != http.StatusOK || body["scope"] != "reports:read" {
			t.Fatalf("post with key: %d %v", st, body)
		}
		// A scope of the client but not of the key.
		st, body = token(url.Values{"grant_type": {"client_credentials"}, "scope": {"admin:x"}}, c.ID, plain)
		if st != http.StatusBadRequest || body["error"] != "invalid_scope" {
			t.Fatalf("scope outside the key: %d %v", st, body)
		}
		// The client secret still works and still has all the client's scopes.
		if st, body := token(url.Values{"grant_type": {"client_credentials"}, "scope": {"admin:x"}}, c.ID, secretValue); st != http.StatusOK {
			t.Fatalf("client secret: %d %v", st, body)
		}
		secretToken := func() string {
			_, body := token(cc, c.ID, secretValue)
			v, _ := body["access_token"].(string)
			return v
		}()

		// Introspection: of the token (active, records nothing secret) and
		// of the key itself.
		if in := s.introspect(t, other.ID, otherSecret, at); in["active"] != true || in["client_id"] != c.ID {
			t.Fatalf("introspect key token: %v", in)
		}
		in := s.introspect(t, other.ID, otherSecret, plain)
		if in["active"] != true || in["token_type"] != "api_key" || in["client_id"] != c.ID || in["scope"] != "reports:read reports:write" || in["exp"] != nil {
			t.Fatalf("introspect key: %v", in)
		}

		// Every bad key: the same 401 invalid_client body.
		tampered := []byte(plain)
		tampered[len(apikey.Prefix)+30] ^= 1
		otherKey, otherPlain, err := a.CreateAPIKey(ctx, nil, admin.APIKeySpec{ClientID: other.ID, Name: "o"})
		if err != nil {
			t.Fatal(err)
		}
		_ = otherKey
		wrongSecret := plain[:len(apikey.Prefix)+apikey.IDLen] + strings.Repeat("A", apikey.SecretLen)
		var shapes []string
		for name, cred := range map[string][2]string{
			"malformed":    {c.ID, apikey.Prefix + "nope"},
			"bad checksum": {c.ID, string(tampered)},
			"unknown id":   {c.ID, mintUnknownKey(t)},
			"wrong secret": {c.ID, wrongSecret},
			"other client": {c.ID, otherPlain},
		} {
			st, body := token(cc, cred[0], cred[1])
			if st != http.StatusUnauthorized || body["error"] != "invalid_client" {
				t.Errorf("%s: %d %v", name, st, body)
			}
			shapes = append(shapes, body["error_description"].(string))
		}
		for _, d := range shapes[1:] {
			if d != shapes[0] {
				t.Errorf("responses differ: %q vs %q", d, shapes[0])
			}
		}
		// Keys are for client_credentials only.
		if st, body := token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"gth_rt_x.y"}}, c.ID, plain); st != http.StatusUnauthorized || body["error"] != "invalid_client" {
			t.Fatalf("key on refresh: %d %v", st, body)
		}
		// A key in a URL is refused.
		req, _ := http.NewRequest(http.MethodPost, s.issuer+provider.PathToken+"?client_secret="+url.QueryEscape(plain), strings.NewReader(cc.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if st, body, _ := doJSON(t, req); st != http.StatusBadRequest || body["error"] != "invalid_request" {
			t.Fatalf("key in the query: %d %v", st, body)
		}

		// Revocation: the key fails at once, its tokens go inactive, the
		// client secret's token survives.
		if err := a.RevokeAPIKey(ctx, nil, key.ID); err != nil {
			t.Fatal(err)
		}
		if st, body := token(cc, c.ID, plain); st != http.StatusUnauthorized || body["error"] != "invalid_client" {
			t.Fatalf("revoked key: %d %v", st, body)
		}
		if s.active(t, other.ID, otherSecret, at) {
			t.Fatal("token of a revoked key still active")
		}
		if !s.active(t, other.ID, otherSecret, secretToken) {
			t.Fatal("revoking a key revoked the client secret's token")
		}
		if in := s.introspect(t, other.ID, otherSecret, plain); in["active"] != false {
			t.Fatalf("introspect revoked key: %v", in)
		}

		// Expiry: tokens never outlive the key.
		short, shortPlain, err := a.CreateAPIKey(ctx, nil, admin.APIKeySpec{ClientID: c.ID, Name: "short", ExpiresIn: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		st, body = token(cc, c.ID, shortPlain)
		if st != http.StatusOK {
			t.Fatalf("short key: %d %v", st, body)
		}
		if exp, _ := body["expires_in"].(float64); exp > 2 {
			t.Fatalf("token outlives its key: expires_in %v", exp)
		}
		shortAT, _ := body["access_token"].(string)
		if in := s.introspect(t, other.ID, otherSecret, shortPlain); in["exp"] != float64(short.ExpiresAt.Unix()) {
			t.Fatalf("introspect expiring key: %v", in)
		}
		clock.Set(short.ExpiresAt.Add(100 * time.Millisecond))
		if st, _ := token(cc, c.ID, shortPlain); st != http.StatusUnauthorized {
			t.Fatalf("expired key: %d", st)
		}
		if s.active(t, other.ID, otherSecret, shortAT) {
			t.Fatal("token of an expired key still active")
		}
	})
}

// mintUnknownKey returns a well-formed key that was never stored.
func mintUnknownKey(t *testing.T) string {
	t.Helper()
	k, _, _, err := apikey.Mint()
	if err != nil {
		t.Fatal(err)
	}
	return k
}
