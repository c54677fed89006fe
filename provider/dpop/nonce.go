package dpop

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

// Nonces issues and checks server-provided nonces (RFC 9449 §8, §9)
// without storing them: a nonce is the time it was issued and a MAC of
// that time under a secret every instance shares, so any instance accepts
// any instance's nonce, none writes anything, and a nonce expires by
// itself. Nothing in it is secret (it is a timestamp); the MAC only makes
// it unforgeable, which is what makes a proof unpregenerable.
//
// The nonce handed out changes every Lifetime/2 (the same for every
// client until then, so a busy server does not mint one per response),
// and one is accepted for Lifetime after it was issued: a client holding
// the newest nonce always has at least Lifetime/2 to use it.
type Nonces struct {
	key      []byte
	lifetime time.Duration
}

// nonceMACBytes is the MAC's length in a nonce: 128 bits.
const nonceMACBytes = 16

// NewNonces makes a nonce source keyed by secret (at least 32 bytes, the
// same on every instance; derive it from the server secret) with nonces
// valid for lifetime (at least 10 s).
func NewNonces(secret []byte, lifetime time.Duration) (*Nonces, error) {
	if len(secret) < 32 {
		return nil, errors.New("dpop: the nonce secret must be at least 32 bytes")
	}
	if lifetime < 10*time.Second {
		return nil, errors.New("dpop: the nonce lifetime must be at least 10s")
	}
	return &Nonces{key: append([]byte(nil), secret...), lifetime: lifetime}, nil
}

// Current is the nonce to hand out at now.
func (n *Nonces) Current(now time.Time) string {
	step := int64(n.lifetime / 2 / time.Second)
	t := now.Unix() / step * step
	return n.encode(t)
}

// Valid reports whether nonce was issued by a Nonces with the same secret
// no longer than the lifetime before now.
func (n *Nonces) Valid(nonce string, now time.Time) bool {
	b, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(b) != 8+nonceMACBytes {
		return false
	}
	t := int64(binary.BigEndian.Uint64(b[:8]))
	if subtle.ConstantTimeCompare(b[8:], n.mac(t)) != 1 {
		return false
	}
	issued := time.Unix(t, 0)
	return !issued.After(now.Add(time.Second)) && now.Sub(issued) <= n.lifetime
}

func (n *Nonces) encode(t int64) string {
	b := make([]byte, 8, 8+nonceMACBytes)
	binary.BigEndian.PutUint64(b, uint64(t))
	return base64.RawURLEncoding.EncodeToString(append(b, n.mac(t)...))
}

func (n *Nonces) mac(t int64) []byte {
	m := hmac.New(sha256.New, n.key)
	m.Write([]byte("gatehouse dpop nonce v1\x00"))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(t))
	m.Write(b[:])
	return m.Sum(nil)[:nonceMACBytes]
}
