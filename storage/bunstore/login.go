package bunstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/uptrace/bun"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// This file holds the failed password sign-ins per account
// (login_throttles), which back off and lock accounts across instances.

type loginThrottleModel struct {
	bun.BaseModel `bun:"table:login_throttles,alias:lt"`

	Account       string    `bun:"account,pk"`
	Failures      int       `bun:"failures"`
	LastFailureAt time.Time `bun:"last_failure_at"`
	LockedUntil   time.Time `bun:"locked_until,nullzero"`
}

func (m *loginThrottleModel) toDomain() *storage.LoginThrottle {
	t := &storage.LoginThrottle{
		Account:       m.Account,
		Failures:      m.Failures,
		LastFailureAt: m.LastFailureAt.UTC(),
	}
	if !m.LockedUntil.IsZero() {
		t.LockedUntil = m.LockedUntil.UTC()
	}
	return t
}

var errEmptyLoginAccount = errors.New("bunstore: login throttle: empty account")

// LoginThrottle returns ErrNotFound when account has no recorded failure.
func (s *Store) LoginThrottle(ctx context.Context, account string) (*storage.LoginThrottle, error) {
	m := new(loginThrottleModel)
	if err := s.reader(ctx).NewSelect().Model(m).Where("lt.account = ?", account).Scan(ctx); err != nil {
		return nil, mapErr("get login throttle", err)
	}
	return m.toDomain(), nil
}

// RecordLoginFailure counts a failure in one transaction of two
// statements: an INSERT ... ON CONFLICT DO UPDATE ... RETURNING that adds
// the failure (the same SQL in both dialects), then, when the new count
// reaches the policy's limit, an UPDATE that sets the lock. The upsert
// holds the row (PostgreSQL's row lock until commit, SQLite's single
// writer), so concurrent failures of one account queue behind it and each
// sees the count and lock of the one before: none is lost, and none is
// counted once the lock is set. Computing the lock in Go keeps the
// back-off arithmetic out of dialect-specific date functions.
func (s *Store) RecordLoginFailure(ctx context.Context, account string, at time.Time, policy storage.LoginLockPolicy) (*storage.LoginThrottle, bool, error) {
	const op = "record login failure"
	if account == "" {
		return nil, false, errEmptyLoginAccount
	}
	if at.IsZero() {
		at = s.now()
	}
	at = dbTime(at)
	// A failure counts as the first again when both the previous failure
	// and the end of its lock are older than this.
	resetBefore := at
	if policy.FailureReset > 0 {
		resetBefore = dbTime(at.Add(-policy.FailureReset))
	}
	var out *storage.LoginThrottle
	counted := false
	err := s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		m := new(loginThrottleModel)
		// The DO UPDATE's WHERE skips (and RETURNING then yields no row)
		// when the account is locked at at. last_failure_at only moves
		// forward, in case instances' clocks disagree.
		err := db.NewRaw(`INSERT INTO login_throttles AS lt (account, failures, last_failure_at, locked_until)
VALUES (?, 1, ?, NULL)
ON CONFLICT (account) DO UPDATE SET
	failures = CASE
		WHEN lt.last_failure_at < ? AND (lt.locked_until IS NULL OR lt.locked_until < ?) THEN 1
		ELSE lt.failures + 1 END,
	last_failure_at = CASE
		WHEN lt.last_failure_at > excluded.last_failure_at THEN lt.last_failure_at
		ELSE excluded.last_failure_at END,
	locked_until = NULL
WHERE lt.locked_until IS NULL OR lt.locked_until <= ?
RETURNING account, failures, last_failure_at, locked_until`,
			account, at, resetBefore, resetBefore, at,
		).Scan(ctx, m)
		if errors.Is(err, sql.ErrNoRows) {
			// Locked: nothing was counted; report the lock in force.
			cur := new(loginThrottleModel)
			if err := db.NewSelect().Model(cur).Where("lt.account = ?", account).Scan(ctx); err != nil {
				return mapErr(op+": read lock", err)
			}
			out = cur.toDomain()
			return nil
		}
		if err != nil {
			return mapErr(op, err)
		}
		counted = true
		out = m.toDomain()
		if lock := policy.LockFor(m.Failures); lock > 0 {
			out.LockedUntil = dbTime(at.Add(lock))
			_, err := db.NewUpdate().Model((*loginThrottleModel)(nil)).
				Set("locked_until = ?", out.LockedUntil).
				Where("account = ?", account).
				Exec(ctx)
			if err != nil {
				return mapErr(op+": lock", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return out, counted, nil
}

// ClearLoginThrottle deletes the row of account in one DELETE ...
// RETURNING (both dialects) and returns what it held; nil, nil when there
// was none.
func (s *Store) ClearLoginThrottle(ctx context.Context, account string) (*storage.LoginThrottle, error) {
	m := new(loginThrottleModel)
	err := s.db(ctx).NewDelete().Model(m).
		Where("account = ?", account).
		Returning("account, failures, last_failure_at, locked_until").
		Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, mapErr("clear login throttle", err)
	}
	return m.toDomain(), nil
}

// DeleteStaleLoginThrottles deletes up to batch rows (defaultDeleteBatch
// when batch <= 0) whose last failure is older than before and that are
// not locked at before.
func (s *Store) DeleteStaleLoginThrottles(ctx context.Context, before time.Time, batch int) (int64, error) {
	const op = "delete stale login throttles"
	if batch <= 0 {
		batch = defaultDeleteBatch
	}
	cutoff := dbTime(before)
	// DELETE ... LIMIT is not portable; a sub-select on the primary key is
	// (as in DeleteExpired).
	res, err := s.db(ctx).NewRaw(`DELETE FROM login_throttles WHERE account IN (
	SELECT account FROM login_throttles
	WHERE last_failure_at < ? AND (locked_until IS NULL OR locked_until < ?)
	LIMIT ?)`,
		cutoff, cutoff, batch,
	).Exec(ctx)
	if err != nil {
		return 0, mapErr(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, mapErr(op, err)
	}
	return n, nil
}
