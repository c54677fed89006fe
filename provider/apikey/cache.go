package apikey

import (
	"slices"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// keyCache keeps key rows for a short TTL, saving a query per use of a key.
// Only keys that exist are cached (revoked and expired ones included), so
// presenting random ids cannot grow it beyond the number of stored keys.
type keyCache struct {
	ttl time.Duration // <= 0: disabled
	now func() time.Time

	mu sync.RWMutex
	// gen counts invalidations; a read that started before one must not
	// put its (possibly stale) row into the cache.
	gen     uint64
	entries map[string]cachedKey
}

type cachedKey struct {
	key     *storage.APIKey
	expires time.Time
}

func newKeyCache(ttl time.Duration, now func() time.Time) *keyCache {
	return &keyCache{ttl: ttl, now: now, entries: make(map[string]cachedKey)}
}

// get returns a copy of a fresh entry. A stale one is left for put or
// sweep to replace, so the common path takes only the read lock.
func (c *keyCache) get(id string) (*storage.APIKey, bool) {
	if c.ttl <= 0 {
		return nil, false
	}
	c.mu.RLock()
	e, ok := c.entries[id]
	c.mu.RUnlock()
	if !ok || !c.now().Before(e.expires) {
		return nil, false
	}
	return copyKey(e.key), true
}

func (c *keyCache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// put caches a copy of k unless an invalidation happened since gen was
// read.
func (c *keyCache) put(id string, k *storage.APIKey, gen uint64) {
	if c.ttl <= 0 {
		return
	}
	cp := copyKey(k)
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen == c.gen {
		c.entries[id] = cachedKey{key: cp, expires: c.now().Add(c.ttl)}
	}
}

func (c *keyCache) invalidate(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.entries, id)
}

// sweep removes stale entries (of keys no longer used).
func (c *keyCache) sweep() {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, id)
		}
	}
}

// copyKey returns a copy that shares no slice with k, so a caller editing
// its result cannot change the cached row.
func copyKey(k *storage.APIKey) *storage.APIKey {
	cp := *k
	cp.Scopes = slices.Clone(k.Scopes)
	return &cp
}
