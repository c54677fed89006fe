package provider

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/ory/fosite"

	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/provider/dpop"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// gatehouse's own APIs (userinfo, the admin API, the self-service key API)
// take an access token of gatehouse's, with the Bearer scheme (RFC 6750)
// or, bound to a key, the DPoP scheme and a proof (RFC 9449 §7). One check
// of the token serves them all (accessToken); AuthorizeBearer adds that
// its client may still hold the API's scope, and each API then its rule
// about who may act (an admin user or a client for the admin API, a
// person for the key API).

// Bearer-token authorization failures; the caller's errors wrap them with
// the reason (for the log): test with errors.Is.
var (
	// ErrBearerUnauthorized (401): no token, or one that is unknown,
	// expired, revoked, not an access token, names no subject, or whose
	// client or user is gone or disabled; a DPoP-bound token presented as
	// a bearer token, or one bound to no key with the DPoP scheme; or a
	// refused DPoP proof (the error then wraps its *dpop.Error too).
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

// Credential is the access token a request to one of gatehouse's own
// APIs presents, as the handlers read it from the request: the token,
// its scheme, and what a DPoP proof must match (RFC 9449 §7.1).
type Credential struct {
	// Token is the access token; "" when the request presents none.
	Token string
	// DPoP: the token came with the DPoP scheme, not Bearer; Proofs are
	// the request's DPoP header values (exactly one is allowed, §4.3).
	DPoP   bool
	Proofs []string
	// Method and URL are the request's method and the URL it was made to,
	// as the client addressed it (the proof's htm and htu; the query is
	// ignored).
	Method string
	URL    string
}

// maxAccessTokenBytes bounds a presented access token (gatehouse's are
// far shorter, JWT access tokens included).
const maxAccessTokenBytes = 4096

// accessToken is the one check of the access token of a request to
// gatehouse's own APIs (userinfo, the admin API, the self-service key
// API): an active access token, presented as its binding requires. A token
// bound to a DPoP key (Session.JKT) must come with the DPoP scheme and a
// proof of that key for this request and this token (RFC 9449 §7.1: htm,
// htu, ath, the key); presented as a bearer token it is refused (§7.2:
// else whoever stole it could use it, which is what the binding is to
// stop). A token that is not bound cannot be presented with the DPoP
// scheme. The token is checked first, so that a request with a token
// that is no good spends nothing of the replay cache. Failures wrap
// ErrBearerUnauthorized (with the *dpop.Error of a refused proof);
// storage and replay-cache failures wrap storage.ErrUnavailable.
func (p *Provider) accessToken(ctx context.Context, cred Credential) (fosite.AccessRequester, error) {
	if cred.Token == "" || len(cred.Token) > maxAccessTokenBytes {
		return nil, fmt.Errorf("%w: no access token", ErrBearerUnauthorized)
	}
	use, ar, err := p.oauth2.IntrospectToken(ctx, cred.Token, fosite.AccessToken, NewSession())
	switch {
	case errors.Is(err, storage.ErrUnavailable):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrBearerUnauthorized, fosite.ErrorToRFC6749Error(err).ErrorField)
	case use != fosite.AccessToken:
		// fosite also accepts a refresh token here; it is not a bearer
		// credential.
		return nil, fmt.Errorf("%w: not an access token", ErrBearerUnauthorized)
	}
	jkt := ""
	if s, ok := ar.GetSession().(*Session); ok {
		jkt = s.JKT
	}
	switch {
	case jkt != "" && !cred.DPoP:
		return nil, fmt.Errorf("%w: a DPoP-bound access token presented as a bearer token", ErrBearerUnauthorized)
	case jkt == "" && cred.DPoP:
		return nil, fmt.Errorf("%w: an access token bound to no key presented with the DPoP scheme", ErrBearerUnauthorized)
	case jkt == "":
		return ar, nil
	}
	_, err = p.dpop.Verify(ctx, dpop.Request{
		Proofs: cred.Proofs, Method: cred.Method, URL: cred.URL, AccessToken: cred.Token, JKT: jkt,
	})
	var refused *dpop.Error
	if errors.As(err, &refused) {
		return nil, fmt.Errorf("%w: %w", ErrBearerUnauthorized, err)
	}
	if err != nil {
		return nil, replayFailure(err)
	}
	return ar, nil
}

// DPoPChallenge is what a refusal of a request to one of gatehouse's own
// APIs tells a DPoP client, and a success too (RFC 9449 §7.1, §9): the
// proof algorithms accepted, for the algs of the DPoP challenge, and the
// nonce for its next proof — when err is use_dpop_nonce, or on every
// answer when the server requires nonces (so that the client holds a
// fresh one); "" otherwise.
func (p *Provider) DPoPChallenge(err error) (algs []string, nonce string) {
	algs = p.dpop.Algorithms()
	if p.dpop.Nonces != nil && (p.dpop.RequireNonce || errors.Is(err, dpop.ErrUseNonce)) {
		nonce = p.dpop.Nonces.Current(p.now())
	}
	return algs, nonce
}

// AuthorizeBearer decides whether cred (an access token) may call an API
// guarded by scope. The token must be an active access token presented as
// its binding requires (accessToken), granted scope, issued to a client
// that may still hold it (TrustedScopes: taking the scope or the
// first-party mark away shuts its tokens out at once); a person's token
// needs an existing, enabled user. Failures wrap ErrBearerUnauthorized
// or ErrBearerForbidden; storage failures come back as they are.
func (p *Provider) AuthorizeBearer(ctx context.Context, cred Credential, scope string) (*Principal, error) {
	ar, err := p.accessToken(ctx, cred)
	if err != nil {
		return nil, err
	}
	if !ar.GetGrantedScopes().Has(scope) {
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
