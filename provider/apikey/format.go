package apikey

import (
	"crypto/rand"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"

	"github.com/gatehouse-dev/gatehouse/provider/secret"
)

// Prefix starts every API key (shared with provider/secret, which names all
// of gatehouse's secret prefixes).
const Prefix = secret.PrefixAPIKey

// Lengths of the parts of a key, in characters.
const (
	// IDLen characters of base62 carry 131 bits (>= the 128 asked of an
	// unguessable primary key).
	IDLen = 22
	// SecretLen characters of base62 carry 256.03 bits.
	SecretLen = 43
	// ChecksumLen characters of base62 hold any CRC-32 value.
	ChecksumLen = 6
	// KeyLen is the length of every key.
	KeyLen = len(Prefix) + IDLen + SecretLen + ChecksumLen
)

const base62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// ErrMalformed means a string is not an API key: wrong prefix, length,
// alphabet or checksum.
var ErrMalformed = errors.New("apikey: malformed key")

// LooksLikeKey reports whether s claims to be an API key (has the prefix),
// so a caller can route it to Verify rather than to client-secret checks. It
// says nothing about validity.
func LooksLikeKey(s string) bool { return strings.HasPrefix(s, Prefix) }

// ValidID reports whether id has the shape of a key id (IDLen base62
// characters), so that callers can refuse other strings before a lookup.
func ValidID(id string) bool {
	if len(id) != IDLen {
		return false
	}
	for i := range len(id) {
		if !isBase62(id[i]) {
			return false
		}
	}
	return true
}

// Mint returns a new key together with its id and secret part. Show key
// once; store id and the hash of secretPart (Verifier.Hash).
//
// The id and the secret are strings of independent, uniformly random base62
// characters (rejection sampling), not encodings of a random number: every
// string of the right length and alphabet is then a possible key, so Parse
// needs no range checks and the format has exactly one spelling per key.
func Mint() (key, id, secretPart string, err error) {
	body, err := randomBase62(IDLen + SecretLen)
	if err != nil {
		return "", "", "", err
	}
	unsum := Prefix + body
	return unsum + checksum(unsum), body[:IDLen], body[IDLen:], nil
}

// Parse splits a key into its id and secret part after checking its prefix,
// length, alphabet and checksum; anything else is ErrMalformed. It touches
// no database, so garbage costs next to nothing.
func Parse(key string) (id, secretPart string, err error) {
	if len(key) != KeyLen || !strings.HasPrefix(key, Prefix) {
		return "", "", ErrMalformed
	}
	for i := len(Prefix); i < len(key); i++ {
		if !isBase62(key[i]) {
			return "", "", ErrMalformed
		}
	}
	sumAt := KeyLen - ChecksumLen
	if !checksumMatches(key[:sumAt], key[sumAt:]) {
		return "", "", ErrMalformed
	}
	body := key[len(Prefix):sumAt]
	return body[:IDLen], body[IDLen:], nil
}

// checksum is the CRC-32 (IEEE) of s in ChecksumLen base62 digits, most
// significant first. CRC-32 catches every change within a 32-bit burst, so
// any single wrong character is caught; it is no integrity protection
// against an attacker (anyone can compute it), only a typo filter.
func checksum(s string) string {
	var out [ChecksumLen]byte
	n := crc32.ChecksumIEEE([]byte(s))
	for i := ChecksumLen - 1; i >= 0; i-- {
		out[i] = base62Alphabet[n%62]
		n /= 62
	}
	return string(out[:])
}

// checksumMatches is checksum(s) == sum without building the string.
func checksumMatches(s, sum string) bool {
	n := crc32.ChecksumIEEE([]byte(s))
	for i := ChecksumLen - 1; i >= 0; i-- {
		if sum[i] != base62Alphabet[n%62] {
			return false
		}
		n /= 62
	}
	return true
}

func isBase62(c byte) bool {
	return '0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z'
}

// randomBase62 returns n uniformly random base62 characters. Bytes >= 248
// (4*62) are rejected so that byte%62 is unbiased.
func randomBase62(n int) (string, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/4)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("apikey: random: %w", err)
		}
		for _, b := range buf {
			if b < 248 && len(out) < n {
				out = append(out, base62Alphabet[b%62])
			}
		}
	}
	return string(out), nil
}
