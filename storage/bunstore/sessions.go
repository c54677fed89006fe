package bunstore

import (
	"context"
	"errors"
	"time"

	"github.com/uptrace/bun"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// This file holds the browser-facing state: login sessions, remembered
// consent and authorization flows waiting for the user. Expired rows are
// invisible (ErrNotFound) as soon as Options.Now passes their expiry; the
// janitor (DeleteExpired) removes them later.

var (
	errEmptySessionID = errors.New("create login session: empty ID")
	errEmptyFlowID    = errors.New("create auth flow: empty ID")
)

// CreateLoginSession inserts a browser session; ErrConflict for a
// duplicate ID, ErrNotFound when the user does not exist. AMR is stored as
// a JSON array (nil and empty as "[]", read back as nil).
func (s *Store) CreateLoginSession(ctx context.Context, ls *storage.LoginSession) error {
	if ls.ID == "" {
		return errEmptySessionID
	}
	if ls.CreatedAt.IsZero() {
		ls.CreatedAt = s.now()
	}
	m := &loginSessionModel{
		ID:        ls.ID,
		UserID:    ls.UserID,
		AuthTime:  dbTime(ls.AuthTime),
		ExpiresAt: dbTime(ls.ExpiresAt),
		CreatedAt: dbTime(ls.CreatedAt),
		AMR:       encodeList(ls.AMR),
		ACR:       ls.ACR,
		SID:       ls.SID,
		UserAgent: ls.UserAgent,
		IP:        ls.IP,
	}
	if _, err := s.db(ctx).NewInsert().Model(m).Exec(ctx); err != nil {
		return mapErr("create login session", err)
	}
	return nil
}

// LoginSession returns ErrNotFound for an unknown or expired session.
func (s *Store) LoginSession(ctx context.Context, id string) (*storage.LoginSession, error) {
	m := new(loginSessionModel)
	err := s.reader(ctx).NewSelect().Model(m).
		Where("ls.id = ?", id).
		Where("ls.expires_at > ?", s.now()).
		Scan(ctx)
	if err != nil {
		return nil, mapErr("get login session", err)
	}
	return m.toDomain()
}

// DeleteLoginSession is idempotent.
func (s *Store) DeleteLoginSession(ctx context.Context, id string) error {
	if _, err := s.db(ctx).NewDelete().Model((*loginSessionModel)(nil)).Where("id = ?", id).Exec(ctx); err != nil {
		return mapErr("delete login session", err)
	}
	return nil
}

// DeleteLoginSessionsOfUser signs the user out of every browser; it is
// idempotent.
func (s *Store) DeleteLoginSessionsOfUser(ctx context.Context, userID string) error {
	if _, err := s.db(ctx).NewDelete().Model((*loginSessionModel)(nil)).Where("user_id = ?", userID).Exec(ctx); err != nil {
		return mapErr("delete login sessions of user", err)
	}
	return nil
}

// ConsentGrant returns ErrNotFound when the user never consented.
func (s *Store) ConsentGrant(ctx context.Context, userID, clientID string) (*storage.ConsentGrant, error) {
	if namesNoRow(userID) || namesNoRow(clientID) {
		return nil, notFound("get consent grant")
	}
	m := new(consentGrantModel)
	err := s.reader(ctx).NewSelect().Model(m).
		Where("cg.user_id = ?", userID).
		Where("cg.client_id = ?", clientID).
		Scan(ctx)
	if err != nil {
		return nil, mapErr("get consent grant", err)
	}
	return m.toDomain()
}

// SaveConsentGrant inserts the grant of (user, client) or replaces its
// scopes; the first grant's CreatedAt is kept.
func (s *Store) SaveConsentGrant(ctx context.Context, g *storage.ConsentGrant) error {
	now := s.now()
	created := g.CreatedAt
	if created.IsZero() {
		created = now
	}
	m := &consentGrantModel{
		UserID:    g.UserID,
		ClientID:  g.ClientID,
		Scopes:    encodeList(g.Scopes),
		CreatedAt: dbTime(created),
		UpdatedAt: now,
	}
	_, err := s.db(ctx).NewInsert().Model(m).
		On("CONFLICT (user_id, client_id) DO UPDATE").
		Set("scopes = EXCLUDED.scopes").
		Set("updated_at = EXCLUDED.updated_at").
		Exec(ctx)
	if err != nil {
		return mapErr("save consent grant", err)
	}
	return nil
}

// ListConsentGrants lists the user's grants, most recently updated first
// (by client ID among equal times).
func (s *Store) ListConsentGrants(ctx context.Context, userID string) ([]*storage.ConsentGrant, error) {
	var ms []consentGrantModel
	err := s.reader(ctx).NewSelect().Model(&ms).
		Where("cg.user_id = ?", userID).
		OrderExpr("cg.updated_at DESC, cg.client_id ASC").
		Scan(ctx)
	if err != nil {
		return nil, mapErr("list consent grants", err)
	}
	out := make([]*storage.ConsentGrant, 0, len(ms))
	for i := range ms {
		g, err := ms[i].toDomain()
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, nil
}

// DeleteConsentGrant revokes the user's grant to the client: in one
// transaction it deletes the grant and every code, PKCE and OpenID Connect
// session, access token and refresh token of the client whose subject is
// the user. ErrNotFound when there was no grant, and then nothing is
// deleted.
func (s *Store) DeleteConsentGrant(ctx context.Context, userID, clientID string) error {
	const op = "delete consent grant"
	if namesNoRow(userID) || namesNoRow(clientID) {
		return notFound(op)
	}
	return s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		res, err := db.NewDelete().Model((*consentGrantModel)(nil)).
			Where("user_id = ?", userID).
			Where("client_id = ?", clientID).
			Exec(ctx)
		if err != nil {
			return mapErr(op, err)
		}
		if err := requireRow(op, res); err != nil {
			return err
		}
		for _, table := range requestTables {
			_, err := db.NewRaw("DELETE FROM ? WHERE client_id = ? AND subject = ?", bun.Ident(table), clientID, userID).Exec(ctx)
			if err != nil {
				return mapErr(op+": rows of "+table, err)
			}
		}
		return nil
	})
}

