package apikey_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/clocktest"
	"github.com/gatehouse-dev/gatehouse/provider/apikey"
	"github.com/gatehouse-dev/gatehouse/storage"
)

func TestVerifyRefusesMalformedWithoutStore(t *testing.T) {
	v := apikey.NewVerifier(apikey.Options{Store: panicStore{t}, Keyring: keyring(t, secretA)})
	compares := apikey.CountCompares(v)
	key, _, _ := mint(t)
	for _, bad := range []string{
		"", "x", "gth_ak_", key[:len(key)-1], key + "0", withSecret(key, strings.Repeat("0", 43))[:77] + "!",
		key[:30] + string(key[30]^1) + key[31:], "gth_cs_" + key[7:], strings.Repeat("é", 39),
	} {
		k, err := v.Verify(context.Background(), "client", bad)
		var f *apikey.Failure
		if k != nil || !errors.As(err, &f) || f.Reason != apikey.ReasonMalformed || f.KeyID != "" {
			t.Fatalf("Verify(%q) = %v, %v", bad, k, err)
		}
		if !errors.Is(err, apikey.ErrInvalid) || !errors.Is(err, apikey.ErrMalformed) {
			t.Fatalf("Verify(%q): %v does not match ErrInvalid and ErrMalformed", bad, err)
		}
	}
	if n := compares.Load(); n != 0 {
		t.Fatalf("%d hash comparisons for malformed keys", n)
	}
}

// outcomeFixture is a verifier over a fake store holding keys of client
// "svc" in every state.
type outcomeFixture struct {
	v                                *apikey.Verifier
	store                            *fakeStore
	clock                            *clocktest.Clock
	good, revoked, expiring, unknown string
}

func newOutcomeFixture(t *testing.T, opts apikey.Options) *outcomeFixture {
	t.Helper()
	fx := &outcomeFixture{store: newFakeStore(), clock: clocktest.New(testStart)}
	opts.Store, opts.Now = fx.store, fx.clock.Now
	if opts.Keyring == nil {
		opts.Keyring = keyring(t, secretA)
	}
	fx.v = apikey.NewVerifier(opts)
	add := func(edit func(k *storage.APIKey)) string {
		key, id, secretPart := mint(t)
		k := &storage.APIKey{ID: id, ClientID: "svc", Name: id, Scopes: []string{"read"},
			SecretHash: fx.v.Hash(secretPart), CreatedAt: fx.clock.Now()}
		edit(k)
		fx.store.put(k)
		return key
	}
	fx.good = add(func(*storage.APIKey) {})
	fx.revoked = add(func(k *storage.APIKey) { k.RevokedAt = fx.clock.Now() })
	fx.expiring = add(func(k *storage.APIKey) { k.ExpiresAt = fx.clock.Now().Add(time.Hour) })
	fx.unknown, _, _ = mint(t)
	return fx
}

