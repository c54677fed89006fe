package bunstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// SigningKeys lists every key, newest first.
func (s *Store) SigningKeys(ctx context.Context) ([]*storage.SigningKey, error) {
	var ms []signingKeyModel
	err := s.reader(ctx).NewSelect().Model(&ms).
		OrderExpr("sk.created_at DESC, sk.kid DESC").
		Scan(ctx)
	if err != nil {
		return nil, mapErr("list signing keys", err)
	}
	out := make([]*storage.SigningKey, 0, len(ms))
	for i := range ms {
		out = append(out, ms[i].toDomain())
	}
	return out, nil
}

// CreateSigningKey inserts k. A duplicate kid, or a second current or a
// second next key of one algorithm (two partial unique indexes), is
// ErrConflict: of several instances that start or rotate together and each
// generate a key, one wins. CreatedAt is set to now when zero.
func (s *Store) CreateSigningKey(ctx context.Context, k *storage.SigningKey) error {
	switch {
	case k.KID == "":
		return fmt.Errorf("create signing key: empty kid")
	case k.State != storage.KeyStateNext && k.State != storage.KeyStateCurrent && k.State != storage.KeyStateRetired:
		return fmt.Errorf("create signing key: unknown state %q", k.State)
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = s.now()
	}
	m := &signingKeyModel{
		KID:         k.KID,
		Algorithm:   k.Algorithm,
		State:       k.State,
		PrivateKey:  k.PrivateKey,
		PublicKey:   string(k.PublicKey),
		CreatedAt:   dbTime(k.CreatedAt),
		ActivatedAt: dbTime(k.ActivatedAt),
		RetiredAt:   dbTime(k.RetiredAt),
	}
	if m.PrivateKey == nil {
		// The column is NOT NULL; bun writes a nil slice as NULL.
		m.PrivateKey = []byte{}
	}
	if _, err := s.db(ctx).NewInsert().Model(m).Exec(ctx); err != nil {
		return mapErr("create signing key", err)
	}
	return nil
}

// PromoteSigningKey rotates alg in one transaction: currentKID (state
// current) is retired at at, then nextKID (state next) becomes current at
// at (now when zero). In that order, because of the partial unique index
// that allows one current key per algorithm. Each UPDATE is conditional on
// the state and must match exactly one row, else nothing changes and the
// result is ErrConflict: another instance rotated first, or a kid is wrong.
//
// Of concurrent callers promoting the same pair exactly one succeeds. On
// PostgreSQL (READ COMMITTED) the others wait for the winner's row lock on
// currentKID, then re-check the WHERE clause on the row it committed, find
// it retired and update nothing; on SQLite the single writer connection
// orders them.
//
// The updates run under a savepoint: in a transaction of the caller's the
// retirement is undone when the promotion fails, so that even a caller
// that commits after ErrConflict leaves every key as it was.
func (s *Store) PromoteSigningKey(ctx context.Context, alg, currentKID, nextKID string, at time.Time) error {
	const op = "promote signing key"
	if at.IsZero() {
		// Zero is stored as NULL, which would mean "never activated".
		at = s.now()
	}
	at = dbTime(at)
	return s.InTx(ctx, func(ctx context.Context) (err error) {
		sp, err := s.txFrom(ctx).tx.BeginTx(ctx, nil)
		if err != nil {
			return mapErr(op+": savepoint", err)
		}
		defer func() {
			if err != nil {
				if rbErr := sp.Rollback(); rbErr != nil {
					err = errors.Join(err, mapErr(op+": roll back to savepoint", rbErr))
				}
			}
		}()
		if err := s.setKeyState(ctx, sp, op, alg, currentKID, storage.KeyStateCurrent, storage.KeyStateRetired, "retired_at", at); err != nil {
			return err
		}
		if err := s.setKeyState(ctx, sp, op, alg, nextKID, storage.KeyStateNext, storage.KeyStateCurrent, "activated_at", at); err != nil {
			return err
		}
		if err := sp.Commit(); err != nil {
			return mapErr(op+": release savepoint", err)
		}
		return nil
	})
}

// setKeyState moves kid of alg from state from to state to, setting the
// time column timeCol to at; ErrConflict unless exactly one row matched.
func (s *Store) setKeyState(ctx context.Context, db bun.IDB, op, alg, kid, from, to, timeCol string, at time.Time) error {
	res, err := db.NewUpdate().Model((*signingKeyModel)(nil)).
		Set("state = ?", to).
		Set("? = ?", bun.Ident(timeCol), at).
		Where("kid = ?", kid).
		Where("algorithm = ?", alg).
		Where("state = ?", from).
		Exec(ctx)
	if err != nil {
		return mapErr(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return mapErr(op, err)
	}
	if n != 1 {
		return fmt.Errorf("%s: %q is not the %s %s key: %w", op, kid, from, alg, storage.ErrConflict)
	}
	return nil
}

// DeleteSigningKey removes a retired key; ErrNotFound for an unknown kid
// and for a current or next key, which stay.
func (s *Store) DeleteSigningKey(ctx context.Context, kid string) error {
	const op = "delete signing key"
	res, err := s.db(ctx).NewDelete().Model((*signingKeyModel)(nil)).
		Where("kid = ?", kid).
		Where("state = ?", storage.KeyStateRetired).
		Exec(ctx)
	if err != nil {
		return mapErr(op, err)
	}
	return requireRow(op, res)
}

// ResealSigningKey replaces the sealed private key of kid, whatever its
// state; ErrNotFound for an unknown kid.
func (s *Store) ResealSigningKey(ctx context.Context, kid string, sealed []byte) error {
	const op = "reseal signing key"
	if sealed == nil {
		// The column is NOT NULL; bun writes a nil slice as NULL.
		sealed = []byte{}
	}
	res, err := s.db(ctx).NewUpdate().Model((*signingKeyModel)(nil)).
		Set("private_key = ?", sealed).
		Where("kid = ?", kid).
		Exec(ctx)
	if err != nil {
		return mapErr(op, err)
	}
	return requireRow(op, res)
}
