package storage

import (
	"context"
	"time"
)

// DPoPProofStore remembers the DPoP proofs already used (RFC 9449 §11.1)
// when no Redis is configured, so that a proof is accepted once on any
// instance sharing the database.
type DPoPProofStore interface {
	// UseDPoPProof records key as used until expiresAt in one statement.
	// It reports false when key is recorded and has not expired (a
	// replay); an expired record of key is replaced. Of concurrent calls
	// with one key, exactly one reports true.
	UseDPoPProof(ctx context.Context, key string, expiresAt time.Time) (bool, error)
}
