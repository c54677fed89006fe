package storage

import (
	"context"
	"time"
)

// LoginThrottle is the failed password sign-ins of one account, kept in
// the database so that every instance sees the same count and lock.
type LoginThrottle struct {
	// Account is the hex SHA-256 of the lower-cased, trimmed e-mail that
	// was typed (also for e-mails of no account: attempts on them are
	// throttled alike, and the typed text is never stored).
	Account string
	// Failures is the number of failures in a row that counted.
	Failures int
	// LastFailureAt is when the last counted failure happened.
	LastFailureAt time.Time
	// LockedUntil is the end of the current or last lock; zero when the
	// account has not been locked since its count last started.
	LockedUntil time.Time
}

// Locked reports whether the account is locked at now.
func (t *LoginThrottle) Locked(now time.Time) bool {
	return t != nil && now.Before(t.LockedUntil)
}

// LoginLockPolicy says when failed sign-ins lock an account and for how
// long: MaxFailures failures in a row lock it for Lockout, each further
// failure doubles the lock (Lockout * 2^(failures-MaxFailures)) up to
// MaxLockout, and a failure more than FailureReset after the previous one
// (and after the end of its lock) starts the count again at 1.
type LoginLockPolicy struct {
	MaxFailures  int
	Lockout      time.Duration
	MaxLockout   time.Duration
	FailureReset time.Duration
}

// LockFor returns how long an account with failures failures in a row is
// locked: 0 below MaxFailures (or when MaxFailures < 1: no locking). A
// MaxLockout below Lockout means the lock never grows.
func (p LoginLockPolicy) LockFor(failures int) time.Duration {
	if p.MaxFailures < 1 || failures < p.MaxFailures || p.Lockout <= 0 {
		return 0
	}
	limit := max(p.MaxLockout, p.Lockout)
	d := p.Lockout
	// Doubling step by step rather than shifting: a large count reaches the
	// cap instead of overflowing into a negative duration.
	for i := p.MaxFailures; i < failures && d < limit; i++ {
		if d > limit/2 {
			return limit
		}
		d *= 2
	}
	return min(d, limit)
}

// LoginThrottleStore keeps failed password sign-ins per account.
type LoginThrottleStore interface {
	// LoginThrottle returns the state of account; ErrNotFound when it has
	// no recorded failure.
	LoginThrottle(ctx context.Context, account string) (*LoginThrottle, error)
	// RecordLoginFailure counts a failed sign-in of account at at, under
	// policy, atomically across instances (concurrent failures all count)
	// and returns the state afterwards. A failure more than
	// policy.FailureReset after the previous one (and after the end of its
	// lock) counts as the first; reaching policy.MaxFailures sets
	// LockedUntil to at + policy.LockFor(failures).
	//
	// A failure while the account is locked at at is not counted and
	// changes nothing (counted false): an attacker who keeps guessing
	// cannot keep the owner locked out for longer than the lock in force.
	RecordLoginFailure(ctx context.Context, account string, at time.Time, policy LoginLockPolicy) (t *LoginThrottle, counted bool, err error)
	// ClearLoginThrottle forgets the failures of account (a successful
	// sign-in, an operator's unlock) and returns the state it had, or nil
	// when it had none (not an error).
	ClearLoginThrottle(ctx context.Context, account string) (*LoginThrottle, error)
	// DeleteStaleLoginThrottles deletes, at most batch at a time, the rows
	// whose last failure is older than before and that are not locked
	// (LockedUntil zero or before before), and reports how many went.
	// before is typically now minus the policy's FailureReset: such rows
	// no longer count.
	DeleteStaleLoginThrottles(ctx context.Context, before time.Time, batch int) (int64, error)
}
