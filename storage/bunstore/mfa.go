package bunstore

import (
	"context"
	"time"

	"github.com/uptrace/bun"

	"github.com/gatehouse-dev/gatehouse/storage"
)

type totpModel struct {
	bun.BaseModel `bun:"table:user_totp,alias:tt"`

	UserID      string    `bun:"user_id,pk"`
	Secret      []byte    `bun:"secret"`
	LastStep    int64     `bun:"last_step"`
	CreatedAt   time.Time `bun:"created_at"`
	ConfirmedAt time.Time `bun:"confirmed_at,nullzero"`
}

type recoveryCodeModel struct {
	bun.BaseModel `bun:"table:recovery_codes,alias:rc"`

	UserID    string    `bun:"user_id,pk"`
	CodeHash  string    `bun:"code_hash,pk"`
	CreatedAt time.Time `bun:"created_at"`
	UsedAt    time.Time `bun:"used_at,nullzero"`
}

// UserTOTP reads from the primary: the last accepted step must be the
// newest (a replica's lag would only make the compare-and-set fail, but
// the person would see a confusing "enrol again").
func (s *Store) UserTOTP(ctx context.Context, userID string) (*storage.TOTP, error) {
	if namesNoRow(userID) {
		return nil, notFound("get totp")
	}
	m := new(totpModel)
	if err := s.db(ctx).NewSelect().Model(m).Where("tt.user_id = ?", userID).Scan(ctx); err != nil {
		return nil, mapErr("get totp", err)
	}
	return &storage.TOTP{
		UserID: m.UserID, Secret: m.Secret, LastStep: m.LastStep,
		CreatedAt: m.CreatedAt.UTC(), ConfirmedAt: utcOrZero(m.ConfirmedAt),
	}, nil
}

// SaveTOTP inserts or replaces the authenticator of t.UserID.
func (s *Store) SaveTOTP(ctx context.Context, t *storage.TOTP) error {
	if t.CreatedAt.IsZero() {
		t.CreatedAt = s.now()
	}
	m := &totpModel{UserID: t.UserID, Secret: t.Secret, LastStep: t.LastStep, CreatedAt: t.CreatedAt, ConfirmedAt: t.ConfirmedAt}
	_, err := s.db(ctx).NewInsert().Model(m).
		On("CONFLICT (user_id) DO UPDATE").
		Set("secret = EXCLUDED.secret, last_step = EXCLUDED.last_step, created_at = EXCLUDED.created_at, confirmed_at = EXCLUDED.confirmed_at").
		Exec(ctx)
	return mapErr("save totp", err)
}

// ConfirmTOTP confirms an unconfirmed authenticator once.
func (s *Store) ConfirmTOTP(ctx context.Context, userID string, step int64, at time.Time) error {
	res, err := s.db(ctx).NewUpdate().Model((*totpModel)(nil)).
		Set("confirmed_at = ?", at).Set("last_step = ?", step).
		Where("user_id = ?", userID).Where("confirmed_at IS NULL").
		Exec(ctx)
	if err != nil {
		return mapErr("confirm totp", err)
	}
	return requireRow("confirm totp", res)
}

// AdvanceTOTPStep is one conditional UPDATE: the database serialises two
// instances accepting the same code, and only one sees its row change.
func (s *Store) AdvanceTOTPStep(ctx context.Context, userID string, step int64) (bool, error) {
	res, err := s.db(ctx).NewUpdate().Model((*totpModel)(nil)).
		Set("last_step = ?", step).
		Where("user_id = ?", userID).Where("confirmed_at IS NOT NULL").Where("last_step < ?", step).
		Exec(ctx)
	if err != nil {
		return false, mapErr("advance totp step", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, mapErr("advance totp step", err)
	}
	return n == 1, nil
}

// DeleteSecondFactors removes the authenticator and the recovery codes in
// one transaction.
func (s *Store) DeleteSecondFactors(ctx context.Context, userID string) (bool, error) {
	var removed bool
	err := s.InTx(ctx, func(ctx context.Context) error {
		for _, model := range []any{(*totpModel)(nil), (*recoveryCodeModel)(nil)} {
			res, err := s.db(ctx).NewDelete().Model(model).Where("user_id = ?", userID).Exec(ctx)
			if err != nil {
				return mapErr("delete second factors", err)
			}
			if n, _ := res.RowsAffected(); n > 0 {
				removed = true
			}
		}
		return nil
	})
	return removed, err
}

// ReplaceRecoveryCodes swaps the whole set in one transaction.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID string, hashes []string, at time.Time) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		if _, err := db.NewDelete().Model((*recoveryCodeModel)(nil)).Where("user_id = ?", userID).Exec(ctx); err != nil {
			return mapErr("replace recovery codes", err)
		}
		if len(hashes) == 0 {
			return nil
		}
		rows := make([]recoveryCodeModel, 0, len(hashes))
		for _, h := range hashes {
			rows = append(rows, recoveryCodeModel{UserID: userID, CodeHash: h, CreatedAt: at})
		}
		_, err := db.NewInsert().Model(&rows).Exec(ctx)
		return mapErr("replace recovery codes", err)
	})
}

// UseRecoveryCode is one conditional UPDATE: a code is used once.
func (s *Store) UseRecoveryCode(ctx context.Context, userID, hash string, at time.Time) (bool, error) {
	res, err := s.db(ctx).NewUpdate().Model((*recoveryCodeModel)(nil)).
		Set("used_at = ?", at).
		Where("user_id = ?", userID).Where("code_hash = ?", hash).Where("used_at IS NULL").
		Exec(ctx)
	if err != nil {
		return false, mapErr("use recovery code", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, mapErr("use recovery code", err)
	}
	return n == 1, nil
}

// RecoveryCodesLeft counts the unused codes.
func (s *Store) RecoveryCodesLeft(ctx context.Context, userID string) (int, error) {
	n, err := s.db(ctx).NewSelect().Model((*recoveryCodeModel)(nil)).
		Where("user_id = ?", userID).Where("used_at IS NULL").Count(ctx)
	return int(n), mapErr("count recovery codes", err)
}

// SetLoginSessionMethods records a step-up on a live session.
func (s *Store) SetLoginSessionMethods(ctx context.Context, id string, amr []string, acr string) error {
	res, err := s.db(ctx).NewUpdate().Model((*loginSessionModel)(nil)).
		Set("amr = ?", encodeList(amr)).Set("acr = ?", acr).
		Where("id = ?", id).Where("expires_at > ?", s.now()).
		Exec(ctx)
	if err != nil {
		return mapErr("set login session methods", err)
	}
	return requireRow("set login session methods", res)
}
