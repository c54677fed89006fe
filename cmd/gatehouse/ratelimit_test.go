package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/handlers"
	"github.com/gatehouse-dev/gatehouse/internal/testservices"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/clientjwks"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

// Small limits keep these tests fast: a budget of a few requests per
// minute, so nothing refills while a test runs.
var (
	tightLimit    = config.Limit{Rate: 1, Burst: 3, Period: time.Minute}
	generousLimit = config.Limit{Rate: 10_000, Burst: 10_000, Period: time.Second}
)

func withLimits(perIP, perClient, loginPerIP config.Limit) func(*config.Config) {
	return func(c *config.Config) {
		c.RateLimits.Enabled = true
		c.RateLimits.PerIP, c.RateLimits.PerClient, c.RateLimits.LoginPerIP = perIP, perClient, loginPerIP
	}
}

// tokenRequest sends a client_credentials request with HTTP Basic and
// extra headers, and returns the status and Retry-After.
func tokenRequest(t *testing.T, s *testServer, clientID, secret string, headers ...string) (int, map[string]interface{}, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.issuer+provider.PathToken, strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return doJSON(t, req)
}

// wantTooMany checks a 429 answer of an OAuth endpoint.
func wantTooMany(t *testing.T, what string, status int, body map[string]interface{}, h http.Header) {
	t.Helper()
	if status != http.StatusTooManyRequests {
		t.Fatalf("%s: status %d %v, want 429", what, status, body)
	}
	if secs, err := strconv.Atoi(h.Get("Retry-After")); err != nil || secs < 1 || secs > 60 {
		t.Fatalf("%s: Retry-After %q, want whole seconds in [1, 60]", what, h.Get("Retry-After"))
	}
	if body["error"] != "too_many_requests" {
		t.Fatalf("%s: body %v", what, body)
	}
}

// TestRateLimitTokenEndpoint: a flooding client is refused with 429 and
// Retry-After while another client from the same IP is still served; the
// per-IP limit refuses an IP whatever client it names.
func TestRateLimitTokenEndpoint(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		t.Run("per client", func(t *testing.T) {
			s := startServer(t, dialect, withLimits(generousLimit, tightLimit, generousLimit))
			flood, floodSecret := s.client(admin.ClientSpec{Name: "flood"})
			calm, calmSecret := s.client(admin.ClientSpec{Name: "calm"})
			for i := range tightLimit.Burst {
				if status, body, _ := tokenRequest(t, s, flood.ID, floodSecret); status != http.StatusOK {
					t.Fatalf("token %d within the burst: %d %v", i+1, status, body)
				}
			}
			status, body, h := tokenRequest(t, s, flood.ID, floodSecret)
			wantTooMany(t, "token request past the client's burst", status, body, h)
			// A standard client library sees an OAuth error it can name.
			cc := clientcredentials.Config{ClientID: flood.ID, ClientSecret: floodSecret, TokenURL: s.issuer + provider.PathToken}
			if _, err := cc.Token(context.Background()); oauthErrorCode(err) != "too_many_requests" {
				t.Fatalf("x/oauth2 on a 429: %v", err)
			}
			if status, body, _ := tokenRequest(t, s, calm.ID, calmSecret); status != http.StatusOK {
				t.Fatalf("another client from the same IP: %d %v", status, body)
			}
		})
		t.Run("strangers do not spend a client's budget", func(t *testing.T) {
			// Anyone can name a client; only requests that authenticate as
			// it count towards its limit, or a stranger with a wrong secret
			// could lock it out from their own per-IP budget.
			s := startServer(t, dialect, withLimits(generousLimit, tightLimit, generousLimit))
			victim, victimSecret := s.client(admin.ClientSpec{Name: "victim"})
			for i := range 3 * tightLimit.Burst {
				if status, body, _ := tokenRequest(t, s, victim.ID, "wrong-secret"); status != http.StatusUnauthorized {
					t.Fatalf("stranger's request %d: %d %v, want 401", i+1, status, body)
				}
			}
			for i := range tightLimit.Burst {
				if status, body, _ := tokenRequest(t, s, victim.ID, victimSecret); status != http.StatusOK {
					t.Fatalf("the client's own token %d after the stranger's requests: %d %v", i+1, status, body)
				}
			}
			status, body, h := tokenRequest(t, s, victim.ID, victimSecret)
			wantTooMany(t, "the client past its own burst", status, body, h)
		})
		t.Run("private_key_jwt without client_id", func(t *testing.T) {
			// The client is named only by the assertion's sub: its own
			// requests count towards its budget, forged ones do not.
			s := startServer(t, dialect, withLimits(generousLimit, tightLimit, generousLimit))
			tokenURL := s.issuer + provider.PathToken
			good, stranger := s.inlineKeyClient(t)
			forged := good
			forged.key = stranger
			for i := range 2 * tightLimit.Burst {
				status, body := s.tokenWithAssertion(t, forged.sign(t, tokenURL))
				wantAssertionRejected(t, fmt.Sprintf("forged assertion %d", i+1), status, body)
			}
			for i := range tightLimit.Burst {
				status, body := s.tokenWithAssertion(t, good.sign(t, tokenURL))
				wantAssertionToken(t, fmt.Sprintf("assertion %d within the burst", i+1), status, body)
			}
			status, body, h := postForm(t, tokenURL, url.Values{
				"grant_type": {"client_credentials"}, "scope": {"api:read"},
				"client_assertion_type": {clientjwks.JWTBearerAssertionType}, "client_assertion": {good.sign(t, tokenURL)},
			}, "", "")
			wantTooMany(t, "private_key_jwt client past its burst", status, body, h)
		})
		t.Run("per IP", func(t *testing.T) {
			s := startServer(t, dialect, withLimits(tightLimit, generousLimit, generousLimit))
			for i := range tightLimit.Burst {
				c, secret := s.client(admin.ClientSpec{Name: fmt.Sprintf("app %d", i)})
				if status, body, _ := tokenRequest(t, s, c.ID, secret); status != http.StatusOK {
					t.Fatalf("token %d within the IP's burst: %d %v", i+1, status, body)
				}
			}
			fresh, secret := s.client(admin.ClientSpec{Name: "fresh"})
			status, body, h := tokenRequest(t, s, fresh.ID, secret)
			wantTooMany(t, "a fresh client from a spent IP", status, body, h)
		})
	})
}

