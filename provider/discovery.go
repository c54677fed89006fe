package provider

import "github.com/gatehouse-dev/gatehouse/provider/keys"

// Discovery is the OpenID Connect discovery document, also served as the
// RFC 8414 authorization server metadata. It lists exactly what works.
type Discovery struct {
	Issuer                                             string   `json:"issuer"`
	AuthorizationEndpoint                              string   `json:"authorization_endpoint"`
	TokenEndpoint                                      string   `json:"token_endpoint"`
	UserinfoEndpoint                                   string   `json:"userinfo_endpoint"`
	JWKSURI                                            string   `json:"jwks_uri"`
	IntrospectionEndpoint                              string   `json:"introspection_endpoint"`
	RevocationEndpoint                                 string   `json:"revocation_endpoint"`
	EndSessionEndpoint                                 string   `json:"end_session_endpoint"`
	RegistrationEndpoint                               string   `json:"registration_endpoint,omitempty"`
	PushedAuthorizationRequestEndpoint                 string   `json:"pushed_authorization_request_endpoint"`
	RequirePushedAuthorizationRequests                 bool     `json:"require_pushed_authorization_requests"`
	DeviceAuthorizationEndpoint                        string   `json:"device_authorization_endpoint"`
	ScopesSupported                                    []string `json:"scopes_supported"`
	ResponseTypesSupported                             []string `json:"response_types_supported"`
	ResponseModesSupported                             []string `json:"response_modes_supported"`
	GrantTypesSupported                                []string `json:"grant_types_supported"`
	SubjectTypesSupported                              []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported                   []string `json:"id_token_signing_alg_values_supported"`
	TokenEndpointAuthMethodsSupported                  []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgValuesSupported         []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	IntrospectionEndpointAuthMethodsSupported          []string `json:"introspection_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthSigningAlgValuesSupported []string `json:"introspection_endpoint_auth_signing_alg_values_supported"`
	RevocationEndpointAuthMethodsSupported             []string `json:"revocation_endpoint_auth_methods_supported"`
	RevocationEndpointAuthSigningAlgValuesSupported    []string `json:"revocation_endpoint_auth_signing_alg_values_supported"`
	CodeChallengeMethodsSupported                      []string `json:"code_challenge_methods_supported"`
	ClaimsSupported                                    []string `json:"claims_supported"`
	PromptValuesSupported                              []string `json:"prompt_values_supported"`
	ACRValuesSupported                                 []string `json:"acr_values_supported"`
	AuthorizationResponseISSParameterSupported         bool     `json:"authorization_response_iss_parameter_supported"`
	ClaimsParameterSupported                           bool     `json:"claims_parameter_supported"`
	RequestParameterSupported                          bool     `json:"request_parameter_supported"`
	RequestObjectSigningAlgValuesSupported             []string `json:"request_object_signing_alg_values_supported"`
	// RequestURIParameterSupported is always written: omitted, it would
	// mean true (OpenID Connect Discovery §3).
	RequestURIParameterSupported       bool `json:"request_uri_parameter_supported"`
	RequireRequestURIRegistration      bool `json:"require_request_uri_registration"`
	FrontchannelLogoutSupported        bool `json:"frontchannel_logout_supported"`
	FrontchannelLogoutSessionSupported bool `json:"frontchannel_logout_session_supported"`
	BackchannelLogoutSupported         bool `json:"backchannel_logout_supported"`
	BackchannelLogoutSessionSupported  bool `json:"backchannel_logout_session_supported"`
	// ClientIDMetadataDocumentSupported (draft-ietf-oauth-client-id-
	// metadata-document §"Authorization Server Metadata"): a client_id
	// may be the https URL of the client's metadata document.
	ClientIDMetadataDocumentSupported bool `json:"client_id_metadata_document_supported,omitempty"`
	// AuthorizationGrantProfilesSupported lists the JWT authorization
	// grant profiles the token endpoint redeems (the ID-JAG draft's
	// metadata); absent while none is on.
	AuthorizationGrantProfilesSupported []string `json:"authorization_grant_profiles_supported,omitempty"`
	// DPoPSigningAlgValuesSupported (RFC 9449 §5.1): the algorithms DPoP
	// proofs may be signed with; tokens are bound when a proof is sent.
	DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported"`
}

// ACRPhishingResistant is the acr of a phishing-resistant sign-in ("phr",
// OpenID Connect Extended Authentication Profile ACR values): a passkey,
// whose assertion is bound to gatehouse's origin (WebAuthn §13.4.9).
const ACRPhishingResistant = "phr"

// ACRValues are the authentication context classes sign-ins here reach,
// advertised as acr_values_supported: the one list every sign-in method
// appends its own value to — a passkey's phr, and a second factor's
// (ACRMultiFactor, which acr_values may ask for).
var ACRValues = []string{ACRPhishingResistant, ACRMultiFactor}

// ClientAuthMethods are the token endpoint authentication methods that
// work (fosite's, minus client_secret_jwt, which it refuses).
var ClientAuthMethods = []string{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"}

// IntrospectionAuthMethods are the methods a caller of the introspection
// endpoint authenticates with: those of the token endpoint for a
// confidential client (RFC 7662 §2.1 requires authentication, so not
// none).
var IntrospectionAuthMethods = []string{"client_secret_basic", "client_secret_post", "private_key_jwt"}

// ClientAssertionAlgs are the JWS algorithms accepted for private_key_jwt.
var ClientAssertionAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}

