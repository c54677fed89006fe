package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// This file is dynamic client registration (RFC 7591), client
// configuration management (RFC 7592).

// PrefixRegistrationAccessToken starts the registration access token a
// registered client manages itself with (see secret.NewOpaque).
const PrefixRegistrationAccessToken = "gth_rat_"

// RegisteredByOpen is RegisteredBy of a client registered without an
// initial access token.
const RegisteredByOpen = "open registration"

// RegistrationRequest is the body of an RFC 7591 registration or an
// RFC 7592 update. Members gatehouse does not know are ignored (RFC 7591
// §2), and so are client_id and client_secret at registration.
type RegistrationRequest struct {
	ClientFields
	// ClientID must name the client in an update (RFC 7592 §2.2).
	ClientID string `json:"client_id"`
	// ClientSecret, when an update sends it, must be the client's current
	// secret: a client cannot choose its secret.
	ClientSecret string `json:"client_secret"`
}

// registrationSpec applies RFC 7591's defaults and rules for what a
// dynamically registered client may be: response_types code and grant
// type authorization_code unless it says otherwise (refresh_token only
// when asked for), token_endpoint_auth_method client_secret_basic, no
// management scopes, never first-party, no audience or resources of its
// own to serve, consent always shown.
func (r *RegistrationRequest) registrationSpec(registeredBy string) (ClientSpec, *ValidationError) {
	ve := &ValidationError{}
	spec := r.spec()
	grants, rts := dedupe(spec.GrantTypes), dedupe(spec.ResponseTypes)
	switch {
	case len(grants) == 0 && len(rts) == 0:
		grants, rts = []string{GrantAuthorizationCode}, []string{ResponseTypeCode}
	case len(grants) == 0:
		// RFC 7591's default; response types other than code are then
		// reported as unsupported.
		grants = []string{GrantAuthorizationCode}
	case len(rts) == 0:
		if slices.Contains(grants, GrantAuthorizationCode) {
			rts = []string{ResponseTypeCode}
		}
	}
	spec.GrantTypes, spec.ResponseTypes = grants, rts
	if spec.TokenEndpointAuthMethod == "" {
		spec.TokenEndpointAuthMethod = AuthMethodBasic
	}
	// A registered client is someone else's app: it can never be allowed a
	// scope that manages gatehouse (IsManagementScope), whoever registers
	// it. The scope is named, and left out so that the check of the rest
	// does not report it twice.
	kept := spec.Scopes[:0:0]
	for _, s := range spec.Scopes {
		if IsManagementScope(s) {
			ve.add("scope", "%q manages gatehouse itself; only an administrator can give it to a first-party client", clip(s))
			continue
		}
		kept = append(kept, s)
	}
	spec.Scopes = kept
	spec.Audience = nil
	spec.Resources = nil
	spec.FirstParty = false
	spec.IntrospectAnyToken = false
	spec.SkipConsent = false
	spec.RegisteredBy = registeredBy
	return spec, ve
}

// RegistrationError is an RFC 7591 / 7592 error response: Status with
// {"error": Code, "error_description": Description}. A 401 is sent with
// WWW-Authenticate: Bearer error="invalid_token".
type RegistrationError struct {
	Status      int
	Code        string
	Description string
}

func (e *RegistrationError) Error() string {
	return fmt.Sprintf("registration: %s: %s", e.Code, e.Description)
}

// Registration errors that are always the same.
var (
	// ErrRegistrationTokenInvalid: the initial access token is missing,
	// unknown, expired or revoked.
	ErrRegistrationTokenInvalid = &RegistrationError{
		Status: http.StatusUnauthorized, Code: "invalid_token",
		Description: "Registration requires a valid initial access token (Authorization: Bearer); it is missing, unknown, expired or revoked.",
	}
	// ErrRegistrationAccessDenied: the registration access token is
	// missing or wrong, or the client was not registered dynamically. It
	// does not reveal whether the client exists.
	ErrRegistrationAccessDenied = &RegistrationError{
		Status: http.StatusUnauthorized, Code: "invalid_token",
		Description: "The registration access token is missing or invalid for this client.",
	}
	// ErrRegistrationDisabled: the policy is off.
	ErrRegistrationDisabled = &RegistrationError{
		Status: http.StatusNotFound, Code: "not_found",
		Description: "Dynamic client registration is not enabled on this server.",
	}
)

// metadataError turns validation problems into the RFC 7591 400 answer.
func metadataError(ve *ValidationError) *RegistrationError {
	return &RegistrationError{Status: http.StatusBadRequest, Code: ve.RegistrationErrorCode(), Description: Describe(ve)}
}

