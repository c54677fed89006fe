package bunstore

import (
	"context"
	"time"

	"github.com/uptrace/bun"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// This file keeps the token responses of recent refresh rotations (the
// refresh retry window).

type refreshSuccessorModel struct {
	bun.BaseModel `bun:"table:refresh_successors,alias:rs"`

	Signature string    `bun:"signature,pk"`
	ClientID  string    `bun:"client_id"`
	Sealed    []byte    `bun:"sealed"`
	CreatedAt time.Time `bun:"created_at"`
	ExpiresAt time.Time `bun:"expires_at"`
}

// CreateRefreshSuccessor stores r; ErrConflict when the signature has one
// already. CreatedAt is set to now when zero (on r as well).
func (s *Store) CreateRefreshSuccessor(ctx context.Context, r *storage.RefreshSuccessor) error {
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.now()
	}
	m := &refreshSuccessorModel{
		Signature: r.Signature,
		ClientID:  r.ClientID,
		Sealed:    r.Sealed,
		CreatedAt: dbTime(r.CreatedAt),
		ExpiresAt: dbTime(r.ExpiresAt),
	}
	if m.Sealed == nil {
		m.Sealed = []byte{} // NOT NULL; bun writes a nil slice as NULL
	}
	if _, err := s.db(ctx).NewInsert().Model(m).Exec(ctx); err != nil {
		return mapErr("create refresh successor", err)
	}
	return nil
}

// RefreshSuccessor returns the stored response for a spent refresh token;
// ErrNotFound when there is none or it has expired.
func (s *Store) RefreshSuccessor(ctx context.Context, signature string) (*storage.RefreshSuccessor, error) {
	m := new(refreshSuccessorModel)
	err := s.reader(ctx).NewSelect().Model(m).
		Where("rs.signature = ?", signature).
		Where("rs.expires_at > ?", s.now()).
		Scan(ctx)
	if err != nil {
		return nil, mapErr("get refresh successor", err)
	}
	return &storage.RefreshSuccessor{
		Signature: m.Signature,
		ClientID:  m.ClientID,
		Sealed:    m.Sealed,
		CreatedAt: m.CreatedAt.UTC(),
		ExpiresAt: m.ExpiresAt.UTC(),
	}, nil
}
