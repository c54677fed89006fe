package bunstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

// A promotion of the pair another transaction is promoting waits for that
// transaction, and then fails when it committed and succeeds when it
// rolled back. On PostgreSQL (READ COMMITTED) it waits on the row lock of
// the current key, then re-checks the WHERE clause on the row as
// committed: found retired, it updates nothing (ErrConflict, never a
// second rotation). On SQLite it waits for the single writer connection.
func TestPromoteSigningKeyWaitsForTheRowLock(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		s := bunstoretest.Open(t, dialect, bunstore.Options{})
		for _, committed := range []bool{true, false} {
			name := map[bool]string{true: "commit", false: "rollback"}[committed]
			t.Run(name, func(t *testing.T) {
				ctx := context.Background()
				// The kids are unique on the server, so that the lock wait
				// below is found among other tests' queries.
				suffix := fmt.Sprintf("-%s-%s-%d", dialect, name, time.Now().UnixNano())
				current, next := "current"+suffix, "next"+suffix
				at := time.Now().UTC().Truncate(time.Second)
				for kid, state := range map[string]string{current: storage.KeyStateCurrent, next: storage.KeyStateNext} {
					k := &storage.SigningKey{KID: kid, Algorithm: "RS256" + suffix, State: state, PrivateKey: []byte("p"), PublicKey: []byte("{}"), CreatedAt: at.Add(-time.Hour)}
					if state == storage.KeyStateCurrent {
						k.ActivatedAt = k.CreatedAt
					}
					if err := s.CreateSigningKey(ctx, k); err != nil {
						t.Fatalf("CreateSigningKey: %v", err)
					}
				}
				alg := "RS256" + suffix

				txCtx, err := s.BeginTX(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.PromoteSigningKey(txCtx, alg, current, next, at); err != nil {
					t.Fatalf("PromoteSigningKey in the transaction: %v", err)
				}
				other := make(chan error, 1)
				otherAt := at.Add(time.Minute)
				go func() { other <- s.PromoteSigningKey(ctx, alg, current, next, otherAt) }()

				if dialect == "postgres" {
					// Wait until the other promotion waits on a lock.
					deadline := time.Now().Add(10 * time.Second)
					for {
						var n int
						err := s.ReaderDB().NewRaw(`SELECT count(*) FROM pg_stat_activity
							WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE %' AND query LIKE ?`,
							"%"+current+"%").Scan(ctx, &n)
						if err != nil {
							t.Fatal(err)
						}
						if n == 1 {
							break
						}
						if time.Now().After(deadline) {
							t.Fatal("the other promotion never waited on a lock")
						}
						time.Sleep(10 * time.Millisecond)
					}
				} else {
					time.Sleep(200 * time.Millisecond)
				}
				select {
				case err := <-other:
					t.Fatalf("the other promotion returned (%v) while the transaction was open", err)
				default:
				}

				want := otherAt
				if committed {
					want = at
					err = s.Commit(txCtx)
				} else {
					err = s.Rollback(txCtx)
				}
				if err != nil {
					t.Fatal(err)
				}
				err = <-other
				switch {
				case committed && !errors.Is(err, storage.ErrConflict):
					t.Fatalf("the other promotion after the commit: %v, want ErrConflict", err)
				case !committed && err != nil:
					t.Fatalf("the other promotion after the rollback: %v, want nil", err)
				}

				keys, err := s.SigningKeys(ctx)
				if err != nil {
					t.Fatal(err)
				}
				found := 0
				for _, k := range keys {
					switch k.KID {
					case current:
						found++
						if k.State != storage.KeyStateRetired || !k.RetiredAt.Equal(want) {
							t.Errorf("old current key = %s, retired at %v; want retired at %v", k.State, k.RetiredAt, want)
						}
					case next:
						found++
						if k.State != storage.KeyStateCurrent || !k.ActivatedAt.Equal(want) {
							t.Errorf("promoted key = %s, activated at %v; want current from %v", k.State, k.ActivatedAt, want)
						}
					}
				}
				if found != 2 {
					t.Errorf("found %d of the two keys", found)
				}
			})
		}
	})
}
