package provider

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// OriginAllowed answers from a cache for originTTL, both yes and no (CORS
// preflights name no client, so each answer would cost a query), and the
// cache is bounded: random origins cannot grow it.
func TestOriginAllowedCache(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const a, b = "https://a.example", "https://b.example"
	c := &storage.Client{ID: "spa", Name: "spa", AllowedOrigins: []string{a}}
	if err := f.store.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	setOrigins := func(origins ...string) {
		t.Helper()
		c.AllowedOrigins = origins
		if err := f.store.UpdateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	want := func(when, origin string, allowed bool) {
		t.Helper()
		got, err := f.p.OriginAllowed(ctx, origin)
		if err != nil || got != allowed {
			t.Fatalf("%s: OriginAllowed(%.30q) = %v, %v; want %v", when, origin, got, err, allowed)
		}
	}
	want("registered", a, true)
	want("not registered", b, false)
	want("empty", "", false)
	want("too long", "https://"+strings.Repeat("a", 2048)+".example", false)

	setOrigins(b)
	f.clock.Advance(originTTL - time.Second)
	want("within the TTL, the cached yes", a, true)
	want("within the TTL, the cached no", b, false)
	f.clock.Advance(time.Second)
	want("after the TTL", a, false)
	want("after the TTL", b, true)

	// Full: a's cached no stays until a new origin finds the cache full and
	// clears it.
	setOrigins(a)
	for i := range originCacheLimit - 2 {
		want("filling", fmt.Sprintf("https://%d.example", i), false)
	}
	want("full, the cached no", a, false)
	want("one more", "https://one-more.example", false)
	want("after the clear", a, true)
}
