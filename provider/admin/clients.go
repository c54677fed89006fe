package admin

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/json"
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/gatehouse-dev/gatehouse/internal/reqctx"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/provider/clientjwks"
	"github.com/gatehouse-dev/gatehouse/provider/keys"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// Bounds on a client registration: enough for any real client, small
// enough that a registration cannot make the server store or check
// unbounded data.
const (
	MaxClientNameLen       = 200
	MaxRedirectURIs        = 20
	MaxPostLogoutURIs      = 20
	MaxClientScopes        = 50
	MaxClientAudiences     = 20
	MaxAllowedOrigins      = 20
	MaxContacts            = 10
	MaxURILen              = 2000
	MaxRegisteredByLen     = 200
	maxListedGrantTypes    = 10
	maxListedResponseTypes = 10
)

// ClientSpec is a client registration as an operator (CLI, admin API) or a
// dynamic registration request (RFC 7591) describes it.
type ClientSpec struct {
	Name       string
	GrantTypes []string
	// ResponseTypes, when given, must agree with GrantTypes: ["code"] with
	// authorization_code, nothing without. Empty derives them.
	ResponseTypes            []string
	RedirectURIs             []string
	PostLogoutRedirectURIs   []string
	Scopes                   []string
	Audience                 []string
	Public                   bool
	TokenEndpointAuthMethod  string
	IDTokenSignedResponseAlg string
	SkipConsent              bool
	// FirstParty marks the operator's own client, the only kind that may
	// be allowed management scopes (provider.IsManagementScope). Operators only.
	FirstParty bool
	// PKCEOptional lets a confidential client obtain codes without PKCE
	// (storage.Client.PKCEOptional). Operators only; logged as the weaker
	// setting it is.
	PKCEOptional bool
	// RequireMFA makes every sign-in to the client ask for a second factor
	// (storage.Client.RequireMFA). Operators only.
	RequireMFA bool
	// IntrospectAnyToken lets the client introspect every client's tokens
	// (RFC 7662 §4). Operators only.
	IntrospectAnyToken bool
	// TokenExchangeImpersonation lets the client exchange tokens without an
	// actor token (RFC 8693 §1.1 impersonation). Operators only; needs the
	// token exchange grant.
	TokenExchangeImpersonation bool
	// TokenExchangeSubjectTypes are the token types the client may present
	// as subject tokens (provider.TokenExchangeSubjectTypes); empty: access
	// tokens only. Operators only; needs the token exchange grant.
	TokenExchangeSubjectTypes []string
	// DPoPBoundAccessTokens makes DPoP mandatory for the client (RFC 9449
	// §5.2: dpop_bound_access_tokens); registration may set it.
	DPoPBoundAccessTokens bool
	// Resources are the RFC 8707 resource indicators of the APIs the
	// client serves: it may introspect access tokens issued for them.
	// Operators only.
	Resources      []string
	AllowedOrigins []string
	// LogoURI, ClientURI, PolicyURI and TosURI are https URLs shown on
	// the consent page.
	LogoURI   string
	ClientURI string
	PolicyURI string
	TosURI    string
	// Contacts are e-mail addresses of the people responsible for the
	// client.
	Contacts []string
	// JWKS (a JWK Set as JSON text) or JWKSURI holds the client's public
	// keys for private_key_jwt; at most one of them.
	JWKS    string
	JWKSURI string
	// TokenEndpointAuthSigningAlg is the algorithm of the client's
	// private_key_jwt assertions (default RS256); only with that method.
	TokenEndpointAuthSigningAlg string
	// RequestObjectSigningAlg pins the algorithm of the client's request
	// objects (RFC 9101; OpenID Connect Registration §2); empty accepts
	// any in provider.RequestObjectAlgs.
	RequestObjectSigningAlg            string
	RequirePushedAuthorizationRequests bool
	// AccessTokenFormat is "jwt", "opaque" or "" (the server's default).
	AccessTokenFormat string
	// DefaultResource is the resource (RFC 8707) a request of the client
	// that names none gets a token for; "" for none. Operators only: it
	// must be registered or in Audience (and in Audience when that is not
	// empty).
	DefaultResource string
	// RefreshRetryWindow is the client's own refresh retry window (0 to
	// provider.MaxRefreshRetryWindow); nil follows the server's.
	RefreshRetryWindow *time.Duration
	// BackchannelLogoutURI and FrontchannelLogoutURI are where the client
	// is told that a login session in which it got tokens ended
	// (Back-Channel Logout 1.0 §2.2, Front-Channel Logout 1.0 §2); the
	// SessionRequired flags ask for the sid (and iss).
	BackchannelLogoutURI              string
	BackchannelLogoutSessionRequired  bool
	FrontchannelLogoutURI             string
	FrontchannelLogoutSessionRequired bool
	// RegisteredBy says who registered the client (shown on the consent
	// page), e.g. "an administrator".
	RegisteredBy string
	// OwnerID is the id of the user who owns the client (and may manage
	// its API keys); empty for none. Only an operator (CLI, admin API)
	// sets it: BuildClient and UpdateClientFromSpec take it as given (the
	// caller checks that the user exists), while dynamic registration
	// never gives a client an owner and an RFC 7592 update keeps it.
	OwnerID string
}

// Problem is one thing wrong with a client or user description: the field
// (RFC 7591 name for clients) and what is wrong with it.
type Problem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists every problem found in a description at once.
// Error() puts one "field: message" per line.
type ValidationError struct {
	Problems []Problem
}

// RFC 7591 §3.2.2 error codes.
const (
	ErrorInvalidRedirectURI    = "invalid_redirect_uri"
	ErrorInvalidClientMetadata = "invalid_client_metadata"
)

func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Field + ": " + p.Message
	}
	return strings.Join(lines, "\n")
}

// RegistrationErrorCode is the RFC 7591 error code for e:
// invalid_redirect_uri when a problem concerns redirect_uris or
// post_logout_redirect_uris, invalid_client_metadata otherwise.
func (e *ValidationError) RegistrationErrorCode() string {
	for _, p := range e.Problems {
		if p.Field == "redirect_uris" || p.Field == "post_logout_redirect_uris" {
			return ErrorInvalidRedirectURI
		}
	}
	return ErrorInvalidClientMetadata
}

// Fields lists the fields with problems, each once, in order.
func (e *ValidationError) Fields() []string {
	var out []string
	for _, p := range e.Problems {
		if !slices.Contains(out, p.Field) {
			out = append(out, p.Field)
		}
	}
	return out
}

