package login

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// TestPasswordChecksAreBounded: argon2id checks wait for one of
// cap(hashSlots) slots; a sign-in that cannot get one before its request
// ends is a 503 (ErrUnavailable), not a wrong password, and is not counted
// towards a lock.
func TestPasswordChecksAreBounded(t *testing.T) {
	f := newLoginFixture(t, testLockout)
	f.user(t, "ivy@example.com", "ivy's long password", nil)

	// Every slot taken: the sign-in waits, then gives up with its request.
	for range cap(f.s.hashSlots) {
		f.s.hashSlots <- struct{}{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	_, err := f.s.Authenticate(ctx, "ivy@example.com", "ivy's long password", "")
	cancel()
	if !errors.Is(err, storage.ErrUnavailable) || errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("sign-in without a free slot: %v, want ErrUnavailable", err)
	}
	if th := f.throttle(t, "ivy@example.com"); th != nil {
		t.Fatalf("a sign-in that never checked the password was counted: %+v", th)
	}
	for range cap(f.s.hashSlots) {
		<-f.s.hashSlots
	}

	// Many at once: all get their turn (slots are given back, also by
	// failed checks), and the slots are all free afterwards.
	var wg sync.WaitGroup
	for i := range 3 * cap(f.s.hashSlots) {
		wg.Go(func() {
			password := "ivy's long password"
			if i%2 == 1 {
				password = "wrong"
			}
			_, err := f.s.Authenticate(context.Background(), "ivy@example.com", password, "")
			if err != nil && !errors.Is(err, ErrInvalidCredentials) {
				t.Errorf("sign-in: %v", err)
			}
		})
	}
	wg.Wait()
	if n := len(f.s.hashSlots); n != 0 {
		t.Fatalf("%d password check slots still taken", n)
	}
}
