package keys

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// Reencrypt re-seals every stored private key under the keyring's current
// secret (opening it with whichever configured secret sealed it), so the
// old secret can be dropped from GATEHOUSE_OLD_SECRETS afterwards. It
// returns how many keys were re-sealed; a key deleted meanwhile is skipped.
// Safe to run while instances serve, and again (it is idempotent).
func (m *Manager) Reencrypt(ctx context.Context) (int, error) {
	rows, err := m.opts.Store.SigningKeys(ctx)
	if err != nil {
		return 0, fmt.Errorf("load the signing keys: %w", err)
	}
	n := 0
	for _, r := range rows {
		der, err := m.opts.Keyring.Open(secret.PurposeSigningKeys, r.PrivateKey)
		if err != nil {
			return n, fmt.Errorf("cannot decrypt signing key %s (is the secret it was sealed with listed in GATEHOUSE_OLD_SECRETS?): %w", r.KID, err)
		}
		sealed, err := m.opts.Keyring.Seal(secret.PurposeSigningKeys, der)
		if err != nil {
			return n, err
		}
		err = m.opts.Store.ResealSigningKey(ctx, r.KID, sealed)
		switch {
		case err == nil:
			n++
			m.emit(ctx, Event{Kind: EventResealed, KID: r.KID, Algorithm: r.Algorithm})
		case errors.Is(err, storage.ErrNotFound):
			// Removed since it was listed.
		default:
			return n, fmt.Errorf("re-seal signing key %s: %w", r.KID, err)
		}
	}
	if n > 0 {
		m.opts.Logger.Info("re-sealed signing keys under the current secret", "keys", n)
	}
	return n, m.Reload(ctx)
}

// PurposeHashPepper names the system key that keys the hashes of client
// secrets, API keys and registration tokens: the hashes depend on this
// random key, not on GATEHOUSE_SECRET, so rotating the secret (and
// re-sealing the key) never invalidates them.
const PurposeHashPepper = "hash-pepper"

// SystemKeySize is the length of system keys in bytes.
const SystemKeySize = 32

// SystemKeyStore is the storage of system keys (storage.SystemKeyStore).
type SystemKeyStore interface {
	// SystemKey returns storage.ErrNotFound when purpose has no key.
	SystemKey(ctx context.Context, purpose string) (*storage.SystemKey, error)
	// CreateSystemKey returns storage.ErrConflict when purpose has a key.
	CreateSystemKey(ctx context.Context, k *storage.SystemKey) error
	// ResealSystemKey replaces the sealed bytes; storage.ErrNotFound for
	// an unknown purpose.
	ResealSystemKey(ctx context.Context, purpose string, sealed []byte) error
}

// systemSealPurpose is the keyring purpose sealing the system key of
// purpose: a key of its own per purpose, and the purpose as associated
// data, so one row's ciphertext cannot be passed off as another's.
func systemSealPurpose(purpose string) string { return "system-key/" + purpose }

// SystemKey returns the random SystemKeySize-byte key for purpose, creating
// (and storing, sealed under the keyring's current secret) it on first
// use. Instances racing to create it all end up with the winner's key.
func SystemKey(ctx context.Context, store SystemKeyStore, ring *secret.Keyring, purpose string) ([]byte, error) {
	if purpose == "" {
		return nil, errors.New("system key purpose is empty")
	}
	for range 3 {
		k, err := store.SystemKey(ctx, purpose)
		switch {
		case err == nil:
			return openSystemKey(ring, k)
		case !errors.Is(err, storage.ErrNotFound):
			return nil, fmt.Errorf("load the %q system key: %w", purpose, err)
		}
		raw := make([]byte, SystemKeySize)
		if _, err := rand.Read(raw); err != nil {
			return nil, fmt.Errorf("random: %w", err)
		}
		sealed, err := ring.Seal(systemSealPurpose(purpose), raw)
		if err != nil {
			return nil, err
		}
		now := time.Now().UTC()
		err = store.CreateSystemKey(ctx, &storage.SystemKey{Purpose: purpose, Sealed: sealed, CreatedAt: now, UpdatedAt: now})
		switch {
		case err == nil:
			return raw, nil
		case !errors.Is(err, storage.ErrConflict):
			return nil, fmt.Errorf("store the %q system key: %w", purpose, err)
		}
		// Another instance created it first: read theirs.
	}
	return nil, fmt.Errorf("the %q system key: creating and reading it keeps conflicting", purpose)
}

func openSystemKey(ring *secret.Keyring, k *storage.SystemKey) ([]byte, error) {
	raw, err := ring.Open(systemSealPurpose(k.Purpose), k.Sealed)
	if err != nil {
		return nil, fmt.Errorf("cannot decrypt the %q system key (was GATEHOUSE_SECRET changed without listing the old one in GATEHOUSE_OLD_SECRETS?): %w", k.Purpose, err)
	}
	if len(raw) != SystemKeySize {
		return nil, fmt.Errorf("the %q system key has %d bytes, want %d", k.Purpose, len(raw), SystemKeySize)
	}
	return raw, nil
}

// ReencryptSystemKeys re-seals the system keys of purposes under the
// keyring's current secret; purposes without a key are skipped. It returns
// how many were re-sealed. The keys themselves do not change, so nothing
// derived from them (hashes) is affected.
func ReencryptSystemKeys(ctx context.Context, store SystemKeyStore, ring *secret.Keyring, purposes ...string) (int, error) {
	n := 0
	for _, purpose := range purposes {
		k, err := store.SystemKey(ctx, purpose)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("load the %q system key: %w", purpose, err)
		}
		raw, err := openSystemKey(ring, k)
		if err != nil {
			return n, err
		}
		sealed, err := ring.Seal(systemSealPurpose(purpose), raw)
		if err != nil {
			return n, err
		}
		err = store.ResealSystemKey(ctx, purpose, sealed)
		switch {
		case err == nil:
			n++
		case errors.Is(err, storage.ErrNotFound):
		default:
			return n, fmt.Errorf("re-seal the %q system key: %w", purpose, err)
		}
	}
	return n, nil
}
