package keys

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/clocktest"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

const newSecret = "the-rotated-system-secret-0123456789-abcdef"

func ring(t testing.TB, current string, old ...string) *secret.Keyring {
	t.Helper()
	r, err := secret.NewKeyring(current, old)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Rotating GATEHOUSE_SECRET: with the old secret listed every key opens;
// Reencrypt re-seals them all under the new one, after which a keyring with
// only the new secret opens every signing key and the hash pepper, and
// nothing changed in the keys themselves.
func TestReencrypt(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		ctx := context.Background()
		store := bunstoretest.Open(t, dialect, bunstore.Options{})
		clk := clocktest.New(testStart)
		opts := scheduleOptions(t, store, clk)
		m, err := New(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		// A next and a retired key too, so every state is re-sealed.
		if _, err := m.Rotate(ctx, RS256, true); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Rotate(ctx, ES256, false); err != nil {
			t.Fatal(err)
		}
		pepper, err := SystemKey(ctx, store, opts.Keyring, PurposeHashPepper)
		if err != nil {
			t.Fatal(err)
		}
		before, _ := store.SigningKeys(ctx)
		token, _ := signIDToken(t, m, ES256, clk.Now(), "alice")

		// The new secret alone opens nothing yet.
		opts.Keyring = ring(t, newSecret)
		if _, err := New(ctx, opts); err == nil || !strings.Contains(err.Error(), "GATEHOUSE_OLD_SECRETS") {
			t.Fatalf("new secret alone before re-encryption: %v", err)
		}
		if _, err := SystemKey(ctx, store, opts.Keyring, PurposeHashPepper); err == nil {
			t.Fatal("the pepper opened under the new secret before re-encryption")
		}

		// New secret with the old one listed: re-encrypt.
		opts.Keyring = ring(t, newSecret, testSecret)
		m2, err := New(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		n, err := m2.Reencrypt(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n != len(before) || n != 4 {
			t.Fatalf("re-sealed %d keys, want all %d (4)", n, len(before))
		}
		ns, err := ReencryptSystemKeys(ctx, store, opts.Keyring, PurposeHashPepper, "never-created")
		if err != nil || ns != 1 {
			t.Fatalf("ReencryptSystemKeys: %d %v", ns, err)
		}
		after, _ := store.SigningKeys(ctx)
		for i := range after {
			if bytes.Equal(after[i].PrivateKey, before[i].PrivateKey) {
				t.Fatalf("key %s was not re-sealed", after[i].KID)
			}
			if after[i].KID != before[i].KID || after[i].State != before[i].State || !bytes.Equal(after[i].PublicKey, before[i].PublicKey) {
				t.Fatalf("re-encryption changed key %s", after[i].KID)
			}
		}

		// Only the new secret now: everything opens, nothing changed.
		opts.Keyring = ring(t, newSecret)
		m3, err := New(ctx, opts)
		if err != nil {
			t.Fatalf("new secret alone after re-encryption: %v", err)
		}
		if string(m3.JWKS()) != string(m.JWKS()) {
			t.Fatal("the key set changed")
		}
		if err := providerVerifies(m3, token); err != nil {
			t.Fatalf("a token signed before re-encryption: %v", err)
		}
		if raw, _ := signIDToken(t, m3, RS256, clk.Now(), "bob"); raw == "" {
			t.Fatal("cannot sign")
		} else if err := providerVerifies(m, raw); err != nil {
			t.Fatalf("a token signed after re-encryption does not verify elsewhere: %v", err)
		}
		got, err := SystemKey(ctx, store, opts.Keyring, PurposeHashPepper)
		if err != nil || !bytes.Equal(got, pepper) {
			t.Fatalf("pepper after re-encryption: %x %v, want %x", got, err, pepper)
		}
		// And the old secret alone no longer opens them.
		opts.Keyring = ring(t, testSecret)
		if _, err := New(ctx, opts); err == nil {
			t.Fatal("the old secret still opens the re-sealed keys")
		}
		// Running it again is harmless.
		opts.Keyring = ring(t, newSecret)
		if n, err := m3.Reencrypt(ctx); err != nil || n != 4 {
			t.Fatalf("second run: %d %v", n, err)
		}
	})
}

// Instances starting together all get the same system key; each purpose
// has its own; the key is random, 32 bytes, and sealed at rest.
func TestSystemKeyGetOrCreate(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		ctx := context.Background()
		store := bunstoretest.Open(t, dialect, bunstore.Options{})
		r := ring(t, testSecret)
		const n = 8
		got := make([][]byte, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				got[i], errs[i] = SystemKey(ctx, store, r, PurposeHashPepper)
			})
		}
		close(start)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if len(got[i]) != SystemKeySize || !bytes.Equal(got[i], got[0]) {
				t.Fatalf("creator %d got %x, creator 0 %x", i, got[i], got[0])
			}
		}
		again, err := SystemKey(ctx, store, r, PurposeHashPepper)
		if err != nil || !bytes.Equal(again, got[0]) {
			t.Fatalf("second read: %x %v", again, err)
		}
		other, err := SystemKey(ctx, store, r, "another-purpose")
		if err != nil || bytes.Equal(other, got[0]) {
			t.Fatalf("another purpose: %x %v", other, err)
		}
		row, err := store.SystemKey(ctx, PurposeHashPepper)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(row.Sealed, got[0]) || len(row.Sealed) <= SystemKeySize {
			t.Fatal("the system key is stored in the clear")
		}
		// A row sealed for one purpose does not open as another.
		if _, err := openSystemKey(r, &storage.SystemKey{Purpose: "another-purpose", Sealed: row.Sealed}); err == nil {
			t.Fatal("a sealed system key opened under another purpose")
		}
		if _, err := SystemKey(ctx, store, ring(t, "a-completely-different-secret-0123456789"), PurposeHashPepper); err == nil ||
			!strings.Contains(err.Error(), "GATEHOUSE_OLD_SECRETS") {
			t.Fatalf("wrong secret: %v", err)
		}
		if _, err := SystemKey(ctx, store, r, ""); err == nil {
			t.Fatal("empty purpose accepted")
		}
	})
}

