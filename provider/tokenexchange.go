package provider

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/token/jwt"

	"github.com/gatehouse-dev/gatehouse/internal/reqctx"
	"github.com/gatehouse-dev/gatehouse/provider/apikey"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// OAuth 2.0 Token Exchange (RFC 8693). A service that received a user's
// access token (the subject token) exchanges it, authenticating as itself
// and presenting a token of its own (the actor token), for an access token
// for another resource: the new token names the user (sub) and, in act,
// the service acting for them (delegation, §1.1). fosite v0.49 has no
// token exchange, so this is gatehouse's own token endpoint handler.
//
// What is accepted, and why:
//
//   - subject and actor tokens are gatehouse access tokens (opaque or
//     JWT), found and checked as introspection finds them: active, not
//     expired, not revoked. A client the operator allowed them
//     (TokenExchangeSubjectTypes) may also present an ID token as the
//     subject token: gatehouse's own or a federation upstream's
//     (exchangeidtoken.go). Other token types are invalid_request (RFC
//     8693 §2.2.2 has no error of its own for an unsupported type).
//   - the subject token must have been issued to the exchanging client or
//     for it (its audience names the client or a resource it serves): a
//     service exchanges the tokens presented to it, not any token it finds.
//   - the actor token must have been issued to the exchanging client: the
//     actor is the party that authenticated, not one it names.
//   - without an actor token the exchange is an impersonation (§1.1): the
//     new token does not say who acts. Refused (unauthorized_client)
//     unless the operator allowed the client that
//     (TokenExchangeImpersonation).
//   - scopes: those requested (all of the subject token's when none is),
//     each of which the subject token and the client must have; never
//     more than the subject token had (widening is invalid_scope). An ID
//     token has no scopes: the client's own bound the exchange.
//   - resources (resource or audience, §2.1): the client's, as for every
//     grant (resources.go); another is invalid_target.
//   - no refresh token: the exchanged token lives no longer than the
//     subject token, and a new exchange is the way to another one (§2.2.1
//     makes the refresh token optional).

// GrantTokenExchange is the RFC 8693 §2.1 grant type.
const GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"

// Token type identifiers (RFC 8693 §3).
const (
	TokenTypeAccessToken  = "urn:ietf:params:oauth:token-type:access_token"
	TokenTypeRefreshToken = "urn:ietf:params:oauth:token-type:refresh_token"
	TokenTypeIDToken      = "urn:ietf:params:oauth:token-type:id_token"
	TokenTypeJWT          = "urn:ietf:params:oauth:token-type:jwt"
	TokenTypeSAML1        = "urn:ietf:params:oauth:token-type:saml1"
	TokenTypeSAML2        = "urn:ietf:params:oauth:token-type:saml2"
)

// Limits of a token exchange request.
const (
	// exchangeTokenMaxLen bounds subject_token and actor_token before
	// anything looks them up.
	exchangeTokenMaxLen = 16 << 10
	// maxActDepth bounds the delegation chain an act claim carries: each
	// exchange nests the previous chain, and a token grows with it.
	maxActDepth = 8
)

// Actor is an RFC 8693 §4.1 act claim: the party acting for the token's
// subject, and in Act the party it acted for in turn (prior actors; the
// outermost is the current one).
type Actor struct {
	Subject string `json:"sub"`
	Act     *Actor `json:"act,omitempty"`
}

// depth is the number of actors in the chain a.
func (a *Actor) depth() int {
	n := 0
	for ; a != nil; a = a.Act {
		n++
	}
	return n
}

// chain is the subjects of the chain, outermost first.
func (a *Actor) chain() []string {
	var out []string
	for ; a != nil; a = a.Act {
		out = append(out, a.Subject)
	}
	return out
}

// claim is a as a JSON object claim (for JWT access tokens and
// introspection).
func (a *Actor) claim() map[string]any {
	if a == nil {
		return nil
	}
	out := map[string]any{"sub": a.Subject}
	if a.Act != nil {
		out["act"] = a.Act.claim()
	}
	return out
}

