package provider

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// Resource indicators (RFC 8707) and audience-bound tokens (RFC 9068 §3,
// MCP authorization "Token Audience Binding").
//
// A request names the resource it wants a token for with the resource
// parameter, at the authorization endpoint and at the token endpoint. A
// resource is accepted when it is registered (storage.Resource) or, for
// clients set up before resources were registered, listed in the client's
// audience; a client whose audience list is not empty may use only the
// resources it lists. The access token's audience is then exactly that
// resource, and a registered resource's settings (format, lifetime,
// signing algorithm) shape it. Registered resources are read from the
// store's in-memory set, so the token path makes no query for them.

// resourceReader finds registered resources; the store serves them from
// memory (storage.ResourceStore).
type resourceReader interface {
	ResourceByID(ctx context.Context, id string) (*storage.Resource, error)
}

// maxResources bounds the resource parameters of one authorization
// request.
const maxResources = 10

// maxResourceLen bounds one resource indicator.
const maxResourceLen = 2000

// target is a resource a request names that its client may use: a
// registered one (res set), or one only the client's audience lists (res
// nil: the client's and server's settings apply, and no scope check).
type target struct {
	id  string
	res *storage.Resource
}

// tokenResource is what the token for t needs to know of it.
func (t target) tokenResource() *TokenResource {
	tr := &TokenResource{ID: t.id}
	if t.res != nil {
		tr.Format, tr.Lifetime, tr.Alg = t.res.AccessTokenFormat, t.res.AccessTokenLifetime, t.res.SigningAlg
	}
	return tr
}

// ValidResourceIndicator reports whether v is a well-formed resource
// indicator: an absolute URI without a fragment (RFC 8707 §2), of bounded
// length.
func ValidResourceIndicator(v string) bool {
	if v == "" || len(v) > maxResourceLen || strings.Contains(v, "#") {
		return false
	}
	u, err := url.Parse(v)
	return err == nil && u.IsAbs()
}