// TestVerifyOutcomes checks every outcome, and that each one after parsing
// costs exactly one hash comparison (so they take the same time).
func TestVerifyOutcomes(t *testing.T) {
	fx := newOutcomeFixture(t, apikey.Options{})
	compares := apikey.CountCompares(fx.v)
	ctx := context.Background()

	for _, c := range []struct {
		name, clientID, key, reason string
		advance                     time.Duration
	}{
		{name: "good", clientID: "svc", key: fx.good},
		{name: "any client (introspection)", clientID: "", key: fx.good},
		{name: "not yet expired", clientID: "svc", key: fx.expiring},
		{name: "unknown id", clientID: "svc", key: fx.unknown, reason: apikey.ReasonUnknown},
		{name: "wrong secret", clientID: "svc", key: withSecret(fx.good, strings.Repeat("A", 43)), reason: apikey.ReasonWrongSecret},
		{name: "wrong secret of another client's key", clientID: "other", key: withSecret(fx.good, strings.Repeat("A", 43)), reason: apikey.ReasonWrongSecret},
		{name: "other client", clientID: "other", key: fx.good, reason: apikey.ReasonOtherClient},
		{name: "revoked", clientID: "svc", key: fx.revoked, reason: apikey.ReasonRevoked},
		{name: "revoked, any client", clientID: "", key: fx.revoked, reason: apikey.ReasonRevoked},
		{name: "expired at the instant", clientID: "svc", key: fx.expiring, reason: apikey.ReasonExpired, advance: time.Hour},
		{name: "expired after", clientID: "svc", key: fx.expiring, reason: apikey.ReasonExpired, advance: time.Nanosecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			fx.clock.Advance(c.advance)
			before := compares.Load()
			k, err := fx.v.Verify(ctx, c.clientID, c.key)
			if n := compares.Load() - before; n != 1 {
				t.Errorf("%d hash comparisons, want exactly 1", n)
			}
			id, _, _ := apikey.Parse(c.key)
			if c.reason == "" {
				if err != nil || k == nil || k.ID != id || k.ClientID != "svc" {
					t.Fatalf("Verify = %+v, %v", k, err)
				}
				return
			}
			var f *apikey.Failure
			if k != nil || !errors.As(err, &f) || !errors.Is(err, apikey.ErrInvalid) {
				t.Fatalf("Verify = %+v, %v; want a Failure", k, err)
			}
			if f.Reason != c.reason || f.KeyID != id {
				t.Fatalf("failure %+v, want reason %q for key %s", f, c.reason, id)
			}
			if errors.Is(err, apikey.ErrMalformed) {
				t.Fatalf("%v matches ErrMalformed", err)
			}
			if wantClient := map[bool]string{true: "", false: "svc"}[c.reason == apikey.ReasonUnknown]; f.ClientID != wantClient {
				t.Fatalf("failure names client %q, want %q", f.ClientID, wantClient)
			}
			if strings.Contains(err.Error(), c.key[len(apikey.Prefix)+apikey.IDLen:]) {
				t.Fatalf("error %q contains the secret", err)
			}
		})
	}
}

func TestVerifyStorageError(t *testing.T) {
	fx := newOutcomeFixture(t, apikey.Options{CacheTTL: -1})
	fx.store.set(func(s *fakeStore) { s.err = fmt.Errorf("get api key: %w", storage.ErrUnavailable) })
	k, err := fx.v.Verify(context.Background(), "svc", fx.good)
	if k != nil || !errors.Is(err, storage.ErrUnavailable) || errors.Is(err, apikey.ErrInvalid) {
		t.Fatalf("Verify = %v, %v; want the storage error, not ErrInvalid", k, err)
	}
}

func TestVerifyCachesKnownKeysOnly(t *testing.T) {
	fx := newOutcomeFixture(t, apikey.Options{CacheTTL: 10 * time.Second})
	ctx := context.Background()
	for range 3 {
		if _, err := fx.v.Verify(ctx, "svc", fx.good); err != nil {
			t.Fatal(err)
		}
	}
	if n := fx.store.lookupCount(); n != 1 {
		t.Fatalf("%d lookups for three uses of a key, want 1", n)
	}
	// Unknown ids are looked up every time (they are not cached, so random
	// ids cannot fill the cache).
	for range 3 {
		if _, err := fx.v.Verify(ctx, "svc", fx.unknown); !errors.Is(err, apikey.ErrInvalid) {
			t.Fatal(err)
		}
	}
	if n := fx.store.lookupCount(); n != 4 {
		t.Fatalf("%d lookups, want 4", n)
	}
	// The TTL ends the entry.
	fx.clock.Advance(10 * time.Second)
	if _, err := fx.v.Verify(ctx, "svc", fx.good); err != nil {
		t.Fatal(err)
	}
	if n := fx.store.lookupCount(); n != 5 {
		t.Fatalf("%d lookups after the TTL, want 5", n)
	}
}

func TestVerifyReturnsACopy(t *testing.T) {
	fx := newOutcomeFixture(t, apikey.Options{})
	ctx := context.Background()
	k, err := fx.v.Verify(ctx, "svc", fx.good)
	if err != nil {
		t.Fatal(err)
	}
	k.Scopes[0], k.ClientID = "admin", "other"
	k, err = fx.v.Verify(ctx, "svc", fx.good)
	if err != nil || k.Scopes[0] != "read" {
		t.Fatalf("the cached key changed with the caller's copy: %+v, %v", k, err)
	}
}

