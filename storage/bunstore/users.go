package bunstore

import (
	"context"
	"errors"
	"strings"

	"github.com/uptrace/bun"

	"github.com/gatehouse-dev/gatehouse/storage"
)

var errEmptyUserID = errors.New("create user: the caller must set the user ID")

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
	if _, err := s.db(ctx).NewInsert().Model(userToModel(u)).Exec(ctx); err != nil {
		return mapErr("create user", err)
	}
	return nil
}

// UserByID returns ErrNotFound for an unknown ID.
func (s *Store) UserByID(ctx context.Context, id string) (*storage.User, error) {
	if namesNoRow(id) {
		return nil, notFound("get user")
	}
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

// ListUsers returns one page of the users, oldest first by (created_at,
// id); ErrNotFound when page.After names no user.
func (s *Store) ListUsers(ctx context.Context, page storage.Page) ([]*storage.User, error) {
	ms, err := selectPage[userModel](ctx, s, "list users", "users", page)
	if err != nil {
		return nil, err
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

// UpdateUser replaces every field but ID and CreatedAt. The e-mail is
// stored (and set on u) lower-cased, an empty one as NULL; UpdatedAt is
// set to now (on u as well). ErrConflict when the e-mail is taken,
// ErrNotFound for an unknown ID.
func (s *Store) UpdateUser(ctx context.Context, u *storage.User) error {
	const op = "update user"
	u.Email = normalizeEmail(u.Email)
	u.UpdatedAt = s.now()
	res, err := s.db(ctx).NewUpdate().Model(userToModel(u)).
		ExcludeColumn("id", "created_at").
		WherePK().
		Exec(ctx)
	if err != nil {
		return mapErr(op, err)
	}
	return requireRow(op, res)
}

// DeleteUser removes the user with their login sessions, consent grants,
// the flows they signed in to, their federated identities and every code
// and token whose subject they are, and clears the owner of the clients
// they owned (the clients stay), in one transaction. ErrNotFound for an
// unknown ID, and then nothing is changed.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	const op = "delete user"
	if id == "" || namesNoRow(id) {
		// Tokens without a user (client credentials) have an empty
		// subject: never touch them.
		return notFound(op)
	}
	return s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		// (login_sessions and federated_identities would also go by their
		// foreign keys' ON DELETE CASCADE.)
		for _, table := range []string{"login_sessions", "consent_grants", "auth_flows", "federated_identities"} {
			if _, err := db.NewRaw("DELETE FROM ? WHERE user_id = ?", bun.Ident(table), id).Exec(ctx); err != nil {
				return mapErr(op+": rows of "+table, err)
			}
		}
		for _, table := range requestTables {
			if _, err := db.NewRaw("DELETE FROM ? WHERE subject = ?", bun.Ident(table), id).Exec(ctx); err != nil {
				return mapErr(op+": rows of "+table, err)
			}
		}
		// RETURNING names exactly the clients this statement changed, for
		// the cache.
		var owned []string
		err := db.NewRaw("UPDATE ? SET owner_id = '', updated_at = ? WHERE owner_id = ? RETURNING id",
			bun.Ident("clients"), s.now(), id,
		).Scan(ctx, &owned)
		if err != nil {
			return mapErr(op+": clear client owner", err)
		}
		for _, clientID := range owned {
			s.invalidateClient(ctx, clientID)
		}
		res, err := db.NewDelete().Model((*userModel)(nil)).Where("id = ?", id).Exec(ctx)
		if err != nil {
			return mapErr(op, err)
		}
		// No user: the error rolls the changes above back.
		return requireRow(op, res)
	})
}

func userToModel(u *storage.User) *userModel {
	return &userModel{
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
}

func normalizeEmail(email string) string {
	return strings.ToLower(strings.TrimSpace(email))
}
