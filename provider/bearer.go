package provider

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/ory/fosite"

	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// gatehouse's own APIs (the admin API, the self-service key API) take an
// access token of gatehouse's as their bearer credential (RFC 6750). One
// decision serves them all: AuthorizeBearer checks the token and that its
// client may still hold the API's scope; each API then adds its rule about
// who may act (an admin user or a client for the admin API, a person for
// the key API).

// Bearer-token authorization failures; the caller's errors wrap them with
// the reason (for the log): test with errors.Is.
var (
	// ErrBearerUnauthorized (401): no token, or one that is unknown,
	// expired, revoked, not an access token, names no subject, or whose
	// client or user is gone or disabled.
	ErrBearerUnauthorized = errors.New("missing or invalid access token")
	// ErrBearerForbidden (403): a valid access token that does not carry
	// the API's scope (or whose client may no longer hold it), or whose
	// holder the API does not serve.
	ErrBearerForbidden = errors.New("the access token does not grant this API")
)

// Principal is who a request to one of gatehouse's own APIs acts for: a
// client on its own (a client_credentials token), or a person through the
// client their token was issued to.
type Principal struct {
	// ClientID is the client the token was issued to.
	ClientID string
	// GrantID is the token's grant (its request id, shared by one
	// sign-in's refresh chain).
	GrantID string
	// User is the person of a user's token; nil for a client's own token.
	User *storage.User
}

// String names the principal for logs.
func (a *Principal) String() string {
	if a.User != nil {
		return fmt.Sprintf("user %s via client %s", a.User.ID, a.ClientID)
	}
	return "client " + a.ClientID
}

// Actor names the principal in audit events and as CreatedBy:
// "user:<id>" for a person's token, "client:<id>" for a client's own, and
// "operator" for a nil principal: the operator at the command line, who
// needs no token.
func (a *Principal) Actor() string {
	if a == nil {
		return audit.ActorOperator
	}
	if a.User != nil {
		return UserActor(a.User)
	}
	return "client:" + a.ClientID
}

// Delegation is the app acting for the person of a user's token.
func (a *Principal) Delegation() Delegation {
	return Delegation{ClientID: a.ClientID, GrantID: a.GrantID}
}

// AuthorizeBearer decides whether bearer (an access token) may call an API
// guarded by scope. The token must be an active access token granted
// scope, issued to a client that may still hold it (TrustedScopes: taking
// the scope or the first-party mark away shuts its tokens out at once);
// a person's token needs an existing, enabled user. Failures wrap
// ErrBearerUnauthorized or ErrBearerForbidden; storage failures come back
// as they are.
func (p *Provider) AuthorizeBearer(ctx context.Context, bearer, scope string) (*Principal, error) {
	if bearer == "" || len(bearer) > 4096 {
		return nil, fmt.Errorf("%w: no bearer token", ErrBearerUnauthorized)
	}
	use, ar, err := p.oauth2.IntrospectToken(ctx, bearer, fosite.AccessToken, NewSession(), scope)
	switch {
	case errors.Is(err, storage.ErrUnavailable):
		return nil, err
	case err != nil && fosite.ErrorToRFC6749Error(err).ErrorField == fosite.ErrInvalidScope.ErrorField:
		return nil, fmt.Errorf("%w: the token was not granted %s", ErrBearerForbidden, scope)
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrBearerUnauthorized, fosite.ErrorToRFC6749Error(err).ErrorField)
	case use != fosite.AccessToken:
		// fosite also accepts a refresh token here; it is not a bearer
		// credential.
		return nil, fmt.Errorf("%w: not an access token", ErrBearerUnauthorized)
	case !ar.GetGrantedScopes().Has(scope):
		return nil, fmt.Errorf("%w: the token was not granted %s", ErrBearerForbidden, scope)
	}
	clientID := ar.GetClient().GetID()
	subject := ar.GetSession().GetSubject()
	client, err := p.store.ClientByID(ctx, clientID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("%w: the client is gone", ErrBearerUnauthorized)
	} else if err != nil {
		return nil, err
	}
	if !slices.Contains(TrustedScopes(client).Scopes, scope) {
		return nil, fmt.Errorf("%w: client %s is no longer allowed %s (or is not first-party)", ErrBearerForbidden, clientID, scope)
	}
	who := &Principal{ClientID: clientID, GrantID: ar.GetID()}
	switch subject {
	case "":
		return nil, fmt.Errorf("%w: the token names no subject", ErrBearerUnauthorized)
	case clientID:
		return who, nil
	}
	u, err := p.store.UserByID(ctx, subject)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && u.Disabled) {
		return nil, fmt.Errorf("%w: the token's user is gone or disabled", ErrBearerUnauthorized)
	} else if err != nil {
		return nil, err
	}
	who.User = u
	return who, nil
}

// Delegation is an app acting for a person: the client a person's access
// token was issued to, and the token's grant (its request id, shared by
// every token of one sign-in's refresh chain).
type Delegation struct {
	ClientID string
	GrantID  string
}

// UserActor names a person in audit events and CreatedBy.
func UserActor(u *storage.User) string { return "user:" + u.ID }
