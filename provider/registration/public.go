package registration

import (
	"encoding/json"
	"net"
	"net/url"
	"slices"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
)

// The public registration policy: anyone may register, without an
// initial access token, a client that holds no shared secret — what MCP
// clients that only know anonymous registration do (MCP authorization,
// "Dynamic Client Registration"). Such a registration proves nothing
// about who made it, so the client gets only what a person can judge on
// the consent page: public (PKCE) or private_key_jwt, the authorization
// code and refresh token grants, redirect URIs on https or loopback
// (RFC 8252 §7.3, any port), and at most the operator's scopes and
// resources. Registrations that never complete an authorization are
// deleted after registration.unused_client_lifetime (the janitor).

// publicPolicy is what such a client may have.
type publicPolicy struct {
	scopes, resources []string
}

// publicGrants are the grant types of a publicly registered client.
var publicGrants = []string{provider.GrantAuthorizationCode, provider.GrantRefreshToken}

// restrict holds a public registration (body, decoded as req) to the
// policy and narrows spec to it: an *Error (invalid_client_metadata or
// invalid_redirect_uri) for what it cannot have, never a silent change
// of what it asked to be.
func (p publicPolicy) restrict(body []byte, req *Request, spec *admin.ClientSpec) error {
	ve := &admin.ValidationError{}
	switch req.TokenEndpointAuthMethod {
	case "":
		// Nothing said: the only kind that needs nothing shared.
		spec.TokenEndpointAuthMethod, spec.Public = provider.AuthMethodNone, true
	case provider.AuthMethodNone, provider.AuthMethodPrivateKeyJWT:
	default:
		ve.Add("token_endpoint_auth_method", "must be none or private_key_jwt: registration without an initial access token gives no shared secret")
	}
	for _, g := range spec.GrantTypes {
		if !slices.Contains(publicGrants, g) {
			ve.Add("grant_types", "%q is not available without an initial access token (authorization_code and refresh_token are)", g)
		}
	}
	// OpenID Connect Dynamic Client Registration 1.0 §2: a native app's
	// redirect URIs are loopback http (or custom schemes, which gatehouse
	// does not take); a web app's are https (loopback http is admitted
	// for the code flow, as for any client).
	var meta struct {
		ApplicationType *string `json:"application_type"`
	}
	_ = json.Unmarshal(body, &meta) // DecodeRequest already parsed the object
	appType := "web"
	if meta.ApplicationType != nil {
		appType = *meta.ApplicationType
	}
	switch appType {
	case "web":
	case "native":
		for _, raw := range spec.RedirectURIs {
			if u, err := url.Parse(raw); err != nil || u.Scheme != "http" || !loopbackIP(u.Hostname()) {
				ve.Add("redirect_uris", "a native application's redirect URIs are http on a loopback address (RFC 8252 §7.3), not %q", clip(raw))
			}
		}
	default:
		ve.Add("application_type", "must be web or native")
	}
	if len(ve.Problems) > 0 {
		return metadataError(ve)
	}
	// Narrowed to the policy: what it asked for and the policy allows, or
	// the policy's own list when it asked for nothing.
	if len(spec.Scopes) == 0 {
		spec.Scopes = slices.Clone(p.scopes)
	} else {
		spec.Scopes = slices.DeleteFunc(slices.Clone(spec.Scopes), func(s string) bool { return !slices.Contains(p.scopes, s) })
	}
	if !slices.Contains(spec.GrantTypes, provider.GrantRefreshToken) {
		spec.Scopes = slices.DeleteFunc(spec.Scopes, func(s string) bool { return s == provider.ScopeOfflineAccess })
	}
	spec.Audience = slices.Clone(p.resources)
	// Logout channels would make gatehouse call URLs an anonymous party
	// named; such clients get none.
	spec.BackchannelLogoutURI, spec.FrontchannelLogoutURI = "", ""
	spec.BackchannelLogoutSessionRequired, spec.FrontchannelLogoutSessionRequired = false, false
	return nil
}

// loopbackIP: RFC 8252 §8.3 recommends the loopback IP literal over
// "localhost" for native apps' redirect URIs.
func loopbackIP(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