// ParseTokenType checks a subject_token_type or actor_token_type (RFC
// 8693 §3): it must be a token type identifier gatehouse accepts as
// input (access tokens; ID tokens and JWTs as subject tokens). A missing
// one is invalid_request, as is an unknown or unsupported one.
func ParseTokenType(param, value string) (string, error) {
	switch value {
	case "":
		return "", fosite.ErrInvalidRequest.WithHintf("The %s parameter is missing (RFC 8693 §2.1).", param)
	case TokenTypeAccessToken:
		return value, nil
	case TokenTypeIDToken, TokenTypeJWT:
		if param == "subject_token_type" {
			return value, nil
		}
		return "", fosite.ErrInvalidRequest.WithHintf("The %s %s is not accepted here; present a gatehouse access token (%s).",
			param, value, TokenTypeAccessToken)
	case TokenTypeRefreshToken, TokenTypeSAML1, TokenTypeSAML2:
		return "", fosite.ErrInvalidRequest.WithHintf("The %s %s is not accepted here.", param, value)
	}
	return "", fosite.ErrInvalidRequest.WithHintf("The %s is not a token type identifier this server knows (RFC 8693 §3).", param)
}

// exchangeRequest is the checked parameters of a token exchange.
type exchangeRequest struct {
	subjectToken, subjectType string
	actorToken, actorType     string
}

// parseExchangeRequest checks the RFC 8693 §2.1 parameters of form.
func parseExchangeRequest(form url.Values) (*exchangeRequest, error) {
	for _, p := range []string{"subject_token", "subject_token_type", "actor_token", "actor_token_type", "requested_token_type"} {
		if len(form[p]) > 1 {
			return nil, fosite.ErrInvalidRequest.WithHintf("The %s parameter is repeated.", p)
		}
	}
	// §2.1: the only token this server issues is an access token.
	if rt := form.Get("requested_token_type"); rt != "" && rt != TokenTypeAccessToken {
		return nil, fosite.ErrInvalidRequest.WithHintf("Only an access token (%s) can be requested.", TokenTypeAccessToken)
	}
	r := &exchangeRequest{subjectToken: form.Get("subject_token"), actorToken: form.Get("actor_token")}
	if r.subjectToken == "" {
		return nil, fosite.ErrInvalidRequest.WithHint("The subject_token parameter is missing (RFC 8693 §2.1).")
	}
	var err error
	if r.subjectType, err = ParseTokenType("subject_token_type", form.Get("subject_token_type")); err != nil {
		return nil, err
	}
	actorType := form.Get("actor_token_type")
	switch {
	case r.actorToken == "" && actorType != "":
		// §2.1: actor_token_type "MUST NOT be included otherwise".
		return nil, fosite.ErrInvalidRequest.WithHint("actor_token_type without actor_token.")
	case r.actorToken != "":
		if r.actorType, err = ParseTokenType("actor_token_type", actorType); err != nil {
			return nil, err
		}
	}
	if len(r.subjectToken) > exchangeTokenMaxLen || len(r.actorToken) > exchangeTokenMaxLen {
		return nil, fosite.ErrInvalidGrant.WithHintf("A token longer than %d bytes is none this server issued.", exchangeTokenMaxLen)
	}
	return r, nil
}

// tokenExchangeHandler is the token endpoint's handler of the token
// exchange grant.
type tokenExchangeHandler struct {
	helper   *oauth2.HandleHelper
	lifespan time.Duration
	store    tokenExchangeStore
	audit    *audit.Recorder
	now      func() time.Time
	// introspect finds an access token as introspection does (fosite's
	// IntrospectToken); targets and bind are the engine's requestedTargets
	// and bindTokenResource. Set by New once the engine exists.
	introspect func(ctx context.Context, token string) (fosite.TokenUse, fosite.AccessRequester, error)
	targets    func(ctx context.Context, form url.Values, client fosite.Client) ([]target, error)
	bind       func(sess *Session, t *target)
	// idTokens verifies ID tokens presented as subject tokens.
	idTokens *idTokenVerifier
}

// tokenExchangeStore is the storage the handler needs: the subject's
// user, and the single-use record of ID tokens' jtis.
type tokenExchangeStore interface {
	UserByID(ctx context.Context, id string) (*storage.User, error)
	SetClientAssertionJWT(ctx context.Context, jti string, exp time.Time) error
}

var _ fosite.TokenEndpointHandler = (*tokenExchangeHandler)(nil)

func (h *tokenExchangeHandler) CanHandleTokenEndpointRequest(_ context.Context, ar fosite.AccessRequester) bool {
	return ar.GetGrantTypes().ExactOne(GrantTokenExchange)
}

// CanSkipClientAuth is false: the client authenticates (RFC 8693 §2.1
// leaves it to the server; gatehouse takes confidential clients only).
func (h *tokenExchangeHandler) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool {
	return false
}

