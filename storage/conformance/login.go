package conformance

import (
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// Failed password sign-ins per account: counting, back-off locks, reset,
// clearing and the janitor's deletion, with the count shared by every
// caller (instance) of the database.

func loginThrottleTests() []test {
	return []test{
		{"LockFor", testLoginLockFor},
		{"CountAndGet", testLoginThrottleCount},
		{"LockAndBackOff", testLoginThrottleLock},
		{"ResetAfterFailureReset", testLoginThrottleReset},
		{"NoResetWhileRecentlyLocked", testLoginThrottleNoResetAfterLongLock},
		{"Clear", testLoginThrottleClear},
		{"ConcurrentFailuresAllCount", testLoginThrottleConcurrent},
		{"ConcurrentFailuresStopAtTheLock", testLoginThrottleConcurrentLock},
		{"DeleteStale", testLoginThrottleDeleteStale},
		{"DeleteStaleInBatches", testLoginThrottleDeleteStaleBatches},
	}
}

// testPolicy locks after 3 failures for 1m, doubling up to 5m; a failure
// a day after the previous one starts over.
var testPolicy = storage.LoginLockPolicy{
	MaxFailures: 3, Lockout: time.Minute, MaxLockout: 5 * time.Minute, FailureReset: 24 * time.Hour,
}

func (e *env) recordFailure(account string, policy storage.LoginLockPolicy) (*storage.LoginThrottle, bool) {
	e.t.Helper()
	th, counted, err := e.s.RecordLoginFailure(e.ctx, account, e.clock.Now(), policy)
	e.must(err, "RecordLoginFailure")
	if th == nil {
		e.t.Fatal("RecordLoginFailure returned no state")
	}
	return th, counted
}

func (e *env) wantThrottle(got *storage.LoginThrottle, failures int, last, lockedUntil time.Time, what string) {
	e.t.Helper()
	e.wantEqual(got.Failures, failures, what+" failures")
	e.wantTime(got.LastFailureAt, last, what+" LastFailureAt")
	e.wantTime(got.LockedUntil, lockedUntil, what+" LockedUntil")
}

// LockFor is pure arithmetic, but every backend relies on it.
func testLoginLockFor(e *env) {
	for _, tc := range []struct {
		failures int
		want     time.Duration
	}{
		{0, 0}, {2, 0}, {3, time.Minute}, {4, 2 * time.Minute}, {5, 4 * time.Minute},
		{6, 5 * time.Minute}, {1000, 5 * time.Minute}, {1 << 62, 5 * time.Minute},
	} {
		e.wantEqual(testPolicy.LockFor(tc.failures), tc.want, fmt.Sprintf("LockFor(%d)", tc.failures))
	}
	noGrowth := storage.LoginLockPolicy{MaxFailures: 1, Lockout: time.Hour}
	e.wantEqual(noGrowth.LockFor(10), time.Hour, "LockFor without MaxLockout")
	huge := storage.LoginLockPolicy{MaxFailures: 1, Lockout: time.Hour, MaxLockout: 1<<63 - 1}
	if d := huge.LockFor(1 << 40); d <= 0 {
		e.t.Errorf("LockFor with an unbounded cap overflowed: %v", d)
	}
	e.wantEqual(storage.LoginLockPolicy{}.LockFor(100), time.Duration(0), "LockFor of the zero policy")
}

func testLoginThrottleCount(e *env) {
	_, err := e.s.LoginThrottle(e.ctx, "acct")
	e.wantNotFound(err, "LoginThrottle of an account without failures")

	t0 := e.clock.Now()
	th, counted := e.recordFailure("acct", testPolicy)
	if !counted {
		e.t.Fatal("first failure not counted")
	}
	e.wantEqual(th.Account, "acct", "Account")
	e.wantThrottle(th, 1, t0, time.Time{}, "after 1 failure")

	e.clock.Advance(time.Second)
	t1 := e.clock.Now()
	th, _ = e.recordFailure("acct", testPolicy)
	e.wantThrottle(th, 2, t1, time.Time{}, "after 2 failures")
	if th.Locked(t1) {
		e.t.Error("locked below MaxFailures")
	}

	got, err := e.s.LoginThrottle(e.ctx, "acct")
	e.must(err, "LoginThrottle")
	e.wantThrottle(got, 2, t1, time.Time{}, "stored")

	// Accounts are counted apart.
	other, _ := e.recordFailure("other", testPolicy)
	e.wantEqual(other.Failures, 1, "other account's failures")
}

func testLoginThrottleLock(e *env) {
	e.recordFailure("acct", testPolicy)
	e.recordFailure("acct", testPolicy)
	t0 := e.clock.Now()
	th, counted := e.recordFailure("acct", testPolicy)
	if !counted {
		e.t.Fatal("third failure not counted")
	}
	e.wantThrottle(th, 3, t0, t0.Add(time.Minute), "after MaxFailures")
	if !th.Locked(t0) || th.Locked(t0.Add(time.Minute)) {
		e.t.Errorf("Locked: want locked until %v, not after", th.LockedUntil)
	}
	got, err := e.s.LoginThrottle(e.ctx, "acct")
	e.must(err, "LoginThrottle")
	e.wantThrottle(got, 3, t0, t0.Add(time.Minute), "stored lock")

	// Failures during the lock change nothing.
	e.clock.Advance(30 * time.Second)
	th, counted = e.recordFailure("acct", testPolicy)
	if counted {
		e.t.Error("a failure during the lock was counted")
	}
	e.wantThrottle(th, 3, t0, t0.Add(time.Minute), "failure during the lock")

	// After the lock, each failure locks again for twice as long, up to
	// MaxLockout.
	e.clock.Advance(30 * time.Second) // the lock ends exactly now
	for i, want := range []time.Duration{2 * time.Minute, 4 * time.Minute, 5 * time.Minute, 5 * time.Minute} {
		at := e.clock.Now()
		th, counted = e.recordFailure("acct", testPolicy)
		if !counted {
			e.t.Fatalf("failure %d after a lock not counted", 4+i)
		}
		e.wantThrottle(th, 4+i, at, at.Add(want), fmt.Sprintf("failure %d", 4+i))
		e.clock.Advance(want)
	}
}

func testLoginThrottleReset(e *env) {
	e.recordFailure("acct", testPolicy)
	e.recordFailure("acct", testPolicy)
	// Exactly FailureReset later the previous failure still counts.
	e.clock.Advance(testPolicy.FailureReset)
	th, _ := e.recordFailure("acct", testPolicy)
	e.wantEqual(th.Failures, 3, "failures at exactly FailureReset")
	if th.LockedUntil.IsZero() {
		e.t.Fatal("not locked after 3 failures")
	}
	// Once the lock and the last failure are older than FailureReset, the
	// next failure is the first again, and the old lock is gone.
	e.clock.Advance(testPolicy.FailureReset + time.Minute + time.Second)
	at := e.clock.Now()
	th, counted := e.recordFailure("acct", testPolicy)
	if !counted {
		e.t.Fatal("failure after the reset not counted")
	}
	e.wantThrottle(th, 1, at, time.Time{}, "after the reset")
}

// A lock longer than FailureReset keeps the count: its end, not only the
// last failure, must be older than FailureReset.
func testLoginThrottleNoResetAfterLongLock(e *env) {
	policy := storage.LoginLockPolicy{MaxFailures: 1, Lockout: 2 * time.Hour, MaxLockout: 8 * time.Hour, FailureReset: time.Hour}
	t0 := e.clock.Now()
	th, _ := e.recordFailure("acct", policy)
	e.wantThrottle(th, 1, t0, t0.Add(2*time.Hour), "first failure")
	e.clock.Advance(2*time.Hour + time.Minute) // lock over, last failure 2h old
	at := e.clock.Now()
	th, counted := e.recordFailure("acct", policy)
	if !counted {
		e.t.Fatal("failure after the lock not counted")
	}
	e.wantThrottle(th, 2, at, at.Add(4*time.Hour), "second failure")
}

func testLoginThrottleClear(e *env) {
	got, err := e.s.ClearLoginThrottle(e.ctx, "nobody")
	e.must(err, "ClearLoginThrottle of an account without failures")
	if got != nil {
		e.t.Errorf("ClearLoginThrottle of nothing = %+v, want nil", got)
	}

	t0 := e.clock.Now()
	for range 3 {
		e.recordFailure("acct", testPolicy)
	}
	e.recordFailure("keep", testPolicy)
	got, err = e.s.ClearLoginThrottle(e.ctx, "acct")
	e.must(err, "ClearLoginThrottle")
	if got == nil {
		e.t.Fatal("ClearLoginThrottle returned nil for a locked account")
	}
	e.wantEqual(got.Account, "acct", "cleared Account")
	e.wantThrottle(got, 3, t0, t0.Add(time.Minute), "cleared state")
	if !got.Locked(t0) {
		e.t.Error("cleared state does not say it was locked")
	}
	_, err = e.s.LoginThrottle(e.ctx, "acct")
	e.wantNotFound(err, "LoginThrottle after ClearLoginThrottle")
	if _, err := e.s.LoginThrottle(e.ctx, "keep"); err != nil {
		e.t.Errorf("ClearLoginThrottle touched another account: %v", err)
	}

	// After clearing, the count starts at 1 and the account is not locked.
	th, counted := e.recordFailure("acct", testPolicy)
	if !counted {
		e.t.Fatal("failure after clearing not counted")
	}
	e.wantThrottle(th, 1, t0, time.Time{}, "after clearing")

	got, err = e.s.ClearLoginThrottle(e.ctx, "acct")
	e.must(err, "ClearLoginThrottle again")
	if got == nil || got.Locked(t0) {
		e.t.Errorf("ClearLoginThrottle of an unlocked account = %+v", got)
	}
}

// Concurrent failures of one account (as from several instances) all
// count.
func testLoginThrottleConcurrent(e *env) {
	policy := storage.LoginLockPolicy{MaxFailures: 1000, Lockout: time.Minute, MaxLockout: time.Hour, FailureReset: time.Hour}
	const n = 20
	counted := make([]bool, n)
	errs := parallel(n, func(i int) error {
		_, c, err := e.s.RecordLoginFailure(e.ctx, "acct", e.clock.Now(), policy)
		counted[i] = c
		return err
	})
	for i, err := range errs {
		e.must(err, fmt.Sprintf("concurrent RecordLoginFailure %d", i))
		if !counted[i] {
			e.t.Errorf("concurrent failure %d not counted", i)
		}
	}
	got, err := e.s.LoginThrottle(e.ctx, "acct")
	e.must(err, "LoginThrottle")
	e.wantEqual(got.Failures, n, "failures after concurrent failures")
}

// Concurrent failures stop counting at the one that locks the account:
// exactly MaxFailures count, and the lock is the first lock.
func testLoginThrottleConcurrentLock(e *env) {
	const n = 20
	now := e.clock.Now()
	counted := make([]bool, n)
	errs := parallel(n, func(i int) error {
		_, c, err := e.s.RecordLoginFailure(e.ctx, "acct", now, testPolicy)
		counted[i] = c
		return err
	})
	wins := 0
	for i, err := range errs {
		e.must(err, fmt.Sprintf("concurrent RecordLoginFailure %d", i))
		if counted[i] {
			wins++
		}
	}
	e.wantEqual(wins, testPolicy.MaxFailures, "counted concurrent failures")
	got, err := e.s.LoginThrottle(e.ctx, "acct")
	e.must(err, "LoginThrottle")
	e.wantThrottle(got, testPolicy.MaxFailures, now, now.Add(testPolicy.Lockout), "after concurrent failures")
}

func testLoginThrottleDeleteStale(e *env) {
	start := e.clock.Now()
	e.recordFailure("old", testPolicy)
	for range 3 {
		e.recordFailure("old-locked-long", storage.LoginLockPolicy{
			MaxFailures: 3, Lockout: 3 * time.Hour, MaxLockout: 3 * time.Hour, FailureReset: time.Hour,
		})
	}
	for range 3 {
		e.recordFailure("old-lock-over", testPolicy)
	}
	e.clock.Advance(2 * time.Hour)
	e.recordFailure("recent", testPolicy)

	n, err := e.s.DeleteStaleLoginThrottles(e.ctx, start.Add(time.Hour), 0)
	e.must(err, "DeleteStaleLoginThrottles")
	e.wantEqual(n, int64(2), "deleted rows")
	for account, want := range map[string]bool{"old": false, "old-lock-over": false, "old-locked-long": true, "recent": true} {
		_, err := e.s.LoginThrottle(e.ctx, account)
		switch {
		case want && err != nil:
			e.t.Errorf("%s: %v, want it kept", account, err)
		case !want && !errors.Is(err, storage.ErrNotFound):
			e.t.Errorf("%s: err %v, want it deleted", account, err)
		}
	}
}

func testLoginThrottleDeleteStaleBatches(e *env) {
	for i := range 5 {
		e.recordFailure(fmt.Sprintf("acct-%d", i), testPolicy)
	}
	e.clock.Advance(time.Hour)
	before := e.clock.Now()
	var total int64
	for _, want := range []int64{2, 2, 1, 0} {
		n, err := e.s.DeleteStaleLoginThrottles(e.ctx, before, 2)
		e.must(err, "DeleteStaleLoginThrottles")
		e.wantEqual(n, want, "batch size")
		total += n
	}
	e.wantEqual(total, int64(5), "deleted in total")
}
