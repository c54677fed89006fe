package provider

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/ory/fosite"

	"github.com/gatehouse-dev/gatehouse/provider/dpop"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// This file is the one place where failures below fosite become the OAuth
// errors clients see. fosite reports several storage outcomes as
// server_error or as "please retry" although they are the client's
// business: a second use of a code or refresh token that raced the first,
// for instance. Every OAuth error goes through OAuthError before it is
// written.

// ErrUnavailable is the OAuth error for "the database is unreachable".
var ErrUnavailable = &fosite.RFC6749Error{
	ErrorField:       "temporarily_unavailable",
	DescriptionField: "The authorization server is temporarily unable to handle the request. Retry later.",
	CodeField:        http.StatusServiceUnavailable,
}

// ErrInvalidTarget is RFC 8707's error (§2) for a resource that is
// unknown, malformed, or not one the client may ask for: 400, as for the
// other token and authorization errors of RFC 6749 §5.2.
var ErrInvalidTarget = &fosite.RFC6749Error{
	ErrorField:       "invalid_target",
	DescriptionField: "The requested resource is invalid, unknown, or malformed.",
	CodeField:        http.StatusBadRequest,
}

// ErrInvalidDPoPProof and ErrUseDPoPNonce are RFC 9449's errors (§12.2):
// a DPoP proof that is missing where one is required, or fails a check of
// §4.3, and a proof without the server's current nonce (§8; the answer
// carries the nonce in its DPoP-Nonce header). 400, as the other token
// request errors (RFC 6749 §5.2).
var (
	ErrInvalidDPoPProof = &fosite.RFC6749Error{
		ErrorField:       dpop.CodeInvalidProof,
		DescriptionField: "The DPoP proof is invalid.",
		CodeField:        http.StatusBadRequest,
	}
	ErrUseDPoPNonce = &fosite.RFC6749Error{
		ErrorField:       dpop.CodeUseNonce,
		DescriptionField: "The DPoP proof must carry the server's nonce: retry with the one in the DPoP-Nonce header.",
		CodeField:        http.StatusBadRequest,
	}
)

// ClientGoneHint is the description of the answer (which nobody reads) to
// a request whose client went away mid-way.
const ClientGoneHint = "The request was cancelled by the client."

// OAuthError is the OAuth error to send for err, a failure of a request
// whose context is ctx (grantType is the token request's grant_type, ""
// elsewhere), and logs the server's own failures. A client that went away
// is not a server failure; a request that ran out of time on a database
// that hangs is "retry later", as for one that refuses.
func (p *Provider) OAuthError(ctx context.Context, err error, grantType string) error {
	// The client went away: not the server's failure, whatever fosite
	// made of the cancelled query (it does not always keep the cause).
	if errors.Is(ctx.Err(), context.Canceled) && (errors.Is(err, context.Canceled) || fosite.ErrorToRFC6749Error(err).CodeField >= 500) {
		return fosite.ErrInvalidRequest.WithHint(ClientGoneHint).WithWrap(err)
	}
	// The request ran out of time, waiting on a database that hangs
	// rather than refuses (a partition, a frozen host): that is "retry
	// later", as for an unreachable one. fosite would call it server_error,
	// or invalid_client when the client lookup was what hung. Only the
	// request's own deadline counts: an outbound fetch that timed out
	// within it (a client's jwks_uri) keeps fosite's answer.
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && !errors.Is(err, storage.ErrUnavailable) {
		p.log.ErrorContext(ctx, "oauth request timed out", "cause", err.Error())
		return ErrUnavailable.WithWrap(err)
	}
	err = oauthErrorOf(err, grantType)
	if IsServerError(err) {
		rfc := fosite.ErrorToRFC6749Error(err)
		attrs := []any{"error", rfc.ErrorField}
		if cause := rfc.Cause(); cause != nil {
			attrs = append(attrs, "cause", cause.Error())
		}
		if d := rfc.Debug(); d != "" {
			attrs = append(attrs, "debug", d)
		}
		p.log.ErrorContext(ctx, "oauth request failed", attrs...)
	}
	return err
}

// challengeClient answers a failed client authentication as RFC 6749
// §5.2 asks: 401 invalid_client with a WWW-Authenticate challenge for the
// scheme clients authenticate with (HTTP Basic). Call it before writing
// the error.
func challengeClient(w http.ResponseWriter, err error) {
	if rfc := fosite.ErrorToRFC6749Error(err); rfc.ErrorField == fosite.ErrInvalidClient.ErrorField {
		w.Header().Set("WWW-Authenticate", `Basic realm="gatehouse"`)
	}
}

// writeJSON writes v as the JSON answer of an OAuth endpoint (never
// cached: RFC 6749 §5.1).
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError writes an RFC 6749 §5.2 error body.
//
// The description is computed on a copy: GetDescription fills the hint in
// place, and err may be one of the package's shared error values (such
// as ErrIntrospectionCaller), which concurrent requests answer with.
func writeError(w http.ResponseWriter, err error) {
	rfc := *fosite.ErrorToRFC6749Error(err)
	writeJSON(w, rfc.StatusCode(), map[string]string{"error": rfc.ErrorField, "error_description": rfc.GetDescription()})
}

