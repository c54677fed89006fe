// Package clientjwks validates and fetches the public keys that clients
// authenticate with under private_key_jwt (RFC 7523 §2.2, OpenID Connect
// Core §9): a key set registered inline (`jwks`), checked by Normalize, or
// published at a URL (`jwks_uri`), checked by CheckURI and fetched, with
// the same key rules, by Fetcher (fosite's JWKSFetcherStrategy).
//
// The rules are those of what fosite v0.49.0 can verify (RS*, PS*, ES*
// signatures from RSA and NIST-curve EC keys marked "use":"sig"), tightened
// to refuse what is unsafe or useless to hold: private or symmetric key
// material, short RSA moduli, encryption keys, algorithms that do not
// match the key.
package clientjwks

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	josev3 "github.com/go-jose/go-jose/v3"
)

// Limits on a key set.
const (
	// MaxKeys is how many keys a set may hold. Rotation needs two or
	// three; more only makes each verification try more keys.
	MaxKeys = 10
	// MaxSetBytes bounds a set's JSON text, registered or fetched.
	MaxSetBytes = 64 << 10
	// MinRSABits is the smallest RSA modulus accepted (NIST SP 800-131A).
	MinRSABits = 2048
	// MaxRSABits bounds the cost of an RSA verification, which an
	// unauthenticated request can trigger.
	MaxRSABits = 8192
)

// SigningAlgs returns the JWS algorithms a client may use for
// private_key_jwt: those fosite verifies with a public key. (HS*, that is
// client_secret_jwt, is not supported by fosite v0.49.0; "none" never.)
func SigningAlgs() []string {
	return []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
}

// CheckSigningAlg validates a token_endpoint_auth_signing_alg value.
func CheckSigningAlg(alg string) error {
	if !slices.Contains(SigningAlgs(), alg) {
		return fmt.Errorf("signing algorithm %q is not supported (use one of %s)", alg, strings.Join(SigningAlgs(), ", "))
	}
	return nil
}

// keyMeta are the members we read as strings ourselves.
type keyMeta struct {
	Kty    string   `json:"kty"`
	Use    *string  `json:"use"`
	Alg    *string  `json:"alg"`
	Kid    *string  `json:"kid"`
	KeyOps []string `json:"key_ops"`
}

// parseKey checks one member of a set's "keys" array and returns the
// public key in canonical form: key parameters, kid, alg and "use":"sig".
func parseKey(raw json.RawMessage) (josev3.JSONWebKey, error) {
	var none josev3.JSONWebKey
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil || members == nil {
		return none, errors.New("is not a JSON object")
	}
	// The members that carry secret material (RFC 7518 §6.2.2, §6.3.2,
	// §6.4.1). Their presence alone disqualifies a key: a client must never
	// hand us, or publish, its private key.
	for _, m := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
		if _, ok := members[m]; ok {
			return none, fmt.Errorf("contains private key material (member %q); register only public keys", m)
		}
	}
	var meta keyMeta
	if err := json.Unmarshal(raw, &meta); err != nil {
		return none, errors.New("has kty, use, alg, kid or key_ops of the wrong JSON type")
	}
	if meta.Kty != "RSA" && meta.Kty != "EC" {
		return none, fmt.Errorf("has kty %q; only RSA and EC keys are supported", meta.Kty)
	}
	if meta.Use != nil && *meta.Use != "sig" {
		return none, fmt.Errorf("has use %q; keys for private_key_jwt must be signature keys (\"sig\")", *meta.Use)
	}
	if meta.KeyOps != nil && !slices.Contains(meta.KeyOps, "verify") {
		return none, errors.New(`has key_ops without "verify"`)
	}

	// Let go-jose decode only the key parameters: that keeps certificate
	// chains (x5c) and other extras out of the parser, and out of the
	// canonical form.
	params := map[string]json.RawMessage{}
	for _, m := range []string{"kty", "crv", "x", "y", "n", "e"} {
		if v, ok := members[m]; ok {
			params[m] = v
		}
	}
	reduced, _ := json.Marshal(params) // cannot fail: raw JSON values
	var jwk josev3.JSONWebKey
	if err := jwk.UnmarshalJSON(reduced); err != nil {
		return none, fmt.Errorf("is not a valid %s key: %s", meta.Kty, strings.TrimPrefix(err.Error(), "go-jose/go-jose: "))
	}

	alg := ""
	if meta.Alg != nil {
		alg = *meta.Alg
	}
	switch pub := jwk.Key.(type) {
	case *rsa.PublicKey:
		if err := checkRSA(pub, alg); err != nil {
			return none, err
		}
	case *ecdsa.PublicKey:
		if err := checkEC(pub, alg); err != nil {
			return none, err
		}
	default:
		return none, fmt.Errorf("is not a public %s key", meta.Kty)
	}

	kid := ""
	if meta.Kid != nil {
		kid = *meta.Kid
	}
	return josev3.JSONWebKey{Key: jwk.Key, KeyID: kid, Algorithm: alg, Use: "sig"}, nil
}