func TestRSABits(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		ctx := context.Background()
		store := bunstoretest.Open(t, dialect, bunstore.Options{})
		m, err := New(ctx, Options{Store: store, Keyring: testRing(t), Logger: quiet, RSABits: 3072})
		if err != nil {
			t.Fatal(err)
		}
		wantBits := func(want int) {
			t.Helper()
			k, _ := m.publicKey(mustKID(t, m, RS256))
			if got := k.public.(*rsa.PublicKey).N.BitLen(); got != want {
				t.Fatalf("RSA key has %d bits, want %d", got, want)
			}
			jwk := parseJWKS(t, m.JWKS())[k.kid]
			if got := jwk.Key.(*rsa.PublicKey).N.BitLen(); got != want {
				t.Fatalf("published RSA key has %d bits, want %d", got, want)
			}
		}
		wantBits(3072)
		if _, err := m.Rotate(ctx, RS256, true); err != nil {
			t.Fatal(err)
		}
		wantBits(3072)
		es, _ := m.publicKey(mustKID(t, m, ES256))
		if c := es.public.(*ecdsa.PublicKey).Curve.Params().Name; c != "P-256" {
			t.Fatalf("ES256 key on %s", c)
		}
		// The default is 2048; a restart with another size keeps the
		// current key until it rotates.
		m, err = New(ctx, Options{Store: store, Keyring: testRing(t), Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		wantBits(3072)
		if _, err := m.Rotate(ctx, RS256, true); err != nil {
			t.Fatal(err)
		}
		wantBits(2048)
	})
}

func TestOptionsChecked(t *testing.T) {
	store := bunstoretest.Open(t, "sqlite", bunstore.Options{})
	base := Options{Store: store, Keyring: testRing(t), Logger: quiet}
	for _, tc := range []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"1024-bit RSA", func(o *Options) { o.RSABits = 1024 }, "2048 or 3072"},
		{"4096-bit RSA", func(o *Options) { o.RSABits = 4096 }, "2048 or 3072"},
		{"negative RSA", func(o *Options) { o.RSABits = -1 }, "2048 or 3072"},
		{"rotation shorter than pre-publication", func(o *Options) { o.RotationInterval = 30 * time.Minute }, "rotation interval"},
		{"negative TTL", func(o *Options) { o.JWKSCacheTTL = -time.Second }, "JWKSCacheTTL"},
		{"negative retention", func(o *Options) { o.RetireRetention = -time.Second }, "RetireRetention"},
		{"no store", func(o *Options) { o.Store = nil }, "Store"},
		{"no keyring", func(o *Options) { o.Keyring = nil }, "Keyring"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			tc.edit(&o)
			if _, err := New(context.Background(), o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error naming %q, got %v", tc.want, err)
			}
		})
	}
	keys, _ := store.SigningKeys(context.Background())
	if len(keys) != 0 {
		t.Fatal("refused options still created keys")
	}

	// Defaults: 30 days, 1 hour cache, 1 minute reload, 24 h retention.
	clk := clocktest.New(testStart)
	o := base
	o.Now = clk.Now
	m, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if m.CacheMaxAge() != time.Hour || m.prepublish != time.Hour+time.Minute {
		t.Fatalf("CacheMaxAge %s, prepublish %s", m.CacheMaxAge(), m.prepublish)
	}
	cur := findKey(t, m, mustKID(t, m, RS256))
	if !cur.PlannedRetirement.Equal(testStart.Add(30 * 24 * time.Hour)) {
		t.Fatalf("default rotation: %+v", cur)
	}
	res, err := m.Rotate(context.Background(), RS256, true)
	if err != nil {
		t.Fatal(err)
	}
	if !res.RetiredRemovalAt.Equal(testStart.Add(24 * time.Hour)) {
		t.Fatalf("default retention: %+v", res)
	}
}

// Run maintains on its own: started with a clock past the rotation
// point, it publishes a next key without being asked.
func TestRunMaintains(t *testing.T) {
	store := bunstoretest.Open(t, "sqlite", bunstore.Options{})
	clk := clocktest.New(testStart)
	m := newScheduled(t, store, clk)
	clk.Advance(testRotation)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for nextKeys(t, m, RS256) == 0 || nextKeys(t, m, ES256) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("Run did not publish next keys")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
}
