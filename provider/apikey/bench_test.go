package apikey_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/provider/apikey"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

// BenchmarkVerify measures a whole verification: parse, checksum, key
// lookup (cached or from the database) and the keyed-hash comparison, on
// SQLite and (with GATEHOUSE_TEST_POSTGRES_DSN) PostgreSQL. "unknown" is
// an id with no row: never cached, so always a query plus the dummy
// comparison.
func BenchmarkVerify(b *testing.B) {
	for _, d := range bunstoretest.Dialects() {
		b.Run(d, func(b *testing.B) {
			fx := newDBFixture(b, d)
			ring := keyring(b, secretA)
			for _, c := range []struct {
				name string
				ttl  time.Duration
				key  func(v *apikey.Verifier) string
			}{
				{"cached", 10 * time.Second, func(v *apikey.Verifier) string { k, _ := fx.createKey(v, nil); return k }},
				{"uncached", -1, func(v *apikey.Verifier) string { k, _ := fx.createKey(v, nil); return k }},
				{"unknown", 10 * time.Second, func(*apikey.Verifier) string { k, _, _ := mint(b); return k }},
			} {
				b.Run(c.name, func(b *testing.B) {
					v := fx.verifier(ring, apikey.Options{CacheTTL: c.ttl})
					key := c.key(v)
					ctx := context.Background()
					b.ReportAllocs()
					for b.Loop() {
						_, err := v.Verify(ctx, "svc", key)
						if (err == nil) == (c.name == "unknown") {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}

// BenchmarkVerifyInMemory is the CPU cost alone: an in-memory store, no
// cache.
func BenchmarkVerifyInMemory(b *testing.B) {
	store := newFakeStore()
	v := apikey.NewVerifier(apikey.Options{Store: store, Keyring: keyring(b, secretA), CacheTTL: -1})
	key, id, secretPart := mint(b)
	store.put(&storage.APIKey{ID: id, ClientID: "svc", SecretHash: v.Hash(secretPart)})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, "svc", key); err != nil {
			b.Fatal(err)
		}
	}
}
