package clientjwks

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/ory/fosite"
)

// JWTBearerAssertionType is the client_assertion_type of private_key_jwt.
const JWTBearerAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// AssertionErrorsAsInvalidClient wraps fosite's client authentication
// (pass (*fosite.Fosite).DefaultClientAuthenticationStrategy) so that a
// client assertion that fails verification is answered invalid_client
// (401), as RFC 7523 §3.2 requires. fosite v0.49.0 answers three such
// failures otherwise:
//
//   - an expired, not-yet-valid or future-issued assertion: a bare error
//     from its JWT claims check, which becomes a 500 (ory/hydra#2066);
//   - a kid that is not in the client's key set, or a set without a
//     usable key: invalid_request (400);
//   - a jti already used (a replay): jti_known (400).
//
// Everything else passes unchanged, including storage failures and an
// absent client_assertion (a malformed request, rightly invalid_request).
func AssertionErrorsAsInvalidClient(next fosite.ClientAuthenticationStrategy) fosite.ClientAuthenticationStrategy {
	return func(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
		client, err := next(ctx, r, form)
		if err == nil || form.Get("client_assertion_type") != JWTBearerAssertionType || form.Get("client_assertion") == "" {
			return client, err
		}
		var rfc *fosite.RFC6749Error
		if !errors.As(err, &rfc) {
			if hint, ok := claimsErrorHint(err); ok {
				return nil, fosite.ErrInvalidClient.WithHint(hint).WithWrap(err).WithDebug(err.Error())
			}
			return nil, err
		}
		switch rfc.ErrorField {
		case fosite.ErrInvalidRequest.ErrorField, fosite.ErrJTIKnown.ErrorField:
			return nil, fosite.ErrInvalidClient.WithHint(rfc.HintField).WithWrap(err).WithDebug(rfc.GetDescription())
		}
		return nil, err
	}
}

// claimsErrorHint recognises the bare errors of fosite's
// jwt.MapClaims.Valid (token/jwt/map_claims.go), which reach the caller
// unwrapped. The texts are fosite v0.49.0's; a test pins them.
func claimsErrorHint(err error) (string, bool) {
	switch err.Error() {
	case "Token is expired":
		return "The 'client_assertion' has expired.", true
	case "Token used before issued":
		return "The 'client_assertion' has an 'iat' in the future.", true
	case "Token is not valid yet":
		return "The 'client_assertion' is not valid yet ('nbf').", true
	}
	return "", false
}