// TestRateLimitLogin: password sign-ins from one IP are throttled with a
// 429 page and Retry-After, even with the right password.
func TestRateLimitLogin(t *testing.T) {
	t.Parallel()
	s := startServer(t, "sqlite", withLimits(generousLimit, generousLimit, tightLimit))
	s.user("bob@example.com", alicePassword)
	b := s.newBrowser()
	form := b.get(s.issuer + "/login")
	for i := range tightLimit.Burst {
		if p := b.login(form, "bob@example.com", "wrong password"); p.status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d %.300s", i+1, p.status, p.body)
		}
	}
	p := b.login(form, "bob@example.com", alicePassword)
	if p.status != http.StatusTooManyRequests {
		t.Fatalf("attempt past the limit: %d %.300s", p.status, p.body)
	}
	if secs, err := strconv.Atoi(p.header.Get("Retry-After")); err != nil || secs < 1 || secs > 60 {
		t.Fatalf("Retry-After %q", p.header.Get("Retry-After"))
	}
	if !strings.Contains(p.header.Get("Content-Type"), "text/html") || !strings.Contains(p.body, "Too many sign-in attempts") {
		t.Fatalf("not the error page: %s %.300s", p.header.Get("Content-Type"), p.body)
	}
	// Showing the form is not limited; only attempts are.
	if p := b.get(s.issuer + "/login"); p.status != http.StatusOK {
		t.Fatalf("login page while throttled: %d", p.status)
	}
}

// TestRateLimitTrustedProxies: behind a trusted proxy the per-IP limit
// keys on X-Forwarded-For; from anyone else the header changes nothing.
func TestRateLimitTrustedProxies(t *testing.T) {
	t.Parallel()
	t.Run("trusted", func(t *testing.T) {
		s := startServer(t, "sqlite", withLimits(tightLimit, generousLimit, generousLimit), func(c *config.Config) {
			c.TrustedProxies = []string{"127.0.0.1/32"}
		})
		for range tightLimit.Burst {
			if status, body, _ := tokenRequest(t, s, "nobody", "x", "X-Forwarded-For", "203.0.113.10"); status == http.StatusTooManyRequests {
				t.Fatalf("refused within the burst: %v", body)
			}
		}
		status, body, h := tokenRequest(t, s, "nobody", "x", "X-Forwarded-For", "203.0.113.10")
		wantTooMany(t, "the same forwarded client", status, body, h)
		// X-Real-IP counts when there is no X-Forwarded-For.
		status, body, h = tokenRequest(t, s, "nobody", "x", "X-Real-IP", "203.0.113.10")
		wantTooMany(t, "the same client in X-Real-IP", status, body, h)
		if status, body, _ := tokenRequest(t, s, "nobody", "x", "X-Forwarded-For", "203.0.113.11"); status == http.StatusTooManyRequests {
			t.Fatalf("another forwarded client refused: %v", body)
		}
	})
	t.Run("untrusted", func(t *testing.T) {
		s := startServer(t, "sqlite", withLimits(tightLimit, generousLimit, generousLimit))
		for range tightLimit.Burst {
			tokenRequest(t, s, "nobody", "x", "X-Forwarded-For", "203.0.113.10")
		}
		status, body, h := tokenRequest(t, s, "nobody", "x", "X-Forwarded-For", "203.0.113.99")
		wantTooMany(t, "a changed X-Forwarded-For from an untrusted peer", status, body, h)
		status, body, h = tokenRequest(t, s, "nobody", "x", "X-Real-IP", "203.0.113.98")
		wantTooMany(t, "a changed X-Real-IP from an untrusted peer", status, body, h)
	})
}

