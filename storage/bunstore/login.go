package bunstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// This file holds the failed password sign-ins (login_throttles), which
// back off and lock across instances: one row per account (the
// account-wide record) and one per known browser of an account, keyed
// "<account>/<device>" with device_of naming the account.

type loginThrottleModel struct {
	bun.BaseModel `bun:"table:login_throttles,alias:lt"`

	Account       string    `bun:"account,pk"`
	DeviceOf      string    `bun:"device_of,nullzero"`
	Failures      int       `bun:"failures"`
	Locks         int       `bun:"locks"`
	LastFailureAt time.Time `bun:"last_failure_at"`
	LockedUntil   time.Time `bun:"locked_until,nullzero"`
}

// loginThrottleColumns are the columns RETURNING gives back.
const loginThrottleColumns = "account, device_of, failures, locks, last_failure_at, locked_until"

func (m *loginThrottleModel) toDomain() *storage.LoginThrottle {
	t := &storage.LoginThrottle{
		LoginThrottleKey: storage.LoginThrottleKey{Account: m.Account},
		Failures:         m.Failures,
		Locks:            m.Locks,
		LastFailureAt:    m.LastFailureAt.UTC(),
	}
	if m.DeviceOf != "" {
		t.Account = m.DeviceOf
		t.Device = strings.TrimPrefix(m.Account, m.DeviceOf+"/")
	}
	if !m.LockedUntil.IsZero() {
		t.LockedUntil = m.LockedUntil.UTC()
	}
	return t
}

var errInvalidLoginThrottleKey = errors.New("login throttle: empty account, or a '/' in it")

// loginThrottleRow returns the row key of key and its device_of (nil for
// the account-wide record). The account is a hash, so it has no '/' and
// "<account>/<device>" never names another account's row.
func loginThrottleRow(key storage.LoginThrottleKey) (string, any, error) {
	if key.Account == "" || strings.Contains(key.Account, "/") {
		return "", nil, errInvalidLoginThrottleKey
	}
	if key.Device == "" {
		return key.Account, nil, nil
	}
	return key.Account + "/" + key.Device, key.Account, nil
}

// LoginThrottle returns ErrNotFound when key has no recorded failure.
func (s *Store) LoginThrottle(ctx context.Context, key storage.LoginThrottleKey) (*storage.LoginThrottle, error) {
	row, _, err := loginThrottleRow(key)
	if err != nil {
		return nil, err
	}
	m := new(loginThrottleModel)
	if err := s.reader(ctx).NewSelect().Model(m).Where("lt.account = ?", row).Scan(ctx); err != nil {
		return nil, mapErr("get login throttle", err)
	}
	return m.toDomain(), nil
}

