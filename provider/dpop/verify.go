// Package dpop checks and makes DPoP proofs (RFC 9449): the JWTs with
// which a client proves, request by request, that it holds the private
// key an access token or refresh token is bound to.
//
// The authorization server (provider) and the resource-server package use
// the same Verifier, so a proof is held to one set of rules wherever it is
// presented. Like package resourceserver, this package imports only the
// standard library and go-jose: a resource server that imports it does not
// pull in the authorization server.
package dpop

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Header names (RFC 9449 §4.1, §8).
const (
	// HeaderName carries the proof on a request.
	HeaderName = "DPoP"
	// NonceHeader carries a server-provided nonce on a response.
	NonceHeader = "DPoP-Nonce"
	// Scheme is the Authorization scheme of a DPoP-bound access token
	// (§7.1).
	Scheme = "DPoP"
	// TokenType is the token_type of a DPoP-bound access token (§5).
	TokenType = "DPoP"
	// ProofType is the typ header of a proof (§4.2).
	ProofType = "dpop+jwt"
)

// Error codes (RFC 9449 §12.2).
const (
	CodeInvalidProof = "invalid_dpop_proof"
	CodeUseNonce     = "use_dpop_nonce"
)

// DefaultAlgs are the proof algorithms accepted when none are configured:
// the asymmetric JWS algorithms that clients use (RFC 9449 §4.2: "MUST
// NOT be none or an identifier for a symmetric algorithm").
var DefaultAlgs = []string{"ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512", "EdDSA"}

// asymmetric are the algorithms a Verifier may be configured with.
var asymmetric = []string{"ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512", "EdDSA"}

// Limits of a proof, checked before it is parsed.
const (
	maxProofBytes = 8 << 10
	maxJTIBytes   = 256
)

// Error is a refused proof: Code is CodeInvalidProof or CodeUseNonce,
// Reason says why (for the error_description and logs; it never contains
// the proof).
type Error struct {
	Code   string
	Reason string
}

func (e *Error) Error() string { return e.Code + ": " + e.Reason }

// Is makes errors.Is(err, ErrInvalidProof) and errors.Is(err, ErrUseNonce)
// match any Error of that code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Reason == "" && t.Code == e.Code
}

// Sentinels for errors.Is.
var (
	ErrInvalidProof = &Error{Code: CodeInvalidProof}
	ErrUseNonce     = &Error{Code: CodeUseNonce}
)

func invalid(format string, a ...any) error {
	return &Error{Code: CodeInvalidProof, Reason: fmt.Sprintf(format, a...)}
}

// ReplayCache remembers the proofs already used (RFC 9449 §11.1): a proof
// is accepted once, on any instance that shares the cache.
type ReplayCache interface {
	// Use records key as used until expiry. It reports false when key was
	// already used (and has not expired); an error when it cannot tell.
	Use(ctx context.Context, key string, expiry time.Time) (bool, error)
}