// Discovery returns the metadata document.
func (p *Provider) Discovery() Discovery {
	iss := p.opts.Issuer
	d := Discovery{
		Issuer:                                     iss,
		AuthorizationEndpoint:                      iss + PathAuthorize,
		TokenEndpoint:                              iss + PathToken,
		UserinfoEndpoint:                           iss + PathUserinfo,
		JWKSURI:                                    iss + PathJWKS,
		IntrospectionEndpoint:                      iss + PathIntrospect,
		RevocationEndpoint:                         iss + PathRevoke,
		EndSessionEndpoint:                         iss + PathLogout,
		PushedAuthorizationRequestEndpoint:         iss + PathPAR,
		RequirePushedAuthorizationRequests:         p.opts.PARRequired,
		ScopesSupported:                            StandardScopes,
		ResponseTypesSupported:                     []string{"code"},
		ResponseModesSupported:                     ResponseModes,
		GrantTypesSupported:                        []string{"authorization_code", "refresh_token", "client_credentials", GrantDeviceCode},
		DeviceAuthorizationEndpoint:                iss + PathDeviceAuthorization, // RFC 8628 §4
		SubjectTypesSupported:                      []string{"public"},
		IDTokenSigningAlgValuesSupported:           keys.Algorithms,
		TokenEndpointAuthMethodsSupported:          ClientAuthMethods,
		TokenEndpointAuthSigningAlgValuesSupported: ClientAssertionAlgs,
		// RFC 8414 §2: the same client authentication as at the token
		// endpoint (Introspect, Revoke).
		IntrospectionEndpointAuthMethodsSupported:          IntrospectionAuthMethods,
		IntrospectionEndpointAuthSigningAlgValuesSupported: ClientAssertionAlgs,
		RevocationEndpointAuthMethodsSupported:             ClientAuthMethods,
		RevocationEndpointAuthSigningAlgValuesSupported:    ClientAssertionAlgs,
		CodeChallengeMethodsSupported:                      []string{"S256"},
		ClaimsSupported:                                    SupportedClaims,
		PromptValuesSupported:                              promptValues(p.opts.Signup),
		// OpenID Connect Discovery §3: the acr values a client may ask for
		// (acr_values, or an essential acr claim) and gets in ID tokens.
		ACRValuesSupported:                         ACRValues,
		AuthorizationResponseISSParameterSupported: true,
		// Request objects by value, at the authorization and PAR endpoints
		// (requestobject.go); by reference only through PAR.
		RequestParameterSupported:              true,
		RequestObjectSigningAlgValuesSupported: RequestObjectAlgs,
		RequestURIParameterSupported:           false,
		ClaimsParameterSupported:               true,
		// Front-Channel Logout 1.0 §3 and Back-Channel Logout 1.0 §2.1:
		// the signed-out page loads each app's frontchannel_logout_uri (with
		// iss and sid), and each app's backchannel_logout_uri gets a logout
		// token with sid; ID tokens carry sid.
		FrontchannelLogoutSupported:        true,
		FrontchannelLogoutSessionSupported: true,
		BackchannelLogoutSupported:         true,
		BackchannelLogoutSessionSupported:  true,
		DPoPSigningAlgValuesSupported:      p.dpop.Algorithms(),
	}
	if p.opts.ClientDocuments != nil && p.opts.ClientDocuments.Supported() {
		d.ClientIDMetadataDocumentSupported = true
	}
	if p.registrationPolicy() != RegistrationPolicyOff {
		d.RegistrationEndpoint = iss + PathRegister
	}
	if p.idjag {
		// The ID-JAG draft: a server listing the profile MUST list the
		// jwt-bearer grant too. Which issuers are trusted is not said
		// (the draft's "Metadata Disclosure").
		d.GrantTypesSupported = append(d.GrantTypesSupported, GrantJWTBearer)
		d.AuthorizationGrantProfilesSupported = []string{GrantProfileIDJAG}
	}
	// RFC 8693 §2: token exchange is served to the clients an operator
	// allows it; RFC 8414 §2 lists it.
	d.GrantTypesSupported = append(d.GrantTypesSupported, GrantTokenExchange)
	return d
}

// Grant types a client may register.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
)

// ResponseModes are the response modes every client may ask for
// (storage.Client.GetResponseModes): query, the code flow's default, and
// form_post (OAuth 2.0 Form Post Response Mode). Not fragment.
var ResponseModes = []string{"query", "form_post"}

// ResponseTypeCode is the only response type gatehouse serves.
const ResponseTypeCode = "code"

// Token endpoint authentication methods a client may register.
const (
	AuthMethodBasic         = "client_secret_basic"
	AuthMethodPost          = "client_secret_post"
	AuthMethodPrivateKeyJWT = "private_key_jwt"
	AuthMethodNone          = "none"
)

// DefaultClientAssertionAlg is the private_key_jwt signing algorithm of a
// client that names none (RFC 7591 leaves the default to the server).
const DefaultClientAssertionAlg = "RS256"

// Registration policies (config registration.policy).
const (
	RegistrationPolicyInitialAccessToken = "initial_access_token"
	RegistrationPolicyOpen               = "open"
	// RegistrationPolicyPublic: anyone may register a public client
	// (none or private_key_jwt) within the operator's scopes and
	// resources — what MCP clients that only know anonymous registration
	// need; an initial access token still registers any client.
	RegistrationPolicyPublic = "public"
	RegistrationPolicyOff    = "off"
)

// registrationPolicy returns the registration policy: "initial_access_token",
// "open" or "off" (also when unset, as discovery does).
func (p *Provider) registrationPolicy() string {
	return NormalRegistrationPolicy(p.opts.RegistrationPolicy)
}

// NormalRegistrationPolicy is policy, or RegistrationPolicyOff for
// anything but the policies that register clients.
func NormalRegistrationPolicy(policy string) string {
	switch policy {
	case RegistrationPolicyInitialAccessToken, RegistrationPolicyOpen, RegistrationPolicyPublic:
		return policy
	}
	return RegistrationPolicyOff
}