// HandleTokenEndpointRequest checks the client, the request, the subject
// and actor tokens, and grants the scopes and resources.
func (h *tokenExchangeHandler) HandleTokenEndpointRequest(ctx context.Context, ar fosite.AccessRequester) error {
	if !h.CanHandleTokenEndpointRequest(ctx, ar) {
		return fosite.ErrUnknownRequest
	}
	err := h.handle(ctx, ar)
	if err != nil {
		h.refused(ctx, ar, err)
	}
	return err
}

func (h *tokenExchangeHandler) handle(ctx context.Context, ar fosite.AccessRequester) error {
	client := ar.GetClient()
	sc, ok := StorageClient(client)
	if !ok || client.IsPublic() || !client.GetGrantTypes().Has(GrantTokenExchange) {
		return fosite.ErrUnauthorizedClient.WithHintf("The client is not allowed the grant type %s.", GrantTokenExchange)
	}
	req, err := parseExchangeRequest(ar.GetRequestForm())
	if err != nil {
		return err
	}
	if !subjectTypeAllowed(sc, req.subjectType) {
		return fosite.ErrUnauthorizedClient.WithHintf("The client may not exchange subject tokens of type %s.", req.subjectType)
	}
	subject, err := h.subject(ctx, req, sc)
	if err != nil {
		return err
	}

	var act *Actor
	if req.actorToken == "" {
		// §1.1 impersonation: the new token would not tell who acts.
		if !sc.TokenExchangeImpersonation {
			return fosite.ErrUnauthorizedClient.WithHint("Present an actor_token: this client may not impersonate (exchange without an actor).")
		}
		// §4.4: the client itself acts, so it must be the one may_act names.
		if subject.mayAct != "" && subject.mayAct != client.GetID() {
			return fosite.ErrInvalidGrant.WithHint("The subject token's may_act does not name this client.")
		}
	} else {
		actor, err := h.token(ctx, req.actorToken, "actor")
		if err != nil {
			return err
		}
		if actor.GetClient().GetID() != client.GetID() {
			return fosite.ErrInvalidGrant.WithHint("The actor token was not issued to this client.")
		}
		actSess, _ := actor.GetSession().(*Session)
		if actSess == nil || actSess.GetSubject() == "" {
			return fosite.ErrInvalidGrant.WithHint("The actor token names no subject.")
		}
		// §4.4: may_act of the subject token names who may act for it.
		if subject.mayAct != "" && subject.mayAct != actSess.GetSubject() {
			return fosite.ErrInvalidGrant.WithHint("The subject token's may_act does not name the actor.")
		}
		// §4.1: the outermost act is the current actor, nested ones the
		// prior actors: those the actor token says acted for its subject,
		// else the chain the subject token already carries.
		prior := actSess.Act
		if prior == nil {
			prior = subject.act
		}
		act = &Actor{Subject: actSess.GetSubject(), Act: prior}
		if act.depth() > maxActDepth {
			return fosite.ErrInvalidGrant.WithHintf("The delegation chain would be longer than %d actors.", maxActDepth)
		}
	}
	if err := h.grant(ctx, ar, subject); err != nil {
		return err
	}
	return h.prepareSession(ctx, ar, subject, act)
}

// subjectTypeAllowed reports whether c may present subject tokens of type
// t: access tokens unless the operator listed others; ID tokens and JWTs
// only when listed.
func subjectTypeAllowed(c *storage.Client, t string) bool {
	if len(c.TokenExchangeSubjectTypes) == 0 {
		return t == TokenTypeAccessToken
	}
	return slices.Contains(c.TokenExchangeSubjectTypes, t)
}

// subject verifies the subject token of req for client c.
func (h *tokenExchangeHandler) subject(ctx context.Context, req *exchangeRequest, c *storage.Client) (*exchangeSubject, error) {
	if req.subjectType != TokenTypeAccessToken {
		if h.idTokens == nil {
			return nil, fosite.ErrInvalidGrant.WithHint("ID tokens are not accepted as subject tokens here.")
		}
		return h.idTokens.verify(ctx, req.subjectToken, c.ID)
	}
	ar, err := h.token(ctx, req.subjectToken, "subject")
	if err != nil {
		return nil, err
	}
	if e := entitlementOf(c, ar, fosite.AccessToken); e != ownToken && e != audience {
		return nil, fosite.ErrInvalidGrant.WithHint("The subject token was issued neither to this client nor for it.")
	}
	sess, _ := ar.GetSession().(*Session)
	if sess == nil {
		return nil, fosite.ErrServerError.WithDebug("unexpected session type")
	}
	s := &exchangeSubject{
		userID: sess.GetSubject(), clientID: ar.GetClient().GetID(), scopes: ar.GetGrantedScopes(),
		act: sess.Act, username: sess.Username, expiry: sess.GetExpiresAt(fosite.AccessToken),
	}
	s.machine = s.userID == s.clientID
	if sess.Claims != nil {
		s.authTime = sess.Claims.AuthTime
	}
	return s, nil
}

