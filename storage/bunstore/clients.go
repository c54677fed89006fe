package bunstore

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/uptrace/bun"

	"github.com/gatehouse-dev/gatehouse/internal/ttlcache"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// CreateClient inserts c; ErrConflict when the ID is taken. CreatedAt and
// UpdatedAt are set to now when zero (on c as well).
func (s *Store) CreateClient(ctx context.Context, c *storage.Client) error {
	now := s.now()
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = c.CreatedAt
	}
	if _, err := s.db(ctx).NewInsert().Model(clientToModel(c)).Exec(ctx); err != nil {
		return mapErr("create client", err)
	}
	s.invalidateClient(ctx, c.ID)
	return nil
}

// ClientByID returns a copy of the client (the caller may change it), from
// the in-process cache when it is fresh.
func (s *Store) ClientByID(ctx context.Context, id string) (*storage.Client, error) {
	if s.txFrom(ctx) != nil {
		// A read inside a transaction may see uncommitted changes: never
		// cache it.
		if c, ok := s.clients.Get(id); ok {
			return c, nil
		}
		return s.readClient(ctx, id)
	}
	// An unknown id is an error, so it is not cached: ids nobody
	// registered cannot grow the cache.
	return s.clients.GetOrLoad(id, func() (*storage.Client, error) { return s.readClient(ctx, id) })
}

// readClient reads the client from the database.
func (s *Store) readClient(ctx context.Context, id string) (*storage.Client, error) {
	if namesNoRow(id) {
		return nil, notFound("get client")
	}
	m := new(clientModel)
	if err := s.reader(ctx).NewSelect().Model(m).Where("c.id = ?", id).Scan(ctx); err != nil {
		return nil, mapErr("get client", err)
	}
	return m.toDomain()
}

// GetClient implements fosite.ClientManager.
func (s *Store) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	c, err := s.ClientByID(ctx, id)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// ListClients returns one page of the clients, oldest first by
// (created_at, id); ErrNotFound when page.After names no client.
func (s *Store) ListClients(ctx context.Context, page storage.Page) ([]*storage.Client, error) {
	ms, err := selectPage[clientModel](ctx, s, "list clients", "clients", page)
	if err != nil {
		return nil, err
	}
	out := make([]*storage.Client, 0, len(ms))
	for i := range ms {
		c, err := ms[i].toDomain()
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// ListClientsByOwner lists the clients the user owns, oldest first by
// (created_at, id). An empty ownerID owns nothing: the result is empty and
// no query is made.
func (s *Store) ListClientsByOwner(ctx context.Context, ownerID string) ([]*storage.Client, error) {
	if ownerID == "" {
		return []*storage.Client{}, nil
	}
	var ms []clientModel
	err := s.reader(ctx).NewSelect().Model(&ms).
		Where("c.owner_id = ?", ownerID).
		OrderExpr("c.created_at ASC, c.id ASC").
		Scan(ctx)
	if err != nil {
		return nil, mapErr("list clients by owner", err)
	}
	out := make([]*storage.Client, 0, len(ms))
	for i := range ms {
		c, err := ms[i].toDomain()
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// maxOriginLength bounds what ClientOriginAllowed looks up: a longer
// Origin header is no client's origin, and it is not sent to the database.
const maxOriginLength = 2048

// likeEscaper escapes the LIKE metacharacters for ESCAPE '\'.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// ClientOriginAllowed reports whether any client lists origin, exactly,
// among its AllowedOrigins. A LIKE on the JSON text of the lists, with the
// origin JSON-quoted the way encodeList writes it, narrows the clients
// down; the decoded lists decide.
func (s *Store) ClientOriginAllowed(ctx context.Context, origin string) (bool, error) {
	const op = "check allowed origin"
	if origin == "" || len(origin) > maxOriginLength {
		return false, nil
	}
	// Marshalling a string cannot fail; the result has no NUL byte (the
	// database drivers refuse those) as JSON escapes control characters.
	quoted, _ := json.Marshal(origin)
	pattern := "%" + likeEscaper.Replace(string(quoted)) + "%"
	var lists []string
	err := s.reader(ctx).NewSelect().Model((*clientModel)(nil)).
		Column("c.allowed_origins").
		Where(`c.allowed_origins LIKE ? ESCAPE '\'`, pattern).
		Scan(ctx, &lists)
	if err != nil {
		return false, mapErr(op, err)
	}
	for _, raw := range lists {
		var origins []string
		if err := decodeLists(listField{"allowed_origins", raw, &origins}); err != nil {
			return false, err
		}
		if slices.Contains(origins, origin) {
			return true, nil
		}
	}
	return false, nil
}

// UpdateClient replaces every field but ID and CreatedAt; UpdatedAt is set
// to now (on c as well). ErrNotFound for an unknown ID.
func (s *Store) UpdateClient(ctx context.Context, c *storage.Client) error {
	c.UpdatedAt = s.now()
	res, err := s.db(ctx).NewUpdate().Model(clientToModel(c)).
		ExcludeColumn("id", "created_at").
		WherePK().
		Exec(ctx)
	if err != nil {
		return mapErr("update client", err)
	}
	if err := requireRow("update client", res); err != nil {
		return err
	}
	s.invalidateClient(ctx, c.ID)
	return nil
}

// DeleteClient removes the client with its tokens, codes, consent grants,
// pending flows, pushed requests and API keys, in one transaction.
// ErrNotFound for an unknown ID.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	if namesNoRow(id) {
		return notFound("delete client")
	}
	err := s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		// Every table whose rows belong to the client.
		// (api_keys would also go by its foreign key's ON DELETE CASCADE.)
		tables := append(slices.Clone(requestTables), "consent_grants", "auth_flows", "pushed_requests", "api_keys")
		for _, table := range tables {
			if _, err := db.NewRaw("DELETE FROM ? WHERE client_id = ?", bun.Ident(table), id).Exec(ctx); err != nil {
				return mapErr("delete client rows of "+table, err)
			}
		}
		res, err := db.NewDelete().Model((*clientModel)(nil)).Where("id = ?", id).Exec(ctx)
		if err != nil {
			return mapErr("delete client", err)
		}
		return requireRow("delete client", res)
	})
	if err != nil {
		return err
	}
	s.invalidateClient(ctx, id)
	return nil
}

