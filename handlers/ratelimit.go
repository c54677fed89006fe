package handlers

// Request rate limits. Each limited route checks the client IP's
// budget first and then, on the OAuth endpoints, the budget of the client
// the request claims to be. The budgets are token buckets counted either in
// this process (MemoryLimiter, golang.org/x/time/rate) or in Redis, shared
// by every instance (RedisLimiter, github.com/go-redis/redis_rate's GCRA).

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

// RateLimit allows Rate requests per Period on average, in bursts of up to
// Burst.
type RateLimit struct {
	Rate   int
	Burst  int
	Period time.Duration
}

func (l RateLimit) valid() bool { return l.Rate >= 1 && l.Burst >= 1 && l.Period > 0 }

// RateLimiter counts requests against per-key budgets.
type RateLimiter interface {
	// Allow takes one request from key's budget under limit. When the
	// budget is spent it returns false and how long until a request
	// would be allowed again. An error means the count could not be
	// made; the caller then serves the request (fails open).
	Allow(ctx context.Context, key string, limit RateLimit) (ok bool, retryAfter time.Duration, err error)
	// Refund gives one allowed request back to key's budget, for a request
	// that turned out not to count. A budget never grows past its burst.
	Refund(ctx context.Context, key string, limit RateLimit) error
}

// DefaultRateLimitKeyPrefix namespaces the limiter keys (in Redis: where
// other applications' keys may live too).
const DefaultRateLimitKeyPrefix = "gatehouse:rl:"

// RateLimitOptions configure the request limits.
type RateLimitOptions struct {
	// Enabled turns the limits on; the zero value leaves every request
	// unlimited.
	Enabled bool
	// PerIP and PerClient hold the token, introspection, revocation, PAR
	// and registration endpoints (registration per IP only); LoginPerIP
	// the password sign-in (POST /login).
	PerIP, PerClient, LoginPerIP RateLimit
	// Limiter counts the requests; nil counts in this process with a
	// MemoryLimiter. A RedisLimiter shares the limits between instances.
	Limiter RateLimiter
	// KeyPrefix namespaces the keys (default DefaultRateLimitKeyPrefix),
	// so that tests sharing one Redis can keep apart.
	KeyPrefix string
}

// The endpoint groups: each has its own budgets, so that heavy
// introspection by a resource server does not starve its token requests.
const (
	rlToken      = "token"
	rlIntrospect = "introspect"
	rlRevoke     = "revoke"
	rlPAR        = "par"
	rlRegister   = "register"
	rlLogin      = "login"
	rlPasskey    = "passkey" // the passkey sign-in's begin (per IP)
)

// errorTooManyRequests is the "error" of a refused OAuth request. RFC 6749
// defines no code for rate limiting (temporarily_unavailable is a 503 of
// the authorization endpoint, slow_down belongs to device-flow polling),
// so this names the 429 plainly, as other providers (Auth0) do; clients
// should act on the status and Retry-After.
const errorTooManyRequests = "too_many_requests"

// warnEvery spaces the warnings about an unavailable limiter: one a
// minute, not one per request.
const warnEvery = time.Minute

// rateLimits is the limiting state of a Handler (nil when limits are off).
type rateLimits struct {
	lim                          RateLimiter
	perIP, perClient, loginPerIP RateLimit
	prefix                       string
	log                          *slog.Logger
	now                          func() time.Time
	// nextWarn (unix ns) and failures rate-limit the warning about an
	// unavailable limiter.
	nextWarn atomic.Int64
	failures atomic.Int64
}

func newRateLimits(opts RateLimitOptions, log *slog.Logger, now func() time.Time) (*rateLimits, error) {
	for name, l := range map[string]RateLimit{"PerIP": opts.PerIP, "PerClient": opts.PerClient, "LoginPerIP": opts.LoginPerIP} {
		if !l.valid() {
			return nil, fmt.Errorf("handlers: rate limit %s needs a rate and burst of at least 1 and a positive period, got %+v", name, l)
		}
	}
	rl := &rateLimits{
		lim: opts.Limiter, perIP: opts.PerIP, perClient: opts.PerClient, loginPerIP: opts.LoginPerIP,
		prefix: opts.KeyPrefix, log: log, now: now,
	}
	if rl.lim == nil {
		rl.lim = NewMemoryLimiter(MemoryLimiterOptions{Now: now})
	}
	if rl.prefix == "" {
		rl.prefix = DefaultRateLimitKeyPrefix
	}
	return rl, nil
}

