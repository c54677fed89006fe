package ttlcache

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/clocktest"
)

// testStart is where the tests' clocks start.
var testStart = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// step is one operation of a scenario on a cache of int values.
type step struct {
	do   string // get, load, fail (a load that errs), advance, invalidate, invalidateAll, sweep
	key  string
	val  int           // load: what the load returns
	d    time.Duration // advance
	want int           // get, load: the value returned
	hit  bool          // get: found; load: served without calling the load
}

func TestScenarios(t *testing.T) {
	const ttl = 10 * time.Second
	load := func(key string, val, want int, hit bool) step {
		return step{do: "load", key: key, val: val, want: want, hit: hit}
	}
	get := func(key string, want int, hit bool) step { return step{do: "get", key: key, want: want, hit: hit} }
	advance := func(d time.Duration) step { return step{do: "advance", d: d} }
	for _, tc := range []struct {
		name    string
		ttl     time.Duration // default: ttl
		keepTTL bool          // use ttl as it is, even zero
		max     int
		steps   []step
		wantLen int
	}{
		{
			name:    "served within the TTL",
			steps:   []step{load("a", 1, 1, false), advance(ttl - time.Nanosecond), load("a", 2, 1, true), get("a", 1, true)},
			wantLen: 1,
		},
		{
			name:    "expired at exactly the TTL, then replaced",
			steps:   []step{load("a", 1, 1, false), advance(ttl), get("a", 0, false), load("a", 2, 2, false), get("a", 2, true)},
			wantLen: 1,
		},
		{
			name:    "a zero TTL disables the cache",
			ttl:     0,
			keepTTL: true,
			steps:   []step{load("a", 1, 1, false), load("a", 2, 2, false), get("a", 0, false)},
			wantLen: 0,
		},
		{
			name:    "a negative TTL disables the cache",
			ttl:     -1,
			steps:   []step{load("a", 1, 1, false), get("a", 0, false)},
			wantLen: 0,
		},
		{
			name:    "errors are not cached",
			steps:   []step{{do: "fail", key: "a"}, get("a", 0, false), load("a", 1, 1, false), get("a", 1, true)},
			wantLen: 1,
		},
		{
			name: "Invalidate drops one key",
			steps: []step{load("a", 1, 1, false), load("b", 2, 2, false), {do: "invalidate", key: "a"},
				get("a", 0, false), get("b", 2, true), load("a", 3, 3, false)},
			wantLen: 2,
		},
		{
			name:    "Invalidate of an absent key is harmless",
			steps:   []step{load("a", 1, 1, false), {do: "invalidate", key: "x"}, get("a", 1, true)},
			wantLen: 1,
		},
		{
			name: "InvalidateAll drops every key",
			steps: []step{load("a", 1, 1, false), load("b", 2, 2, false), {do: "invalidateAll"},
				get("a", 0, false), get("b", 0, false)},
			wantLen: 0,
		},
		{
			name: "a new key finding the cache full clears it",
			max:  2,
			steps: []step{load("a", 1, 1, false), load("b", 2, 2, false), load("a", 9, 1, true),
				load("c", 3, 3, false), get("a", 0, false), get("b", 0, false), get("c", 3, true)},
			wantLen: 1,
		},
		{
			name: "replacing a key of a full cache clears nothing",
			max:  2,
			steps: []step{load("a", 1, 1, false), advance(ttl / 2), load("b", 2, 2, false), advance(ttl / 2),
				load("a", 3, 3, false), get("b", 2, true), get("a", 3, true)},
			wantLen: 2,
		},
		{
			name:    "the bound is not reached below it",
			max:     3,
			steps:   []step{load("a", 1, 1, false), load("b", 2, 2, false), load("c", 3, 3, false), get("a", 1, true)},
			wantLen: 3,
		},
		{
			name: "Sweep removes expired entries only",
			steps: []step{load("a", 1, 1, false), advance(ttl / 2), load("b", 2, 2, false), advance(ttl / 2),
				{do: "sweep"}, get("b", 2, true)},
			wantLen: 1,
		},
		{
			name:    "an expired entry stays until replaced or swept",
			steps:   []step{load("a", 1, 1, false), advance(ttl), get("a", 0, false)},
			wantLen: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.ttl == 0 && !tc.keepTTL {
				tc.ttl = ttl
			}
			clk := clocktest.New(testStart)
			c := New[string, int](Options[int]{TTL: tc.ttl, Now: clk.Now, MaxEntries: tc.max})
			for i, s := range tc.steps {
				switch s.do {
				case "get":
					got, ok := c.Get(s.key)
					if got != s.want || ok != s.hit {
						t.Fatalf("step %d: Get(%q) = %d, %v; want %d, %v", i, s.key, got, ok, s.want, s.hit)
					}
				case "load", "fail":
					loaded := false
					got, err := c.GetOrLoad(s.key, func() (int, error) {
						loaded = true
						if s.do == "fail" {
							return 0, errLoad
						}
						return s.val, nil
					})
					if s.do == "fail" {
						if !errors.Is(err, errLoad) {
							t.Fatalf("step %d: GetOrLoad err = %v, want the load's", i, err)
						}
						continue
					}
					if err != nil || got != s.want || loaded == s.hit {
						t.Fatalf("step %d: GetOrLoad(%q) = %d, %v (loaded %v); want %d (hit %v)", i, s.key, got, err, loaded, s.want, s.hit)
					}
				case "advance":
					clk.Advance(s.d)
				case "invalidate":
					c.Invalidate(s.key)
				case "invalidateAll":
					c.InvalidateAll()
				case "sweep":
					c.Sweep()
				default:
					t.Fatalf("step %d: unknown %q", i, s.do)
				}
			}
			if n := c.Len(); n != tc.wantLen {
				t.Fatalf("Len = %d, want %d", n, tc.wantLen)
			}
		})
	}
}

