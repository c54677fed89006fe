package storage

import (
	"context"
	"time"
)

// Resource is a protected resource (RFC 8707 §2: an API, an MCP server)
// that clients request tokens for with the resource parameter. Its
// identifier becomes the audience of those tokens (RFC 9068 §3), and its
// settings decide how they look.
type Resource struct {
	// ID is the resource indicator: an absolute URI without a fragment
	// (RFC 8707 §2), compared exactly.
	ID   string
	Name string
	// Scopes are the scopes the resource understands; a token for it
	// carries no others (but the OpenID Connect scopes, which are for the
	// authorization server).
	Scopes []string
	// AccessTokenFormat is "jwt" (RFC 9068), "opaque" or "" (the client's,
	// else the server's default).
	AccessTokenFormat string
	// AccessTokenLifetime is the lifetime of access tokens for the
	// resource; 0 follows the server's.
	AccessTokenLifetime time.Duration
	// SigningAlg is the JWS algorithm of its JWT access tokens; "" follows
	// the server's.
	SigningAlg string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// ResourceStore manages protected resources.
type ResourceStore interface {
	// CreateResource returns ErrConflict when the ID is taken; CreatedAt
	// and UpdatedAt are set to now when zero.
	CreateResource(ctx context.Context, r *Resource) error
	// ResourceByID returns ErrNotFound for an unknown ID. It is on the
	// token path, so a backend serves it from memory.
	ResourceByID(ctx context.Context, id string) (*Resource, error)
	// ListResources lists every resource, ordered by ID.
	ListResources(ctx context.Context) ([]*Resource, error)
	// UpdateResource replaces every field but ID and CreatedAt (UpdatedAt
	// = now); ErrNotFound for an unknown ID.
	UpdateResource(ctx context.Context, r *Resource) error
	// DeleteResource returns ErrNotFound for an unknown ID. Tokens already
	// issued for it stay valid until they expire.
	DeleteResource(ctx context.Context, id string) error
}
