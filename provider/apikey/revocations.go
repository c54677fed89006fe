package apikey

import (
	"context"
	"time"
)

// revocationSkew is how far back CheckRevocations looks beyond its last
// check: revocation times come from the clock of whichever instance (or CLI)
// revoked, which may run behind this one.
const revocationSkew = time.Minute

// revocationWatch remembers which revocations this process has acted on.
type revocationWatch struct {
	last time.Time
	// seen: key id -> when this process first saw its revocation.
	seen map[string]time.Time
	// purge: keys whose tokens to delete again at the next check (see
	// CheckRevocations).
	purge []string
}

// CheckRevocations learns of keys revoked by other instances since the last
// check: it drops them from this process's cache at once, and at the next
// check deletes their access tokens again. The revoking instance deleted
// the tokens when it revoked, but until this check this instance may have
// served the key from its cache and minted more; by the next check every
// such request has long finished. Run calls it every
// Options.RevocationCheckInterval; it is not safe for concurrent use with
// itself.
func (v *Verifier) CheckRevocations(ctx context.Context) error {
	now := v.now()
	w := &v.revocations
	for len(w.purge) > 0 {
		// RevokeAPIKey keeps the first revocation time and deletes the
		// key's tokens: run again, it deletes only what was minted since.
		if err := v.store.RevokeAPIKey(ctx, w.purge[0], time.Time{}); err != nil {
			return err
		}
		w.purge = w.purge[1:]
	}
	since := now.Add(-revocationSkew)
	if !w.last.IsZero() {
		since = w.last.Add(-revocationSkew)
	}
	ids, err := v.store.APIKeysRevokedSince(ctx, since)
	if err != nil {
		return err
	}
	if w.seen == nil {
		w.seen = make(map[string]time.Time)
	}
	for _, id := range ids {
		if _, ok := w.seen[id]; ok {
			continue
		}
		w.seen[id] = now
		v.cache.Invalidate(id)
		w.purge = append(w.purge, id)
	}
	for id, at := range w.seen {
		// Older than the look-back window: no longer returned, forget it.
		if now.Sub(at) > 3*revocationSkew {
			delete(w.seen, id)
		}
	}
	w.last = now
	return nil
}
