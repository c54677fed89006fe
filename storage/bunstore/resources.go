package bunstore

import (
	"context"
	"slices"
	"time"

	"github.com/uptrace/bun"

	"github.com/gatehouse-dev/gatehouse/internal/ttlcache"
	"github.com/gatehouse-dev/gatehouse/storage"
)

type resourceModel struct {
	bun.BaseModel `bun:"table:resources,alias:r"`

	ID                    string    `bun:"id,pk"`
	Name                  string    `bun:"name"`
	Scopes                string    `bun:"scopes"`
	AccessTokenFormat     string    `bun:"access_token_format"`
	AccessTokenLifetimeMS int64     `bun:"access_token_lifetime_ms"`
	SigningAlg            string    `bun:"signing_alg"`
	CreatedAt             time.Time `bun:"created_at"`
	UpdatedAt             time.Time `bun:"updated_at"`
}

func resourceToModel(r *storage.Resource) *resourceModel {
	return &resourceModel{
		ID:                    r.ID,
		Name:                  r.Name,
		Scopes:                encodeList(r.Scopes),
		AccessTokenFormat:     r.AccessTokenFormat,
		AccessTokenLifetimeMS: r.AccessTokenLifetime.Milliseconds(),
		SigningAlg:            r.SigningAlg,
		CreatedAt:             dbTime(r.CreatedAt),
		UpdatedAt:             dbTime(r.UpdatedAt),
	}
}

func (m *resourceModel) toDomain() (*storage.Resource, error) {
	r := &storage.Resource{
		ID:                  m.ID,
		Name:                m.Name,
		AccessTokenFormat:   m.AccessTokenFormat,
		AccessTokenLifetime: time.Duration(m.AccessTokenLifetimeMS) * time.Millisecond,
		SigningAlg:          m.SigningAlg,
		CreatedAt:           m.CreatedAt.UTC(),
		UpdatedAt:           m.UpdatedAt.UTC(),
	}
	if err := decodeLists(listField{"scopes", m.Scopes, &r.Scopes}); err != nil {
		return nil, err
	}
	return r, nil
}

// resourceSet is every registered resource by ID, as read at one time. It
// is shared by the readers of the cache and never changed.
type resourceSet map[string]*storage.Resource

// maxResources bounds what one read of the resource set loads: resources
// are registered by operators and few; a table grown past this is
// truncated rather than loaded whole on every cache miss.
const maxResources = 10000

// newResourceCache returns the cache of the resource set. Resources are
// few and every token request that names one (or whose client has a
// default) needs them, so the whole set is read at once and kept for the
// client cache's TTL: an unknown resource costs no query either, which a
// per-ID cache could not give without caching misses. WatchClients drops
// it when another instance changes a resource.
func newResourceCache(ttl time.Duration, now func() time.Time) *ttlcache.Cache[struct{}, resourceSet] {
	return ttlcache.New[struct{}](ttlcache.Options[resourceSet]{TTL: ttl, Now: now})
}

// CreateResource inserts r; ErrConflict when the ID is taken.
func (s *Store) CreateResource(ctx context.Context, r *storage.Resource) error {
	now := s.now()
	if r.CreatedAt.IsZero() {
		r.CreatedAt = now
	}
	if r.UpdatedAt.IsZero() {
		r.UpdatedAt = r.CreatedAt
	}
	if _, err := s.db(ctx).NewInsert().Model(resourceToModel(r)).Exec(ctx); err != nil {
		return mapErr("create resource", err)
	}
	s.invalidateResources(ctx)
	return nil
}

// ResourceByID returns a copy of the resource, from the in-process set
// when it is fresh.
func (s *Store) ResourceByID(ctx context.Context, id string) (*storage.Resource, error) {
	set, err := s.resourceSet(ctx)
	if err != nil {
		return nil, err
	}
	r, ok := set[id]
	if !ok {
		return nil, notFound("get resource")
	}
	return copyResource(r), nil
}

