package apikey_test

// Verification against a real database (SQLite always, PostgreSQL when
// GATEHOUSE_TEST_POSTGRES_DSN is set).

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"

	"github.com/gatehouse-dev/gatehouse/internal/clocktest"
	"github.com/gatehouse-dev/gatehouse/provider/apikey"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

// countingStore counts key lookups that reach the database.
type countingStore struct {
	*bunstore.Store
	lookups atomic.Int64
}

func (s *countingStore) APIKey(ctx context.Context, id string) (*storage.APIKey, error) {
	s.lookups.Add(1)
	return s.Store.APIKey(ctx, id)
}

type dbFixture struct {
	t     testing.TB
	ctx   context.Context
	store *countingStore
	clock *clocktest.Clock
}

func newDBFixture(t testing.TB, dialect string) *dbFixture {
	t.Helper()
	c := clocktest.New(testStart)
	s := bunstoretest.Open(t, dialect, bunstore.Options{Now: c.Now})
	fx := &dbFixture{t: t, ctx: context.Background(), store: &countingStore{Store: s}, clock: c}
	for _, id := range []string{"svc", "other"} {
		err := s.CreateClient(fx.ctx, &storage.Client{
			ID: id, Name: id, SecretHash: "hs256:unused", GrantTypes: []string{"client_credentials"},
			Scopes: []string{"read", "write"}, TokenEndpointAuthMethod: "client_secret_basic",
		})
		if err != nil {
			t.Fatalf("CreateClient %s: %v", id, err)
		}
	}
	return fx
}

func (fx *dbFixture) verifier(ring *secret.Keyring, o apikey.Options) *apikey.Verifier {
	o.Store, o.Keyring, o.Now = fx.store, ring, fx.clock.Now
	return apikey.NewVerifier(o)
}

// createKey mints a key of client "svc", hashed by v, and stores it.
func (fx *dbFixture) createKey(v *apikey.Verifier, edit func(k *storage.APIKey)) (key, id string) {
	fx.t.Helper()
	key, id, secretPart, err := apikey.Mint()
	if err != nil {
		fx.t.Fatal(err)
	}
	k := &storage.APIKey{
		ID: id, ClientID: "svc", Name: "ci", Scopes: []string{"read"},
		SecretHash: v.Hash(secretPart), CreatedBy: "operator", CreatedAt: fx.clock.Now(),
	}
	if edit != nil {
		edit(k)
	}
	if err := fx.store.CreateAPIKey(fx.ctx, k); err != nil {
		fx.t.Fatalf("CreateAPIKey: %v", err)
	}
	return key, id
}

func wantReason(t *testing.T, err error, reason string) {
	t.Helper()
	var f *apikey.Failure
	if !errors.As(err, &f) || !errors.Is(err, apikey.ErrInvalid) || f.Reason != reason {
		t.Fatalf("error %v, want a failure %q", err, reason)
	}
}

func TestVerifyWithStore(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		fx := newDBFixture(t, dialect)
		v := fx.verifier(keyring(t, secretA), apikey.Options{CacheTTL: -1})
		compares := apikey.CountCompares(v)
		good, goodID := fx.createKey(v, nil)
		expiring, _ := fx.createKey(v, func(k *storage.APIKey) { k.ExpiresAt = fx.clock.Now().Add(time.Hour) })
		revoked, revokedID := fx.createKey(v, nil)
		if err := fx.store.RevokeAPIKey(fx.ctx, revokedID, fx.clock.Now()); err != nil {
			t.Fatal(err)
		}
		unknown, _, _ := mint(t)

		k, err := v.Verify(fx.ctx, "svc", good)
		if err != nil || k.ID != goodID || k.ClientID != "svc" || k.Name != "ci" || k.Scopes[0] != "read" {
			t.Fatalf("good key: %+v, %v", k, err)
		}
		if _, err := v.Verify(fx.ctx, "", good); err != nil {
			t.Fatalf("good key, any client: %v", err)
		}
		if _, err := v.Verify(fx.ctx, "svc", expiring); err != nil {
			t.Fatalf("key before expiry: %v", err)
		}
		_, err = v.Verify(fx.ctx, "svc", unknown)
		wantReason(t, err, apikey.ReasonUnknown)
		_, err = v.Verify(fx.ctx, "svc", withSecret(good, strings.Repeat("x", 43)))
		wantReason(t, err, apikey.ReasonWrongSecret)
		_, err = v.Verify(fx.ctx, "other", good)
		wantReason(t, err, apikey.ReasonOtherClient)
		_, err = v.Verify(fx.ctx, "svc", revoked)
		wantReason(t, err, apikey.ReasonRevoked)
		_, err = v.Verify(fx.ctx, "svc", good[:77]+"!")
		wantReason(t, err, apikey.ReasonMalformed)
		fx.clock.Advance(time.Hour)
		_, err = v.Verify(fx.ctx, "svc", expiring)
		wantReason(t, err, apikey.ReasonExpired)

		// One comparison per verification that got past parsing.
		if n := compares.Load(); n != 8 {
			t.Fatalf("%d hash comparisons for 8 parsed keys", n)
		}
	})
}

