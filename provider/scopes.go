package provider

import (
	"strings"

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

// ReservedScopePrefix marks the scopes of gatehouse's own APIs
// (gatehouse:admin, and any added later): management scopes, whatever
// follows the prefix.
const ReservedScopePrefix = "gatehouse:"

// IsManagementScope reports whether a token with scope s could manage
// gatehouse itself: its admin API (ReservedScopePrefix), or credentials
// through the self-service key API (ScopeAPIKeys). Such power is never
// granted by a person's consent (DESIGN.md, docs/security.md): only a
// first-party client (storage.Client.FirstParty, set by an operator) may
// be allowed these scopes, registration refuses them, the consent page
// never lists them, and every other client asking for one gets
// invalid_scope. A scope added later that manages gatehouse belongs here.
func IsManagementScope(s string) bool {
	return s == ScopeAPIKeys || strings.HasPrefix(s, ReservedScopePrefix)
}

// ManagementScopes returns the management scopes among scopes, in order.
func ManagementScopes(scopes []string) []string {
	var out []string
	for _, s := range scopes {
		if IsManagementScope(s) {
			out = append(out, s)
		}
	}
	return out
}

// ConsentScopes are the scopes of a request that a person decides on: all
// but the management scopes, which consent never grants and the consent
// page never lists. Only a first-party client can ask for those at all
// (TrustedScopes); they come with its sign-ins by the operator's decision,
// and what they allow is checked against the person's own rights when
// used (an admin role for the admin API, ownership for API keys).
func ConsentScopes(requested []string) []string {
	out := make([]string, 0, len(requested))
	for _, s := range requested {
		if !IsManagementScope(s) {
			out = append(out, s)
		}
	}
	return out
}

// TrustedScopes returns c, or for a client that is not first-party but
// lists management scopes, a copy without them (the cached client is
// shared and must not change).
func TrustedScopes(c *storage.Client) *storage.Client {
	if c.FirstParty || len(ManagementScopes(c.Scopes)) == 0 {
		return c
	}
	cp := *c
	cp.Scopes = ConsentScopes(c.Scopes)
	return &cp
}

// StandardScopes are advertised in discovery.
var StandardScopes = []string{ScopeOpenID, ScopeProfile, ScopeEmail, ScopeRoles, ScopeOfflineAccess}

var scopeDescriptions = map[string]string{
	ScopeOpenID:        "Know who you are (your account id)",
	ScopeProfile:       "See your name",
	ScopeEmail:         "See your e-mail address",
	ScopeRoles:         "See your roles",
	ScopeOfflineAccess: "Stay signed in when you are not using it (refresh tokens)",
	ScopeOffline:       "Stay signed in when you are not using it (refresh tokens)",
}

// ScopeDescription returns a plain-words description of a scope, or "" for
// a scope gatehouse does not know.
func ScopeDescription(scope string) string { return scopeDescriptions[scope] }

// SupportedClaims are advertised in discovery: the claims gatehouse's ID
// tokens and userinfo answers can carry (acr only after an upstream
// sign-in).
var SupportedClaims = []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "acr", "amr", "name", "email", "email_verified", "roles"}

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

// ScopeAPIKeys is the scope a person's access token needs to manage the API
// keys of the clients they own (/api/apikeys).
const ScopeAPIKeys = "apikeys"

// ScopeAdmin is the scope an access token needs for the admin API. Only an
// operator can give it, and only to a first-party client
// (IsManagementScope).
const ScopeAdmin = ReservedScopePrefix + "admin"
