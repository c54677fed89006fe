package provider

import (
	"github.com/ory/fosite"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// Scopes gatehouse knows and explains on the consent page. Clients may also
// be allowed scopes of their own (APIs they call); those are shown by name.
const (
	ScopeOpenID        = "openid"
	ScopeProfile       = "profile"
	ScopeEmail         = "email"
	ScopeRoles         = "roles"
	ScopeOfflineAccess = "offline_access"
	ScopeOffline       = "offline"
)

// StandardScopes are advertised in discovery.
var StandardScopes = []string{ScopeOpenID, ScopeProfile, ScopeEmail, ScopeRoles, ScopeOfflineAccess}

var scopeDescriptions = map[string]string{
	ScopeOpenID:        "Know who you are (your account id)",
	ScopeProfile:       "See your name",
	ScopeEmail:         "See your e-mail address",
	ScopeRoles:         "See your roles",
	ScopeOfflineAccess: "Stay signed in when you are not using it (refresh tokens)",
	ScopeOffline:       "Stay signed in when you are not using it (refresh tokens)",
	ScopeAPIKeys:       "Manage the API keys of your apps",
}

// ScopeDescription returns a plain-words description of a scope, or "" for
// a scope gatehouse does not know.
func ScopeDescription(scope string) string { return scopeDescriptions[scope] }

// SupportedClaims are advertised in discovery.
var SupportedClaims = []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "name", "email", "email_verified", "roles"}

// UserClaims returns the claims about u that the granted scopes release
// (beyond sub, which is always present).
func UserClaims(u *storage.User, granted fosite.Arguments) map[string]interface{} {
	claims := map[string]interface{}{}
	if granted.Has(ScopeProfile) && u.Name != "" {
		claims["name"] = u.Name
	}
	if granted.Has(ScopeEmail) {
		claims["email"] = u.Email
		claims["email_verified"] = u.EmailVerified
	}
	if granted.Has(ScopeRoles) {
		roles := u.Roles
		if roles == nil {
			roles = []string{}
		}
		claims["roles"] = roles
	}
	return claims
}
