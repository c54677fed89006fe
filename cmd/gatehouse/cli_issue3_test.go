package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	josev3 "github.com/go-jose/go-jose/v3"

	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
)

// cli3 is cli for the issue 3 commands: it also works before main.go adds
// the registration-tokens command to the root.
func cli3(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCommand(strings.NewReader(stdin), &out, &errOut)
	found := false
	for _, c := range root.Commands() {
		found = found || c.Name() == "registration-tokens"
	}
	if !found {
		root.AddCommand(newRegistrationTokensCommand(&globals{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut}))
	}
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// cliJSON runs a command that prints one JSON value into v.
func cliJSON(t *testing.T, v any, stdin string, args ...string) {
	t.Helper()
	out, stderr, err := cli3(t, stdin, args...)
	if err != nil {
		t.Fatalf("%v: %v\n%s", args, err, stderr)
	}
	// A fresh value each time: Unmarshal into a used map keeps old keys.
	switch p := v.(type) {
	case *map[string]interface{}:
		*p = nil
	case *[]map[string]interface{}:
		*p = nil
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("%v: not JSON: %q", args, out)
	}
}

// cliStore opens the database the CLI environment points at, with the
// keyring of its secret.
func cliStore(t *testing.T) (*bunstore.Store, *secret.Keyring) {
	t.Helper()
	st, err := bunstore.Open(context.Background(), os.Getenv("GATEHOUSE_DSN"), bunstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ring, err := secret.NewKeyring(os.Getenv("GATEHOUSE_SECRET"), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The same hash key the server and the CLI use.
	if ring, err = withPepper(context.Background(), st, ring); err != nil {
		t.Fatal(err)
	}
	return st, ring
}

func TestCLIClientsGetUpdateRotate(t *testing.T) {
	cliEnv(t)
	if _, _, err := cli3(t, "", "migrate"); err != nil {
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
	out, _, err := cli3(t, "", "clients", "get", id)
	if err != nil || !strings.Contains(out, "client_name:") || !strings.Contains(out, "Web") || strings.Contains(out, "gth_cs_") || strings.Contains(out, "hs256:") {
		t.Fatalf("get: %q %v", out, err)
	}
	if _, _, err := cli3(t, "", "clients", "get", "no-such-client"); err == nil || !strings.Contains(err.Error(), "no client") {
		t.Fatalf("get unknown: %v", err)
	}

	// update: only the flags given change.
	var updated map[string]interface{}
	cliJSON(t, &updated, "", "clients", "update", id, "--name", "Web 2", "--redirect-uri", "https://app.example/cb2", "--redirect-uri", "https://app.example/cb3", "--json")
	if updated["client_name"] != "Web 2" || len(updated["redirect_uris"].([]interface{})) != 2 || updated["scope"] != "openid email" ||
		updated["logo_uri"] != "https://app.example/logo.png" || updated["client_id"] != id || updated["client_secret"] != nil {
		t.Fatalf("update: %v", updated)
	}
	if out, _, err := cli3(t, "", "clients", "update", id, "--logo-uri", ""); err != nil || !strings.Contains(out, "updated client") {
		t.Fatalf("clear logo: %q %v", out, err)
	}
	cliJSON(t, &got, "", "clients", "get", id, "--json")
	if got["logo_uri"] != nil || got["client_name"] != "Web 2" {
		t.Fatalf("after clearing the logo: %v", got)
	}
	var ue usageError
	if _, _, err := cli3(t, "", "clients", "update", id); !errors.As(err, &ue) {
		t.Fatalf("update without flags: %v", err)
	}
	if _, _, err := cli3(t, "", "clients", "update", id, "--redirect-uri", "http://evil.example/cb", "--tos-uri", "http://x.example"); !errors.As(err, &ue) ||
		!strings.Contains(err.Error(), "redirect_uris") || !strings.Contains(err.Error(), "tos_uri") {
		t.Fatalf("invalid update: %v", err)
	}
	if _, _, err := cli3(t, "", "clients", "update", id, "--public"); err == nil || !strings.Contains(err.Error(), "public") {
		t.Fatalf("to public: %v", err)
	}
	if _, _, err := cli3(t, "", "clients", "update", "no-such-client", "--name", "x"); err == nil || !strings.Contains(err.Error(), "no client") {
		t.Fatalf("update unknown: %v", err)
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
	if out, _, err := cli3(t, "", "clients", "rotate-secret", id); err != nil || !strings.Contains(out, "gth_cs_") {
		t.Fatalf("rotate-secret text: %q %v", out, err)
	}
	var spa map[string]interface{}
	cliJSON(t, &spa, "", "clients", "create", "--name", "SPA", "--public", "--redirect-uri", "http://127.0.0.1:3000/cb", "--json")
	if _, _, err := cli3(t, "", "clients", "rotate-secret", spa["client_id"].(string)); err == nil || !strings.Contains(err.Error(), "public") {
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
	cliJSON(t, &keyed, "", "clients", "update", keyed["client_id"].(string), "--jwks-uri", "https://keys.example/jwks.json", "--json")
	if keyed["jwks"] != nil || keyed["jwks_uri"] != "https://keys.example/jwks.json" {
		t.Fatalf("moved to jwks_uri: %v", keyed)
	}
}

func TestCLIUsersListDisable(t *testing.T) {
	cliEnv(t)
	if _, _, err := cli3(t, "", "migrate"); err != nil {
		t.Fatal(err)
	}
	var gina, hal map[string]interface{}
	cliJSON(t, &gina, "gina's password\n", "users", "create", "--email", "gina@example.com", "--password-stdin", "--role", "admin", "--email-verified", "--json")
	cliJSON(t, &hal, "hal's password!\n", "users", "create", "--email", "hal@example.com", "--password-stdin", "--name", "Hal", "--json")
	if gina["email_verified"] != true || gina["disabled"] != false {
		t.Fatalf("created: %v", gina)
	}

	var list []map[string]interface{}
	cliJSON(t, &list, "", "users", "list", "--json")
	if len(list) != 2 || list[0]["email"] != "gina@example.com" || list[1]["name"] != "Hal" {
		t.Fatalf("list: %v", list)
	}
	out, _, err := cli3(t, "", "users", "list")
	if err != nil || !strings.Contains(out, "hal@example.com") || strings.Contains(out, "argon2") {
		t.Fatalf("list table: %q %v", out, err)
	}
	if out, _, _ := cli3(t, "", "users", "list", "--json"); strings.Contains(out, "argon2") || strings.Contains(out, "password") && !strings.Contains(out, "has_password") {
		t.Fatalf("list shows password material: %s", out)
	}

	// disable by e-mail signs Hal out; enable by id.
	st, _ := cliStore(t)
	ctx := context.Background()
	halID := hal["id"].(string)
	sess := &storage.LoginSession{ID: secret.HashHandle("cli-test-session"), UserID: halID, AuthTime: time.Now(), ExpiresAt: time.Now().Add(time.Hour), CreatedAt: time.Now()}
	if err := st.CreateLoginSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if out, _, err := cli3(t, "", "users", "disable", "HAL@example.com"); err != nil || !strings.Contains(out, "disabled user hal@example.com") {
		t.Fatalf("disable: %q %v", out, err)
	}
	if _, err := st.LoginSession(ctx, sess.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("still signed in after disable: %v", err)
	}
	if u, _ := st.UserByID(ctx, halID); !u.Disabled {
		t.Fatal("not disabled")
	}
	cliJSON(t, &list, "", "users", "list", "--json")
	if list[1]["disabled"] != true {
		t.Fatalf("list after disable: %v", list)
	}
	if out, _, err := cli3(t, "", "users", "enable", halID); err != nil || !strings.Contains(out, "enabled") {
		t.Fatalf("enable: %q %v", out, err)
	}
	if u, _ := st.UserByID(ctx, halID); u.Disabled {
		t.Fatal("still disabled")
	}
	for _, ref := range []string{"nobody@example.com", "no-such-id"} {
		if _, _, err := cli3(t, "", "users", "disable", ref); err == nil || !strings.Contains(err.Error(), "no user") {
			t.Fatalf("disable %s: %v", ref, err)
		}
	}
}

func TestCLIRegistrationTokens(t *testing.T) {
	cliEnv(t)
	if _, _, err := cli3(t, "", "migrate"); err != nil {
		t.Fatal(err)
	}
	var tok map[string]interface{}
	before := time.Now()
	cliJSON(t, &tok, "", "registration-tokens", "create", "--name", "partners", "--json")
	plain, _ := tok["token"].(string)
	if !secret.CheckOpaque(admin.PrefixRegistrationToken, plain) || tok["state"] != "active" || tok["name"] != "partners" {
		t.Fatalf("create: %v", tok)
	}
	exp, err := time.Parse(time.RFC3339Nano, tok["expires_at"].(string))
	if err != nil || exp.Before(before.Add(719*time.Hour)) || exp.After(time.Now().Add(721*time.Hour)) {
		t.Fatalf("default expiry %v: %v", tok["expires_at"], err)
	}
	var forever map[string]interface{}
	cliJSON(t, &forever, "", "registration-tokens", "create", "--name", "forever", "--expires-in", "0", "--json")
	if forever["expires_at"] != nil {
		t.Fatalf("--expires-in 0: %v", forever)
	}
	out, _, err := cli3(t, "", "registration-tokens", "create", "--name", "text", "--expires-in", "1h")
	if err != nil || !strings.Contains(out, "gth_it_") || !strings.Contains(out, "shown only now") {
		t.Fatalf("create (text): %q %v", out, err)
	}

	// The token is stored only as its keyed hash, and is found by it.
	st, ring := cliStore(t)
	found, err := admin.FindRegistrationToken(context.Background(), st, ring, plain)
	if err != nil || found.ID != tok["id"] || strings.Contains(found.Hash, plain) {
		t.Fatalf("stored token: %+v %v", found, err)
	}

	var list []map[string]interface{}
	cliJSON(t, &list, "", "registration-tokens", "list", "--json")
	if len(list) != 3 || list[0]["name"] != "partners" {
		t.Fatalf("list: %v", list)
	}
	if out, _, _ := cli3(t, "", "registration-tokens", "list", "--json"); strings.Contains(out, "gth_it_") || strings.Contains(out, "hs256") {
		t.Fatalf("list shows token material: %s", out)
	}
	if out, _, err := cli3(t, "", "registration-tokens", "revoke", tok["id"].(string)); err != nil || !strings.Contains(out, "revoked") {
		t.Fatalf("revoke: %q %v", out, err)
	}
	cliJSON(t, &list, "", "registration-tokens", "list", "--json")
	if list[0]["state"] != "revoked" || list[0]["revoked_at"] == nil || list[1]["state"] != "active" {
		t.Fatalf("after revoke: %v", list)
	}
	if out, _, err := cli3(t, "", "registration-tokens", "list"); err != nil || !strings.Contains(out, "revoked") || !strings.Contains(out, "never") {
		t.Fatalf("list (table): %q %v", out, err)
	}
	if _, _, err := cli3(t, "", "registration-tokens", "revoke", "no-such-token"); err == nil || !strings.Contains(err.Error(), "no registration token") {
		t.Fatalf("revoke unknown: %v", err)
	}
	var ue usageError
	if _, _, err := cli3(t, "", "registration-tokens", "create"); err == nil {
		t.Fatal("create without --name")
	}
	if _, _, err := cli3(t, "", "registration-tokens", "create", "--name", "x", "--expires-in", "-1h"); !errors.As(err, &ue) {
		t.Fatalf("negative lifetime: %v", err)
	}
	t.Setenv("GATEHOUSE_SECRET", "")
	if _, _, err := cli3(t, "", "registration-tokens", "create", "--name", "x"); !errors.As(err, &ue) {
		t.Fatalf("create without a system secret: %v", err)
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
