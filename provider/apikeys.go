package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"

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

// ScopeAPIKeys is the scope a person's access token needs to manage the API
// keys of the clients they own (/api/apikeys).
const ScopeAPIKeys = "apikeys"

// MaxAPIKeyLifetime bounds expires_in of a new key.
const MaxAPIKeyLifetime = 10 * 365 * 24 * time.Hour

// authenticateAPIKeys wraps fosite's client authentication: a request whose
// client secret (HTTP Basic or client_secret_post) is an API key is checked
// here; everything else goes to next. Keys authenticate only
// client_credentials token requests and revocation; everywhere else a key
// is refused like a wrong secret.
func (p *Provider) authenticateAPIKeys(next fosite.ClientAuthenticationStrategy) fosite.ClientAuthenticationStrategy {
	return func(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
		clientID, presented, ok := presentedSecret(r, form)
		if !ok || !apikey.LooksLikeKey(presented) {
			return next(ctx, r, form)
		}
		usable := r.URL.Path == PathRevoke ||
			(r.URL.Path == PathToken && form.Get("grant_type") == GrantClientCredentials)
		if !usable {
			p.auditKeyFailure(ctx, r, clientID, "", "used outside client_credentials")
			return nil, fosite.ErrInvalidClient.WithHint("API keys authenticate client_credentials token requests only.")
		}
		key, err := p.apikeys.Verify(ctx, clientID, presented)
		if err != nil {
			var f *apikey.Failure
			switch {
			case errors.As(err, &f):
				p.auditKeyFailure(ctx, r, clientID, f.KeyID, f.Reason)
			case errors.Is(err, apikey.ErrInvalid):
				p.auditKeyFailure(ctx, r, clientID, "", "invalid")
			default:
				return nil, err // storage trouble: 503, not the client's fault
			}
			return nil, fosite.ErrInvalidClient
		}
		client, err := p.store.ClientByID(ctx, key.ClientID)
		if errors.Is(err, storage.ErrNotFound) {
			p.auditKeyFailure(ctx, r, clientID, key.ID, "client gone")
			return nil, fosite.ErrInvalidClient
		} else if err != nil {
			return nil, err
		}
		// The client's copy, narrowed to what the key may do: fosite checks
		// requested scopes against it (invalid_scope beyond the key's).
		cp := *client
		cp.Scopes = intersect(key.Scopes, client.Scopes)
		cp.APIKeyID = key.ID
		return &cp, nil
	}
}

// presentedSecret extracts the client credentials the way fosite does:
// HTTP Basic (URL-decoded) or client_id/client_secret in the body.
func presentedSecret(r *http.Request, form url.Values) (clientID, secret string, ok bool) {
	if id, sec, basic := r.BasicAuth(); basic {
		id, err1 := url.QueryUnescape(id)
		sec, err2 := url.QueryUnescape(sec)
		if err1 != nil || err2 != nil {
			return "", "", false
		}
		return id, sec, true
	}
	if sec := form.Get("client_secret"); sec != "" {
		return form.Get("client_id"), sec, true
	}
	return "", "", false
}

func intersect(a, b []string) []string {
	out := []string{}
	for _, s := range a {
		if slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

func (p *Provider) auditKeyFailure(ctx context.Context, r *http.Request, clientID, keyID, reason string) {
	details := map[string]string{"reason": reason, "endpoint": r.URL.Path}
	if keyID != "" {
		details["key_id"] = keyID
	}
	p.audit.Record(ctx, audit.Event{
		Type: audit.APIKeyUseFailed, Actor: "anonymous", Subject: keyID, ClientID: truncateID(clientID),
		IP: requestIP(ctx), Details: details,
	})
}

// truncateID bounds attacker-chosen identifiers before they are logged.
func truncateID(s string) string {
	if len(s) > 100 {
		return s[:100]
	}
	return s
}

type requestIPKey struct{}

// WithRequestIP records the client IP of the HTTP request ctx belongs to,
// for audit events.
func WithRequestIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, requestIPKey{}, ip)
}

func requestIP(ctx context.Context) string {
	ip, _ := ctx.Value(requestIPKey{}).(string)
	return ip
}

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
}

// ErrAPIKeyInput wraps invalid API key specs (a 400 for the caller).
var ErrAPIKeyInput = errors.New("invalid API key")

