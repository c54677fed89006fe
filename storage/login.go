package storage

import (
	"context"
	"time"
)

// LoginThrottleKey names one record of failed password sign-ins: the
// account-wide record of an e-mail (Device "": what every browser not
// known to the account is judged by), or the record of one browser that
// has signed in to the account before (Device: the hash of its device
// cookie's nonce), which is judged by its own failures only.
type LoginThrottleKey struct {
	// Account is the hex SHA-256 of the lower-cased, trimmed e-mail that
	// was typed (also for e-mails of no account: attempts on them are
	// throttled alike, and the typed text is never stored).
	Account string
	// Device is "" for the account-wide record.
	Device string
}

// LoginThrottle is the failed password sign-ins of one record, kept in
// the database so that every instance sees the same count and lock.
type LoginThrottle struct {
	LoginThrottleKey
	// Failures is the number of failures that counted since the record
	// started or its last lock ended.
	Failures int
	// Locks is how many locks in a row the record has had (without a
	// quiet period of the policy's FailureReset between them); each one
	// doubles the next.
	Locks int
	// LastFailureAt is when the last counted failure happened.
	LastFailureAt time.Time
	// LockedUntil is the end of the lock in force or last ended; zero
	// once a failure after that lock has counted.
	LockedUntil time.Time
}

// Locked reports whether the record is locked at now.
func (t *LoginThrottle) Locked(now time.Time) bool {
	return t != nil && now.Before(t.LockedUntil)
}

// LoginLockPolicy says when failed sign-ins lock a record and for how
// long. MaxFailures failures lock it for Lockout. Once a lock has ended
// the count starts over: the next lock takes MaxFailures new failures, so
// a lock never follows a single failure after one. Each lock in a row
// lasts twice as long as the one before, up to MaxLockout. A failure more
// than FailureReset after the previous one and after the end of the last
// lock starts everything over (the count at 1, no earlier locks).
type LoginLockPolicy struct {
	MaxFailures  int
	Lockout      time.Duration
	MaxLockout   time.Duration
	FailureReset time.Duration
}

// locks reports whether the policy locks at all (MaxFailures < 1 or
// Lockout <= 0: never).
func (p LoginLockPolicy) locks() bool {
	return p.MaxFailures >= 1 && p.Lockout > 0
}

// LocksAfter reports whether a count of failures failures sets a lock.
func (p LoginLockPolicy) LocksAfter(failures int) bool {
	return p.locks() && failures >= p.MaxFailures
}

// LockFor returns how long a lock lasts that follows earlier locks in a
// row: Lockout doubled once per earlier lock, up to MaxLockout (a
// MaxLockout below Lockout means the lock never grows); 0 when the
// policy never locks.
func (p LoginLockPolicy) LockFor(earlier int) time.Duration {
	if !p.locks() {
		return 0
	}
	limit := max(p.MaxLockout, p.Lockout)
	d := p.Lockout
	// Doubling step by step rather than shifting: a large count reaches the
	// cap instead of overflowing into a negative duration.
	for i := 0; i < earlier && d < limit; i++ {
		if d > limit/2 {
			return limit
		}
		d *= 2
	}
	return min(d, limit)
}

// LoginThrottleStore keeps failed password sign-ins per account and per
// known browser of an account.
type LoginThrottleStore interface {
	// LoginThrottle returns the record of key; ErrNotFound when it has no
	// recorded failure.
	LoginThrottle(ctx context.Context, key LoginThrottleKey) (*LoginThrottle, error)
	// RecordLoginFailure counts a failed sign-in on the record of key at
	// at, under policy (see LoginLockPolicy), atomically across instances
	// (concurrent failures all count) and returns the record afterwards.
	// Reaching policy.MaxFailures sets LockedUntil to at +
	// policy.LockFor(Locks) and adds one to Locks.
	//
	// A failure while the record is locked at at is not counted and
	// changes nothing (counted false): an attacker who keeps guessing
	// cannot keep the owner locked out for longer than the lock in force.
	RecordLoginFailure(ctx context.Context, key LoginThrottleKey, at time.Time, policy LoginLockPolicy) (t *LoginThrottle, counted bool, err error)
	// ClearLoginThrottle forgets the failures of the one record of key (a
	// successful sign-in judged by it) and returns the state it had, or
	// nil when it had none (not an error).
	ClearLoginThrottle(ctx context.Context, key LoginThrottleKey) (*LoginThrottle, error)
	// ClearAccountLoginThrottles forgets the failures of account: its
	// account-wide record and the records of all its known browsers (an
	// operator's unlock, a password reset). It returns the account-wide
	// record it had (nil when none) and how many browser records went.
	ClearAccountLoginThrottles(ctx context.Context, account string) (*LoginThrottle, int, error)
	// DeleteStaleLoginThrottles deletes, at most batch at a time, the
	// records (account-wide and of browsers) whose last failure is older
	// than before and that are not locked (LockedUntil zero or before
	// before), and reports how many went. before is typically now minus
	// the policy's FailureReset: such records no longer count.
	DeleteStaleLoginThrottles(ctx context.Context, before time.Time, batch int) (int64, error)
}
