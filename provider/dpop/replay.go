package dpop

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrReplayCacheFull is returned by a MemoryReplayCache that holds its
// maximum of unexpired proofs: it refuses rather than forget one early,
// which would let that proof be replayed. Callers answer it as a
// temporary failure.
var ErrReplayCacheFull = errors.New("dpop: the replay cache is full")

// MemoryReplayCache is a ReplayCache in the memory of one process, for a
// single instance (a resource server behind one process, tests). It holds
// at most Max entries and drops each once expired, in insertion order: a
// proof's expiry is its iat plus a fixed window, so the oldest entry is
// (nearly) the first to expire and purging costs O(1) per entry.
type MemoryReplayCache struct {
	mu      sync.Mutex
	max     int
	now     func() time.Time
	entries map[string]time.Time
	order   []memoryEntry // insertion order; the head is purged first
}

type memoryEntry struct {
	key    string
	expiry time.Time
}

// NewMemoryReplayCache makes a cache of at most max unexpired proofs (0:
// 100,000, a few MB). now is the clock (nil: time.Now).
func NewMemoryReplayCache(max int, now func() time.Time) *MemoryReplayCache {
	if max <= 0 {
		max = 100_000
	}
	if now == nil {
		now = time.Now
	}
	return &MemoryReplayCache{max: max, now: now, entries: make(map[string]time.Time)}
}

// Use implements ReplayCache.
func (c *MemoryReplayCache) Use(_ context.Context, key string, expiry time.Time) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	c.purge(now)
	if exp, ok := c.entries[key]; ok && exp.After(now) {
		return false, nil
	}
	if len(c.entries) >= c.max {
		return false, ErrReplayCacheFull
	}
	c.entries[key] = expiry
	c.order = append(c.order, memoryEntry{key: key, expiry: expiry})
	return true, nil
}

// Len is the number of proofs held (expired ones not yet purged
// included).
func (c *MemoryReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// purge drops the expired entries at the head of the insertion order.
func (c *MemoryReplayCache) purge(now time.Time) {
	i := 0
	for ; i < len(c.order) && !c.order[i].expiry.After(now); i++ {
		e := c.order[i]
		if exp, ok := c.entries[e.key]; ok && !exp.After(now) {
			delete(c.entries, e.key)
		}
	}
	if i > 0 {
		c.order = c.order[i:]
		if cap(c.order) > 1024 && len(c.order) < cap(c.order)/4 {
			c.order = append([]memoryEntry(nil), c.order...)
		}
	}
}
