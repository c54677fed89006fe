package provider

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
)

// Token prefixes. They are gatehouse's own (fosite's are "ory_"), so secret
// scanners can recognise a leaked gatehouse token.
const (
	PrefixAccessToken  = "gth_at_"
	PrefixRefreshToken = "gth_rt_"
	PrefixAuthCode     = "gth_ac_"
)

// tokenStrategy is fosite's HMAC-SHA512/256 token strategy with gatehouse's
// prefixes. A token is prefix + random key + "." + HMAC signature; only the
// signature reaches storage.
//
// Access tokens of clients that want JWTs (RFC 9068) are signed JWTs
// instead; only their signature segment reaches storage.
//
// Codes and refresh tokens expire on the engine's clock (now), as
// everything else the engine decides: fosite's own check, which follows,
// reads the system clock.
type tokenStrategy struct {
	*oauth2.HMACSHAStrategyUnPrefixed
	jwt *jwtAccessTokens
	now func() time.Time
}

var _ oauth2.CoreStrategy = tokenStrategy{}

func withPrefix(prefix, token string) string {
	if token == "" {
		return ""
	}
	return prefix + token
}

func (s tokenStrategy) GenerateAccessToken(ctx context.Context, r fosite.Requester) (string, string, error) {
	if s.jwt != nil && s.jwt.wants(r) {
		return s.jwt.generate(ctx, r)
	}
	token, sig, err := s.HMACSHAStrategyUnPrefixed.GenerateAccessToken(ctx, r)
	return withPrefix(PrefixAccessToken, token), sig, err
}

func (s tokenStrategy) ValidateAccessToken(ctx context.Context, r fosite.Requester, token string) error {
	if isJWT(token) {
		if s.jwt == nil {
			return fosite.ErrTokenSignatureMismatch
		}
		if err := s.jwt.validate(ctx, token); err != nil {
			return err
		}
		// The record's expiry still applies (an API key's expiry shortens
		// it below the JWT's own exp).
		if exp := r.GetSession().GetExpiresAt(fosite.AccessToken); !exp.IsZero() && exp.Before(time.Now().UTC()) {
			return fosite.ErrTokenExpired
		}
		return nil
	}
	return s.HMACSHAStrategyUnPrefixed.ValidateAccessToken(ctx, r, strings.TrimPrefix(token, PrefixAccessToken))
}

// AccessTokenSignature is what storage keys an access token by: the HMAC
// signature of an opaque token, the signature segment of a JWT.
func (s tokenStrategy) AccessTokenSignature(ctx context.Context, token string) string {
	if isJWT(token) {
		return token[strings.LastIndexByte(token, '.')+1:]
	}
	return s.HMACSHAStrategyUnPrefixed.AccessTokenSignature(ctx, token)
}

func (s tokenStrategy) GenerateRefreshToken(ctx context.Context, r fosite.Requester) (string, string, error) {
	token, sig, err := s.HMACSHAStrategyUnPrefixed.GenerateRefreshToken(ctx, r)
	return withPrefix(PrefixRefreshToken, token), sig, err
}

func (s tokenStrategy) ValidateRefreshToken(ctx context.Context, r fosite.Requester, token string) error {
	if s.expired(r, fosite.RefreshToken) {
		return fosite.ErrTokenExpired.WithHint("The refresh token has expired.")
	}
	return s.HMACSHAStrategyUnPrefixed.ValidateRefreshToken(ctx, r, strings.TrimPrefix(token, PrefixRefreshToken))
}

// expired reports whether the token of type tt of r has expired on the
// engine's clock (a zero expiry never does).
func (s tokenStrategy) expired(r fosite.Requester, tt fosite.TokenType) bool {
	if s.now == nil || r.GetSession() == nil {
		return false
	}
	exp := r.GetSession().GetExpiresAt(tt)
	return !exp.IsZero() && exp.Before(s.now().UTC())
}