// TestRateLimitSharedThroughRedis: two instances on one Redis share one
// per-client budget. Client ids are random, so runs sharing the Redis do
// not collide.
func TestRateLimitSharedThroughRedis(t *testing.T) {
	t.Parallel()
	redisURL := testservices.RedisURL(t)
	const burst = 4
	store := bunstoretest.Open(t, "sqlite", bunstore.Options{})
	secret := randomString(t, 32)
	mods := []func(*config.Config){
		withLimits(generousLimit, config.Limit{Rate: 1, Burst: burst, Period: time.Minute}, generousLimit),
		func(c *config.Config) { c.RedisURL, c.Secret = redisURL, secret },
	}
	var servers [2]*testServer
	for i := range servers {
		s := startServerOn(t, store, mods...)
		t.Cleanup(func() { s.stop(); _ = s.app.closeRedis() })
		servers[i] = s
	}
	c, clientSecret := servers[0].client(admin.ClientSpec{Name: "shared"})
	for i := range burst {
		if status, body, _ := tokenRequest(t, servers[i%2], c.ID, clientSecret); status != http.StatusOK {
			t.Fatalf("request %d within the shared burst (instance %d): %d %v", i+1, i%2, status, body)
		}
	}
	for i, s := range servers {
		status, body, h := tokenRequest(t, s, c.ID, clientSecret)
		wantTooMany(t, fmt.Sprintf("instance %d past the shared burst", i), status, body, h)
	}

	// The budget lives in Redis under gatehouse's namespace (after
	// redis_rate's own "rate:").
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	key := "rate:" + handlers.DefaultRateLimitKeyPrefix + "token:client:" + c.ID
	if n, err := rdb.Exists(context.Background(), key).Result(); err != nil || n != 1 {
		t.Fatalf("Redis key %s: exists=%d err=%v", key, n, err)
	}
}

func TestRateLimitOptionsFromConfig(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := config.Default()

	cfg.RateLimits.Enabled = false
	opts, closeFn, err := rateLimitOptions(context.Background(), cfg, log)
	if err != nil || opts.Enabled || closeFn() != nil {
		t.Fatalf("off: %+v %v", opts, err)
	}
	if !strings.Contains(buf.String(), "level=WARN") || !strings.Contains(buf.String(), "rate limits are off (rate_limits.enabled=false)") {
		t.Fatalf("no warning when off: %q", buf.String())
	}

	buf.Reset()
	cfg.RateLimits.Enabled = true
	opts, closeFn, err = rateLimitOptions(context.Background(), cfg, log)
	if err != nil || !opts.Enabled || opts.Limiter != nil || closeFn() != nil {
		t.Fatalf("in process: %+v %v", opts, err)
	}
	if opts.PerIP != (handlers.RateLimit{Rate: 200, Burst: 400, Period: time.Second}) ||
		opts.LoginPerIP != (handlers.RateLimit{Rate: 20, Burst: 20, Period: time.Minute}) {
		t.Fatalf("limits not copied: %+v", opts)
	}

	// An unreachable Redis does not stop the start; it is warned about,
	// without the password.
	cfg.RedisURL = "redis://:hunter2-secret@127.0.0.1:1/0"
	opts, closeFn, err = rateLimitOptions(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	if _, ok := opts.Limiter.(*handlers.RedisLimiter); !ok {
		t.Fatalf("limiter %T, want a RedisLimiter", opts.Limiter)
	}
	if !strings.Contains(buf.String(), "redis does not answer") || strings.Contains(buf.String(), "hunter2") {
		t.Fatalf("warning: %q", buf.String())
	}
	// go-redis's own message about the failed dial went to the service
	// log at debug level (not to stderr, once a second).
	if !strings.Contains(buf.String(), "level=DEBUG msg=\"redis client: ") {
		t.Fatalf("go-redis's dial failure is not in the service log at debug level: %q", buf.String())
	}
}
