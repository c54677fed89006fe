package bunstore

import (
	"context"
	"errors"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// This file holds gatehouse's own random keys, sealed under the system
// secret: rotating the secret only re-seals them.

var errEmptySystemKeyPurpose = errors.New("create system key: empty purpose")

// SystemKey returns the key of purpose; ErrNotFound when it has none yet.
func (s *Store) SystemKey(ctx context.Context, purpose string) (*storage.SystemKey, error) {
	m := new(systemKeyModel)
	if err := s.reader(ctx).NewSelect().Model(m).Where("sys.purpose = ?", purpose).Scan(ctx); err != nil {
		return nil, mapErr("get system key", err)
	}
	return m.toDomain(), nil
}

// CreateSystemKey inserts k; ErrConflict when its purpose has a key (the
// primary key decides, so of instances starting together one wins and the
// others read its key). CreatedAt is set to now when zero and UpdatedAt to
// CreatedAt when zero (on k as well).
func (s *Store) CreateSystemKey(ctx context.Context, k *storage.SystemKey) error {
	if k.Purpose == "" {
		return errEmptySystemKeyPurpose
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = s.now()
	}
	if k.UpdatedAt.IsZero() {
		k.UpdatedAt = k.CreatedAt
	}
	m := &systemKeyModel{
		Purpose:   k.Purpose,
		Sealed:    k.Sealed,
		CreatedAt: dbTime(k.CreatedAt),
		UpdatedAt: dbTime(k.UpdatedAt),
	}
	if m.Sealed == nil {
		// The column is NOT NULL; bun writes a nil slice as NULL.
		m.Sealed = []byte{}
	}
	if _, err := s.db(ctx).NewInsert().Model(m).Exec(ctx); err != nil {
		return mapErr("create system key", err)
	}
	return nil
}

// ResealSystemKey replaces the sealed bytes of purpose's key and sets
// UpdatedAt to now; ErrNotFound for an unknown purpose.
func (s *Store) ResealSystemKey(ctx context.Context, purpose string, sealed []byte) error {
	const op = "reseal system key"
	if sealed == nil {
		sealed = []byte{}
	}
	res, err := s.db(ctx).NewUpdate().Model((*systemKeyModel)(nil)).
		Set("sealed = ?", sealed).
		Set("updated_at = ?", s.now()).
		Where("purpose = ?", purpose).
		Exec(ctx)
	if err != nil {
		return mapErr(op, err)
	}
	return requireRow(op, res)
}