// token finds an access token this server issued and that is active;
// anything else is invalid_grant (RFC 8693 §2.2.2: the subject or actor
// token is invalid), a storage outage is returned as it is.
func (h *tokenExchangeHandler) token(ctx context.Context, token, which string) (fosite.AccessRequester, error) {
	if apikey.LooksLikeKey(token) {
		return nil, fosite.ErrInvalidGrant.WithHintf("The %s token is an API key, not an access token.", which)
	}
	use, ar, err := h.introspect(ctx, token)
	if errors.Is(err, storage.ErrUnavailable) || errors.Is(err, context.Canceled) {
		return nil, err
	}
	if err != nil || use != fosite.AccessToken || ar == nil || ar.GetSession() == nil {
		return nil, fosite.ErrInvalidGrant.WithHintf("The %s token is not an active access token of this server.", which)
	}
	// Expired on the engine's clock too (fosite's check reads the system
	// clock): the exchange decides as the rest of the engine does.
	if exp := ar.GetSession().GetExpiresAt(fosite.AccessToken); !exp.IsZero() && !h.now().Before(exp) {
		return nil, fosite.ErrInvalidGrant.WithHintf("The %s token has expired.", which)
	}
	return ar, nil
}

// grant grants ar its scopes and resources: the scopes requested (all the
// subject token's when none is), each of which the subject token (an
// access token; an ID token has no scopes, so the client's bound it) and
// the client must have, and the resources requested (resource and
// audience parameters, RFC 8693 §2.1), each of which the client may
// request.
func (h *tokenExchangeHandler) grant(ctx context.Context, ar fosite.AccessRequester, subject *exchangeSubject) error {
	client := ar.GetClient()
	requested := []string(ar.GetRequestedScopes())
	explicit := len(requested) > 0
	if !explicit {
		requested = subject.scopes
	}
	var granted []string
	for _, s := range requested {
		switch {
		case IsManagementScope(s), s == ScopeOfflineAccess, s == ScopeOffline:
			// Managing gatehouse is never delegated; no refresh token.
			if explicit {
				return fosite.ErrInvalidScope.WithHintf("The scope %q is never granted by token exchange.", s)
			}
			continue
		case !subject.idToken && !subject.scopes.Has(s):
			// §2.2.2 invalid_scope: never more than the subject token had.
			return fosite.ErrInvalidScope.WithHintf("The subject token does not have the scope %q.", s)
		case !fosite.ExactScopeStrategy(client.GetScopes(), s):
			if explicit {
				return fosite.ErrInvalidScope.WithHintf("The client may not request scope %q.", s)
			}
			continue
		}
		if !slices.Contains(granted, s) {
			granted = append(granted, s)
		}
	}
	form := ar.GetRequestForm()
	resources := append(slices.Clone(form["resource"]), form["audience"]...)
	var targets []target
	if h.targets != nil {
		var err error
		if targets, err = h.targets(ctx, url.Values{"resource": resources}, client); err != nil {
			return err
		}
	} else {
		for _, r := range resources {
			if !slices.Contains(client.GetAudience(), r) {
				return ErrInvalidTarget.WithHintf("The client may not request resource %q.", r)
			}
			targets = append(targets, target{id: r})
		}
	}
	for _, s := range granted {
		ar.GrantScope(s)
	}
	for _, t := range targets {
		ar.GrantAudience(t.id)
	}
	if len(targets) > 1 {
		return ErrInvalidTarget.WithHint("Exchange for one resource at a time.")
	}
	if len(targets) == 1 {
		if err := checkTargetScopes(targets, ar.GetGrantedScopes()); err != nil {
			return err
		}
		if sess, ok := ar.GetSession().(*Session); ok && h.bind != nil {
			h.bind(sess, &targets[0])
		}
	}
	return nil
}

