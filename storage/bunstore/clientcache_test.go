package bunstore_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
	"github.com/gatehouse-dev/gatehouse/storage/conformance"
)

// holdClientRead holds the first read of a client row once it is armed:
// after the row was read and before ClientByID gets it, until release is
// closed. read is closed when the row has been read.
type holdClientRead struct {
	armed         atomic.Bool
	read, release chan struct{}
}

func (h *holdClientRead) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context {
	return ctx
}

func (h *holdClientRead) AfterQuery(_ context.Context, ev *bun.QueryEvent) {
	if strings.HasPrefix(ev.Query, "SELECT") && strings.Contains(ev.Query, `"clients"`) && h.armed.CompareAndSwap(true, false) {
		close(h.read)
		<-h.release
	}
}

// A read of a client that started before an update and ends after it
// returns the row it read, but does not cache it: the next read sees the
// update, not the old row for a whole TTL.
func TestClientReadRacingAnUpdateIsNotCached(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		ctx := context.Background()
		s := bunstoretest.Open(t, dialect, bunstore.Options{ClientCacheTTL: time.Hour})
		if err := s.CreateClient(ctx, &storage.Client{ID: "c", Name: "old"}); err != nil {
			t.Fatal(err)
		}
		hold := &holdClientRead{read: make(chan struct{}), release: make(chan struct{})}
		s.WithReaderQueryHook(hold)
		hold.armed.Store(true)

		racing := make(chan string, 1)
		go func() {
			c, err := s.ClientByID(ctx, "c")
			if err != nil {
				racing <- err.Error()
				return
			}
			racing <- c.Name
		}()
		<-hold.read
		if err := s.UpdateClient(ctx, &storage.Client{ID: "c", Name: "new"}); err != nil {
			t.Fatal(err)
		}
		close(hold.release)
		if got := <-racing; got != "old" {
			t.Fatalf("the racing read: %q, want the old row it read", got)
		}
		if got := clientName(t, s, "c"); got != "new" {
			t.Fatalf("after the update: %q, want new (the racing read's old row was cached)", got)
		}
	})
}

// A client changed inside a transaction is dropped from the cache again
// when the transaction commits: a request outside it that read (and
// cached) the committed old row meanwhile does not keep it for a TTL.
func TestClientChangedInATransactionIsDroppedAtCommit(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		ctx := context.Background()
		s := bunstoretest.Open(t, dialect, bunstore.Options{ClientCacheTTL: time.Hour})
		if err := s.CreateClient(ctx, &storage.Client{ID: "c", Name: "old"}); err != nil {
			t.Fatal(err)
		}
		err := s.InTx(ctx, func(tx context.Context) error {
			if err := s.UpdateClient(tx, &storage.Client{ID: "c", Name: "new"}); err != nil {
				return err
			}
			if got := clientName(t, s, "c"); got != "old" {
				t.Errorf("outside the open transaction: %q, want the committed old", got)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := clientName(t, s, "c"); got != "new" {
			t.Fatalf("after the commit: %q, want new", got)
		}
	})
}

// CheckClients checks only the clients read within the TTL: an expired
// entry is swept, not looked up (it would be read again anyway), so the
// check stays as small as the set of clients in use.
func TestCheckClientsSweepsExpiredEntries(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		ctx := context.Background()
		clock := conformance.NewClock(time.Now())
		s := bunstoretest.Open(t, dialect, bunstore.Options{Now: clock.Now, ClientCacheTTL: 10 * time.Second})
		for _, id := range []string{"idle", "used"} {
			if err := s.CreateClient(ctx, &storage.Client{ID: id, Name: "old"}); err != nil {
				t.Fatal(err)
			}
			clientName(t, s, id) // cached
			clock.Advance(6 * time.Second)
		}
		// idle was cached 12s ago and has expired; used, 6s ago, has not.
		for _, id := range []string{"idle", "used"} {
			if _, err := s.WriterDB().NewRaw("UPDATE clients SET name = 'new', updated_at = ? WHERE id = ?", clock.Now(), id).Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := s.CheckClients(ctx); err != nil || n != 1 {
			t.Fatalf("CheckClients dropped %d, %v; want 1 (the expired entry is swept, not checked)", n, err)
		}
		for _, id := range []string{"idle", "used"} {
			if got := clientName(t, s, id); got != "new" {
				t.Errorf("%s: %q, want new", id, got)
			}
		}
	})
}

// clientName reads the client's name through the cache.
func clientName(t *testing.T, s *bunstore.Store, id string) string {
	t.Helper()
	c, err := s.ClientByID(context.Background(), id)
	if err != nil {
		t.Fatalf("ClientByID(%q): %v", id, err)
	}
	return c.Name
}
