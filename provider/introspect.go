package provider

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/ory/fosite"

	"github.com/gatehouse-dev/gatehouse/provider/apikey"
	"github.com/gatehouse-dev/gatehouse/provider/dpop"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// Token introspection (RFC 7662). The caller authenticates as a client,
// with any method the token endpoint takes (client_secret_basic,
// client_secret_post, private_key_jwt), and learns about a token only if
// it is entitled to (§4: the endpoint must not help a caller learn about
// tokens it may not use):
//
//   - the token's own client;
//   - for an access token, a resource server it was issued for: a client
//     whose id or whose Resources (RFC 8707 resource indicators) appear in
//     the token's audience;
//   - a client the operator allowed to introspect any token
//     (IntrospectAnyToken), for access tokens only.
//
// A refresh token introspects only for its own client. Everyone else gets
// {"active": false}, the same answer, from the same work, as for a token
// that does not exist. The e-mail address (username) is released only to
// the token's client or audience, and only when the person allowed the
// email scope for it. Deciding costs no query beyond finding the token:
// the caller and the token's grant are both in hand.

// Introspection is the answer to an introspection request: Inactive, or
// the token's facts. It marshals to the RFC 7662 response.
type Introspection map[string]any

// Inactive is the answer for a token the caller may not learn about, or
// that is not (or no longer) valid: nothing but "active": false.
func Inactive() Introspection { return Introspection{"active": false} }

// ErrIntrospectionCaller is the answer to an introspection request whose
// caller did not authenticate as a confidential client: 401 invalid_client
// (RFC 7662 §2.1 requires authorization; RFC 6749 §5.2).
var ErrIntrospectionCaller = fosite.ErrInvalidClient.WithHint(
	"Authenticate as a confidential client (client_secret_basic, client_secret_post or private_key_jwt) to introspect tokens.")