// CreateAuthFlow inserts a pending authorization request; ErrConflict for
// a duplicate ID.
func (s *Store) CreateAuthFlow(ctx context.Context, f *storage.AuthFlow) error {
	if f.ID == "" {
		return errEmptyFlowID
	}
	m := &authFlowModel{
		ID:          f.ID,
		ClientID:    f.ClientID,
		Form:        f.Form,
		RequestedAt: dbTime(f.RequestedAt),
		ExpiresAt:   dbTime(f.ExpiresAt),
		UserID:      f.UserID,
		AuthTime:    dbTime(f.AuthTime),
	}
	if _, err := s.db(ctx).NewInsert().Model(m).Exec(ctx); err != nil {
		return mapErr("create auth flow", err)
	}
	return nil
}

// AuthFlow returns ErrNotFound for an unknown or expired flow.
func (s *Store) AuthFlow(ctx context.Context, id string) (*storage.AuthFlow, error) {
	m := new(authFlowModel)
	err := s.reader(ctx).NewSelect().Model(m).
		Where("af.id = ?", id).
		Where("af.expires_at > ?", s.now()).
		Scan(ctx)
	if err != nil {
		return nil, mapErr("get auth flow", err)
	}
	return m.toDomain(), nil
}

// SetAuthFlowLogin records who signed in within the flow; ErrNotFound for
// an unknown or expired flow.
func (s *Store) SetAuthFlowLogin(ctx context.Context, id, userID string, authTime time.Time) error {
	res, err := s.db(ctx).NewUpdate().Model((*authFlowModel)(nil)).
		Set("user_id = ?", userID).
		Set("auth_time = ?", dbTime(authTime)).
		Where("id = ?", id).
		Where("expires_at > ?", s.now()).
		Exec(ctx)
	if err != nil {
		return mapErr("set auth flow login", err)
	}
	return requireRow("set auth flow login", res)
}

// DeleteAuthFlow consumes a flow: the DELETE's affected-row count decides,
// so of concurrent callers exactly one gets nil and every other gets
// ErrNotFound.
func (s *Store) DeleteAuthFlow(ctx context.Context, id string) error {
	res, err := s.db(ctx).NewDelete().Model((*authFlowModel)(nil)).Where("id = ?", id).Exec(ctx)
	if err != nil {
		return mapErr("delete auth flow", err)
	}
	return requireRow("delete auth flow", res)
}