// DeleteUnusedClients implements storage.ClientStore. The candidates are
// chosen in one query; each is then deleted with its rows as DeleteClient
// does, in its own transaction, so one batch never holds the writer long.
func (s *Store) DeleteUnusedClients(ctx context.Context, registeredBy string, before time.Time, batch int) (int64, error) {
	if batch <= 0 {
		batch = defaultDeleteBatch
	}
	var ids []string
	q := s.db(ctx).NewSelect().Model((*clientModel)(nil)).Column("c.id").
		Where("c.registered_by = ?", registeredBy).Where("c.created_at < ?", dbTime(before))
	for _, table := range []string{"consent_grants", tableCode, tableAccess, tableRefresh} {
		q = q.Where("NOT EXISTS (SELECT 1 FROM ? AS r WHERE r.client_id = c.id)", bun.Ident(table))
	}
	if err := q.OrderExpr("c.created_at, c.id").Limit(int64(batch)).Scan(ctx, &ids); err != nil {
		return 0, mapErr("find unused clients", err)
	}
	var n int64
	for _, id := range ids {
		if err := s.DeleteClient(ctx, id); errors.Is(err, storage.ErrNotFound) {
			continue // deleted meanwhile
		} else if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// invalidateClient drops id from the cache now and, when ctx carries a
// transaction, again once it commits: a concurrent reader outside the
// transaction may cache the old row in between.
func (s *Store) invalidateClient(ctx context.Context, id string) {
	s.clients.Invalidate(id)
	s.afterCommit(ctx, func() { s.clients.Invalidate(id) })
}

// copyClient returns a copy whose slices are not shared with c, so that a
// caller editing the result cannot change the cached client.
func copyClient(c *storage.Client) *storage.Client {
	cp := *c
	cp.RedirectURIs = slices.Clone(c.RedirectURIs)
	cp.PostLogoutRedirectURIs = slices.Clone(c.PostLogoutRedirectURIs)
	cp.GrantTypes = slices.Clone(c.GrantTypes)
	cp.ResponseTypes = slices.Clone(c.ResponseTypes)
	cp.Scopes = slices.Clone(c.Scopes)
	cp.Audience = slices.Clone(c.Audience)
	cp.AllowedOrigins = slices.Clone(c.AllowedOrigins)
	cp.Contacts = slices.Clone(c.Contacts)
	return &cp
}

// newClientCache returns the cache of clients read from the database, kept
// for a short TTL. Every token request looks its client up, so this saves
// a query per request; WatchClients drops entries changed elsewhere within
// seconds, and the TTL bounds staleness when it does not run. Only clients
// that exist are cached, so it needs no size bound. Cached clients are
// copies, in and out.
func newClientCache(ttl time.Duration, now func() time.Time) *ttlcache.Cache[string, *storage.Client] {
	return ttlcache.New[string](ttlcache.Options[*storage.Client]{TTL: ttl, Now: now, Clone: copyClient})
}
