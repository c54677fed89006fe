// Package ttlcache is an in-process cache of values read from the database,
// each served for a fixed time (the TTL) after it was read. Its users are
// the client cache of the store, the API-key cache of the verifier and the
// CORS origin cache of the provider.
//
// Invalidate and InvalidateAll guard against the race every read-through
// cache has: a load that read the database before a change, and finishes
// after the change invalidated the key, would otherwise put the old value
// back for a whole TTL. Every invalidation advances a generation; a load
// stores its result only if no invalidation happened since it started.
// The generation is one per cache, not per key: an invalidation of any key
// keeps every load in progress from storing. That costs at most a few
// extra reads after a change (changes are rare next to reads) and needs no
// memory per key.
//
// Only what GetOrLoad's load returns without an error is stored; a caller
// that must not cache a miss (an id nobody registered: random ids would
// fill the cache) returns it as an error.
package ttlcache

import (
	"sync"
	"time"
)

// Options configure a Cache.
type Options[V any] struct {
	// TTL is how long a value is served after it was stored. <= 0 disables
	// the cache: Get always misses and GetOrLoad always loads.
	TTL time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// MaxEntries bounds the number of entries; 0 leaves it unbounded (for
	// keys that name rows which exist). When a value for a new key finds
	// the cache full, every entry is dropped first. That keeps keys a
	// caller chooses (an attacker's origins) from growing the cache,
	// costs nothing on reads and O(1) per store amortised; the price is
	// one miss per key after a clear.
	MaxEntries int
	// Clone, when set, copies a value on its way in and out, so that a
	// caller changing what it got cannot change the cached value (for
	// values that are pointers or hold slices).
	Clone func(V) V
}

// Cache maps keys to values that expire a TTL after they were stored. Safe
// for concurrent use. Expired entries are not served; they are replaced by
// the next store of their key, and Sweep removes those no one asks for
// again.
type Cache[K comparable, V any] struct {
	ttl   time.Duration
	now   func() time.Time
	max   int
	clone func(V) V

	mu sync.RWMutex
	// gen counts invalidations: a load that started in an older
	// generation must not store its (possibly stale) result.
	gen     uint64
	entries map[K]entry[V]
}

type entry[V any] struct {
	value   V
	expires time.Time
}

// New returns an empty cache.
func New[K comparable, V any](o Options[V]) *Cache[K, V] {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Cache[K, V]{ttl: o.TTL, now: o.Now, max: o.MaxEntries, clone: o.Clone, entries: make(map[K]entry[V])}
}

// Get returns the value of key if one is cached and fresh (a copy, with
// Options.Clone).
func (c *Cache[K, V]) Get(key K) (V, bool) {
	v, ok, _ := c.lookup(key)
	return v, ok
}

// GetOrLoad returns the cached value of key when it is fresh; otherwise it
// calls load and, when load succeeds and nothing was invalidated while it
// ran, stores a copy of its value. An error from load is returned as it is
// and nothing is stored. Concurrent misses of one key each call load.
func (c *Cache[K, V]) GetOrLoad(key K, load func() (V, error)) (V, error) {
	v, ok, gen := c.lookup(key)
	if ok {
		return v, nil
	}
	v, err := load()
	if err != nil {
		return v, err
	}
	c.store(key, v, gen)
	return v, nil
}

// lookup returns the fresh value of key, or the generation a load of it
// starts in. The generation is read together with the miss: taken after
// it, an invalidation between the two would go unnoticed.
func (c *Cache[K, V]) lookup(key K) (v V, ok bool, gen uint64) {
	if c.ttl <= 0 {
		return v, false, 0
	}
	c.mu.RLock()
	e, found := c.entries[key]
	gen = c.gen
	c.mu.RUnlock()
	// A stale entry is left for the next store or Sweep, so reads take
	// only the read lock.
	if !found || !c.now().Before(e.expires) {
		return v, false, gen
	}
	if c.clone != nil {
		return c.clone(e.value), true, gen
	}
	return e.value, true, gen
}

// store caches v for key unless an invalidation happened since gen.
func (c *Cache[K, V]) store(key K, v V, gen uint64) {
	if c.ttl <= 0 {
		return
	}
	if c.clone != nil {
		v = c.clone(v)
	}
	expires := c.now().Add(c.ttl)
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if _, ok := c.entries[key]; !ok && c.max > 0 && len(c.entries) >= c.max {
		clear(c.entries)
	}
	c.entries[key] = entry[V]{value: v, expires: expires}
}

// Invalidate drops key, and keeps every load in progress from storing what
// it read. Call it after the change to the underlying data is committed.
func (c *Cache[K, V]) Invalidate(key K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.entries, key)
}

// InvalidateAll drops every entry, and keeps every load in progress from
// storing what it read.
func (c *Cache[K, V]) InvalidateAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.entries)
}

// Sweep removes the expired entries. It is not an invalidation: loads in
// progress still store their result.
func (c *Cache[K, V]) Sweep() {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, k)
		}
	}
}

// Fresh returns the entries that are fresh now (copies, with
// Options.Clone), for a caller that checks them against the database.
func (c *Cache[K, V]) Fresh() map[K]V {
	now := c.now()
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make(map[K]V, len(c.entries))
	for k, e := range c.entries {
		if !now.Before(e.expires) {
			continue
		}
		if c.clone != nil {
			e.value = c.clone(e.value)
		}
		out[k] = e.value
	}
	return out
}

// Len is the number of entries, expired ones included.
func (c *Cache[K, V]) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
