package bunstore

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// This file holds sign-in through upstream identity providers: the
// identities that link an upstream account to a user, and the sign-ins
// waiting for the upstream's answer (upstream states). A state is used
// once: ConsumeUpstreamState reads and deletes it in one statement.

var (
	errEmptyFederatedUpstream = errors.New("create federated identity: empty upstream ID")
	errEmptyFederatedSubject  = errors.New("create federated identity: empty subject")
	errEmptyUpstreamStateID   = errors.New("create upstream state: empty ID")
	errUpstreamStateNoExpiry  = errors.New("create upstream state: no expiry")
)

// CreateFederatedIdentity links (UpstreamID, Subject) to fi.UserID;
// ErrConflict when the pair is already linked (to anyone), ErrNotFound
// when the user does not exist (the foreign key decides, in the same
// statement, so a concurrent DeleteUser cannot leave an orphan link).
// CreatedAt is set to now when zero (on fi as well); a zero LastLoginAt is
// stored as NULL.
func (s *Store) CreateFederatedIdentity(ctx context.Context, fi *storage.FederatedIdentity) error {
	switch {
	case fi.UpstreamID == "":
		return errEmptyFederatedUpstream
	case fi.Subject == "":
		return errEmptyFederatedSubject
	}
	if fi.CreatedAt.IsZero() {
		fi.CreatedAt = s.now()
	}
	m := &federatedIdentityModel{
		UpstreamID:  fi.UpstreamID,
		Subject:     fi.Subject,
		UserID:      fi.UserID,
		Email:       fi.Email,
		CreatedAt:   dbTime(fi.CreatedAt),
		LastLoginAt: dbTime(fi.LastLoginAt),
	}
	if _, err := s.db(ctx).NewInsert().Model(m).Exec(ctx); err != nil {
		return mapErr("create federated identity", err)
	}
	return nil
}

// FederatedIdentity returns the link of the upstream account; ErrNotFound
// when it is not linked. Upstream IDs and subjects match exactly.
func (s *Store) FederatedIdentity(ctx context.Context, upstreamID, subject string) (*storage.FederatedIdentity, error) {
	m := new(federatedIdentityModel)
	err := s.reader(ctx).NewSelect().Model(m).
		Where("fi.upstream_id = ?", upstreamID).
		Where("fi.subject = ?", subject).
		Scan(ctx)
	if err != nil {
		return nil, mapErr("get federated identity", err)
	}
	return m.toDomain(), nil
}

// FederatedIdentitiesOfUser lists the user's links, oldest first by
// (created_at, upstream_id, subject). An empty userID has no links: the
// result is empty and no query is made.
func (s *Store) FederatedIdentitiesOfUser(ctx context.Context, userID string) ([]*storage.FederatedIdentity, error) {
	if userID == "" {
		return []*storage.FederatedIdentity{}, nil
	}
	var ms []federatedIdentityModel
	err := s.reader(ctx).NewSelect().Model(&ms).
		Where("fi.user_id = ?", userID).
		OrderExpr("fi.created_at ASC, fi.upstream_id ASC, fi.subject ASC").
		Scan(ctx)
	if err != nil {
		return nil, mapErr("list federated identities of user", err)
	}
	out := make([]*storage.FederatedIdentity, 0, len(ms))
	for i := range ms {
		out = append(out, ms[i].toDomain())
	}
	return out, nil
}

// TouchFederatedIdentity records a sign-in: LastLoginAt becomes at (now
// when zero) and Email becomes email, as the upstream said it this time.
// ErrNotFound when the upstream account is not linked.
func (s *Store) TouchFederatedIdentity(ctx context.Context, upstreamID, subject, email string, at time.Time) error {
	const op = "touch federated identity"
	if at.IsZero() {
		// Zero is stored as NULL, which would mean "never signed in".
		at = s.now()
	}
	res, err := s.db(ctx).NewUpdate().Model((*federatedIdentityModel)(nil)).
		Set("last_login_at = ?", dbTime(at)).
		Set("email = ?", email).
		Where("upstream_id = ?", upstreamID).
		Where("subject = ?", subject).
		Exec(ctx)
	if err != nil {
		return mapErr(op, err)
	}
	return requireRow(op, res)
}

// DeleteFederatedIdentity unlinks the upstream account from the user;
// ErrNotFound when it is not linked to that user (a link of another user
// stays).
func (s *Store) DeleteFederatedIdentity(ctx context.Context, userID, upstreamID, subject string) error {
	const op = "delete federated identity"
	res, err := s.db(ctx).NewDelete().Model((*federatedIdentityModel)(nil)).
		Where("user_id = ?", userID).
		Where("upstream_id = ?", upstreamID).
		Where("subject = ?", subject).
		Exec(ctx)
	if err != nil {
		return mapErr(op, err)
	}
	return requireRow(op, res)
}

// CreateUpstreamState inserts st; ErrConflict for a duplicate ID.
// CreatedAt is set to now when zero (on st as well). st must expire.
func (s *Store) CreateUpstreamState(ctx context.Context, st *storage.UpstreamState) error {
	switch {
	case st.ID == "":
		return errEmptyUpstreamStateID
	case st.ExpiresAt.IsZero():
		return errUpstreamStateNoExpiry
	}
	if st.CreatedAt.IsZero() {
		st.CreatedAt = s.now()
	}
	m := &upstreamStateModel{
		ID:          st.ID,
		UpstreamID:  st.UpstreamID,
		BrowserHash: st.BrowserHash,
		Nonce:       st.Nonce,
		Sealed:      st.Sealed,
		CreatedAt:   dbTime(st.CreatedAt),
		ExpiresAt:   dbTime(st.ExpiresAt),
	}
	if m.Sealed == nil {
		// The column is NOT NULL; bun writes a nil slice as NULL.
		m.Sealed = []byte{}
	}
	if _, err := s.db(ctx).NewInsert().Model(m).Exec(ctx); err != nil {
		return mapErr("create upstream state", err)
	}
	return nil
}

// ConsumeUpstreamState returns the state and deletes it, in one DELETE
// ... RETURNING statement (the same SQL in both dialects: SQLite has it
// since 3.35). Of concurrent callers exactly one gets the row: on
// PostgreSQL the others wait for its row lock and then find the row gone,
// on SQLite the single writer connection orders them. Unknown, expired or
// already consumed states are ErrNotFound; an expired one is left for the
// janitor.
func (s *Store) ConsumeUpstreamState(ctx context.Context, id string) (*storage.UpstreamState, error) {
	m := new(upstreamStateModel)
	err := s.db(ctx).NewDelete().Model(m).
		Where("id = ?", id).
		Where("expires_at > ?", s.now()).
		Returning("*").
		Scan(ctx)
	if err != nil {
		return nil, mapErr("consume upstream state", err)
	}
	return m.toDomain(), nil
}
