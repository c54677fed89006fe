package storage

import (
	"context"
	"time"
)

// TOTP is a person's RFC 6238 authenticator.
type TOTP struct {
	UserID string
	// Secret is sealed by the caller (secret.Keyring) before it reaches
	// storage; the store never sees the shared key in the clear.
	Secret []byte
	// LastStep is the time-step (RFC 6238 §4: T = floor(unix / period)) of
	// the last code accepted; a code of that step or earlier is refused.
	LastStep  int64
	CreatedAt time.Time
	// ConfirmedAt is zero while the person has not yet proved, with a
	// first code, that their authenticator has the secret.
	ConfirmedAt time.Time
}

// SecondFactorStore keeps people's second factors: TOTP authenticators
// and recovery codes.
type SecondFactorStore interface {
	// UserTOTP returns the authenticator of userID (confirmed or not);
	// ErrNotFound when there is none.
	UserTOTP(ctx context.Context, userID string) (*TOTP, error)
	// SaveTOTP inserts or replaces the authenticator of t.UserID (a new
	// enrolment starts over); ErrNotFound for an unknown user.
	SaveTOTP(ctx context.Context, t *TOTP) error
	// ConfirmTOTP marks the unconfirmed authenticator of userID confirmed
	// at at, with step as its last accepted step; ErrNotFound when there
	// is no unconfirmed one.
	ConfirmTOTP(ctx context.Context, userID string, step int64, at time.Time) error
	// AdvanceTOTPStep moves the last accepted step of userID's confirmed
	// authenticator to step if it is below step, atomically across
	// instances (compare-and-set): exactly one of two callers with the same
	// step gets true. False (no error) when the step was already used or
	// there is no confirmed authenticator.
	AdvanceTOTPStep(ctx context.Context, userID string, step int64) (bool, error)
	// DeleteSecondFactors removes userID's authenticator and recovery
	// codes and reports whether there was anything to remove.
	DeleteSecondFactors(ctx context.Context, userID string) (bool, error)
	// ReplaceRecoveryCodes replaces every recovery code of userID by the
	// given hashes, in one transaction.
	ReplaceRecoveryCodes(ctx context.Context, userID string, hashes []string, at time.Time) error
	// UseRecoveryCode marks the unused code of userID with hash used at
	// at, atomically: exactly one caller gets true; false (no error) for
	// an unknown or used code.
	UseRecoveryCode(ctx context.Context, userID, hash string, at time.Time) (bool, error)
	// SetLoginSessionMethods records on login session id how it is now
	// signed in (a step-up added a factor): its amr and acr; ErrNotFound
	// for an unknown or expired session.
	SetLoginSessionMethods(ctx context.Context, id string, amr []string, acr string) error
	// RecoveryCodesLeft counts userID's unused recovery codes.
	RecoveryCodesLeft(ctx context.Context, userID string) (int, error)
}
