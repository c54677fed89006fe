package handlers

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-dev/gatehouse/internal/clocktest"
	"github.com/gatehouse-dev/gatehouse/internal/testservices"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
)

func TestMemoryLimiterBurstRefillAndRetryAfter(t *testing.T) {
	clock := clocktest.New(time.Unix(1_700_000_000, 0))
	l := NewMemoryLimiter(MemoryLimiterOptions{Now: clock.Now})
	limit := RateLimit{Rate: 1, Burst: 3, Period: time.Minute}
	ctx := context.Background()
	for i := range 3 {
		if ok, _, err := l.Allow(ctx, "k", limit); !ok || err != nil {
			t.Fatalf("request %d of the burst refused (err %v)", i+1, err)
		}
	}
	ok, retry, err := l.Allow(ctx, "k", limit)
	if ok || err != nil {
		t.Fatalf("request past the burst: ok=%v err=%v", ok, err)
	}
	if retry < 59*time.Second || retry > time.Minute {
		t.Fatalf("retry after %s, want about 1m", retry)
	}
	if ok, _, _ := l.Allow(ctx, "other", limit); !ok {
		t.Fatal("another key shares the budget")
	}
	clock.Advance(30 * time.Second)
	if ok, retry, _ := l.Allow(ctx, "k", limit); ok || retry < 29*time.Second || retry > 30*time.Second {
		t.Fatalf("half-way: ok=%v retry=%s, want refused with about 30s", ok, retry)
	}
	clock.Advance(30 * time.Second)
	if ok, _, _ := l.Allow(ctx, "k", limit); !ok {
		t.Fatal("refused after a token refilled")
	}
	if ok, _, _ := l.Allow(ctx, "k", limit); ok {
		t.Fatal("allowed a second request on one refilled token")
	}
}

