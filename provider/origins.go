package provider

import (
	"context"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/ttlcache"
)

// originCache remembers for a short while whether an origin is registered
// on any client: CORS preflights do not name the client, and a listing
// query per preflight would be wasteful. Changes show within originTTL.
// Both answers are cached, so it is bounded: origins are
// attacker-controlled.
type originCache = ttlcache.Cache[string, bool]

func newOriginCache(now func() time.Time) *originCache {
	return ttlcache.New[string](ttlcache.Options[bool]{TTL: originTTL, Now: now, MaxEntries: originCacheLimit})
}

// OriginAllowed reports whether origin is registered on any client.
func (p *Provider) OriginAllowed(ctx context.Context, origin string) (bool, error) {
	if origin == "" || len(origin) > 2048 {
		return false, nil
	}
	return p.origins.GetOrLoad(origin, func() (bool, error) { return p.store.ClientOriginAllowed(ctx, origin) })
}

const (
	originTTL        = 30 * time.Second
	originCacheLimit = 1000
)
