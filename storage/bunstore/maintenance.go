package bunstore

import (
	"context"
	"database/sql/driver"
	"time"

	"github.com/uptrace/bun"

	"github.com/gatehouse-dev/gatehouse/migrations"
)

// defaultDeleteBatch applies when DeleteExpired is given a batch <= 0.
const defaultDeleteBatch = 1000

// DeleteExpired removes rows that expired before now from every table with
// an expiry, at most batch rows per table, and reports how many went. Each
// table is its own statement (not one transaction) so that the writer is
// never held for long.
//
// Rotated refresh tokens stay until they expire: reuse detection needs
// them. Rows without an expiry (tokens with an unlimited lifespan) stay.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time, batch int) (int64, error) {
	if batch <= 0 {
		batch = defaultDeleteBatch
	}
	tables := []struct{ name, pk string }{
		{"login_sessions", "id"},
		{"auth_flows", "id"},
		{"pushed_requests", "id"},
		{"upstream_states", "id"},
		{"webauthn_challenges", "id"},
		{"refresh_successors", "signature"},
		{tableCode, "signature"},
		{tableAccess, "signature"},
		{tableRefresh, "signature"},
		{tablePKCE, "signature"},
		{tableOIDC, "signature"},
		{tableJTI, "id"},
		{"password_resets", "user_id"},
		{"email_verifications", "user_id"},
		{"signups", "token_hash"},
		{"device_authorizations", "signature"},
		{"dpop_proofs", "key"},
	}
	cutoff := dbTime(now)
	var total int64
	for _, t := range tables {
		// DELETE ... LIMIT is not portable (PostgreSQL lacks it, SQLite
		// needs a compile option); a sub-select on the primary key works
		// in both.
		res, err := s.db(ctx).NewRaw(
			"DELETE FROM ? WHERE ? IN (SELECT ? FROM ? WHERE expires_at < ? LIMIT ?)",
			bun.Ident(t.name), bun.Ident(t.pk), bun.Ident(t.pk), bun.Ident(t.name), cutoff, batch,
		).Exec(ctx)
		if err != nil {
			return total, mapErr("delete expired "+t.name, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, mapErr("delete expired "+t.name, err)
		}
		total += n
	}
	return total, nil
}

// janitorLockKey and the schema's name make the PostgreSQL advisory lock
// of the janitor ("jani" in ASCII, apart from the migration lock): an
// advisory lock is database-wide, and deployments (or test runs) in
// different schemas of one database must not stop each other's janitor.
const janitorLockKey int32 = 0x6a616e69

// WithJanitorLock runs fn unless a janitor is running already (ran is
// false then; it never waits): in this process, and on PostgreSQL in any
// process, through a session advisory lock, so of many instances sharing
// a database one cleans at a time. SQLite serializes writers anyway.
func (s *Store) WithJanitorLock(ctx context.Context, fn func(ctx context.Context) error) (ran bool, err error) {
	if !s.janitorMu.TryLock() {
		return false, nil
	}
	defer s.janitorMu.Unlock()
	if s.dialect != migrations.Postgres {
		return true, fn(ctx)
	}
	conn, err := s.wdb.Conn(ctx)
	if err != nil {
		return false, mapErr("janitor lock: get connection", err)
	}
	defer conn.Close()
	var got bool
	if err := conn.NewRaw("SELECT pg_try_advisory_lock(?, hashtext(current_schema()))", janitorLockKey).Scan(ctx, &got); err != nil {
		return false, mapErr("janitor lock", err)
	}
	if !got {
		return false, nil
	}
	defer func() {
		uctx := context.WithoutCancel(ctx)
		if _, uerr := conn.NewRaw("SELECT pg_advisory_unlock(?, hashtext(current_schema()))", janitorLockKey).Exec(uctx); uerr != nil {
			s.log.WarnContext(ctx, "releasing the janitor lock failed; dropping its connection", "err", uerr)
			// Ending the session releases the lock; never pool it.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	return true, fn(ctx)
}
