package bunstore

import (
	"context"
	"fmt"

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

// CreateSigningKey inserts k. A duplicate kid, or a second current key of
// one algorithm (a partial unique index), is ErrConflict: of several
// instances that start together and each generate a key, one wins.
// CreatedAt is set to now when zero.
func (s *Store) CreateSigningKey(ctx context.Context, k *storage.SigningKey) error {
	switch {
	case k.KID == "":
		return fmt.Errorf("bunstore: create signing key: empty kid")
	case k.State != storage.KeyStateNext && k.State != storage.KeyStateCurrent && k.State != storage.KeyStateRetired:
		return fmt.Errorf("bunstore: create signing key: unknown state %q", k.State)
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
