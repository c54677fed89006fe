package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/reqctx"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/apikey"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// API keys are extra, independently revocable secrets of a confidential
// client. Wherever the token endpoint takes the client's secret for
// client_credentials, a key works too, and the token it mints is limited to
// the key's scopes and remembers the key (so revoking the key revokes the
// token). This file holds the client authentication hook and the key
// management use cases shared by the CLI, the admin API and self-service.

// MaxAPIKeyLifetime bounds expires_in of a new key.
const MaxAPIKeyLifetime = 10 * 365 * 24 * time.Hour

// APIKeySpec describes a new API key.
type APIKeySpec struct {
	ClientID string
	Name     string
	// Scopes must be a subset of the client's; empty means all of them.
	Scopes []string
	// ExpiresIn is the key's lifetime; 0 means it does not expire.
	ExpiresIn time.Duration
	// CreatedBy is who asks ("user:<id>", "client:<id>", "operator").
	CreatedBy string
	// Via is the app acting for the person of CreatedBy (self-service
	// with a delegated token): the client and the grant (request id) of
	// its token. Recorded with the key and in the audit trail, so that
	// what an app did for someone can be found and undone.
	Via *provider.Delegation
}

// ErrAPIKeyInput wraps invalid API key specs (a 400 for the caller).
var ErrAPIKeyInput = errors.New("invalid API key")

// APIKeyInputError is an invalid API key spec: which field (name, scope,
// expires_in, client_id) and what is wrong with it. It matches
// ErrAPIKeyInput.
type APIKeyInputError struct {
	Field   string
	Message string
}

func (e *APIKeyInputError) Error() string {
	return ErrAPIKeyInput.Error() + ": " + e.Field + ": " + e.Message
}

// Is makes errors.Is(err, ErrAPIKeyInput) hold.
func (e *APIKeyInputError) Is(target error) bool { return target == ErrAPIKeyInput }

