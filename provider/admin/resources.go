package admin

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/reqctx"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/provider/keys"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// Bounds on a resource's access token lifetime: long enough for a batch
// job, short enough that a leaked token (a bearer token a resource server
// cannot recall without introspection) does not live for days.
const (
	MinResourceTokenLifetime = 10 * time.Second
	MaxResourceTokenLifetime = 24 * time.Hour
)

// MaxResources bounds the registered resources: every instance holds them
// all in memory for the token path, and reads them whole when they change.
const MaxResources = 1000

// ResourceSpec describes a protected resource as an operator registers it
// (CLI, admin API).
type ResourceSpec struct {
	// ID is the resource indicator: an absolute URI without a fragment
	// (RFC 8707 §2), the audience of the tokens for it.
	ID     string
	Name   string
	Scopes []string
	// AccessTokenFormat is "jwt", "opaque" or "" (the client's, else the
	// server's default).
	AccessTokenFormat string
	// AccessTokenLifetime is 0 (the server's) or between
	// MinResourceTokenLifetime and MaxResourceTokenLifetime.
	AccessTokenLifetime time.Duration
	// SigningAlg is "" (the server's) or one of keys.Algorithms.
	SigningAlg string
}

// checkResourceSpec validates spec and returns the resource it describes
// (without times), or every problem at once. Field names are the admin
// API's (ResourceView).
func checkResourceSpec(spec ResourceSpec) (*storage.Resource, error) {
	ve := &ValidationError{}
	id := strings.TrimSpace(spec.ID)
	switch {
	case id == "":
		ve.Add("resource", "is required: the resource indicator, an absolute URI such as https://api.example.com")
	case id != spec.ID:
		ve.Add("resource", "%q has leading or trailing spaces", clip(spec.ID))
	default:
		if err := checkResourceIndicator(id); err != nil {
			ve.Add("resource", "%v", err)
		}
	}
	name := strings.TrimSpace(spec.Name)
	if len(name) > MaxClientNameLen || !printable(name) {
		ve.Add("resource_name", "at most %d printable characters", MaxClientNameLen)
	}
	scopes := dedupe(spec.Scopes)
	if len(scopes) > MaxClientScopes {
		ve.Add("scopes_supported", "at most %d scopes", MaxClientScopes)
	} else {
		for _, s := range scopes {
			if !validScopeToken(s) {
				ve.Add("scopes_supported", "%q is not a valid scope (RFC 6749 §3.3: no spaces, quotes or backslashes)", clip(s))
			}
		}
	}
	if f := spec.AccessTokenFormat; f != "" && f != provider.FormatJWT && f != provider.FormatOpaque {
		ve.Add("access_token_format", "%q is not supported (jwt, opaque, or empty for the default)", clip(f))
	}
	if l := spec.AccessTokenLifetime; l != 0 && (l < MinResourceTokenLifetime || l > MaxResourceTokenLifetime) {
		ve.Add("access_token_lifetime", "must be 0 (the server's) or between %s and %s, got %s", MinResourceTokenLifetime, MaxResourceTokenLifetime, l)
	} else if l%time.Second != 0 {
		ve.Add("access_token_lifetime", "must be whole seconds, got %s", l)
	}
	switch alg := spec.SigningAlg; {
	case alg == "":
	case !slices.Contains(keys.Algorithms, alg):
		ve.Add("access_token_signing_alg", "%q is not supported (%s)", clip(alg), strings.Join(keys.Algorithms, ", "))
	case spec.AccessTokenFormat == provider.FormatOpaque:
		ve.Add("access_token_signing_alg", "applies to JWT access tokens only; this resource's tokens are opaque")
	}
	if err := ve.err(); err != nil {
		return nil, err
	}
	return &storage.Resource{
		ID: id, Name: name, Scopes: nonNil(scopes),
		AccessTokenFormat: spec.AccessTokenFormat, AccessTokenLifetime: spec.AccessTokenLifetime, SigningAlg: spec.SigningAlg,
	}, nil
}

// ResourceSpecOf describes a stored resource as the spec that would make
// it, so an update can change some fields and keep the rest.
func ResourceSpecOf(r *storage.Resource) ResourceSpec {
	return ResourceSpec{
		ID: r.ID, Name: r.Name, Scopes: slices.Clone(r.Scopes),
		AccessTokenFormat: r.AccessTokenFormat, AccessTokenLifetime: r.AccessTokenLifetime, SigningAlg: r.SigningAlg,
	}
}

// ResourceView is a resource as the admin API and the CLI show it, with
// RFC 9728's names where it has them (resource, resource_name,
// scopes_supported). access_token_lifetime is in seconds (0: the
// server's); times are Unix seconds.
type ResourceView struct {
	Resource              string   `json:"resource"`
	ResourceName          string   `json:"resource_name"`
	ScopesSupported       []string `json:"scopes_supported"`
	AccessTokenFormat     string   `json:"access_token_format"`
	AccessTokenLifetime   int64    `json:"access_token_lifetime"`
	AccessTokenSigningAlg string   `json:"access_token_signing_alg"`
	CreatedAt             int64    `json:"created_at"`
	UpdatedAt             int64    `json:"updated_at"`
}

// ResourceViewOf describes r.
func ResourceViewOf(r *storage.Resource) ResourceView {
	return ResourceView{
		Resource: r.ID, ResourceName: r.Name, ScopesSupported: nonNil(r.Scopes),
		AccessTokenFormat: r.AccessTokenFormat, AccessTokenLifetime: int64(r.AccessTokenLifetime / time.Second),
		AccessTokenSigningAlg: r.SigningAlg, CreatedAt: r.CreatedAt.Unix(), UpdatedAt: r.UpdatedAt.Unix(),
	}
}