var errLoad = errors.New("load failed")

// TestGenerationGuard is the race the guard exists for: a load reads the
// database, the row changes and the key is invalidated, then the load
// finishes. The old value it read must not be stored. The load is held
// between its start and its end by channels, so the interleaving is exact.
func TestGenerationGuard(t *testing.T) {
	for _, tc := range []struct {
		name    string
		between func(c *Cache[string, int])
		stored  bool
	}{
		{"nothing happens meanwhile", func(*Cache[string, int]) {}, true},
		{"Invalidate of the key", func(c *Cache[string, int]) { c.Invalidate("a") }, false},
		{"Invalidate of another key", func(c *Cache[string, int]) { c.Invalidate("b") }, false},
		{"InvalidateAll", func(c *Cache[string, int]) { c.InvalidateAll() }, false},
		{"Sweep is no invalidation", func(c *Cache[string, int]) { c.Sweep() }, true},
		{"another load stores meanwhile", func(c *Cache[string, int]) {
			if v, err := c.GetOrLoad("b", func() (int, error) { return 2, nil }); err != nil || v != 2 {
				t.Fatalf("load of b: %d, %v", v, err)
			}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New[string, int](Options[int]{TTL: time.Minute, Now: clocktest.New(testStart).Now})
			started, release := make(chan struct{}), make(chan struct{})
			done := make(chan int)
			go func() {
				v, _ := c.GetOrLoad("a", func() (int, error) {
					close(started)
					<-release
					return 1, nil
				})
				done <- v
			}()
			<-started
			tc.between(c)
			close(release)
			if v := <-done; v != 1 {
				t.Fatalf("the loading caller got %d, want what it loaded (1)", v)
			}
			if v, ok := c.Get("a"); ok != tc.stored || (ok && v != 1) {
				t.Fatalf("after the load: Get = %d, %v; want stored %v", v, ok, tc.stored)
			}
			// The guard holds back only loads that overlapped the
			// invalidation: the next one stores.
			if v, err := c.GetOrLoad("a", func() (int, error) { return 3, nil }); err != nil || (v != 3 && v != 1) {
				t.Fatalf("next load: %d, %v", v, err)
			}
			if _, ok := c.Get("a"); !ok {
				t.Fatal("a load after the invalidation was not stored")
			}
		})
	}
}