func checkRSA(pub *rsa.PublicKey, alg string) error {
	if bits := pub.N.BitLen(); bits < MinRSABits || bits > MaxRSABits {
		return fmt.Errorf("is a %d-bit RSA key; the modulus must have %d to %d bits", bits, MinRSABits, MaxRSABits)
	}
	if pub.E < 3 || pub.E%2 == 0 {
		return fmt.Errorf("has an invalid RSA public exponent %d", pub.E)
	}
	switch alg {
	case "", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		return nil
	}
	return algError(alg, "an RSA key")
}

func checkEC(pub *ecdsa.PublicKey, alg string) error {
	// Each ES algorithm is defined for one curve (RFC 7518 §3.4).
	var want string
	switch pub.Curve {
	case elliptic.P256():
		want = "ES256"
	case elliptic.P384():
		want = "ES384"
	case elliptic.P521():
		want = "ES512"
	default:
		return errors.New("uses an unsupported curve; use P-256, P-384 or P-521")
	}
	if alg == "" || alg == want {
		return nil
	}
	return algError(alg, "an EC key on curve "+pub.Curve.Params().Name+" (which signs "+want+")")
}

func algError(alg, key string) error {
	if CheckSigningAlg(alg) != nil {
		return fmt.Errorf("has alg %q; supported are %s", alg, strings.Join(SigningAlgs(), ", "))
	}
	return fmt.Errorf("has alg %q, which does not fit %s", alg, key)
}

// keyName names keys[i] in error messages, with its kid when it has one.
func keyName(i int, raw json.RawMessage) string {
	var meta struct {
		Kid string `json:"kid"`
	}
	if json.Unmarshal(raw, &meta) == nil && meta.Kid != "" {
		return fmt.Sprintf("key %d (kid %q)", i, meta.Kid)
	}
	return fmt.Sprintf("key %d", i)
}

// splitSet parses the outer JWK Set object and returns its "keys" array.
func splitSet(data []byte) ([]json.RawMessage, error) {
	if len(data) > MaxSetBytes {
		return nil, fmt.Errorf("the key set is larger than %d bytes", MaxSetBytes)
	}
	var set struct {
		Keys *[]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, errors.New(`the key set is not a JSON object with a "keys" array`)
	}
	if set.Keys == nil {
		return nil, errors.New(`the key set has no "keys" array`)
	}
	return *set.Keys, nil
}

// Normalize validates a registered jwks value (a JWK Set as JSON text) and
// returns its canonical JSON: public keys only, each with "use":"sig",
// its kid and alg if it had them, and nothing else. Errors describe the
// problem for an RFC 7591 invalid_client_metadata response.
func Normalize(raw string) (string, error) {
	entries, err := splitSet([]byte(raw))
	if err != nil {
		return "", fmt.Errorf("jwks: %w", err)
	}
	switch {
	case len(entries) == 0:
		return "", errors.New("jwks: the key set has no keys")
	case len(entries) > MaxKeys:
		return "", fmt.Errorf("jwks: the key set has %d keys; at most %d are allowed", len(entries), MaxKeys)
	}
	keys := make([]josev3.JSONWebKey, 0, len(entries))
	kids := map[string]bool{}
	for i, e := range entries {
		k, err := parseKey(e)
		if err != nil {
			return "", fmt.Errorf("jwks: %s %w", keyName(i, e), err)
		}
		if k.KeyID != "" {
			if kids[k.KeyID] {
				return "", fmt.Errorf("jwks: kid %q is used by more than one key", k.KeyID)
			}
			kids[k.KeyID] = true
		}
		keys = append(keys, k)
	}
	out, err := json.Marshal(josev3.JSONWebKeySet{Keys: keys})
	if err != nil {
		return "", fmt.Errorf("jwks: %w", err)
	}
	return string(out), nil
}

// CheckKeysFor reports whether a normalized key set has a key that can
// verify assertions signed with alg: a registration whose
// token_endpoint_auth_signing_alg no key fits could never authenticate.
func CheckKeysFor(normalized, alg string) error {
	if err := CheckSigningAlg(alg); err != nil {
		return err
	}
	var set josev3.JSONWebKeySet
	if err := json.Unmarshal([]byte(normalized), &set); err != nil {
		return fmt.Errorf("jwks: %w", err)
	}
	for _, k := range set.Keys {
		if k.Algorithm != "" && k.Algorithm != alg {
			continue
		}
		switch pub := k.Key.(type) {
		case *rsa.PublicKey:
			if checkRSA(pub, alg) == nil {
				return nil
			}
		case *ecdsa.PublicKey:
			if checkEC(pub, alg) == nil {
				return nil
			}
		}
	}
	return fmt.Errorf("jwks: no key can verify %s signatures", alg)
}