// Refund gives back one request: a spent budget allows exactly one more,
// a full one does not grow past its burst, and an unknown key is a no-op.
func TestMemoryLimiterRefund(t *testing.T) {
	clock := clocktest.New(time.Unix(1_700_000_000, 0))
	l := NewMemoryLimiter(MemoryLimiterOptions{Now: clock.Now})
	testRefund(t, l, "k", RateLimit{Rate: 1, Burst: 3, Period: time.Minute})
	if err := l.Refund(context.Background(), "never-seen", RateLimit{Rate: 1, Burst: 3, Period: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if l.keptBudgets() != 1 {
		t.Fatalf("refunding an unknown key created a bucket: %d keys", l.keptBudgets())
	}
}

// testRefund runs the refund checks on a fresh key of l.
func testRefund(t *testing.T, l RateLimiter, key string, limit RateLimit) {
	t.Helper()
	ctx := context.Background()
	allowed := func() bool {
		t.Helper()
		ok, _, err := l.Allow(ctx, key, limit)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	refund := func() {
		t.Helper()
		if err := l.Refund(ctx, key, limit); err != nil {
			t.Fatal(err)
		}
	}
	// Refunds on a full budget: it still holds only its burst.
	refund()
	refund()
	// A refund right after the first request (the budget is full again).
	if !allowed() {
		t.Fatal("first request refused")
	}
	refund()
	for i := range limit.Burst {
		if !allowed() {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	if allowed() {
		t.Fatal("refunds on a full budget let it grow past its burst")
	}
	refund()
	if !allowed() {
		t.Fatal("the refunded request was not given back")
	}
	if allowed() {
		t.Fatal("one refund gave back more than one request")
	}
}

// A flood of distinct keys (spoofed or rotating IPs) must not grow memory
// without bound.
func TestMemoryLimiterIsBounded(t *testing.T) {
	clock := clocktest.New(time.Unix(1_700_000_000, 0))
	const maxKeys = 64 * 10
	l := NewMemoryLimiter(MemoryLimiterOptions{MaxKeys: maxKeys, Now: clock.Now})
	limit := RateLimit{Rate: 1, Burst: 5, Period: time.Hour}
	for i := range 20_000 {
		if ok, _, _ := l.Allow(context.Background(), "ip:"+strconv.Itoa(i), limit); !ok {
			t.Fatalf("fresh key %d refused", i)
		}
	}
	if n := l.keptBudgets(); n > maxKeys {
		t.Fatalf("%d keys kept, bound is %d", n, maxKeys)
	}
	// Refilled buckets expire as new keys arrive.
	clock.Advance(10 * time.Hour)
	for i := range 5_000 {
		l.Allow(context.Background(), "later:"+strconv.Itoa(i), limit)
	}
	if n := l.keptBudgets(); n > maxKeys {
		t.Fatalf("%d keys kept, bound is %d", n, maxKeys)
	}
}

func TestMemoryLimiterConcurrentBurst(t *testing.T) {
	l := NewMemoryLimiter(MemoryLimiterOptions{})
	limit := RateLimit{Rate: 1, Burst: 50, Period: time.Hour}
	var mu sync.Mutex
	allowed := 0
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if ok, _, _ := l.Allow(context.Background(), "shared", limit); ok {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if allowed != 50 {
		t.Fatalf("%d of 400 concurrent requests allowed, want exactly the burst (50)", allowed)
	}
}

func TestIPKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":                "192.0.2.7",
		"::ffff:192.0.2.7":         "192.0.2.7",
		"2001:db8:1:2:3:4:5:6":     "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1":     "2001:db8:1:2::/64",
		"fe80::1%eth0":             "fe80::/64",
		"":                         "",
		"not an address":           "not an address",
		"2001:db8:1:3::1":          "2001:db8:1:3::/64",
		"2001:0db8:0001:0002::0a0": "2001:db8:1:2::/64",
	} {
		if got := ipKey(in); got != want {
			t.Errorf("ipKey(%q) = %q, want %q", in, got, want)
		}
	}
	long := strings.Repeat("x", 1000)
	if k := clientKey(long); len(k) > maxClientKeyLen || k == clientKey(long+"y") {
		t.Fatalf("long client id key %q", k)
	}
	if clientKey("app-1") != "app-1" {
		t.Fatal("short client ids are keyed as they are")
	}
}

func TestClientIPExtractor(t *testing.T) {
	req := func(remote string, headers ...string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = remote
		for i := 0; i+1 < len(headers); i += 2 {
			r.Header.Add(headers[i], headers[i+1])
		}
		return r
	}
	direct, err := clientIPExtractor(nil)
	if err != nil {
		t.Fatal(err)
	}
	// Without trusted proxies no header counts, even from loopback.
	if ip := direct(req("127.0.0.1:5000", "X-Forwarded-For", "203.0.113.9", "X-Real-IP", "203.0.113.8")); ip != "127.0.0.1" {
		t.Fatalf("untrusted: %q", ip)
	}

	proxied, err := clientIPExtractor([]string{"10.0.0.0/8", "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		r    *http.Request
		want string
	}{
		{"from a trusted proxy", req("10.1.2.3:5000", "X-Forwarded-For", "203.0.113.9"), "203.0.113.9"},
		{"single trusted IP", req("192.0.2.1:5000", "X-Forwarded-For", "203.0.113.9"), "203.0.113.9"},
		{"client-sent XFF entries left of the proxy's are not believed", req("10.1.2.3:5000", "X-Forwarded-For", "1.1.1.1, 203.0.113.9"), "203.0.113.9"},
		{"a chain of trusted proxies is skipped", req("10.1.2.3:5000", "X-Forwarded-For", "203.0.113.9, 10.9.9.9"), "203.0.113.9"},
		{"X-Real-IP without XFF", req("10.1.2.3:5000", "X-Real-IP", "203.0.113.7"), "203.0.113.7"},
		{"untrusted connection", req("198.51.100.5:5000", "X-Forwarded-For", "203.0.113.9"), "198.51.100.5"},
		{"untrusted connection, X-Real-IP", req("198.51.100.5:5000", "X-Real-IP", "203.0.113.9"), "198.51.100.5"},
		// echo trusts loopback and private ranges by default; we must not.
		{"loopback is not trusted unless configured", req("127.0.0.1:5000", "X-Forwarded-For", "203.0.113.9"), "127.0.0.1"},
		{"other private ranges are not trusted", req("192.168.1.1:5000", "X-Forwarded-For", "203.0.113.9"), "192.168.1.1"},
		{"no header", req("10.1.2.3:5000"), "10.1.2.3"},
	} {
		if got := proxied(tc.r); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	if _, err := clientIPExtractor([]string{"not-a-range"}); err == nil {
		t.Fatal("a bad trusted proxy was accepted")
	}
}

// rlFixture is the public handlers with rate limits.
type rlFixture struct {
	e     *echo.Echo
	log   *bytes.Buffer
	mu    *sync.Mutex
	reg   *prometheus.Registry
	store *bunstore.Store
	ring  *secret.Keyring
}

// newClient builds a client_credentials client with the given id (any
// string, to exercise the key encoding); add it with addClient.
func (f *rlFixture) newClient(t *testing.T, id string) (*storage.Client, string) {
	t.Helper()
	c, plain, err := admin.BuildClient(admin.ClientSpec{Name: id, GrantTypes: []string{"client_credentials"}}, secret.NewHasher(f.ring), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c.ID = id
	return c, plain
}

func (f *rlFixture) addClient(t *testing.T, c *storage.Client) {
	t.Helper()
	if err := f.store.CreateClient(context.Background(), c); err != nil {
		t.Fatal(err)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

func newRLFixture(t *testing.T, rl RateLimitOptions, trusted ...string) *rlFixture {
	t.Helper()
	var buf bytes.Buffer
	mu := &sync.Mutex{}
	log := slog.New(slog.NewTextHandler(lockedWriter{mu, &buf}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	reg := prometheus.NewRegistry()
	f := newFixtureWith(t, "http://127.0.0.1:8080", provider.RegistrationPolicyOpen, func(o *Options) {
		o.Logger, o.RateLimits, o.TrustedProxies, o.Metrics = log, rl, trusted, reg
	})
	return &rlFixture{e: f.e, log: &buf, mu: mu, reg: reg, store: f.store, ring: f.ring}
}

func (f *rlFixture) logged() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.log.String()
}

type reqOpt func(*http.Request)

func fromIP(ip string) reqOpt { return func(r *http.Request) { r.RemoteAddr = ip + ":40000" } }
func header(k, v string) reqOpt {
	return func(r *http.Request) { r.Header.Set(k, v) }
}
func basic(id string) reqOpt { return basicSecret(id, "gth_ak_not-a-real-key") }
func basicSecret(id, secret string) reqOpt {
	return func(r *http.Request) { r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret)) }
}

func (f *rlFixture) post(path string, form url.Values, opts ...reqOpt) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, o := range opts {
		o(r)
	}
	rec := httptest.NewRecorder()
	f.e.ServeHTTP(rec, r)
	return rec
}

// want429 checks a refusal: status, Retry-After in whole seconds >= 1, and
// for JSON the error code.
func want429(t *testing.T, what string, rec *httptest.ResponseRecorder, jsonBody bool) {
	t.Helper()
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("%s: status %d, want 429: %.300s", what, rec.Code, rec.Body.String())
	}
	secs, err := strconv.Atoi(rec.Header().Get("Retry-After"))
	if err != nil || secs < 1 {
		t.Fatalf("%s: Retry-After %q", what, rec.Header().Get("Retry-After"))
	}
	if jsonBody {
		var body map[string]string
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body["error"] != "too_many_requests" || body["error_description"] == "" {
			t.Fatalf("%s: body %q", what, rec.Body.String())
		}
		if rec.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("%s: Cache-Control %q", what, rec.Header().Get("Cache-Control"))
		}
	}
}

func TestRateLimitMiddleware(t *testing.T) {
	generous := RateLimit{Rate: 1000, Burst: 1000, Period: time.Second}
	tight := RateLimit{Rate: 1, Burst: 3, Period: time.Hour}
	cc := url.Values{"grant_type": {"client_credentials"}}

	t.Run("per client", func(t *testing.T) {
		f := newRLFixture(t, RateLimitOptions{Enabled: true, PerIP: generous, PerClient: tight, LoginPerIP: generous})
		app, appSecret := f.newClient(t, "app:1/ä")
		f.addClient(t, app)
		other, otherSecret := f.newClient(t, "app-2")
		f.addClient(t, other)
		// Requests that fail client authentication are given back: they
		// do not spend the named client's budget.
		for i := range 5 {
			if rec := f.post(provider.PathToken, cc, basic("app:1/ä")); rec.Code != http.StatusUnauthorized {
				t.Fatalf("wrong secret %d: %d, want 401: %s", i+1, rec.Code, rec.Body.String())
			}
		}
		for i := range 3 {
			if rec := f.post(provider.PathToken, cc, basicSecret(app.ID, appSecret)); rec.Code != http.StatusOK {
				t.Fatalf("request %d: %d %s", i+1, rec.Code, rec.Body.String())
			}
		}
		want429(t, "4th token request of one client", f.post(provider.PathToken, cc, basicSecret(app.ID, appSecret)), true)
		// The same client named in the form instead of Basic: same budget.
		want429(t, "client_id in the form", f.post(provider.PathToken, url.Values{"grant_type": {"client_credentials"}, "client_id": {"app:1/ä"}}), true)
		// Another client from the same IP is still served.
		if rec := f.post(provider.PathToken, cc, basicSecret(other.ID, otherSecret)); rec.Code != http.StatusOK {
			t.Fatalf("another client: %d %s", rec.Code, rec.Body.String())
		}
		// Budgets are per endpoint: introspection has its own.
		if rec := f.post(provider.PathIntrospect, url.Values{"token": {"x"}}, basic("app:1/ä")); rec.Code == http.StatusTooManyRequests {
			t.Fatal("introspection shares the token endpoint's budget")
		}
		// A request naming no client is held to the per-IP limit only.
		for range 5 {
			if rec := f.post(provider.PathToken, cc); rec.Code == http.StatusTooManyRequests {
				t.Fatal("a request without a client id was refused")
			}
		}
	})

	t.Run("per IP", func(t *testing.T) {
		f := newRLFixture(t, RateLimitOptions{Enabled: true, PerIP: tight, PerClient: generous, LoginPerIP: generous})
		for i := range 3 {
			if rec := f.post(provider.PathRevoke, url.Values{"token": {"x"}}, basic(fmt.Sprintf("app-%d", i)), fromIP("198.51.100.1")); rec.Code == http.StatusTooManyRequests {
				t.Fatalf("request %d refused", i+1)
			}
		}
		want429(t, "4th request of one IP (another client)", f.post(provider.PathRevoke, url.Values{"token": {"x"}}, basic("app-9"), fromIP("198.51.100.1")), true)
		// Another IP is served; a forged X-Forwarded-For changes nothing.
		if rec := f.post(provider.PathRevoke, url.Values{"token": {"x"}}, fromIP("198.51.100.2")); rec.Code == http.StatusTooManyRequests {
			t.Fatal("another IP refused")
		}
		want429(t, "forged X-Forwarded-For", f.post(provider.PathRevoke, url.Values{"token": {"x"}}, fromIP("198.51.100.1"), header("X-Forwarded-For", "203.0.113.50")), true)
		// Registration (per IP, JSON): its own budget.
		reg := func() *httptest.ResponseRecorder {
			r := httptest.NewRequest(http.MethodPost, provider.PathRegister, strings.NewReader(`{"redirect_uris":["https://app.example/cb"]}`))
			r.Header.Set("Content-Type", "application/json")
			r.RemoteAddr = "198.51.100.3:40000"
			rec := httptest.NewRecorder()
			f.e.ServeHTTP(rec, r)
			return rec
		}
		for i := range 3 {
			if rec := reg(); rec.Code != http.StatusCreated {
				t.Fatalf("registration %d: %d %s", i+1, rec.Code, rec.Body.String())
			}
		}
		want429(t, "4th registration", reg(), true)
	})

	t.Run("trusted proxy", func(t *testing.T) {
		f := newRLFixture(t, RateLimitOptions{Enabled: true, PerIP: tight, PerClient: generous, LoginPerIP: generous}, "10.0.0.0/8")
		viaProxy := func(client string) *httptest.ResponseRecorder {
			return f.post(provider.PathPAR, url.Values{"response_type": {"code"}}, fromIP("10.0.0.1"), header("X-Forwarded-For", client))
		}
		for range 3 {
			viaProxy("203.0.113.1")
		}
		want429(t, "4th request of one forwarded client", viaProxy("203.0.113.1"), true)
		if rec := viaProxy("203.0.113.2"); rec.Code == http.StatusTooManyRequests {
			t.Fatal("another client behind the proxy refused")
		}
	})

	t.Run("login", func(t *testing.T) {
		f := newRLFixture(t, RateLimitOptions{Enabled: true, PerIP: generous, PerClient: generous, LoginPerIP: tight})
		login := url.Values{"email": {"a@example.com"}, "password": {"x"}}
		for i := range 3 {
			if rec := f.post("/login", login); rec.Code == http.StatusTooManyRequests {
				t.Fatalf("login %d refused", i+1)
			}
		}
		rec := f.post("/login", login)
		want429(t, "4th login", rec, false)
		if !strings.Contains(rec.Header().Get("Content-Type"), "text/html") || !strings.Contains(rec.Body.String(), "Too many sign-in attempts") {
			t.Fatalf("login refusal is not the error page: %s %.300s", rec.Header().Get("Content-Type"), rec.Body.String())
		}
		if rec.Header().Get("Content-Security-Policy") == "" {
			t.Fatal("refusal page without the page headers")
		}
		if rec := f.post("/login", login, fromIP("198.51.100.77")); rec.Code == http.StatusTooManyRequests {
			t.Fatal("another IP refused")
		}
	})

	t.Run("off", func(t *testing.T) {
		f := newRLFixture(t, RateLimitOptions{Enabled: false, PerIP: tight, PerClient: tight, LoginPerIP: tight})
		for range 10 {
			if rec := f.post(provider.PathToken, cc, basic("app")); rec.Code == http.StatusTooManyRequests {
				t.Fatal("limited while off")
			}
		}
	})

	t.Run("bad limits", func(t *testing.T) {
		_, err := newRateLimits(RateLimitOptions{Enabled: true, PerIP: tight, PerClient: RateLimit{Rate: 1}, LoginPerIP: tight}, slog.Default(), time.Now)
		if err == nil {
			t.Fatal("a zero burst was accepted")
		}
	})
}

// failingLimiter is a limiter whose store is down.
type failingLimiter struct{}

func (failingLimiter) Allow(context.Context, string, RateLimit) (bool, time.Duration, error) {
	return false, 0, errors.New("connection refused")
}

func (failingLimiter) Refund(context.Context, string, RateLimit) error {
	return errors.New("connection refused")
}

// An unavailable limiter lets requests through and warns once, not per
// request.
func TestRateLimitFailsOpen(t *testing.T) {
	tight := RateLimit{Rate: 1, Burst: 1, Period: time.Hour}
	f := newRLFixture(t, RateLimitOptions{Enabled: true, PerIP: tight, PerClient: tight, LoginPerIP: tight, Limiter: failingLimiter{}})
	for range 20 {
		if rec := f.post(provider.PathToken, url.Values{"grant_type": {"client_credentials"}}, basic("app")); rec.Code == http.StatusTooManyRequests {
			t.Fatal("refused while the limiter is down")
		}
	}
	if n := strings.Count(f.logged(), "rate limiter unavailable"); n != 1 {
		t.Fatalf("%d warnings for 40 failed counts, want 1:\n%s", n, f.logged())
	}
}

func TestRedisLimiterFailsOpenAndPauses(t *testing.T) {
	// Nothing listens on port 1.
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer rdb.Close()
	clock := clocktest.New(time.Now())
	l := NewRedisLimiter(rdb, RedisLimiterOptions{Now: clock.Now, Pause: time.Second})
	limit := RateLimit{Rate: 1, Burst: 1, Period: time.Hour}
	ok, _, err := l.Allow(context.Background(), "k", limit)
	if !ok || err == nil || errors.Is(err, ErrLimiterPaused) {
		t.Fatalf("unreachable Redis: ok=%v err=%v, want allowed with an error", ok, err)
	}
	ok, _, err = l.Allow(context.Background(), "k", limit)
	if !ok || !errors.Is(err, ErrLimiterPaused) {
		t.Fatalf("right after a failure: ok=%v err=%v, want allowed and paused", ok, err)
	}
	clock.Advance(2 * time.Second)
	if _, _, err := l.Allow(context.Background(), "k", limit); err == nil || errors.Is(err, ErrLimiterPaused) {
		t.Fatalf("after the pause Redis is asked again: err=%v", err)
	}
}

// testRedis connects to GATEHOUSE_TEST_REDIS_URL or skips.
func testRedis(t *testing.T) *redis.Client {
	t.Helper()
	u := testservices.RedisURL(t)
	opts, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("GATEHOUSE_TEST_REDIS_URL is set but Redis does not answer: %v", err)
	}
	return rdb
}

func uniquePrefix(t *testing.T) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "gatehouse-test:" + hex.EncodeToString(b) + ":"
}

func TestRedisLimiter(t *testing.T) {
	rdb := testRedis(t)
	prefix := uniquePrefix(t)
	ctx := context.Background()
	// Two limiters (two instances) on one Redis share the budget.
	a, b := NewRedisLimiter(rdb, RedisLimiterOptions{}), NewRedisLimiter(rdb, RedisLimiterOptions{})
	limit := RateLimit{Rate: 1, Burst: 4, Period: time.Minute}
	for i, l := range []*RedisLimiter{a, b, a, b} {
		if ok, _, err := l.Allow(ctx, prefix+"k", limit); !ok || err != nil {
			t.Fatalf("request %d refused (err %v)", i+1, err)
		}
	}
	for _, l := range []*RedisLimiter{a, b} {
		ok, retry, err := l.Allow(ctx, prefix+"k", limit)
		if ok || err != nil || retry < 50*time.Second || retry > time.Minute {
			t.Fatalf("past the shared burst: ok=%v retry=%s err=%v", ok, retry, err)
		}
	}
	if ok, _, _ := a.Allow(ctx, prefix+"other", limit); !ok {
		t.Fatal("another key refused")
	}
	// Keys are namespaced: redis_rate's "rate:" and then ours.
	if n, err := rdb.Exists(ctx, "rate:"+prefix+"k").Result(); err != nil || n != 1 {
		t.Fatalf("key rate:%sk: exists=%d err=%v", prefix, n, err)
	}
	if ttl, _ := rdb.TTL(ctx, "rate:"+prefix+"k").Result(); ttl <= 0 {
		t.Fatalf("key without expiry (ttl %s): Redis would fill up", ttl)
	}
}

func TestRedisLimiterRefund(t *testing.T) {
	rdb := testRedis(t)
	testRefund(t, NewRedisLimiter(rdb, RedisLimiterOptions{}), uniquePrefix(t)+"k", RateLimit{Rate: 1, Burst: 3, Period: time.Minute})
}

// The middleware on a Redis limiter: the whole path, as configured in
// production.
func TestRateLimitMiddlewareRedis(t *testing.T) {
	rdb := testRedis(t)
	tight := RateLimit{Rate: 1, Burst: 2, Period: time.Hour}
	generous := RateLimit{Rate: 1000, Burst: 1000, Period: time.Second}
	opts := RateLimitOptions{Enabled: true, PerIP: generous, PerClient: tight, LoginPerIP: generous,
		Limiter: NewRedisLimiter(rdb, RedisLimiterOptions{}), KeyPrefix: uniquePrefix(t)}
	f1, f2 := newRLFixture(t, opts), newRLFixture(t, opts)
	// One client, known to both instances (each fixture has its own store).
	app, appSecret := f1.newClient(t, "app")
	f1.addClient(t, app)
	f2.addClient(t, app)
	cc := url.Values{"grant_type": {"client_credentials"}}
	// A wrong secret on either instance is given back in Redis too.
	for _, f := range []*rlFixture{f1, f2, f1} {
		if rec := f.post(provider.PathToken, cc, basic("app")); rec.Code != http.StatusUnauthorized {
			t.Fatalf("wrong secret: %d, want 401: %s", rec.Code, rec.Body.String())
		}
	}
	for _, f := range []*rlFixture{f1, f2} {
		if rec := f.post(provider.PathToken, cc, basicSecret(app.ID, appSecret)); rec.Code != http.StatusOK {
			t.Fatalf("within the burst: %d %s", rec.Code, rec.Body.String())
		}
	}
	want429(t, "third request across two instances", f1.post(provider.PathToken, cc, basicSecret(app.ID, appSecret)), true)
	want429(t, "fourth request across two instances", f2.post(provider.PathToken, cc, basicSecret(app.ID, appSecret)), true)
}

func BenchmarkMemoryLimiterAllow(b *testing.B) {
	// A budget no benchmark spends and that never refills completely, so
	// that buckets are neither refused nor expired as refilled.
	limit := RateLimit{Rate: 1_000_000, Burst: 1_000_000, Period: time.Hour}
	b.Run("one key", func(b *testing.B) {
		l := NewMemoryLimiter(MemoryLimiterOptions{})
		ctx := context.Background()
		for b.Loop() {
			l.Allow(ctx, "gatehouse:rl:token:ip:192.0.2.1", limit)
		}
	})
	b.Run("parallel 1k keys", func(b *testing.B) {
		l := NewMemoryLimiter(MemoryLimiterOptions{})
		keys := make([]string, 1024)
		for i := range keys {
			keys[i] = "gatehouse:rl:token:client:" + strconv.Itoa(i)
		}
		ctx := context.Background()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				l.Allow(ctx, keys[i%len(keys)], limit)
				i++
			}
		})
	})
	b.Run("parallel new keys at the bound", func(b *testing.B) {
		l := NewMemoryLimiter(MemoryLimiterOptions{MaxKeys: 10_000})
		ctx := context.Background()
		var n sync.Mutex
		next := 0
		b.RunParallel(func(pb *testing.PB) {
			n.Lock()
			base := next
			next += 1 << 30
			n.Unlock()
			i := base
			for pb.Next() {
				l.Allow(ctx, "gatehouse:rl:token:ip:"+strconv.Itoa(i), limit)
				i++
			}
		})
	})
}