// Verifier checks proofs. Its zero value is not usable: set Replay.
type Verifier struct {
	// Algs are the proof algorithms accepted; empty means DefaultAlgs.
	// Symmetric algorithms and none are never accepted.
	Algs []string
	// Lifetime is how old a proof may be (its iat); 0 means 60 s. A proof
	// dated up to Leeway in the future is accepted too (clock skew).
	Lifetime time.Duration
	// Leeway is the clock skew allowed for a proof from the future; 0
	// means 5 s.
	Leeway time.Duration
	// Replay records every accepted proof's jti. Required.
	Replay ReplayCache
	// Nonces, when set, issues and checks server nonces (RFC 9449 §8,
	// §9); with RequireNonce a proof without a valid one is refused with
	// use_dpop_nonce.
	Nonces       *Nonces
	RequireNonce bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Request is what a proof must match.
type Request struct {
	// Proofs are the request's DPoP header values; exactly one is
	// allowed (§4.3 check 1).
	Proofs []string
	// Method is the HTTP method (htm).
	Method string
	// URL is the URL the request was made to, as the client saw it
	// (htu); its query and fragment are ignored.
	URL string
	// AccessToken, when the request presents one, must be the proof's
	// ath (§4.3 check 11).
	AccessToken string
	// JKT, when the token presented is bound to a key, is that key's
	// thumbprint: the proof must be signed by it (§4.3 check 12).
	JKT string
}

// Proof is a verified proof.
type Proof struct {
	// JKT is the JWK SHA-256 thumbprint (RFC 7638) of the proof's key,
	// base64url: what a bound token's cnf.jkt holds (§6.1).
	JKT      string
	JTI      string
	IssuedAt time.Time
	Nonce    string
}

type claims struct {
	JTI   string      `json:"jti"`
	HTM   string      `json:"htm"`
	HTU   string      `json:"htu"`
	IAT   json.Number `json:"iat"`
	ATH   *string     `json:"ath"`
	Nonce *string     `json:"nonce"`
}

// Algorithms are the algorithms v accepts, for discovery's
// dpop_signing_alg_values_supported and the algs of a challenge.
func (v *Verifier) Algorithms() []string {
	if len(v.Algs) == 0 {
		return slices.Clone(DefaultAlgs)
	}
	return slices.Clone(v.Algs)
}

// CheckAlgorithms reports an algorithm a Verifier may not be configured
// with (none, HMAC, unknown).
func CheckAlgorithms(algs []string) error {
	for _, a := range algs {
		if !slices.Contains(asymmetric, a) {
			return fmt.Errorf("dpop: %q is not an asymmetric JWS algorithm (one of %s)", a, strings.Join(asymmetric, ", "))
		}
	}
	return nil
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *Verifier) lifetime() time.Duration {
	if v.Lifetime > 0 {
		return v.Lifetime
	}
	return 60 * time.Second
}

func (v *Verifier) leeway() time.Duration {
	if v.Leeway > 0 {
		return v.Leeway
	}
	return 5 * time.Second
}

// Verify checks the proof of req as RFC 9449 §4.3 lists, in its order,
// and records it in the replay cache. A refusal is an *Error
// (CodeInvalidProof or CodeUseNonce); a replay cache failure is returned
// as it is.
func (v *Verifier) Verify(ctx context.Context, req Request) (*Proof, error) {
	// 1. Exactly one DPoP header.
	if len(req.Proofs) != 1 {
		return nil, invalid("exactly one DPoP header is required, got %d", len(req.Proofs))
	}
	raw := strings.TrimSpace(req.Proofs[0])
	if raw == "" || len(raw) > maxProofBytes {
		return nil, invalid("the DPoP header is empty or over %d bytes", maxProofBytes)
	}
	// 2. A well-formed JWT (compact serialization only).
	algs := make([]jose.SignatureAlgorithm, 0, len(v.Algorithms()))
	for _, a := range v.Algorithms() {
		algs = append(algs, jose.SignatureAlgorithm(a))
	}
	if hasPrivateJWK(raw) {
		// 7, said before the parser refuses it in its own words.
		return nil, invalid("the jwk must be a public key: it carries private key parameters")
	}
	jws, err := jose.ParseSignedCompact(raw, algs)
	if err != nil {
		// 5 and 7: the alg is checked by the parser against the
		// allow-list, and a jwk with private parameters does not parse.
		// The parser's own text is not shown: it names library internals.
		return nil, invalid("not a compact JWS signed with one of the algorithms %s and carrying a public jwk", strings.Join(v.Algorithms(), ", "))
	}
	if len(jws.Signatures) != 1 {
		return nil, invalid("one signature is required")
	}
	h := jws.Signatures[0].Protected
	// 4. typ dpop+jwt.
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != ProofType {
		return nil, invalid("typ must be %s", ProofType)
	}
	// 7. The jwk is a public key (checked before it is used).
	jwk := h.JSONWebKey
	if jwk == nil || !jwk.Valid() {
		return nil, invalid("the header has no valid jwk")
	}
	if !jwk.IsPublic() {
		return nil, invalid("the jwk must be a public key")
	}
	if !keyFitsAlg(jwk.Key, jose.SignatureAlgorithm(h.Algorithm)) {
		return nil, invalid("the jwk does not fit alg %s", h.Algorithm)
	}
	// 6. The signature, with the jwk of the header.
	payload, err := jws.Verify(jwk.Key)
	if err != nil {
		return nil, invalid("the signature does not verify with the header's jwk")
	}
	// 3. The claims.
	var c claims
	dec := json.NewDecoder(strings.NewReader(string(payload)))
	dec.UseNumber()
	if err := dec.Decode(&c); err != nil {
		return nil, invalid("the claims are not a JSON object")
	}
	if c.JTI == "" || c.HTM == "" || c.HTU == "" || c.IAT == "" {
		return nil, invalid("jti, htm, htu and iat are required")
	}
	if len(c.JTI) > maxJTIBytes {
		return nil, invalid("jti over %d bytes", maxJTIBytes)
	}
	// 8. htm.
	if c.HTM != req.Method {
		return nil, invalid("htm %q does not match the request method %s", clip(c.HTM), req.Method)
	}
	// 9. htu, without query and fragment, normalized (§4.3: RFC 3986
	// §6.2.2 and §6.2.3).
	got, err1 := NormalizeHTU(c.HTU)
	want, err2 := NormalizeHTU(req.URL)
	if err1 != nil || err2 != nil || got != want {
		return nil, invalid("htu %q does not match the request URL %s", clip(c.HTU), want)
	}
	// 10. The nonce, when the server asks for one.
	nonce := ""
	if c.Nonce != nil {
		nonce = *c.Nonce
	}
	now := v.now()
	if v.Nonces != nil && (v.RequireNonce || nonce != "") {
		if nonce == "" {
			return nil, &Error{Code: CodeUseNonce, Reason: "a nonce is required"}
		}
		if !v.Nonces.Valid(nonce, now) {
			return nil, &Error{Code: CodeUseNonce, Reason: "the nonce is unknown or expired"}
		}
	}
	// 11. iat within the window.
	iatSec, err := c.IAT.Int64()
	if err != nil {
		f, ferr := c.IAT.Float64()
		if ferr != nil {
			return nil, invalid("iat is not a number")
		}
		iatSec = int64(f)
	}
	iat := time.Unix(iatSec, 0)
	if iat.After(now.Add(v.leeway())) {
		return nil, invalid("iat is in the future")
	}
	if iat.Before(now.Add(-v.lifetime())) {
		return nil, invalid("the proof is too old (iat)")
	}
	// 12. ath and the key the token is bound to.
	if req.AccessToken != "" {
		if c.ATH == nil || *c.ATH != AccessTokenHash(req.AccessToken) {
			return nil, invalid("ath does not match the access token")
		}
	}
	jkt, err := Thumbprint(jwk)
	if err != nil {
		return nil, invalid("the jwk has no thumbprint")
	}
	if req.JKT != "" && req.JKT != jkt {
		return nil, invalid("the proof is not signed with the key the token is bound to")
	}
	// §11.1: single use, on every instance that shares the cache. The
	// key names the proof's key too, so that one client cannot spend
	// another's jti.
	if v.Replay == nil {
		return nil, errors.New("dpop: no replay cache")
	}
	fresh, err := v.Replay.Use(ctx, replayKey(jkt, c.JTI), iat.Add(v.lifetime()+v.leeway()))
	if err != nil {
		return nil, err
	}
	if !fresh {
		return nil, invalid("the proof was used before (jti)")
	}
	return &Proof{JKT: jkt, JTI: c.JTI, IssuedAt: iat, Nonce: nonce}, nil
}

// hasPrivateJWK reports whether the protected header of the compact JWS
// raw has a jwk with private or symmetric key members (RFC 7518 §6.2.2,
// §6.3.2, §6.4.1).
func hasPrivateJWK(raw string) bool {
	head, _, ok := strings.Cut(raw, ".")
	if !ok {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return false
	}
	var h struct {
		JWK map[string]json.RawMessage `json:"jwk"`
	}
	if json.Unmarshal(b, &h) != nil {
		return false
	}
	for _, m := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
		if _, ok := h.JWK[m]; ok {
			return true
		}
	}
	return false
}

