// Package registration is dynamic client registration (RFC 7591) and
// client configuration management (RFC 7592): third-party apps register
// themselves — with an initial access token an operator made, or freely
// under open registration — and manage their own registration with the
// registration access token they get. What a client may be is the client
// model's (provider/admin), under the rules for a client that registers
// itself: never first-party, never a management scope, consent always
// shown.
package registration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// PrefixAccessToken starts the registration access token a registered
// client manages itself with (see secret.NewOpaque).
const PrefixAccessToken = "gth_rat_"

// RegisteredByOpen is RegisteredBy of a client registered without an
// initial access token; RegisteredByPublic under the public policy (such
// a client stays held to that policy's rules, updates included).
const (
	RegisteredByOpen   = "open registration"
	RegisteredByPublic = "public registration"
)

// Store is the storage registration needs.
type Store interface {
	storage.ClientStore
	storage.RegistrationTokenStore
}

// Options configure registration. Store, Keyring and Issuer are required.
type Options struct {
	Store   Store
	Keyring *secret.Keyring
	// Issuer is the public base URL (the configuration endpoints are
	// under it).
	Issuer string
	// Policy is provider.RegistrationPolicyInitialAccessToken, ...Open or
	// ...Off (also when empty).
	Policy string
	// PublicScopes and PublicResources bound what a client registered
	// without a token under the public policy may ask for.
	PublicScopes    []string
	PublicResources []string
	// JWKSFetcher resolves clients' jwks_uri; nil refuses jwks_uri at
	// registration. One that says AllowPrivateNetworks() decides whether a
	// jwks_uri may name a private host.
	JWKSFetcher fosite.JWKSFetcherStrategy
	Audit       *audit.Recorder
	Now         func() time.Time
	Logger      *slog.Logger
}

// Registration is RFC 7591 and RFC 7592.
type Registration struct {
	store  Store
	ring   *secret.Keyring
	hasher *secret.Hasher
	issuer string
	policy string
	public publicPolicy
	checks admin.CheckOptions
	audit  *audit.Recorder
	now    func() time.Time
	log    *slog.Logger
}

