package clientjwks

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"testing"

	josev3 "github.com/go-jose/go-jose/v3"
)

func TestNormalizeAccepts(t *testing.T) {
	r := rsaKey(t, 2048)
	p256, p384, p521 := ecKey(t, elliptic.P256()), ecKey(t, elliptic.P384()), ecKey(t, elliptic.P521())
	raw := set(
		jwk(t, &r.PublicKey, map[string]any{"kid": "rsa", "x5t": "ignored", "ext": true}), // no use, no alg
		jwk(t, &r.PublicKey, map[string]any{"kid": "rsa-ps", "alg": "PS256", "use": "sig", "key_ops": []string{"verify"}}),
		jwk(t, &p256.PublicKey, map[string]any{"kid": "ec", "alg": "ES256"}),
		jwk(t, &p384.PublicKey, map[string]any{"alg": "ES384"}), // no kid
		jwk(t, &p521.PublicKey, map[string]any{"kid": "ec521", "alg": "ES512", "use": "sig"}),
	)
	out, err := Normalize(raw)
	if err != nil {
		t.Fatal(err)
	}
	var parsed josev3.JSONWebKeySet
	if err := json.Unmarshal([]byte(out), &parsed); err != nil {
		t.Fatalf("canonical form does not parse with go-jose v3 (as fosite reads it): %v", err)
	}
	if len(parsed.Keys) != 5 {
		t.Fatalf("%d keys", len(parsed.Keys))
	}
	wantKids := []string{"rsa", "rsa-ps", "ec", "", "ec521"}
	wantAlgs := []string{"", "PS256", "ES256", "ES384", "ES512"}
	for i, k := range parsed.Keys {
		if k.Use != "sig" || k.KeyID != wantKids[i] || k.Algorithm != wantAlgs[i] || !k.IsPublic() {
			t.Errorf("key %d: use %q kid %q alg %q public %v", i, k.Use, k.KeyID, k.Algorithm, k.IsPublic())
		}
	}
	for _, dropped := range []string{"x5t", "ext", "key_ops"} {
		if strings.Contains(out, `"`+dropped+`"`) {
			t.Errorf("%s kept in %s", dropped, out)
		}
	}
	again, err := Normalize(out)
	if err != nil || again != out {
		t.Fatalf("not idempotent: %v\n%s\n%s", err, out, again)
	}
}

