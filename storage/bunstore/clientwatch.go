package bunstore

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/uptrace/bun"
)

// DefaultClientCheckInterval is how often WatchClients looks for changes.
const DefaultClientCheckInterval = 2 * time.Second

// clientCheckBatch bounds the ids of one CheckClients query.
const clientCheckBatch = 500

// CheckClients drops from this process's client cache every client that was
// changed or deleted since it was cached: by another instance, by the CLI,
// or by anyone else writing the database. It compares the updated_at of the
// cached rows (UpdateClient sets it on every change) with the stored ones,
// one query per 500 cached clients; only clients read within the cache TTL
// are checked (expired entries are swept, not served), so this stays small.
// It returns how many were dropped.
func (s *Store) CheckClients(ctx context.Context) (int, error) {
	s.clients.Sweep()
	cached := s.clients.Fresh()
	if len(cached) == 0 {
		return 0, nil
	}
	ids := slices.Sorted(maps.Keys(cached))
	stored := make(map[string]time.Time, len(ids))
	for chunk := range slices.Chunk(ids, clientCheckBatch) {
		var rows []struct {
			ID        string    `bun:"id"`
			UpdatedAt time.Time `bun:"updated_at"`
		}
		err := s.reader(ctx).NewSelect().Model((*clientModel)(nil)).
			Column("id", "updated_at").
			Where("id IN (?)", bun.List(chunk)).
			Scan(ctx, &rows)
		if err != nil {
			return 0, mapErr("check cached clients", err)
		}
		for _, r := range rows {
			stored[r.ID] = r.UpdatedAt
		}
	}
	dropped := 0
	for id, c := range cached {
		if at, ok := stored[id]; !ok || !at.Equal(c.UpdatedAt) {
			s.clients.Invalidate(id)
			dropped++
		}
	}
	return dropped, nil
}

// WatchClients runs CheckClients every interval (DefaultClientCheckInterval
// when <= 0) until ctx ends, so a client changed elsewhere (a rotated
// secret, a removed redirect URI, a deleted client) is seen here within
// that time rather than the cache TTL; so is a registered resource that
// changed (CheckResources). A failing check is logged once until
// it works again; the TTL still bounds staleness meanwhile.
func (s *Store) WatchClients(ctx context.Context, interval time.Duration, log *slog.Logger) {
	if interval <= 0 {
		interval = DefaultClientCheckInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, interval+5*time.Second)
		_, err := s.CheckClients(cctx)
		if err == nil {
			// Resources are read on the token path from the same kind
			// of cache, and changed by the same operators.
			_, err = s.CheckResources(cctx)
		}
		cancel()
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			log.Warn("could not look for clients changed by other instances; retrying", "err", err)
			failing = true
		case err == nil && failing:
			log.Info("looking for clients changed by other instances works again")
			failing = false
		}
	}
}
