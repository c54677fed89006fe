package provider

import (
	"errors"
	"net/http"

	"github.com/ory/fosite"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// This file is the one place where failures below fosite become the OAuth
// errors clients see. fosite reports several storage outcomes as
// server_error or as "please retry" although they are the client's
// business: a second use of a code or refresh token that raced the first,
// for instance. Handlers pass every fosite error through OAuthError before
// writing it.

// ErrUnavailable is the OAuth error for "the database is unreachable".
var ErrUnavailable = &fosite.RFC6749Error{
	ErrorField:       "temporarily_unavailable",
	DescriptionField: "The authorization server is temporarily unable to handle the request. Retry later.",
	CodeField:        http.StatusServiceUnavailable,
}

// OAuthError maps err (from fosite or from gatehouse) to the RFC 6749 error
// to send. grantType is the token request's grant_type ("" elsewhere).
func OAuthError(err error, grantType string) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, storage.ErrUnavailable):
		return ErrUnavailable.WithWrap(err)
	case errors.Is(err, fosite.ErrInvalidatedAuthorizeCode):
		// A concurrent exchange of the same code won the race.
		return fosite.ErrInvalidGrant.WithWrap(err).WithHint("The authorization code has already been used.")
	case errors.Is(err, storage.ErrRefreshRace):
		return fosite.ErrInvalidGrant.WithWrap(err).WithHint("The refresh token was already used by a concurrent request.")
	case grantType == "refresh_token" && isRetryOrServerError(err) &&
		(errors.Is(err, fosite.ErrNotFound) || errors.Is(err, fosite.ErrSerializationFailure) || errors.Is(err, fosite.ErrInactiveToken)):
		// fosite asks the client to "retry" when the rotation lost a race,
		// but the token it holds is spent: retrying can only fail.
		return fosite.ErrInvalidGrant.WithWrap(err).WithHint("The refresh token was already used by a concurrent request.")
	case grantType == "authorization_code" && isRetryOrServerError(err) && errors.Is(err, fosite.ErrSerializationFailure):
		return fosite.ErrInvalidGrant.WithWrap(err).WithHint("The authorization code has already been used.")
	}
	return err
}

// isRetryOrServerError reports whether fosite answered with its generic
// "invalid_request, please retry" or a server error: the two shapes a lost
// storage race takes. Other errors (invalid_client, ...) pass unchanged.
func isRetryOrServerError(err error) bool {
	var rfc *fosite.RFC6749Error
	if !errors.As(err, &rfc) {
		return true
	}
	return rfc.ErrorField == fosite.ErrInvalidRequest.ErrorField || rfc.CodeField >= 500 || rfc.CodeField == http.StatusConflict
}

// IsServerError reports whether err is the server's fault (5xx), for
// logging at error level rather than as a client mistake.
func IsServerError(err error) bool {
	var rfc *fosite.RFC6749Error
	if errors.As(err, &rfc) {
		return rfc.CodeField >= 500
	}
	return true
}
