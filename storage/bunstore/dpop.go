package bunstore

import (
	"context"
	"errors"
	"time"
)

// UseDPoPProof records a DPoP proof's key until expiresAt (RFC 9449
// §11.1) in one statement: the insert wins unless the key is there and
// unexpired. An expired row of the same key (the janitor has not reached
// it yet) is overwritten rather than refusing a proof that is no replay.
// On PostgreSQL a concurrent insert of the same key waits for the first
// to commit and then sees its row (0 rows affected); SQLite serializes
// writers. ON CONFLICT instead of a failing INSERT keeps an enclosing
// PostgreSQL transaction usable after a replay.
func (s *Store) UseDPoPProof(ctx context.Context, key string, expiresAt time.Time) (bool, error) {
	const op = "use dpop proof"
	if key == "" {
		return false, errors.New("use dpop proof: empty key")
	}
	res, err := s.db(ctx).NewRaw(
		`INSERT INTO dpop_proofs ("key", expires_at) VALUES (?, ?)
		 ON CONFLICT ("key") DO UPDATE SET expires_at = excluded.expires_at
		 WHERE dpop_proofs.expires_at <= ?`,
		key, dbTime(expiresAt), s.now(),
	).Exec(ctx)
	if err != nil {
		return false, mapErr(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, mapErr(op, err)
	}
	return n > 0, nil
}
