package bunstore

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/uptrace/bun"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// This file holds passkeys (WebAuthn credential records) and the state of
// WebAuthn ceremonies under way. Byte strings are stored as text
// (base64url, hex): the same literals in both dialects.

type passkeyModel struct {
	bun.BaseModel `bun:"table:passkeys,alias:pk"`

	ID                string    `bun:"id,pk"`
	UserID            string    `bun:"user_id"`
	CredentialID      string    `bun:"credential_id"`
	Name              string    `bun:"name"`
	PublicKey         string    `bun:"public_key"`
	AttestationType   string    `bun:"attestation_type"`
	AttestationFormat string    `bun:"attestation_format"`
	AAGUID            string    `bun:"aaguid"`
	SignCount         int64     `bun:"sign_count"`
	Transports        string    `bun:"transports"`
	UserVerified      bool      `bun:"user_verified"`
	BackupEligible    bool      `bun:"backup_eligible"`
	BackupState       bool      `bun:"backup_state"`
	CloneWarning      bool      `bun:"clone_warning"`
	CreatedAt         time.Time `bun:"created_at"`
	LastUsedAt        time.Time `bun:"last_used_at,nullzero"`
}

var b64 = base64.RawURLEncoding

func (m *passkeyModel) toDomain() *storage.Passkey {
	p := &storage.Passkey{
		ID: m.ID, UserID: m.UserID, Name: m.Name, AttestationType: m.AttestationType,
		AttestationFormat: m.AttestationFormat, SignCount: uint32(m.SignCount),
		UserVerified: m.UserVerified, BackupEligible: m.BackupEligible, BackupState: m.BackupState,
		CloneWarning: m.CloneWarning, CreatedAt: m.CreatedAt.UTC(),
	}
	// The columns were written by passkeyRow; a value that does not decode
	// is left empty (the passkey then verifies nothing).
	p.CredentialID, _ = b64.DecodeString(m.CredentialID)
	p.PublicKey, _ = b64.DecodeString(m.PublicKey)
	p.AAGUID, _ = hex.DecodeString(m.AAGUID)
	_ = json.Unmarshal([]byte(m.Transports), &p.Transports)
	if !m.LastUsedAt.IsZero() {
		p.LastUsedAt = m.LastUsedAt.UTC()
	}
	return p
}

func passkeyRow(p *storage.Passkey) *passkeyModel {
	transports, _ := json.Marshal(p.Transports)
	if p.Transports == nil {
		transports = []byte("[]")
	}
	m := &passkeyModel{
		ID: p.ID, UserID: p.UserID, CredentialID: b64.EncodeToString(p.CredentialID), Name: p.Name,
		PublicKey: b64.EncodeToString(p.PublicKey), AttestationType: p.AttestationType,
		AttestationFormat: p.AttestationFormat, AAGUID: hex.EncodeToString(p.AAGUID),
		SignCount: int64(p.SignCount), Transports: string(transports), UserVerified: p.UserVerified,
		BackupEligible: p.BackupEligible, BackupState: p.BackupState, CloneWarning: p.CloneWarning,
		CreatedAt: dbTime(p.CreatedAt),
	}
	if !p.LastUsedAt.IsZero() {
		m.LastUsedAt = dbTime(p.LastUsedAt)
	}
	return m
}

var errPasskeyIncomplete = errors.New("passkey needs an id, a user, a credential id and a public key")

// CreatePasskey stores a new passkey.
func (s *Store) CreatePasskey(ctx context.Context, p *storage.Passkey) error {
	if p.ID == "" || p.UserID == "" || len(p.CredentialID) == 0 || len(p.PublicKey) == 0 {
		return errPasskeyIncomplete
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = s.now()
	}
	p.CreatedAt = dbTime(p.CreatedAt)
	return s.InTx(ctx, func(ctx context.Context) error {
		// An unknown user is ErrNotFound in both dialects, not a foreign
		// key error whose shape differs.
		n, err := s.db(ctx).NewSelect().Model((*userModel)(nil)).Where("id = ?", p.UserID).Count(ctx)
		if err != nil {
			return mapErr("create passkey: user", err)
		}
		if n == 0 {
			return notFound("create passkey: user")
		}
		if _, err := s.db(ctx).NewInsert().Model(passkeyRow(p)).Exec(ctx); err != nil {
			return mapErr("create passkey", err)
		}
		return nil
	})
}

// PasskeysOfUser lists the user's passkeys, oldest first.
func (s *Store) PasskeysOfUser(ctx context.Context, userID string) ([]*storage.Passkey, error) {
	if namesNoRow(userID) {
		return nil, nil
	}
	var ms []passkeyModel
	if err := s.db(ctx).NewSelect().Model(&ms).Where("user_id = ?", userID).Order("created_at", "id").Scan(ctx); err != nil {
		return nil, mapErr("passkeys of user", err)
	}
	out := make([]*storage.Passkey, 0, len(ms))
	for i := range ms {
		out = append(out, ms[i].toDomain())
	}
	return out, nil
}

// PasskeyByCredentialID finds a passkey by its credential id.
func (s *Store) PasskeyByCredentialID(ctx context.Context, credentialID []byte) (*storage.Passkey, error) {
	if len(credentialID) == 0 {
		return nil, notFound("passkey by credential id")
	}
	m := new(passkeyModel)
	if err := s.db(ctx).NewSelect().Model(m).Where("credential_id = ?", b64.EncodeToString(credentialID)).Scan(ctx); err != nil {
		return nil, mapErr("passkey by credential id", err)
	}
	return m.toDomain(), nil
}

