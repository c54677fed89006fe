// Package storage holds gatehouse's domain types, the sentinel errors every
// backend returns, and the interfaces a backend implements. It knows nothing
// about any database: storage/bunstore is the implementation for SQLite and
// PostgreSQL, and storage/conformance is the behavioural contract it passes.
package storage

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	josev3 "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/handler/pkce"
	fositestorage "github.com/ory/fosite/storage"
)

// Sentinel errors. Backends wrap them with %w; callers test with errors.Is.
var (
	// ErrNotFound: the record does not exist (or has expired). It also matches
	// fosite.ErrNotFound, so fosite's handlers treat it as "unknown token".
	ErrNotFound error = notFoundError{}
	// ErrConflict: a unique constraint would be violated (duplicate id or
	// e-mail, a second current key for one algorithm, ...).
	ErrConflict = errors.New("conflict with an existing record")
	// ErrRefreshRace: a spent refresh token came back so soon after its
	// rotation that it is a retry or a concurrent duplicate, not reuse by a
	// thief (nothing is revoked). It matches fosite.ErrNotFound so the
	// client gets invalid_grant. The provider decides this, from
	// InactiveRefreshError.RotatedAt and the request's arrival time.
	ErrRefreshRace error = refreshRaceError{}
	// ErrUnavailable: the database cannot be reached or refused the work for
	// a reason that is not the caller's fault. Handlers answer 503.
	ErrUnavailable = errors.New("database unavailable")
)

type notFoundError struct{}

func (notFoundError) Error() string        { return "storage: not found" }
func (notFoundError) Is(target error) bool { return target == fosite.ErrNotFound }

type refreshRaceError struct{}

func (refreshRaceError) Error() string {
	return "storage: refresh token was rotated by a concurrent request"
}
func (refreshRaceError) Is(target error) bool {
	return target == fosite.ErrNotFound || target == ErrNotFound
}

// InactiveRefreshError is what GetRefreshTokenSession returns, together
// with the full requester, for a refresh token that is no longer active. It
// matches fosite.ErrInactiveToken, which makes fosite revoke the grant
// (reuse detection); RotatedAt (zero when the token was not rotated) lets
// the provider first tell a retry from reuse.
type InactiveRefreshError struct {
	RotatedAt time.Time
}

func (e *InactiveRefreshError) Error() string {
	return "storage: refresh token is no longer active"
}

func (e *InactiveRefreshError) Is(target error) bool { return target == fosite.ErrInactiveToken }

