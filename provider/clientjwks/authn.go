package clientjwks

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

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

// MaxAssertionLifetime bounds how long a client assertion is valid: its exp
// at most this long after its iat or, without iat, after the server's now.
// RFC 7523 §3 lets the server refuse an exp "unreasonably far in the
// future"; an assertion is made for one request, and one that stays valid
// for long is a credential a thief can use until it expires.
const MaxAssertionLifetime = 5 * time.Minute

// AssertionClockSkew is how far the clock of a client may run ahead of the
// server's: an iat further in the future is refused, and an assertion
// without iat may expire this much later. (fosite itself refuses any iat
// after its own clock.)
const AssertionClockSkew = 30 * time.Second

// maxAssertionLen bounds the client assertion DecodeUnverifiedClaims
// decodes.
const maxAssertionLen = 8 << 10

// OneMethodShortAssertions wraps the whole client authentication strategy
// (outermost, so that it runs before any method answers, API keys
// included) with two rules fosite does not make, each answered 401
// invalid_client:
//
//   - one authentication method per request (RFC 6749 §2.3): a
//     client_assertion together with a client_secret or HTTP Basic
//     credentials is refused, rather than fosite ignoring the secret;
//   - a private_key_jwt assertion lives at most MaxAssertionLifetime (exp
//     required, RFC 7523 §3) and is not issued in the future.
//
// The lifetime is read before the signature is verified: it only ever
// refuses, and a refused assertion costs no key lookup and no jti. The
// assertion is verified afterwards as before.
func OneMethodShortAssertions(next fosite.ClientAuthenticationStrategy, now func() time.Time) fosite.ClientAuthenticationStrategy {
	return func(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
		if form.Get("client_assertion_type") == "" && form.Get("client_assertion") == "" {
			return next(ctx, r, form)
		}
		if _, _, basic := r.BasicAuth(); basic || form.Get("client_secret") != "" {
			return nil, fosite.ErrInvalidClient.WithHint("Use one client authentication method per request: a 'client_assertion' must not come with a client secret or HTTP Basic credentials.")
		}
		if form.Get("client_assertion_type") == JWTBearerAssertionType {
			if err := checkAssertionLifetime(form.Get("client_assertion"), now()); err != nil {
				return nil, err
			}
		}
		return next(ctx, r, form)
	}
}

// checkAssertionLifetime refuses an assertion whose exp is missing, too far
// after its iat (or now, without iat), or whose iat is in the future. An
// assertion whose claims cannot be decoded at all is left to fosite, which
// refuses it with a precise reason.
func checkAssertionLifetime(assertion string, now time.Time) error {
	var claims struct {
		Exp *float64 `json:"exp"`
		Iat *float64 `json:"iat"`
	}
	if !DecodeUnverifiedClaims(assertion, &claims) {
		return nil
	}
	exp, expOK := numericDate(claims.Exp)
	iat, iatOK := numericDate(claims.Iat)
	switch {
	case !expOK || !iatOK:
		return fosite.ErrInvalidClient.WithHint("The 'exp' and 'iat' of the 'client_assertion' must be NumericDates (RFC 7519 §2).")
	case exp == nil:
		return fosite.ErrInvalidClient.WithHint("The 'client_assertion' must have an 'exp' claim.")
	case iat == nil:
		if exp.Sub(now) > MaxAssertionLifetime+AssertionClockSkew {
			return fosite.ErrInvalidClient.WithHintf("The 'client_assertion' expires more than %s from now.", MaxAssertionLifetime)
		}
	case iat.After(now.Add(AssertionClockSkew)):
		return fosite.ErrInvalidClient.WithHint("The 'client_assertion' has an 'iat' in the future.")
	case exp.Sub(*iat) > MaxAssertionLifetime:
		return fosite.ErrInvalidClient.WithHintf("The 'client_assertion' is valid for longer than %s ('exp' - 'iat').", MaxAssertionLifetime)
	}
	return nil
}

// DecodeUnverifiedClaims decodes the claims of a compact JWS (at most 8 KiB;
// a real client assertion is well under 2 KiB) into v without verifying
// its signature, for decisions that only ever refuse or name a claimed
// client. It reports whether assertion was one whose claims decode.
func DecodeUnverifiedClaims(assertion string, v any) bool {
	if len(assertion) > maxAssertionLen {
		return false
	}
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	return json.Unmarshal(payload, v) == nil
}

// numericDate converts a NumericDate claim (seconds since the epoch); nil
// stays nil, and ok is false for a value no time can hold.
func numericDate(v *float64) (*time.Time, bool) {
	if v == nil {
		return nil, true
	}
	if math.IsNaN(*v) || math.IsInf(*v, 0) || math.Abs(*v) > 1<<40 {
		return nil, false
	}
	sec, frac := math.Modf(*v)
	t := time.Unix(int64(sec), int64(frac*1e9))
	return &t, true
}
