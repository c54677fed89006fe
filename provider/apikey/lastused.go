package apikey

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/storage"
)

const (
	// maxTick is how often at most Run looks for uses to write: a use
	// reaches the database within TouchInterval + maxTick.
	maxTick = 5 * time.Second
	// touchTimeout bounds one TouchAPIKey, so a hung database cannot stall
	// Run for long.
	touchTimeout = 5 * time.Second
	// finalFlushTimeout bounds the flush when Run's context ends.
	finalFlushTimeout = 5 * time.Second
)

// useTracker remembers successful uses in memory, so that Verify never
// waits for a database write; Run writes them out.
type useTracker struct {
	mu sync.Mutex
	// pending is the latest use of each key not yet written.
	pending map[string]time.Time
	// written is when (by the verifier's clock) each key's last use was
	// last written; a key is written again only TouchInterval later.
	written map[string]time.Time
}

func newUseTracker() *useTracker {
	return &useTracker{pending: make(map[string]time.Time), written: make(map[string]time.Time)}
}

func (u *useTracker) record(id string, at time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if at.After(u.pending[id]) {
		u.pending[id] = at
	}
}

// take removes and returns the pending uses due for writing at now: those
// of keys not written within interval, or all of them when all is set. It
// marks them written at now, and forgets keys written long ago (so the map
// holds only recently used keys).
func (u *useTracker) take(now time.Time, interval time.Duration, all bool) map[string]time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	due := make(map[string]time.Time)
	for id, at := range u.pending {
		if last, ok := u.written[id]; all || !ok || now.Sub(last) >= interval {
			due[id] = at
			delete(u.pending, id)
			u.written[id] = now
		}
	}
	for id, last := range u.written {
		if _, ok := u.pending[id]; !ok && now.Sub(last) >= interval {
			delete(u.written, id)
		}
	}
	return due
}

// putBack returns a use whose write failed; it is retried once the key is
// due again (not on every tick, to spare a struggling database).
func (u *useTracker) putBack(id string, at time.Time) {
	u.record(id, at)
}

// Run writes recorded uses (LastUsedAt) to the store, at most once per
// TouchInterval per key, until ctx ends; then it writes what is still
// pending, however recent, within a few seconds, and returns. Between
// writes it looks for keys revoked elsewhere (CheckRevocations). Failures
// are logged. Without Run, uses are only kept in memory.
func (v *Verifier) Run(ctx context.Context) {
	t := time.NewTicker(v.tick)
	checkFailing := false // log a failing check once, not every tick
	defer t.Stop()
	revocations := time.NewTicker(v.revocationCheck)
	defer revocations.Stop()
	for {
		select {
		case <-ctx.Done():
			// The last write of this process: pending uses would otherwise
			// be lost (a key used once would look never used).
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalFlushTimeout)
			v.flush(fctx, true)
			cancel()
			return
		case <-t.C:
			v.flush(ctx, false)
			v.cache.Sweep()
		case <-revocations.C:
			cctx, cancel := context.WithTimeout(ctx, touchTimeout)
			err := v.CheckRevocations(cctx)
			cancel()
			switch {
			case err != nil && ctx.Err() == nil && !checkFailing:
				v.logger.Warn("could not look for API keys revoked by other instances; retrying", "err", err)
				checkFailing = true
			case err == nil && checkFailing:
				v.logger.Info("looking for API keys revoked by other instances works again")
				checkFailing = false
			}
		}
	}
}

// flush writes the due uses, one TouchAPIKey each.
func (v *Verifier) flush(ctx context.Context, all bool) {
	due := v.uses.take(v.now(), v.touchInterval, all)
	var failed int
	var firstErr error
	for id, at := range due {
		tctx, cancel := context.WithTimeout(ctx, touchTimeout)
		err := v.store.TouchAPIKey(tctx, id, at)
		cancel()
		switch {
		case err == nil, errors.Is(err, storage.ErrNotFound):
			// A key deleted since its use has nothing left to update.
		default:
			v.uses.putBack(id, at)
			failed++
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	// A cancelled ctx is shutdown, not a failure: the final flush follows.
	if failed > 0 && ctx.Err() == nil {
		v.logger.WarnContext(ctx, "recording API key use failed; will retry",
			"keys", failed, "err", firstErr)
	}
}