// Client is an OAuth 2.0 client registration. *Client implements
// fosite.Client and fosite.OpenIDConnectClient.
type Client struct {
	ID string
	// SecretHash is the keyed SHA-256 of the client secret (see
	// provider/secret); empty for public clients. The secret itself is
	// never stored.
	SecretHash              string
	Name                    string
	RedirectURIs            []string
	PostLogoutRedirectURIs  []string
	GrantTypes              []string
	ResponseTypes           []string
	Scopes                  []string
	Audience                []string
	Public                  bool
	TokenEndpointAuthMethod string
	// IDTokenSignedResponseAlg is "RS256" (also when empty) or "ES256".
	IDTokenSignedResponseAlg string
	// SkipConsent: the consent page is never shown for this client.
	SkipConsent bool
	// FirstParty marks the operator's own client: only such a client may
	// be allowed the scopes that manage gatehouse itself (apikeys,
	// gatehouse:*). Only an operator sets it (CLI, admin API); dynamic
	// registration never does.
	FirstParty bool
	// PKCEOptional lets this confidential client obtain authorization
	// codes without PKCE. gatehouse asks every client for PKCE (RFC 9700
	// §2.1.1 recommends it for confidential clients too); an operator may
	// turn that off for a confidential OpenID Connect client that cannot
	// send it (the OpenID Foundation's certification suite, older server
	// libraries). Never for a public client; never set by registration.
	PKCEOptional bool
	// RequireMFA makes every sign-in to this client ask for a second
	// factor (a session signed in with one is stepped up). Operators only.
	RequireMFA bool
	// IntrospectAnyToken lets the client introspect tokens issued to any
	// client (RFC 7662 §4); without it, only its own tokens and those
	// issued for it (Resources). Only an operator sets it.
	IntrospectAnyToken bool
	// TokenExchangeImpersonation lets the client exchange a token without
	// an actor token (RFC 8693 §1.1 impersonation: the issued token does
	// not say who acts). Only an operator sets it.
	TokenExchangeImpersonation bool
	// TokenExchangeSubjectTypes are the RFC 8693 token types the client
	// may present as subject tokens; empty means access tokens only. Only
	// an operator sets it.
	TokenExchangeSubjectTypes []string
	// DPoPBoundAccessTokens makes DPoP (RFC 9449 §5.2) mandatory for the
	// client: a token request without a proof is refused, so every access
	// token it gets is bound to its key.
	DPoPBoundAccessTokens bool
	// Resources are the RFC 8707 resource indicators of the APIs this
	// client serves as a resource server: it may introspect access tokens
	// whose audience names one of them. Only an operator sets them.
	Resources      []string
	AllowedOrigins []string
	// LogoURI, ClientURI, PolicyURI and TosURI (RFC 7591) are shown on
	// the consent page; https URLs or empty.
	LogoURI   string
	ClientURI string
	PolicyURI string
	TosURI    string
	Contacts  []string
	// JWKS (a JWK Set as JSON) or JWKSURI (where to fetch one) holds the
	// client's public keys for private_key_jwt; at most one is set.
	JWKS    string
	JWKSURI string
	// TokenEndpointAuthSigningAlg is the JWS algorithm of the client's
	// private_key_jwt assertions ("RS256" when empty).
	TokenEndpointAuthSigningAlg string
	// RequestObjectSigningAlg is the JWS algorithm the client's request
	// objects (RFC 9101) must be signed with; empty accepts any of the
	// asymmetric algorithms the provider allows.
	RequestObjectSigningAlg string
	// RegistrationAccessTokenHash is the keyed hash of the RFC 7592
	// registration access token; empty for clients an operator created.
	RegistrationAccessTokenHash string
	// RegisteredBy says who registered the client, for the consent page
	// (for example `an administrator` or `registration token "partners"`).
	RegisteredBy string
	// RequirePushedAuthorizationRequests: authorization requests must come
	// through PAR (RFC 9126).
	RequirePushedAuthorizationRequests bool
	// OwnerID is the user who owns the client (may manage its API keys);
	// empty when no person owns it.
	OwnerID string
	// AccessTokenFormat is "jwt" (RFC 9068) or "opaque"; empty follows the
	// server's default.
	AccessTokenFormat string
	// DefaultResource is the resource (RFC 8707) a request of this client
	// that names none gets a token for; empty for none. Only an operator
	// sets it.
	DefaultResource string
	// RefreshRetryWindow is the client's own refresh retry window; nil
	// follows the server's.
	RefreshRetryWindow *time.Duration
	// BackchannelLogoutURI is where a logout token is POSTed when a login
	// session in which the client got tokens ends (OpenID Connect
	// Back-Channel Logout 1.0 §2.2); empty for none.
	// BackchannelLogoutSessionRequired: the client needs the sid claim.
	BackchannelLogoutURI             string
	BackchannelLogoutSessionRequired bool
	// FrontchannelLogoutURI is loaded in an iframe of the signed-out page
	// (OpenID Connect Front-Channel Logout 1.0 §2); empty for none.
	// FrontchannelLogoutSessionRequired adds the iss and sid parameters.
	FrontchannelLogoutURI             string
	FrontchannelLogoutSessionRequired bool
	// MetadataDocument marks a client whose ID is the https URL of its
	// client ID metadata document (draft-ietf-oauth-client-id-metadata-
	// document): the row is gatehouse's copy of that document, replaced
	// when it is fetched again. DocumentFreshUntil is when the copy must be
	// fetched again before a new authorization; DocumentGoneAt, when set,
	// is when the document was found gone (no new authorization, no
	// refresh).
	MetadataDocument   bool
	DocumentFreshUntil time.Time
	DocumentGoneAt     time.Time
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

var (
	_ fosite.Client              = (*Client)(nil)
	_ fosite.OpenIDConnectClient = (*Client)(nil)
	_ fosite.ResponseModeClient  = (*Client)(nil)
)

func (c *Client) GetID() string                      { return c.ID }
func (c *Client) GetHashedSecret() []byte            { return []byte(c.SecretHash) }
func (c *Client) GetRedirectURIs() []string          { return c.RedirectURIs }
func (c *Client) GetGrantTypes() fosite.Arguments    { return c.GrantTypes }
func (c *Client) GetResponseTypes() fosite.Arguments { return c.ResponseTypes }
func (c *Client) GetScopes() fosite.Arguments        { return c.Scopes }
func (c *Client) IsPublic() bool                     { return c.Public }
func (c *Client) GetAudience() fosite.Arguments      { return c.Audience }

// GetRequestURIs: request objects by reference are not supported.
func (c *Client) GetRequestURIs() []string { return nil }

// GetJSONWebKeys parses the client's registered key set (nil if none or
// unparsable; registration validates it).
func (c *Client) GetJSONWebKeys() *josev3.JSONWebKeySet {
	if c.JWKS == "" {
		return nil
	}
	var set josev3.JSONWebKeySet
	if err := json.Unmarshal([]byte(c.JWKS), &set); err != nil {
		return nil
	}
	return &set
}

// GetJSONWebKeysURI is where the client publishes its key set.
func (c *Client) GetJSONWebKeysURI() string { return c.JWKSURI }

// GetRequestObjectSigningAlgorithm pins RS256 for fosite, so that an
// unsigned ("alg": "none") request object is never accepted should one
// reach it. fosite never sees one: the provider verifies request objects
// itself (RequestObjectSigningAlg) and hands fosite the parameters.
func (c *Client) GetRequestObjectSigningAlgorithm() string { return "RS256" }

func (c *Client) GetTokenEndpointAuthMethod() string {
	if c.Public {
		return "none"
	}
	if c.TokenEndpointAuthMethod == "" {
		return "client_secret_basic"
	}
	return c.TokenEndpointAuthMethod
}

func (c *Client) GetTokenEndpointAuthSigningAlgorithm() string {
	if c.TokenEndpointAuthSigningAlg == "" {
		return "RS256"
	}
	return c.TokenEndpointAuthSigningAlg
}

// GetResponseModes implements fosite.ResponseModeClient: every client may
// ask for the response modes gatehouse serves for the code flow, query
// (its default) and form_post (OAuth 2.0 Form Post Response Mode). fosite
// refuses response_mode=fragment, which a code response does not need.
func (c *Client) GetResponseModes() []fosite.ResponseModeType {
	return []fosite.ResponseModeType{fosite.ResponseModeQuery, fosite.ResponseModeFormPost}
}

// IDTokenAlg is the algorithm ID tokens for this client are signed with.
func (c *Client) IDTokenAlg() string {
	if c.IDTokenSignedResponseAlg == "" {
		return "RS256"
	}
	return c.IDTokenSignedResponseAlg
}

// User is a person who signs in.
type User struct {
	ID string
	// Email is stored lower-cased; it is unique.
	Email         string
	EmailVerified bool
	Name          string
	// PasswordHash is an argon2id PHC string; empty means no password login.
	PasswordHash string
	Roles        []string
	Disabled     bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// LoginSession is a browser's signed-in state.
type LoginSession struct {
	// ID is the hex SHA-256 of the cookie value; the cookie value itself is
	// never stored.
	ID        string
	UserID    string
	AuthTime  time.Time
	ExpiresAt time.Time
	CreatedAt time.Time
	// AMR lists how the user authenticated (OpenID Connect "amr": "pwd"
	// for a password, "fed" for an upstream identity provider).
	AMR []string
	// ACR is the authentication context ("acr"); for an upstream login it
	// names the upstream. Empty for a password login.
	ACR string
	// SID is the session's "sid" (OpenID Connect Front-Channel and
	// Back-Channel Logout): random, unique, unrelated to the cookie, so a
	// relying party that learns it learns nothing that signs in. Empty for
	// a session started before gatehouse kept one.
	SID string
	// UserAgent and IP describe the browser that signed in (for the person
	// and the administrator to recognise the session); either may be
	// empty.
	UserAgent string
	IP        string
}

// FederatedIdentity links an account at an upstream identity provider
// (upstream id + the upstream's subject) to one gatehouse user.
type FederatedIdentity struct {
	UpstreamID string
	Subject    string
	UserID     string
	// Email is what the upstream said at the last sign-in (for display).
	Email       string
	CreatedAt   time.Time
	LastLoginAt time.Time
}

// UpstreamState is a sign-in through an upstream identity provider waiting
// for the upstream's answer: its state, nonce and PKCE verifier, bound to
// the browser that started it, used once.
type UpstreamState struct {
	// ID is the hex SHA-256 of the state parameter.
	ID         string
	UpstreamID string
	// BrowserHash is the hex SHA-256 of a random cookie set on the browser
	// that started the sign-in; the callback must present it.
	BrowserHash string
	// Nonce is the OpenID Connect nonce sent upstream.
	Nonce string
	// Sealed is the rest, sealed with the system secret: the PKCE verifier
	// and where to continue (the authorization flow handle, or a local
	// path).
	Sealed    []byte
	CreatedAt time.Time
	ExpiresAt time.Time
}

// ConsentGrant remembers the scopes a user allowed a client.
type ConsentGrant struct {
	UserID    string
	ClientID  string
	Scopes    []string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// AuthFlow is an authorization request waiting for the user (login,
// consent). It keeps the original request so it can be resumed exactly,
// including its original time (prompt=login and max_age depend on it).
type AuthFlow struct {
	// ID is the hex SHA-256 of the flow handle carried in the page URLs.
	ID       string
	ClientID string
	// Form is the original authorization request, URL-encoded.
	Form        string
	RequestedAt time.Time
	ExpiresAt   time.Time
	// UserID and AuthTime are set when the user signs in within this flow.
	UserID   string
	AuthTime time.Time
}

// Signing key states.
const (
	KeyStateNext    = "next"    // published, not yet signing
	KeyStateCurrent = "current" // signs; at most one per algorithm
	KeyStateRetired = "retired" // published, verifies, no longer signs
)

// SigningKey is a JWS key pair. The private half is sealed (AES-256-GCM
// under a key derived from the system secret) before it reaches storage.
type SigningKey struct {
	KID       string
	Algorithm string // "RS256" or "ES256"
	State     string
	// PrivateKey is the sealed PKCS#8 private key.
	PrivateKey []byte
	// PublicKey is the public JWK as JSON.
	PublicKey []byte
	CreatedAt time.Time
	// ActivatedAt is when the key became current; zero if never.
	ActivatedAt time.Time
	// RetiredAt is when the key stopped signing; zero if not retired.
	RetiredAt time.Time
}

// SystemKey is a random key of gatehouse's own, sealed under the system
// secret (so rotating GATEHOUSE_SECRET only means re-sealing it). The
// keyed hashes of client secrets, API keys and registration tokens use it.
type SystemKey struct {
	// Purpose names the key, e.g. "hash-pepper"; unique.
	Purpose   string
	Sealed    []byte
	CreatedAt time.Time
	UpdatedAt time.Time
}

// APIKey is an extra, independently revocable secret of a client: a
// long-lived credential limited to its own scopes.
type APIKey struct {
	// ID is embedded in the key itself, so a key is found by primary key.
	ID       string
	ClientID string
	Name     string
	// Scopes are a subset of the client's.
	Scopes []string
	// SecretHash is the keyed hash of the key's secret part; the key is
	// never stored.
	SecretHash string
	// CreatedBy says who made the key ("user:<id>", "client:<id>",
	// "operator").
	CreatedBy string
	// CreatedVia is the client whose access token, delegated by the user
	// of CreatedBy, created the key through the self-service API; empty
	// when no app acted for the user.
	CreatedVia string
	CreatedAt  time.Time
	// ExpiresAt is zero for a key that does not expire.
	ExpiresAt time.Time
	// LastUsedAt is zero until first use; updated at most about once a
	// minute.
	LastUsedAt time.Time
	// RevokedAt is zero while the key is usable.
	RevokedAt time.Time
}

// APIKeySession is implemented by fosite sessions that know which API key
// minted their token; storage records it with the access token so that
// revoking the key revokes its tokens.
type APIKeySession interface {
	GetAPIKeyID() string
}

// AuditEvent is one entry of the audit trail.
type AuditEvent struct {
	ID   string
	Time time.Time
	// Type is a dotted name such as "apikey.created" or
	// "apikey.use_failed".
	Type string
	// Actor is who acted ("user:<id>", "client:<id>", "operator",
	// "anonymous"); Subject is whom or what it concerned.
	Actor    string
	Subject  string
	ClientID string
	IP       string
	// Details are extra key/value facts; never secrets.
	Details map[string]string
}

// RegistrationToken is an initial access token for dynamic client
// registration (RFC 7591 §3), made by an operator.
type RegistrationToken struct {
	ID   string
	Name string
	// Hash is the keyed hash of the token; the token itself is never
	// stored. Unique.
	Hash      string
	CreatedAt time.Time
	// ExpiresAt is zero for a token that does not expire.
	ExpiresAt time.Time
	// RevokedAt is zero while the token is usable.
	RevokedAt time.Time
}

// PushedRequest is a pushed authorization request (RFC 9126) waiting for
// the browser to come to the authorization endpoint with its request_uri.
type PushedRequest struct {
	// ID is the hex SHA-256 of the request_uri.
	ID       string
	ClientID string
	// Form is the pushed request's parameters, URL-encoded, without client
	// credentials.
	Form      string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Page selects a slice of a listing ordered by creation time: the items
// after the one with ID After ("" = from the start), at most Limit of them
// (0 = all).
type Page struct {
	After string
	Limit int
}

// ClientStore manages client registrations.
type ClientStore interface {
	// CreateClient returns ErrConflict when the ID is taken.
	CreateClient(ctx context.Context, c *Client) error
	// ClientByID returns ErrNotFound for an unknown ID.
	ClientByID(ctx context.Context, id string) (*Client, error)
	// ListClients lists clients oldest first; ErrNotFound when page.After
	// names no client.
	ListClients(ctx context.Context, page Page) ([]*Client, error)
	// ListClientsByOwner lists the clients a user owns, oldest first.
	ListClientsByOwner(ctx context.Context, ownerID string) ([]*Client, error)
	// ClientOriginAllowed reports whether any client lists origin among its
	// AllowedOrigins (CORS preflights do not say which client is asking).
	ClientOriginAllowed(ctx context.Context, origin string) (bool, error)
	// UpdateClient replaces every field but ID and CreatedAt.
	UpdateClient(ctx context.Context, c *Client) error
	// DeleteClient removes the client with its tokens, codes, consent
	// grants, pending flows, pushed requests and API keys; ErrNotFound for
	// an unknown ID.
	DeleteClient(ctx context.Context, id string) error
	// DeleteUnusedClients deletes (as DeleteClient) up to batch clients
	// registered by registeredBy before the time given that never
	// completed an authorization: no consent grant, no code, no access or
	// refresh token. It returns how many it deleted.
	DeleteUnusedClients(ctx context.Context, registeredBy string, before time.Time, batch int) (int64, error)
}

// UserStore manages people.
type UserStore interface {
	// CreateUser returns ErrConflict when the e-mail is taken.
	CreateUser(ctx context.Context, u *User) error
	UserByID(ctx context.Context, id string) (*User, error)
	// UserByEmail matches case-insensitively.
	UserByEmail(ctx context.Context, email string) (*User, error)
	// ListUsers lists users oldest first; ErrNotFound when page.After names
	// no user.
	ListUsers(ctx context.Context, page Page) ([]*User, error)
	// UpdateUser replaces every field but ID and CreatedAt; ErrConflict
	// when the new e-mail is taken, ErrNotFound for an unknown ID.
	UpdateUser(ctx context.Context, u *User) error
	// DeleteUser removes the user with their login sessions, consent
	// grants, pending flows, federated identities and every code and
	// token issued to them, and clears the owner of the clients they
	// owned, in one transaction; ErrNotFound for an unknown ID.
	DeleteUser(ctx context.Context, id string) error
	// DeleteLoginSessionsOfUser signs the user out of every browser.
	DeleteLoginSessionsOfUser(ctx context.Context, userID string) error
}

// LoginSessionStore keeps browser sessions.
type LoginSessionStore interface {
	// CreateLoginSession returns ErrConflict for a duplicate ID or SID.
	CreateLoginSession(ctx context.Context, s *LoginSession) error
	// LoginSession returns ErrNotFound for an unknown or expired session.
	LoginSession(ctx context.Context, id string) (*LoginSession, error)
	// DeleteLoginSession is idempotent.
	DeleteLoginSession(ctx context.Context, id string) error
}

// FederationStore keeps upstream sign-ins and the identities they link.
type FederationStore interface {
	// CreateFederatedIdentity returns ErrConflict when (UpstreamID,
	// Subject) is already linked, ErrNotFound for an unknown user.
	CreateFederatedIdentity(ctx context.Context, fi *FederatedIdentity) error
	// FederatedIdentity returns ErrNotFound when the upstream account is
	// not linked.
	FederatedIdentity(ctx context.Context, upstreamID, subject string) (*FederatedIdentity, error)
	// FederatedIdentitiesOfUser lists a user's links, oldest first.
	FederatedIdentitiesOfUser(ctx context.Context, userID string) ([]*FederatedIdentity, error)
	// TouchFederatedIdentity records a sign-in (LastLoginAt, Email);
	// ErrNotFound when the pair is not linked.
	TouchFederatedIdentity(ctx context.Context, upstreamID, subject, email string, at time.Time) error
	// DeleteFederatedIdentity unlinks; ErrNotFound when it was not linked
	// to that user.
	DeleteFederatedIdentity(ctx context.Context, userID, upstreamID, subject string) error

	// CreateUpstreamState returns ErrConflict for a duplicate ID.
	CreateUpstreamState(ctx context.Context, st *UpstreamState) error
	// ConsumeUpstreamState returns and deletes a state in one step:
	// exactly one caller gets it; unknown, expired or already consumed ->
	// ErrNotFound.
	ConsumeUpstreamState(ctx context.Context, id string) (*UpstreamState, error)
}

// ConsentStore keeps remembered consent.
type ConsentStore interface {
	// ConsentGrant returns ErrNotFound when the user never consented.
	ConsentGrant(ctx context.Context, userID, clientID string) (*ConsentGrant, error)
	// SaveConsentGrant inserts or replaces the grant of (user, client).
	SaveConsentGrant(ctx context.Context, g *ConsentGrant) error
	// ListConsentGrants lists a user's grants, most recently updated first.
	ListConsentGrants(ctx context.Context, userID string) ([]*ConsentGrant, error)
	// DeleteConsentGrant revokes a grant: in one transaction it removes
	// the grant and every code (with its PKCE and OpenID Connect rows),
	// access token and refresh token the client holds for the user.
	// ErrNotFound when there was no grant (and nothing is deleted).
	DeleteConsentGrant(ctx context.Context, userID, clientID string) error
}

// RegistrationTokenStore keeps initial access tokens.
type RegistrationTokenStore interface {
	// CreateRegistrationToken returns ErrConflict for a duplicate ID or
	// hash.
	CreateRegistrationToken(ctx context.Context, t *RegistrationToken) error
	// RegistrationTokenByHash returns ErrNotFound for an unknown hash;
	// expired and revoked tokens are returned (the caller decides).
	RegistrationTokenByHash(ctx context.Context, hash string) (*RegistrationToken, error)
	// ListRegistrationTokens lists every token, oldest first.
	ListRegistrationTokens(ctx context.Context) ([]*RegistrationToken, error)
	// RevokeRegistrationToken sets RevokedAt; ErrNotFound for an unknown ID.
	RevokeRegistrationToken(ctx context.Context, id string, at time.Time) error
}

// APIKeyStore keeps API keys.
type APIKeyStore interface {
	// CreateAPIKey returns ErrConflict for a duplicate ID and ErrNotFound
	// for an unknown client.
	CreateAPIKey(ctx context.Context, k *APIKey) error
	// APIKey returns ErrNotFound for an unknown ID; revoked and expired
	// keys are returned (the caller decides).
	APIKey(ctx context.Context, id string) (*APIKey, error)
	// ListAPIKeys lists the keys of the given clients (all keys when
	// clientIDs is empty), newest first.
	ListAPIKeys(ctx context.Context, clientIDs []string) ([]*APIKey, error)
	// APIKeysCreatedVia lists the keys that createdBy made through the
	// app via (CreatedBy and CreatedVia both match; via must not be
	// empty), of any client, newest first.
	APIKeysCreatedVia(ctx context.Context, createdBy, via string) ([]*APIKey, error)
	// RevokeAPIKey sets RevokedAt (keeping an earlier one) and, in the same
	// transaction, deletes every access token the key minted. ErrNotFound
	// for an unknown ID.
	RevokeAPIKey(ctx context.Context, id string, at time.Time) error
	// APIKeysRevokedSince returns the ids of keys revoked at or after since
	// (at most 1000, earliest first), so that instances caching key rows
	// learn of revocations made by others.
	APIKeysRevokedSince(ctx context.Context, since time.Time) ([]string, error)
	// TouchAPIKey records a use (LastUsedAt = at, only ever moving
	// forward); ErrNotFound for an unknown ID.
	TouchAPIKey(ctx context.Context, id string, at time.Time) error
}

// AuditStore keeps the audit trail.
type AuditStore interface {
	// AppendAuditEvents stores events in one statement (IDs set by the
	// caller).
	AppendAuditEvents(ctx context.Context, events []*AuditEvent) error
}

// RefreshSuccessor is the token response that rotating a refresh token
// produced, sealed under the system secret and kept for the client's retry
// window, so the same refresh token presented again within it (a client
// that lost the response, or raced itself) gets the same answer.
type RefreshSuccessor struct {
	// Signature is the spent refresh token's signature.
	Signature string
	ClientID  string
	// Sealed is the JSON token response, sealed.
	Sealed    []byte
	CreatedAt time.Time
	ExpiresAt time.Time
}

// RefreshSuccessorStore keeps the responses of recent refresh rotations.
type RefreshSuccessorStore interface {
	// CreateRefreshSuccessor stores s; ErrConflict if the signature has one
	// already (a rotation happens once).
	CreateRefreshSuccessor(ctx context.Context, s *RefreshSuccessor) error
	// RefreshSuccessor returns ErrNotFound for an unknown or expired
	// signature.
	RefreshSuccessor(ctx context.Context, signature string) (*RefreshSuccessor, error)
}

// PushedRequestStore keeps pushed authorization requests.
type PushedRequestStore interface {
	CreatePushedRequest(ctx context.Context, r *PushedRequest) error
	// PushedRequest returns ErrNotFound for an unknown or expired request.
	PushedRequest(ctx context.Context, id string) (*PushedRequest, error)
	// DeletePushedRequest consumes a request: exactly one caller gets nil,
	// every other ErrNotFound.
	DeletePushedRequest(ctx context.Context, id string) error
}

// AuthFlowStore keeps authorization requests that wait for the user.
type AuthFlowStore interface {
	CreateAuthFlow(ctx context.Context, f *AuthFlow) error
	// AuthFlow returns ErrNotFound for an unknown or expired flow.
	AuthFlow(ctx context.Context, id string) (*AuthFlow, error)
	// SetAuthFlowLogin records who signed in within the flow.
	SetAuthFlowLogin(ctx context.Context, id, userID string, authTime time.Time) error
	// DeleteAuthFlow consumes a flow: exactly one caller gets nil, every
	// other gets ErrNotFound.
	DeleteAuthFlow(ctx context.Context, id string) error
}

// KeyStore keeps signing keys.
type KeyStore interface {
	// SigningKeys lists every key, newest first.
	SigningKeys(ctx context.Context) ([]*SigningKey, error)
	// CreateSigningKey returns ErrConflict for a duplicate kid or a second
	// current (or second next) key of one algorithm, so instances starting
	// or rotating together end up with one of each.
	CreateSigningKey(ctx context.Context, k *SigningKey) error
	// PromoteSigningKey rotates one algorithm in one transaction: the key
	// currentKID (state current) becomes retired (RetiredAt = at) and
	// nextKID (state next) becomes current (ActivatedAt = at). If either
	// is no longer in that state — another instance rotated first — nothing
	// changes and ErrConflict is returned.
	PromoteSigningKey(ctx context.Context, alg, currentKID, nextKID string, at time.Time) error
	// DeleteSigningKey removes a retired key; ErrNotFound if it is not a
	// retired key (current and next keys are never deleted).
	DeleteSigningKey(ctx context.Context, kid string) error
	// ResealSigningKey replaces the sealed private key of kid (re-encrypted
	// under a new system secret); ErrNotFound for an unknown kid.
	ResealSigningKey(ctx context.Context, kid string, sealed []byte) error
}

// SystemKeyStore keeps gatehouse's sealed system keys.
type SystemKeyStore interface {
	// SystemKey returns ErrNotFound when the purpose has no key yet.
	SystemKey(ctx context.Context, purpose string) (*SystemKey, error)
	// CreateSystemKey returns ErrConflict when the purpose has a key (an
	// instance starting at the same time made it; read that one).
	CreateSystemKey(ctx context.Context, k *SystemKey) error
	// ResealSystemKey replaces the sealed bytes (UpdatedAt = now);
	// ErrNotFound for an unknown purpose.
	ResealSystemKey(ctx context.Context, purpose string, sealed []byte) error
}

// Maintenance is what the janitor and the health checks need.
type Maintenance interface {
	// DeleteExpired removes rows that expired before now (tokens, codes,
	// sessions, flows, pushed requests, upstream states, assertion jtis,
	// DPoP proofs, WebAuthn challenges),
	// at most batch rows per table per call, and reports how many went.
	DeleteExpired(ctx context.Context, now time.Time, batch int) (int64, error)
	// WithJanitorLock runs fn unless another process runs the janitor on
	// the same database (ran is false then), so many instances clean one
	// at a time.
	WithJanitorLock(ctx context.Context, fn func(ctx context.Context) error) (ran bool, err error)
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
}

// OAuth2Store is every storage interface fosite's handlers need for
// authorization code + PKCE, refresh, client credentials, OpenID Connect,
// introspection and revocation.
type OAuth2Store interface {
	fosite.ClientManager
	oauth2.CoreStorage
	oauth2.TokenRevocationStorage
	openid.OpenIDConnectRequestStorage
	pkce.PKCERequestStorage
	fositestorage.Transactional
}

// Store is everything a backend provides.
type Store interface {
	OAuth2Store
	ClientStore
	UserStore
	LoginSessionStore
	LogoutStore
	MailOutboxStore
	PasswordResetStore
	EmailVerificationStore
	SignupStore
	ConsentStore
	AuthFlowStore
	KeyStore
	RegistrationTokenStore
	PushedRequestStore
	APIKeyStore
	AuditStore
	AuditReader
	FederationStore
	SystemKeyStore
	RefreshSuccessorStore
	LoginThrottleStore
	SecondFactorStore
	PasskeyStore
	ResourceStore
	DeviceAuthorizationStore
	DPoPProofStore
	Maintenance
	// InTx runs fn in one transaction (joining the one in ctx, if any);
	// fn's error rolls it back.
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
	Close() error
}
