package bunstore

import (
	"context"
	"errors"
	"time"

	"github.com/uptrace/bun"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// This file holds API keys: extra, independently revocable secrets of a
// client. Access tokens minted with a key carry its ID (oauth2_access
// api_key_id), so revoking the key revokes them.

var (
	errEmptyAPIKeyID         = errors.New("create api key: empty ID")
	errEmptyAPIKeySecretHash = errors.New("create api key: empty secret hash")
)

// CreateAPIKey inserts k; ErrConflict for a duplicate ID, ErrNotFound when
// the client does not exist (the foreign key decides, in the same
// statement, so a concurrent DeleteClient cannot leave an orphan key).
// CreatedAt is set to now when zero (on k as well); a zero ExpiresAt (no
// expiry), LastUsedAt and RevokedAt are stored as NULL.
func (s *Store) CreateAPIKey(ctx context.Context, k *storage.APIKey) error {
	switch {
	case k.ID == "":
		return errEmptyAPIKeyID
	case k.SecretHash == "":
		return errEmptyAPIKeySecretHash
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = s.now()
	}
	m := &apiKeyModel{
		ID:         k.ID,
		ClientID:   k.ClientID,
		Name:       k.Name,
		Scopes:     encodeList(k.Scopes),
		SecretHash: k.SecretHash,
		CreatedBy:  k.CreatedBy,
		CreatedVia: k.CreatedVia,
		CreatedAt:  dbTime(k.CreatedAt),
		ExpiresAt:  dbTime(k.ExpiresAt),
		LastUsedAt: dbTime(k.LastUsedAt),
		RevokedAt:  dbTime(k.RevokedAt),
	}
	if _, err := s.db(ctx).NewInsert().Model(m).Exec(ctx); err != nil {
		return mapErr("create api key", err)
	}
	return nil
}

// APIKey returns ErrNotFound for an unknown ID. Revoked and expired keys
// are returned: the caller decides.
func (s *Store) APIKey(ctx context.Context, id string) (*storage.APIKey, error) {
	if namesNoRow(id) {
		return nil, notFound("get api key")
	}
	m := new(apiKeyModel)
	if err := s.reader(ctx).NewSelect().Model(m).Where("ak.id = ?", id).Scan(ctx); err != nil {
		return nil, mapErr("get api key", err)
	}
	return m.toDomain()
}

// APIKeysRevokedSince returns the ids of keys revoked at or after since,
// earliest first, at most 1000. The table holds a few rows per client and is
// scanned without an index.
func (s *Store) APIKeysRevokedSince(ctx context.Context, since time.Time) ([]string, error) {
	var ids []string
	err := s.reader(ctx).NewSelect().Model((*apiKeyModel)(nil)).Column("ak.id").
		Where("ak.revoked_at >= ?", dbTime(since)).
		OrderExpr("ak.revoked_at, ak.id").Limit(1000).
		Scan(ctx, &ids)
	if err != nil {
		return nil, mapErr("api keys revoked since", err)
	}
	return ids, nil
}

// ListAPIKeys lists the keys of the given clients, or every key when
// clientIDs is empty, newest first by (created_at, id) descending.
func (s *Store) ListAPIKeys(ctx context.Context, clientIDs []string) ([]*storage.APIKey, error) {
	q := s.reader(ctx).NewSelect()
	if len(clientIDs) > 0 {
		q = q.Where("ak.client_id IN (?)", bun.List(clientIDs))
	}
	return s.listAPIKeys(ctx, "list api keys", q)
}

// APIKeysCreatedVia lists the keys createdBy made through the app via,
// newest first. The table holds a few rows per client and is scanned
// without an index (this serves revoking one app's access, not a hot
// path).
func (s *Store) APIKeysCreatedVia(ctx context.Context, createdBy, via string) ([]*storage.APIKey, error) {
	if via == "" {
		// Keys no app made have an empty created_via: never list them all.
		return []*storage.APIKey{}, nil
	}
	q := s.reader(ctx).NewSelect().Where("ak.created_by = ?", createdBy).Where("ak.created_via = ?", via)
	return s.listAPIKeys(ctx, "api keys created via", q)
}

// listAPIKeys runs q (a select with its conditions) on api_keys, newest
// first by (created_at, id) descending.
func (s *Store) listAPIKeys(ctx context.Context, op string, q *bun.SelectQuery) ([]*storage.APIKey, error) {
	var ms []apiKeyModel
	if err := q.Model(&ms).OrderExpr("ak.created_at DESC, ak.id DESC").Scan(ctx); err != nil {
		return nil, mapErr(op, err)
	}
	out := make([]*storage.APIKey, 0, len(ms))
	for i := range ms {
		k, err := ms[i].toDomain()
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

// RevokeAPIKey sets RevokedAt to at (now when zero; a key revoked before
// keeps its first revocation time) and deletes every access token the key
// minted, in one transaction. ErrNotFound for an unknown ID, and then
// nothing is deleted.
func (s *Store) RevokeAPIKey(ctx context.Context, id string, at time.Time) error {
	const op = "revoke api key"
	if id == "" {
		// Access tokens not minted with a key have an empty api_key_id:
		// never touch them.
		return notFound(op)
	}
	if at.IsZero() {
		// Zero is stored as NULL, which would mean "not revoked".
		at = s.now()
	}
	return s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		// The UPDATE matches (and counts) a revoked row too, so the
		// affected-row count tells an unknown ID alone.
		res, err := db.NewUpdate().Model((*apiKeyModel)(nil)).
			Set("revoked_at = COALESCE(revoked_at, ?)", dbTime(at)).
			Where("id = ?", id).
			Exec(ctx)
		if err != nil {
			return mapErr(op, err)
		}
		if err := requireRow(op, res); err != nil {
			return err
		}
		_, err = db.NewRaw("DELETE FROM ? WHERE api_key_id = ?", bun.Ident(tableAccess), id).Exec(ctx)
		if err != nil {
			return mapErr(op+": access tokens", err)
		}
		return nil
	})
}

// TouchAPIKey records a use: LastUsedAt becomes at (now when zero) unless
// a later time is already stored, so that concurrent and out-of-order
// touches only ever move it forward. A touch that changes nothing is not
// an error; ErrNotFound only for an unknown ID.
func (s *Store) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	const op = "touch api key"
	if at.IsZero() {
		// Zero is stored as NULL, which would mean "never used".
		at = s.now()
	}
	at = dbTime(at)
	// PostgreSQL re-checks the WHERE clause on the newest row version
	// after waiting for a concurrent update of the row, so the condition
	// holds at READ COMMITTED; SQLite has a single writer.
	res, err := s.db(ctx).NewUpdate().Model((*apiKeyModel)(nil)).
		Set("last_used_at = ?", at).
		Where("id = ?", id).
		Where("(last_used_at IS NULL OR last_used_at < ?)", at).
		Exec(ctx)
	if err != nil {
		return mapErr(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return mapErr(op, err)
	}
	if n > 0 {
		return nil
	}
	// Nothing changed: a later use is already recorded, or there is no
	// such key.
	exists, err := s.reader(ctx).NewSelect().Model((*apiKeyModel)(nil)).Where("ak.id = ?", id).Exists(ctx)
	if err != nil {
		return mapErr(op, err)
	}
	if !exists {
		return notFound(op)
	}
	return nil
}