func (s tokenStrategy) GenerateAuthorizeCode(ctx context.Context, r fosite.Requester) (string, string, error) {
	token, sig, err := s.HMACSHAStrategyUnPrefixed.GenerateAuthorizeCode(ctx, r)
	return withPrefix(PrefixAuthCode, token), sig, err
}

func (s tokenStrategy) ValidateAuthorizeCode(ctx context.Context, r fosite.Requester, token string) error {
	if s.expired(r, fosite.AuthorizeCode) {
		return fosite.ErrTokenExpired.WithHint("The authorization code has expired.")
	}
	return s.HMACSHAStrategyUnPrefixed.ValidateAuthorizeCode(ctx, r, strings.TrimPrefix(token, PrefixAuthCode))
}

// quietTokenHandler answers fosite's "not mine" without a stack trace.
// fosite asks every token endpoint handler to populate every response, and
// each one that does not handle the grant returns
// errors.WithStack(ErrUnknownRequest): four stack captures per token
// request, about a tenth of the CPU of a client_credentials token. Each
// composed handler begins its PopulateTokenEndpointResponse with exactly
// this CanHandleTokenEndpointRequest check, so the answer is the same.
type quietTokenHandler struct{ fosite.TokenEndpointHandler }

func (h quietTokenHandler) PopulateTokenEndpointResponse(ctx context.Context, r fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !h.CanHandleTokenEndpointRequest(ctx, r) {
		return fosite.ErrUnknownRequest
	}
	return h.TokenEndpointHandler.PopulateTokenEndpointResponse(ctx, r, resp)
}

// pkceSpendsCode is fosite's PKCE check at the token endpoint, with a code
// spent when its code_verifier is wrong (or missing): whoever holds a
// stolen code gets one guess. fosite had that effect by deleting the PKCE
// row before comparing; gatehouse keeps the row until the code expires
// (fositeStore.DeletePKCERequestSession says why) and spends the code
// itself. A storage failure spends nothing.
type pkceSpendsCode struct {
	fosite.TokenEndpointHandler
	codes oauth2.AuthorizeCodeStrategy
	store oauth2.AuthorizeCodeStorage
}

func (h pkceSpendsCode) HandleTokenEndpointRequest(ctx context.Context, r fosite.AccessRequester) error {
	err := h.TokenEndpointHandler.HandleTokenEndpointRequest(ctx, r)
	if err == nil || errors.Is(err, fosite.ErrUnknownRequest) || IsServerError(err) {
		return err
	}
	sig := h.codes.AuthorizeCodeSignature(ctx, r.GetRequestForm().Get("code"))
	if spendErr := h.store.InvalidateAuthorizeCodeSession(ctx, sig); spendErr != nil && !errors.Is(spendErr, fosite.ErrInvalidatedAuthorizeCode) {
		return spendErr
	}
	return pkceError(r, err)
}

// pkceError says what went wrong with the code_verifier, where fosite's
// PKCE handler says something else: a missing verifier is a missing
// parameter (invalid_request, RFC 6749 §5.2), not one "shorter than 43
// characters"; a verifier that does not match is invalid_grant (RFC 7636
// §4.6), said in the parameters' own names.
func pkceError(r fosite.AccessRequester, err error) error {
	if r.GetRequestForm().Get("code_verifier") == "" {
		return fosite.ErrInvalidRequest.WithWrap(err).
			WithHint("The code_verifier parameter is missing: send the PKCE code verifier whose code_challenge the authorization request carried (RFC 7636 §4.5).")
	}
	if rfc := fosite.ErrorToRFC6749Error(err); rfc.ErrorField == fosite.ErrInvalidGrant.ErrorField && strings.Contains(rfc.HintField, "did not match") {
		return fosite.ErrInvalidGrant.WithWrap(err).
			WithHint("The code_verifier does not match the code_challenge of the authorization request (RFC 7636 §4.6).")
	}
	return err
}