// A load that finished before an invalidation is stored, and then dropped
// by it.
func TestInvalidateAfterLoad(t *testing.T) {
	c := New[string, int](Options[int]{TTL: time.Minute})
	if _, err := c.GetOrLoad("a", func() (int, error) { return 1, nil }); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Get("a"); !ok {
		t.Fatal("not stored (default clock)")
	}
	c.Invalidate("a")
	if _, ok := c.Get("a"); ok {
		t.Fatal("served after Invalidate")
	}
}

// Clone keeps what callers hold apart from what the cache holds.
func TestClone(t *testing.T) {
	c := New[string, []string](Options[[]string]{TTL: time.Minute, Now: clocktest.New(testStart).Now, Clone: slices.Clone[[]string]})
	loaded := []string{"read"}
	got, err := c.GetOrLoad("a", func() ([]string, error) { return loaded, nil })
	if err != nil || &got[0] != &loaded[0] {
		t.Fatalf("GetOrLoad = %v, %v; want the loaded value itself", got, err)
	}
	loaded[0] = "changed by the loader"
	v, _ := c.Get("a")
	if v[0] != "read" {
		t.Fatalf("the cache stored the loader's slice: %v", v)
	}
	v[0] = "changed by a reader"
	if v, _ := c.Get("a"); v[0] != "read" {
		t.Fatalf("Get returned the cached slice: %v", v)
	}
	fresh := c.Fresh()
	fresh["a"][0] = "changed through Fresh"
	if v, _ := c.Get("a"); v[0] != "read" {
		t.Fatalf("Fresh returned the cached slice: %v", v)
	}
}

func TestFresh(t *testing.T) {
	clk := clocktest.New(testStart)
	c := New[string, int](Options[int]{TTL: 10 * time.Second, Now: clk.Now})
	for i, k := range []string{"old", "new"} {
		if _, err := c.GetOrLoad(k, func() (int, error) { return i, nil }); err != nil {
			t.Fatal(err)
		}
		clk.Advance(5 * time.Second)
	}
	if got := c.Fresh(); len(got) != 1 || got["new"] != 1 {
		t.Fatalf("Fresh = %v, want only new", got)
	}
	clk.Advance(5 * time.Second)
	if got := c.Fresh(); len(got) != 0 {
		t.Fatalf("Fresh = %v, want none", got)
	}
}

// Readers, loaders and an invalidating writer at once (run with -race). The
// writer changes a key's source value, then invalidates the key (or all);
// a reader that starts after an invalidation completed must never be
// served a value older than that change, whatever the interleaving.
func TestConcurrentUseNeverServesInvalidatedValues(t *testing.T) {
	c := New[string, int64](Options[int64]{TTL: time.Hour, MaxEntries: 4})
	keys := []string{"a", "b", "c", "d", "e"}
	// source: the database; completed: the last value whose change has
	// been invalidated.
	source := make(map[string]*atomic.Int64, len(keys))
	completed := make(map[string]*atomic.Int64, len(keys))
	for _, k := range keys {
		source[k], completed[k] = new(atomic.Int64), new(atomic.Int64)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for r := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := keys[(r+i)%len(keys)]
				floor := completed[k].Load()
				v, err := c.GetOrLoad(k, func() (int64, error) { return source[k].Load(), nil })
				if err != nil || v < floor {
					errs <- fmt.Errorf("reader %d got %s=%d (%v) after change %d was invalidated", r, k, v, err, floor)
					return
				}
				if i%50 == 0 {
					c.Sweep()
				}
			}
		}()
	}
	for i := range 5000 {
		k := keys[i%len(keys)]
		v := source[k].Add(1)
		if i%10 == 0 {
			c.InvalidateAll()
		} else {
			c.Invalidate(k)
		}
		completed[k].Store(v)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
