package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/handlers"
)

// rateLimitOptions turns the configuration into the handlers' rate limits.
// With redis_url set the requests are counted in Redis, so every instance
// shares one budget per IP and per client; close releases that Redis
// client (it does nothing without one) and must run after the listeners
// have stopped.
//
// An unreachable Redis does not stop the start, nor later requests: the
// limits fail open until it answers (see handlers.RedisLimiter), with a
// warning, because an outage of the cache must not take the OAuth server
// down.
func rateLimitOptions(ctx context.Context, cfg config.Config, log *slog.Logger) (opts handlers.RateLimitOptions, closeFn func() error, err error) {
	noop := func() error { return nil }
	rl := cfg.RateLimits
	if !rl.Enabled {
		log.Warn("rate limits are off (rate_limits.enabled=false)")
		return handlers.RateLimitOptions{}, noop, nil
	}
	opts = handlers.RateLimitOptions{
		Enabled:    true,
		PerIP:      handlers.RateLimit(rl.PerIP),
		PerClient:  handlers.RateLimit(rl.PerClient),
		LoginPerIP: handlers.RateLimit(rl.LoginPerIP),
	}
	if cfg.RedisURL == "" {
		return opts, noop, nil
	}
	rdb, pingErr, err := openRedis(ctx, cfg, log)
	if err != nil {
		return opts, noop, err
	}
	redisURL := cfg.Redacted().RedisURL
	if pingErr != nil {
		log.Warn("redis does not answer: rate limits are not enforced until it does", "redis_url", redisURL, "err", pingErr)
	} else {
		log.Info("rate limits are shared through redis", "redis_url", redisURL)
	}
	opts.Limiter = handlers.NewRedisLimiter(rdb, handlers.RedisLimiterOptions{})
	return opts, rdb.Close, nil
}

// redisLog takes go-redis's own messages — by default printed to stderr,
// one per failed dial, about once a second while Redis is down — into the
// service log at debug level: the limiter already reports those failures
// as warnings, at most once a minute.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis client: "+fmt.Sprintf(format, v...))
}

// openRedis makes the client of cfg's redis_url and pings it once
// (bounded): err is a bad URL, pingErr a server that does not answer now,
// which the caller reports its own way (the rate limits fail open, DPoP
// refuses). The client is tuned by tuneRedisForLimits for both uses.
func openRedis(ctx context.Context, cfg config.Config, log *slog.Logger) (rdb *redis.Client, pingErr, err error) {
	ro, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		// The URL may hold a password: name the setting, not the value.
		return nil, nil, fmt.Errorf("redis_url: %w", err)
	}
	tuneRedisForLimits(ro)
	// go-redis's logger is process-wide; there is one service per process.
	redis.SetLogger(redisLog{log})
	rdb = redis.NewClient(ro)
	pingCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return rdb, rdb.Ping(pingCtx).Err(), nil
}

// tuneRedisForLimits makes a Redis outage cheap for requests: the limiter
// bounds each count with a context deadline (which go-redis honours only
// with ContextTimeoutEnabled), a down server is dialled once rather than
// five times, and a count is never retried, since the count script is not
// idempotent and a retry after a timeout could count a request twice.
// Settings given in the URL's query are kept.
func tuneRedisForLimits(o *redis.Options) {
	o.ContextTimeoutEnabled = true
	if o.DialerRetries == 0 {
		o.DialerRetries = 1
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = -1
	}
}