// New returns registration as o configures it.
func New(o Options) (*Registration, error) {
	if o.Store == nil || o.Keyring == nil || o.Issuer == "" {
		return nil, errors.New("registration: Store, Keyring and Issuer are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	// A registered client's jwks_uri follows the outbound policy when the
	// fetcher tells it, and is refused when nothing can fetch it.
	checks := admin.CheckOptions{SelfRegistered: true, JWKSURIAllowPrivate: true}
	switch f := o.JWKSFetcher.(type) {
	case nil:
		checks.JWKSURIDisabled = true
	case interface{ AllowPrivateNetworks() bool }:
		checks.JWKSURIAllowPrivate = f.AllowPrivateNetworks()
	}
	return &Registration{
		store: o.Store, ring: o.Keyring, hasher: secret.NewHasher(o.Keyring), issuer: o.Issuer,
		policy: provider.NormalRegistrationPolicy(o.Policy), checks: checks,
		public: publicPolicy{scopes: o.PublicScopes, resources: o.PublicResources},
		audit:  o.Audit, now: o.Now, log: o.Logger,
	}, nil
}

// Request is the body of an RFC 7591 registration or an RFC 7592 update.
// Members gatehouse does not know are ignored (RFC 7591 §2), and so are
// client_id and client_secret at registration.
type Request struct {
	admin.ClientFields
	// ClientID must name the client in an update (RFC 7592 §2.2).
	ClientID string `json:"client_id"`
	// ClientSecret, when an update sends it, must be the client's current
	// secret: a client cannot choose its secret.
	ClientSecret string `json:"client_secret"`
}

// spec applies RFC 7591's defaults and rules for what a dynamically
// registered client may be: response_types code and grant type
// authorization_code unless it says otherwise (refresh_token only when
// asked for), token_endpoint_auth_method client_secret_basic, never
// first-party, no audience or resources of its own to serve, consent
// always shown. (Management scopes are refused by the client model's
// check for a self-registered client.)
func (r *Request) spec(registeredBy string) admin.ClientSpec {
	spec := r.ClientFields.Spec()
	grants, rts := present(spec.GrantTypes), present(spec.ResponseTypes)
	switch {
	case len(grants) == 0 && len(rts) == 0:
		grants, rts = []string{provider.GrantAuthorizationCode}, []string{provider.ResponseTypeCode}
	case len(grants) == 0:
		// RFC 7591's default; response types other than code are then
		// reported as unsupported.
		grants = []string{provider.GrantAuthorizationCode}
	case len(rts) == 0:
		if slices.Contains(grants, provider.GrantAuthorizationCode) {
			rts = []string{provider.ResponseTypeCode}
		}
	}
	spec.GrantTypes, spec.ResponseTypes = grants, rts
	if spec.TokenEndpointAuthMethod == "" {
		spec.TokenEndpointAuthMethod = provider.AuthMethodBasic
	}
	spec.Audience = nil
	spec.Resources = nil
	spec.FirstParty = false
	spec.PKCEOptional = false
	spec.IntrospectAnyToken = false
	spec.TokenExchangeImpersonation = false
	spec.TokenExchangeSubjectTypes = nil
	spec.SkipConsent = false
	spec.RegisteredBy = registeredBy
	return spec
}

// present is list without its blank entries.
func present(list []string) []string {
	var out []string
	for _, s := range list {
		if strings.TrimSpace(s) != "" {
			out = append(out, s)
		}
	}
	return out
}

// Error is an RFC 7591 / 7592 error response: Status with {"error": Code,
// "error_description": Description}. A 401 is sent with WWW-Authenticate:
// Bearer error="invalid_token".
type Error struct {
	Status      int
	Code        string
	Description string
}

func (e *Error) Error() string {
	return fmt.Sprintf("registration: %s: %s", e.Code, e.Description)
}

// Registration errors that are always the same.
var (
	// ErrTokenInvalid: the initial access token is missing, unknown,
	// expired or revoked.
	ErrTokenInvalid = &Error{
		Status: http.StatusUnauthorized, Code: "invalid_token",
		Description: "Registration requires a valid initial access token (Authorization: Bearer); it is missing, unknown, expired or revoked.",
	}
	// ErrAccessDenied: the registration access token is missing or
	// wrong, or the client was not registered dynamically. It does not
	// reveal whether the client exists.
	ErrAccessDenied = &Error{
		Status: http.StatusUnauthorized, Code: "invalid_token",
		Description: "The registration access token is missing or invalid for this client.",
	}
	// ErrDisabled: the policy is off.
	ErrDisabled = &Error{
		Status: http.StatusNotFound, Code: "not_found",
		Description: "Dynamic client registration is not enabled on this server.",
	}
)

// metadataError turns validation problems into the RFC 7591 400 answer.
func metadataError(ve *admin.ValidationError) *Error {
	return &Error{Status: http.StatusBadRequest, Code: ve.RegistrationErrorCode(), Description: Describe(ve)}
}

// Describe renders validation problems as one line fit for an OAuth
// error_description (RFC 6749 allows only printable ASCII without '"' and
// '\'), bounded in length.
func Describe(ve *admin.ValidationError) string {
	parts := make([]string, len(ve.Problems))
	for i, p := range ve.Problems {
		parts[i] = p.Field + ": " + p.Message
	}
	s := strings.Join(parts, "; ")
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteByte('\'')
		case r == '\\':
			b.WriteByte('/')
		case r < 0x20 || r > 0x7e:
			b.WriteByte('?')
		default:
			b.WriteRune(r)
		}
		if b.Len() >= 1000 {
			b.WriteString("...")
			break
		}
	}
	return b.String()
}

// ClientURI is the RFC 7592 client configuration endpoint of a client.
func (g *Registration) ClientURI(clientID string) string {
	return g.issuer + provider.PathRegister + "/" + clientID
}

// authorize applies the policy to a registration request's
// bearer token and returns who registers (for RegisteredBy) and the id of
// the initial access token used ("" under open registration).
func (g *Registration) authorize(ctx context.Context, bearer string) (string, string, error) {
	switch g.policy {
	case provider.RegistrationPolicyOpen:
		return RegisteredByOpen, "", nil
	case provider.RegistrationPolicyPublic:
		if bearer == "" {
			return RegisteredByPublic, "", nil
		}
	case provider.RegistrationPolicyInitialAccessToken:
	default:
		return "", "", ErrDisabled
	}
	if bearer == "" {
		return "", "", ErrTokenInvalid
	}
	t, err := admin.FindRegistrationToken(ctx, g.store, g.ring, bearer)
	if errors.Is(err, storage.ErrNotFound) {
		g.log.InfoContext(ctx, "registration refused: unknown initial access token")
		return "", "", ErrTokenInvalid
	} else if err != nil {
		return "", "", err
	}
	if state := admin.RegistrationTokenState(t, g.now()); state != admin.RegistrationTokenActive {
		g.log.InfoContext(ctx, "registration refused: initial access token not active", "registration_token_id", t.ID, "state", state)
		return "", "", ErrTokenInvalid
	}
	return fmt.Sprintf("registration token %q", t.Name), t.ID, nil
}