// requestedTargets validates the resource parameters of form for client
// and returns them, each once; when the request names none, the client's
// default resource (storage.Client.DefaultResource: MCP clients that
// predate resource indicators send none). Errors are ErrInvalidTarget, or
// a storage failure as it is.
func (p *Provider) requestedTargets(ctx context.Context, form url.Values, client fosite.Client) ([]target, error) {
	values := form["resource"]
	if len(values) > maxResources {
		return nil, ErrInvalidTarget.WithHintf("At most %d resource parameters.", maxResources)
	}
	if len(values) == 0 {
		sc, ok := StorageClient(client)
		if !ok || sc.DefaultResource == "" {
			return nil, nil
		}
		t, err := p.resolveTarget(ctx, sc.DefaultResource, client)
		if errors.Is(err, ErrInvalidTarget) {
			// The request named nothing: say what was used.
			return nil, ErrInvalidTarget.WithHintf("The client's default resource %q is no longer registered; name a resource.", sc.DefaultResource)
		}
		if err != nil {
			return nil, err
		}
		return []target{t}, nil
	}
	var out []target
	for _, v := range values {
		if slices.ContainsFunc(out, func(t target) bool { return t.id == v }) {
			continue
		}
		t, err := p.resolveTarget(ctx, v, client)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// resolveTarget checks that client may ask for resource v (RFC 8707 §2):
// well-formed, registered or listed in the client's audience, and among
// the client's audience when that list is not empty.
func (p *Provider) resolveTarget(ctx context.Context, v string, client fosite.Client) (target, error) {
	if !ValidResourceIndicator(v) {
		return target{}, ErrInvalidTarget.WithHint("A resource must be an absolute URI without a fragment.")
	}
	audience := client.GetAudience()
	res, err := p.store.ResourceByID(ctx, v)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		res = nil
	case err != nil:
		return target{}, err
	}
	if len(audience) > 0 && !slices.Contains(audience, v) {
		return target{}, ErrInvalidTarget.WithHintf("The client may not request resource %q.", v)
	}
	if res == nil && !slices.Contains(audience, v) {
		return target{}, ErrInvalidTarget.WithHintf("Unknown resource %q.", v)
	}
	return target{id: v, res: res}, nil
}

// isServerScope reports whether s is a scope for gatehouse itself rather
// than for a resource: the OpenID Connect scopes (sign-in, claims,
// refresh tokens). A resource accepts those whatever scopes it lists.
func isServerScope(s string) bool {
	switch s {
	case ScopeOpenID, ScopeProfile, ScopeEmail, ScopeRoles, ScopeOfflineAccess, ScopeOffline:
		return true
	}
	return false
}

// checkTargetScopes refuses a scope that a registered resource among
// targets does not understand (invalid_scope, RFC 6749 §5.2): every scope
// of a token must mean something to every resource it may be used at.
func checkTargetScopes(targets []target, scopes fosite.Arguments) error {
	for _, t := range targets {
		if t.res == nil {
			continue
		}
		for _, s := range scopes {
			if !isServerScope(s) && !slices.Contains(t.res.Scopes, s) {
				return fosite.ErrInvalidScope.WithHintf("The resource %q does not accept the scope %q.", t.id, s)
			}
		}
	}
	return nil
}

// checkAuthorizeTargets checks the resources of an authorization request
// (RFC 8707 §2.1) and its scopes against them.
func (p *Provider) checkAuthorizeTargets(ctx context.Context, ar fosite.AuthorizeRequester) ([]target, error) {
	targets, err := p.requestedTargets(ctx, ar.GetRequestForm(), ar.GetClient())
	if err != nil {
		return nil, err
	}
	return targets, checkTargetScopes(targets, ar.GetRequestedScopes())
}

// targetIDs are the identifiers of targets.
func targetIDs(targets []target) []string {
	ids := make([]string, len(targets))
	for i, t := range targets {
		ids[i] = t.id
	}
	return ids
}

// tokenRequestResource is the resource parameter of a token request: at
// most one. RFC 8707 §2.2 lets a token request name several, for a token
// usable at all of them; gatehouse issues every access token for one
// resource (RFC 9068 §3, the MCP authorization spec's audience binding),
// so a request naming more is invalid_target.
func tokenRequestResource(form url.Values) (string, error) {
	values := form["resource"]
	if len(values) > 1 {
		return "", ErrInvalidTarget.WithHint("Name one resource per token request; request a token for each resource.")
	}
	if len(values) == 1 {
		return values[0], nil
	}
	return "", nil
}

// clientCredentialsTarget is the resource of a client_credentials
// request: the one it names, or the client's default; nil for none.
func (p *Provider) clientCredentialsTarget(ctx context.Context, ar fosite.AccessRequester) (*target, error) {
	if _, err := tokenRequestResource(ar.GetRequestForm()); err != nil {
		return nil, err
	}
	targets, err := p.requestedTargets(ctx, ar.GetRequestForm(), ar.GetClient())
	if err != nil || len(targets) == 0 {
		return nil, err
	}
	t := targets[0]
	if sc, ok := StorageClient(ar.GetClient()); ok && selfRegistered(sc) && !slices.Contains(sc.Audience, t.id) {
		// No person takes part in a client_credentials grant: a client
		// anyone could register (RFC 7591) would mint tokens a resource
		// server trusts with whatever scopes it registered. Only an
		// operator's listing in its audience allows that.
		return nil, ErrInvalidTarget.WithHintf("A client that registered itself gets client_credentials tokens only for resources an operator lists in its audience; %q is not.", t.id)
	}
	return &t, nil
}

// selfRegistered reports whether c registered itself (RFC 7591) rather
// than being created by an operator.
func selfRegistered(c *storage.Client) bool { return c.RegistrationAccessTokenHash != "" }

// grantTarget is the resource an access token from an authorization
// code or refresh token is for: the one the token request names, which
// must be among those the grant was authorized for (RFC 8707 §2.2: a
// token request may narrow the grant, never widen it); or, when it names
// none, the grant's only resource. nil when the grant has none, or
// several and the token request names none: that token is for all of them
// (accessAudience), with the client's and server's settings.
func (p *Provider) grantTarget(ctx context.Context, ar fosite.AccessRequester, sess *Session) (*target, error) {
	named, err := tokenRequestResource(ar.GetRequestForm())
	if err != nil {
		return nil, err
	}
	granted := grantResourcesOf(ar, sess)
	if named == "" {
		if len(granted) != 1 {
			return nil, nil
		}
		named = granted[0]
	} else if !slices.Contains(granted, named) {
		return nil, ErrInvalidTarget.WithHintf("The resource %q was not authorized for this grant.", named)
	}
	t, err := p.resolveTarget(ctx, named, ar.GetClient())
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// grantResourcesOf are the resources the grant of ar was authorized for:
// those kept in its session, or for a grant made before they were kept
// there, its audience.
func grantResourcesOf(ar fosite.Requester, sess *Session) []string {
	if len(sess.Resources) > 0 {
		return sess.Resources
	}
	return ar.GetGrantedAudience()
}

// accessAudience is the audience of r's access token: its one resource;
// or else every resource of its grant with the audience fosite granted
// (the audience parameter).
func accessAudience(r fosite.Requester) fosite.Arguments {
	sess, _ := r.GetSession().(*Session)
	if sess == nil {
		return r.GetGrantedAudience()
	}
	if sess.Resource != nil {
		return fosite.Arguments{sess.Resource.ID}
	}
	aud := slices.Clone(r.GetGrantedAudience())
	for _, v := range sess.Resources {
		if !slices.Contains(aud, v) {
			aud = append(aud, v)
		}
	}
	return aud
}

// tokenScopes are the scopes the access token of ar will carry. fosite
// copies a code's granted scopes into the token request only once it
// issues the tokens; until then they are the code's requested ones, which
// Complete granted whole.
func tokenScopes(ar fosite.AccessRequester) fosite.Arguments {
	if s := ar.GetGrantedScopes(); len(s) > 0 {
		return s
	}
	return ar.GetRequestedScopes()
}

// bindTokenResource makes the access token of ar one for t: its audience
// exactly t (Session.Resource, also when the grant has several), its
// lifetime t's when t sets one. The scopes are checked against t
// afterwards (checkTargetScopes), once they are final.
func (p *Provider) bindTokenResource(sess *Session, t *target) {
	if t == nil {
		sess.Resource = nil
		return
	}
	sess.Resource = t.tokenResource()
	if l := sess.Resource.Lifetime; l > 0 {
		sess.SetExpiresAt(fosite.AccessToken, p.now().UTC().Add(l).Round(time.Second))
	}
}

// CreateAccessTokenSession records an access token with its audience
// (accessAudience: the one resource it is for), so that introspection
// reports, and entitles by, what the token is for; the refresh token of
// the same grant keeps every resource of the grant in its session.
func (s *fositeStore) CreateAccessTokenSession(ctx context.Context, signature string, req fosite.Requester) error {
	if r, ok := req.(*fosite.Request); ok {
		if aud := accessAudience(req); !slices.Equal(r.GrantedAudience, aud) {
			cp := *r
			cp.GrantedAudience = aud
			req = &cp
		}
	}
	return s.Store.CreateAccessTokenSession(ctx, signature, req)
}