func TestFailureMessages(t *testing.T) {
	for _, c := range []struct {
		f    *apikey.Failure
		want string
	}{
		{&apikey.Failure{Reason: apikey.ReasonMalformed}, "apikey: invalid key: malformed"},
		{&apikey.Failure{Reason: apikey.ReasonRevoked, KeyID: "abc"}, "apikey: invalid key abc: revoked"},
	} {
		if got := c.f.Error(); got != c.want {
			t.Errorf("Error() = %q, want %q", got, c.want)
		}
	}
}

func TestNewVerifierNeedsStoreAndKeyring(t *testing.T) {
	for name, o := range map[string]apikey.Options{
		"no store":   {Keyring: keyring(t, secretA)},
		"no keyring": {Store: newFakeStore()},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			apikey.NewVerifier(o)
		})
	}
}

func TestHashFormat(t *testing.T) {
	v := apikey.NewVerifier(apikey.Options{Store: newFakeStore(), Keyring: keyring(t, secretA)})
	_, _, secretPart := mint(t)
	h := v.Hash(secretPart)
	if !strings.HasPrefix(h, "hs256:") || len(h) != len("hs256:")+43 || strings.Contains(h, secretPart) {
		t.Fatalf("hash %q", h)
	}
	if h != v.Hash(secretPart) {
		t.Fatal("hash is not deterministic")
	}
	// Bound to the API key purpose: not the client-secret hash of the same
	// string.
	other := apikey.NewVerifier(apikey.Options{Store: newFakeStore(), Keyring: keyring(t, secretB)})
	if other.Hash(secretPart) == h {
		t.Fatal("hash does not depend on the system secret")
	}
}

// TestVerifyMalformedStoredHash: a row whose hash is not in our format (a
// bad migration, a future scheme) refuses the key rather than panicking.
func TestVerifyMalformedStoredHash(t *testing.T) {
	store := newFakeStore()
	v := apikey.NewVerifier(apikey.Options{Store: store, Keyring: keyring(t, secretA)})
	key, id, secretPart := mint(t)
	good := v.Hash(secretPart)
	for _, stored := range []string{"", "hs256:", "hs256:!!", good + "AAAA", good[:len(good)-1], "bcrypt:" + good[6:], strings.Repeat("A", 1000)} {
		store.put(&storage.APIKey{ID: id, ClientID: "svc", SecretHash: stored})
		v.Invalidate(id)
		var f *apikey.Failure
		if _, err := v.Verify(context.Background(), "svc", key); !errors.As(err, &f) || f.Reason != apikey.ReasonWrongSecret {
			t.Fatalf("stored hash %q: %v", stored, err)
		}
	}
}

func TestKeyLooksUpThroughTheCache(t *testing.T) {
	fx := newOutcomeFixture(t, apikey.Options{})
	ctx := context.Background()
	id, _, _ := apikey.Parse(fx.good)
	if _, err := fx.v.Verify(ctx, "svc", fx.good); err != nil {
		t.Fatal(err)
	}
	k, err := fx.v.Key(ctx, id)
	if err != nil || k.ID != id || k.ClientID != "svc" {
		t.Fatalf("Key = %+v, %v", k, err)
	}
	if n := fx.store.lookupCount(); n != 1 {
		t.Fatalf("%d lookups, want 1 (Key served from the cache)", n)
	}
	k.Scopes[0] = "changed"
	if k, _ := fx.v.Key(ctx, id); k.Scopes[0] != "read" {
		t.Fatal("Key returned the cached row itself")
	}
	unknown, _, _ := apikey.Parse(fx.unknown)
	for _, bad := range []string{unknown, "", "not-an-id", fx.good} {
		if _, err := fx.v.Key(ctx, bad); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("Key(%q): %v, want ErrNotFound", bad, err)
		}
	}
	if n := fx.store.lookupCount(); n != 2 {
		t.Fatalf("%d lookups, want 2 (only the well-formed unknown id is looked up)", n)
	}
}
