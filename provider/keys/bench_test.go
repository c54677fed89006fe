package keys_test

import (
	"context"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/ory/fosite/token/jwt"

	"github.com/gatehouse-dev/gatehouse/provider/keys"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

// JWT signing and verification per algorithm, as the provider uses them
// for ID tokens and JWT access tokens: the key set is loaded once, so
// this is the JWS work alone (no storage). RS256 is measured with both
// key sizes keys.Options.RSABits allows.
//
//	go test -run '^$' -bench . -benchmem ./provider/keys/

// benchSigner is a signer and the kid that selects one of its keys.
type benchSigner struct {
	name   string
	signer *keys.Signer
	kid    string
}

// benchSigners returns ES256 and RS256 with 2048- and 3072-bit keys.
func benchSigners(b *testing.B) []benchSigner {
	b.Helper()
	ctx := context.Background()
	ring, err := secret.NewKeyring("keys-bench-secret-keys-bench-secret-0123456789", nil)
	if err != nil {
		b.Fatal(err)
	}
	var out []benchSigner
	for _, bits := range []int{2048, 3072} {
		store := bunstoretest.Open(b, "sqlite", bunstore.Options{})
		m, err := keys.New(ctx, keys.Options{Store: store, Keyring: ring, RSABits: bits, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		algs := []string{keys.RS256}
		if bits == 2048 {
			// ES256 keys do not depend on RSABits: measure them once.
			algs = append(algs, keys.ES256)
		}
		for _, alg := range algs {
			kid, err := m.CurrentKID(alg)
			if err != nil {
				b.Fatal(err)
			}
			name := alg
			if alg == keys.RS256 {
				name += "-" + strconv.Itoa(bits)
			}
			out = append(out, benchSigner{name: name, signer: m.Signer(), kid: kid})
		}
	}
	return out
}

// benchClaims are the claims of a typical JWT access token (RFC 9068).
func benchClaims() jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"iss": "http://127.0.0.1:8080", "sub": "9b6c1f0e-bench", "aud": []string{"http://127.0.0.1:8080"},
		"client_id": "9b6c1f0e-bench", "scope": "api", "jti": "0b1d3f5e-7a9c-4e2f-8b6d-1a3c5e7f9b2d",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(15 * time.Minute).Unix(),
	}
}

// BenchmarkSign is one signature with the key the header's kid names,
// as the provider signs a JWT access token or an ID token.
func BenchmarkSign(b *testing.B) {
	ctx := context.Background()
	claims := benchClaims()
	for _, c := range benchSigners(b) {
		b.Run(c.name, func(b *testing.B) {
			header := &jwt.Headers{Extra: map[string]interface{}{"kid": c.kid, "typ": "at+jwt"}}
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := c.signer.Generate(ctx, claims, header); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerify is the check of a token we signed (introspection and
// userinfo of a JWT access token, id_token_hint): kid lookup, signature.
func BenchmarkVerify(b *testing.B) {
	ctx := context.Background()
	claims := benchClaims()
	for _, c := range benchSigners(b) {
		b.Run(c.name, func(b *testing.B) {
			tok, _, err := c.signer.Generate(ctx, claims, &jwt.Headers{Extra: map[string]interface{}{"kid": c.kid}})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.signer.Validate(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