func TestInvalidateWithStore(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		fx := newDBFixture(t, dialect)
		v := fx.verifier(keyring(t, secretA), apikey.Options{CacheTTL: 10 * time.Second})
		key, id := fx.createKey(v, nil)
		for range 3 {
			if _, err := v.Verify(fx.ctx, "svc", key); err != nil {
				t.Fatal(err)
			}
		}
		if n := fx.store.lookups.Load(); n != 1 {
			t.Fatalf("%d lookups for three uses, want 1 (cached)", n)
		}

		// Revoked in the database by another instance: this one still
		// serves its cached row until the TTL ends ...
		if err := fx.store.RevokeAPIKey(fx.ctx, id, fx.clock.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(fx.ctx, "svc", key); err != nil {
			t.Fatalf("cached row not used: %v", err)
		}
		fx.clock.Advance(10 * time.Second)
		_, err := v.Verify(fx.ctx, "svc", key)
		wantReason(t, err, apikey.ReasonRevoked)

		// ... while Invalidate (after a revocation by this instance)
		// takes effect at once.
		key2, id2 := fx.createKey(v, nil)
		if _, err := v.Verify(fx.ctx, "svc", key2); err != nil {
			t.Fatal(err)
		}
		if err := fx.store.RevokeAPIKey(fx.ctx, id2, fx.clock.Now()); err != nil {
			t.Fatal(err)
		}
		v.Invalidate(id2)
		_, err = v.Verify(fx.ctx, "svc", key2)
		wantReason(t, err, apikey.ReasonRevoked)
	})
}

func TestVerifyAfterSecretRotationWithStore(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		fx := newDBFixture(t, dialect)
		before := fx.verifier(keyring(t, secretA), apikey.Options{CacheTTL: -1})
		oldKey, _ := fx.createKey(before, nil)

		// GATEHOUSE_SECRET rotated, the old one listed as old: keys
		// hashed before still work, new ones hash under the new secret.
		after := fx.verifier(keyring(t, secretB, secretA), apikey.Options{CacheTTL: -1})
		if _, err := after.Verify(fx.ctx, "svc", oldKey); err != nil {
			t.Fatalf("key hashed under the old secret refused: %v", err)
		}
		newKey, _ := fx.createKey(after, nil)
		if _, err := after.Verify(fx.ctx, "svc", newKey); err != nil {
			t.Fatalf("new key refused: %v", err)
		}
		_, err := before.Verify(fx.ctx, "svc", newKey)
		wantReason(t, err, apikey.ReasonWrongSecret)

		// Once the old secret is dropped, its keys stop working.
		dropped := fx.verifier(keyring(t, secretB), apikey.Options{CacheTTL: -1})
		_, err = dropped.Verify(fx.ctx, "svc", oldKey)
		wantReason(t, err, apikey.ReasonWrongSecret)
	})
}

func TestRunRecordsLastUseWithStore(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		fx := newDBFixture(t, dialect)
		v := fx.verifier(keyring(t, secretA), apikey.Options{TouchInterval: time.Minute})
		apikey.SetTick(v, 5*time.Millisecond)
		key, id := fx.createKey(v, nil)
		ctx, cancel := context.WithCancel(fx.ctx)
		done := make(chan struct{})
		go func() { v.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()

		lastUsed := func() time.Time {
			k, err := fx.store.APIKey(fx.ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return k.LastUsedAt
		}
		if !lastUsed().IsZero() {
			t.Fatal("LastUsedAt set before any use")
		}
		t0 := fx.clock.Now()
		if _, err := v.Verify(fx.ctx, "svc", key); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool { return lastUsed().Equal(t0) })

		// A later use inside the interval is written on the first tick
		// after it.
		fx.clock.Advance(20 * time.Second)
		if _, err := v.Verify(fx.ctx, "svc", key); err != nil {
			t.Fatal(err)
		}
		fx.clock.Advance(41 * time.Second)
		waitFor(t, func() bool { return lastUsed().Equal(t0.Add(20 * time.Second)) })
	})
}