func apiKeyInput(field, format string, args ...any) error {
	return &APIKeyInputError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// keyManager holds the key management use cases (create, revoke, read)
// that the admin API, the CLI, self-service and the account pages share.
type keyManager struct {
	store    Store
	verifier *apikey.Verifier
	audit    *audit.Recorder
	now      func() time.Time
}

// Create mints a key for a confidential client that uses
// client_credentials and returns the key row and the key itself, which is
// never shown again. Bad input is an *APIKeyInputError; an unknown client
// storage.ErrNotFound.
func (m *keyManager) Create(ctx context.Context, spec APIKeySpec) (*storage.APIKey, string, error) {
	if m.verifier == nil {
		return nil, "", errNoKeyring
	}
	name := strings.TrimSpace(spec.Name)
	if name == "" || len(name) > 100 {
		return nil, "", apiKeyInput("name", "required, at most 100 characters")
	}
	if !printable(name) {
		return nil, "", apiKeyInput("name", "must be valid UTF-8 without control characters")
	}
	if spec.ExpiresIn < 0 || spec.ExpiresIn > MaxAPIKeyLifetime {
		return nil, "", apiKeyInput("expires_in", "must be between 0 (never) and %s", MaxAPIKeyLifetime)
	}
	client, err := m.store.ClientByID(ctx, spec.ClientID)
	if err != nil {
		return nil, "", err
	}
	if client.Public {
		return nil, "", apiKeyInput("client_id", "a public client cannot have API keys")
	}
	if !slices.Contains(client.GrantTypes, provider.GrantClientCredentials) {
		return nil, "", apiKeyInput("client_id", "the client does not use client_credentials")
	}
	// A client that is not first-party lists no management scope as far
	// as its keys go (provider.TrustedScopes), whatever its row says.
	allowed := provider.TrustedScopes(client).Scopes
	scopes := dedupe(spec.Scopes)
	if len(scopes) == 0 {
		scopes = slices.Clone(allowed)
	}
	for _, s := range scopes {
		if !slices.Contains(allowed, s) {
			return nil, "", apiKeyInput("scope", "%q is not one of the client's scopes", clip(s))
		}
	}
	key, id, secretPart, err := apikey.Mint()
	if err != nil {
		return nil, "", err
	}
	now := m.now().UTC()
	k := &storage.APIKey{
		ID: id, ClientID: client.ID, Name: name, Scopes: nonNil(scopes),
		SecretHash: m.verifier.Hash(secretPart), CreatedBy: spec.CreatedBy, CreatedAt: now,
	}
	if spec.Via != nil {
		k.CreatedVia = spec.Via.ClientID
	}
	if spec.ExpiresIn > 0 {
		k.ExpiresAt = now.Add(spec.ExpiresIn)
	}
	if err := m.store.CreateAPIKey(ctx, k); err != nil {
		return nil, "", err
	}
	details := map[string]string{"name": k.Name, "scope": strings.Join(k.Scopes, " ")}
	if spec.Via != nil {
		// The app that acted for the person, and with which grant: the
		// event's ClientID stays the key's client.
		details["via_client_id"] = spec.Via.ClientID
		details["via_grant_id"] = spec.Via.GrantID
	}
	m.audit.Record(ctx, audit.Event{
		Type: audit.APIKeyCreated, Actor: spec.CreatedBy, Subject: k.ID, ClientID: k.ClientID, IP: reqctx.ClientIP(ctx),
		Details: details,
	})
	return k, key, nil
}

// Revoke revokes a key and every access token it minted, at once
// (storage.ErrNotFound for an unknown id). Revoking a revoked key keeps
// its first revocation time.
func (m *keyManager) Revoke(ctx context.Context, id, actor string) error {
	k, err := m.Key(ctx, id)
	if err != nil {
		return err
	}
	if err := m.store.RevokeAPIKey(ctx, id, m.now()); err != nil {
		return err
	}
	if m.verifier != nil {
		m.verifier.Invalidate(id)
	}
	m.audit.Record(ctx, audit.Event{
		Type: audit.APIKeyRevoked, Actor: actor, Subject: id, ClientID: k.ClientID, IP: reqctx.ClientIP(ctx),
	})
	return nil
}

// Key returns one key (storage.ErrNotFound if unknown).
func (m *keyManager) Key(ctx context.Context, id string) (*storage.APIKey, error) {
	if !apikey.ValidID(id) {
		return nil, storage.ErrNotFound
	}
	return m.store.APIKey(ctx, id)
}

// List lists the keys of the given clients (all keys when none given),
// newest first.
func (m *keyManager) List(ctx context.Context, clientIDs []string) ([]*storage.APIKey, error) {
	return m.store.ListAPIKeys(ctx, clientIDs)
}

// APIKeyView is an API key as the CLI, the admin API and self-service
// show it: never its hash, and the key itself only when just created.
// Times are UTC; expires_at, last_used_at and revoked_at are null when the
// key never expires, was never used, is not revoked.
type APIKeyView struct {
	ID         string     `json:"id"`
	Key        string     `json:"key,omitempty"`
	ClientID   string     `json:"client_id"`
	Name       string     `json:"name"`
	Scopes     []string   `json:"scopes"`
	State      string     `json:"state"`
	CreatedBy  string     `json:"created_by"`
	CreatedVia string     `json:"created_via,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

// APIKeyViewOf describes k; plain is the key when it was just created,
// else "".
func APIKeyViewOf(k *storage.APIKey, plain string, now time.Time) APIKeyView {
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		u := t.UTC()
		return &u
	}
	return APIKeyView{
		ID: k.ID, Key: plain, ClientID: k.ClientID, Name: k.Name, Scopes: nonNil(k.Scopes),
		State: apikey.State(k, now), CreatedBy: k.CreatedBy, CreatedVia: k.CreatedVia, CreatedAt: k.CreatedAt.UTC(),
		ExpiresAt: opt(k.ExpiresAt), LastUsedAt: opt(k.LastUsedAt), RevokedAt: opt(k.RevokedAt),
	}
}

// Self-service: people manage the API keys of the clients they own with
// an access token carrying provider.ScopeAPIKeys, at /api/apikeys; and the account
// pages list and revoke the keys of the clients they own. Self-service
// never covers a client allowed a management scope: a credential that can
// reach the admin API is made by an administrator (CLI, admin API) only,
// never through a token some app holds for a person — not even an admin's
// (docs/security.md).

// ErrNotClientManager (403): the person may not manage the keys of this
// client: they do not own it, or it is allowed a management scope (an
// administrator manages those).
var ErrNotClientManager = errors.New("apikeys: only the client's owner may manage its API keys, and never those of a client allowed a management scope")

// AuthorizeKeyManager decides whether cred (an access token) may use the
// self-service key API (AuthorizeBearer with provider.ScopeAPIKeys), and returns the
// person it acts for and the app acting. A client's own token
// (client_credentials, including one minted with an API key) is refused:
// keys belong to people's clients. Failures wrap provider.ErrBearerUnauthorized or
// provider.ErrBearerForbidden.
func (a *Admin) AuthorizeKeyManager(ctx context.Context, cred provider.Credential) (*provider.Principal, error) {
	if a.bearer == nil {
		return nil, fmt.Errorf("%w: no bearer APIs here", provider.ErrBearerUnauthorized)
	}
	who, err := a.bearer.AuthorizeBearer(ctx, cred, provider.ScopeAPIKeys)
	if err != nil {
		return nil, err
	}
	if who.User == nil {
		return nil, fmt.Errorf("%w: the token was issued to client %s itself, not to a person", provider.ErrBearerForbidden, who.ClientID)
	}
	return who, nil
}

// CanManageClient reports whether u may manage the API keys of c for
// themselves: u owns c, and c is allowed no management scope. Roles do
// not count: an admin manages other clients' keys through the admin API
// or the CLI, where no app acts for them.
func CanManageClient(u *storage.User, c *storage.Client) bool {
	if u == nil || c == nil || u.Disabled {
		return false
	}
	return c.OwnerID != "" && c.OwnerID == u.ID && len(provider.ManagementScopes(c.Scopes)) == 0
}

// SelfServiceKeys is the key management a person may do for themselves,
// through an app; AuthorizeKeyManager let them in. Errors:
// storage.ErrNotFound (an unknown client or key, and also a key of a
// client the person may not manage, so that its existence is not
// revealed), ErrNotClientManager (a client the person may not manage,
// named by its id), *APIKeyInputError, or storage failures.
type SelfServiceKeys struct {
	m   *keyManager
	a   *Admin
	who *provider.Principal
}

// SelfServiceKeys returns the key management of who, a person acting
// through an app (AuthorizeKeyManager).
func (a *Admin) SelfServiceKeys(who *provider.Principal) *SelfServiceKeys {
	return &SelfServiceKeys{m: a.keys, a: a, who: who}
}

// client returns the client id if the person may manage its keys.
func (s *SelfServiceKeys) client(ctx context.Context, id string) (*storage.Client, error) {
	c, err := s.a.store.ClientByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if !CanManageClient(s.who.User, c) {
		return nil, fmt.Errorf("%w (user %s, client %s)", ErrNotClientManager, s.who.User.ID, c.ID)
	}
	return c, nil
}

// managedClients lists the clients whose keys the person may manage.
func (s *SelfServiceKeys) managedClients(ctx context.Context) ([]string, error) {
	owned, err := s.a.store.ListClientsByOwner(ctx, s.who.User.ID)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, c := range owned {
		if CanManageClient(s.who.User, c) {
			ids = append(ids, c.ID)
		}
	}
	return ids, nil
}

// List lists the keys of client clientID or, when it is "", of every
// client the person may manage, newest first.
func (s *SelfServiceKeys) List(ctx context.Context, clientID string) ([]*storage.APIKey, error) {
	if clientID != "" {
		if _, err := s.client(ctx, clientID); err != nil {
			return nil, err
		}
		return s.m.List(ctx, []string{clientID})
	}
	ids, err := s.managedClients(ctx)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		// List with no client ids would list every key.
		return []*storage.APIKey{}, nil
	}
	return s.m.List(ctx, ids)
}

// Get returns one key of a client the person may manage.
func (s *SelfServiceKeys) Get(ctx context.Context, id string) (*storage.APIKey, error) {
	k, err := s.m.Key(ctx, id)
	if err != nil {
		return nil, err
	}
	if _, err := s.client(ctx, k.ClientID); errors.Is(err, ErrNotClientManager) {
		return nil, fmt.Errorf("api key %s of a client user %s may not manage: %w", id, s.who.User.ID, storage.ErrNotFound)
	} else if err != nil {
		return nil, err
	}
	return k, nil
}

// Create mints a key for a client the person may manage; CreatedBy is
// the person and the key records the app that acted (Via).
func (s *SelfServiceKeys) Create(ctx context.Context, spec APIKeySpec) (*storage.APIKey, string, error) {
	if _, err := s.client(ctx, spec.ClientID); err != nil {
		return nil, "", err
	}
	spec.CreatedBy = provider.UserActor(s.who.User)
	via := s.who.Delegation()
	spec.Via = &via
	return s.m.Create(ctx, spec)
}

// Revoke revokes a key of a client the person may manage.
func (s *SelfServiceKeys) Revoke(ctx context.Context, id string) error {
	if _, err := s.Get(ctx, id); err != nil {
		return err
	}
	return s.m.Revoke(ctx, id, provider.UserActor(s.who.User))
}

// OwnedClients lists the clients a person owns.
func (a *Admin) OwnedClients(ctx context.Context, userID string) ([]*storage.Client, error) {
	return a.store.ListClientsByOwner(ctx, userID)
}

// OwnedAPIKey is a key of a client a person owns, with its client.
type OwnedAPIKey struct {
	Key    *storage.APIKey
	Client *storage.Client
}

// OwnedAPIKeys lists the keys of the clients userID owns and may manage
// (CanManageClient), newest first (the account pages: ownership only,
// whatever the person's roles).
func (a *Admin) OwnedAPIKeys(ctx context.Context, userID string) ([]OwnedAPIKey, error) {
	owned, err := a.store.ListClientsByOwner(ctx, userID)
	if err != nil || len(owned) == 0 {
		return nil, err
	}
	byID := make(map[string]*storage.Client, len(owned))
	ids := make([]string, 0, len(owned))
	for _, c := range owned {
		if len(provider.ManagementScopes(c.Scopes)) > 0 {
			continue
		}
		byID[c.ID] = c
		ids = append(ids, c.ID)
	}
	if len(ids) == 0 {
		// APIKeys with no client ids would list every key.
		return nil, nil
	}
	keys, err := a.keys.List(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]OwnedAPIKey, 0, len(keys))
	for _, k := range keys {
		if c, ok := byID[k.ClientID]; ok {
			out = append(out, OwnedAPIKey{Key: k, Client: c})
		}
	}
	return out, nil
}

// RevokeOwnedAPIKey revokes key id if it belongs to a client userID owns
// and may manage (CanManageClient); storage.ErrNotFound otherwise
// (unknown, someone else's, or of a client allowed a management scope).
// It returns the key as it was.
func (a *Admin) RevokeOwnedAPIKey(ctx context.Context, userID, id string) (*storage.APIKey, error) {
	m := a.keys
	k, err := m.Key(ctx, id)
	if err != nil {
		return nil, err
	}
	c, err := a.store.ClientByID(ctx, k.ClientID)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && (userID == "" || c.OwnerID != userID || len(provider.ManagementScopes(c.Scopes)) > 0)) {
		return nil, fmt.Errorf("api key %s is not of a client user %s owns: %w", id, userID, storage.ErrNotFound)
	} else if err != nil {
		return nil, err
	}
	if err := m.Revoke(ctx, id, "user:"+userID); err != nil {
		return nil, err
	}
	return k, nil
}
