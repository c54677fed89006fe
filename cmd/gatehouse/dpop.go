package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/provider"
)

// dpopOptions turns the configuration into the provider's DPoP options.
// With redis_url set, used proofs are remembered in Redis (every instance
// sharing it refuses a replay, RFC 9449 §11.1); otherwise in the
// database. closeFn releases that Redis client (a no-op without one) and
// must run after the listeners have stopped.
//
// An unreachable Redis does not stop the start, but unlike the rate
// limits it does not fail open: a DPoP request is answered 503 until
// Redis answers, since an unchecked proof could be a replay.
func dpopOptions(ctx context.Context, cfg config.Config, now func() time.Time, log *slog.Logger) (opts provider.DPoPOptions, closeFn func() error, err error) {
	opts = provider.DPoPOptions{
		Algorithms:    cfg.DPoP.Algorithms,
		ProofLifetime: cfg.DPoP.ProofLifetime,
		RequireNonce:  cfg.DPoP.RequireNonce,
		NonceLifetime: cfg.DPoP.NonceLifetime,
	}
	noop := func() error { return nil }
	if cfg.RedisURL == "" {
		return opts, noop, nil
	}
	ro, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		// The URL may hold a password: name the setting, not the value.
		return opts, noop, fmt.Errorf("redis_url: %w", err)
	}
	// As for the limits: the request's deadline bounds the round trip, a
	// down server is dialled once, and nothing is retried — a retried
	// SET NX that had succeeded would call its own proof a replay.
	tuneRedisForLimits(ro)
	redis.SetLogger(redisLog{log})
	rdb := redis.NewClient(ro)
	pingCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := rdb.Ping(pingCtx).Err(); err != nil {
		log.Warn("redis does not answer: DPoP token requests are refused (503) until it does",
			"redis_url", cfg.Redacted().RedisURL, "err", err)
	}
	opts.Replay = provider.NewRedisReplayCache(rdb, now)
	return opts, rdb.Close, nil
}
