package admin

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-dev/gatehouse/internal/reqctx"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// PrefixRegistrationToken starts the initial access tokens an operator
// makes for dynamic client registration (see secret.NewOpaque).
const PrefixRegistrationToken = "gth_it_"

// MaxRegistrationTokenNameLen bounds a registration token's name.
const MaxRegistrationTokenNameLen = 100

// NewRegistrationToken makes an initial access token named name that
// expires after expiresIn (0: never). It returns the record to store (with
// the keyed hash only) and the token to show once.
func NewRegistrationToken(name string, expiresIn time.Duration, ring *secret.Keyring, now time.Time) (*storage.RegistrationToken, string, error) {
	name = strings.TrimSpace(name)
	ve := &ValidationError{}
	if name == "" || len(name) > MaxRegistrationTokenNameLen || !printable(name) {
		ve.Add("name", "required, at most %d printable characters", MaxRegistrationTokenNameLen)
	}
	if expiresIn < 0 {
		ve.Add("expires_in", "must not be negative")
	}
	if err := ve.err(); err != nil {
		return nil, "", err
	}
	plain, err := secret.NewOpaque(PrefixRegistrationToken)
	if err != nil {
		return nil, "", err
	}
	now = now.UTC()
	t := &storage.RegistrationToken{
		ID:        uuid.NewString(),
		Name:      name,
		Hash:      RegistrationTokenHashes(ring, plain)[0],
		CreatedAt: now,
	}
	if expiresIn > 0 {
		t.ExpiresAt = now.Add(expiresIn)
	}
	return t, plain, nil
}

// RegistrationTokenEvent is the audit event of a change of type typ (one
// of audit.RegistrationToken*) to registration token id by actor.
func RegistrationTokenEvent(ctx context.Context, typ, actor, id string) audit.Event {
	return audit.Event{Type: typ, Actor: actor, Subject: audit.RegistrationTokenSubject(id), IP: reqctx.ClientIP(ctx)}
}

// RegistrationTokenCreatedEvent is registration_token.created for t: its
// name and expiry, never the token.
func RegistrationTokenCreatedEvent(ctx context.Context, actor string, t *storage.RegistrationToken) audit.Event {
	ev := RegistrationTokenEvent(ctx, audit.RegistrationTokenCreated, actor, t.ID)
	ev.Details = map[string]string{"name": t.Name, "expires_at": "never"}
	if !t.ExpiresAt.IsZero() {
		ev.Details["expires_at"] = t.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return ev
}

// RegistrationTokenHashes returns the storable hashes of a registration
// token under the current system secret and then each old one:
// "hs256:" + base64url(HMAC-SHA256(key, token)) with the client-secret
// keys, the same construction as secret.Hasher. A token made before the
// system secret was rotated is found under an old key.
func RegistrationTokenHashes(ring *secret.Keyring, token string) []string {
	keys := ring.Keys(secret.PurposeClientSecret)
	out := make([]string, len(keys))
	for i, k := range keys {
		m := hmac.New(sha256.New, k)
		m.Write([]byte(token))
		out[i] = "hs256:" + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	return out
}

// FindRegistrationToken looks a presented registration token up by its
// hash (current key first, then old ones). storage.ErrNotFound when it is
// malformed or unknown; expired and revoked tokens are returned.
func FindRegistrationToken(ctx context.Context, st storage.RegistrationTokenStore, ring *secret.Keyring, token string) (*storage.RegistrationToken, error) {
	if !secret.CheckOpaque(PrefixRegistrationToken, token) {
		return nil, storage.ErrNotFound
	}
	for _, h := range RegistrationTokenHashes(ring, token) {
		t, err := st.RegistrationTokenByHash(ctx, h)
		if err == nil {
			return t, nil
		}
		if !errors.Is(err, storage.ErrNotFound) {
			return nil, err
		}
	}
	return nil, storage.ErrNotFound
}

// RegistrationTokenState is "active", "expired" or "revoked".
func RegistrationTokenState(t *storage.RegistrationToken, now time.Time) string {
	switch {
	case !t.RevokedAt.IsZero():
		return RegistrationTokenRevoked
	case !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt):
		return RegistrationTokenExpired
	}
	return RegistrationTokenActive
}

// Registration token states, for listings.
const (
	RegistrationTokenActive  = "active"
	RegistrationTokenExpired = "expired"
	RegistrationTokenRevoked = "revoked"
)

// CreateRegistrationToken makes an initial access token named name that
// expires after expiresIn (0: never), and returns it with the token to
// show once.
func (a *Admin) CreateRegistrationToken(ctx context.Context, who *provider.Principal, name string, expiresIn time.Duration) (*storage.RegistrationToken, string, error) {
	if a.ring == nil {
		return nil, "", errNoKeyring
	}
	t, plain, err := NewRegistrationToken(name, expiresIn, a.ring, a.now())
	if err != nil {
		return nil, "", err
	}
	if err := a.store.CreateRegistrationToken(ctx, t); err != nil {
		return nil, "", err
	}
	a.record(ctx, who, RegistrationTokenCreatedEvent(ctx, who.Actor(), t))
	return t, plain, nil
}

// RegistrationTokens lists the initial access tokens, newest first.
func (a *Admin) RegistrationTokens(ctx context.Context) ([]*storage.RegistrationToken, error) {
	return a.store.ListRegistrationTokens(ctx)
}

// RevokeRegistrationToken revokes an initial access token (storage.ErrNotFound
// for an unknown id); clients registered with it stay.
func (a *Admin) RevokeRegistrationToken(ctx context.Context, who *provider.Principal, id string) error {
	if err := a.store.RevokeRegistrationToken(ctx, id, a.now().UTC()); err != nil {
		return err
	}
	a.record(ctx, who, RegistrationTokenEvent(ctx, audit.RegistrationTokenRevoked, who.Actor(), id))
	return nil
}