// DecodeRequest parses the JSON body of a registration or an update. Unknown members are ignored; a member of the wrong type, or a
// body that is not a JSON object, is a 400 invalid_client_metadata naming
// the member.
func DecodeRequest(body []byte) (*Request, error) {
	var req Request
	err := json.Unmarshal(body, &req)
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return nil, metadataError(&admin.ValidationError{Problems: []admin.Problem{{Field: typeErr.Field, Message: "must be a JSON " + jsonTypeName(typeErr.Type.Kind().String())}}})
	case errors.As(err, &typeErr):
		return nil, &Error{Status: http.StatusBadRequest, Code: admin.ErrorInvalidClientMetadata, Description: "The request body must be a JSON object."}
	default:
		return nil, &Error{Status: http.StatusBadRequest, Code: admin.ErrorInvalidClientMetadata, Description: "The request body is not valid JSON."}
	}
	if len(req.JWKS) > 0 && string(req.JWKS) != "null" && !strings.HasPrefix(strings.TrimSpace(string(req.JWKS)), "{") {
		return nil, metadataError(&admin.ValidationError{Problems: []admin.Problem{{Field: "jwks", Message: "must be a JSON object (a JWK Set)"}}})
	}
	if req.ClientName == "" {
		req.ClientName = defaultClientName(&req.ClientFields)
	}
	return &req, nil
}

// jsonTypeName names a Go kind in JSON terms.
func jsonTypeName(kind string) string {
	switch kind {
	case "slice", "array":
		return "array"
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "struct", "map":
		return "object"
	}
	return "value of another type"
}

// defaultClientName stands in for a client_name the client did not send
// (RFC 7591 makes it optional; the consent page needs a name): the host of
// client_uri, else of the first redirect URI.
func defaultClientName(f *admin.ClientFields) string {
	for _, raw := range append([]string{f.ClientURI}, f.RedirectURIs...) {
		if u, err := url.Parse(raw); err == nil && u.Hostname() != "" && len(u.Hostname()) <= admin.MaxClientNameLen {
			return u.Hostname()
		}
	}
	return ""
}

// Register handles an RFC 7591 registration: it applies the policy to the
// bearer token (an initial access token, or none when registration is
// open), validates the metadata, and stores the client with a generated
// id, secret (unless public or private_key_jwt) and registration access
// token. The response carries the secrets, shown this once. Errors are
// *Error, or storage failures.
func (g *Registration) Register(ctx context.Context, bearer string, body []byte) (*admin.ClientMetadata, error) {
	registeredBy, tokenID, err := g.authorize(ctx, bearer)
	if err != nil {
		return nil, err
	}
	req, err := DecodeRequest(body)
	if err != nil {
		return nil, err
	}
	spec := req.spec(registeredBy)
	if registeredBy == RegisteredByPublic {
		if err := g.public.restrict(body, req, &spec); err != nil {
			return nil, err
		}
	}
	c, plain, err := admin.BuildClientWith(spec, g.hasher, g.now(), g.checks)
	var ve *admin.ValidationError
	if errors.As(err, &ve) {
		return nil, metadataError(ve)
	} else if err != nil {
		return nil, err
	}
	rat, err := secret.NewOpaque(PrefixAccessToken)
	if err != nil {
		return nil, err
	}
	c.RegistrationAccessTokenHash = g.hasher.HashString(rat)
	if err := g.store.CreateClient(ctx, c); err != nil {
		return nil, fmt.Errorf("registration: store registered client: %w", err)
	}
	ev := admin.ClientCreatedEvent(ctx, audit.ActorRegistration, c)
	if tokenID != "" {
		ev.Details["registration_token_id"] = tokenID
	}
	g.audit.Record(ctx, ev)
	m := admin.ClientMetadataOf(c)
	m.ClientSecret = plain
	m.RegistrationAccessToken = rat
	m.RegistrationClientURI = g.ClientURI(c.ID)
	return &m, nil
}