// resourceSet returns the cached set, reading it when stale; inside a
// transaction (which may see uncommitted changes) it reads without
// caching.
func (s *Store) resourceSet(ctx context.Context) (resourceSet, error) {
	if s.txFrom(ctx) != nil {
		if set, ok := s.resources.Get(struct{}{}); ok {
			return set, nil
		}
		return s.readResources(ctx)
	}
	return s.resources.GetOrLoad(struct{}{}, func() (resourceSet, error) { return s.readResources(ctx) })
}

func (s *Store) readResources(ctx context.Context) (resourceSet, error) {
	var ms []resourceModel
	err := s.reader(ctx).NewSelect().Model(&ms).OrderExpr("r.id ASC").Limit(maxResources).Scan(ctx)
	if err != nil {
		return nil, mapErr("list resources", err)
	}
	set := make(resourceSet, len(ms))
	for i := range ms {
		r, err := ms[i].toDomain()
		if err != nil {
			return nil, err
		}
		set[r.ID] = r
	}
	return set, nil
}

// ListResources lists every resource by ID, read from the database.
func (s *Store) ListResources(ctx context.Context) ([]*storage.Resource, error) {
	set, err := s.readResources(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*storage.Resource, 0, len(set))
	for _, r := range set {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *storage.Resource) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out, nil
}

// UpdateResource replaces every field but ID and CreatedAt; UpdatedAt is
// set to now (on r as well). ErrNotFound for an unknown ID.
func (s *Store) UpdateResource(ctx context.Context, r *storage.Resource) error {
	r.UpdatedAt = s.now()
	res, err := s.db(ctx).NewUpdate().Model(resourceToModel(r)).
		ExcludeColumn("id", "created_at").
		WherePK().
		Exec(ctx)
	if err != nil {
		return mapErr("update resource", err)
	}
	if err := requireRow("update resource", res); err != nil {
		return err
	}
	s.invalidateResources(ctx)
	return nil
}

// DeleteResource removes the resource; ErrNotFound for an unknown ID.
func (s *Store) DeleteResource(ctx context.Context, id string) error {
	if namesNoRow(id) {
		return notFound("delete resource")
	}
	res, err := s.db(ctx).NewDelete().Model((*resourceModel)(nil)).Where("id = ?", id).Exec(ctx)
	if err != nil {
		return mapErr("delete resource", err)
	}
	if err := requireRow("delete resource", res); err != nil {
		return err
	}
	s.invalidateResources(ctx)
	return nil
}

// invalidateResources drops the cached set now and, when ctx carries a
// transaction, again once it commits.
func (s *Store) invalidateResources(ctx context.Context) {
	s.resources.InvalidateAll()
	s.afterCommit(ctx, s.resources.InvalidateAll)
}

// CheckResources drops this process's cached resource set when the stored
// resources differ from it (created, changed or deleted elsewhere: another
// instance, the CLI): one query of every resource's id and updated_at,
// which is small as resources are few. It reports whether it dropped the
// set.
func (s *Store) CheckResources(ctx context.Context) (bool, error) {
	s.resources.Sweep()
	cached, ok := s.resources.Get(struct{}{})
	if !ok {
		return false, nil
	}
	var rows []struct {
		ID        string    `bun:"id"`
		UpdatedAt time.Time `bun:"updated_at"`
	}
	err := s.reader(ctx).NewSelect().Model((*resourceModel)(nil)).
		Column("id", "updated_at").Limit(maxResources).Scan(ctx, &rows)
	if err != nil {
		return false, mapErr("check cached resources", err)
	}
	same := len(rows) == len(cached)
	for _, r := range rows {
		if c, ok := cached[r.ID]; !ok || !c.UpdatedAt.Equal(r.UpdatedAt.UTC()) {
			same = false
			break
		}
	}
	if same {
		return false, nil
	}
	s.resources.InvalidateAll()
	return true, nil
}

// copyResource returns a copy whose slices are not shared with r.
func copyResource(r *storage.Resource) *storage.Resource {
	cp := *r
	cp.Scopes = slices.Clone(r.Scopes)
	return &cp
}
