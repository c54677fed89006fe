package bunstore

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// This file holds what dynamic client registration (RFC 7591) and pushed
// authorization requests (RFC 9126) keep.

var (
	errEmptyRegistrationTokenID   = errors.New("create registration token: empty ID")
	errEmptyRegistrationTokenHash = errors.New("create registration token: empty hash")
	errEmptyPushedRequestID       = errors.New("create pushed request: empty ID")
	errPushedRequestNoExpiry      = errors.New("create pushed request: no expiry")
)

// CreateRegistrationToken inserts t; ErrConflict for a duplicate ID or
// hash. CreatedAt is set to now when zero (on t as well); a zero ExpiresAt
// (no expiry) and RevokedAt are stored as NULL.
func (s *Store) CreateRegistrationToken(ctx context.Context, t *storage.RegistrationToken) error {
	switch {
	case t.ID == "":
		return errEmptyRegistrationTokenID
	case t.Hash == "":
		return errEmptyRegistrationTokenHash
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = s.now()
	}
	m := &registrationTokenModel{
		ID:        t.ID,
		Name:      t.Name,
		Hash:      t.Hash,
		CreatedAt: dbTime(t.CreatedAt),
		ExpiresAt: dbTime(t.ExpiresAt),
		RevokedAt: dbTime(t.RevokedAt),
	}
	if _, err := s.db(ctx).NewInsert().Model(m).Exec(ctx); err != nil {
		return mapErr("create registration token", err)
	}
	return nil
}

// RegistrationTokenByHash returns ErrNotFound for an unknown hash. Expired
// and revoked tokens are returned: the caller decides.
func (s *Store) RegistrationTokenByHash(ctx context.Context, hash string) (*storage.RegistrationToken, error) {
	m := new(registrationTokenModel)
	if err := s.reader(ctx).NewSelect().Model(m).Where("rt.hash = ?", hash).Scan(ctx); err != nil {
		return nil, mapErr("get registration token", err)
	}
	return m.toDomain(), nil
}

// ListRegistrationTokens lists every token, oldest first (by ID among
// equal times).
func (s *Store) ListRegistrationTokens(ctx context.Context) ([]*storage.RegistrationToken, error) {
	var ms []registrationTokenModel
	if err := s.reader(ctx).NewSelect().Model(&ms).OrderExpr("rt.created_at ASC, rt.id ASC").Scan(ctx); err != nil {
		return nil, mapErr("list registration tokens", err)
	}
	out := make([]*storage.RegistrationToken, 0, len(ms))
	for i := range ms {
		out = append(out, ms[i].toDomain())
	}
	return out, nil
}

// RevokeRegistrationToken sets RevokedAt to at (now when zero); a token
// revoked before keeps its first revocation time. ErrNotFound for an
// unknown ID.
func (s *Store) RevokeRegistrationToken(ctx context.Context, id string, at time.Time) error {
	const op = "revoke registration token"
	if at.IsZero() {
		// Zero is stored as NULL, which would mean "not revoked".
		at = s.now()
	}
	// The UPDATE matches (and counts) a revoked row too, so the
	// affected-row count tells an unknown ID alone.
	res, err := s.db(ctx).NewUpdate().Model((*registrationTokenModel)(nil)).
		Set("revoked_at = COALESCE(revoked_at, ?)", dbTime(at)).
		Where("id = ?", id).
		Exec(ctx)
	if err != nil {
		return mapErr(op, err)
	}
	return requireRow(op, res)
}

// CreatePushedRequest inserts r; ErrConflict for a duplicate ID. CreatedAt
// is set to now when zero (on r as well). r must expire.
func (s *Store) CreatePushedRequest(ctx context.Context, r *storage.PushedRequest) error {
	switch {
	case r.ID == "":
		return errEmptyPushedRequestID
	case r.ExpiresAt.IsZero():
		return errPushedRequestNoExpiry
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.now()
	}
	m := &pushedRequestModel{
		ID:        r.ID,
		ClientID:  r.ClientID,
		Form:      r.Form,
		CreatedAt: dbTime(r.CreatedAt),
		ExpiresAt: dbTime(r.ExpiresAt),
	}
	if _, err := s.db(ctx).NewInsert().Model(m).Exec(ctx); err != nil {
		return mapErr("create pushed request", err)
	}
	return nil
}

// PushedRequest returns ErrNotFound for an unknown or expired request.
func (s *Store) PushedRequest(ctx context.Context, id string) (*storage.PushedRequest, error) {
	m := new(pushedRequestModel)
	err := s.reader(ctx).NewSelect().Model(m).
		Where("pr.id = ?", id).
		Where("pr.expires_at > ?", s.now()).
		Scan(ctx)
	if err != nil {
		return nil, mapErr("get pushed request", err)
	}
	return m.toDomain(), nil
}

// DeletePushedRequest consumes a request: the DELETE's affected-row count
// decides, so of concurrent callers exactly one gets nil and every other
// ErrNotFound. An expired request cannot be consumed (ErrNotFound, as
// PushedRequest); the janitor removes it.
func (s *Store) DeletePushedRequest(ctx context.Context, id string) error {
	const op = "delete pushed request"
	res, err := s.db(ctx).NewDelete().Model((*pushedRequestModel)(nil)).
		Where("id = ?", id).
		Where("expires_at > ?", s.now()).
		Exec(ctx)
	if err != nil {
		return mapErr(op, err)
	}
	return requireRow(op, res)
}
