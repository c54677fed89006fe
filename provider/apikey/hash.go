package apikey

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// PurposeAPIKey is the keyring purpose of the keys that hash API key
// secrets. Changing it invalidates every stored key.
const PurposeAPIKey = "api-key-hash"

// hashScheme tags stored hashes (the same tag provider/secret uses for
// client secrets) so that a later scheme can live beside this one.
const hashScheme = "hs256:"

// dummyHash is compared against when no key row exists, so an unknown id
// costs the same HMAC work as a wrong secret. It is well formed (so it
// takes the same decode path) and cannot match: that would need an
// HMAC-SHA256 output of 32 zero bytes.
const dummyHash = hashScheme + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

// hasher computes and checks keyed hashes of secret parts.
type hasher struct {
	keys [][]byte // current first, then those of old system secrets
}

// hash returns the storable hash of secretPart under the current key.
func (h *hasher) hash(secretPart string) string {
	return hashScheme + base64.RawURLEncoding.EncodeToString(mac(h.keys[0], secretPart))
}

// compare reports whether secretPart matches stored. It computes the HMAC
// under every key whatever the input (also for a malformed stored value),
// so that its duration says nothing about which key matched or why it did
// not; hmac.Equal compares in constant time.
func (h *hasher) compare(stored, secretPart string) bool {
	var want [sha256.Size]byte
	enc, wellFormed := strings.CutPrefix(stored, hashScheme)
	// Decode panics when want is too short: check the length first.
	if wellFormed && len(enc) == base64.RawURLEncoding.EncodedLen(sha256.Size) {
		n, err := base64.RawURLEncoding.Decode(want[:], []byte(enc))
		wellFormed = err == nil && n == sha256.Size
	} else {
		wellFormed = false
	}
	match := false
	for _, key := range h.keys {
		if hmac.Equal(mac(key, secretPart), want[:]) {
			match = true
		}
	}
	return match && wellFormed
}

func mac(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}
