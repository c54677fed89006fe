package bunstore

import (
	"encoding/json"
	"time"

	"github.com/uptrace/bun"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// The bun models mirror the tables of migrations/*. They never leave this
// package: every method converts to and from the domain types of package
// storage. Lists are JSON text (the same in both dialects); optional times
// use nullzero so that the zero time is stored as NULL.

type clientModel struct {
	bun.BaseModel `bun:"table:clients,alias:c"`

	ID                                 string `bun:"id,pk"`
	SecretHash                         string `bun:"secret_hash"`
	Name                               string `bun:"name"`
	RedirectURIs                       string `bun:"redirect_uris"`
	PostLogoutRedirectURIs             string `bun:"post_logout_redirect_uris"`
	GrantTypes                         string `bun:"grant_types"`
	ResponseTypes                      string `bun:"response_types"`
	Scopes                             string `bun:"scopes"`
	Audience                           string `bun:"audience"`
	AllowedOrigins                     string `bun:"allowed_origins"`
	Public                             bool   `bun:"public"`
	TokenEndpointAuthMethod            string `bun:"token_endpoint_auth_method"`
	IDTokenSignedResponseAlg           string `bun:"id_token_signed_response_alg"`
	SkipConsent                        bool   `bun:"skip_consent"`
	FirstParty                         bool   `bun:"first_party"`
	PKCEOptional                       bool   `bun:"pkce_optional"`
	RequireMFA                         bool   `bun:"require_mfa"`
	IntrospectAnyToken                 bool   `bun:"introspect_any_token"`
	TokenExchangeImpersonation         bool   `bun:"token_exchange_impersonation"`
	TokenExchangeSubjectTypes          string `bun:"token_exchange_subject_types"`
	DPoPBoundAccessTokens              bool   `bun:"dpop_bound_access_tokens"`
	Resources                          string `bun:"resources"`
	LogoURI                            string `bun:"logo_uri"`
	ClientURI                          string `bun:"client_uri"`
	PolicyURI                          string `bun:"policy_uri"`
	TosURI                             string `bun:"tos_uri"`
	Contacts                           string `bun:"contacts"`
	JWKS                               string `bun:"jwks"`
	JWKSURI                            string `bun:"jwks_uri"`
	TokenEndpointAuthSigningAlg        string `bun:"token_endpoint_auth_signing_alg"`
	RequestObjectSigningAlg            string `bun:"request_object_signing_alg"`
	RegistrationAccessTokenHash        string `bun:"registration_access_token_hash"`
	RegisteredBy                       string `bun:"registered_by"`
	RequirePushedAuthorizationRequests bool   `bun:"require_pushed_authorization_requests"`
	OwnerID                            string `bun:"owner_id"`
	AccessTokenFormat                  string `bun:"access_token_format"`
	DefaultResource                    string `bun:"default_resource"`
	// RefreshRetryWindowMS is NULL when the client follows the server.
	RefreshRetryWindowMS              *int64    `bun:"refresh_retry_window_ms"`
	BackchannelLogoutURI              string    `bun:"backchannel_logout_uri"`
	BackchannelLogoutSessionRequired  bool      `bun:"backchannel_logout_session_required"`
	FrontchannelLogoutURI             string    `bun:"frontchannel_logout_uri"`
	FrontchannelLogoutSessionRequired bool      `bun:"frontchannel_logout_session_required"`
	MetadataDocument                  bool      `bun:"metadata_document"`
	DocumentFreshUntil                time.Time `bun:"document_fresh_until,nullzero"`
	DocumentGoneAt                    time.Time `bun:"document_gone_at,nullzero"`
	CreatedAt                         time.Time `bun:"created_at"`
	UpdatedAt                         time.Time `bun:"updated_at"`
}

// clientToModel converts c for storage.
func clientToModel(c *storage.Client) *clientModel {
	return &clientModel{
		ID:                                 c.ID,
		SecretHash:                         c.SecretHash,
		Name:                               c.Name,
		RedirectURIs:                       encodeList(c.RedirectURIs),
		PostLogoutRedirectURIs:             encodeList(c.PostLogoutRedirectURIs),
		GrantTypes:                         encodeList(c.GrantTypes),
		ResponseTypes:                      encodeList(c.ResponseTypes),
		Scopes:                             encodeList(c.Scopes),
		Audience:                           encodeList(c.Audience),
		AllowedOrigins:                     encodeList(c.AllowedOrigins),
		Public:                             c.Public,
		TokenEndpointAuthMethod:            c.TokenEndpointAuthMethod,
		IDTokenSignedResponseAlg:           c.IDTokenSignedResponseAlg,
		SkipConsent:                        c.SkipConsent,
		FirstParty:                         c.FirstParty,
		PKCEOptional:                       c.PKCEOptional,
		RequireMFA:                         c.RequireMFA,
		IntrospectAnyToken:                 c.IntrospectAnyToken,
		TokenExchangeImpersonation:         c.TokenExchangeImpersonation,
		TokenExchangeSubjectTypes:          encodeList(c.TokenExchangeSubjectTypes),
		DPoPBoundAccessTokens:              c.DPoPBoundAccessTokens,
		Resources:                          encodeList(c.Resources),
		LogoURI:                            c.LogoURI,
		ClientURI:                          c.ClientURI,
		PolicyURI:                          c.PolicyURI,
		TosURI:                             c.TosURI,
		Contacts:                           encodeList(c.Contacts),
		JWKS:                               c.JWKS,
		JWKSURI:                            c.JWKSURI,
		TokenEndpointAuthSigningAlg:        c.TokenEndpointAuthSigningAlg,
		RequestObjectSigningAlg:            c.RequestObjectSigningAlg,
		RegistrationAccessTokenHash:        c.RegistrationAccessTokenHash,
		RegisteredBy:                       c.RegisteredBy,
		RequirePushedAuthorizationRequests: c.RequirePushedAuthorizationRequests,
		OwnerID:                            c.OwnerID,
		AccessTokenFormat:                  c.AccessTokenFormat,
		DefaultResource:                    c.DefaultResource,
		RefreshRetryWindowMS:               durationMS(c.RefreshRetryWindow),
		BackchannelLogoutURI:               c.BackchannelLogoutURI,
		BackchannelLogoutSessionRequired:   c.BackchannelLogoutSessionRequired,
		FrontchannelLogoutURI:              c.FrontchannelLogoutURI,
		FrontchannelLogoutSessionRequired:  c.FrontchannelLogoutSessionRequired,
		MetadataDocument:                   c.MetadataDocument,
		DocumentFreshUntil:                 zeroOrDBTime(c.DocumentFreshUntil),
		DocumentGoneAt:                     zeroOrDBTime(c.DocumentGoneAt),
		CreatedAt:                          dbTime(c.CreatedAt),
		UpdatedAt:                          dbTime(c.UpdatedAt),
	}
}

func (m *clientModel) toDomain() (*storage.Client, error) {
	c := &storage.Client{
		ID:                                 m.ID,
		SecretHash:                         m.SecretHash,
		Name:                               m.Name,
		Public:                             m.Public,
		TokenEndpointAuthMethod:            m.TokenEndpointAuthMethod,
		IDTokenSignedResponseAlg:           m.IDTokenSignedResponseAlg,
		SkipConsent:                        m.SkipConsent,
		FirstParty:                         m.FirstParty,
		PKCEOptional:                       m.PKCEOptional,
		RequireMFA:                         m.RequireMFA,
		IntrospectAnyToken:                 m.IntrospectAnyToken,
		TokenExchangeImpersonation:         m.TokenExchangeImpersonation,
		DPoPBoundAccessTokens:              m.DPoPBoundAccessTokens,
		LogoURI:                            m.LogoURI,
		ClientURI:                          m.ClientURI,
		PolicyURI:                          m.PolicyURI,
		TosURI:                             m.TosURI,
		JWKS:                               m.JWKS,
		JWKSURI:                            m.JWKSURI,
		TokenEndpointAuthSigningAlg:        m.TokenEndpointAuthSigningAlg,
		RequestObjectSigningAlg:            m.RequestObjectSigningAlg,
		RegistrationAccessTokenHash:        m.RegistrationAccessTokenHash,
		RegisteredBy:                       m.RegisteredBy,
		RequirePushedAuthorizationRequests: m.RequirePushedAuthorizationRequests,
		OwnerID:                            m.OwnerID,
		AccessTokenFormat:                  m.AccessTokenFormat,
		DefaultResource:                    m.DefaultResource,
		RefreshRetryWindow:                 msDuration(m.RefreshRetryWindowMS),
		BackchannelLogoutURI:               m.BackchannelLogoutURI,
		BackchannelLogoutSessionRequired:   m.BackchannelLogoutSessionRequired,
		FrontchannelLogoutURI:              m.FrontchannelLogoutURI,
		FrontchannelLogoutSessionRequired:  m.FrontchannelLogoutSessionRequired,
		MetadataDocument:                   m.MetadataDocument,
		DocumentFreshUntil:                 utcOrZero(m.DocumentFreshUntil),
		DocumentGoneAt:                     utcOrZero(m.DocumentGoneAt),
		CreatedAt:                          m.CreatedAt.UTC(),
		UpdatedAt:                          m.UpdatedAt.UTC(),
	}
	err := decodeLists(
		listField{"redirect_uris", m.RedirectURIs, &c.RedirectURIs},
		listField{"post_logout_redirect_uris", m.PostLogoutRedirectURIs, &c.PostLogoutRedirectURIs},
		listField{"grant_types", m.GrantTypes, &c.GrantTypes},
		listField{"response_types", m.ResponseTypes, &c.ResponseTypes},
		listField{"scopes", m.Scopes, &c.Scopes},
		listField{"audience", m.Audience, &c.Audience},
		listField{"resources", m.Resources, &c.Resources},
		listField{"token_exchange_subject_types", m.TokenExchangeSubjectTypes, &c.TokenExchangeSubjectTypes},
		listField{"allowed_origins", m.AllowedOrigins, &c.AllowedOrigins},
		listField{"contacts", m.Contacts, &c.Contacts},
	)
	if err != nil {
		return nil, err
	}
	return c, nil
}

type userModel struct {
	bun.BaseModel `bun:"table:users,alias:u"`

	ID string `bun:"id,pk"`
	// Email is NULL for a user without one (see the migration).
	Email         string    `bun:"email,nullzero"`
	EmailVerified bool      `bun:"email_verified"`
	Name          string    `bun:"name"`
	PasswordHash  string    `bun:"password_hash"`
	Roles         string    `bun:"roles"`
	Disabled      bool      `bun:"disabled"`
	CreatedAt     time.Time `bun:"created_at"`
	UpdatedAt     time.Time `bun:"updated_at"`
}

func (m *userModel) toDomain() (*storage.User, error) {
	u := &storage.User{
		ID:            m.ID,
		Email:         m.Email,
		EmailVerified: m.EmailVerified,
		Name:          m.Name,
		PasswordHash:  m.PasswordHash,
		Disabled:      m.Disabled,
		CreatedAt:     m.CreatedAt.UTC(),
		UpdatedAt:     m.UpdatedAt.UTC(),
	}
	if err := decodeLists(listField{"roles", m.Roles, &u.Roles}); err != nil {
		return nil, err
	}
	return u, nil
}

type loginSessionModel struct {
	bun.BaseModel `bun:"table:login_sessions,alias:ls"`

	ID        string    `bun:"id,pk"`
	UserID    string    `bun:"user_id"`
	AuthTime  time.Time `bun:"auth_time"`
	ExpiresAt time.Time `bun:"expires_at"`
	CreatedAt time.Time `bun:"created_at"`
	AMR       string    `bun:"amr"`
	ACR       string    `bun:"acr"`
	// SID is NULL for a session started before sids were kept (the
	// unique index allows any number of NULLs).
	SID       string `bun:"sid,nullzero"`
	UserAgent string `bun:"user_agent"`
	IP        string `bun:"ip"`
}

func (m *loginSessionModel) toDomain() (*storage.LoginSession, error) {
	ls := &storage.LoginSession{
		ID:        m.ID,
		UserID:    m.UserID,
		AuthTime:  m.AuthTime.UTC(),
		ExpiresAt: m.ExpiresAt.UTC(),
		CreatedAt: m.CreatedAt.UTC(),
		ACR:       m.ACR,
		SID:       m.SID,
		UserAgent: m.UserAgent,
		IP:        m.IP,
	}
	if err := decodeLists(listField{"amr", m.AMR, &ls.AMR}); err != nil {
		return nil, err
	}
	return ls, nil
}

type federatedIdentityModel struct {
	bun.BaseModel `bun:"table:federated_identities,alias:fi"`

	UpstreamID  string    `bun:"upstream_id,pk"`
	Subject     string    `bun:"subject,pk"`
	UserID      string    `bun:"user_id"`
	Email       string    `bun:"email"`
	CreatedAt   time.Time `bun:"created_at"`
	LastLoginAt time.Time `bun:"last_login_at,nullzero"`
}

func (m *federatedIdentityModel) toDomain() *storage.FederatedIdentity {
	return &storage.FederatedIdentity{
		UpstreamID:  m.UpstreamID,
		Subject:     m.Subject,
		UserID:      m.UserID,
		Email:       m.Email,
		CreatedAt:   m.CreatedAt.UTC(),
		LastLoginAt: utcOrZero(m.LastLoginAt),
	}
}

type upstreamStateModel struct {
	bun.BaseModel `bun:"table:upstream_states,alias:us"`

	ID          string    `bun:"id,pk"`
	UpstreamID  string    `bun:"upstream_id"`
	BrowserHash string    `bun:"browser_hash"`
	Nonce       string    `bun:"nonce"`
	Sealed      []byte    `bun:"sealed"`
	CreatedAt   time.Time `bun:"created_at"`
	ExpiresAt   time.Time `bun:"expires_at"`
}

func (m *upstreamStateModel) toDomain() *storage.UpstreamState {
	return &storage.UpstreamState{
		ID:          m.ID,
		UpstreamID:  m.UpstreamID,
		BrowserHash: m.BrowserHash,
		Nonce:       m.Nonce,
		Sealed:      m.Sealed,
		CreatedAt:   m.CreatedAt.UTC(),
		ExpiresAt:   m.ExpiresAt.UTC(),
	}
}

type consentGrantModel struct {
	bun.BaseModel `bun:"table:consent_grants,alias:cg"`

	UserID    string    `bun:"user_id,pk"`
	ClientID  string    `bun:"client_id,pk"`
	Scopes    string    `bun:"scopes"`
	CreatedAt time.Time `bun:"created_at"`
	UpdatedAt time.Time `bun:"updated_at"`
}

func (m *consentGrantModel) toDomain() (*storage.ConsentGrant, error) {
	g := &storage.ConsentGrant{
		UserID:    m.UserID,
		ClientID:  m.ClientID,
		CreatedAt: m.CreatedAt.UTC(),
		UpdatedAt: m.UpdatedAt.UTC(),
	}
	if err := decodeLists(listField{"scopes", m.Scopes, &g.Scopes}); err != nil {
		return nil, err
	}
	return g, nil
}

type authFlowModel struct {
	bun.BaseModel `bun:"table:auth_flows,alias:af"`

	ID          string    `bun:"id,pk"`
	ClientID    string    `bun:"client_id"`
	Form        string    `bun:"form"`
	RequestedAt time.Time `bun:"requested_at"`
	ExpiresAt   time.Time `bun:"expires_at"`
	UserID      string    `bun:"user_id,nullzero"`
	AuthTime    time.Time `bun:"auth_time,nullzero"`
}

func (m *authFlowModel) toDomain() *storage.AuthFlow {
	return &storage.AuthFlow{
		ID:          m.ID,
		ClientID:    m.ClientID,
		Form:        m.Form,
		RequestedAt: m.RequestedAt.UTC(),
		ExpiresAt:   m.ExpiresAt.UTC(),
		UserID:      m.UserID,
		AuthTime:    utcOrZero(m.AuthTime),
	}
}

type signingKeyModel struct {
	bun.BaseModel `bun:"table:signing_keys,alias:sk"`

	KID         string    `bun:"kid,pk"`
	Algorithm   string    `bun:"algorithm"`
	State       string    `bun:"state"`
	PrivateKey  []byte    `bun:"private_key"`
	PublicKey   string    `bun:"public_key"`
	CreatedAt   time.Time `bun:"created_at"`
	ActivatedAt time.Time `bun:"activated_at,nullzero"`
	RetiredAt   time.Time `bun:"retired_at,nullzero"`
}

func (m *signingKeyModel) toDomain() *storage.SigningKey {
	return &storage.SigningKey{
		KID:         m.KID,
		Algorithm:   m.Algorithm,
		State:       m.State,
		PrivateKey:  m.PrivateKey,
		PublicKey:   []byte(m.PublicKey),
		CreatedAt:   m.CreatedAt.UTC(),
		ActivatedAt: utcOrZero(m.ActivatedAt),
		RetiredAt:   utcOrZero(m.RetiredAt),
	}
}

type systemKeyModel struct {
	bun.BaseModel `bun:"table:system_keys,alias:sys"`

	Purpose   string    `bun:"purpose,pk"`
	Sealed    []byte    `bun:"sealed"`
	CreatedAt time.Time `bun:"created_at"`
	UpdatedAt time.Time `bun:"updated_at"`
}

func (m *systemKeyModel) toDomain() *storage.SystemKey {
	return &storage.SystemKey{
		Purpose:   m.Purpose,
		Sealed:    m.Sealed,
		CreatedAt: m.CreatedAt.UTC(),
		UpdatedAt: m.UpdatedAt.UTC(),
	}
}

// requestColumns are the columns shared by the five fosite request tables.
type requestColumns struct {
	Signature         string    `bun:"signature,pk"`
	RequestID         string    `bun:"request_id"`
	ClientID          string    `bun:"client_id"`
	Subject           string    `bun:"subject"`
	RequestedAt       time.Time `bun:"requested_at"`
	ExpiresAt         time.Time `bun:"expires_at,nullzero"`
	Active            bool      `bun:"active"`
	RequestedScopes   string    `bun:"requested_scopes"`
	GrantedScopes     string    `bun:"granted_scopes"`
	RequestedAudience string    `bun:"requested_audience"`
	GrantedAudience   string    `bun:"granted_audience"`
	Form              string    `bun:"form"`
	Session           []byte    `bun:"session"`
}

// codeModel, pkceModel and oidcModel are rows of oauth2_code, oauth2_pkce
// and oauth2_oidc (accessModel is oauth2_access's). Each table has its own
// row type, so that bun knows the table of every query: the query spans
// take it from bun (see TraceQueries).
type codeModel struct {
	bun.BaseModel `bun:"table:oauth2_code,alias:r"`
	requestColumns
}

type pkceModel struct {
	bun.BaseModel `bun:"table:oauth2_pkce,alias:r"`
	requestColumns
}

type oidcModel struct {
	bun.BaseModel `bun:"table:oauth2_oidc,alias:r"`
	requestColumns
}

// refreshModel is a row of oauth2_refresh.
type refreshModel struct {
	bun.BaseModel `bun:"table:oauth2_refresh,alias:r"`
	requestColumns
	// AccessSignature is the key of the access token issued with this
	// refresh token (hex SHA-256 of its signature).
	AccessSignature string `bun:"access_signature"`
	// RotatedAt is when RotateRefreshToken deactivated the row; it tells a
	// concurrent duplicate request from reuse.
	RotatedAt time.Time `bun:"rotated_at,nullzero"`
}

// accessModel is a row of oauth2_access: a request row plus the API key
// that minted the token (empty for none).
type accessModel struct {
	bun.BaseModel `bun:"table:oauth2_access,alias:r"`
	requestColumns
	APIKeyID string `bun:"api_key_id"`
}

type registrationTokenModel struct {
	bun.BaseModel `bun:"table:registration_tokens,alias:rt"`

	ID        string    `bun:"id,pk"`
	Name      string    `bun:"name"`
	Hash      string    `bun:"hash"`
	CreatedAt time.Time `bun:"created_at"`
	ExpiresAt time.Time `bun:"expires_at,nullzero"`
	RevokedAt time.Time `bun:"revoked_at,nullzero"`
}

func (m *registrationTokenModel) toDomain() *storage.RegistrationToken {
	return &storage.RegistrationToken{
		ID:        m.ID,
		Name:      m.Name,
		Hash:      m.Hash,
		CreatedAt: m.CreatedAt.UTC(),
		ExpiresAt: utcOrZero(m.ExpiresAt),
		RevokedAt: utcOrZero(m.RevokedAt),
	}
}

type pushedRequestModel struct {
	bun.BaseModel `bun:"table:pushed_requests,alias:pr"`

	ID        string    `bun:"id,pk"`
	ClientID  string    `bun:"client_id"`
	Form      string    `bun:"form"`
	CreatedAt time.Time `bun:"created_at"`
	ExpiresAt time.Time `bun:"expires_at"`
}

func (m *pushedRequestModel) toDomain() *storage.PushedRequest {
	return &storage.PushedRequest{
		ID:        m.ID,
		ClientID:  m.ClientID,
		Form:      m.Form,
		CreatedAt: m.CreatedAt.UTC(),
		ExpiresAt: m.ExpiresAt.UTC(),
	}
}

type apiKeyModel struct {
	bun.BaseModel `bun:"table:api_keys,alias:ak"`

	ID         string    `bun:"id,pk"`
	ClientID   string    `bun:"client_id"`
	Name       string    `bun:"name"`
	Scopes     string    `bun:"scopes"`
	SecretHash string    `bun:"secret_hash"`
	CreatedBy  string    `bun:"created_by"`
	CreatedVia string    `bun:"created_via"`
	CreatedAt  time.Time `bun:"created_at"`
	ExpiresAt  time.Time `bun:"expires_at,nullzero"`
	LastUsedAt time.Time `bun:"last_used_at,nullzero"`
	RevokedAt  time.Time `bun:"revoked_at,nullzero"`
}

func (m *apiKeyModel) toDomain() (*storage.APIKey, error) {
	k := &storage.APIKey{
		ID:         m.ID,
		ClientID:   m.ClientID,
		Name:       m.Name,
		SecretHash: m.SecretHash,
		CreatedBy:  m.CreatedBy,
		CreatedVia: m.CreatedVia,
		CreatedAt:  m.CreatedAt.UTC(),
		ExpiresAt:  utcOrZero(m.ExpiresAt),
		LastUsedAt: utcOrZero(m.LastUsedAt),
		RevokedAt:  utcOrZero(m.RevokedAt),
	}
	if err := decodeLists(listField{"scopes", m.Scopes, &k.Scopes}); err != nil {
		return nil, err
	}
	return k, nil
}

type auditEventModel struct {
	bun.BaseModel `bun:"table:audit_events,alias:ae"`

	ID       string    `bun:"id,pk"`
	Time     time.Time `bun:"time"`
	Type     string    `bun:"type"`
	Actor    string    `bun:"actor"`
	Subject  string    `bun:"subject"`
	ClientID string    `bun:"client_id"`
	IP       string    `bun:"ip"`
	// Details is a JSON object of strings.
	Details string `bun:"details"`
}

// toDomain converts a stored event back (AuditEvents, and the tests).
func (m *auditEventModel) toDomain() (*storage.AuditEvent, error) {
	ev := &storage.AuditEvent{
		ID:       m.ID,
		Time:     m.Time.UTC(),
		Type:     m.Type,
		Actor:    m.Actor,
		Subject:  m.Subject,
		ClientID: m.ClientID,
		IP:       m.IP,
	}
	if m.Details != "" {
		if err := json.Unmarshal([]byte(m.Details), &ev.Details); err != nil {
			return nil, mapErr("decode column details", err)
		}
	}
	if len(ev.Details) == 0 {
		ev.Details = nil
	}
	return ev, nil
}

type jtiModel struct {
	bun.BaseModel `bun:"table:oauth2_jti,alias:j"`

	ID        string    `bun:"id,pk"`
	ExpiresAt time.Time `bun:"expires_at"`
}

// encodeList stores a list as a JSON array; nil and empty both become "[]".
func encodeList(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	// Marshalling a []string cannot fail.
	b, _ := json.Marshal(l)
	return string(b)
}

// encodeDetails stores key/value facts as a JSON object; nil and empty
// both become "{}".
func encodeDetails(d map[string]string) string {
	if len(d) == 0 {
		return "{}"
	}
	// Marshalling a map[string]string cannot fail (keys come out sorted).
	b, _ := json.Marshal(d)
	return string(b)
}

type listField struct {
	column string
	raw    string
	dst    *[]string
}

// decodeLists reads JSON-array columns; an empty list comes back as nil.
func decodeLists(fields ...listField) error {
	for _, f := range fields {
		var l []string
		if f.raw != "" {
			if err := json.Unmarshal([]byte(f.raw), &l); err != nil {
				return mapErr("decode column "+f.column, err)
			}
		}
		if len(l) == 0 {
			l = nil
		}
		*f.dst = l
	}
	return nil
}

func utcOrZero(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// durationMS stores an optional duration as whole milliseconds (NULL when
// unset).
func durationMS(d *time.Duration) *int64 {
	if d == nil {
		return nil
	}
	ms := d.Milliseconds()
	return &ms
}

func msDuration(ms *int64) *time.Duration {
	if ms == nil {
		return nil
	}
	d := time.Duration(*ms) * time.Millisecond
	return &d
}

// zeroOrDBTime is dbTime, keeping the zero time zero (NULL).
func zeroOrDBTime(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return dbTime(t)
}
