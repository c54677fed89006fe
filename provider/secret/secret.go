// Package secret turns the system secret into purpose-bound keys and uses
// them: keyed hashes for client secrets, AES-256-GCM sealing for private
// keys, prefixed high-entropy opaque secrets with a checksum, and argon2id
// for the passwords people choose.
//
// Every key is derived with HKDF-SHA256 from GATEHOUSE_SECRET and a purpose
// string, so one secret never serves two jobs. Old secrets (for rotation) are
// tried after the current one when verifying or opening, never when hashing
// or sealing.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
)

// MinSecretLen is the shortest system secret accepted, in bytes.
const MinSecretLen = 32

// Purposes of derived keys. Changing one invalidates what it protects.
const (
	PurposeTokenHMAC    = "token-hmac"         // fosite's HMAC token strategy
	PurposeClientSecret = "client-secret-hash" // keyed hash of client secrets
	PurposeSigningKeys  = "signing-key-seal"   // sealing private JWKs at rest
	PurposeDeviceCookie = "device-cookie"      // signing the cookie of a browser that signed in
	PurposeDPoPNonce    = "dpop-nonce"         // sealing DPoP server nonces (RFC 9449 §8)
)

// Keyring derives keys from the current system secret and any old ones.
//
// Keys of "pepper purposes" (WithPepper) come from a random system key
// instead: keyed hashes of client secrets and API keys must survive a
// rotation of the system secret, and a hash cannot be re-encrypted — so
// they hang off a key that only needs re-sealing.
type Keyring struct {
	secrets [][]byte // current first
	pepper  []byte
	peppers map[string]bool
}

// PurposeHashPepper names the system key (see provider/keys.SystemKey)
// that keyed hashes derive from.
const PurposeHashPepper = "hash-pepper"

// WithPepper returns a keyring whose keys for the given purposes derive
// from pepper (a random system key) rather than the system secret.
func (k *Keyring) WithPepper(pepper []byte, purposes ...string) *Keyring {
	cp := &Keyring{secrets: k.secrets, pepper: append([]byte(nil), pepper...), peppers: map[string]bool{}}
	for _, p := range purposes {
		cp.peppers[p] = true
	}
	return cp
}

// NewKeyring checks the secrets and keeps them; current comes first.
func NewKeyring(current string, old []string) (*Keyring, error) {
	if len(current) < MinSecretLen {
		return nil, fmt.Errorf("secret: the system secret must be at least %d bytes", MinSecretLen)
	}
	k := &Keyring{secrets: [][]byte{[]byte(current)}}
	for i, o := range old {
		if len(o) < MinSecretLen {
			return nil, fmt.Errorf("secret: old secret #%d must be at least %d bytes", i+1, MinSecretLen)
		}
		k.secrets = append(k.secrets, []byte(o))
	}
	return k, nil
}

// Keys returns the 32-byte keys for purpose, current first. For a pepper
// purpose the pepper's key comes first, then the secrets' keys: hashes
// made before the pepper existed (databases from before migration 5) keep
// verifying for as long as their secret is configured.
func (k *Keyring) Keys(purpose string) [][]byte {
	out := make([][]byte, 0, len(k.secrets)+1)
	if k.peppers[purpose] {
		out = append(out, derive(k.pepper, purpose))
	}
	for _, s := range k.secrets {
		out = append(out, derive(s, purpose))
	}
	return out
}

// Key returns the current 32-byte key for purpose.
func (k *Keyring) Key(purpose string) []byte {
	if k.peppers[purpose] {
		return derive(k.pepper, purpose)
	}
	return derive(k.secrets[0], purpose)
}

func derive(secret []byte, purpose string) []byte {
	key, err := hkdf.Key(sha256.New, secret, nil, "gatehouse/"+purpose, 32)
	if err != nil {
		// Only possible for an output length beyond HKDF's limit; 32 is not.
		panic(fmt.Sprintf("secret: hkdf: %v", err))
	}
	return key
}

// MAC returns HMAC-SHA256 of data under the current key for purpose.
func (k *Keyring) MAC(purpose string, data []byte) []byte {
	return keyedHash(k.Key(purpose), data)
}

// VerifyMAC reports whether mac is the MAC of data under the current or an
// old key for purpose. Every key is tried and compared in constant time,
// so timing reveals neither the MAC nor which key matched.
func (k *Keyring) VerifyMAC(purpose string, data, mac []byte) bool {
	match := false
	for _, key := range k.Keys(purpose) {
		if hmac.Equal(keyedHash(key, data), mac) {
			match = true
		}
	}
	return match
}

// ErrOpen means no key could open a sealed value (wrong secret, or
// tampering).
var ErrOpen = errors.New("secret: sealed value cannot be opened with the configured secrets")

// Seal encrypts plaintext under the current key for purpose (AES-256-GCM,
// random nonce, purpose as associated data). Output: nonce || ciphertext.
func (k *Keyring) Seal(purpose string, plaintext []byte) ([]byte, error) {
	aead, err := newGCM(k.Key(purpose))
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("secret: nonce: %w", err)
	}
	return aead.Seal(nonce, nonce, plaintext, []byte(purpose)), nil
}

// Open decrypts a value made by Seal, trying the current key first and then
// the old ones.
func (k *Keyring) Open(purpose string, sealed []byte) ([]byte, error) {
	for _, key := range k.Keys(purpose) {
		aead, err := newGCM(key)
		if err != nil {
			return nil, err
		}
		if len(sealed) < aead.NonceSize()+aead.Overhead() {
			return nil, ErrOpen
		}
		nonce, ct := sealed[:aead.NonceSize()], sealed[aead.NonceSize():]
		if pt, err := aead.Open(nil, nonce, ct, []byte(purpose)); err == nil {
			return pt, nil
		}
	}
	return nil, ErrOpen
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secret: aes: %w", err)
	}
	return cipher.NewGCM(block)
}

// HashHandle is the storage key of a random handle (session cookie, flow id):
// hex SHA-256. Handles carry 256 random bits, so no key or slow hash is
// needed; a database dump still does not reveal a usable handle.
func HashHandle(handle string) string {
	sum := sha256.Sum256([]byte(handle))
	return hex.EncodeToString(sum[:])
}

// NewHandle returns 256 random bits, base64url without padding.
func NewHandle() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("secret: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// keyedHash is HMAC-SHA256(key, data).
func keyedHash(key, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return m.Sum(nil)
}
