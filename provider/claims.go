package provider

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/ory/fosite"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// The claims request parameter (OpenID Connect Core §5.5): a client asks
// for individual claims, in the ID token, in the userinfo answer, or both,
// beyond what its scopes release.
//
// Consent. OpenID Connect treats the claims a client asks for as part of
// the request the person authorizes (§5.5: the claims parameter "requests
// that specific Claims be returned"; §3.1.2.4 the person's consent covers
// the request). gatehouse shows them on the consent page as the scope that
// would release them (email and email_verified as "email", name as
// "profile", roles as "roles": ClaimScope), and remembers them the same
// way; a client may only ever receive a claim whose scope it is allowed to
// request (the operator's registration), so the claims parameter never
// releases more than the scope could. Claims gatehouse does not know, or
// does not have for the person, are left out, never an error (§5.5).
//
// The names requested are kept in the session the code and every token
// carry (Session.IDTokenClaimNames, Session.UserinfoClaimNames), so
// refreshed ID tokens and the userinfo answer keep honouring them; the
// values are read fresh each time.

// ClaimsRequest is a parsed claims parameter.
type ClaimsRequest struct {
	UserInfo map[string]*ClaimRequest `json:"userinfo"`
	IDToken  map[string]*ClaimRequest `json:"id_token"`
}

// ClaimRequest is one requested claim; nil (JSON null) asks for it in the
// default manner (OpenID Connect Core §5.5.1).
type ClaimRequest struct {
	Essential bool  `json:"essential"`
	Value     any   `json:"value"`
	Values    []any `json:"values"`
}

// maxClaimsParameterLen bounds the claims parameter.
const maxClaimsParameterLen = 8 << 10

// ParseClaimsRequest parses the claims parameter ("" is no request). Not
// a JSON object of that shape: invalid_request (OpenID Connect Core §5.5
// makes it a JSON object; members it does not define are ignored).
func ParseClaimsRequest(v string) (*ClaimsRequest, error) {
	if v == "" {
		return nil, nil
	}
	if len(v) > maxClaimsParameterLen {
		return nil, fosite.ErrInvalidRequest.WithHintf("The claims parameter is longer than %d bytes.", maxClaimsParameterLen)
	}
	var cr ClaimsRequest
	if err := json.Unmarshal([]byte(v), &cr); err != nil || !strings.HasPrefix(strings.TrimSpace(v), "{") {
		return nil, fosite.ErrInvalidRequest.WithHint(`The claims parameter must be a JSON object with "userinfo" and/or "id_token" members, each mapping claim names to null or {"essential", "value", "values"} (OpenID Connect Core §5.5).`)
	}
	return &cr, nil
}

// claimScopes are the claims that may be requested individually and the
// scope that releases each (UserClaims).
var claimScopes = map[string]string{
	"name":           ScopeProfile,
	"email":          ScopeEmail,
	"email_verified": ScopeEmail,
	"roles":          ScopeRoles,
}

// ClaimScope returns the scope that releases claim, or "" for a claim that
// cannot be requested individually.
func ClaimScope(claim string) string { return claimScopes[claim] }

// releasableClaims returns the names in requested that client may
// receive (their scope is one it may request), sorted.
func releasableClaims(requested map[string]*ClaimRequest, client fosite.Client) []string {
	var out []string
	for name := range requested {
		if s := ClaimScope(name); s != "" && slices.Contains(client.GetScopes(), s) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// RequestConsentScopes are the scopes of an authorization request that a
// person decides on: the requested scopes (ConsentScopes) and the scopes
// of the claims the claims parameter asks for individually.
func RequestConsentScopes(ar fosite.AuthorizeRequester) []string {
	scopes := slices.Clone([]string(ar.GetRequestedScopes()))
	if cr, err := ParseClaimsRequest(ar.GetRequestForm().Get("claims")); err == nil && cr != nil {
		for _, names := range [][]string{releasableClaims(cr.IDToken, ar.GetClient()), releasableClaims(cr.UserInfo, ar.GetClient())} {
			for _, n := range names {
				if s := ClaimScope(n); !slices.Contains(scopes, s) {
					scopes = append(scopes, s)
				}
			}
		}
	}
	return ConsentScopes(scopes)
}

// ReleasedClaims are the claims about u that the granted scopes release
// (UserClaims) plus those named individually (claims parameter) that
// gatehouse has for u.
func ReleasedClaims(u *storage.User, granted fosite.Arguments, named []string) map[string]interface{} {
	claims := UserClaims(u, granted)
	for _, n := range named {
		for k, v := range UserClaims(u, fosite.Arguments{ClaimScope(n)}) {
			if k == n {
				claims[k] = v
			}
		}
	}
	return claims
}

// essentialACR applies OpenID Connect Core §5.5.1.1: an acr requested
// as essential with value(s) must be met, or the request ends with
// access_denied; the ID token then carries one of the requested values.
// It returns the acr for the ID token: the session's, or the second
// factor's (ACRMultiFactor) when that was asked for and the session is a
// passkey's phishing-resistant sign-in (phr), which is itself
// multi-factor (the key and the authenticator's user verification, amr
// mfa) — a stronger class, so it satisfies the request as it is instead
// of refusing it.
func essentialACR(cr *ClaimsRequest, acr string) (string, error) {
	if cr == nil {
		return acr, nil
	}
	req := cr.IDToken["acr"]
	if req == nil || !req.Essential {
		return acr, nil
	}
	var allowed []string
	if s, ok := req.Value.(string); ok {
		allowed = append(allowed, s)
	}
	for _, v := range req.Values {
		if s, ok := v.(string); ok {
			allowed = append(allowed, s)
		}
	}
	switch {
	case len(allowed) == 0 || (acr != "" && slices.Contains(allowed, acr)):
		return acr, nil
	case acr == ACRPhishingResistant && slices.Contains(allowed, ACRMultiFactor):
		return ACRMultiFactor, nil
	}
	return "", fosite.ErrAccessDenied.WithHint("The sign-in does not meet the authentication context class (acr) the client requires.")
}
