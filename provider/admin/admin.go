package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/reqctx"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/apikey"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/provider/login"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// RoleAdmin is the role a user needs for the admin API.
const RoleAdmin = "admin"

// RegisteredByAdmin is RegisteredBy of a client an operator created.
const RegisteredByAdmin = "an administrator"

// Store is the storage the administration needs; *bunstore.Store has it.
type Store interface {
	storage.ClientStore
	storage.UserStore
	storage.LogoutStore
	storage.LoginThrottleStore
	storage.SecondFactorStore
	storage.APIKeyStore
	storage.RegistrationTokenStore
	storage.ResourceStore
	storage.AuditReader
	// DeadMail lists the e-mail gatehouse gave up sending.
	DeadMail(ctx context.Context, limit int) ([]*storage.MailMessage, error)
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// BearerAuthorizer decides on the access token of a request to one of
// gatehouse's own APIs (provider.Provider.AuthorizeBearer).
type BearerAuthorizer interface {
	AuthorizeBearer(ctx context.Context, cred provider.Credential, scope string) (*provider.Principal, error)
}

// Grants are the apps people allowed, kept by the sign-in side.
type Grants interface {
	AppGrants(ctx context.Context, userID string) ([]login.AppGrant, error)
	RevokeAppGrantAs(ctx context.Context, actor, viaClient, userID, clientID string) (*login.RevokedApp, error)
}

// errNoKeyring: an operation that hashes a new secret was asked of an
// administration built without the system secret.
var errNoKeyring = errors.New("this needs the system secret (GATEHOUSE_SECRET)")

// Options configure the administration. Store is required; Keyring too
// for anything that makes or checks a secret (clients with secrets, API
// keys, registration tokens).
type Options struct {
	Store   Store
	Keyring *secret.Keyring
	// APIKeys is the server's key verifier, so that a key revoked here is
	// refused by this instance at once; nil makes one of its own (the
	// CLI: a running server refuses the key at its next revocation check,
	// every 2 s).
	APIKeys *apikey.Verifier
	// Audit receives the events of every change; nil records nothing.
	Audit *audit.Recorder
	// Bearer decides on the access tokens of the admin API and the
	// self-service key API; nil where no request comes with one (the CLI).
	Bearer BearerAuthorizer
	// Grants are the apps people allowed; nil where they are not managed
	// (the CLI).
	Grants Grants
	// Sessions lists and ends people's login sessions; nil makes one on
	// Store (the CLI: the server's deliverer sends the notifications at
	// its next look at the queue).
	Sessions *login.Sessions
	// Verifier sends e-mail verification links; nil where gatehouse sends
	// no e-mail.
	Verifier Verifier
	Now      func() time.Time
	Logger   *slog.Logger
}

// Admin holds the use cases of administration that the admin API and the
// CLI share — clients, users, API keys, registration tokens, sign-in
// locks, the apps people allowed, the audit trail — and the self-service
// of people's own keys. Every change is audited with who made it: a
// *provider.Principal (a nil one is the operator at the command line) and
// the request's IP. Errors: *ValidationError or *APIKeyInputError (bad
// input), storage.ErrNotFound (unknown id), storage.ErrConflict (e-mail
// taken), or storage failures.
type Admin struct {
	store    Store
	ring     *secret.Keyring
	hasher   *secret.Hasher
	keys     *keyManager
	audit    *audit.Recorder
	bearer   BearerAuthorizer
	grants   Grants
	sessions *login.Sessions
	verifier Verifier
	now      func() time.Time
	log      *slog.Logger
}

// New returns the administration.
func New(o Options) (*Admin, error) {
	if o.Store == nil {
		return nil, errors.New("admin: Store is required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	verifier := o.APIKeys
	var hasher *secret.Hasher
	if o.Keyring != nil {
		hasher = secret.NewHasher(o.Keyring)
		if verifier == nil {
			// Only hashes new keys and never verifies one here: no cache.
			verifier = apikey.NewVerifier(apikey.Options{Store: o.Store, Keyring: o.Keyring, CacheTTL: -1, Now: o.Now, Logger: o.Logger})
		}
	}
	sessions := o.Sessions
	if sessions == nil {
		var err error
		if sessions, err = login.NewSessions(login.SessionsOptions{Store: o.Store, Audit: o.Audit, Now: o.Now, Logger: o.Logger}); err != nil {
			return nil, err
		}
	}
	return &Admin{
		store: o.Store, ring: o.Keyring, hasher: hasher,
		keys:  &keyManager{store: o.Store, verifier: verifier, audit: o.Audit, now: o.Now},
		audit: o.Audit, bearer: o.Bearer, grants: o.Grants, sessions: sessions, verifier: o.Verifier, now: o.Now, log: o.Logger,
	}, nil
}

// Authorize decides whether cred (an access token, with its DPoP proof
// when it is bound to a key) may use the admin API
// (provider.AuthorizeBearer with gatehouse:admin): a first-party client's
// own token is enough by itself; a person's token needs the admin role. Failures wrap provider.ErrBearerUnauthorized or
// provider.ErrBearerForbidden.
func (a *Admin) Authorize(ctx context.Context, cred provider.Credential) (*provider.Principal, error) {
	if a.bearer == nil {
		return nil, fmt.Errorf("%w: no bearer APIs here", provider.ErrBearerUnauthorized)
	}
	who, err := a.bearer.AuthorizeBearer(ctx, cred, provider.ScopeAdmin)
	if err != nil {
		return nil, err
	}
	if who.User != nil && !slices.Contains(who.User.Roles, RoleAdmin) {
		return nil, fmt.Errorf("%w: user %s does not have the %s role", provider.ErrBearerForbidden, who.User.ID, RoleAdmin)
	}
	return who, nil
}

// Paging of the admin listings.
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 500
)

// listPage lists one page with list, returning the items and the id to
// continue after ("" on the last page). An unknown after is a
// ValidationError on field "after".
func listPage[T any](ctx context.Context, page storage.Page, list func(context.Context, storage.Page) ([]T, error), id func(T) string) ([]T, string, error) {
	if page.Limit <= 0 || page.Limit > MaxPageLimit {
		page.Limit = DefaultPageLimit
	}
	want := page.Limit
	page.Limit++ // one more tells whether there is a next page
	items, err := list(ctx, page)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, "", invalid("after", "names no item of this listing")
	} else if err != nil {
		return nil, "", err
	}
	next := ""
	if len(items) > want {
		items = items[:want]
		next = id(items[want-1])
	}
	return items, next, nil
}

// ListClientsPage lists one page of clients, oldest first; next is the id
// to pass as page.After for the following page ("" on the last).
func ListClientsPage(ctx context.Context, st storage.ClientStore, page storage.Page) ([]*storage.Client, string, error) {
	return listPage(ctx, page, st.ListClients, func(c *storage.Client) string { return c.ID })
}

// ListUsersPage lists one page of users, oldest first.
func ListUsersPage(ctx context.Context, st storage.UserStore, page storage.Page) ([]*storage.User, string, error) {
	return listPage(ctx, page, st.ListUsers, func(u *storage.User) string { return u.ID })
}

// ClientView is a client as the admin API and the CLI show it: its
// metadata (RFC 7591 names, secrets only when just issued), owner_id (the
// id of the user who owns it, "" for none) and what the operator trusts it
// with: first_party, pkce_optional, introspect_any_token and resources.
type ClientView struct {
	ClientMetadata
	OwnerID            string   `json:"owner_id"`
	FirstParty         bool     `json:"first_party"`
	PKCEOptional       bool     `json:"pkce_optional"`
	RequireMFA         bool     `json:"require_mfa"`
	IntrospectAnyToken bool     `json:"introspect_any_token"`
	Resources          []string `json:"resources"`
	DefaultResource    string   `json:"default_resource"`
	// TokenExchangeImpersonation: the client may exchange tokens without
	// an actor token (RFC 8693 §1.1).
	TokenExchangeImpersonation bool `json:"token_exchange_impersonation"`
	// TokenExchangeSubjectTypes: the token types it may exchange.
	TokenExchangeSubjectTypes []string `json:"token_exchange_subject_types"`
}

// ClientViewOf describes c; plain is its secret when just issued, else "".
func ClientViewOf(c *storage.Client, plain string) ClientView {
	m := ClientMetadataOf(c)
	m.ClientSecret = plain
	return ClientView{
		ClientMetadata: m, OwnerID: c.OwnerID,
		FirstParty: c.FirstParty, PKCEOptional: c.PKCEOptional, RequireMFA: c.RequireMFA, IntrospectAnyToken: c.IntrospectAnyToken, Resources: nonNil(c.Resources),
		DefaultResource: c.DefaultResource, TokenExchangeImpersonation: c.TokenExchangeImpersonation,
		TokenExchangeSubjectTypes: nonNil(c.TokenExchangeSubjectTypes),
	}
}

// AdminClientRequest is a client as the admin API takes it: ClientRequest
// and owner_id, the id of an existing user who owns the client ("" for
// none). In an update, leaving owner_id out keeps the current owner.
type AdminClientRequest struct {
	ClientRequest
	OwnerID *string `json:"owner_id"`
}

// Spec is the ClientSpec the request describes (owner "" when left out).
func (r *AdminClientRequest) Spec() ClientSpec {
	s := r.ClientRequest.Spec()
	if r.OwnerID != nil {
		s.OwnerID = *r.OwnerID
	}
	return s
}

// CheckOwner reports a ValidationError on owner_id unless ownerID is ""
// or names an existing user.
func CheckOwner(ctx context.Context, st storage.UserStore, ownerID string) error {
	if ownerID == "" {
		return nil
	}
	if !validScopeToken(ownerID) {
		return invalid("owner_id", "is not a user id")
	}
	_, err := st.UserByID(ctx, ownerID)
	if errors.Is(err, storage.ErrNotFound) {
		return invalid("owner_id", "names no user")
	}
	return err
}

// UserView is a user as the admin API and the CLI show it: never the
// password hash.
type UserView struct {
	ID            string    `json:"id"`
	Email         string    `json:"email"`
	EmailVerified bool      `json:"email_verified"`
	Name          string    `json:"name"`
	Roles         []string  `json:"roles"`
	Disabled      bool      `json:"disabled"`
	HasPassword   bool      `json:"has_password"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// UserViewOf describes u.
func UserViewOf(u *storage.User) UserView {
	return UserView{
		ID: u.ID, Email: u.Email, EmailVerified: u.EmailVerified, Name: u.Name, Roles: nonNil(u.Roles),
		Disabled: u.Disabled, HasPassword: u.PasswordHash != "", CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC(),
	}
}

// UserUpdate is a full replacement of what describes a user (not the
// password, not the disabled flag).
type UserUpdate struct {
	Email         string
	Name          string
	EmailVerified bool
	Roles         []string
}

// UserEvent is the audit event of a change of type typ (one of audit.User*)
// to user userID by actor; the IP is the request's, when a request made
// the change.
func UserEvent(ctx context.Context, typ, actor, userID string) audit.Event {
	return audit.Event{Type: typ, Actor: actor, Subject: audit.UserSubject(userID), IP: reqctx.ClientIP(ctx)}
}

// UserCreatedEvent is user.created for u (its e-mail and roles; never the
// password).
func UserCreatedEvent(ctx context.Context, actor string, u *storage.User) audit.Event {
	ev := UserEvent(ctx, audit.UserCreated, actor, u.ID)
	ev.Details = map[string]string{"email": u.Email, "roles": strings.Join(u.Roles, " ")}
	return ev
}

// UserUpdatedEvent is user.updated from before to after, naming the fields
// that changed (Details "changed", UserView names).
func UserUpdatedEvent(ctx context.Context, actor string, before, after *storage.User) audit.Event {
	ev := UserEvent(ctx, audit.UserUpdated, actor, after.ID)
	ev.Details = map[string]string{"changed": strings.Join(changedFields(UserViewOf(before), UserViewOf(after)), " ")}
	return ev
}

// ApplyUserUpdate validates upd and applies it to u (unchanged on error).
func ApplyUserUpdate(u *storage.User, upd UserUpdate, now time.Time) error {
	ve := &ValidationError{}
	email, name, roles := checkUserFields(ve, upd.Email, upd.Name, upd.Roles)
	if err := ve.err(); err != nil {
		return err
	}
	u.Email, u.Name, u.Roles, u.EmailVerified = email, name, roles, upd.EmailVerified
	u.UpdatedAt = now.UTC()
	return nil
}

// UserDisabledType is the audit event type of disabling (true) or enabling
// a user.
func UserDisabledType(disabled bool) string {
	if disabled {
		return audit.UserDisabled
	}
	return audit.UserEnabled
}

// setUserDisabled disables or enables a user for actor. Disabling also
// signs the user out of every browser, in the same transaction, and the
// apps of those sessions are told (back-channel logout); their tokens stop
// working at userinfo, refresh and the admin API.
func (a *Admin) setUserDisabled(ctx context.Context, actor, id string, disabled bool) (*storage.User, error) {
	st, now := a.store, a.now()
	var u *storage.User
	err := st.InTx(ctx, func(ctx context.Context) error {
		var err error
		if u, err = st.UserByID(ctx, id); err != nil {
			return err
		}
		u.Disabled = disabled
		u.UpdatedAt = now.UTC()
		if err := st.UpdateUser(ctx, u); err != nil {
			return err
		}
		if disabled {
			_, err := a.sessions.EndAll(ctx, u.ID, actor, audit.SessionEndedByAdmin)
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// setUserPassword replaces a user's password (argon2id) for actor, signs
// them out of every browser (telling the apps, as setUserDisabled) and
// clears their failed sign-ins (of unknown browsers and of each known
// one): a reset lifts any lock.
func (a *Admin) setUserPassword(ctx context.Context, actor, id, password string) (*storage.User, error) {
	st, now := a.store, a.now()
	ve := &ValidationError{}
	checkPassword(ve, password)
	if err := ve.err(); err != nil {
		return nil, err
	}
	hash, err := secret.HashPassword(password)
	if err != nil {
		return nil, err
	}
	var u *storage.User
	err = st.InTx(ctx, func(ctx context.Context) error {
		var err error
		if u, err = st.UserByID(ctx, id); err != nil {
			return err
		}
		u.PasswordHash = hash
		u.UpdatedAt = now.UTC()
		if err := st.UpdateUser(ctx, u); err != nil {
			return err
		}
		if _, _, err := st.ClearAccountLoginThrottles(ctx, login.Account(u.Email)); err != nil {
			return err
		}
		_, err = a.sessions.EndAll(ctx, u.ID, actor, audit.SessionEndedByAdmin)
		return err
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// rotateClientSecret gives the stored client id a new secret and
// returns the client with the secret to show once. The old secret stops
// working at once.
func (a *Admin) rotateClientSecret(ctx context.Context, id string) (*storage.Client, string, error) {
	if a.hasher == nil {
		return nil, "", errNoKeyring
	}
	st, hasher, now := a.store, a.hasher, a.now()
	var c *storage.Client
	var plain string
	err := st.InTx(ctx, func(ctx context.Context) error {
		var err error
		if c, err = st.ClientByID(ctx, id); err != nil {
			return err
		}
		if plain, err = RotateClientSecret(c, hasher); err != nil {
			return err
		}
		c.UpdatedAt = now.UTC()
		return st.UpdateClient(ctx, c)
	})
	if err != nil {
		return nil, "", err
	}
	return c, plain, nil
}

// updateStoredClient replaces the stored client id's registration with
// the spec specOf makes from it, in one transaction (UpdateClientFromSpec);
// a new owner must be an existing user. It also returns the client as it
// was, for the audit trail.
func (a *Admin) updateStoredClient(ctx context.Context, id string, specOf func(*storage.Client) ClientSpec) (*storage.Client, *storage.Client, error) {
	st, now := a.store, a.now()
	var c, before *storage.Client
	err := st.InTx(ctx, func(ctx context.Context) error {
		var err error
		if c, err = st.ClientByID(ctx, id); err != nil {
			return err
		}
		if c.MetadataDocument {
			// Its metadata document defines it; the stored copy is replaced
			// at each fetch, so a change here would not last (and would
			// untie the client from its document).
			return invalid("client_id", "this client is defined by its metadata document at %s; change the document, or delete the client to drop gatehouse's copy", c.ID)
		}
		old := *c
		before = &old
		spec := specOf(c)
		if strings.TrimSpace(spec.OwnerID) != c.OwnerID {
			if err := CheckOwner(ctx, st, strings.TrimSpace(spec.OwnerID)); err != nil {
				return err
			}
		}
		if err := UpdateClientFromSpec(c, spec, now); err != nil {
			return err
		}
		if c.DefaultResource != before.DefaultResource {
			if err := a.checkDefaultResource(ctx, c); err != nil {
				return err
			}
		}
		return st.UpdateClient(ctx, c)
	})
	if err != nil {
		return nil, nil, err
	}
	return c, before, nil
}

// record audits ev, made by who (its Actor). A person acts through a
// client (an admin console): Details "via_client" names it.
func (a *Admin) record(ctx context.Context, who *provider.Principal, ev audit.Event) {
	if who != nil && who.User != nil {
		if ev.Details == nil {
			ev.Details = map[string]string{}
		}
		ev.Details["via_client"] = who.ClientID
	}
	a.audit.Record(ctx, ev)
}

// CreateClient registers a client (RegisteredBy "an administrator" unless
// spec says) and returns it with its secret, shown once.
func (a *Admin) CreateClient(ctx context.Context, who *provider.Principal, spec ClientSpec) (*storage.Client, string, error) {
	if spec.RegisteredBy == "" {
		spec.RegisteredBy = RegisteredByAdmin
	}
	if a.hasher == nil {
		return nil, "", errNoKeyring
	}
	c, plain, err := BuildClient(spec, a.hasher, a.now())
	if err != nil {
		return nil, "", err
	}
	if err := CheckOwner(ctx, a.store, c.OwnerID); err != nil {
		return nil, "", err
	}
	if err := a.checkDefaultResource(ctx, c); err != nil {
		return nil, "", err
	}
	if err := a.store.CreateClient(ctx, c); err != nil {
		return nil, "", err
	}
	a.record(ctx, who, ClientCreatedEvent(ctx, who.Actor(), c))
	a.warnWeaker(ctx, nil, c)
	return c, plain, nil
}

// warnWeaker logs a client setting that lowers a default protection when
// an operator turns it on, so that it is never an unnoticed choice (the
// audit event records the change as well).
func (a *Admin) warnWeaker(ctx context.Context, before, after *storage.Client) {
	if after.PKCEOptional && (before == nil || !before.PKCEOptional) {
		a.log.WarnContext(ctx, "client may now obtain authorization codes without PKCE (RFC 9700 §2.1.1 recommends PKCE for every client)",
			"client_id", after.ID)
	}
}

// ListClients lists a page of clients; next continues the listing.
func (a *Admin) ListClients(ctx context.Context, page storage.Page) ([]*storage.Client, string, error) {
	return ListClientsPage(ctx, a.store, page)
}

// Client returns one client.
func (a *Admin) Client(ctx context.Context, id string) (*storage.Client, error) {
	return a.store.ClientByID(ctx, id)
}

// ChangeClient changes a client's registration: change edits the spec of
// the client as it is stored (SpecFromClient), in the transaction, and the
// result is validated as at creation — the CLI's `clients update`, which
// changes only the flags given.
func (a *Admin) ChangeClient(ctx context.Context, who *provider.Principal, id string, change func(*ClientSpec)) (*storage.Client, error) {
	c, before, err := a.updateStoredClient(ctx, id, func(c *storage.Client) ClientSpec {
		spec := SpecFromClient(c)
		change(&spec)
		return spec
	})
	if err != nil {
		return nil, err
	}
	a.record(ctx, who, ClientUpdatedEvent(ctx, who.Actor(), before, c))
	a.warnWeaker(ctx, before, c)
	return c, nil
}

// UpdateClientFromRequest replaces a client's registration (secret and id
// stay) with an admin API request; a request without owner_id keeps the
// current owner.
func (a *Admin) UpdateClientFromRequest(ctx context.Context, who *provider.Principal, id string, req *AdminClientRequest) (*storage.Client, error) {
	c, before, err := a.updateStoredClient(ctx, id, func(c *storage.Client) ClientSpec {
		spec := req.Spec()
		if req.OwnerID == nil {
			spec.OwnerID = c.OwnerID
		}
		return spec
	})
	if err != nil {
		return nil, err
	}
	a.record(ctx, who, ClientUpdatedEvent(ctx, who.Actor(), before, c))
	a.warnWeaker(ctx, before, c)
	return c, nil
}

// DeleteClient removes a client with its tokens, codes and grants.
func (a *Admin) DeleteClient(ctx context.Context, who *provider.Principal, id string) error {
	if err := a.store.DeleteClient(ctx, id); err != nil {
		return err
	}
	a.record(ctx, who, ClientEvent(ctx, audit.ClientDeleted, who.Actor(), id))
	return nil
}

// RotateClientSecret replaces a confidential client's secret.
func (a *Admin) RotateClientSecret(ctx context.Context, who *provider.Principal, id string) (*storage.Client, string, error) {
	c, plain, err := a.rotateClientSecret(ctx, id)
	if err != nil {
		return nil, "", err
	}
	a.record(ctx, who, ClientEvent(ctx, audit.ClientSecretRotated, who.Actor(), id))
	return c, plain, nil
}

// CreateUser creates a user with a password (argon2id).
func (a *Admin) CreateUser(ctx context.Context, who *provider.Principal, spec UserSpec) (*storage.User, error) {
	u, err := BuildUser(spec, a.now())
	if err != nil {
		return nil, err
	}
	if err := a.store.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	a.record(ctx, who, UserCreatedEvent(ctx, who.Actor(), u))
	return u, nil
}

// ListUsers lists a page of users; next continues the listing.
func (a *Admin) ListUsers(ctx context.Context, page storage.Page) ([]*storage.User, string, error) {
	return ListUsersPage(ctx, a.store, page)
}

// User returns one user.
func (a *Admin) User(ctx context.Context, id string) (*storage.User, error) {
	return a.store.UserByID(ctx, id)
}

// UpdateUser replaces a user's e-mail, name, e-mail verification and roles.
func (a *Admin) UpdateUser(ctx context.Context, who *provider.Principal, id string, upd UserUpdate) (*storage.User, error) {
	var u, before *storage.User
	err := a.store.InTx(ctx, func(ctx context.Context) error {
		var err error
		if u, err = a.store.UserByID(ctx, id); err != nil {
			return err
		}
		old := *u
		before = &old
		if err := ApplyUserUpdate(u, upd, a.now()); err != nil {
			return err
		}
		return a.store.UpdateUser(ctx, u)
	})
	if err != nil {
		return nil, err
	}
	a.record(ctx, who, UserUpdatedEvent(ctx, who.Actor(), before, u))
	return u, nil
}

// SetUserDisabled disables (and signs out) or enables a user.
func (a *Admin) SetUserDisabled(ctx context.Context, who *provider.Principal, id string, disabled bool) (*storage.User, error) {
	u, err := a.setUserDisabled(ctx, who.Actor(), id, disabled)
	if err != nil {
		return nil, err
	}
	a.record(ctx, who, UserEvent(ctx, UserDisabledType(disabled), who.Actor(), id))
	return u, nil
}

// DeleteUser removes a user with their sessions, grants and tokens.
func (a *Admin) DeleteUser(ctx context.Context, who *provider.Principal, id string) error {
	if err := a.store.DeleteUser(ctx, id); err != nil {
		return err
	}
	a.record(ctx, who, UserEvent(ctx, audit.UserDeleted, who.Actor(), id))
	return nil
}

// SetUserPassword replaces a user's password and signs them out.
func (a *Admin) SetUserPassword(ctx context.Context, who *provider.Principal, id, password string) (*storage.User, error) {
	u, err := a.setUserPassword(ctx, who.Actor(), id, password)
	if err != nil {
		return nil, err
	}
	a.record(ctx, who, UserEvent(ctx, audit.UserPasswordSet, who.Actor(), id))
	return u, nil
}

// CreateAPIKey mints a key (CreatedBy: the principal) and returns it with
// the key itself, shown once. An unknown client is storage.ErrNotFound,
// bad input an *APIKeyInputError.
func (a *Admin) CreateAPIKey(ctx context.Context, who *provider.Principal, spec APIKeySpec) (*storage.APIKey, string, error) {
	spec.CreatedBy = who.Actor()
	return a.keys.Create(ctx, spec)
}

// APIKeys lists the keys of client clientID (storage.ErrNotFound if there
// is no such client), or every key when it is "", newest first.
func (a *Admin) APIKeys(ctx context.Context, clientID string) ([]*storage.APIKey, error) {
	if clientID == "" {
		return a.keys.List(ctx, nil)
	}
	if _, err := a.store.ClientByID(ctx, clientID); err != nil {
		return nil, err
	}
	return a.keys.List(ctx, []string{clientID})
}

// APIKey returns one key.
func (a *Admin) APIKey(ctx context.Context, id string) (*storage.APIKey, error) {
	return a.keys.Key(ctx, id)
}

// RevokeAPIKey revokes a key and every token it minted.
func (a *Admin) RevokeAPIKey(ctx context.Context, who *provider.Principal, id string) error {
	return a.keys.Revoke(ctx, id, who.Actor())
}
