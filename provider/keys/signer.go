package keys

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"

	josev3 "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite/token/jwt"
)

// Signer is fosite's jwt.Signer backed by the manager's key set. Unlike
// fosite's DefaultSigner it is kid-aware in both directions:
//
//   - Generate signs with the current key of the algorithm named by the
//     header's "kid" (the key chosen for the client when the session began),
//     so a session started before a rotation keeps its algorithm but signs
//     with the new key; with no kid it uses the RS256 key.
//   - Decode and Validate pick the verification key by the token's kid, so
//     tokens signed before a rotation stay verifiable while their key is
//     published.
type Signer struct {
	m *Manager
}

var _ jwt.Signer = (*Signer)(nil)

// Signer returns the fosite signer for this key set.
func (m *Manager) Signer() *Signer { return &Signer{m: m} }

// Generate signs claims; see Signer.
func (s *Signer) Generate(ctx context.Context, claims jwt.MapClaims, header jwt.Mapper) (string, string, error) {
	if header == nil || claims == nil {
		return "", "", errors.New("sign: claims and header are required")
	}
	alg := RS256
	extra := header.ToMap()
	if kid, _ := extra["kid"].(string); kid != "" {
		if k, ok := s.m.publicKey(kid); ok {
			alg = k.alg
		}
	}
	k, err := s.m.currentKey(alg)
	if err != nil {
		return "", "", err
	}
	rest := make(map[string]interface{}, len(extra))
	for name, v := range extra {
		if name != "kid" && name != "alg" {
			rest[name] = v
		}
	}
	// fosite's DefaultSigner does the JWS work; a v3 JWK (fosite's go-jose)
	// makes go-jose write our kid and alg into the header.
	jwk := &josev3.JSONWebKey{Key: k.signer, KeyID: k.kid, Algorithm: k.alg, Use: "sig"}
	ds := jwt.DefaultSigner{GetPrivateKey: func(context.Context) (interface{}, error) { return jwk, nil }}
	return ds.Generate(ctx, claims, &jwt.Headers{Extra: rest})
}

// Decode parses and verifies a token with the key its kid names. Expired
// tokens come back with the token and a *jwt.ValidationError carrying
// ValidationErrorExpired, as fosite expects (id_token_hint may be expired).
func (s *Signer) Decode(_ context.Context, token string) (*jwt.Token, error) {
	return jwt.ParseWithClaims(token, jwt.MapClaims{}, func(t *jwt.Token) (interface{}, error) {
		kid, _ := t.Header["kid"].(string)
		k, ok := s.m.publicKey(kid)
		if !ok {
			return nil, fmt.Errorf("unknown signing key %q", kid)
		}
		// The header's alg must be the key's own: no algorithm confusion.
		if string(t.Method) != k.alg {
			return nil, fmt.Errorf("token alg %q does not match signing key %s (%s)", t.Method, kid, k.alg)
		}
		return k.public, nil
	})
}

// Validate verifies a token and returns its signature.
func (s *Signer) Validate(ctx context.Context, token string) (string, error) {
	if _, err := s.Decode(ctx, token); err != nil {
		return "", err
	}
	return s.GetSignature(ctx, token)
}

// GetSignature returns the signature segment of a compact JWS.
func (s *Signer) GetSignature(_ context.Context, token string) (string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", errors.New("token is not a compact JWS")
	}
	return parts[2], nil
}

// Hash is SHA-256, the hash of both RS256 and ES256 (at_hash, c_hash).
func (s *Signer) Hash(_ context.Context, in []byte) ([]byte, error) {
	sum := sha256.Sum256(in)
	return sum[:], nil
}

// GetSigningMethodLength is SHA-256's size.
func (s *Signer) GetSigningMethodLength(context.Context) int { return sha256.Size }