func TestNormalizeRejects(t *testing.T) {
	r := rsaKey(t, 2048)
	short := rsaKey(t, 1024)
	p256 := ecKey(t, elliptic.P256())
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	good := jwk(t, &r.PublicKey, nil)

	// An EC key whose point is not on the curve.
	offCurve := jwk(t, &p256.PublicKey, map[string]any{
		"y": base64.RawURLEncoding.EncodeToString(new(big.Int).Add(p256.Y, big.NewInt(1)).FillBytes(make([]byte, 32))),
	})
	// RSA with an even exponent.
	evenE := jwk(t, &rsa.PublicKey{N: r.N, E: 65536}, nil)
	// secp256k1 is not a curve go-jose or fosite know.
	k1 := jwk(t, &p256.PublicKey, map[string]any{"crv": "secp256k1"})

	many := make([]string, MaxKeys+1)
	for i := range many {
		many[i] = jwk(t, &r.PublicKey, kid(i))
	}
	huge := set(jwk(t, &r.PublicKey, map[string]any{"kid": strings.Repeat("x", MaxSetBytes)}))

	tests := []struct {
		name, raw, want string
	}{
		{"empty", "", "not a JSON object"},
		{"not JSON", "{", "not a JSON object"},
		{"array", "[" + good + "]", "not a JSON object"},
		{"no keys member", `{"kty":"RSA"}`, `no "keys" array`},
		{"keys not array", `{"keys":{}}`, "not a JSON object"},
		{"no keys", `{"keys":[]}`, "no keys"},
		{"too many keys", set(many...), "11 keys; at most 10"},
		{"too large", huge, "larger than 65536 bytes"},
		{"trailing data", set(good) + "x", "not a JSON object"},
		{"key not object", set(`"x"`), "key 0 is not a JSON object"},
		{"private RSA", set(jwk(t, r, nil)), `private key material (member "d")`},
		{"private EC", set(good, jwk(t, p256, map[string]any{"kid": "e"})), `key 1 (kid "e") contains private key material`},
		{"only d", set(jwk(t, &r.PublicKey, map[string]any{"d": "AQAB"})), "private key material"},
		{"symmetric", set(`{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0"}`), "private key material"},
		{"symmetric without k", set(`{"kty":"oct"}`), `kty "oct"`},
		{"Ed25519", set(jwk(t, edPub, nil)), `kty "OKP"`},
		{"no kty", set(`{"n":"AQAB","e":"AQAB"}`), `kty ""`},
		{"short RSA", set(jwk(t, &short.PublicKey, nil)), "1024-bit RSA key"},
		{"even exponent", set(evenE), "exponent"},
		{"use enc", set(jwk(t, &r.PublicKey, map[string]any{"use": "enc"})), `use "enc"`},
		{"use other", set(jwk(t, &r.PublicKey, map[string]any{"use": "signing"})), `use "signing"`},
		{"use not string", set(jwk(t, &r.PublicKey, map[string]any{"use": 1})), "wrong JSON type"},
		{"key_ops encrypt", set(jwk(t, &r.PublicKey, map[string]any{"key_ops": []string{"encrypt"}})), "key_ops"},
		{"alg none", set(jwk(t, &r.PublicKey, map[string]any{"alg": "none"})), `alg "none"; supported`},
		{"alg HS256", set(jwk(t, &r.PublicKey, map[string]any{"alg": "HS256"})), `alg "HS256"; supported`},
		{"alg RSA-OAEP", set(jwk(t, &r.PublicKey, map[string]any{"alg": "RSA-OAEP"})), `alg "RSA-OAEP"`},
		{"ES256 on RSA", set(jwk(t, &r.PublicKey, map[string]any{"alg": "ES256"})), "does not fit an RSA key"},
		{"RS256 on EC", set(jwk(t, &p256.PublicKey, map[string]any{"alg": "RS256"})), "does not fit an EC key"},
		{"ES384 on P-256", set(jwk(t, &p256.PublicKey, map[string]any{"alg": "ES384"})), "which signs ES256"},
		{"off curve", set(offCurve), "not on declared curve"},
		{"unknown curve", set(k1), "not a valid EC key"},
		{"RSA without n", set(jwk(t, &r.PublicKey, map[string]any{"n": nil})), "not a valid RSA key"},
		{"duplicate kid", set(jwk(t, &r.PublicKey, kid(1)), jwk(t, &p256.PublicKey, kid(1))), `kid "k1" is used by more than one key`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Normalize(tc.raw)
			if err == nil {
				t.Fatalf("accepted: %s", out)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "jwks: ") {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

func TestCheckSigningAlgAndKeysFor(t *testing.T) {
	for _, alg := range SigningAlgs() {
		if err := CheckSigningAlg(alg); err != nil {
			t.Error(err)
		}
	}
	for _, alg := range []string{"", "none", "HS256", "EdDSA", "rs256"} {
		if CheckSigningAlg(alg) == nil {
			t.Errorf("%q accepted", alg)
		}
	}

	r := rsaKey(t, 2048)
	p384 := ecKey(t, elliptic.P384())
	norm, err := Normalize(set(jwk(t, &r.PublicKey, map[string]any{"alg": "PS256"}), jwk(t, &p384.PublicKey, nil)))
	if err != nil {
		t.Fatal(err)
	}
	for alg, ok := range map[string]bool{"PS256": true, "RS256": false, "ES384": true, "ES256": false, "HS256": false} {
		if got := CheckKeysFor(norm, alg) == nil; got != ok {
			t.Errorf("%s: usable %v, want %v", alg, got, ok)
		}
	}
}

// TestParseKeyTypes: what parseKey returns is what fosite's key lookup
// expects (an *rsa.PublicKey or *ecdsa.PublicKey with use "sig").
func TestParseKeyTypes(t *testing.T) {
	r := rsaKey(t, 2048)
	k, err := parseKey(json.RawMessage(jwk(t, &r.PublicKey, nil)))
	if _, ok := k.Key.(*rsa.PublicKey); err != nil || !ok || k.Use != "sig" {
		t.Fatalf("%T %v", k.Key, err)
	}
	e := ecKey(t, elliptic.P256())
	k, err = parseKey(json.RawMessage(jwk(t, &e.PublicKey, nil)))
	if _, ok := k.Key.(*ecdsa.PublicKey); err != nil || !ok || k.Use != "sig" {
		t.Fatalf("%T %v", k.Key, err)
	}
}