// oauthErrorOf maps err (from fosite or from gatehouse) to the RFC 6749
// error to send. grantType is the token request's grant_type ("" elsewhere).
func oauthErrorOf(err error, grantType string) error {
	if err == nil {
		return nil
	}
	var refusedProof *dpop.Error
	switch {
	case errors.Is(err, storage.ErrUnavailable):
		return ErrUnavailable.WithWrap(err)
	case errors.As(err, &refusedProof):
		base := ErrInvalidDPoPProof
		if refusedProof.Code == dpop.CodeUseNonce {
			base = ErrUseDPoPNonce
		}
		return base.WithHint(sentence(refusedProof.Reason)).WithWrap(err)
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
	case grantType == GrantJWTBearer && errors.Is(err, fosite.ErrJTIKnown):
		// RFC 7523 §3 item 7 and the ID-JAG draft: an assertion is
		// redeemed once; the single-use store says it was (jti_known is
		// no registered error code).
		return fosite.ErrInvalidGrant.WithWrap(err).WithHint("The assertion was already used.")
	case grantType == GrantTokenExchange && errors.Is(err, fosite.ErrJTIKnown):
		// An ID token presented as a subject token is exchanged once
		// (its jti in the single-use store).
		return fosite.ErrInvalidGrant.WithWrap(err).WithHint("The subject token was already exchanged.")
	case grantType == "authorization_code" && isRetryOrServerError(err) && errors.Is(err, fosite.ErrSerializationFailure):
		return fosite.ErrInvalidGrant.WithWrap(err).WithHint("The authorization code has already been used.")
	case (grantType == "authorization_code" || grantType == "refresh_token") && errors.Is(err, fosite.ErrTokenExpired):
		// fosite answers an expired code with invalid_token (401), a
		// resource server's error; RFC 6749 §5.2 says invalid_grant. The
		// hint (tokenStrategy) says which grant expired.
		return fosite.ErrInvalidGrant.WithWrap(err).WithHint(expiredHint(err, grantType))
	}
	return err
}

// sentence makes a reason a sentence: capitalised, with a full stop.
func sentence(reason string) string {
	if reason == "" {
		return ""
	}
	return strings.ToUpper(reason[:1]) + reason[1:] + "."
}

// expiredHint is the description of an expired code or refresh token.
func expiredHint(err error, grantType string) string {
	var rfc *fosite.RFC6749Error
	for e := err; errors.As(e, &rfc); e = rfc.Unwrap() {
		if rfc.ErrorField == fosite.ErrTokenExpired.ErrorField && rfc.HintField != "" && !strings.Contains(rfc.HintField, "' expired at '") {
			return rfc.HintField
		}
	}
	if grantType == "refresh_token" {
		return "The refresh token has expired."
	}
	return "The authorization code has expired."
}

// ErrUnsupportedGrantType answers a token request whose grant_type no
// composed handler serves (RFC 6749 §5.2); fosite says invalid_request
// with a hint about redirect URIs.
var ErrUnsupportedGrantType = fosite.ErrUnsupportedGrantType.WithHint(
	"The grant_type is not supported by this server; see grant_types_supported in the discovery document.")

// tokenRequestError says, for an error of the token request r, what
// happened where fosite's answer does not:
//
//   - a grant_type that no handler serves is unsupported_grant_type
//     (fosite returns no request and a bare invalid_request then);
//   - a refresh token that storage does not know, but that this server
//     issued (its HMAC signature checks out), was revoked or has expired
//     and been purged — not "malformed";
//
// and then maps it as OAuthError does.
func (p *Provider) tokenRequestError(ctx context.Context, r *http.Request, ar fosite.AccessRequester, err error) error {
	grantType := r.PostForm.Get("grant_type")
	switch {
	case ar == nil && grantType != "" && errors.Is(err, fosite.ErrInvalidRequest):
		err = ErrUnsupportedGrantType.WithWrap(err)
	case grantType == "refresh_token" && errors.Is(err, fosite.ErrNotFound) && !errors.Is(err, storage.ErrRefreshRace) &&
		fosite.ErrorToRFC6749Error(err).ErrorField == fosite.ErrInvalidGrant.ErrorField:
		if p.core.ValidateRefreshToken(ctx, &fosite.Request{Session: NewSession()}, r.PostForm.Get("refresh_token")) == nil {
			err = fosite.ErrInvalidGrant.WithWrap(err).WithHint("The refresh token was revoked, or has expired.")
		} else {
			err = fosite.ErrInvalidGrant.WithWrap(err).WithHint("The refresh token is not valid: it was not issued by this server.")
		}
	}
	return p.OAuthError(ctx, err, grantType)
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
