package bunstore

import (
	"context"
	"time"

	"github.com/uptrace/bun"
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
		{tableCode, "signature"},
		{tableAccess, "signature"},
		{tableRefresh, "signature"},
		{tablePKCE, "signature"},
		{tableOIDC, "signature"},
		{tableJTI, "id"},
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
