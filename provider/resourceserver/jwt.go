package resourceserver

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// allowedAlgs are the signature algorithms a JWT access token may use:
// asymmetric only (RFC 9068 §4: never "none"; HS* would need a secret
// shared with the authorization server, and go-jose refuses the rest).
func allowedAlgs() []jose.SignatureAlgorithm {
	return []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.EdDSA, jose.PS256}
}

// looksLikeJWT tells a JWS compact serialisation from an opaque token by
// its shape: three base64url parts, the first a JSON object with "alg"
// (RFC 7515 §7.1). gatehouse's opaque tokens (gth_at_...) have one dot.
func looksLikeJWT(token string) bool {
	if strings.Count(token, ".") != 2 {
		return false
	}
	head, _, _ := strings.Cut(token, ".")
	if len(head) > 4096 {
		return false
	}
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return false
	}
	var h struct {
		Alg *string `json:"alg"`
	}
	return json.Unmarshal(raw, &h) == nil && h.Alg != nil
}

// accessTokenClaims are the claims of an RFC 9068 access token this
// package reads.
type accessTokenClaims struct {
	jwt.Claims
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
	// Roles is not an RFC 9068 claim; it is read when the authorization
	// server adds it.
	Roles []string `json:"roles"`
	// Cnf binds the token to a key (RFC 7800 §3.1; RFC 9449 §6.1).
	Cnf map[string]json.RawMessage `json:"cnf"`
}

// ErrInvalidToken is the error of Verify for a token that is not good for
// this resource: the caller gets invalid_token, the log the wrapped reason.
var ErrInvalidToken = errors.New("resourceserver: invalid token")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidToken, fmt.Sprintf(format, args...))
}

// verifyJWT checks an RFC 9068 access token offline (§4): signature by a
// key of the issuer's JWKS with an allowed algorithm, typ at+jwt, iss the
// issuer, aud naming this resource, exp (required), nbf and iat with
// leeway.
func (a *Authenticator) verifyJWT(ctx context.Context, token string) (*Principal, error) {
	tok, err := jwt.ParseSigned(token, allowedAlgs())
	if err != nil {
		return nil, invalid("parse: %v", err)
	}
	if len(tok.Headers) != 1 {
		return nil, invalid("%d signatures", len(tok.Headers))
	}
	h := tok.Headers[0]
	// RFC 9068 §4: typ must be at+jwt (the media type
	// application/at+jwt may be written in full; RFC 7515 §4.1.9).
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	if t := strings.ToLower(typ); t != "at+jwt" && t != "application/at+jwt" {
		return nil, invalid("typ %q", typ)
	}
	keys, err := a.verificationKeys(ctx, h.KeyID, h.Algorithm)
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			return nil, err
		}
		return nil, invalid("kid %q: %v", h.KeyID, err)
	}
	var claims accessTokenClaims
	verified := false
	for _, k := range keys {
		if tok.Claims(k.Key, &claims) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return nil, invalid("signature (kid %q)", h.KeyID)
	}
	if claims.Issuer != a.opts.Issuer {
		return nil, invalid("iss %q", claims.Issuer)
	}
	if !slices.Contains(claims.Audience, a.opts.Resource) {
		return nil, invalid("aud %v does not name %s", []string(claims.Audience), a.opts.Resource)
	}
	if claims.Expiry == nil {
		return nil, invalid("no exp")
	}
	if err := claims.ValidateWithLeeway(jwt.Expected{Time: a.opts.Clock()}, a.opts.Leeway); err != nil {
		return nil, invalid("times: %v", err)
	}
	if claims.Subject == "" {
		return nil, invalid("no sub")
	}
	jkt, err := binding(claims.Cnf)
	if err != nil {
		return nil, err
	}
	return &Principal{
		Subject:  claims.Subject,
		ClientID: claims.ClientID,
		Scopes:   strings.Fields(claims.Scope),
		Roles:    claims.Roles,
		Audience: []string(claims.Audience),
		Expiry:   claims.Expiry.Time(),
		Issuer:   claims.Issuer,
		Via:      ViaJWT,
		JKT:      jkt,
	}, nil
}

// afterLeeway reports whether t is past, with the leeway.
func (a *Authenticator) afterLeeway(t time.Time) bool {
	return !t.IsZero() && !a.opts.Clock().Before(t.Add(a.opts.Leeway))
}

// isInvalid reports a verdict on the token (as opposed to a failure to
// reach one).
func isInvalid(err error) bool { return errors.Is(err, ErrInvalidToken) }