// Introspect is the introspection endpoint: it writes the answer of
// introspect, or its error (401 with a challenge for a caller that failed
// to authenticate).
func (p *Provider) Introspect(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	if err := requireFormBody(r); err != nil {
		writeError(w, err)
		return
	}
	info, err := p.introspect(ctx, r)
	if err != nil {
		err = p.OAuthError(ctx, err, "")
		challengeClient(w, err)
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// introspect answers an introspection request. A caller that fails to
// authenticate is ErrIntrospectionCaller (or a storage failure, as it
// is); a request without a token, or whose body does not parse, is
// invalid_request.
func (p *Provider) introspect(ctx context.Context, r *http.Request) (Introspection, error) {
	if err := r.ParseMultipartForm(1 << 20); err != nil && !errors.Is(err, http.ErrNotMultipart) {
		return nil, fosite.ErrInvalidRequest.WithHint("The request body could not be parsed.")
	}
	caller, err := p.introspectionCaller(ctx, r)
	if err != nil {
		return nil, err
	}
	token := r.PostForm.Get("token")
	if token == "" {
		return nil, fosite.ErrInvalidRequest.WithHint("The token parameter is missing.")
	}
	if apikey.LooksLikeKey(token) {
		return p.introspectAPIKey(ctx, caller, token)
	}
	use, ar, err := p.oauth2.IntrospectToken(ctx, token, fosite.TokenUse(r.PostForm.Get("token_type_hint")), NewSession())
	if errors.Is(err, storage.ErrUnavailable) {
		return nil, err
	}
	if err != nil {
		return Inactive(), nil
	}
	ent := entitlementOf(caller, ar, use)
	if ent == notEntitled {
		p.log.InfoContext(ctx, "introspection: caller may not learn about this token",
			"caller_client_id", caller.ID, "token_client_id", ar.GetClient().GetID(), "token_use", string(use))
		return Inactive(), nil
	}
	return p.introspectionOf(ar, use, ent), nil
}

// introspectionCaller authenticates the caller as the token endpoint
// would. Any failure — missing, wrong, a public client, a bearer token
// instead of client credentials — is ErrIntrospectionCaller; storage
// trouble comes back as it is (503).
func (p *Provider) introspectionCaller(ctx context.Context, r *http.Request) (*storage.Client, error) {
	// A bearer token is not client authentication (fosite would take
	// one); and without a client id there is nobody to authenticate.
	if isBearerAuthorization(r) || ClaimedClientID(r) == "" {
		return nil, ErrIntrospectionCaller
	}
	c, err := p.authenticateClient(ctx, r)
	if errors.Is(err, storage.ErrUnavailable) {
		return nil, err
	}
	if err != nil {
		return nil, ErrIntrospectionCaller.WithWrap(err)
	}
	sc, ok := StorageClient(c)
	if !ok || sc.IsPublic() {
		return nil, ErrIntrospectionCaller
	}
	return sc, nil
}

// isBearerAuthorization reports an Authorization header of the Bearer
// scheme (RFC 6750 §2.1; the scheme is case-insensitive).
func isBearerAuthorization(r *http.Request) bool {
	scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	return strings.EqualFold(scheme, "bearer")
}

// entitlement is why a caller may learn about a token.
type entitlement int

const (
	notEntitled entitlement = iota
	// ownToken: the caller is the token's client.
	ownToken
	// audience: the token was issued for the caller (a resource server).
	audience
	// operatorAllowed: the operator allows the caller any token.
	operatorAllowed
)

// entitlementOf decides whether caller may learn about the token ar of
// use, and why (RFC 7662 §4).
func entitlementOf(caller *storage.Client, ar fosite.Requester, use fosite.TokenUse) entitlement {
	switch {
	case ar.GetClient().GetID() == caller.ID:
		return ownToken
	case use != fosite.AccessToken:
		// A refresh token is a credential of its client alone.
		return notEntitled
	case servesAudience(caller, ar.GetGrantedAudience()):
		return audience
	case caller.IntrospectAnyToken:
		return operatorAllowed
	}
	return notEntitled
}

// servesAudience reports whether caller is named in aud: by its client
// id, or by one of the resources it serves.
func servesAudience(caller *storage.Client, aud []string) bool {
	for _, a := range aud {
		if a == caller.ID || slices.Contains(caller.Resources, a) {
			return true
		}
	}
	return false
}

// introspectionOf describes an active token to a caller entitled by ent.
func (p *Provider) introspectionOf(ar fosite.Requester, use fosite.TokenUse, ent entitlement) Introspection {
	out := Introspection{"active": true, "iss": p.opts.Issuer, "client_id": ar.GetClient().GetID()}
	sess := ar.GetSession()
	// Each token's own expiry: a refresh token outlives the access tokens
	// of its grant (fosite reports the access token's for both).
	expiry := fosite.AccessToken
	if use == fosite.RefreshToken {
		expiry = fosite.RefreshToken
	} else {
		out["token_type"] = "Bearer"
	}
	if exp := sess.GetExpiresAt(expiry); !exp.IsZero() {
		out["exp"] = exp.Unix()
	}
	if iat := ar.GetRequestedAt(); !iat.IsZero() {
		out["iat"] = iat.Unix()
	}
	if scopes := ar.GetGrantedScopes(); len(scopes) > 0 {
		out["scope"] = strings.Join(scopes, " ")
	}
	if sub := sess.GetSubject(); sub != "" {
		out["sub"] = sub
	}
	if aud := ar.GetGrantedAudience(); len(aud) > 0 {
		out["aud"] = []string(aud)
	}
	if roles, ok := accessTokenRoles(ar); ok {
		out["roles"] = roles
	}
	if s, ok := sess.(*Session); ok && s.Act != nil {
		// RFC 8693 §4.1 and §2.2: who acts for the subject.
		out["act"] = s.Act.claim()
	}
	if s, ok := sess.(*Session); ok && s.JKT != "" && use != fosite.RefreshToken {
		// RFC 9449 §6.2: a bound access token says its key, so that the
		// resource server checks the proof against it.
		out["token_type"] = dpop.TokenType
		out["cnf"] = map[string]any{"jkt": s.JKT}
	}
	// The e-mail address is personal data: only for the app (or the API
	// it was issued for) the person allowed to see it.
	if u := sess.GetUsername(); u != "" && ent != operatorAllowed && ar.GetGrantedScopes().Has(ScopeEmail) {
		out["username"] = u
	}
	return out
}

// introspectAPIKey answers introspection of an API key itself, so that a
// resource server can accept keys directly: for the key's own client, a
// resource server the key's client may request tokens for (its Audience
// meets the caller's Resources), or a client allowed any token.
func (p *Provider) introspectAPIKey(ctx context.Context, caller *storage.Client, key string) (Introspection, error) {
	info, err := p.IntrospectAPIKey(ctx, key)
	if err != nil || !info.Active {
		return Inactive(), err
	}
	if info.ClientID != caller.ID && !caller.IntrospectAnyToken {
		owner, err := p.store.ClientByID(ctx, info.ClientID)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, err
		}
		if err != nil || !servesAudience(caller, owner.Audience) {
			p.log.InfoContext(ctx, "introspection: caller may not learn about this API key",
				"caller_client_id", caller.ID, "token_client_id", info.ClientID)
			return Inactive(), nil
		}
	}
	out := Introspection{"active": true, "iss": p.opts.Issuer, "client_id": info.ClientID, "token_type": info.TokenType, "iat": info.Iat}
	if info.Scope != "" {
		out["scope"] = info.Scope
	}
	if info.Exp != 0 {
		out["exp"] = info.Exp
	}
	return out, nil
}