// RecordLoginFailure counts a failure in one transaction of two
// statements: an INSERT ... ON CONFLICT DO UPDATE ... RETURNING that adds
// the failure (the same SQL in both dialects), then, when the new count
// reaches the policy's limit, an UPDATE that sets the lock. The upsert
// holds the row (PostgreSQL's row lock until commit, SQLite's single
// writer), so concurrent failures of one record queue behind it and each
// sees the count and lock of the one before: none is lost, and none is
// counted once the lock is set. Computing the lock in Go keeps the
// back-off arithmetic out of dialect-specific date functions.
func (s *Store) RecordLoginFailure(ctx context.Context, key storage.LoginThrottleKey, at time.Time, policy storage.LoginLockPolicy) (*storage.LoginThrottle, bool, error) {
	const op = "record login failure"
	row, deviceOf, err := loginThrottleRow(key)
	if err != nil {
		return nil, false, err
	}
	if at.IsZero() {
		at = s.now()
	}
	at = dbTime(at)
	// Everything starts over when both the previous failure and the end of
	// the last lock are older than this.
	resetBefore := at
	if policy.FailureReset > 0 {
		resetBefore = dbTime(at.Add(-policy.FailureReset))
	}
	var out *storage.LoginThrottle
	counted := false
	err = s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		m := new(loginThrottleModel)
		// The DO UPDATE's WHERE skips (and RETURNING then yields no row)
		// when the record is locked at at. Past it, a locked_until that is
		// set is a lock that has ended: this failure is the first of a new
		// count (locked_until is cleared, so the next one is the second),
		// and only the lock count remembers the lock. last_failure_at only
		// moves forward, in case instances' clocks disagree.
		err := db.NewRaw(`INSERT INTO login_throttles AS lt (account, device_of, failures, locks, last_failure_at, locked_until)
VALUES (?, ?, 1, 0, ?, NULL)
ON CONFLICT (account) DO UPDATE SET
	failures = CASE
		WHEN lt.last_failure_at < ? AND (lt.locked_until IS NULL OR lt.locked_until < ?) THEN 1
		WHEN lt.locked_until IS NOT NULL THEN 1
		ELSE lt.failures + 1 END,
	locks = CASE
		WHEN lt.last_failure_at < ? AND (lt.locked_until IS NULL OR lt.locked_until < ?) THEN 0
		ELSE lt.locks END,
	last_failure_at = CASE
		WHEN lt.last_failure_at > excluded.last_failure_at THEN lt.last_failure_at
		ELSE excluded.last_failure_at END,
	locked_until = NULL
WHERE lt.locked_until IS NULL OR lt.locked_until <= ?
RETURNING `+loginThrottleColumns,
			row, deviceOf, at, resetBefore, resetBefore, resetBefore, resetBefore, at,
		).Scan(ctx, m)
		if errors.Is(err, sql.ErrNoRows) {
			// Locked: nothing was counted; report the lock in force.
			cur := new(loginThrottleModel)
			if err := db.NewSelect().Model(cur).Where("lt.account = ?", row).Scan(ctx); err != nil {
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
		if policy.LocksAfter(m.Failures) {
			out.LockedUntil = dbTime(at.Add(policy.LockFor(m.Locks)))
			out.Locks = m.Locks + 1
			_, err := db.NewUpdate().Model((*loginThrottleModel)(nil)).
				Set("locked_until = ?", out.LockedUntil).
				Set("locks = ?", out.Locks).
				Where("account = ?", row).
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

// ClearLoginThrottle deletes the row of key in one DELETE ... RETURNING
// (both dialects) and returns what it held; nil, nil when there was none.
func (s *Store) ClearLoginThrottle(ctx context.Context, key storage.LoginThrottleKey) (*storage.LoginThrottle, error) {
	row, _, err := loginThrottleRow(key)
	if err != nil {
		return nil, err
	}
	m := new(loginThrottleModel)
	err = s.db(ctx).NewDelete().Model(m).
		Where("account = ?", row).
		Returning(loginThrottleColumns).
		Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, mapErr("clear login throttle", err)
	}
	return m.toDomain(), nil
}

// ClearAccountLoginThrottles deletes the account's row and its browsers'
// rows (found by the index on device_of) in one DELETE ... RETURNING.
func (s *Store) ClearAccountLoginThrottles(ctx context.Context, account string) (*storage.LoginThrottle, int, error) {
	if _, _, err := loginThrottleRow(storage.LoginThrottleKey{Account: account}); err != nil {
		return nil, 0, err
	}
	var rows []loginThrottleModel
	err := s.db(ctx).NewRaw("DELETE FROM login_throttles WHERE account = ? OR device_of = ? RETURNING "+loginThrottleColumns,
		account, account).Scan(ctx, &rows)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, 0, mapErr("clear login throttles of an account", err)
	}
	var accountWide *storage.LoginThrottle
	devices := 0
	for i := range rows {
		if rows[i].DeviceOf != "" {
			devices++
		} else {
			accountWide = rows[i].toDomain()
		}
	}
	return accountWide, devices, nil
}

// DeleteStaleLoginThrottles deletes up to batch rows (defaultDeleteBatch
// when batch <= 0), account-wide and of browsers alike, whose last failure
// is older than before and that are not locked at before.
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