// allow takes one request from key's budget. A limiter that fails lets
// the request through: an outage of the cache that holds the counts must
// not take the OAuth server down with it. The failure is logged, at most
// once per warnEvery.
func (rl *rateLimits) allow(ctx context.Context, key string, limit RateLimit) (bool, time.Duration) {
	ok, retry, err := rl.lim.Allow(ctx, key, limit)
	if err == nil {
		return ok, retry
	}
	rl.failures.Add(1)
	now := rl.now().UnixNano()
	if next := rl.nextWarn.Load(); now >= next && rl.nextWarn.CompareAndSwap(next, now+int64(warnEvery)) {
		rl.log.WarnContext(ctx, "rate limiter unavailable: serving requests without rate limits",
			"err", err, "failures", rl.failures.Swap(0))
	}
	return true, 0
}

func noLimit(next echo.HandlerFunc) echo.HandlerFunc { return next }

// limitIP is route middleware holding each client IP to the per-IP limit
// of group; refusals are OAuth-style JSON. It goes before oauthParams, so
// a flood is turned away before its body is parsed.
func (h *Handler) limitIP(group string) echo.MiddlewareFunc {
	if h.rl == nil {
		return noLimit
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			key := h.rl.prefix + group + ":ip:" + ipKey(c.RealIP())
			if ok, retry := h.rl.allow(c.Request().Context(), key, h.rl.perIP); !ok {
				h.metrics.rejected(group, limitPerIP)
				return tooManyRequestsJSON(c, retry)
			}
			return next(c)
		}
	}
}

// limitClient is route middleware holding each client to the per-client
// limit of group. It goes after oauthParams, which has parsed the form.
// The client is the one the request claims (claimedClient), not yet
// authenticated: checking the secret first would spend the work the limit
// is there to save. A request that then fails client authentication (401)
// is refunded, so a stranger who names a client without its credentials
// cannot spend that client's budget and lock it out; such requests are
// held to the per-IP limit only, as are requests naming no client.
func (h *Handler) limitClient(group string) echo.MiddlewareFunc {
	if h.rl == nil {
		return noLimit
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			id := claimedClient(c)
			if id == "" {
				return next(c)
			}
			ctx := c.Request().Context()
			key := h.rl.prefix + group + ":client:" + clientKey(id)
			if ok, retry := h.rl.allow(ctx, key, h.rl.perClient); !ok {
				h.metrics.rejected(group, limitPerClient)
				return tooManyRequestsJSON(c, retry)
			}
			err := next(c)
			if c.Response().Status == http.StatusUnauthorized {
				// A limiter that cannot refund has failed for Allow too,
				// which logs it.
				_ = h.rl.lim.Refund(ctx, key, h.rl.perClient)
			}
			return err
		}
	}
}

// limitLogin is route middleware holding each client IP to the login
// limit; refusals are an error page.
func (h *Handler) limitLogin(next echo.HandlerFunc) echo.HandlerFunc {
	if h.rl == nil {
		return next
	}
	return func(c echo.Context) error {
		key := h.rl.prefix + rlLogin + ":ip:" + ipKey(c.RealIP())
		if ok, retry := h.rl.allow(c.Request().Context(), key, h.rl.loginPerIP); !ok {
			h.metrics.rejected(rlLogin, limitPerIP)
			secs := setRetryAfter(c, retry)
			return h.errorPage(c, http.StatusTooManyRequests,
				fmt.Sprintf("Too many sign-in attempts from your network. Please wait %d seconds and try again.", secs))
		}
		return next(c)
	}
}

// setRetryAfter sets Retry-After in whole seconds (at least 1, so a client
// never retries at once) and returns them.
func setRetryAfter(c echo.Context, retry time.Duration) int64 {
	secs := int64(math.Ceil(retry.Seconds()))
	if secs < 1 {
		secs = 1
	}
	c.Response().Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	return secs
}

