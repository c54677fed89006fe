package main

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

// TestSecretRotation: GATEHOUSE_SECRET is replaced with the old one listed;
// nobody is logged out and nothing breaks; after `keys reencrypt` the old
// secret can go, and client secrets and API keys still work.
func TestSecretRotation(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		dsn := bunstoretest.NewDSN(t, dialect)
		store, err := bunstore.Open(ctx, dsn, bunstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		if err := store.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		secretA := "rotation-secret-A-0123456789abcdef0123456789"
		secretB := "rotation-secret-B-0123456789abcdef0123456789"
		withSecret := func(cur string, old ...string) func(*config.Config) {
			return func(c *config.Config) { c.Secret, c.OldSecrets = cur, old }
		}

		s1 := startServerOn(t, store, withSecret(secretA))
		s1.user("rot@example.com", alicePassword)
		web, webSecret := s1.client(admin.ClientSpec{Name: "web", RedirectURIs: []string{appRedirect}, SkipConsent: true})
		m2m, m2mSecret := s1.client(admin.ClientSpec{Name: "jobs", Scopes: []string{"api"}})
		_, apiKey, err := s1.app.admin.CreateAPIKey(ctx, nil, admin.APIKeySpec{ClientID: m2m.ID, Name: "k"})
		if err != nil {
			t.Fatal(err)
		}
		conf := s1.oauthConfig(web, webSecret, "openid", "offline_access")
		b := s1.newBrowser()
		verifier, challenge := pkce()
		cb := b.authorizeAndLogin(conf.AuthCodeURL(randomString(t, 16), challenge), "rot@example.com", alicePassword)
		tok, err := conf.Exchange(ctx, cb.Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		s1.stop()

		// works checks that everything made under secret A still works on s.
		works := func(s *testServer, label string) {
			t.Helper()
			// The browser is still signed in: prompt=none gives a code.
			conf := s.oauthConfig(web, webSecret, "openid", "offline_access")
			_, ch := pkce()
			if cb := b.get(conf.AuthCodeURL(randomString(t, 16), ch, oauth2.SetAuthURLParam("prompt", "none"))).callback(t); cb.Get("code") == "" {
				t.Fatalf("%s: the browser was logged out: %v", label, cb)
			}
			for name, sec := range map[string]string{"client secret": m2mSecret, "API key": apiKey} {
				if st, body, _ := postForm(t, s.issuer+provider.PathToken, url.Values{"grant_type": {"client_credentials"}}, m2m.ID, sec); st != http.StatusOK {
					t.Fatalf("%s: %s refused: %d %v", label, name, st, body)
				}
			}
			if _, err := http.Get(s.issuer + provider.PathJWKS); err != nil {
				t.Fatal(err)
			}
		}

		// New secret, old one listed: tokens made under A keep working.
		s2 := startServerOn(t, store, withSecret(secretB, secretA))
		works(s2, "with the old secret listed")
		conf2 := s2.oauthConfig(web, webSecret, "openid", "offline_access")
		next, err := conf2.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if err != nil {
			t.Fatalf("refresh token made under the old secret: %v", err)
		}
		if !s2.active(t, web.ID, webSecret, tok.AccessToken) {
			t.Fatal("access token made under the old secret is inactive")
		}
		s2.stop()

		// Re-encrypt under B, then drop A.
		t.Setenv("GATEHOUSE_DSN", dsn)
		t.Setenv("GATEHOUSE_SECRET", secretB)
		t.Setenv("GATEHOUSE_OLD_SECRETS", secretA)
		t.Setenv("GATEHOUSE_LOG_LEVEL", "error")
		if out, _, err := cli(t, "", "keys", "reencrypt"); err != nil {
			t.Fatalf("keys reencrypt: %v (%s)", err, out)
		}
		s3 := startServerOn(t, store, withSecret(secretB))
		works(s3, "after re-encryption, old secret dropped")
		// Tokens made under B (the refreshed pair) keep working too.
		if !s3.active(t, web.ID, webSecret, next.AccessToken) {
			t.Fatal("a token made under the new secret is inactive")
		}
		// Opaque tokens made under A stop now: they were meant to expire
		// before A was dropped (README: keep the old secret listed for the
		// longest token lifetime).
		if s3.active(t, web.ID, webSecret, tok.AccessToken) {
			t.Fatal("a token made under the dropped secret is still active")
		}
	})
}

// TestHashesFromBeforeThePepper: a database from before the hash key (the
// sealed system key "hash-pepper", see withPepper) holds client secrets
// hashed under the system secret itself. They keep working after the
// upgrade (while that secret is configured); new ones use the hash key.
func TestHashesFromBeforeThePepper(t *testing.T) {
	t.Parallel()
	store := bunstoretest.Open(t, "sqlite", bunstore.Options{})
	const sec = "pre-pepper-secret-0123456789abcdef0123456789"
	plain, err := secret.NewKeyring(sec, nil)
	if err != nil {
		t.Fatal(err)
	}
	old, oldSecret, err := admin.BuildClient(admin.ClientSpec{Name: "old", Scopes: []string{"api"}}, secret.NewHasher(plain), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateClient(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	s := startServerOn(t, store, func(c *config.Config) { c.Secret = sec })
	if st, body, _ := postForm(t, s.issuer+provider.PathToken, url.Values{"grant_type": {"client_credentials"}}, old.ID, oldSecret); st != http.StatusOK {
		t.Fatalf("a client secret hashed before the upgrade: %d %v", st, body)
	}
	fresh, freshSecret := s.client(admin.ClientSpec{Name: "new", Scopes: []string{"api"}})
	if fresh.SecretHash == secret.NewHasher(plain).HashString(freshSecret) {
		t.Fatal("a new client secret is hashed under the system secret, not the hash key")
	}
	if st, body, _ := postForm(t, s.issuer+provider.PathToken, url.Values{"grant_type": {"client_credentials"}}, old.ID, "gth_cs_wrong"); st != http.StatusUnauthorized {
		t.Fatalf("a wrong secret: %d %v", st, body)
	}
}
