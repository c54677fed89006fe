package provider

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-dev/gatehouse/internal/clocktest"
	"github.com/gatehouse-dev/gatehouse/internal/testservices"
	"github.com/gatehouse-dev/gatehouse/provider/dpop"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// testRedis connects to GATEHOUSE_TEST_REDIS_URL, without retries as cmd
// configures it.
func testRedis(t *testing.T) *redis.Client {
	t.Helper()
	u := testservices.RedisURL(t)
	o, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	o.MaxRetries = -1
	c := redis.NewClient(o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func randomKey(t *testing.T) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return t.Name() + "-" + hex.EncodeToString(b)
}

func TestRedisReplayCacheUsesOnce(t *testing.T) {
	t.Parallel()
	rdb := testRedis(t)
	clock := clocktest.New(time.Now())
	c := NewRedisReplayCache(rdb, clock.Now)
	ctx := context.Background()
	key := randomKey(t)
	exp := clock.Now().Add(65 * time.Second)
	if fresh, err := c.Use(ctx, key, exp); err != nil || !fresh {
		t.Fatalf("first use = %v, %v; want fresh", fresh, err)
	}
	if fresh, err := c.Use(ctx, key, exp); err != nil || fresh {
		t.Fatalf("second use = %v, %v; want a replay", fresh, err)
	}
	// Redis forgets the proof when it would be too old anyway.
	ttl, err := rdb.TTL(ctx, DefaultRedisDPoPKeyPrefix+key).Result()
	if err != nil || ttl <= 60*time.Second || ttl > 65*time.Second {
		t.Fatalf("TTL = %s, %v; want about 65s", ttl, err)
	}
	// A proof at the end of its life still gets a positive expiry.
	late := randomKey(t)
	if fresh, err := c.Use(ctx, late, clock.Now().Add(-time.Second)); err != nil || !fresh {
		t.Fatalf("use of an expiring proof = %v, %v; want fresh", fresh, err)
	}
}

func TestRedisReplayCacheConcurrentUseOneWinner(t *testing.T) {
	t.Parallel()
	c := NewRedisReplayCache(testRedis(t), nil)
	key := randomKey(t)
	const n = 16
	var wg sync.WaitGroup
	fresh := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { fresh[i], errs[i] = c.Use(context.Background(), key, time.Now().Add(time.Minute)) })
	}
	wg.Wait()
	won := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if fresh[i] {
			won++
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d concurrent uses accepted; want 1", won, n)
	}
}

// TestRedisReplayCacheDownIsUnavailable: a Redis that does not answer is
// an error of Verify, which the token endpoint answers 503 — never a
// proof taken as fresh.
func TestRedisReplayCacheDownIsUnavailable(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialerRetries: 1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = rdb.Close() })
	v := &dpop.Verifier{Replay: NewRedisReplayCache(rdb, nil)}
	prover := newTestProver(t)
	proof, err := prover.Proof("POST", "https://id.example/oauth2/token", "", "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(context.Background(), dpop.Request{Proofs: []string{proof}, Method: "POST", URL: "https://id.example/oauth2/token"})
	if err == nil {
		t.Fatal("a proof was accepted without its replay check")
	}
	err = replayFailure(err)
	if !errors.Is(err, storage.ErrUnavailable) || errors.Is(err, dpop.ErrInvalidProof) {
		t.Fatalf("error = %v; want storage.ErrUnavailable", err)
	}
	if got := oauthErrorOf(err, "client_credentials"); got == nil || !IsServerError(got) {
		t.Fatalf("OAuth error = %v; want temporarily_unavailable (503)", got)
	}
	// A refused proof passes unchanged.
	refused := &dpop.Error{Code: dpop.CodeInvalidProof, Reason: "x"}
	if replayFailure(refused) != error(refused) {
		t.Fatal("a refused proof was taken for a cache failure")
	}
}