// Two verifiers on one database stand for two instances: a key revoked
// through one is refused by the other at its next revocation check, well
// before the cache TTL, and the tokens the other minted meanwhile are
// deleted at the check after.
func TestRevocationsByOtherInstancesWithStore(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		fx := newDBFixture(t, dialect)
		ring := keyring(t, secretA)
		a := fx.verifier(ring, apikey.Options{CacheTTL: time.Hour})
		b := fx.verifier(ring, apikey.Options{CacheTTL: time.Hour})
		key, id := fx.createKey(a, nil)
		other, _ := fx.createKey(a, nil)
		for _, v := range []*apikey.Verifier{a, b} {
			for _, k := range []string{key, other} {
				if _, err := v.Verify(fx.ctx, "svc", k); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := a.CheckRevocations(fx.ctx); err != nil {
			t.Fatal(err)
		}

		// Revoked through b; a still holds the row in its cache and
		// mints a token with it (it cannot know yet).
		fx.clock.Advance(time.Second)
		if err := fx.store.RevokeAPIKey(fx.ctx, id, fx.clock.Now()); err != nil {
			t.Fatal(err)
		}
		b.Invalidate(id)
		if _, err := a.Verify(fx.ctx, "svc", key); err != nil {
			t.Fatalf("a's cached row: %v", err)
		}
		mintWithKey(t, fx, "late-token", id)

		// a's check: refused at once, the other key still served from
		// the cache.
		fx.clock.Advance(2 * time.Second)
		if err := a.CheckRevocations(fx.ctx); err != nil {
			t.Fatal(err)
		}
		_, err := a.Verify(fx.ctx, "svc", key)
		wantReason(t, err, apikey.ReasonRevoked)
		lookups := fx.store.lookups.Load()
		if _, err := a.Verify(fx.ctx, "svc", other); err != nil || fx.store.lookups.Load() != lookups {
			t.Fatalf("the other key: %v, lookups %d -> %d (want it cached)", err, lookups, fx.store.lookups.Load())
		}
		// The next check deletes what a minted in between; the
		// revocation time stays the first one.
		revokedAt := fx.clock.Now().Add(-2 * time.Second)
		fx.clock.Advance(2 * time.Second)
		if err := a.CheckRevocations(fx.ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := fx.store.GetAccessTokenSession(fx.ctx, "late-token", &keySession{}); !errors.Is(err, fosite.ErrNotFound) {
			t.Fatalf("the token minted after the revocation: %v, want it deleted", err)
		}
		k, err := fx.store.Store.APIKey(fx.ctx, id)
		if err != nil || !k.RevokedAt.Equal(revokedAt) {
			t.Fatalf("revocation time %v (%v), want %v", k.RevokedAt, err, revokedAt)
		}
	})
}

// keySession is a token session that names the API key it was minted with
// (storage.APIKeySession), as the provider's does.
type keySession struct {
	openid.DefaultSession
	APIKeyID string `json:"api_key_id"`
}

func (s *keySession) GetAPIKeyID() string { return s.APIKeyID }

// mintWithKey stores an access token of client "svc" minted with key id.
func mintWithKey(t *testing.T, fx *dbFixture, signature, id string) {
	t.Helper()
	client, err := fx.store.GetClient(fx.ctx, "svc")
	if err != nil {
		t.Fatal(err)
	}
	req := fosite.NewRequest()
	req.ID = signature + "-request"
	req.Client = client
	req.RequestedAt = fx.clock.Now()
	req.Session = &keySession{DefaultSession: openid.DefaultSession{Claims: &jwt.IDTokenClaims{}, Headers: &jwt.Headers{}}, APIKeyID: id}
	req.Session.SetExpiresAt(fosite.AccessToken, fx.clock.Now().Add(time.Hour))
	if err := fx.store.CreateAccessTokenSession(fx.ctx, signature, req); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.store.GetAccessTokenSession(fx.ctx, signature, &keySession{}); err != nil {
		t.Fatalf("the token just minted: %v", err)
	}
}
