// Package storage holds gatehouse's domain types, the sentinel errors every
// backend returns, and the interfaces a backend implements. It knows nothing
// about any database: storage/bunstore is the implementation for SQLite and
// PostgreSQL, and storage/conformance is the behavioural contract it passes.
package storage

import (
	"context"
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
	ErrConflict = errors.New("storage: conflict")
	// ErrRefreshRace: a spent refresh token came back so soon after its
	// rotation that it is a retry or a concurrent duplicate, not reuse by a
	// thief (nothing is revoked). It matches fosite.ErrNotFound so the
	// client gets invalid_grant. The provider decides this, from
	// InactiveRefreshError.RotatedAt and the request's arrival time.
	ErrRefreshRace error = refreshRaceError{}
	// ErrUnavailable: the database cannot be reached or refused the work for
	// a reason that is not the caller's fault. Handlers answer 503.
	ErrUnavailable = errors.New("storage: database unavailable")
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

type requestTimeKey struct{}

// WithRequestTime records when the HTTP request that ctx belongs to arrived.
func WithRequestTime(ctx context.Context, t time.Time) context.Context {
	return context.WithValue(ctx, requestTimeKey{}, t)
}

// RequestTime returns the time set by WithRequestTime, or the zero time.
func RequestTime(ctx context.Context) time.Time {
	t, _ := ctx.Value(requestTimeKey{}).(time.Time)
	return t
}

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
	// SkipConsent marks a first-party client: no consent screen.
	SkipConsent    bool
	AllowedOrigins []string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

var (
	_ fosite.Client              = (*Client)(nil)
	_ fosite.OpenIDConnectClient = (*Client)(nil)
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

// GetJSONWebKeys: no client keys yet (private_key_jwt comes later).
func (c *Client) GetJSONWebKeys() *josev3.JSONWebKeySet { return nil }
func (c *Client) GetJSONWebKeysURI() string             { return "" }

// GetRequestObjectSigningAlgorithm pins RS256 so that an unsigned ("alg":
// "none") request object is never accepted.
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

func (c *Client) GetTokenEndpointAuthSigningAlgorithm() string { return "RS256" }

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
	// PrivateKey is the sealed private JWK.
	PrivateKey []byte
	// PublicKey is the public JWK as JSON.
	PublicKey []byte
	CreatedAt time.Time
	// ActivatedAt is when the key became current; zero if never.
	ActivatedAt time.Time
	// RetiredAt is when the key stopped signing; zero if not retired.
	RetiredAt time.Time
}

// ClientStore manages client registrations.
type ClientStore interface {
	// CreateClient returns ErrConflict when the ID is taken.
	CreateClient(ctx context.Context, c *Client) error
	// ClientByID returns ErrNotFound for an unknown ID.
	ClientByID(ctx context.Context, id string) (*Client, error)
	ListClients(ctx context.Context) ([]*Client, error)
	// UpdateClient replaces every field but ID and CreatedAt.
	UpdateClient(ctx context.Context, c *Client) error
	// DeleteClient removes the client with its tokens, codes, consent
	// grants and pending flows; ErrNotFound for an unknown ID.
	DeleteClient(ctx context.Context, id string) error
}

// UserStore manages people.
type UserStore interface {
	// CreateUser returns ErrConflict when the e-mail is taken.
	CreateUser(ctx context.Context, u *User) error
	UserByID(ctx context.Context, id string) (*User, error)
	// UserByEmail matches case-insensitively.
	UserByEmail(ctx context.Context, email string) (*User, error)
	ListUsers(ctx context.Context) ([]*User, error)
}

// LoginSessionStore keeps browser sessions.
type LoginSessionStore interface {
	CreateLoginSession(ctx context.Context, s *LoginSession) error
	// LoginSession returns ErrNotFound for an unknown or expired session.
	LoginSession(ctx context.Context, id string) (*LoginSession, error)
	// DeleteLoginSession is idempotent.
	DeleteLoginSession(ctx context.Context, id string) error
}

// ConsentStore keeps remembered consent.
type ConsentStore interface {
	// ConsentGrant returns ErrNotFound when the user never consented.
	ConsentGrant(ctx context.Context, userID, clientID string) (*ConsentGrant, error)
	// SaveConsentGrant inserts or replaces the grant of (user, client).
	SaveConsentGrant(ctx context.Context, g *ConsentGrant) error
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
	// current key of one algorithm, so instances starting together end up
	// with one current key each.
	CreateSigningKey(ctx context.Context, k *SigningKey) error
}

// Maintenance is what the janitor and the health checks need.
type Maintenance interface {
	// DeleteExpired removes rows that expired before now (tokens, codes,
	// sessions, flows, assertion jtis), at most batch rows per table per
	// call, and reports how many went.
	DeleteExpired(ctx context.Context, now time.Time, batch int) (int64, error)
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
	ConsentStore
	AuthFlowStore
	KeyStore
	Maintenance
	// InTx runs fn in one transaction (joining the one in ctx, if any);
	// fn's error rolls it back.
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
	Close() error
}
