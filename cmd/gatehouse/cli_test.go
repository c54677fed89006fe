package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun/driver/sqliteshim"

	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
)

// cli runs one gatehouse command in-process and returns its output.
func cli(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	return cliAt(t, time.Now, stdin, args...)
}

// cliAt is cli with now as the commands' clock.
func cliAt(t *testing.T, now func() time.Time, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := newRootCommandOn(&globals{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut, now: now})
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// cliEnv points the CLI at a fresh SQLite file and a secret (not parallel:
// it sets process environment variables).
func cliEnv(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("GATEHOUSE_DSN", "sqlite://"+filepath.Join(dir, "g.db"))
	t.Setenv("GATEHOUSE_SECRET", "cli-test-secret-cli-test-secret-0123456789")
	t.Setenv("GATEHOUSE_LOG_LEVEL", "error")
	return dir
}

// cliJSON runs a command that prints one JSON value into v.
func cliJSON(t *testing.T, v any, stdin string, args ...string) {
	t.Helper()
	cliJSONAt(t, time.Now, v, stdin, args...)
}

// cliJSONAt is cliJSON with now as the commands' clock.
func cliJSONAt(t *testing.T, now func() time.Time, v any, stdin string, args ...string) {
	t.Helper()
	out, stderr, err := cliAt(t, now, stdin, args...)
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

func TestCLIClientsAndUsers(t *testing.T) {
	cliEnv(t)
	if _, _, err := cli(t, "", "clients", "list"); err == nil || !strings.Contains(err.Error(), "migrate") {
		t.Fatalf("list on an unmigrated database: %v", err)
	}
	out, _, err := cli(t, "", "migrate")
	if err != nil || !strings.Contains(out, "current") {
		t.Fatalf("migrate: %q %v", out, err)
	}
	if _, _, err := cli(t, "", "migrate"); err != nil {
		t.Fatalf("second migrate: %v", err)
	}

	out, _, err = cli(t, "", "clients", "create", "--name", "Web", "--redirect-uri", "https://app.example/cb",
		"--scope", "openid email", "--allowed-origin", "https://app.example", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var created map[string]interface{}
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatalf("clients create --json: %q: %v", out, err)
	}
	id, _ := created["client_id"].(string)
	sec, _ := created["client_secret"].(string)
	if id == "" || !secret.CheckOpaque(secret.PrefixClientSecret, sec) || created["scope"] != "openid email" ||
		created["token_endpoint_auth_method"] != "client_secret_basic" || created["client_secret_expires_at"] != float64(0) {
		t.Fatalf("created client: %v", created)
	}
	if _, ok := created["redirect_uris"].([]interface{}); !ok {
		t.Fatalf("redirect_uris missing: %v", created)
	}

	out, _, err = cli(t, "", "clients", "create", "--name", "SPA", "--public", "--redirect-uri", "http://127.0.0.1:3000/cb", "--json")
	if err != nil || strings.Contains(out, "client_secret\"") {
		t.Fatalf("public client: %q %v", out, err)
	}

	_, _, err = cli(t, "", "clients", "create", "--name", "Bad", "--redirect-uri", "http://evil.example/cb", "--grant-type", "password")
	var ue usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "non-loopback") || !strings.Contains(err.Error(), "password") {
		t.Fatalf("invalid client: %v", err)
	}

	out, _, err = cli(t, "", "clients", "list", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var list []map[string]interface{}
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 2 {
		t.Fatalf("list: %q %v", out, err)
	}
	if strings.Contains(out, "gth_cs_") {
		t.Fatal("list printed a secret")
	}
	if out, _, err := cli(t, "", "clients", "list"); err != nil || !strings.Contains(out, id) {
		t.Fatalf("table list: %q %v", out, err)
	}
	if _, _, err := cli(t, "", "clients", "delete", id); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cli(t, "", "clients", "delete", id); err == nil {
		t.Fatal("deleting a deleted client succeeded")
	}

	out, _, err = cli(t, "hunter2hunter2\n", "users", "create", "--email", "Eve@Example.com", "--password-stdin", "--role", "admin", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var u map[string]interface{}
	if err := json.Unmarshal([]byte(out), &u); err != nil || u["email"] != "eve@example.com" || strings.Contains(out, "hunter2") {
		t.Fatalf("users create: %q %v", out, err)
	}
	if _, _, err := cli(t, "another-password\n", "users", "create", "--email", "eve@example.com", "--password-stdin"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("duplicate user: %v", err)
	}
	if _, _, err := cli(t, "", "users", "create", "--email", "x@example.com"); !errors.As(err, &ue) {
		t.Fatalf("password not from stdin: %v", err)
	}
	if _, _, err := cli(t, "short\n", "users", "create", "--email", "x@example.com", "--password-stdin"); !errors.As(err, &ue) {
		t.Fatalf("short password: %v", err)
	}
}

func TestCLIConfigErrorsListEveryProblem(t *testing.T) {
	cliEnv(t)
	t.Setenv("GATEHOUSE_ISSUER", "http://id.example.com")
	t.Setenv("GATEHOUSE_SECRET", "too-short")
	t.Setenv("GATEHOUSE_LIFESPANS_AUTHORIZATION_CODE", "1h")
	_, _, err := cli(t, "", "serve")
	var ue usageError
	if !errors.As(err, &ue) {
		t.Fatalf("want a usage error, got %v", err)
	}
	for _, want := range []string{"issuer", "secret", "lifespans.authorization_code"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	t.Setenv("GATEHOUSE_LIFESPANS_AUTHORIZATION_CODE", "soon")
	if _, _, err := cli(t, "", "migrate"); !errors.As(err, &ue) || !strings.Contains(err.Error(), "GATEHOUSE_LIFESPANS_AUTHORIZATION_CODE") {
		t.Fatalf("bad env value: %v", err)
	}
}

func TestCLIServeRefusesStaleSchema(t *testing.T) {
	cliEnv(t)
	_, _, err := cli(t, "", "serve")
	if err == nil || !strings.Contains(err.Error(), "gatehouse migrate") {
		t.Fatalf("serve on an unmigrated database: %v", err)
	}
}

// TestCLIServeStartsOnNewerSchema: an instance of the old release that
// restarts while a newer one has already migrated the database starts
// (with a warning) instead of refusing, and so do the admin commands.
func TestCLIServeStartsOnNewerSchema(t *testing.T) {
	dir := cliEnv(t)
	t.Setenv("GATEHOUSE_LOG_LEVEL", "warn")
	if _, _, err := cli(t, "", "migrate"); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open(sqliteshim.ShimName, "file:"+filepath.Join(dir, "g.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("INSERT INTO bun_migrations (name, group_id, migrated_at) VALUES ('29991231000000', 99, ?)", time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GATEHOUSE_LISTEN", "127.0.0.1:0")
	t.Setenv("GATEHOUSE_ADMIN_LISTEN", "127.0.0.1:0")
	rs := startServe(t)
	if err := rs.stop(); err != nil {
		t.Fatalf("serve on a newer schema: %v", err)
	}
	if stderr := rs.stderr.String(); !strings.Contains(stderr, "schema is newer than this binary") {
		t.Errorf("no warning about the newer schema:\n%s", stderr)
	}
	if out, _, err := cli(t, "", "clients", "list"); err != nil {
		t.Fatalf("clients list on a newer schema: %q %v", out, err)
	}
	// A missing migration is still refused.
	if _, err := db.Exec("DELETE FROM bun_migrations WHERE name = '20261127000006'"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cli(t, "", "serve"); err == nil || !strings.Contains(err.Error(), "gatehouse migrate") {
		t.Fatalf("serve with a migration missing: %v", err)
	}
}

func TestCLIDevSecret(t *testing.T) {
	dir := cliEnv(t)
	t.Setenv("GATEHOUSE_SECRET", "")
	// clients list needs no secret: it gets as far as the (unmigrated) schema.
	if _, _, err := cli(t, "", "clients", "list"); err == nil || !strings.Contains(err.Error(), "migrate") {
		t.Fatalf("list without secret: %v", err)
	}
	if _, _, err := cli(t, "", "clients", "create", "--name", "x"); err == nil || !strings.Contains(err.Error(), "secret") {
		t.Fatalf("create without a secret must fail: %v", err)
	}
	_, stderr, err := cli(t, "", "--dev", "migrate")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "WARNING") {
		t.Fatalf("no warning about the generated secret: %q", stderr)
	}
	b, err := os.ReadFile(filepath.Join(dir, "secret"))
	if err != nil || len(strings.TrimSpace(string(b))) < secret.MinSecretLen {
		t.Fatalf("dev secret: %q %v", b, err)
	}
	if info, _ := os.Stat(filepath.Join(dir, "secret")); info.Mode().Perm() != 0o600 {
		t.Fatalf("dev secret mode %v", info.Mode().Perm())
	}
	out, stderr, err := cli(t, "", "--dev", "clients", "create", "--name", "x", "--json")
	if err != nil || strings.Contains(stderr, "WARNING") || !strings.Contains(out, "gth_cs_") {
		t.Fatalf("second --dev command must reuse the secret quietly: %q %q %v", out, stderr, err)
	}
}