// Describe renders validation problems as one line fit for an OAuth
// error_description (RFC 6749 allows only printable ASCII without '"' and
// '\'), bounded in length.
func Describe(ve *ValidationError) string {
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

// RegistrationClientURI is the RFC 7592 client configuration endpoint of
// a client.
func (p *Provider) RegistrationClientURI(clientID string) string {
	return p.opts.Issuer + PathRegister + "/" + clientID
}

// registrationChecks: a registered client's jwks_uri follows the outbound
// policy when the fetcher tells it, and is refused when nothing can fetch
// it.
func (p *Provider) registrationChecks() checkOptions {
	switch f := p.opts.JWKSFetcher.(type) {
	case nil:
		return checkOptions{jwksURIDisabled: true}
	case interface{ AllowPrivateNetworks() bool }:
		return checkOptions{jwksURIAllowPrivate: f.AllowPrivateNetworks()}
	}
	// The fetcher checks every location it fetches against the
	// configuration; here only the form is checked.
	return checkOptions{jwksURIAllowPrivate: true}
}

// authorizeRegistration applies the policy to a registration request's
// bearer token and returns who registers (for RegisteredBy) and the id of
// the initial access token used ("" under open registration).
func (p *Provider) authorizeRegistration(ctx context.Context, bearer string) (string, string, error) {
	switch p.RegistrationPolicy() {
	case RegistrationPolicyOpen:
		return RegisteredByOpen, "", nil
	case RegistrationPolicyInitialAccessToken:
	default:
		return "", "", ErrRegistrationDisabled
	}
	if bearer == "" {
		return "", "", ErrRegistrationTokenInvalid
	}
	t, err := FindRegistrationToken(ctx, p.store, p.opts.Keyring, bearer)
	if errors.Is(err, storage.ErrNotFound) {
		p.log.InfoContext(ctx, "registration refused: unknown initial access token")
		return "", "", ErrRegistrationTokenInvalid
	} else if err != nil {
		return "", "", err
	}
	if state := RegistrationTokenState(t, p.now()); state != RegistrationTokenActive {
		p.log.InfoContext(ctx, "registration refused: initial access token not active", "registration_token_id", t.ID, "state", state)
		return "", "", ErrRegistrationTokenInvalid
	}
	return fmt.Sprintf("registration token %q", t.Name), t.ID, nil
}

// DecodeRegistrationRequest parses the JSON body of a registration or an
// update. Unknown members are ignored; a member of the wrong type, or a
// body that is not a JSON object, is a 400 invalid_client_metadata naming
// the member.
func DecodeRegistrationRequest(body []byte) (*RegistrationRequest, error) {
	var req RegistrationRequest
	err := json.Unmarshal(body, &req)
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return nil, metadataError(&ValidationError{Problems: []Problem{{Field: typeErr.Field, Message: "must be a JSON " + jsonTypeName(typeErr.Type.Kind().String())}}})
	case errors.As(err, &typeErr):
		return nil, &RegistrationError{Status: http.StatusBadRequest, Code: ErrorInvalidClientMetadata, Description: "The request body must be a JSON object."}
	default:
		return nil, &RegistrationError{Status: http.StatusBadRequest, Code: ErrorInvalidClientMetadata, Description: "The request body is not valid JSON."}
	}
	if len(req.JWKS) > 0 && string(req.JWKS) != "null" && !strings.HasPrefix(strings.TrimSpace(string(req.JWKS)), "{") {
		return nil, metadataError(&ValidationError{Problems: []Problem{{Field: "jwks", Message: "must be a JSON object (a JWK Set)"}}})
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
func defaultClientName(f *ClientFields) string {
	for _, raw := range append([]string{f.ClientURI}, f.RedirectURIs...) {
		if u, err := url.Parse(raw); err == nil && u.Hostname() != "" && len(u.Hostname()) <= MaxClientNameLen {
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
// *RegistrationError, or storage failures.
func (p *Provider) Register(ctx context.Context, bearer string, body []byte) (*ClientMetadata, error) {
	registeredBy, tokenID, err := p.authorizeRegistration(ctx, bearer)
	if err != nil {
		return nil, err
	}
	req, err := DecodeRegistrationRequest(body)
	if err != nil {
		return nil, err
	}
	spec, ve := req.registrationSpec(registeredBy)
	c, plain, err := buildClient(spec, p.hasher, p.now(), p.registrationChecks())
	if built, ok := errorsAsValidation(err); ok {
		ve.Problems = append(ve.Problems, built.Problems...)
	} else if err != nil {
		return nil, err
	}
	if len(ve.Problems) > 0 {
		return nil, metadataError(ve)
	}
	rat, err := secret.NewOpaque(PrefixRegistrationAccessToken)
	if err != nil {
		return nil, err
	}
	c.RegistrationAccessTokenHash = p.hasher.HashString(rat)
	if err := p.store.CreateClient(ctx, c); err != nil {
		return nil, fmt.Errorf("provider: store registered client: %w", err)
	}
	ev := ClientCreatedEvent(ctx, audit.ActorRegistration, c)
	if tokenID != "" {
		ev.Details["registration_token_id"] = tokenID
	}
	p.audit.Record(ctx, ev)
	m := ClientMetadataOf(c)
	m.ClientSecret = plain
	m.RegistrationAccessToken = rat
	m.RegistrationClientURI = p.RegistrationClientURI(c.ID)
	return &m, nil
}

// registeredClient returns the dynamically registered client that
// accessToken (its registration access token) manages. Any failure is
// ErrRegistrationAccessDenied, whether or not the client exists.
func (p *Provider) registeredClient(ctx context.Context, clientID, accessToken string) (*storage.Client, error) {
	if clientID == "" || len(clientID) > 200 || !secret.CheckOpaque(PrefixRegistrationAccessToken, accessToken) {
		return nil, ErrRegistrationAccessDenied
	}
	c, err := p.store.ClientByID(ctx, clientID)
	if errors.Is(err, storage.ErrNotFound) {
		// The same work as a wrong token, so timing tells nothing.
		_ = p.hasher.Compare(ctx, []byte(p.hasher.HashString("")), []byte(accessToken))
		return nil, ErrRegistrationAccessDenied
	} else if err != nil {
		return nil, err
	}
	if c.RegistrationAccessTokenHash == "" ||
		p.hasher.Compare(ctx, []byte(c.RegistrationAccessTokenHash), []byte(accessToken)) != nil {
		return nil, ErrRegistrationAccessDenied
	}
	return c, nil
}

// registeredMetadata is the RFC 7592 client information response: the
// metadata without the secret, with the configuration endpoint and the
// registration access token the client used (which stays valid).
func (p *Provider) registeredMetadata(c *storage.Client, accessToken string) *ClientMetadata {
	m := ClientMetadataOf(c)
	m.RegistrationAccessToken = accessToken
	m.RegistrationClientURI = p.RegistrationClientURI(c.ID)
	return &m
}

// RegisteredClient is an RFC 7592 read.
func (p *Provider) RegisteredClient(ctx context.Context, clientID, accessToken string) (*ClientMetadata, error) {
	c, err := p.registeredClient(ctx, clientID, accessToken)
	if err != nil {
		return nil, err
	}
	return p.registeredMetadata(c, accessToken), nil
}

// UpdateRegisteredClient is an RFC 7592 update: the request replaces the
// client's metadata (omitted fields take their defaults), validated as at
// registration. client_id must be the client's; client_secret, if sent,
// must be its current secret (it cannot be chosen). The secret, the
// registration access token and who registered the client stay.
func (p *Provider) UpdateRegisteredClient(ctx context.Context, clientID, accessToken string, body []byte) (*ClientMetadata, error) {
	c, err := p.registeredClient(ctx, clientID, accessToken)
	if err != nil {
		return nil, err
	}
	req, err := DecodeRegistrationRequest(body)
	if err != nil {
		return nil, err
	}
	ve := &ValidationError{}
	if req.ClientID != c.ID {
		ve.add("client_id", "must be the id of the client being updated")
	}
	if req.ClientSecret != "" && (c.SecretHash == "" || p.hasher.Compare(ctx, []byte(c.SecretHash), []byte(req.ClientSecret)) != nil) {
		ve.add("client_secret", "does not match the client's secret; a client cannot choose its secret")
	}
	spec, sve := req.registrationSpec(c.RegisteredBy)
	ve.Problems = append(ve.Problems, sve.Problems...)
	if len(ve.Problems) > 0 {
		return nil, metadataError(ve)
	}
	before := *c
	if err := updateClientFromSpec(c, spec, p.now(), p.registrationChecks()); err != nil {
		if uve, ok := errorsAsValidation(err); ok {
			return nil, metadataError(uve)
		}
		return nil, err
	}
	if err := p.store.UpdateClient(ctx, c); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, ErrRegistrationAccessDenied
		}
		return nil, fmt.Errorf("provider: update registered client: %w", err)
	}
	p.audit.Record(ctx, ClientUpdatedEvent(ctx, audit.ClientSubject(c.ID), &before, c))
	return p.registeredMetadata(c, accessToken), nil
}

// DeleteRegisteredClient is an RFC 7592 delete: the client goes with all
// its tokens, codes and consent grants, and its registration access token
// with it.
func (p *Provider) DeleteRegisteredClient(ctx context.Context, clientID, accessToken string) error {
	c, err := p.registeredClient(ctx, clientID, accessToken)
	if err != nil {
		return err
	}
	if err := p.store.DeleteClient(ctx, c.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("provider: delete registered client: %w", err)
	}
	p.audit.Record(ctx, ClientEvent(ctx, audit.ClientDeleted, audit.ClientSubject(c.ID), c.ID))
	return nil
}
