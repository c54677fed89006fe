package provider

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/ory/fosite"
	"github.com/ory/fosite/token/jwt"
)

// JWT access tokens (RFC 9068) and resource indicators (RFC 8707).
//
// A client that wants JWT access tokens (its access_token_format, or the
// server default) gets a signed at+jwt that resource servers can verify
// offline from the JWKS. The token is still recorded (by its signature), so
// introspection and revocation work as for opaque tokens.

// Access token formats.
const (
	FormatOpaque = "opaque"
	FormatJWT    = "jwt"
)

// jwtAccessTokens makes and checks JWT access tokens.
type jwtAccessTokens struct {
	issuer        string
	defaultFormat string
	alg           string
	lifespan      time.Duration
	signer        jwt.Signer
	kid           func(alg string) (string, error)
}

// wants reports whether the access token of r is a JWT: the format of
// the resource it is for, else its client's, else the server's default.
func (j *jwtAccessTokens) wants(r fosite.Requester) bool {
	format := j.defaultFormat
	if c, ok := StorageClient(r.GetClient()); ok && c.AccessTokenFormat != "" {
		format = c.AccessTokenFormat
	}
	if res := tokenResourceOf(r); res != nil && res.Format != "" {
		format = res.Format
	}
	return format == FormatJWT
}

// tokenResourceOf is the resource r's access token is for, or nil.
func tokenResourceOf(r fosite.Requester) *TokenResource {
	if sess, ok := r.GetSession().(*Session); ok {
		return sess.Resource
	}
	return nil
}

// generate signs the access token of r with the RFC 9068 claims.
func (j *jwtAccessTokens) generate(ctx context.Context, r fosite.Requester) (string, string, error) {
	now := time.Now().UTC()
	sess, _ := r.GetSession().(*Session)
	exp := r.GetSession().GetExpiresAt(fosite.AccessToken)
	if exp.IsZero() {
		exp = now.Add(j.lifespan)
	}
	clientID := r.GetClient().GetID()
	// RFC 9068 §3 and RFC 8707 §2: the token names exactly the resource
	// it is for, even when the grant covers several.
	aud := []string(accessAudience(r))
	alg := j.alg
	if res := tokenResourceOf(r); res != nil && res.Alg != "" {
		alg = res.Alg
	}
	if len(aud) == 0 {
		// RFC 9068 requires an audience; without a resource indicator the
		// token is for gatehouse itself (userinfo).
		aud = []string{j.issuer}
	}
	claims := jwt.MapClaims{
		"iss":       j.issuer,
		"sub":       r.GetSession().GetSubject(),
		"aud":       aud,
		"client_id": clientID,
		"scope":     strings.Join(r.GetGrantedScopes(), " "),
		"jti":       uuid.NewString(),
		"iat":       now.Unix(),
		"exp":       exp.Unix(),
	}
	if sess != nil && sess.Claims != nil && !sess.Claims.AuthTime.IsZero() && sess.GetSubject() != clientID {
		claims["auth_time"] = sess.Claims.AuthTime.Unix()
	}
	if roles, ok := accessTokenRoles(r); ok {
		claims["roles"] = roles
	}
	if sess != nil && sess.Act != nil {
		// RFC 8693 §4.1: a token issued by delegation names its actor.
		claims["act"] = sess.Act.claim()
	}
	if sess != nil && sess.JKT != "" {
		// RFC 9449 §6.1: the key the token is bound to, as a confirmation
		// (RFC 7800) by JWK thumbprint.
		claims["cnf"] = map[string]any{"jkt": sess.JKT}
	}
	kid, err := j.kid(alg)
	if err != nil {
		return "", "", err
	}
	return j.signer.Generate(ctx, claims, &jwt.Headers{Extra: map[string]interface{}{"typ": "at+jwt", "kid": kid}})
}

// validate checks a JWT access token's signature (by kid), type, issuer
// and expiry; fosite has already found its record by signature.
func (j *jwtAccessTokens) validate(ctx context.Context, token string) error {
	tok, err := j.signer.Decode(ctx, token)
	var ve *jwt.ValidationError
	if errors.As(err, &ve) && ve.Has(jwt.ValidationErrorExpired) {
		return fosite.ErrTokenExpired.WithWrap(err)
	}
	if err != nil {
		return fosite.ErrTokenSignatureMismatch.WithWrap(err)
	}
	if typ, _ := tok.Header["typ"].(string); !strings.EqualFold(typ, "at+jwt") {
		return fosite.ErrTokenSignatureMismatch.WithHint("not an at+jwt token")
	}
	if iss, _ := tok.Claims["iss"].(string); iss != j.issuer {
		return fosite.ErrTokenSignatureMismatch.WithHint("issuer mismatch")
	}
	return nil
}

// isJWT tells a JWT (three segments) from gatehouse's opaque tokens (one
// dot).
func isJWT(token string) bool { return strings.Count(token, ".") == 2 }

// accessTokenRoles are the person's roles an access token carries, so
// that a resource server can decide by them (RFC 9068 §2.2.3.1, roles as
// RFC 7643 §4.1.2 defines them): only when the roles scope was granted,
// as for the ID token and userinfo (the person allowed them to be shared).
func accessTokenRoles(r fosite.Requester) (any, bool) {
	if !r.GetGrantedScopes().Has(ScopeRoles) {
		return nil, false
	}
	sess, _ := r.GetSession().(*Session)
	if sess == nil || sess.Claims == nil {
		return nil, false
	}
	roles, ok := sess.Claims.Extra["roles"]
	return roles, ok
}
