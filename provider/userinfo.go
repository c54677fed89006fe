package provider

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/ory/fosite"
	"github.com/ory/fosite/token/jwt"

	"github.com/gatehouse-dev/gatehouse/provider/dpop"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// Bearer-token errors (RFC 6750 §3.1) for the userinfo endpoint.
var (
	ErrInvalidToken = &fosite.RFC6749Error{
		ErrorField:       "invalid_token",
		DescriptionField: "The access token is missing, expired, revoked or malformed.",
		CodeField:        http.StatusUnauthorized,
	}
	ErrInsufficientScope = &fosite.RFC6749Error{
		ErrorField:       "insufficient_scope",
		DescriptionField: "The access token was not granted the openid scope.",
		CodeField:        http.StatusForbidden,
	}
)

// The DPoP errors of a request that presents a DPoP-bound access token
// (RFC 9449 §7.1, §9): 401 with a DPoP challenge, where the token
// endpoint answers 400.
var (
	ErrResourceDPoPProof = &fosite.RFC6749Error{
		ErrorField:       dpop.CodeInvalidProof,
		DescriptionField: "The DPoP proof is missing, malformed, reused, too old, or does not match this request, this access token or the key it is bound to.",
		CodeField:        http.StatusUnauthorized,
	}
	ErrResourceDPoPNonce = &fosite.RFC6749Error{
		ErrorField:       dpop.CodeUseNonce,
		DescriptionField: "The DPoP proof must carry the server's nonce: retry with the one in the DPoP-Nonce header.",
		CodeField:        http.StatusUnauthorized,
	}
)

// UserInfo is the answer of the userinfo endpoint.
type UserInfo struct {
	Claims map[string]interface{}
	// ClientID is the client the token was issued to (for CORS).
	ClientID string
}

// UserInfo returns the claims about the token's user that its scopes
// release. The token is checked as for every API of gatehouse's own
// (accessToken: a DPoP-bound one with its proof); the user is read fresh,
// so changes show at once.
func (p *Provider) UserInfo(ctx context.Context, cred Credential) (*UserInfo, error) {
	ar, err := p.accessToken(ctx, cred)
	var refused *dpop.Error
	switch {
	case errors.Is(err, storage.ErrUnavailable):
		return nil, ErrUnavailable.WithWrap(err)
	case errors.As(err, &refused) && refused.Code == dpop.CodeUseNonce:
		// Not wrapped: OAuthError would make the token endpoint's 400 of
		// the refusal.
		return nil, ErrResourceDPoPNonce
	case errors.As(err, &refused):
		return nil, ErrResourceDPoPProof.WithHint(sentence(refused.Reason))
	case err != nil:
		return nil, ErrInvalidToken.WithWrap(err)
	}
	if !ar.GetGrantedScopes().Has(ScopeOpenID) {
		return nil, ErrInsufficientScope
	}
	u, err := p.store.UserByID(ctx, ar.GetSession().GetSubject())
	if errors.Is(err, storage.ErrNotFound) || (err == nil && u.Disabled) {
		// A client_credentials token has no user; a deleted user has none left.
		return nil, ErrInvalidToken
	} else if err != nil {
		return nil, oauthErrorOf(err, "")
	}
	var named []string
	if sess, ok := ar.GetSession().(*Session); ok {
		named = sess.UserinfoClaimNames
	}
	claims := ReleasedClaims(u, ar.GetGrantedScopes(), named)
	claims["sub"] = u.ID
	return &UserInfo{Claims: claims, ClientID: ar.GetClient().GetID()}, nil
}

// IDTokenHint is what an id_token_hint (RP-initiated logout) says.
type IDTokenHint struct {
	Subject  string
	ClientID string
}

// ErrBadIDTokenHint means the hint is not an ID token this issuer signed.
var ErrBadIDTokenHint = errors.New("provider: id_token_hint is not a valid ID token from this issuer")

// VerifyIDTokenHint checks an ID token we issued. Expired tokens are
// accepted: logging out with an old ID token is normal.
func (p *Provider) VerifyIDTokenHint(ctx context.Context, hint string) (*IDTokenHint, error) {
	if hint == "" || len(hint) > 16<<10 {
		return nil, ErrBadIDTokenHint
	}
	tok, err := p.signer.Decode(ctx, hint)
	var ve *jwt.ValidationError
	if err != nil && !(errors.As(err, &ve) && ve.Errors == jwt.ValidationErrorExpired) {
		return nil, ErrBadIDTokenHint
	}
	if tok == nil {
		return nil, ErrBadIDTokenHint
	}
	claims := tok.Claims
	if iss, _ := claims["iss"].(string); iss != p.opts.Issuer {
		return nil, ErrBadIDTokenHint
	}
	sub, _ := claims["sub"].(string)
	if sub == "" {
		return nil, ErrBadIDTokenHint
	}
	var aud []string
	switch v := claims["aud"].(type) {
	case string:
		aud = []string{v}
	case []interface{}:
		for _, a := range v {
			if s, ok := a.(string); ok {
				aud = append(aud, s)
			}
		}
	}
	clientID, _ := claims["azp"].(string)
	if clientID == "" && len(aud) > 0 {
		clientID = aud[0]
	}
	if clientID == "" || (len(aud) > 0 && !slices.Contains(aud, clientID)) {
		return nil, ErrBadIDTokenHint
	}
	return &IDTokenHint{Subject: sub, ClientID: clientID}, nil
}
