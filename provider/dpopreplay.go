package provider

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-dev/gatehouse/provider/dpop"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// The replay caches of DPoP proofs shared by every instance (RFC 9449
// §11.1: a proof is accepted once, whichever instance sees it): Redis
// when one is configured, the database otherwise. Either costs one round
// trip per proof. A cache that cannot answer is never taken for "not seen
// before": Verify returns its error, and the token endpoint answers 503
// (errDPoPReplayUnavailable), since accepting an unchecked proof would
// allow the replay the cache exists to stop.

// DefaultRedisDPoPKeyPrefix namespaces the replay cache's keys in a Redis
// shared with other software (and with the rate limits, "gatehouse:rl:").
const DefaultRedisDPoPKeyPrefix = "gatehouse:dpop:"

// RedisReplayCache is a dpop.ReplayCache in Redis: one SET key 1 NX EX
// per proof, so concurrent uses of one proof on any instance have one
// winner, and Redis forgets the proof once it would be too old anyway.
type RedisReplayCache struct {
	client redis.Cmdable
	prefix string
	now    func() time.Time
}

// NewRedisReplayCache makes a replay cache in client under
// DefaultRedisDPoPKeyPrefix. now is the clock proofs are dated by (nil:
// time.Now): the key lives from now until the proof's expiry. Configure
// the client without retries (a retried SET NX that had succeeded would
// report a replay of the proof it recorded).
func NewRedisReplayCache(client redis.Cmdable, now func() time.Time) *RedisReplayCache {
	if now == nil {
		now = time.Now
	}
	return &RedisReplayCache{client: client, prefix: DefaultRedisDPoPKeyPrefix, now: now}
}

// minRedisTTL keeps a key whose proof is about to expire for a moment
// rather than asking Redis for a zero or negative expiry (an error).
const minRedisTTL = time.Second

// Use implements dpop.ReplayCache.
func (c *RedisReplayCache) Use(ctx context.Context, key string, expiry time.Time) (bool, error) {
	ttl := max(expiry.Sub(c.now()), minRedisTTL)
	fresh, err := c.client.SetNX(ctx, c.prefix+key, 1, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("redis: %w", err)
	}
	return fresh, nil
}

// storeReplayCache is the database's replay cache (dpop_proofs).
type storeReplayCache struct{ store storage.DPoPProofStore }

// Use implements dpop.ReplayCache.
func (c storeReplayCache) Use(ctx context.Context, key string, expiry time.Time) (bool, error) {
	return c.store.UseDPoPProof(ctx, key, expiry)
}

// errDPoPReplayUnavailable marks a replay cache that could not answer: the
// request is "retry later" (storage.ErrUnavailable, 503
// temporarily_unavailable), with the cache's error kept for the log.
type errDPoPReplayUnavailable struct{ err error }

func (e *errDPoPReplayUnavailable) Error() string {
	return "the dpop replay cache cannot be reached: " + e.err.Error()
}

func (e *errDPoPReplayUnavailable) Unwrap() []error {
	return []error{storage.ErrUnavailable, e.err}
}

// replayFailure wraps the error of Verify that is not a refused proof (so
// the replay cache's) as errDPoPReplayUnavailable; a refusal passes
// unchanged.
func replayFailure(err error) error {
	var refused *dpop.Error
	if err == nil || errors.As(err, &refused) {
		return err
	}
	return &errDPoPReplayUnavailable{err: err}
}
