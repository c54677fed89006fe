package bunstore

import (
	"context"
	"errors"
	"strings"

	"github.com/gatehouse-dev/gatehouse/storage"
)

var errEmptyUserID = errors.New("bunstore: create user: the caller must set the user ID")

// CreateUser inserts u. The caller sets u.ID. The e-mail is stored (and
// set on u) lower-cased; ErrConflict when the ID or e-mail is taken.
// CreatedAt and UpdatedAt are set to now when zero.
func (s *Store) CreateUser(ctx context.Context, u *storage.User) error {
	if u.ID == "" {
		return errEmptyUserID
	}
	u.Email = normalizeEmail(u.Email)
	now := s.now()
	if u.CreatedAt.IsZero() {
		u.CreatedAt = now
	}
	if u.UpdatedAt.IsZero() {
		u.UpdatedAt = u.CreatedAt
	}
	m := &userModel{
		ID:            u.ID,
		Email:         u.Email,
		EmailVerified: u.EmailVerified,
		Name:          u.Name,
		PasswordHash:  u.PasswordHash,
		Roles:         encodeList(u.Roles),
		Disabled:      u.Disabled,
		CreatedAt:     dbTime(u.CreatedAt),
		UpdatedAt:     dbTime(u.UpdatedAt),
	}
	if _, err := s.db(ctx).NewInsert().Model(m).Exec(ctx); err != nil {
		return mapErr("create user", err)
	}
	return nil
}

// UserByID returns ErrNotFound for an unknown ID.
func (s *Store) UserByID(ctx context.Context, id string) (*storage.User, error) {
	m := new(userModel)
	if err := s.reader(ctx).NewSelect().Model(m).Where("u.id = ?", id).Scan(ctx); err != nil {
		return nil, mapErr("get user", err)
	}
	return m.toDomain()
}

// UserByEmail matches case-insensitively (e-mails are stored lower-cased).
func (s *Store) UserByEmail(ctx context.Context, email string) (*storage.User, error) {
	email = normalizeEmail(email)
	if email == "" {
		return nil, notFound("get user by email")
	}
	m := new(userModel)
	if err := s.reader(ctx).NewSelect().Model(m).Where("u.email = ?", email).Scan(ctx); err != nil {
		return nil, mapErr("get user by email", err)
	}
	return m.toDomain()
}

// ListUsers returns every user, oldest first.
func (s *Store) ListUsers(ctx context.Context) ([]*storage.User, error) {
	var ms []userModel
	if err := s.reader(ctx).NewSelect().Model(&ms).Order("u.created_at", "u.id").Scan(ctx); err != nil {
		return nil, mapErr("list users", err)
	}
	out := make([]*storage.User, 0, len(ms))
	for i := range ms {
		u, err := ms[i].toDomain()
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

func normalizeEmail(email string) string {
	return strings.ToLower(strings.TrimSpace(email))
}
