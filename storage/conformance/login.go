package conformance

import (
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// Failed password sign-ins per account and per known browser of an
// account: counting, locks that need a new count each and double in a
// row, reset after a quiet period, clearing (one record, or an account
// with all its browsers) and the janitor's deletion, with the count
// shared by every caller (instance) of the database.

func loginThrottleTests() []test {
	return []test{
		{"LockFor", testLoginLockFor},
		{"CountAndGet", testLoginThrottleCount},
		{"LockAndBackOff", testLoginThrottleLock},
		{"NoLockOnOneFailureAfterALock", testLoginThrottleNoLockOnOneFailure},
		{"ResetAfterFailureReset", testLoginThrottleReset},
		{"NoResetWhileRecentlyLocked", testLoginThrottleNoResetAfterLongLock},
		{"DevicesCountApart", testLoginThrottleDevices},
		{"Clear", testLoginThrottleClear},
		{"ClearAccount", testLoginThrottleClearAccount},
		{"InvalidKey", testLoginThrottleInvalidKey},
		{"ConcurrentFailuresAllCount", testLoginThrottleConcurrent},
		{"ConcurrentFailuresStopAtTheLock", testLoginThrottleConcurrentLock},
		{"DeleteStale", testLoginThrottleDeleteStale},
		{"DeleteStaleInBatches", testLoginThrottleDeleteStaleBatches},
	}
}

// testPolicy locks after 3 failures for 1m, doubling per lock in a row up
// to 5m; a failure a day after the previous one (and the last lock)
// starts over.
var testPolicy = storage.LoginLockPolicy{
	MaxFailures: 3, Lockout: time.Minute, MaxLockout: 5 * time.Minute, FailureReset: 24 * time.Hour,
}

// acct is the account-wide record of "acct".
var acct = storage.LoginThrottleKey{Account: "acct"}

func (e *env) recordFailure(key storage.LoginThrottleKey, policy storage.LoginLockPolicy) (*storage.LoginThrottle, bool) {
	e.t.Helper()
	th, counted, err := e.s.RecordLoginFailure(e.ctx, key, e.clock.Now(), policy)
	e.must(err, "RecordLoginFailure")
	if th == nil {
		e.t.Fatal("RecordLoginFailure returned no state")
	}
	return th, counted
}

// recordCounted records a failure that must count (what names it).
func (e *env) recordCounted(key storage.LoginThrottleKey, policy storage.LoginLockPolicy, what string) *storage.LoginThrottle {
	e.t.Helper()
	th, counted := e.recordFailure(key, policy)
	if !counted {
		e.t.Fatalf("%s not counted: %+v", what, th)
	}
	return th
}

// recordFailures records n failures that must count, one second apart,
// and returns the state after the last.
func (e *env) recordFailures(key storage.LoginThrottleKey, policy storage.LoginLockPolicy, n int) *storage.LoginThrottle {
	e.t.Helper()
	var th *storage.LoginThrottle
	for i := range n {
		if i > 0 {
			e.clock.Advance(time.Second)
		}
		th = e.recordCounted(key, policy, fmt.Sprintf("failure %d of %d", i+1, n))
	}
	return th
}

func (e *env) wantThrottle(got *storage.LoginThrottle, failures, locks int, last, lockedUntil time.Time, what string) {
	e.t.Helper()
	e.wantEqual(got.Failures, failures, what+" failures")
	e.wantEqual(got.Locks, locks, what+" locks")
	e.wantTime(got.LastFailureAt, last, what+" LastFailureAt")
	e.wantTime(got.LockedUntil, lockedUntil, what+" LockedUntil")
}

func (e *env) getThrottle(key storage.LoginThrottleKey) *storage.LoginThrottle {
	e.t.Helper()
	th, err := e.s.LoginThrottle(e.ctx, key)
	e.must(err, "LoginThrottle")
	return th
}

// LockFor and LocksAfter are pure arithmetic, but every backend relies on
// them.
func testLoginLockFor(e *env) {
	for _, tc := range []struct {
		earlier int
		want    time.Duration
	}{
		{0, time.Minute}, {1, 2 * time.Minute}, {2, 4 * time.Minute},
		{3, 5 * time.Minute}, {1000, 5 * time.Minute}, {1 << 62, 5 * time.Minute},
	} {
		e.wantEqual(testPolicy.LockFor(tc.earlier), tc.want, fmt.Sprintf("LockFor(%d)", tc.earlier))
	}
	for failures, want := range map[int]bool{0: false, 2: false, 3: true, 4: true} {
		e.wantEqual(testPolicy.LocksAfter(failures), want, fmt.Sprintf("LocksAfter(%d)", failures))
	}
	noGrowth := storage.LoginLockPolicy{MaxFailures: 1, Lockout: time.Hour}
	e.wantEqual(noGrowth.LockFor(10), time.Hour, "LockFor without MaxLockout")
	huge := storage.LoginLockPolicy{MaxFailures: 1, Lockout: time.Hour, MaxLockout: 1<<63 - 1}
	if d := huge.LockFor(1 << 40); d <= 0 {
		e.t.Errorf("LockFor with an unbounded cap overflowed: %v", d)
	}
	e.wantEqual(storage.LoginLockPolicy{}.LockFor(0), time.Duration(0), "LockFor of the zero policy")
	e.wantEqual(storage.LoginLockPolicy{}.LocksAfter(100), false, "LocksAfter of the zero policy")
}

func testLoginThrottleCount(e *env) {
	_, err := e.s.LoginThrottle(e.ctx, acct)
	e.wantNotFound(err, "LoginThrottle of an account without failures")

	t0 := e.clock.Now()
	th := e.recordCounted(acct, testPolicy, "first failure")
	e.wantEqual(th.LoginThrottleKey, acct, "key")
	e.wantThrottle(th, 1, 0, t0, time.Time{}, "after 1 failure")

	e.clock.Advance(time.Second)
	t1 := e.clock.Now()
	th, _ = e.recordFailure(acct, testPolicy)
	e.wantThrottle(th, 2, 0, t1, time.Time{}, "after 2 failures")
	if th.Locked(t1) {
		e.t.Error("locked below MaxFailures")
	}
	got := e.getThrottle(acct)
	e.wantEqual(got.LoginThrottleKey, acct, "stored key")
	e.wantThrottle(got, 2, 0, t1, time.Time{}, "stored")

	// Accounts are counted apart.
	other, _ := e.recordFailure(storage.LoginThrottleKey{Account: "other"}, testPolicy)
	e.wantEqual(other.Failures, 1, "other account's failures")
}

func testLoginThrottleLock(e *env) {
	th := e.recordFailures(acct, testPolicy, 3)
	t0 := e.clock.Now()
	e.wantThrottle(th, 3, 1, t0, t0.Add(time.Minute), "after MaxFailures")
	if !th.Locked(t0) || th.Locked(t0.Add(time.Minute)) {
		e.t.Errorf("Locked: want locked until %v, not after", th.LockedUntil)
	}
	e.wantThrottle(e.getThrottle(acct), 3, 1, t0, t0.Add(time.Minute), "stored lock")

	// Failures during the lock change nothing.
	e.clock.Advance(30 * time.Second)
	th, counted := e.recordFailure(acct, testPolicy)
	if counted {
		e.t.Error("a failure during the lock was counted")
	}
	e.wantThrottle(th, 3, 1, t0, t0.Add(time.Minute), "failure during the lock")

	// After each lock a new count of MaxFailures locks again, twice as long
	// as the lock before, up to MaxLockout.
	e.clock.Advance(30 * time.Second) // the lock ends exactly now
	for i, want := range []time.Duration{2 * time.Minute, 4 * time.Minute, 5 * time.Minute, 5 * time.Minute} {
		th = e.recordFailures(acct, testPolicy, 3)
		at := e.clock.Now()
		e.wantThrottle(th, 3, 2+i, at, at.Add(want), fmt.Sprintf("lock %d", 2+i))
		e.clock.Advance(want)
	}
}

// The weapon this closes: after a lock, one failure used to lock again
// (for twice as long), so an attacker needed one request per lock to keep
// the owner out for ever. Now the count starts over after a lock.
func testLoginThrottleNoLockOnOneFailure(e *env) {
	e.recordFailures(acct, testPolicy, 3)
	lockedUntil := e.clock.Now().Add(time.Minute)
	e.clock.Advance(time.Minute)
	at := e.clock.Now()
	th := e.recordCounted(acct, testPolicy, "the first failure after the lock")
	e.wantThrottle(th, 1, 1, at, time.Time{}, "one failure after the lock")
	if th.Locked(at) {
		e.t.Fatalf("one failure after a lock (until %v) locked again: %+v", lockedUntil, th)
	}
	e.clock.Advance(time.Second)
	th, _ = e.recordFailure(acct, testPolicy)
	e.wantThrottle(th, 2, 1, e.clock.Now(), time.Time{}, "two failures after the lock")
}

func testLoginThrottleReset(e *env) {
	e.recordFailures(acct, testPolicy, 2)
	// Exactly FailureReset later the previous failure still counts.
	e.clock.Advance(testPolicy.FailureReset)
	th, _ := e.recordFailure(acct, testPolicy)
	e.wantEqual(th.Failures, 3, "failures at exactly FailureReset")
	if th.LockedUntil.IsZero() {
		e.t.Fatal("not locked after 3 failures")
	}
	// Once the lock and the last failure are older than FailureReset,
	// everything starts over: the count is 1, the earlier lock is
	// forgotten, and the next lock is the first again.
	e.clock.Advance(testPolicy.FailureReset + time.Minute + time.Second)
	at := e.clock.Now()
	th = e.recordCounted(acct, testPolicy, "failure after the reset")
	e.wantThrottle(th, 1, 0, at, time.Time{}, "after the reset")
	th = e.recordFailures(acct, testPolicy, 2)
	e.wantThrottle(th, 3, 1, e.clock.Now(), e.clock.Now().Add(testPolicy.Lockout), "the first lock after the reset")
}

// A lock longer than FailureReset keeps the lock count: its end, not only
// the last failure, must be older than FailureReset.
func testLoginThrottleNoResetAfterLongLock(e *env) {
	policy := storage.LoginLockPolicy{MaxFailures: 1, Lockout: 2 * time.Hour, MaxLockout: 8 * time.Hour, FailureReset: time.Hour}
	t0 := e.clock.Now()
	th, _ := e.recordFailure(acct, policy)
	e.wantThrottle(th, 1, 1, t0, t0.Add(2*time.Hour), "first failure")
	e.clock.Advance(2*time.Hour + time.Minute) // lock over, last failure 2h old
	at := e.clock.Now()
	th = e.recordCounted(acct, policy, "failure after the lock")
	e.wantThrottle(th, 1, 2, at, at.Add(4*time.Hour), "second failure")
}

// A known browser's record counts and locks apart from its account's
// record and from the account's other browsers.
func testLoginThrottleDevices(e *env) {
	laptop := storage.LoginThrottleKey{Account: "acct", Device: "laptop"}
	phone := storage.LoginThrottleKey{Account: "acct", Device: "phone"}
	_, err := e.s.LoginThrottle(e.ctx, laptop)
	e.wantNotFound(err, "LoginThrottle of a browser without failures")

	e.recordFailures(acct, testPolicy, 3)
	at := e.clock.Now()
	th := e.recordCounted(laptop, testPolicy, "a browser's failure while its account is locked")
	e.wantEqual(th.LoginThrottleKey, laptop, "browser key")
	e.wantThrottle(th, 1, 0, at, time.Time{}, "browser after 1 failure")

	th = e.recordFailures(laptop, testPolicy, 2)
	e.wantThrottle(th, 3, 1, e.clock.Now(), e.clock.Now().Add(time.Minute), "browser after MaxFailures")
	got := e.getThrottle(laptop)
	e.wantEqual(got.LoginThrottleKey, laptop, "stored browser key")
	e.wantThrottle(got, 3, 1, e.clock.Now(), e.clock.Now().Add(time.Minute), "stored browser lock")

	th, _ = e.recordFailure(phone, testPolicy)
	e.wantThrottle(th, 1, 0, e.clock.Now(), time.Time{}, "another browser of the account")
	e.wantEqual(e.getThrottle(acct).Failures, 3, "the account's failures after its browsers' failures")
}

func testLoginThrottleClear(e *env) {
	got, err := e.s.ClearLoginThrottle(e.ctx, storage.LoginThrottleKey{Account: "nobody"})
	e.must(err, "ClearLoginThrottle of an account without failures")
	if got != nil {
		e.t.Errorf("ClearLoginThrottle of nothing = %+v, want nil", got)
	}

	keep := storage.LoginThrottleKey{Account: "keep"}
	laptop := storage.LoginThrottleKey{Account: "acct", Device: "laptop"}
	e.recordFailures(acct, testPolicy, 3)
	t0 := e.clock.Now()
	e.recordFailure(keep, testPolicy)
	e.recordFailure(laptop, testPolicy)
	got, err = e.s.ClearLoginThrottle(e.ctx, acct)
	e.must(err, "ClearLoginThrottle")
	if got == nil {
		e.t.Fatal("ClearLoginThrottle returned nil for a locked account")
	}
	e.wantEqual(got.LoginThrottleKey, acct, "cleared key")
	e.wantThrottle(got, 3, 1, t0, t0.Add(time.Minute), "cleared state")
	if !got.Locked(t0) {
		e.t.Error("cleared state does not say it was locked")
	}
	_, err = e.s.LoginThrottle(e.ctx, acct)
	e.wantNotFound(err, "LoginThrottle after ClearLoginThrottle")
	for _, k := range []storage.LoginThrottleKey{keep, laptop} {
		if _, err := e.s.LoginThrottle(e.ctx, k); err != nil {
			e.t.Errorf("ClearLoginThrottle touched %+v: %v", k, err)
		}
	}

	// After clearing, the count starts at 1 and the account is not locked.
	th := e.recordCounted(acct, testPolicy, "failure after clearing")
	e.wantThrottle(th, 1, 0, t0, time.Time{}, "after clearing")

	// A browser's record clears alone.
	got, err = e.s.ClearLoginThrottle(e.ctx, laptop)
	e.must(err, "ClearLoginThrottle of a browser")
	if got == nil || got.LoginThrottleKey != laptop || got.Failures != 1 {
		e.t.Errorf("ClearLoginThrottle of a browser = %+v", got)
	}
	e.wantEqual(e.getThrottle(acct).Failures, 1, "the account's failures after clearing a browser")
}

// Clearing an account (unlock, password reset) clears its record and all
// its browsers' records, and nothing of other accounts.
func testLoginThrottleClearAccount(e *env) {
	th, devices, err := e.s.ClearAccountLoginThrottles(e.ctx, "acct")
	e.must(err, "ClearAccountLoginThrottles of nothing")
	if th != nil || devices != 0 {
		e.t.Errorf("ClearAccountLoginThrottles of nothing = %+v, %d", th, devices)
	}

	other := storage.LoginThrottleKey{Account: "other"}
	otherLaptop := storage.LoginThrottleKey{Account: "other", Device: "laptop"}
	e.recordFailures(acct, testPolicy, 3)
	t0 := e.clock.Now()
	for _, k := range []storage.LoginThrottleKey{
		{Account: "acct", Device: "laptop"}, {Account: "acct", Device: "phone"}, other, otherLaptop,
	} {
		e.recordFailure(k, testPolicy)
	}
	th, devices, err = e.s.ClearAccountLoginThrottles(e.ctx, "acct")
	e.must(err, "ClearAccountLoginThrottles")
	if th == nil {
		e.t.Fatal("ClearAccountLoginThrottles returned no account record")
	}
	e.wantEqual(th.LoginThrottleKey, acct, "cleared key")
	e.wantThrottle(th, 3, 1, t0, t0.Add(time.Minute), "cleared account record")
	e.wantEqual(devices, 2, "cleared browser records")
	for _, k := range []storage.LoginThrottleKey{acct, {Account: "acct", Device: "laptop"}, {Account: "acct", Device: "phone"}} {
		_, err := e.s.LoginThrottle(e.ctx, k)
		e.wantNotFound(err, fmt.Sprintf("%+v after ClearAccountLoginThrottles", k))
	}
	for _, k := range []storage.LoginThrottleKey{other, otherLaptop} {
		if _, err := e.s.LoginThrottle(e.ctx, k); err != nil {
			e.t.Errorf("ClearAccountLoginThrottles touched %+v: %v", k, err)
		}
	}

	// Browser records alone (the account-wide record has none) clear too.
	e.recordFailure(storage.LoginThrottleKey{Account: "acct", Device: "laptop"}, testPolicy)
	th, devices, err = e.s.ClearAccountLoginThrottles(e.ctx, "acct")
	e.must(err, "ClearAccountLoginThrottles of browser records only")
	if th != nil || devices != 1 {
		e.t.Errorf("ClearAccountLoginThrottles of browser records only = %+v, %d", th, devices)
	}
}

// An empty account, or one with the separator of browser records, is
// refused: it could name another record.
func testLoginThrottleInvalidKey(e *env) {
	for _, k := range []storage.LoginThrottleKey{{}, {Device: "laptop"}, {Account: "acct/laptop"}} {
		if _, _, err := e.s.RecordLoginFailure(e.ctx, k, e.clock.Now(), testPolicy); err == nil {
			e.t.Errorf("RecordLoginFailure(%+v) succeeded", k)
		}
		if _, err := e.s.ClearLoginThrottle(e.ctx, k); err == nil {
			e.t.Errorf("ClearLoginThrottle(%+v) succeeded", k)
		}
	}
	if _, _, err := e.s.ClearAccountLoginThrottles(e.ctx, ""); err == nil {
		e.t.Error("ClearAccountLoginThrottles of the empty account succeeded")
	}
}

// Concurrent failures of one record (as from several instances) all
// count.
func testLoginThrottleConcurrent(e *env) {
	policy := storage.LoginLockPolicy{MaxFailures: 1000, Lockout: time.Minute, MaxLockout: time.Hour, FailureReset: time.Hour}
	const n = 20
	counted := make([]bool, n)
	errs := parallel(n, func(i int) error {
		_, c, err := e.s.RecordLoginFailure(e.ctx, acct, e.clock.Now(), policy)
		counted[i] = c
		return err
	})
	for i, err := range errs {
		e.must(err, fmt.Sprintf("concurrent RecordLoginFailure %d", i))
		if !counted[i] {
			e.t.Errorf("concurrent failure %d not counted", i)
		}
	}
	e.wantEqual(e.getThrottle(acct).Failures, n, "failures after concurrent failures")
}

// Concurrent failures stop counting at the one that locks the record:
// exactly MaxFailures count, and the lock is the first lock.
func testLoginThrottleConcurrentLock(e *env) {
	const n = 20
	now := e.clock.Now()
	counted := make([]bool, n)
	errs := parallel(n, func(i int) error {
		_, c, err := e.s.RecordLoginFailure(e.ctx, acct, now, testPolicy)
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
	e.wantThrottle(e.getThrottle(acct), testPolicy.MaxFailures, 1, now, now.Add(testPolicy.Lockout), "after concurrent failures")
}

func testLoginThrottleDeleteStale(e *env) {
	start := e.clock.Now()
	e.recordFailure(storage.LoginThrottleKey{Account: "old"}, testPolicy)
	e.recordFailure(storage.LoginThrottleKey{Account: "old", Device: "laptop"}, testPolicy)
	for range 3 {
		e.recordFailure(storage.LoginThrottleKey{Account: "old-locked-long"}, storage.LoginLockPolicy{
			MaxFailures: 3, Lockout: 3 * time.Hour, MaxLockout: 3 * time.Hour, FailureReset: time.Hour,
		})
	}
	for range 3 {
		e.recordFailure(storage.LoginThrottleKey{Account: "old-lock-over"}, testPolicy)
	}
	e.clock.Advance(2 * time.Hour)
	e.recordFailure(storage.LoginThrottleKey{Account: "recent"}, testPolicy)
	e.recordFailure(storage.LoginThrottleKey{Account: "old", Device: "phone"}, testPolicy)

	n, err := e.s.DeleteStaleLoginThrottles(e.ctx, start.Add(time.Hour), 0)
	e.must(err, "DeleteStaleLoginThrottles")
	e.wantEqual(n, int64(3), "deleted rows")
	for key, want := range map[storage.LoginThrottleKey]bool{
		{Account: "old"}: false, {Account: "old", Device: "laptop"}: false, {Account: "old-lock-over"}: false,
		{Account: "old-locked-long"}: true, {Account: "recent"}: true, {Account: "old", Device: "phone"}: true,
	} {
		_, err := e.s.LoginThrottle(e.ctx, key)
		switch {
		case want && err != nil:
			e.t.Errorf("%+v: %v, want it kept", key, err)
		case !want && !errors.Is(err, storage.ErrNotFound):
			e.t.Errorf("%+v: err %v, want it deleted", key, err)
		}
	}
}

func testLoginThrottleDeleteStaleBatches(e *env) {
	for i := range 5 {
		e.recordFailure(storage.LoginThrottleKey{Account: fmt.Sprintf("acct-%d", i)}, testPolicy)
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
