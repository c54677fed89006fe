package apikey

import (
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/ttlcache"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// keyCache keeps key rows for a short TTL, saving a query per use of a key.
type keyCache = ttlcache.Cache[string, *storage.APIKey]

// newKeyCache returns an empty keyCache. Only keys that exist are cached
// (revoked and expired ones included; an unknown id is an error, never
// cached), so presenting random ids cannot grow it beyond the number of
// stored keys. Run sweeps the entries of keys no longer used.
func newKeyCache(ttl time.Duration, now func() time.Time) *keyCache {
	return ttlcache.New[string](ttlcache.Options[*storage.APIKey]{TTL: ttl, Now: now, Clone: copyKey})
}

// copyKey returns a copy that shares no slice with k, so a caller editing
// its result cannot change the cached row.
func copyKey(k *storage.APIKey) *storage.APIKey {
	cp := *k
	cp.Scopes = slices.Clone(k.Scopes)
	return &cp
}
