package bunstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

// TestJanitorLockAcrossProcesses: two stores on one PostgreSQL database
// (two instances) never run the janitor at once; the lock is per schema,
// so a store on another schema is not held up.
func TestJanitorLockAcrossProcesses(t *testing.T) {
	ctx := context.Background()
	dsn := bunstoretest.NewDSN(t, "postgres")
	open := func(dsn string) *bunstore.Store {
		s, err := bunstore.Open(ctx, dsn, bunstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := open(dsn), open(dsn)
	elsewhere := open(bunstoretest.NewDSN(t, "postgres"))

	ran, err := a.WithJanitorLock(ctx, func(ctx context.Context) error {
		ran, err := b.WithJanitorLock(ctx, func(context.Context) error { return nil })
		if err != nil || ran {
			t.Errorf("second instance: ran %v, err %v; want it told another instance is cleaning", ran, err)
		}
		ran, err = elsewhere.WithJanitorLock(ctx, func(context.Context) error { return nil })
		if err != nil || !ran {
			t.Errorf("instance on another schema: ran %v, err %v; want it to run", ran, err)
		}
		return nil
	})
	if err != nil || !ran {
		t.Fatalf("first instance: ran %v, err %v", ran, err)
	}
	if ran, err := b.WithJanitorLock(ctx, func(context.Context) error { return nil }); err != nil || !ran {
		t.Fatalf("after release: ran %v, err %v", ran, err)
	}
}

// TestMigrationLockPerSchema: while the migration lock of one schema is
// held (another process migrating it), a migration of that schema waits,
// and one of another schema in the same database does not.
func TestMigrationLockPerSchema(t *testing.T) {
	ctx := context.Background()
	open := func(dsn string) *bunstore.Store {
		s, err := bunstore.Open(ctx, dsn, bunstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	held, elsewhere := open(bunstoretest.NewDSN(t, "postgres")), open(bunstoretest.NewDSN(t, "postgres"))
	conn, err := held.WriterDB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(?, hashtext(current_schema()))", bunstore.MigrationLockKey); err != nil {
		t.Fatal(err)
	}

	waitCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := elsewhere.Migrate(waitCtx); err != nil {
		t.Fatalf("another schema waited for the lock: %v", err)
	}
	blockedCtx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if err := held.Migrate(blockedCtx); err == nil {
		t.Fatal("migrated while another process held the schema's migration lock")
	}
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_unlock(?, hashtext(current_schema()))", bunstore.MigrationLockKey); err != nil {
		t.Fatal(err)
	}
	if err := held.Migrate(waitCtx); err != nil {
		t.Fatalf("after the lock was released: %v", err)
	}
}