// RecordPasskeyUse writes what an assertion changed.
func (s *Store) RecordPasskeyUse(ctx context.Context, p *storage.Passkey, usedAt time.Time) error {
	q := s.db(ctx).NewUpdate().Model((*passkeyModel)(nil)).
		Set("sign_count = ?", int64(p.SignCount)).
		Set("user_verified = ?", p.UserVerified).
		Set("backup_state = ?", p.BackupState).
		Set("clone_warning = ?", p.CloneWarning).
		Where("id = ?", p.ID)
	if !usedAt.IsZero() {
		q = q.Set("last_used_at = ?", dbTime(usedAt))
	}
	res, err := q.Exec(ctx)
	if err != nil {
		return mapErr("record passkey use", err)
	}
	return requireRow("record passkey use", res)
}

// RenamePasskey renames one of the user's passkeys.
func (s *Store) RenamePasskey(ctx context.Context, userID, id, name string) error {
	if namesNoRow(userID) || namesNoRow(id) {
		return notFound("rename passkey")
	}
	res, err := s.db(ctx).NewUpdate().Model((*passkeyModel)(nil)).Set("name = ?", name).
		Where("id = ?", id).Where("user_id = ?", userID).Exec(ctx)
	if err != nil {
		return mapErr("rename passkey", err)
	}
	return requireRow("rename passkey", res)
}

// DeletePasskey deletes one of the user's passkeys if allowed agrees.
func (s *Store) DeletePasskey(ctx context.Context, userID, id string, allowed func(others []*storage.Passkey) error) error {
	const op = "delete passkey"
	if namesNoRow(userID) || namesNoRow(id) {
		return notFound(op)
	}
	return s.InTx(ctx, func(ctx context.Context) error {
		// Holding the user's row (a no-op update takes its row lock on
		// PostgreSQL; SQLite's writes are serialised anyway) orders
		// concurrent removals of one person's passkeys: the second sees
		// what the first left.
		res, err := s.db(ctx).NewUpdate().Model((*userModel)(nil)).Set("updated_at = updated_at").Where("id = ?", userID).Exec(ctx)
		if err != nil {
			return mapErr(op+": hold user", err)
		}
		if err := requireRow(op, res); err != nil {
			return err
		}
		all, err := s.PasskeysOfUser(ctx, userID)
		if err != nil {
			return err
		}
		found := false
		others := make([]*storage.Passkey, 0, len(all))
		for _, p := range all {
			if p.ID == id {
				found = true
			} else {
				others = append(others, p)
			}
		}
		if !found {
			return notFound(op)
		}
		if allowed != nil {
			if err := allowed(others); err != nil {
				return err
			}
		}
		res, err = s.db(ctx).NewDelete().Model((*passkeyModel)(nil)).Where("id = ?", id).Where("user_id = ?", userID).Exec(ctx)
		if err != nil {
			return mapErr(op, err)
		}
		return requireRow(op, res)
	})
}

type webauthnChallengeModel struct {
	bun.BaseModel `bun:"table:webauthn_challenges,alias:wc"`

	ID        string    `bun:"id,pk"`
	Kind      string    `bun:"kind"`
	UserID    string    `bun:"user_id"`
	Data      string    `bun:"data"`
	CreatedAt time.Time `bun:"created_at"`
	ExpiresAt time.Time `bun:"expires_at"`
}

var errWebAuthnChallengeIncomplete = errors.New("WebAuthn challenge needs an id, a kind and an expiry")

// CreateWebAuthnChallenge stores a ceremony's state.
func (s *Store) CreateWebAuthnChallenge(ctx context.Context, c *storage.WebAuthnChallenge) error {
	if c.ID == "" || c.Kind == "" || c.ExpiresAt.IsZero() {
		return errWebAuthnChallengeIncomplete
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = s.now()
	}
	m := &webauthnChallengeModel{
		ID: c.ID, Kind: c.Kind, UserID: c.UserID, Data: string(c.Data),
		CreatedAt: dbTime(c.CreatedAt), ExpiresAt: dbTime(c.ExpiresAt),
	}
	if _, err := s.db(ctx).NewInsert().Model(m).Exec(ctx); err != nil {
		return mapErr("create WebAuthn challenge", err)
	}
	return nil
}

// ConsumeWebAuthnChallenge returns the challenge and deletes it in one
// DELETE ... RETURNING (as ConsumeUpstreamState does): exactly one of
// concurrent callers gets it.
func (s *Store) ConsumeWebAuthnChallenge(ctx context.Context, id, kind string) (*storage.WebAuthnChallenge, error) {
	if id == "" || namesNoRow(id) || namesNoRow(kind) {
		return nil, notFound("consume WebAuthn challenge")
	}
	m := new(webauthnChallengeModel)
	err := s.db(ctx).NewDelete().Model(m).
		Where("id = ?", id).
		Where("kind = ?", kind).
		Where("expires_at > ?", s.now()).
		Returning("*").
		Scan(ctx)
	if err != nil {
		return nil, mapErr("consume WebAuthn challenge", err)
	}
	return &storage.WebAuthnChallenge{
		ID: m.ID, Kind: m.Kind, UserID: m.UserID, Data: []byte(m.Data),
		CreatedAt: m.CreatedAt.UTC(), ExpiresAt: m.ExpiresAt.UTC(),
	}, nil
}