// Add records a problem with field.
func (e *ValidationError) Add(field, format string, args ...any) {
	e.Problems = append(e.Problems, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
}

// err returns e as an error, or nil when there is no problem.
func (e *ValidationError) err() error {
	if e == nil || len(e.Problems) == 0 {
		return nil
	}
	return e
}

// invalid is a ValidationError with one problem.
func invalid(field, format string, args ...any) error {
	ve := &ValidationError{}
	ve.Add(field, format, args...)
	return ve
}

// DefaultUserScopes are given to clients that sign users in and name no
// scopes of their own (offline_access only with the refresh_token grant).
var DefaultUserScopes = []string{provider.ScopeOpenID, provider.ScopeProfile, provider.ScopeEmail, provider.ScopeOfflineAccess}

// CheckOptions are the differences between an operator's registration of
// a client and a client's own (RFC 7591, provider/registration).
type CheckOptions struct {
	// JWKSURIAllowPrivate admits a jwks_uri on a loopback or private
	// host (clientjwks.CheckURI). An operator is trusted to name one; the
	// outbound client still enforces the configuration at fetch time.
	JWKSURIAllowPrivate bool
	// JWKSURIDisabled refuses jwks_uri (no fetcher configured).
	JWKSURIDisabled bool
	// OwnerFromSpec takes the owner from the spec (an operator's
	// registration); otherwise a new client has none and an update keeps
	// the one it had.
	OwnerFromSpec bool
	// SelfRegistered says the client registers itself: a management scope
	// is refused as reserved for an administrator rather than for lack of
	// the first-party mark, which such a client can never have.
	SelfRegistered bool
}

var operatorChecks = CheckOptions{JWKSURIAllowPrivate: true, OwnerFromSpec: true}

// BuildClient validates spec, fills defaults, generates the client id and
// (for clients that authenticate with a secret) the secret, and returns
// the client to store with the secret to show once. Every problem is
// reported at once, as a *ValidationError.
func BuildClient(spec ClientSpec, hasher *secret.Hasher, now time.Time) (*storage.Client, string, error) {
	return BuildClientWith(spec, hasher, now, operatorChecks)
}

// BuildClientWith is BuildClient under opts.
func BuildClientWith(spec ClientSpec, hasher *secret.Hasher, now time.Time, opts CheckOptions) (*storage.Client, string, error) {
	c, ve := checkSpec(spec, opts)
	if err := ve.err(); err != nil {
		return nil, "", err
	}
	if !opts.OwnerFromSpec {
		c.OwnerID = ""
	}
	c.ID = uuid.NewString()
	c.CreatedAt = now.UTC()
	c.UpdatedAt = now.UTC()
	var plain string
	if UsesSecret(c) {
		var err error
		if plain, err = secret.NewOpaque(secret.PrefixClientSecret); err != nil {
			return nil, "", err
		}
		c.SecretHash = hasher.HashString(plain)
	}
	return c, plain, nil
}

// UpdateClientFromSpec replaces c's registration with spec, validated as
// at creation. It keeps the client id, secret, creation time and
// registration access token, and who registered the client unless spec
// says otherwise; the owner becomes spec.OwnerID (SpecFromClient carries
// the current one). A client cannot change between public and
// confidential, nor move to a secret-based method without a secret
// (rotate one first). On error c is unchanged.
func UpdateClientFromSpec(c *storage.Client, spec ClientSpec, now time.Time) error {
	return UpdateClientWith(c, spec, now, operatorChecks)
}

// UpdateClientWith is UpdateClientFromSpec under opts.
func UpdateClientWith(c *storage.Client, spec ClientSpec, now time.Time, opts CheckOptions) error {
	n, ve := checkSpec(spec, opts)
	if spec.Public != c.Public {
		ve.Add("token_endpoint_auth_method", "a client cannot change between public (none) and confidential; delete it and register a new one")
	} else if n != nil && UsesSecret(n) && c.SecretHash == "" {
		ve.Add("token_endpoint_auth_method", "%s needs a client secret and this client has none; rotate its secret first", n.TokenEndpointAuthMethod)
	}
	if err := ve.err(); err != nil {
		return err
	}
	n.ID, n.SecretHash, n.CreatedAt = c.ID, c.SecretHash, c.CreatedAt
	n.RegistrationAccessTokenHash = c.RegistrationAccessTokenHash
	if n.RegisteredBy == "" {
		n.RegisteredBy = c.RegisteredBy
	}
	if !opts.OwnerFromSpec {
		// A client's own update (RFC 7592) keeps what only an operator
		// sets on it.
		n.DefaultResource = c.DefaultResource
		n.OwnerID = c.OwnerID
	}
	n.UpdatedAt = now.UTC()
	*c = *n
	return nil
}

// RotateClientSecret gives a confidential client a new secret, replacing
// the old one at once, and returns it to show once. The caller stores c.
func RotateClientSecret(c *storage.Client, hasher *secret.Hasher) (string, error) {
	if c.Public {
		return "", invalid("token_endpoint_auth_method", "a public client has no secret")
	}
	plain, err := secret.NewOpaque(secret.PrefixClientSecret)
	if err != nil {
		return "", err
	}
	c.SecretHash = hasher.HashString(plain)
	c.UpdatedAt = time.Now().UTC()
	return plain, nil
}

// ClientEvent is the audit event of a change of type typ (one of
// audit.Client*) to client clientID by actor; the IP is the request's,
// when a request made the change.
func ClientEvent(ctx context.Context, typ, actor, clientID string) audit.Event {
	return audit.Event{
		Type: typ, Actor: actor, Subject: audit.ClientSubject(clientID), ClientID: clientID, IP: reqctx.ClientIP(ctx),
	}
}

// ClientCreatedEvent is client.created for c, with what identifies it
// (never its secret).
func ClientCreatedEvent(ctx context.Context, actor string, c *storage.Client) audit.Event {
	ev := ClientEvent(ctx, audit.ClientCreated, actor, c.ID)
	ev.Details = map[string]string{
		"name":                       c.Name,
		"grant_types":                strings.Join(c.GrantTypes, " "),
		"scope":                      strings.Join(c.Scopes, " "),
		"token_endpoint_auth_method": c.GetTokenEndpointAuthMethod(),
		"registered_by":              c.RegisteredBy,
	}
	if c.OwnerID != "" {
		ev.Details["owner_id"] = c.OwnerID
	}
	return ev
}

// ClientUpdatedEvent is client.updated from before to after, naming the
// fields that changed (Details "changed", RFC 7591 names).
func ClientUpdatedEvent(ctx context.Context, actor string, before, after *storage.Client) audit.Event {
	ev := ClientEvent(ctx, audit.ClientUpdated, actor, after.ID)
	ev.Details = map[string]string{"changed": strings.Join(ClientChanges(before, after), " ")}
	return ev
}

// ClientChanges lists the fields (as ClientView names them) in which
// after differs from before, sorted; updated_at does not count, and
// neither does the secret (rotating it is an event of its own).
func ClientChanges(before, after *storage.Client) []string {
	return changedFields(ClientViewOf(before, ""), ClientViewOf(after, ""))
}

// changedFields lists the JSON members (but updated_at) in which two views
// of one thing differ, sorted: comparing what the API shows keeps the
// names an operator knows, and new fields count without changes here.
func changedFields(before, after any) []string {
	b, a := viewFields(before), viewFields(after)
	var out []string
	for k, v := range a {
		if k != "updated_at" && !bytes.Equal(b[k], v) {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok && k != "updated_at" {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// viewFields splits a view into its JSON members.
func viewFields(v any) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	raw, err := json.Marshal(v)
	if err != nil {
		return out
	}
	_ = json.Unmarshal(raw, &out)
	return out
}

// SpecFromClient describes a stored client as the spec that would build
// it, so an update can change some fields and keep the rest.
func SpecFromClient(c *storage.Client) ClientSpec {
	alg := c.TokenEndpointAuthSigningAlg
	if c.TokenEndpointAuthMethod != provider.AuthMethodPrivateKeyJWT {
		alg = ""
	}
	return ClientSpec{
		Name:                               c.Name,
		GrantTypes:                         slices.Clone(c.GrantTypes),
		ResponseTypes:                      slices.Clone(c.ResponseTypes),
		RedirectURIs:                       slices.Clone(c.RedirectURIs),
		PostLogoutRedirectURIs:             slices.Clone(c.PostLogoutRedirectURIs),
		Scopes:                             slices.Clone(c.Scopes),
		Audience:                           slices.Clone(c.Audience),
		Public:                             c.Public,
		TokenEndpointAuthMethod:            c.GetTokenEndpointAuthMethod(),
		IDTokenSignedResponseAlg:           c.IDTokenSignedResponseAlg,
		SkipConsent:                        c.SkipConsent,
		FirstParty:                         c.FirstParty,
		PKCEOptional:                       c.PKCEOptional,
		RequireMFA:                         c.RequireMFA,
		IntrospectAnyToken:                 c.IntrospectAnyToken,
		TokenExchangeImpersonation:         c.TokenExchangeImpersonation,
		TokenExchangeSubjectTypes:          slices.Clone(c.TokenExchangeSubjectTypes),
		DPoPBoundAccessTokens:              c.DPoPBoundAccessTokens,
		Resources:                          slices.Clone(c.Resources),
		DefaultResource:                    c.DefaultResource,
		AllowedOrigins:                     slices.Clone(c.AllowedOrigins),
		LogoURI:                            c.LogoURI,
		ClientURI:                          c.ClientURI,
		PolicyURI:                          c.PolicyURI,
		TosURI:                             c.TosURI,
		Contacts:                           slices.Clone(c.Contacts),
		JWKS:                               c.JWKS,
		JWKSURI:                            c.JWKSURI,
		TokenEndpointAuthSigningAlg:        alg,
		RequestObjectSigningAlg:            c.RequestObjectSigningAlg,
		RequirePushedAuthorizationRequests: c.RequirePushedAuthorizationRequests,
		AccessTokenFormat:                  c.AccessTokenFormat,
		RefreshRetryWindow:                 c.RefreshRetryWindow,
		BackchannelLogoutURI:               c.BackchannelLogoutURI,
		BackchannelLogoutSessionRequired:   c.BackchannelLogoutSessionRequired,
		FrontchannelLogoutURI:              c.FrontchannelLogoutURI,
		FrontchannelLogoutSessionRequired:  c.FrontchannelLogoutSessionRequired,
		RegisteredBy:                       c.RegisteredBy,
		OwnerID:                            c.OwnerID,
	}
}

// UsesSecret reports whether c authenticates with a client secret.
func UsesSecret(c *storage.Client) bool {
	return !c.Public && (c.TokenEndpointAuthMethod == provider.AuthMethodBasic || c.TokenEndpointAuthMethod == provider.AuthMethodPost)
}

// checkSpec validates spec and returns the client it describes (without
// id, secret or times). The client is nil when a problem makes it
// meaningless; ve collects every problem.
func checkSpec(spec ClientSpec, opts CheckOptions) (*storage.Client, *ValidationError) {
	ve := &ValidationError{}

	name := strings.TrimSpace(spec.Name)
	switch {
	case name == "":
		ve.Add("client_name", "required")
	case utf8.RuneCountInString(name) > MaxClientNameLen:
		ve.Add("client_name", "at most %d characters", MaxClientNameLen)
	case !printable(name):
		ve.Add("client_name", "must be valid UTF-8 without control characters")
	}

	// Grant and response types.
	grants := dedupe(spec.GrantTypes)
	if len(spec.GrantTypes) > maxListedGrantTypes {
		ve.Add("grant_types", "at most %d entries", maxListedGrantTypes)
		grants = nil
	}
	if len(grants) == 0 && len(spec.GrantTypes) <= maxListedGrantTypes {
		if len(spec.RedirectURIs) > 0 || spec.Public {
			grants = []string{provider.GrantAuthorizationCode, provider.GrantRefreshToken}
		} else {
			grants = []string{provider.GrantClientCredentials}
		}
	}
	grantsOK := true
	for _, g := range grants {
		switch g {
		case provider.GrantAuthorizationCode, provider.GrantRefreshToken, provider.GrantClientCredentials:
		case provider.GrantJWTBearer, provider.GrantTokenExchange:
			// Identity assertions (ID-JAG): a trusted identity provider
			// names the client in the grant it issues, so an
			// administrator decides which clients may redeem them, and
			// only confidential ones (the ID-JAG draft's "Client
			// Authentication").
			if opts.SelfRegistered {
				ve.Add("grant_types", "%s is reserved for clients an administrator registers", g)
				grantsOK = false
			}
			if spec.Public {
				ve.Add("grant_types", "a public client cannot use %s (it is for confidential clients)", g)
			}
		case provider.GrantDeviceCode:
			// A device authorization puts a user code in front of a
			// person who approves it on another screen: the remote
			// phishing of RFC 8628 §5.4 (an attacker's own client, a
			// code sent with a convincing story). Only clients an
			// administrator vouches for may start one.
			if opts.SelfRegistered {
				ve.Add("grant_types", "%s is reserved for clients an administrator registers", g)
				grantsOK = false
			}
		default:
			ve.Add("grant_types", "%q is not supported (authorization_code, refresh_token, client_credentials, %s, %s, %s)",
				clip(g), provider.GrantJWTBearer, provider.GrantTokenExchange, provider.GrantDeviceCode)
			grantsOK = false
		}
	}
	hasCode := slices.Contains(grants, provider.GrantAuthorizationCode)
	if slices.Contains(grants, provider.GrantRefreshToken) && !hasCode && !slices.Contains(grants, provider.GrantDeviceCode) {
		ve.Add("grant_types", "refresh_token needs authorization_code or "+provider.GrantDeviceCode)
	}
	if spec.Public && slices.Contains(grants, provider.GrantClientCredentials) {
		ve.Add("grant_types", "a public client cannot use client_credentials (it has no secret)")
	}
	if spec.TokenExchangeImpersonation && !slices.Contains(grants, provider.GrantTokenExchange) {
		ve.Add("token_exchange_impersonation", "needs the grant type %s", provider.GrantTokenExchange)
	}
	if len(spec.TokenExchangeSubjectTypes) > 0 && !slices.Contains(grants, provider.GrantTokenExchange) {
		ve.Add("token_exchange_subject_types", "needs the grant type %s", provider.GrantTokenExchange)
	}
	for _, st := range spec.TokenExchangeSubjectTypes {
		if !slices.Contains(provider.TokenExchangeSubjectTypes, st) {
			ve.Add("token_exchange_subject_types", "%q is not one of %s", clip(st), strings.Join(provider.TokenExchangeSubjectTypes, ", "))
		}
	}
	if spec.PKCEOptional && spec.Public {
		// RFC 9700 §2.1.1: public clients MUST use PKCE.
		ve.Add("pkce_optional", "a public client must always use PKCE")
	}
	responseTypes := []string{}
	if hasCode {
		responseTypes = []string{provider.ResponseTypeCode}
	}
	if len(spec.ResponseTypes) > maxListedResponseTypes {
		ve.Add("response_types", "at most %d entries", maxListedResponseTypes)
	} else if rts := dedupe(spec.ResponseTypes); len(rts) > 0 {
		for _, rt := range rts {
			if rt != provider.ResponseTypeCode {
				ve.Add("response_types", "%q is not supported (only code)", clip(rt))
			}
		}
		if slices.Contains(rts, provider.ResponseTypeCode) && !hasCode {
			ve.Add("response_types", "code needs the authorization_code grant type")
		}
	}

	// Redirect URIs.
	switch {
	case hasCode && len(spec.RedirectURIs) == 0:
		ve.Add("redirect_uris", "authorization_code needs at least one redirect URI")
	case !hasCode && len(spec.RedirectURIs) > 0 && grantsOK:
		ve.Add("redirect_uris", "only clients with the authorization_code grant use redirect URIs")
	}
	if len(spec.RedirectURIs) > MaxRedirectURIs {
		ve.Add("redirect_uris", "at most %d redirect URIs", MaxRedirectURIs)
	} else {
		for _, u := range spec.RedirectURIs {
			if err := checkRedirectURI(u); err != nil {
				ve.Add("redirect_uris", "%v", err)
			}
		}
	}
	if len(spec.PostLogoutRedirectURIs) > MaxPostLogoutURIs {
		ve.Add("post_logout_redirect_uris", "at most %d URIs", MaxPostLogoutURIs)
	} else {
		for _, u := range spec.PostLogoutRedirectURIs {
			if err := checkRedirectURI(u); err != nil {
				ve.Add("post_logout_redirect_uris", "%v", err)
			}
		}
	}

	checkLogoutURIs(ve, spec, hasCode)

	// Client authentication and keys.
	method := spec.TokenEndpointAuthMethod
	switch {
	case spec.Public && (method == "" || method == provider.AuthMethodNone):
		method = provider.AuthMethodNone
	case spec.Public:
		ve.Add("token_endpoint_auth_method", "a public client uses none, not %q", clip(method))
	case method == "":
		method = provider.AuthMethodBasic
	case method != provider.AuthMethodBasic && method != provider.AuthMethodPost && method != provider.AuthMethodPrivateKeyJWT:
		ve.Add("token_endpoint_auth_method", "%q is not supported for a confidential client (client_secret_basic, client_secret_post, private_key_jwt)", clip(method))
	}
	jwks := strings.TrimSpace(spec.JWKS)
	jwksURI := strings.TrimSpace(spec.JWKSURI)
	switch {
	case jwks != "" && jwksURI != "":
		ve.Add("jwks", "give jwks or jwks_uri, not both")
	case jwks != "":
		norm, err := clientjwks.Normalize(jwks)
		if err != nil {
			ve.Add("jwks", "%s", strings.TrimPrefix(err.Error(), "jwks: "))
		}
		jwks = norm
	case jwksURI != "":
		if opts.JWKSURIDisabled {
			ve.Add("jwks_uri", "fetching client keys is not enabled on this server; register the keys inline as jwks")
		} else if err := clientjwks.CheckURI(jwksURI, opts.JWKSURIAllowPrivate); err != nil {
			ve.Add("jwks_uri", "%s", strings.TrimPrefix(err.Error(), "jwks_uri "))
		}
	}
	// token_endpoint_auth_signing_alg is checked whenever it is given,
	// but kept only for private_key_jwt (a client switching methods may
	// send back what it read).
	assertionAlg := spec.TokenEndpointAuthSigningAlg
	if assertionAlg != "" {
		if err := clientjwks.CheckSigningAlg(assertionAlg); err != nil {
			ve.Add("token_endpoint_auth_signing_alg", "%v", err)
		}
	}
	if method == provider.AuthMethodPrivateKeyJWT {
		if jwks == "" && jwksURI == "" && !hasProblem(ve, "jwks") {
			ve.Add("token_endpoint_auth_method", "private_key_jwt needs the client's public keys: jwks or jwks_uri")
		}
		if assertionAlg == "" {
			assertionAlg = defaultAssertionAlg(jwks)
		}
		if jwks != "" && !hasProblem(ve, "token_endpoint_auth_signing_alg") {
			if err := clientjwks.CheckKeysFor(jwks, assertionAlg); err != nil {
				ve.Add("jwks", "%s", strings.TrimPrefix(err.Error(), "jwks: "))
			}
		}
	}

	// request_object_signing_alg: one of the algorithms request objects
	// may be signed with (never none or HMAC: provider.RequestObjectAlgs),
	// and one an inline key set can verify.
	if alg := spec.RequestObjectSigningAlg; alg != "" {
		if !slices.Contains(provider.RequestObjectAlgs, alg) {
			ve.Add("request_object_signing_alg", "%q is not supported (use one of %s)", alg, strings.Join(provider.RequestObjectAlgs, ", "))
		} else if jwks != "" && !hasProblem(ve, "jwks") {
			if err := clientjwks.CheckKeysFor(jwks, alg); err != nil {
				ve.Add("request_object_signing_alg", "%s", strings.TrimPrefix(err.Error(), "jwks: "))
			}
		}
	}

	// Scopes and audience.
	scopes := dedupe(spec.Scopes)
	if len(spec.Scopes) > MaxClientScopes {
		ve.Add("scope", "at most %d scopes", MaxClientScopes)
		scopes = nil
	}
	if len(scopes) == 0 && hasCode && len(spec.Scopes) <= MaxClientScopes {
		for _, s := range DefaultUserScopes {
			if s != provider.ScopeOfflineAccess || slices.Contains(grants, provider.GrantRefreshToken) {
				scopes = append(scopes, s)
			}
		}
	}
	for _, s := range scopes {
		switch {
		case !validScopeToken(s):
			ve.Add("scope", "%q is not a valid scope token", clip(s))
		case provider.IsManagementScope(s) && opts.SelfRegistered:
			// A registered client is someone else's app: it can never be
			// allowed a scope that manages gatehouse, whoever registers it.
			ve.Add("scope", "%q manages gatehouse itself; only an administrator can give it to a first-party client", clip(s))
		case provider.IsManagementScope(s) && !spec.FirstParty:
			// Management power only ever goes to the operator's own apps
			// (provider.IsManagementScope), and only on purpose.
			ve.Add("scope", "%q manages gatehouse itself; only a first-party client may be allowed it (first_party)", clip(s))
		}
	}
	resourceList := dedupe(spec.Resources)
	if len(spec.Resources) > MaxClientAudiences {
		ve.Add("resources", "at most %d resources", MaxClientAudiences)
	} else {
		for _, r := range resourceList {
			if err := checkResourceIndicator(r); err != nil {
				ve.Add("resources", "%v", err)
			}
		}
	}
	if len(spec.Audience) > MaxClientAudiences {
		ve.Add("audience", "at most %d audiences", MaxClientAudiences)
	} else {
		for _, a := range spec.Audience {
			if !validScopeToken(a) {
				ve.Add("audience", "%q is not valid (no spaces or quotes)", clip(a))
			}
		}
	}
	if d := spec.DefaultResource; d != "" {
		if err := checkResourceIndicator(d); err != nil {
			ve.Add("default_resource", "%v", err)
		} else if len(spec.Audience) > 0 && !slices.Contains(spec.Audience, d) {
			// The audience list restricts the client to the resources
			// it names; a default outside it could never be granted.
			ve.Add("default_resource", "%q is not in the client's audience", clip(d))
		}
	}

	alg := spec.IDTokenSignedResponseAlg
	if alg != "" && !slices.Contains(keys.Algorithms, alg) {
		ve.Add("id_token_signed_response_alg", "%q is not supported (%s)", clip(alg), strings.Join(keys.Algorithms, ", "))
	}
	if f := spec.AccessTokenFormat; f != "" && f != provider.FormatJWT && f != provider.FormatOpaque {
		ve.Add("access_token_format", "%q is not supported (jwt, opaque)", clip(f))
	}
	if w := spec.RefreshRetryWindow; w != nil && (*w < 0 || *w > provider.MaxRefreshRetryWindow) {
		ve.Add("refresh_retry_window", "must be between 0 and %s, got %s", provider.MaxRefreshRetryWindow, *w)
	}
	origins := dedupe(spec.AllowedOrigins)
	if len(spec.AllowedOrigins) > MaxAllowedOrigins {
		ve.Add("allowed_cors_origins", "at most %d origins", MaxAllowedOrigins)
	} else {
		for _, o := range origins {
			if err := checkOrigin(o); err != nil {
				ve.Add("allowed_cors_origins", "%v", err)
			}
		}
	}

	// What the consent page shows.
	for _, f := range []struct{ field, value string }{
		{"logo_uri", spec.LogoURI}, {"client_uri", spec.ClientURI}, {"policy_uri", spec.PolicyURI}, {"tos_uri", spec.TosURI},
	} {
		if f.value == "" {
			continue
		}
		if err := checkHTTPSURL(f.value); err != nil {
			ve.Add(f.field, "%v", err)
		}
	}
	contacts := dedupe(spec.Contacts)
	if len(spec.Contacts) > MaxContacts {
		ve.Add("contacts", "at most %d addresses", MaxContacts)
	} else {
		for _, c := range contacts {
			if !validEmail(c) {
				ve.Add("contacts", "%q is not an e-mail address", clip(c))
			}
		}
	}
	registeredBy := strings.TrimSpace(spec.RegisteredBy)
	if utf8.RuneCountInString(registeredBy) > MaxRegisteredByLen || !printable(registeredBy) {
		ve.Add("registered_by", "at most %d printable characters", MaxRegisteredByLen)
	}
	ownerID := strings.TrimSpace(spec.OwnerID)
	if ownerID != "" && !validScopeToken(ownerID) {
		ve.Add("owner_id", "is not a user id")
	}

	if len(ve.Problems) > 0 {
		return nil, ve
	}
	c := &storage.Client{
		Name:                               name,
		RedirectURIs:                       nonNil(spec.RedirectURIs),
		PostLogoutRedirectURIs:             nonNil(spec.PostLogoutRedirectURIs),
		GrantTypes:                         grants,
		ResponseTypes:                      responseTypes,
		Scopes:                             nonNil(scopes),
		Audience:                           nonNil(dedupe(spec.Audience)),
		Public:                             spec.Public,
		TokenEndpointAuthMethod:            method,
		IDTokenSignedResponseAlg:           alg,
		SkipConsent:                        spec.SkipConsent,
		FirstParty:                         spec.FirstParty,
		PKCEOptional:                       spec.PKCEOptional,
		RequireMFA:                         spec.RequireMFA,
		IntrospectAnyToken:                 spec.IntrospectAnyToken,
		TokenExchangeImpersonation:         spec.TokenExchangeImpersonation,
		TokenExchangeSubjectTypes:          nonNil(dedupe(spec.TokenExchangeSubjectTypes)),
		DPoPBoundAccessTokens:              spec.DPoPBoundAccessTokens,
		Resources:                          nonNil(resourceList),
		DefaultResource:                    spec.DefaultResource,
		AllowedOrigins:                     nonNil(origins),
		LogoURI:                            spec.LogoURI,
		ClientURI:                          spec.ClientURI,
		PolicyURI:                          spec.PolicyURI,
		TosURI:                             spec.TosURI,
		Contacts:                           nonNil(contacts),
		JWKS:                               jwks,
		JWKSURI:                            jwksURI,
		RequestObjectSigningAlg:            spec.RequestObjectSigningAlg,
		RequirePushedAuthorizationRequests: spec.RequirePushedAuthorizationRequests,
		AccessTokenFormat:                  spec.AccessTokenFormat,
		RefreshRetryWindow:                 spec.RefreshRetryWindow,
		BackchannelLogoutURI:               spec.BackchannelLogoutURI,
		BackchannelLogoutSessionRequired:   spec.BackchannelLogoutSessionRequired,
		FrontchannelLogoutURI:              spec.FrontchannelLogoutURI,
		FrontchannelLogoutSessionRequired:  spec.FrontchannelLogoutSessionRequired,
		RegisteredBy:                       registeredBy,
		OwnerID:                            ownerID,
	}
	if method == provider.AuthMethodPrivateKeyJWT {
		c.TokenEndpointAuthSigningAlg = assertionAlg
	}
	return c, ve
}

// checkLogoutURIs validates the logout endpoints. Both are absolute URLs
// without a fragment (Back-Channel Logout §2.2, Front-Channel Logout §2),
// https — or http on a loopback host, as redirect URIs (checkRedirectURI).
// The front-channel URI must share scheme, host and port with a registered
// redirect URI (Front-Channel Logout §2). Only a client that signs people
// in (authorization_code) has login sessions to be told about.
func checkLogoutURIs(ve *ValidationError, spec ClientSpec, hasCode bool) {
	for _, f := range []struct{ field, value string }{
		{"backchannel_logout_uri", spec.BackchannelLogoutURI}, {"frontchannel_logout_uri", spec.FrontchannelLogoutURI},
	} {
		if f.value == "" {
			continue
		}
		if !hasCode {
			ve.Add(f.field, "only clients with the authorization_code grant sign people in and are told when they sign out")
			continue
		}
		if err := checkRedirectURI(f.value); err != nil {
			ve.Add(f.field, "%v", err)
		}
	}
	fc := spec.FrontchannelLogoutURI
	if fc == "" || !hasCode || hasProblem(ve, "frontchannel_logout_uri") {
		return
	}
	origin := uriOrigin(fc)
	for _, r := range spec.RedirectURIs {
		if uriOrigin(r) == origin {
			return
		}
	}
	ve.Add("frontchannel_logout_uri", "%q must have the scheme, host and port of one of the redirect URIs", clip(fc))
}

// uriOrigin is scheme://host[:port] of raw ("" if it does not parse).
func uriOrigin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// defaultAssertionAlg is the private_key_jwt algorithm of a client that
// names none: what its first registered key signs (its alg, or the one
// its key type implies), else RS256.
func defaultAssertionAlg(jwks string) string {
	set := (&storage.Client{JWKS: jwks}).GetJSONWebKeys()
	if set == nil || len(set.Keys) == 0 {
		return provider.DefaultClientAssertionAlg
	}
	k := set.Keys[0]
	if k.Algorithm != "" {
		return k.Algorithm
	}
	if pub, ok := k.Key.(*ecdsa.PublicKey); ok {
		switch pub.Curve {
		case elliptic.P256():
			return "ES256"
		case elliptic.P384():
			return "ES384"
		case elliptic.P521():
			return "ES512"
		}
	}
	return provider.DefaultClientAssertionAlg
}

func hasProblem(ve *ValidationError, field string) bool {
	return slices.Contains(ve.Fields(), field)
}

// clip shortens a value quoted in an error message, so a problem report
// never echoes kilobytes of input.
func clip(s string) string {
	const max = 100
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// printable: valid UTF-8 without control characters.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

func validEmail(s string) bool {
	if len(s) > 320 {
		return false
	}
	addr, err := mail.ParseAddress(s)
	return err == nil && addr.Address == s
}

// checkHTTPSURL validates a URL the consent page links to or shows:
// absolute https with a host, no credentials, bounded.
func checkHTTPSURL(raw string) error {
	if len(raw) > MaxURILen {
		return fmt.Errorf("longer than %d characters", MaxURILen)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("%q is not an absolute URL", clip(raw))
	}
	if u.Scheme != "https" {
		return fmt.Errorf("%q must use https", clip(raw))
	}
	if u.User != nil {
		return fmt.Errorf("%q carries credentials", clip(raw))
	}
	if !printable(raw) || strings.ContainsAny(raw, " <>\"'`") {
		return fmt.Errorf("%q has characters a URL must not contain", clip(raw))
	}
	return nil
}

// checkRedirectURI enforces RFC 9700 §4.1: absolute, exact (no wildcard),
// no fragment, https — or http only on a loopback host (native apps and
// development).
func checkRedirectURI(raw string) error {
	if len(raw) > MaxURILen {
		return fmt.Errorf("%q is longer than %d characters", raw[:40]+"...", MaxURILen)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", clip(raw))
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Errorf("%q has a fragment", clip(raw))
	}
	if strings.Contains(raw, "*") {
		return fmt.Errorf("%q has a wildcard; redirect URIs match exactly", clip(raw))
	}
	if u.User != nil {
		return fmt.Errorf("%q carries credentials", clip(raw))
	}
	// Matching is by string (redirecturi.go): a URI that a browser would
	// write differently could never match, so only the canonical forms of
	// the scheme and port are accepted.
	if !strings.HasPrefix(raw, u.Scheme+"://") {
		return fmt.Errorf("%q: write the scheme in lower case", clip(raw))
	}
	if !provider.CanonicalPort(u.Host) {
		return fmt.Errorf("%q: the port must be 1-65535 without leading zeros", clip(raw))
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !provider.LoopbackHost(u.Hostname()) {
			return fmt.Errorf("%q uses http on a non-loopback host; use https", clip(raw))
		}
	default:
		return fmt.Errorf("%q: scheme must be https (or http on loopback)", clip(raw))
	}
	return nil
}

// checkResourceIndicator validates a resource a client serves as RFC 8707
// §2 defines resource indicators: an absolute URI without a fragment.
func checkResourceIndicator(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Fragment != "" || strings.Contains(raw, "#") ||
		len(raw) > MaxURILen || !printable(raw) || strings.ContainsAny(raw, " <>\"'`") {
		return fmt.Errorf("%q is not an absolute URI without a fragment (RFC 8707)", clip(raw))
	}
	return nil
}

func checkOrigin(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q is not an origin (scheme://host[:port])", clip(raw))
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && provider.LoopbackHost(u.Hostname())) {
		return fmt.Errorf("%q: origin must be https (or http on loopback)", clip(raw))
	}
	return nil
}

// validScopeToken follows RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B /
// %x5D-7E ), bounded in length.
func validScopeToken(s string) bool {
	if s == "" || len(s) > 200 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func dedupe(in []string) []string {
	var out []string
	for _, s := range in {
		s = strings.TrimSpace(s)
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Bounds on a user.
const (
	MaxUserNameLen = 200
	MaxUserRoles   = 20
)

// ClientFields are the client metadata a registration request (RFC 7591
// §2, with OpenID Connect Registration's post_logout_redirect_uris and
// id_token_signed_response_alg) or the admin API sets.
type ClientFields struct {
	ClientName                         string          `json:"client_name"`
	RedirectURIs                       []string        `json:"redirect_uris"`
	PostLogoutRedirectURIs             []string        `json:"post_logout_redirect_uris"`
	GrantTypes                         []string        `json:"grant_types"`
	ResponseTypes                      []string        `json:"response_types"`
	Scope                              string          `json:"scope"`
	TokenEndpointAuthMethod            string          `json:"token_endpoint_auth_method"`
	TokenEndpointAuthSigningAlg        string          `json:"token_endpoint_auth_signing_alg"`
	RequestObjectSigningAlg            string          `json:"request_object_signing_alg"`
	IDTokenSignedResponseAlg           string          `json:"id_token_signed_response_alg"`
	LogoURI                            string          `json:"logo_uri"`
	ClientURI                          string          `json:"client_uri"`
	PolicyURI                          string          `json:"policy_uri"`
	TosURI                             string          `json:"tos_uri"`
	Contacts                           []string        `json:"contacts"`
	JWKS                               json.RawMessage `json:"jwks"`
	JWKSURI                            string          `json:"jwks_uri"`
	AllowedCORSOrigins                 []string        `json:"allowed_cors_origins"`
	RequirePushedAuthorizationRequests bool            `json:"require_pushed_authorization_requests"`
	AccessTokenFormat                  string          `json:"access_token_format"`
	// RefreshRetryWindow is the client's refresh retry window in seconds;
	// absent follows the server's.
	RefreshRetryWindow *int64 `json:"refresh_retry_window"`
	// The logout endpoints (Back-Channel Logout 1.0 §2.2, Front-Channel
	// Logout 1.0 §2), by the names those specifications register.
	BackchannelLogoutURI              string `json:"backchannel_logout_uri"`
	BackchannelLogoutSessionRequired  bool   `json:"backchannel_logout_session_required"`
	FrontchannelLogoutURI             string `json:"frontchannel_logout_uri"`
	FrontchannelLogoutSessionRequired bool   `json:"frontchannel_logout_session_required"`
	// DPoPBoundAccessTokens: RFC 9449 §5.2.
	DPoPBoundAccessTokens bool `json:"dpop_bound_access_tokens"`
}

// Spec maps the fields to a ClientSpec as they are: token endpoint auth
// method none means a public client.
func (f *ClientFields) Spec() ClientSpec {
	jwks := strings.TrimSpace(string(f.JWKS))
	if jwks == "null" {
		jwks = ""
	}
	return ClientSpec{
		Name:                               f.ClientName,
		GrantTypes:                         f.GrantTypes,
		ResponseTypes:                      f.ResponseTypes,
		RedirectURIs:                       f.RedirectURIs,
		PostLogoutRedirectURIs:             f.PostLogoutRedirectURIs,
		Scopes:                             strings.Fields(f.Scope),
		Public:                             f.TokenEndpointAuthMethod == provider.AuthMethodNone,
		TokenEndpointAuthMethod:            f.TokenEndpointAuthMethod,
		TokenEndpointAuthSigningAlg:        f.TokenEndpointAuthSigningAlg,
		RequestObjectSigningAlg:            f.RequestObjectSigningAlg,
		IDTokenSignedResponseAlg:           f.IDTokenSignedResponseAlg,
		AllowedOrigins:                     f.AllowedCORSOrigins,
		LogoURI:                            f.LogoURI,
		ClientURI:                          f.ClientURI,
		PolicyURI:                          f.PolicyURI,
		TosURI:                             f.TosURI,
		Contacts:                           f.Contacts,
		JWKS:                               jwks,
		JWKSURI:                            f.JWKSURI,
		RequirePushedAuthorizationRequests: f.RequirePushedAuthorizationRequests,
		AccessTokenFormat:                  f.AccessTokenFormat,
		RefreshRetryWindow:                 secondsDuration(f.RefreshRetryWindow),
		BackchannelLogoutURI:               f.BackchannelLogoutURI,
		BackchannelLogoutSessionRequired:   f.BackchannelLogoutSessionRequired,
		FrontchannelLogoutURI:              f.FrontchannelLogoutURI,
		FrontchannelLogoutSessionRequired:  f.FrontchannelLogoutSessionRequired,
		DPoPBoundAccessTokens:              f.DPoPBoundAccessTokens,
	}
}

// secondsDuration turns an optional number of seconds into a duration,
// clamping huge values (which would overflow) to one that validation
// still refuses.
func secondsDuration(s *int64) *time.Duration {
	if s == nil {
		return nil
	}
	v := min(max(*s, -1), int64(24*time.Hour/time.Second))
	return new(time.Duration(v) * time.Second)
}

// ClientRequest is a client as the admin API takes it: RFC 7591 names
// (token_endpoint_auth_method none = a public client) plus gatehouse's
// audience, skip_consent, first_party, pkce_optional, introspect_any_token,
// resources and registered_by. Defaults are the operator's
// (as in the CLI), not RFC 7591's.
type ClientRequest struct {
	ClientFields
	Audience           []string `json:"audience"`
	SkipConsent        bool     `json:"skip_consent"`
	FirstParty         bool     `json:"first_party"`
	PKCEOptional       bool     `json:"pkce_optional"`
	RequireMFA         bool     `json:"require_mfa"`
	IntrospectAnyToken bool     `json:"introspect_any_token"`
	Resources          []string `json:"resources"`
	DefaultResource    string   `json:"default_resource"`
	RegisteredBy       string   `json:"registered_by"`
	// TokenExchangeImpersonation: see ClientSpec.
	TokenExchangeImpersonation bool `json:"token_exchange_impersonation"`
	// TokenExchangeSubjectTypes: see ClientSpec.
	TokenExchangeSubjectTypes []string `json:"token_exchange_subject_types"`
}

// Spec is the ClientSpec the request describes.
func (r *ClientRequest) Spec() ClientSpec {
	s := r.ClientFields.Spec()
	s.Audience, s.SkipConsent, s.RegisteredBy = r.Audience, r.SkipConsent, r.RegisteredBy
	s.FirstParty, s.IntrospectAnyToken, s.Resources = r.FirstParty, r.IntrospectAnyToken, r.Resources
	s.PKCEOptional, s.RequireMFA = r.PKCEOptional, r.RequireMFA
	s.DefaultResource = r.DefaultResource
	s.TokenExchangeImpersonation = r.TokenExchangeImpersonation
	s.TokenExchangeSubjectTypes = r.TokenExchangeSubjectTypes
	return s
}

// ClientMetadata is a client as gatehouse shows it, in RFC 7591 / 7592
// names plus gatehouse's own (audience, allowed_cors_origins,
// skip_consent, registered_by). Secrets appear only when just issued.
type ClientMetadata struct {
	ClientID                string `json:"client_id"`
	ClientSecret            string `json:"client_secret,omitempty"`
	ClientIDIssuedAt        int64  `json:"client_id_issued_at"`
	ClientSecretExpiresAt   *int64 `json:"client_secret_expires_at,omitempty"`
	RegistrationAccessToken string `json:"registration_access_token,omitempty"`
	RegistrationClientURI   string `json:"registration_client_uri,omitempty"`

	ClientName                         string          `json:"client_name"`
	RedirectURIs                       []string        `json:"redirect_uris"`
	PostLogoutRedirectURIs             []string        `json:"post_logout_redirect_uris"`
	GrantTypes                         []string        `json:"grant_types"`
	ResponseTypes                      []string        `json:"response_types"`
	Scope                              string          `json:"scope"`
	Audience                           []string        `json:"audience,omitempty"`
	TokenEndpointAuthMethod            string          `json:"token_endpoint_auth_method"`
	TokenEndpointAuthSigningAlg        string          `json:"token_endpoint_auth_signing_alg,omitempty"`
	RequestObjectSigningAlg            string          `json:"request_object_signing_alg,omitempty"`
	IDTokenSignedResponseAlg           string          `json:"id_token_signed_response_alg"`
	LogoURI                            string          `json:"logo_uri,omitempty"`
	ClientURI                          string          `json:"client_uri,omitempty"`
	PolicyURI                          string          `json:"policy_uri,omitempty"`
	TosURI                             string          `json:"tos_uri,omitempty"`
	Contacts                           []string        `json:"contacts,omitempty"`
	JWKS                               json.RawMessage `json:"jwks,omitempty"`
	JWKSURI                            string          `json:"jwks_uri,omitempty"`
	AllowedCORSOrigins                 []string        `json:"allowed_cors_origins"`
	RequirePushedAuthorizationRequests bool            `json:"require_pushed_authorization_requests"`
	AccessTokenFormat                  string          `json:"access_token_format,omitempty"`
	RefreshRetryWindow                 *int64          `json:"refresh_retry_window,omitempty"`
	SkipConsent                        bool            `json:"skip_consent"`
	RegisteredBy                       string          `json:"registered_by,omitempty"`
	UpdatedAt                          int64           `json:"updated_at,omitempty"`
	BackchannelLogoutURI               string          `json:"backchannel_logout_uri,omitempty"`
	BackchannelLogoutSessionRequired   bool            `json:"backchannel_logout_session_required"`
	FrontchannelLogoutURI              string          `json:"frontchannel_logout_uri,omitempty"`
	FrontchannelLogoutSessionRequired  bool            `json:"frontchannel_logout_session_required"`
	DPoPBoundAccessTokens              bool            `json:"dpop_bound_access_tokens"`
}

// ClientMetadataOf describes c (without any secret). For a client that
// authenticates with a secret, client_secret_expires_at is 0: secrets do
// not expire.
func ClientMetadataOf(c *storage.Client) ClientMetadata {
	m := ClientMetadata{
		ClientID:                           c.ID,
		ClientIDIssuedAt:                   c.CreatedAt.Unix(),
		ClientName:                         c.Name,
		RedirectURIs:                       nonNil(c.RedirectURIs),
		PostLogoutRedirectURIs:             nonNil(c.PostLogoutRedirectURIs),
		GrantTypes:                         nonNil(c.GrantTypes),
		ResponseTypes:                      nonNil(c.ResponseTypes),
		Scope:                              strings.Join(c.Scopes, " "),
		Audience:                           c.Audience,
		TokenEndpointAuthMethod:            c.GetTokenEndpointAuthMethod(),
		IDTokenSignedResponseAlg:           c.IDTokenAlg(),
		LogoURI:                            c.LogoURI,
		ClientURI:                          c.ClientURI,
		PolicyURI:                          c.PolicyURI,
		TosURI:                             c.TosURI,
		Contacts:                           c.Contacts,
		JWKSURI:                            c.JWKSURI,
		RequestObjectSigningAlg:            c.RequestObjectSigningAlg,
		AllowedCORSOrigins:                 nonNil(c.AllowedOrigins),
		RequirePushedAuthorizationRequests: c.RequirePushedAuthorizationRequests,
		AccessTokenFormat:                  c.AccessTokenFormat,
		SkipConsent:                        c.SkipConsent,
		RegisteredBy:                       c.RegisteredBy,
		BackchannelLogoutURI:               c.BackchannelLogoutURI,
		BackchannelLogoutSessionRequired:   c.BackchannelLogoutSessionRequired,
		FrontchannelLogoutURI:              c.FrontchannelLogoutURI,
		FrontchannelLogoutSessionRequired:  c.FrontchannelLogoutSessionRequired,
		DPoPBoundAccessTokens:              c.DPoPBoundAccessTokens,
	}
	if w := c.RefreshRetryWindow; w != nil {
		m.RefreshRetryWindow = new(int64(*w / time.Second))
	}
	if !c.UpdatedAt.IsZero() {
		m.UpdatedAt = c.UpdatedAt.Unix()
	}
	if c.TokenEndpointAuthMethod == provider.AuthMethodPrivateKeyJWT {
		m.TokenEndpointAuthSigningAlg = c.GetTokenEndpointAuthSigningAlgorithm()
	}
	if c.JWKS != "" && json.Valid([]byte(c.JWKS)) {
		m.JWKS = json.RawMessage(c.JWKS)
	}
	if UsesSecret(c) {
		never := int64(0) // RFC 7591: 0 = the secret does not expire
		m.ClientSecretExpiresAt = &never
	}
	return m
}