// CreateAPIKey mints a key for a confidential client and returns the key
// row and the key itself, which is never shown again.
func (p *Provider) CreateAPIKey(ctx context.Context, spec APIKeySpec) (*storage.APIKey, string, error) {
	name := strings.TrimSpace(spec.Name)
	if name == "" || len(name) > 100 {
		return nil, "", fmt.Errorf("%w: name: required, at most 100 characters", ErrAPIKeyInput)
	}
	if spec.ExpiresIn < 0 || spec.ExpiresIn > MaxAPIKeyLifetime {
		return nil, "", fmt.Errorf("%w: expires_in: must be between 0 (never) and %s", ErrAPIKeyInput, MaxAPIKeyLifetime)
	}
	client, err := p.store.ClientByID(ctx, spec.ClientID)
	if err != nil {
		return nil, "", err
	}
	if client.Public {
		return nil, "", fmt.Errorf("%w: client_id: a public client cannot have API keys", ErrAPIKeyInput)
	}
	if !slices.Contains(client.GrantTypes, GrantClientCredentials) {
		return nil, "", fmt.Errorf("%w: client_id: the client does not use client_credentials", ErrAPIKeyInput)
	}
	scopes := dedupe(spec.Scopes)
	if len(scopes) == 0 {
		scopes = slices.Clone(client.Scopes)
	}
	for _, s := range scopes {
		if !slices.Contains(client.Scopes, s) {
			return nil, "", fmt.Errorf("%w: scope: %q is not one of the client's scopes", ErrAPIKeyInput, s)
		}
	}
	key, id, secretPart, err := apikey.Mint()
	if err != nil {
		return nil, "", err
	}
	now := p.now().UTC()
	k := &storage.APIKey{
		ID: id, ClientID: client.ID, Name: name, Scopes: nonNil(scopes),
		SecretHash: p.apikeys.Hash(secretPart), CreatedBy: spec.CreatedBy, CreatedAt: now,
	}
	if spec.ExpiresIn > 0 {
		k.ExpiresAt = now.Add(spec.ExpiresIn)
	}
	if err := p.store.CreateAPIKey(ctx, k); err != nil {
		return nil, "", err
	}
	p.audit.Record(ctx, audit.Event{
		Type: audit.APIKeyCreated, Actor: spec.CreatedBy, Subject: k.ID, ClientID: k.ClientID, IP: requestIP(ctx),
		Details: map[string]string{"name": k.Name, "scope": strings.Join(k.Scopes, " ")},
	})
	return k, key, nil
}

// RevokeAPIKey revokes a key and every access token it minted, at once.
func (p *Provider) RevokeAPIKey(ctx context.Context, id, actor string) error {
	k, err := p.store.APIKey(ctx, id)
	if err != nil {
		return err
	}
	if err := p.store.RevokeAPIKey(ctx, id, p.now()); err != nil {
		return err
	}
	p.apikeys.Invalidate(id)
	p.audit.Record(ctx, audit.Event{
		Type: audit.APIKeyRevoked, Actor: actor, Subject: id, ClientID: k.ClientID, IP: requestIP(ctx),
	})
	return nil
}

// APIKey returns one key (storage.ErrNotFound if unknown).
func (p *Provider) APIKey(ctx context.Context, id string) (*storage.APIKey, error) {
	if !apikey.ValidID(id) {
		return nil, storage.ErrNotFound
	}
	return p.store.APIKey(ctx, id)
}

// APIKeys lists the keys of the given clients (all keys when none given).
func (p *Provider) APIKeys(ctx context.Context, clientIDs []string) ([]*storage.APIKey, error) {
	return p.store.ListAPIKeys(ctx, clientIDs)
}

// OwnedClients lists the clients a user owns.
func (p *Provider) OwnedClients(ctx context.Context, userID string) ([]*storage.Client, error) {
	return p.store.ListClientsByOwner(ctx, userID)
}

// APIKeyIntrospection is what introspecting an API key says (RFC 7662).
type APIKeyIntrospection struct {
	Active    bool   `json:"active"`
	ClientID  string `json:"client_id,omitempty"`
	Scope     string `json:"scope,omitempty"`
	Exp       int64  `json:"exp,omitempty"`
	Iat       int64  `json:"iat,omitempty"`
	TokenType string `json:"token_type,omitempty"`
}

// IntrospectAPIKey reports whether key is a usable API key, so a resource
// server can accept keys directly. Any failure is simply inactive.
func (p *Provider) IntrospectAPIKey(ctx context.Context, key string) (*APIKeyIntrospection, error) {
	k, err := p.apikeys.Verify(ctx, "", key)
	if err != nil {
		if errors.Is(err, apikey.ErrInvalid) || errors.Is(err, apikey.ErrMalformed) {
			return &APIKeyIntrospection{Active: false}, nil
		}
		return nil, err
	}
	out := &APIKeyIntrospection{
		Active: true, ClientID: k.ClientID, Scope: strings.Join(k.Scopes, " "),
		Iat: k.CreatedAt.Unix(), TokenType: "api_key",
	}
	if !k.ExpiresAt.IsZero() {
		out.Exp = k.ExpiresAt.Unix()
	}
	return out, nil
}

// AuthenticateClient authenticates the client of a request as the token
// endpoint would (secret, assertion, or API key).
func (p *Provider) AuthenticateClient(ctx context.Context, r *http.Request) (fosite.Client, error) {
	if err := r.ParseMultipartForm(1 << 20); err != nil && err != http.ErrNotMultipart {
		return nil, fosite.ErrInvalidRequest.WithHint("The request body could not be parsed.")
	}
	return p.fosite.AuthenticateClient(ctx, r, r.PostForm)
}
