package bunstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
	"github.com/gatehouse-dev/gatehouse/storage/conformance"
)

// CheckResources drops the cached resource set when another instance
// created, changed or deleted a resource, long before the TTL, and keeps
// it otherwise.
func TestCheckResourcesSeesOtherInstances(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		ctx := context.Background()
		dsn := bunstoretest.NewDSN(t, dialect)
		clock := conformance.NewClock(time.Now())
		open := func() *bunstore.Store {
			s, err := bunstore.Open(ctx, dsn, bunstore.Options{Now: clock.Now, ClientCacheTTL: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
		a, b := open(), open()
		if err := a.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if err := a.CreateResource(ctx, &storage.Resource{ID: "https://api.example", Name: "old"}); err != nil {
			t.Fatal(err)
		}
		name := func(id string) (string, error) {
			r, err := a.ResourceByID(ctx, id)
			if err != nil {
				return "", err
			}
			return r.Name, nil
		}
		if _, err := name("https://api.example"); err != nil { // cached now
			t.Fatal(err)
		}
		if dropped, err := a.CheckResources(ctx); err != nil || dropped {
			t.Fatalf("nothing changed: dropped %v, %v", dropped, err)
		}

		clock.Advance(time.Second)
		if err := b.UpdateResource(ctx, &storage.Resource{ID: "https://api.example", Name: "new"}); err != nil {
			t.Fatal(err)
		}
		if got, _ := name("https://api.example"); got != "old" {
			t.Fatalf("before the check a serves its cache: %q", got)
		}
		if dropped, err := a.CheckResources(ctx); err != nil || !dropped {
			t.Fatalf("after b's update: dropped %v, %v; want dropped", dropped, err)
		}
		if got, err := name("https://api.example"); err != nil || got != "new" {
			t.Fatalf("after the check: %q %v", got, err)
		}

		// A resource created elsewhere is found after the check (an
		// unknown resource costs no query until then).
		if err := b.CreateResource(ctx, &storage.Resource{ID: "https://new.example"}); err != nil {
			t.Fatal(err)
		}
		if _, err := name("https://new.example"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("before the check: %v, want ErrNotFound from the cached set", err)
		}
		if dropped, err := a.CheckResources(ctx); err != nil || !dropped {
			t.Fatalf("after b's create: dropped %v, %v; want dropped", dropped, err)
		}
		if _, err := name("https://new.example"); err != nil {
			t.Fatalf("after the check: %v", err)
		}

		if err := b.DeleteResource(ctx, "https://api.example"); err != nil {
			t.Fatal(err)
		}
		if dropped, err := a.CheckResources(ctx); err != nil || !dropped {
			t.Fatalf("after b's delete: dropped %v, %v; want dropped", dropped, err)
		}
		if _, err := name("https://api.example"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("deleted: %v, want ErrNotFound", err)
		}
	})
}
