package storage

import (
	"context"
	"time"
)

// Passkey is a WebAuthn public key credential registered to a person
// (a credential record, WebAuthn Level 3 §4 "Credential Record"): what the
// server keeps to verify the person's later assertions with it.
type Passkey struct {
	// ID is ours (a UUID), for the account page's forms; the credential
	// itself is named by CredentialID.
	ID     string
	UserID string
	// CredentialID is the credential's id as the authenticator chose it
	// (at most 1023 bytes, WebAuthn §5.8.3); unique across all people.
	CredentialID []byte
	// Name is what the person called it ("Laptop", "Phone").
	Name string
	// PublicKey is the COSE_Key of the credential public key.
	PublicKey []byte
	// AttestationType and AttestationFormat are what registration
	// conveyed ("none" when the authenticator gave no attestation).
	AttestationType   string
	AttestationFormat string
	// AAGUID is the authenticator model (16 bytes; all zero when not
	// conveyed).
	AAGUID []byte
	// SignCount is the last signature counter seen (WebAuthn §6.1.1).
	SignCount uint32
	// Transports are the hints the browser gave at registration ("usb",
	// "internal", "hybrid", ...), sent back in allowCredentials.
	Transports []string
	// The authenticator data flags of registration, kept up to date:
	// UV (user verified), BE (backup eligible, a multi-device credential)
	// and BS (backed up now), WebAuthn §6.1.
	UserVerified   bool
	BackupEligible bool
	BackupState    bool
	// CloneWarning is set when an assertion's signature counter did not
	// increase (WebAuthn §6.1.1, §7.2 step 21): two copies of the private
	// key may exist. Such a passkey no longer signs anyone in.
	CloneWarning bool
	CreatedAt    time.Time
	// LastUsedAt is zero until the passkey has signed the person in.
	LastUsedAt time.Time
}

// WebAuthnChallenge is the server's state of one WebAuthn ceremony between
// its begin and its finish (the challenge and what the finish checks),
// kept in the database so that any instance can finish a ceremony another
// one began. It is used once and lives a few minutes.
type WebAuthnChallenge struct {
	// ID is the hex SHA-256 of the handle the browser holds (in a cookie);
	// the handle itself is never stored.
	ID string
	// Kind names the ceremony: which finish may take it.
	Kind string
	// UserID is the person the ceremony is for; "" for a discoverable
	// sign-in, where the authenticator says who.
	UserID string
	// Data is the ceremony state, serialised by the caller.
	Data      []byte
	CreatedAt time.Time
	ExpiresAt time.Time
}

// PasskeyStore keeps people's passkeys and the state of the WebAuthn
// ceremonies under way.
type PasskeyStore interface {
	// CreatePasskey returns ErrConflict when the credential id is already
	// registered (to anyone), ErrNotFound for an unknown user.
	CreatePasskey(ctx context.Context, p *Passkey) error
	// PasskeysOfUser lists the user's passkeys, oldest first.
	PasskeysOfUser(ctx context.Context, userID string) ([]*Passkey, error)
	// PasskeyByCredentialID returns ErrNotFound for an unknown credential.
	PasskeyByCredentialID(ctx context.Context, credentialID []byte) (*Passkey, error)
	// RecordPasskeyUse stores what an assertion of the passkey id changed:
	// its sign count, flags and clone warning, and (when usedAt is not
	// zero) when it was used. ErrNotFound when it is gone.
	RecordPasskeyUse(ctx context.Context, p *Passkey, usedAt time.Time) error
	// RenamePasskey renames the user's passkey id; ErrNotFound when the
	// user has no such passkey.
	RenamePasskey(ctx context.Context, userID, id, name string) error
	// DeletePasskey deletes the user's passkey id when allowed, given the
	// user's other passkeys, returns nil; allowed's error is returned as
	// it is and nothing is deleted. The user's passkeys are read and the
	// one deleted in one transaction that holds the user's row, so two
	// removals at once cannot both pass a check meant for one of them.
	// ErrNotFound when the user has no such passkey.
	DeletePasskey(ctx context.Context, userID, id string, allowed func(others []*Passkey) error) error

	// CreateWebAuthnChallenge returns ErrConflict for a duplicate ID.
	CreateWebAuthnChallenge(ctx context.Context, c *WebAuthnChallenge) error
	// ConsumeWebAuthnChallenge returns and deletes the challenge id of
	// kind in one step; of concurrent callers one gets it. Unknown,
	// expired, already consumed challenges, and those of another kind, are
	// ErrNotFound (the janitor deletes expired ones: DeleteExpired).
	ConsumeWebAuthnChallenge(ctx context.Context, id, kind string) (*WebAuthnChallenge, error)
}