// prepareSession makes ar's session the subject token's subject, acted
// for by act, expiring no later than the subject token.
func (h *tokenExchangeHandler) prepareSession(ctx context.Context, ar fosite.AccessRequester, subject *exchangeSubject, act *Actor) error {
	sess, ok := ar.GetSession().(*Session)
	if !ok {
		return fosite.ErrServerError.WithDebug("unexpected session type")
	}
	sess.Subject = subject.userID
	sess.ClientID = ar.GetClient().GetID()
	sess.Act = act
	if sess.Claims == nil {
		sess.Claims = &jwt.IDTokenClaims{}
	}
	if !subject.machine {
		// A person's token: refuse a deleted or disabled account, and
		// carry the claims the granted scopes release (roles, e-mail).
		u, err := h.store.UserByID(ctx, sess.Subject)
		if errors.Is(err, storage.ErrNotFound) || (err == nil && u.Disabled) {
			return fosite.ErrInvalidGrant.WithHint("The subject token's user account is not active.")
		} else if err != nil {
			return err
		}
		sess.Username = subject.username
		if subject.idToken {
			sess.Username = u.Email
		}
		sess.Claims.Extra = ReleasedClaims(u, ar.GetGrantedScopes(), nil)
		sess.Claims.AuthTime = subject.authTime
	}
	exp := sess.GetExpiresAt(fosite.AccessToken)
	if exp.IsZero() {
		exp = h.now().UTC().Add(h.lifespan).Round(time.Second)
	}
	// The exchanged token outlives neither its lifetime nor the subject
	// token: a delegation cannot extend the user's grant.
	if !subject.expiry.IsZero() && subject.expiry.Before(exp) {
		exp = subject.expiry
	}
	sess.SetExpiresAt(fosite.AccessToken, exp)
	return nil
}

// PopulateTokenEndpointResponse issues the access token (RFC 8693
// §2.2.1: with issued_token_type), and no refresh token.
func (h *tokenExchangeHandler) PopulateTokenEndpointResponse(ctx context.Context, ar fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !h.CanHandleTokenEndpointRequest(ctx, ar) {
		return fosite.ErrUnknownRequest
	}
	form := ar.GetRequestForm()
	if form.Get("subject_token_type") != TokenTypeAccessToken {
		// An ID token is exchanged once: its jti is spent in the
		// transaction that stores the token (verified earlier in this
		// request), so of two concurrent exchanges one gets a token.
		c, ok := unverifiedIDTokenClaims(form.Get("subject_token"))
		if !ok {
			return fosite.ErrServerError.WithDebug("the verified subject token no longer decodes")
		}
		if err := h.store.SetClientAssertionJWT(ctx, exchangeReplayKey(c.Issuer, c.ID), c.Expiry.Time()); err != nil {
			if errors.Is(err, fosite.ErrJTIKnown) {
				h.refused(ctx, ar, oauthErrorOf(err, GrantTokenExchange))
			}
			return err
		}
	}
	if _, err := h.helper.IssueAccessToken(ctx, h.lifespan, ar, resp); err != nil {
		return err
	}
	resp.SetExtra("issued_token_type", TokenTypeAccessToken)
	return nil
}

// refused records a refused exchange in the audit trail.
func (h *tokenExchangeHandler) refused(ctx context.Context, ar fosite.AccessRequester, err error) {
	if h.audit == nil || IsServerError(err) || errors.Is(err, storage.ErrUnavailable) {
		return
	}
	clientID := audit.ClipID(ar.GetClient().GetID())
	rfc := fosite.ErrorToRFC6749Error(err)
	h.audit.Record(ctx, audit.Event{
		Type: audit.TokenExchangeRefused, Actor: "client:" + clientID, ClientID: clientID, IP: reqctx.ClientIP(ctx),
		Details: map[string]string{
			"error": rfc.ErrorField, "reason": audit.ClipID(rfc.HintField),
			"subject_token_type": audit.ClipID(ar.GetRequestForm().Get("subject_token_type")),
		},
	})
}

// exchangeDetails are the audit details of an exchange: its actor chain
// and resource.
func exchangeDetails(ar fosite.AccessRequester, details map[string]string) {
	sess, _ := ar.GetSession().(*Session)
	if sess == nil {
		return
	}
	details["subject_token_type"] = audit.ClipID(ar.GetRequestForm().Get("subject_token_type"))
	if sess.Act != nil {
		details["actor"] = audit.ClipID(sess.Act.Subject)
		details["act"] = audit.ClipID(strings.Join(sess.Act.chain(), " "))
	} else {
		details["impersonation"] = "true"
	}
	if aud := ar.GetGrantedAudience(); len(aud) > 0 {
		details["resource"] = audit.ClipID(strings.Join(aud, " "))
	}
}