// ResourceRequest is a resource as the admin API takes it (ResourceView's
// names, without the times). In an update, resource may be left out; if
// given it must be the resource's own.
type ResourceRequest struct {
	Resource              string   `json:"resource"`
	ResourceName          string   `json:"resource_name"`
	ScopesSupported       []string `json:"scopes_supported"`
	AccessTokenFormat     string   `json:"access_token_format"`
	AccessTokenLifetime   int64    `json:"access_token_lifetime"`
	AccessTokenSigningAlg string   `json:"access_token_signing_alg"`
}

// Spec is the ResourceSpec the request describes.
func (r *ResourceRequest) Spec() ResourceSpec {
	// Clamped so that a huge number cannot overflow into a valid one.
	secs := min(max(r.AccessTokenLifetime, -1), int64(MaxResourceTokenLifetime/time.Second)+1)
	return ResourceSpec{
		ID: r.Resource, Name: r.ResourceName, Scopes: r.ScopesSupported,
		AccessTokenFormat: r.AccessTokenFormat, AccessTokenLifetime: time.Duration(secs) * time.Second,
		SigningAlg: r.AccessTokenSigningAlg,
	}
}

// ResourceEvent is the audit event of a change of type typ (one of
// audit.Resource*) to resource id by actor.
func ResourceEvent(ctx context.Context, typ, actor, id string) audit.Event {
	return audit.Event{Type: typ, Actor: actor, Subject: audit.ResourceSubject(id), IP: reqctx.ClientIP(ctx)}
}

// CreateResource registers a protected resource. storage.ErrConflict when
// one with its identifier exists. Every instance's token endpoint sees it
// within the client check interval (the store's cache).
func (a *Admin) CreateResource(ctx context.Context, who *provider.Principal, spec ResourceSpec) (*storage.Resource, error) {
	r, err := checkResourceSpec(spec)
	if err != nil {
		return nil, err
	}
	existing, err := a.store.ListResources(ctx)
	if err != nil {
		return nil, err
	}
	if len(existing) >= MaxResources {
		return nil, invalid("resource", "at most %d resources can be registered; delete one first", MaxResources)
	}
	now := a.now().UTC()
	r.CreatedAt, r.UpdatedAt = now, now
	if err := a.store.CreateResource(ctx, r); err != nil {
		return nil, err
	}
	ev := ResourceEvent(ctx, audit.ResourceCreated, who.Actor(), r.ID)
	ev.Details = map[string]string{"name": r.Name, "scope": strings.Join(r.Scopes, " ")}
	a.record(ctx, who, ev)
	return r, nil
}

// Resources lists every registered resource by identifier.
func (a *Admin) Resources(ctx context.Context) ([]*storage.Resource, error) {
	return a.store.ListResources(ctx)
}

// Resource returns one resource (storage.ErrNotFound if unknown).
func (a *Admin) Resource(ctx context.Context, id string) (*storage.Resource, error) {
	return a.store.ResourceByID(ctx, id)
}

// ChangeResource changes a resource: change edits the spec of the
// resource as stored (ResourceSpecOf), in a transaction, and the result is
// validated as at creation. The identifier cannot change: tokens name it.
func (a *Admin) ChangeResource(ctx context.Context, who *provider.Principal, id string, change func(*ResourceSpec)) (*storage.Resource, error) {
	var before, after *storage.Resource
	err := a.store.InTx(ctx, func(ctx context.Context) error {
		var err error
		if before, err = a.store.ResourceByID(ctx, id); err != nil {
			return err
		}
		spec := ResourceSpecOf(before)
		change(&spec)
		if spec.ID != before.ID {
			return invalid("resource", "the identifier of a resource cannot change (tokens name it); register a new resource")
		}
		if after, err = checkResourceSpec(spec); err != nil {
			return err
		}
		after.CreatedAt = before.CreatedAt
		return a.store.UpdateResource(ctx, after)
	})
	if err != nil {
		return nil, err
	}
	ev := ResourceEvent(ctx, audit.ResourceUpdated, who.Actor(), id)
	ev.Details = map[string]string{"changed": strings.Join(changedFields(ResourceViewOf(before), ResourceViewOf(after)), " ")}
	a.record(ctx, who, ev)
	return after, nil
}

// DeleteResource removes a resource. Tokens issued for it stay valid until
// they expire; new requests naming it get invalid_target, unless a
// client's audience lists it (as before resources were registered).
func (a *Admin) DeleteResource(ctx context.Context, who *provider.Principal, id string) error {
	if err := a.store.DeleteResource(ctx, id); err != nil {
		return err
	}
	a.record(ctx, who, ResourceEvent(ctx, audit.ResourceDeleted, who.Actor(), id))
	return nil
}

// checkDefaultResource refuses a client whose default resource it could
// never get a token for: one neither registered nor in its audience.
func (a *Admin) checkDefaultResource(ctx context.Context, c *storage.Client) error {
	if c.DefaultResource == "" || slices.Contains(c.Audience, c.DefaultResource) {
		return nil
	}
	_, err := a.store.ResourceByID(ctx, c.DefaultResource)
	if errors.Is(err, storage.ErrNotFound) {
		return invalid("default_resource", "%q is not a registered resource (gatehouse resources create) nor in the client's audience", clip(c.DefaultResource))
	}
	return err
}