// registeredClient returns the dynamically registered client that
// accessToken (its registration access token) manages. Any failure is
// ErrAccessDenied, whether or not the client exists.
func (g *Registration) registeredClient(ctx context.Context, clientID, accessToken string) (*storage.Client, error) {
	if clientID == "" || len(clientID) > 200 || !secret.CheckOpaque(PrefixAccessToken, accessToken) {
		return nil, ErrAccessDenied
	}
	c, err := g.store.ClientByID(ctx, clientID)
	if errors.Is(err, storage.ErrNotFound) {
		// The same work as a wrong token, so timing tells nothing.
		_ = g.hasher.Compare(ctx, []byte(g.hasher.HashString("")), []byte(accessToken))
		return nil, ErrAccessDenied
	} else if err != nil {
		return nil, err
	}
	if c.RegistrationAccessTokenHash == "" ||
		g.hasher.Compare(ctx, []byte(c.RegistrationAccessTokenHash), []byte(accessToken)) != nil {
		return nil, ErrAccessDenied
	}
	return c, nil
}

// registeredMetadata is the RFC 7592 client information response: the
// metadata without the secret, with the configuration endpoint and the
// registration access token the client used (which stays valid).
func (g *Registration) registeredMetadata(c *storage.Client, accessToken string) *admin.ClientMetadata {
	m := admin.ClientMetadataOf(c)
	m.RegistrationAccessToken = accessToken
	m.RegistrationClientURI = g.ClientURI(c.ID)
	return &m
}

// Client is an RFC 7592 read.
func (g *Registration) Client(ctx context.Context, clientID, accessToken string) (*admin.ClientMetadata, error) {
	c, err := g.registeredClient(ctx, clientID, accessToken)
	if err != nil {
		return nil, err
	}
	return g.registeredMetadata(c, accessToken), nil
}

// Update is an RFC 7592 update: the request replaces the
// client's metadata (omitted fields take their defaults), validated as at
// registration. client_id must be the client's; client_secret, if sent,
// must be its current secret (it cannot be chosen). The secret, the
// registration access token and who registered the client stay.
func (g *Registration) Update(ctx context.Context, clientID, accessToken string, body []byte) (*admin.ClientMetadata, error) {
	c, err := g.registeredClient(ctx, clientID, accessToken)
	if err != nil {
		return nil, err
	}
	req, err := DecodeRequest(body)
	if err != nil {
		return nil, err
	}
	ve := &admin.ValidationError{}
	if req.ClientID != c.ID {
		ve.Add("client_id", "must be the id of the client being updated")
	}
	if req.ClientSecret != "" && (c.SecretHash == "" || g.hasher.Compare(ctx, []byte(c.SecretHash), []byte(req.ClientSecret)) != nil) {
		ve.Add("client_secret", "does not match the client's secret; a client cannot choose its secret")
	}
	before := *c
	spec := req.spec(c.RegisteredBy)
	if c.RegisteredBy == RegisteredByPublic {
		// An update is held to the rules the client registered under:
		// it cannot become what the policy would not have registered.
		if err := g.public.restrict(body, req, &spec); err != nil {
			return nil, err
		}
	}
	err = admin.UpdateClientWith(c, spec, g.now(), g.checks)
	var uve *admin.ValidationError
	if errors.As(err, &uve) {
		ve.Problems = append(ve.Problems, uve.Problems...)
	} else if err != nil {
		return nil, err
	}
	if len(ve.Problems) > 0 {
		*c = before
		return nil, metadataError(ve)
	}
	if err := g.store.UpdateClient(ctx, c); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, ErrAccessDenied
		}
		return nil, fmt.Errorf("registration: update registered client: %w", err)
	}
	g.audit.Record(ctx, admin.ClientUpdatedEvent(ctx, audit.ClientSubject(c.ID), &before, c))
	return g.registeredMetadata(c, accessToken), nil
}

// Delete is an RFC 7592 delete: the client goes with all
// its tokens, codes and consent grants, and its registration access token
// with it.
func (g *Registration) Delete(ctx context.Context, clientID, accessToken string) error {
	c, err := g.registeredClient(ctx, clientID, accessToken)
	if err != nil {
		return err
	}
	if err := g.store.DeleteClient(ctx, c.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("registration: delete registered client: %w", err)
	}
	g.audit.Record(ctx, admin.ClientEvent(ctx, audit.ClientDeleted, audit.ClientSubject(c.ID), c.ID))
	return nil
}
