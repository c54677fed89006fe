package apikey_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/provider/apikey"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

// holdingStore holds the first key lookup after it is armed: after the row
// was read and before the verifier gets it, until release is closed. read
// is closed when the row has been read.
type holdingStore struct {
	*countingStore
	armed         atomic.Bool
	read, release chan struct{}
}

func (s *holdingStore) APIKey(ctx context.Context, id string) (*storage.APIKey, error) {
	k, err := s.countingStore.APIKey(ctx, id)
	if s.armed.CompareAndSwap(true, false) {
		close(s.read)
		<-s.release
	}
	return k, err
}

// A verification that read a key's row before this instance revoked it,
// and ends after, is not refused (it read a good key), but the row it read
// is not cached: the next use of the key is refused, not served the old
// row for a whole TTL.
func TestVerifyRacingARevocationDoesNotCacheTheOldRow(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		fx := newDBFixture(t, dialect)
		store := &holdingStore{countingStore: fx.store, read: make(chan struct{}), release: make(chan struct{})}
		v := apikey.NewVerifier(apikey.Options{
			Store: store, Keyring: keyring(t, secretA), Now: fx.clock.Now, CacheTTL: time.Hour,
		})
		key, id := fx.createKey(v, nil)
		store.armed.Store(true)

		racing := make(chan error, 1)
		go func() {
			_, err := v.Verify(fx.ctx, "svc", key)
			racing <- err
		}()
		<-store.read
		if err := fx.store.RevokeAPIKey(fx.ctx, id, fx.clock.Now()); err != nil {
			t.Fatal(err)
		}
		v.Invalidate(id)
		close(store.release)
		if err := <-racing; err != nil {
			t.Fatalf("the racing verification read the key before the revocation: %v", err)
		}
		_, err := v.Verify(fx.ctx, "svc", key)
		wantReason(t, err, apikey.ReasonRevoked)
	})
}
