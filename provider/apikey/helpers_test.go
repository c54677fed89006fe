package apikey_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/provider/apikey"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
)

const (
	secretA = "0123456789abcdef0123456789abcdef-secret-A"
	secretB = "0123456789abcdef0123456789abcdef-secret-B"
)

func keyring(t testing.TB, current string, old ...string) *secret.Keyring {
	t.Helper()
	k, err := secret.NewKeyring(current, old)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testStart is where the tests' clocks start.
var testStart = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// withSecret returns key with its secret part replaced (and a fresh
// checksum): a well-formed key with the right id and the wrong secret.
func withSecret(key, secretPart string) string {
	unsum := key[:len(apikey.Prefix)+apikey.IDLen] + secretPart
	return unsum + apikey.Checksum(unsum)
}

// fakeStore keeps keys in memory and counts calls.
type fakeStore struct {
	mu       sync.Mutex
	keys     map[string]*storage.APIKey
	lookups  int
	touches  map[string][]time.Time
	err      error // returned by APIKey when set
	touchErr error // returned by TouchAPIKey when set
}

func newFakeStore() *fakeStore {
	return &fakeStore{keys: map[string]*storage.APIKey{}, touches: map[string][]time.Time{}}
}

func (s *fakeStore) APIKey(_ context.Context, id string) (*storage.APIKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lookups++
	if s.err != nil {
		return nil, s.err
	}
	k, ok := s.keys[id]
	if !ok {
		return nil, storage.ErrNotFound
	}
	cp := *k
	return &cp, nil
}

func (s *fakeStore) TouchAPIKey(_ context.Context, id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.touchErr != nil {
		return s.touchErr
	}
	if _, ok := s.keys[id]; !ok {
		return storage.ErrNotFound
	}
	s.touches[id] = append(s.touches[id], at)
	return nil
}

func (s *fakeStore) APIKeysRevokedSince(_ context.Context, since time.Time) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id, k := range s.keys {
		if !k.RevokedAt.IsZero() && !k.RevokedAt.Before(since) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

func (s *fakeStore) RevokeAPIKey(_ context.Context, id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[id]
	if !ok {
		return storage.ErrNotFound
	}
	if k.RevokedAt.IsZero() {
		k.RevokedAt = at
	}
	return nil
}

func (s *fakeStore) put(k *storage.APIKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[k.ID] = k
}

func (s *fakeStore) set(f func(s *fakeStore)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *fakeStore) lookupCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lookups
}

func (s *fakeStore) touchesOf(id string) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.touches[id]...)
}

// panicStore fails the test on any call.
type panicStore struct{ t *testing.T }

func (s panicStore) APIKey(context.Context, string) (*storage.APIKey, error) {
	s.t.Error("APIKey called")
	return nil, storage.ErrUnavailable
}

func (s panicStore) TouchAPIKey(context.Context, string, time.Time) error {
	s.t.Error("TouchAPIKey called")
	return storage.ErrUnavailable
}

func (s panicStore) APIKeysRevokedSince(context.Context, time.Time) ([]string, error) {
	s.t.Error("APIKeysRevokedSince called")
	return nil, storage.ErrUnavailable
}

func (s panicStore) RevokeAPIKey(context.Context, string, time.Time) error {
	s.t.Error("RevokeAPIKey called")
	return storage.ErrUnavailable
}