// replayKey is what the replay cache stores of a proof: a fixed-size
// hash of its key and jti.
func replayKey(jkt, jti string) string {
	sum := sha256.Sum256([]byte(jkt + "\x00" + jti))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// keyFitsAlg reports whether key can verify alg (a jwk of another kind
// would only fail later, with a less clear message).
func keyFitsAlg(key any, alg jose.SignatureAlgorithm) bool {
	switch key.(type) {
	case *ecdsa.PublicKey:
		return strings.HasPrefix(string(alg), "ES")
	case *rsa.PublicKey:
		return strings.HasPrefix(string(alg), "RS") || strings.HasPrefix(string(alg), "PS")
	case ed25519.PublicKey:
		return alg == jose.EdDSA
	}
	return false
}

// Thumbprint is the RFC 7638 SHA-256 thumbprint of k, base64url (the
// jkt of RFC 9449 §6.1).
func Thumbprint(k *jose.JSONWebKey) (string, error) {
	t, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(t), nil
}

// AccessTokenHash is the ath of a proof that presents token (RFC 9449
// §4.2): base64url of the SHA-256 of its ASCII.
func AccessTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// NormalizeHTU is u as a proof's htu is compared: absolute http(s), query
// and fragment dropped, scheme and host lower case, the scheme's default
// port dropped, an empty path made "/" (RFC 3986 §6.2.2 and §6.2.3, as
// RFC 9449 §4.3 asks).
func NormalizeHTU(u string) (string, error) {
	p, err := url.Parse(u)
	if err != nil {
		return "", err
	}
	scheme := strings.ToLower(p.Scheme)
	if (scheme != "https" && scheme != "http") || p.Host == "" || p.User != nil {
		return "", errors.New("not an absolute http(s) URL")
	}
	host := strings.ToLower(p.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	port := p.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if port != "" {
		host += ":" + port
	}
	path := p.EscapedPath()
	if path == "" {
		path = "/"
	}
	return scheme + "://" + host + path, nil
}

// clip shortens a client-supplied value for an error message.
func clip(s string) string {
	if len(s) > 100 {
		return s[:100] + "..."
	}
	return s
}
