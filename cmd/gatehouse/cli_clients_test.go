package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	josev3 "github.com/go-jose/go-jose/v3"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
)

func TestCLIClientsGetUpdateRotate(t *testing.T) {
	cliEnv(t)
	if _, _, err := cli(t, "", "migrate"); err != nil {
		t.Fatal(err)
	}
	var created map[string]interface{}
	cliJSON(t, &created, "", "clients", "create", "--name", "Web", "--redirect-uri", "https://app.example/cb", "--scope", "openid email",
		"--logo-uri", "https://app.example/logo.png", "--contact", "ops@app.example", "--require-par", "--json")
	id := created["client_id"].(string)
	firstSecret := created["client_secret"].(string)
	if created["logo_uri"] != "https://app.example/logo.png" || created["require_pushed_authorization_requests"] != true ||
		created["registered_by"] != admin.RegisteredByAdmin {
		t.Fatalf("created: %v", created)
	}

	// get
	var got map[string]interface{}
	cliJSON(t, &got, "", "clients", "get", id, "--json")
	if got["client_id"] != id || got["client_secret"] != nil || got["scope"] != "openid email" {
		t.Fatalf("get --json: %v", got)
	}
	out, _, err := cli(t, "", "clients", "get", id)
	if err != nil || !strings.Contains(out, "client_name:") || !strings.Contains(out, "Web") || strings.Contains(out, "gth_cs_") || strings.Contains(out, "hs256:") {
		t.Fatalf("get: %q %v", out, err)
	}
	if _, _, err := cli(t, "", "clients", "get", "no-such-client"); err == nil || !strings.Contains(err.Error(), "no client") {
		t.Fatalf("get unknown: %v", err)
	}

	// update: only the flags given change.
	var updated map[string]interface{}
	cliJSON(t, &updated, "", "clients", "update", id, "--name", "Web 2", "--redirect-uri", "https://app.example/cb2", "--redirect-uri", "https://app.example/cb3", "--json")
	if updated["client_name"] != "Web 2" || len(updated["redirect_uris"].([]interface{})) != 2 || updated["scope"] != "openid email" ||
		updated["logo_uri"] != "https://app.example/logo.png" || updated["client_id"] != id || updated["client_secret"] != nil {
		t.Fatalf("update: %v", updated)
	}
	if out, _, err := cli(t, "", "clients", "update", id, "--logo-uri", ""); err != nil || !strings.Contains(out, "updated client") {
		t.Fatalf("clear logo: %q %v", out, err)
	}
	cliJSON(t, &got, "", "clients", "get", id, "--json")
	if got["logo_uri"] != nil || got["client_name"] != "Web 2" {
		t.Fatalf("after clearing the logo: %v", got)
	}
	var ue usageError
	if _, _, err := cli(t, "", "clients", "update", id); !errors.As(err, &ue) {
		t.Fatalf("update without flags: %v", err)
	}
	if _, _, err := cli(t, "", "clients", "update", id, "--redirect-uri", "http://evil.example/cb", "--tos-uri", "http://x.example"); !errors.As(err, &ue) ||
		!strings.Contains(err.Error(), "redirect_uris") || !strings.Contains(err.Error(), "tos_uri") {
		t.Fatalf("invalid update: %v", err)
	}
	if _, _, err := cli(t, "", "clients", "update", id, "--public"); err == nil || !strings.Contains(err.Error(), "public") {
		t.Fatalf("to public: %v", err)
	}
	if _, _, err := cli(t, "", "clients", "update", "no-such-client", "--name", "x"); err == nil || !strings.Contains(err.Error(), "no client") {
		t.Fatalf("update unknown: %v", err)
	}

	// Token exchange policy: the grant, impersonation and subject types;
	// get shows them, update changes them.
	var svc admin.ClientView
	cliJSON(t, &svc, "", "clients", "create", "--name", "Service", "--grant-type", "client_credentials",
		"--grant-type", provider.GrantTokenExchange, "--token-exchange-subject-type", provider.TokenTypeIDToken, "--json")
	if !slices.Contains(svc.GrantTypes, provider.GrantTokenExchange) || svc.TokenExchangeImpersonation ||
		!slices.Equal(svc.TokenExchangeSubjectTypes, []string{provider.TokenTypeIDToken}) {
		t.Fatalf("token exchange client: %+v", svc)
	}
	cliJSON(t, &svc, "", "clients", "update", svc.ClientID, "--token-exchange-impersonation", "--json")
	if !svc.TokenExchangeImpersonation || !slices.Equal(svc.TokenExchangeSubjectTypes, []string{provider.TokenTypeIDToken}) {
		t.Fatalf("after allowing impersonation: %+v", svc)
	}
	if out, _, err := cli(t, "", "clients", "get", svc.ClientID); err != nil || !strings.Contains(out, "token_exchange_impersonation") {
		t.Fatalf("get: %q %v", out, err)
	}
	if _, _, err := cli(t, "", "clients", "create", "--name", "Machine", "--token-exchange-impersonation"); !errors.As(err, &ue) ||
		!strings.Contains(err.Error(), "token_exchange_impersonation") {
		t.Fatalf("impersonation without the grant: %v", err)
	}

	// rotate-secret: the new secret verifies, the old one does not.
	var rotated map[string]interface{}
	cliJSON(t, &rotated, "", "clients", "rotate-secret", id, "--json")
	newSecret, _ := rotated["client_secret"].(string)
	if !secret.CheckOpaque(secret.PrefixClientSecret, newSecret) || newSecret == firstSecret {
		t.Fatalf("rotate-secret: %v", rotated)
	}
	st, ring := cliStore(t)
	c, err := st.ClientByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	h := secret.NewHasher(ring)
	if h.Compare(context.Background(), []byte(c.SecretHash), []byte(newSecret)) != nil || h.Compare(context.Background(), []byte(c.SecretHash), []byte(firstSecret)) == nil {
		t.Fatal("after rotate-secret the new secret must verify and the old one must not")
	}
	if out, _, err := cli(t, "", "clients", "rotate-secret", id); err != nil || !strings.Contains(out, "gth_cs_") {
		t.Fatalf("rotate-secret text: %q %v", out, err)
	}
	var spa map[string]interface{}
	cliJSON(t, &spa, "", "clients", "create", "--name", "SPA", "--public", "--redirect-uri", "http://127.0.0.1:3000/cb", "--json")
	if _, _, err := cli(t, "", "clients", "rotate-secret", spa["client_id"].(string)); err == nil || !strings.Contains(err.Error(), "public") {
		t.Fatalf("rotate a public client: %v", err)
	}

	// private_key_jwt with keys from a file; then moved to a jwks_uri.
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(keyFile, []byte(testECJWKS(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	var keyed map[string]interface{}
	cliJSON(t, &keyed, "", "clients", "create", "--name", "Keys", "--token-endpoint-auth-method", "private_key_jwt", "--jwks", "@"+keyFile, "--json")
	if keyed["client_secret"] != nil || keyed["jwks"] == nil || keyed["token_endpoint_auth_signing_alg"] != "ES256" {
		t.Fatalf("private_key_jwt client: %v", keyed)
	}
	// Request objects pinned to ES256, which the key signs; RS256 it
	// cannot, and HMAC is never accepted.
	cliJSON(t, &keyed, "", "clients", "update", keyed["client_id"].(string), "--request-object-signing-alg", "ES256", "--json")
	if keyed["request_object_signing_alg"] != "ES256" {
		t.Fatalf("request_object_signing_alg: %v", keyed)
	}
	for _, alg := range []string{"RS256", "HS256", "none"} {
		if _, _, err := cli(t, "", "clients", "update", keyed["client_id"].(string), "--request-object-signing-alg", alg); err == nil || !strings.Contains(err.Error(), "request_object_signing_alg") {
			t.Fatalf("--request-object-signing-alg %s: %v", alg, err)
		}
	}
	cliJSON(t, &keyed, "", "clients", "update", keyed["client_id"].(string), "--jwks-uri", "https://keys.example/jwks.json", "--json")
	if keyed["jwks"] != nil || keyed["jwks_uri"] != "https://keys.example/jwks.json" {
		t.Fatalf("moved to jwks_uri: %v", keyed)
	}
}

// testECJWKS is a JWK Set with one public P-256 key.
func testECJWKS(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(josev3.JSONWebKeySet{Keys: []josev3.JSONWebKey{{Key: &k.PublicKey, KeyID: "cli-1", Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
