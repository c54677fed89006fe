package federation

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

var (
	// ErrUnknownUpstream: no upstream has this id.
	ErrUnknownUpstream = errors.New("federation: unknown upstream")
	// ErrUnavailable: the upstream's discovery has not succeeded yet, so
	// sign-in through it is not possible (Run keeps retrying).
	ErrUnavailable = errors.New("federation: upstream unavailable (discovery has not succeeded)")
)

// Rejection reasons: short, stable, machine-readable, for audit events and
// metrics. Exchange returns the ones marked (E); RejectionFromCallbackError
// the ones marked (C). Failures the sign-in handler detects itself (state,
// account linking) use its own reasons.
const (
	ReasonUnknownUpstream     = "unknown_upstream"     // (E) no such upstream id
	ReasonUpstreamUnavailable = "upstream_unavailable" // (E) discovery has not succeeded
	ReasonInvalidRequest      = "invalid_request"      // (E) empty code, bad PKCE verifier or empty nonce
	ReasonExchangeFailed      = "exchange_failed"      // (E) the token endpoint failed or refused the code
	ReasonUpstreamTimeout     = "upstream_timeout"     // (E) the token or JWKS endpoint did not answer in time
	ReasonBadIDToken          = "bad_id_token"         // (E) missing, malformed, badly signed, wrong iss/aud, expired, iat in the future
	ReasonNonceMismatch       = "nonce_mismatch"       // (E) the ID token's nonce is not the one sent
	ReasonAZPMismatch         = "azp_mismatch"         // (E) azp is not our client id (or missing with several audiences)
	ReasonEmailNotVerified    = "email_not_verified"   // (E) AllowedDomains set but the e-mail is not verified
	ReasonDomainNotAllowed    = "domain_not_allowed"   // (E) e-mail missing or its domain not in AllowedDomains
	ReasonHDMismatch          = "hd_mismatch"          // (E) hd claim is not HostedDomain
	ReasonAccessDenied        = "access_denied"        // (C) the user or the upstream refused (error=access_denied)
	ReasonLoginRequired       = "login_required"       // (C) prompt=none could not be honoured (login/consent/interaction/account_selection_required)
	ReasonUpstreamError       = "upstream_error"       // (C) any other error=... at the callback
)

// Rejection is the error of every failed Exchange (and of
// RejectionFromCallbackError). Reason is one of the Reason constants; Err
// says what exactly went wrong. Neither ever contains the client secret,
// the authorization code, the PKCE verifier or a token.
type Rejection struct {
	Reason string
	Err    error
}

func (r *Rejection) Error() string {
	if r.Err == nil {
		return "federated sign-in rejected (" + r.Reason + ")"
	}
	return "federated sign-in rejected (" + r.Reason + "): " + r.Err.Error()
}

func (r *Rejection) Unwrap() error { return r.Err }

// UpstreamError is an OAuth error the upstream returned at the callback
// (error=..., error_description=...). Both fields are sanitised: Code is
// limited to RFC 6749's character set, Description to printable text of
// at most maxDescription bytes.
type UpstreamError struct {
	Code        string
	Description string
}

func (e *UpstreamError) Error() string {
	if e.Description == "" {
		return fmt.Sprintf("the upstream answered error=%s", e.Code)
	}
	return fmt.Sprintf("the upstream answered error=%s: %s", e.Code, e.Description)
}

// maxDescription bounds upstream-provided text kept in errors.
const maxDescription = 200

// RejectionFromCallbackError maps an error answer at the callback
// (?error=errCode&error_description=description) to a Rejection:
// access_denied → ReasonAccessDenied; login_required, consent_required,
// interaction_required, account_selection_required → ReasonLoginRequired;
// anything else → ReasonUpstreamError. Err is an *UpstreamError with the
// sanitised code and description. The values come from the browser, so
// they are untrusted: treat them as text, never as markup.
func RejectionFromCallbackError(errCode, description string) *Rejection {
	code := sanitizeCode(errCode)
	reason := ReasonUpstreamError
	switch code {
	case "access_denied":
		reason = ReasonAccessDenied
	case "login_required", "consent_required", "interaction_required", "account_selection_required":
		reason = ReasonLoginRequired
	}
	return &Rejection{Reason: reason, Err: &UpstreamError{Code: code, Description: sanitizeText(description, maxDescription)}}
}

// sanitizeCode keeps an error code that is RFC 6749's error syntax
// (%x20-21 / %x23-5B / %x5D-7E) and of sensible length, else "invalid".
func sanitizeCode(s string) string {
	if s == "" {
		return "(empty)"
	}
	if len(s) > 64 {
		return "(invalid)"
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b < 0x20 || b > 0x7e || b == '"' || b == '\\' {
			return "(invalid)"
		}
	}
	return s
}

// sanitizeText replaces control characters, collapses the result to one
// line and truncates it to max bytes (on a rune boundary).
func sanitizeText(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// maxErrorText bounds error messages built from upstream responses (a JWKS
// or an error page may end up in them).
const maxErrorText = 600

// scrubbedError carries err with a message from which the given secrets
// were removed; Unwrap still reaches err for errors.Is and errors.As.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// scrub returns err with every occurrence of the non-trivial secrets
// removed from its message, and the message bounded in length.
func scrub(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, s := range secrets {
		if len(s) < 4 {
			continue
		}
		msg = strings.ReplaceAll(msg, s, redacted)
		if q := url.QueryEscape(s); q != s {
			msg = strings.ReplaceAll(msg, q, redacted)
		}
	}
	msg = sanitizeText(msg, maxErrorText)
	return &scrubbedError{msg: msg, err: err}
}