// tooManyRequestsJSON answers 429 in the RFC 6749 error shape.
func tooManyRequestsJSON(c echo.Context, retry time.Duration) error {
	secs := setRetryAfter(c, retry)
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusTooManyRequests, map[string]string{
		"error":             errorTooManyRequests,
		"error_description": fmt.Sprintf("Too many requests; retry after %d seconds.", secs),
	})
}

// ipKey is the budget key of a client IP. IPv6 clients are keyed by their
// /64: one subscriber usually holds a whole /64, and keying single
// addresses would give one host 2^64 budgets.
func ipKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Is4() {
		return ip // IPv4 as is; an unparsable address ("" off a socket without one) still has one key
	}
	if a.Is4In6() {
		return a.Unmap().String()
	}
	p, err := a.WithZone("").Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}

// maxClientKeyLen bounds the client part of a key; longer claimed ids (any
// string up to the body limit) are keyed by their hash, so an attacker
// cannot make keys of 64 KiB.
const maxClientKeyLen = 128

func clientKey(id string) string {
	if len(id) <= maxClientKeyLen {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// MemoryLimiter counts requests in this process: one x/time/rate token
// bucket per key, in a sharded map of bounded size. It never fails.
type MemoryLimiter struct {
	seed        maphash.Seed
	maxPerShard int
	now         func() time.Time
	shards      [memShards]memShard
}

// memShards spreads the keys over independently locked maps, so concurrent
// requests rarely wait on one another.
const memShards = 64

type memShard struct {
	mu sync.Mutex
	m  map[string]*memBucket
	_  [48]byte // a cache line per shard: neighbours' locks do not contend
}

type memBucket struct {
	lim   *rate.Limiter
	limit RateLimit
	last  time.Time // last request
}

// MemoryLimiterOptions configure a MemoryLimiter.
type MemoryLimiterOptions struct {
	// MaxKeys bounds the number of budgets kept (default 100,000, some
	// 25 MB). When the map is full, buckets that have refilled are
	// dropped (that loses nothing), else the least recently used of a
	// small sample: a flood of new IPs can then only make limits looser,
	// never grow memory.
	MaxKeys int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// NewMemoryLimiter returns an in-process limiter.
func NewMemoryLimiter(opts MemoryLimiterOptions) *MemoryLimiter {
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = 100_000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	l := &MemoryLimiter{seed: maphash.MakeSeed(), maxPerShard: max(1, opts.MaxKeys/memShards), now: opts.Now}
	for i := range l.shards {
		l.shards[i].m = make(map[string]*memBucket)
	}
	return l
}

func rateOf(l RateLimit) rate.Limit { return rate.Limit(float64(l.Rate) / l.Period.Seconds()) }

// Allow implements RateLimiter.
func (l *MemoryLimiter) Allow(_ context.Context, key string, limit RateLimit) (bool, time.Duration, error) {
	now := l.now()
	s := &l.shards[maphash.String(l.seed, key)%memShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.m[key]
	if b == nil {
		s.makeRoom(now, l.maxPerShard)
		b = &memBucket{lim: rate.NewLimiter(rateOf(limit), limit.Burst), limit: limit}
		s.m[key] = b
	} else if b.limit != limit {
		b.lim.SetLimitAt(now, rateOf(limit))
		b.lim.SetBurstAt(now, limit.Burst)
		b.limit = limit
	}
	b.last = now
	if b.lim.AllowN(now, 1) {
		return true, 0, nil
	}
	// The bucket is short of one token; it refills at the limit's rate.
	missing := 1 - b.lim.TokensAt(now)
	return false, time.Duration(missing / float64(rateOf(limit)) * float64(time.Second)), nil
}

// Refund implements RateLimiter. A key without a bucket has a full budget
// already.
func (l *MemoryLimiter) Refund(_ context.Context, key string, _ RateLimit) error {
	now := l.now()
	s := &l.shards[maphash.String(l.seed, key)%memShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.m[key]; b != nil {
		// Taking -1 tokens adds one; the bucket caps itself at its burst
		// when it next refills.
		b.lim.AllowN(now, -1)
	}
	return nil
}

// makeRoom expires buckets before a new one is added. It looks at a few
// entries only (Go's map iteration starts at a random place), so its cost
// does not grow with the map: refilled buckets go (a fresh bucket would
// say the same); when the shard is full and none has refilled, the least
// recently used of the sample goes.
func (s *memShard) makeRoom(now time.Time, maxKeys int) {
	full := len(s.m) >= maxKeys
	sample := 2
	if full {
		sample = 8
	}
	var oldestKey string
	var oldest time.Time
	found := false
	seen := 0
	for k, b := range s.m {
		if b.lim.TokensAt(now) >= float64(b.limit.Burst) {
			delete(s.m, k)
			full = false
		} else if !found || b.last.Before(oldest) {
			oldestKey, oldest, found = k, b.last, true
		}
		if seen++; seen >= sample {
			break
		}
	}
	if full && found {
		delete(s.m, oldestKey)
	}
}

// keptBudgets returns the number of budgets kept (the bound tests check).
func (l *MemoryLimiter) keptBudgets() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// ErrLimiterPaused is returned while a RedisLimiter rests after a failure.
var ErrLimiterPaused = errors.New("rate limiter paused after a failure")

// RedisLimiter counts requests in Redis with github.com/go-redis/redis_rate,
// so every instance using the same Redis shares the limits. redis_rate
// puts its own "rate:" in front of each key.
type RedisLimiter struct {
	lim     *redis_rate.Limiter
	timeout time.Duration
	pause   time.Duration
	now     func() time.Time
	// pausedUntil (unix ns): after a failure Redis is left alone for a
	// moment, so that while it is down or slow requests do not each wait
	// for a timeout.
	pausedUntil atomic.Int64
}

// RedisLimiterOptions configure a RedisLimiter.
type RedisLimiterOptions struct {
	// Timeout bounds one count (default 250ms); a slower Redis counts as
	// failed and the request is served.
	Timeout time.Duration
	// Pause is how long Redis is not asked after a failure (default 1s).
	Pause time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// NewRedisLimiter returns a limiter counting in rdb.
func NewRedisLimiter(rdb redis.UniversalClient, opts RedisLimiterOptions) *RedisLimiter {
	if opts.Timeout <= 0 {
		opts.Timeout = 250 * time.Millisecond
	}
	if opts.Pause <= 0 {
		opts.Pause = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &RedisLimiter{lim: redis_rate.NewLimiter(rdb), timeout: opts.Timeout, pause: opts.Pause, now: opts.Now}
}

// Allow implements RateLimiter.
func (l *RedisLimiter) Allow(ctx context.Context, key string, limit RateLimit) (bool, time.Duration, error) {
	if l.now().UnixNano() < l.pausedUntil.Load() {
		return true, 0, ErrLimiterPaused
	}
	// Detached from the request: a client hanging up must not look like
	// a Redis failure and pause the limits for everyone.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.timeout)
	defer cancel()
	res, err := l.lim.Allow(ctx, key, redis_rate.Limit{Rate: limit.Rate, Burst: limit.Burst, Period: limit.Period})
	if err != nil {
		l.pausedUntil.Store(l.now().Add(l.pause).UnixNano())
		return true, 0, fmt.Errorf("redis rate limiter: %w", err)
	}
	if res.Allowed > 0 {
		return true, 0, nil
	}
	return false, res.RetryAfter, nil
}

// Refund implements RateLimiter: redis_rate's GCRA script with a cost of
// -1 moves the key's theoretical arrival time back by one request. When
// that would reach now (the budget is full again) the script leaves the
// key unchanged instead, so the key is then reset: a full budget.
func (l *RedisLimiter) Refund(ctx context.Context, key string, limit RateLimit) error {
	if l.now().UnixNano() < l.pausedUntil.Load() {
		return ErrLimiterPaused
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.timeout)
	defer cancel()
	res, err := l.lim.AllowN(ctx, key, redis_rate.Limit{Rate: limit.Rate, Burst: limit.Burst, Period: limit.Period}, -1)
	if err == nil && res.ResetAfter <= 0 {
		err = l.lim.Reset(ctx, key)
	}
	if err != nil {
		return fmt.Errorf("redis rate limiter: refund: %w", err)
	}
	return nil
}
