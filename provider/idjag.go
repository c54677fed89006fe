package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	josev3 "github.com/go-jose/go-jose/v3"
	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/reqctx"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// Identity Assertion JWT Authorization Grants (ID-JAG,
// draft-ietf-oauth-identity-assertion-authz-grant; the MCP extension
// "Enterprise-Managed Authorization"): an identity provider the operator
// trusts issues, by RFC 8693 token exchange, a short-lived JWT naming a
// user, this server (aud) and one of its clients (client_id); the client
// presents it here with the RFC 7523 JWT bearer grant and gets an access
// token for that user, without a consent page. The identity provider is
// where the enterprise decides who may use what; gatehouse still decides
// whether to honour the grant and narrows it to what the client may have.

// GrantJWTBearer is the RFC 7523 §2.1 grant type: a JWT as an
// authorization grant. gatehouse redeems one profile of it, the ID-JAG.
const GrantJWTBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// GrantProfileIDJAG is the draft's grant profile identifier, advertised in
// authorization_grant_profiles_supported (§"Resource Authorization Server
// Metadata").
const GrantProfileIDJAG = "urn:ietf:params:oauth:grant-profile:id-jag"

// idJAGType is the JOSE typ an ID-JAG must carry (the draft's §3 "The typ
// of the JWT ... MUST be oauth-id-jag+jwt"; RFC 8725 §3.11 explicit
// typing, so that an ID token or any other JWT of the same issuer cannot
// be passed off as one).
const idJAGType = "oauth-id-jag+jwt"

// IDJAGAlgs are the signature algorithms accepted on an ID-JAG: asymmetric
// only. Never none, never HS* (RFC 8725 §3.1: a shared key would let
// anyone holding it mint grants, and algorithm confusion would let an
// attacker sign with a public key).
var IDJAGAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}

// Limits on an ID-JAG.
const (
	// DefaultIDJAGMaxLifetime bounds exp - iat when the operator sets no
	// bound: ID-JAGs are short-lived grants (the draft's examples: 5
	// minutes), and a jti is remembered until its exp.
	DefaultIDJAGMaxLifetime = 10 * time.Minute
	// idJAGMaxLen bounds the assertion parameter before it is parsed.
	idJAGMaxLen = 16 << 10
	// idJAGClockSkew is how far in the future iat and nbf may be (clocks
	// of two organisations differ).
	idJAGClockSkew = time.Minute
	// idJAGMaxClaimLen bounds sub, jti and client_id.
	idJAGMaxClaimLen = 255
)

// IDJAGIssuer is an identity provider whose ID-JAGs the token endpoint
// redeems.
type IDJAGIssuer struct {
	// Issuer is the iss the assertions carry, compared exactly.
	Issuer string
	// JWKSURI is where its signing keys are published; empty for an
	// upstream, whose discovery document names it.
	JWKSURI string
	// Upstream is the id of the federation upstream this issuer is: an
	// assertion's sub is the upstream account (UpstreamID, Subject) of a
	// linked identity, and so a gatehouse user. Empty: no subject maps to
	// a user, and every assertion is refused (gatehouse never creates or
	// links an account from an assertion).
	Upstream string
}

// IDJAGOptions enable the ID-JAG grant. With no Issuers the grant is off:
// not served, not advertised.
type IDJAGOptions struct {
	Issuers []IDJAGIssuer
	// MaxLifetime bounds exp - iat of an assertion (default
	// DefaultIDJAGMaxLifetime).
	MaxLifetime time.Duration
	// Keys fetches and caches issuers' key sets (a clientjwks.Fetcher: an
	// outbound client, size limit, timeout, cache, one fetch per location
	// at a time, refetch on an unknown kid at most so often).
	Keys KeySetResolver
	// Upstreams gives an upstream's issuer and jwks_uri (a
	// *federation.Manager); needed when an issuer names an upstream.
	Upstreams UpstreamKeys
	// Identities finds the user linked to an upstream account (the store).
	Identities LinkedIdentities
}

// KeySetResolver returns the key set published at a location; ignoreCache
// asks for a fresh copy (an unknown kid: the issuer may have rotated).
type KeySetResolver interface {
	Resolve(ctx context.Context, location string, ignoreCache bool) (*josev3.JSONWebKeySet, error)
}

// UpstreamKeys says where a federation upstream publishes its keys.
type UpstreamKeys interface {
	Keys(id string) (issuer, jwksURI string, err error)
}

// LinkedIdentities finds the gatehouse user an upstream account is linked
// to (storage.ErrNotFound when it is linked to none).
type LinkedIdentities interface {
	FederatedIdentity(ctx context.Context, upstreamID, subject string) (*storage.FederatedIdentity, error)
}

// idJAGClaims are the claims of an ID-JAG gatehouse reads (the draft's
// §3.1 "ID-JAG Claims"). Claims it does not act on (tenant, aud_sub,
// email, amr, act, ...) are ignored.
type idJAGClaims struct {
	Issuer    string               `json:"iss"`
	Subject   string               `json:"sub"`
	Audience  json.RawMessage      `json:"aud"`
	ClientID  string               `json:"client_id"`
	ID        string               `json:"jti"`
	Expiry    *josejwt.NumericDate `json:"exp"`
	IssuedAt  *josejwt.NumericDate `json:"iat"`
	NotBefore *josejwt.NumericDate `json:"nbf"`
	Resource  json.RawMessage      `json:"resource"`
	Scope     *string              `json:"scope"`
	// Cnf binds the grant to a key (the draft's "Proof-of-Possession"):
	// by its JWK thumbprint (jkt, RFC 9449 §6.1), redeemed only with a
	// DPoP proof of that key (bindDPoP); any other confirmation method is
	// refused, as gatehouse takes no other proof of possession.
	Cnf json.RawMessage `json:"cnf"`
}

// idJAG is a verified assertion.
type idJAG struct {
	claims    idJAGClaims
	issuer    IDJAGIssuer
	resources []string
	scopes    []string
}

// idJAGVerifier checks ID-JAGs: everything that depends only on the
// assertion, the trusted issuers and their keys (RFC 7521 §5.2, RFC 7523
// §3, the draft's "Processing Rules"). What depends on storage (the jti,
// the subject) is the handler's.
type idJAGVerifier struct {
	// audience is gatehouse's issuer identifier: the only aud accepted.
	audience    string
	issuers     map[string]IDJAGIssuer
	maxLifetime time.Duration
	keys        KeySetResolver
	upstreams   UpstreamKeys
	now         func() time.Time
}

// invalidGrant is the error of every problem with an assertion (RFC 7521
// §4.1.1 and §5.2, RFC 6749 §5.2).
func invalidGrant(format string, args ...any) *fosite.RFC6749Error {
	return fosite.ErrInvalidGrant.WithHintf(format, args...)
}

// verify checks assertion for the client clientID and returns it with its
// issuer. Every error is invalid_grant, but for a storage outage.
func (v *idJAGVerifier) verify(ctx context.Context, assertion, clientID string) (*idJAG, error) {
	if len(assertion) > idJAGMaxLen {
		return nil, invalidGrant("The assertion is longer than %d bytes.", idJAGMaxLen)
	}
	tok, err := josejwt.ParseSigned(assertion, idJAGSignatureAlgs())
	if err != nil {
		return nil, invalidGrant("The assertion is not a JWT signed with one of %s.", strings.Join(IDJAGAlgs, ", ")).WithWrap(err)
	}
	if len(tok.Headers) != 1 {
		return nil, invalidGrant("The assertion must have exactly one signature.")
	}
	h := tok.Headers[0]
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !isIDJAGType(typ) {
		return nil, invalidGrant("The assertion's typ must be %s (an identity assertion JWT authorization grant).", idJAGType)
	}
	if _, ok := h.ExtraHeaders["crit"]; ok {
		// RFC 7515 §4.1.11: extensions we do not understand must not be
		// ignored.
		return nil, invalidGrant("The assertion has critical header parameters this server does not understand.")
	}

	var unverified idJAGClaims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return nil, invalidGrant("The assertion's claims are not valid JSON of the right types.").WithWrap(err)
	}
	iss, ok := v.issuers[unverified.Issuer]
	if !ok || unverified.Issuer == "" {
		return nil, invalidGrant("The assertion's issuer is not trusted by this server.")
	}
	jwksURI, err := v.jwksURI(iss)
	if err != nil {
		return nil, err
	}
	var claims idJAGClaims
	if err := v.verifySignature(ctx, tok, h, jwksURI, &claims); err != nil {
		return nil, err
	}
	if claims.Issuer != iss.Issuer {
		return nil, invalidGrant("The assertion's issuer is not trusted by this server.")
	}
	if err := v.checkClaims(&claims, clientID); err != nil {
		return nil, err
	}
	res, err := claimStrings(claims.Resource)
	if err != nil {
		return nil, invalidGrant("The assertion's resource must be a URI or an array of URIs.")
	}
	out := &idJAG{claims: claims, issuer: iss, resources: res}
	if claims.Scope != nil {
		out.scopes = strings.Fields(*claims.Scope)
	}
	return out, nil
}

// idJAGSignatureAlgs are IDJAGAlgs as go-jose names them.
func idJAGSignatureAlgs() []jose.SignatureAlgorithm {
	algs := make([]jose.SignatureAlgorithm, len(IDJAGAlgs))
	for i, a := range IDJAGAlgs {
		algs[i] = jose.SignatureAlgorithm(a)
	}
	return algs
}

// isIDJAGType compares a typ with oauth-id-jag+jwt as RFC 7515 §4.1.9
// says media types compare: case-insensitively, with the "application/"
// prefix optional.
func isIDJAGType(typ string) bool {
	typ = strings.ToLower(typ)
	return strings.TrimPrefix(typ, "application/") == idJAGType
}

// jwksURI is where iss publishes its keys.
func (v *idJAGVerifier) jwksURI(iss IDJAGIssuer) (string, error) {
	if iss.JWKSURI != "" {
		return iss.JWKSURI, nil
	}
	if v.upstreams == nil {
		return "", invalidGrant("The assertion issuer's keys are not available.")
	}
	_, uri, err := v.upstreams.Keys(iss.Upstream)
	if err != nil || uri == "" {
		return "", invalidGrant("The assertion issuer's keys are not available yet; retry later.").WithWrap(err)
	}
	return uri, nil
}

// verifySignature verifies tok with a key of the set at jwksURI and
// decodes its claims into dst. The key is the one the header's kid names
// (the set is fetched again, at most so often, when no key has it: the
// issuer may have rotated), or without a kid each key that fits the alg.
func (v *idJAGVerifier) verifySignature(ctx context.Context, tok *josejwt.JSONWebToken, h jose.Header, jwksURI string, dst *idJAGClaims) error {
	return verifyWithKeySet(ctx, v.keys, tok, h, jwksURI, dst)
}

// verifyWithKeySet verifies tok with a key of the set keys resolve at
// jwksURI and decodes its claims into dst (see verifySignature); every
// failure is invalid_grant.
func verifyWithKeySet(ctx context.Context, keys KeySetResolver, tok *josejwt.JSONWebToken, h jose.Header, jwksURI string, dst any) error {
	var lastErr error
	for _, refresh := range []bool{false, true} {
		set, err := keys.Resolve(ctx, jwksURI, refresh)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return err
			}
			return invalidGrant("The assertion issuer's keys could not be fetched.").WithWrap(err)
		}
		candidates := keysFor(set, h)
		for _, k := range candidates {
			if err := tok.Claims(k.Key, dst); err == nil {
				return nil
			} else {
				lastErr = err
			}
		}
		if len(candidates) > 0 || h.KeyID == "" {
			break // a key was there and did not verify: fetching again will not help
		}
	}
	return invalidGrant("The token's signature does not verify with its issuer's keys.").WithWrap(lastErr)
}

// keysFor are the keys of set that may have signed a JWS with header h:
// the kid's, of a type that fits the algorithm, and of the same alg when
// the key names one.
func keysFor(set *josev3.JSONWebKeySet, h jose.Header) []josev3.JSONWebKey {
	if set == nil {
		return nil
	}
	var out []josev3.JSONWebKey
	for _, k := range set.Keys {
		if h.KeyID != "" && k.KeyID != h.KeyID {
			continue
		}
		if k.Algorithm != "" && k.Algorithm != h.Algorithm {
			continue
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		out = append(out, k)
	}
	return out
}

// checkClaims applies RFC 7523 §3 and the draft's processing rules to
// verified claims.
func (v *idJAGVerifier) checkClaims(c *idJAGClaims, clientID string) error {
	now := v.now()
	// aud: this server's issuer identifier, a string or an array of
	// exactly that one element (the draft: anything else is refused, to
	// prevent audience injection).
	var aud string
	var auds []string
	if json.Unmarshal(c.Audience, &aud) != nil {
		if json.Unmarshal(c.Audience, &auds) != nil || len(auds) != 1 {
			return invalidGrant("The assertion's aud must be this server's issuer identifier, alone.")
		}
		aud = auds[0]
	}
	if aud != v.audience {
		return invalidGrant("The assertion's aud is not this server's issuer identifier (%s).", v.audience)
	}
	if !claimOK(c.Subject) {
		return invalidGrant("The assertion's sub is missing or not a valid identifier.")
	}
	if !claimOK(c.ID) {
		return invalidGrant("The assertion's jti is missing or not a valid identifier (it makes the grant single use).")
	}
	// client_id: the client that authenticated (the draft: client
	// continuity; an assertion issued for another client is refused).
	if c.ClientID == "" || c.ClientID != clientID {
		return invalidGrant("The assertion was issued for another client (its client_id is not the authenticated client's).")
	}
	if c.Expiry == nil || c.IssuedAt == nil {
		return invalidGrant("The assertion must carry exp and iat.")
	}
	exp, iat := c.Expiry.Time(), c.IssuedAt.Time()
	switch {
	case !now.Before(exp):
		return invalidGrant("The assertion has expired.")
	case iat.After(now.Add(idJAGClockSkew)):
		return invalidGrant("The assertion's iat is in the future.")
	case exp.Sub(iat) > v.maxLifetime:
		// A jti is remembered until exp: an assertion valid for longer
		// than this server accepts would also hold its store longer.
		return invalidGrant("The assertion is valid for longer than this server accepts (%s).", v.maxLifetime)
	case c.NotBefore != nil && c.NotBefore.Time().After(now.Add(idJAGClockSkew)):
		return invalidGrant("The assertion is not valid yet (nbf).")
	}
	if _, err := c.boundKey(); err != nil {
		return err
	}
	return nil
}

// boundKey is the thumbprint of the key the assertion is bound to (cnf
// with jkt), "" when it is bound to none.
func (c *idJAGClaims) boundKey() (string, error) {
	if len(c.Cnf) == 0 || string(c.Cnf) == "null" {
		return "", nil
	}
	var cnf map[string]json.RawMessage
	var jkt string
	if json.Unmarshal(c.Cnf, &cnf) != nil || len(cnf) != 1 || json.Unmarshal(cnf["jkt"], &jkt) != nil || !isBase64URLSHA256(jkt) {
		return "", invalidGrant("The assertion is bound to a key other than by a DPoP key thumbprint (cnf jkt); this server takes DPoP proofs only.")
	}
	return jkt, nil
}

// claimOK tells an identifier claim (sub, jti) that can be used: present,
// of bounded length, valid UTF-8 without control characters (it is stored
// and logged).
func claimOK(s string) bool {
	return s != "" && len(s) <= idJAGMaxClaimLen && utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

// claimStrings decodes a claim that is a string or an array of strings
// (resource, RFC 8707 §2: one URI or several); absent is nil.
func claimStrings(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, err
	}
	return many, nil
}

// idJAGHandler is the token endpoint's handler of the ID-JAG grant
// (fosite v0.49 has RFC 7523's grant only for keys registered per issuer
// and subject, without the draft's checks, so it is gatehouse's own).
type idJAGHandler struct {
	verifier   *idJAGVerifier
	identities LinkedIdentities
	store      idJAGStore
	helper     *oauth2.HandleHelper
	lifespan   time.Duration
	audit      *audit.Recorder
	// targets resolves the resources a token may be for (the engine's
	// requestedTargets: registered resources and the client's audience);
	// bind makes the access token one for a resource (bindTokenResource).
	// Set by New once the engine exists; nil in unit tests, where only
	// the client's audience admits a resource.
	targets func(ctx context.Context, form url.Values, client fosite.Client) ([]target, error)
	bind    func(sess *Session, t *target)
}

// idJAGStore is the storage the handler needs: users, and the single-use
// record of jtis (the one private_key_jwt client assertions use).
type idJAGStore interface {
	UserByID(ctx context.Context, id string) (*storage.User, error)
	SetClientAssertionJWT(ctx context.Context, jti string, exp time.Time) error
}

var _ fosite.TokenEndpointHandler = (*idJAGHandler)(nil)

func (h *idJAGHandler) CanHandleTokenEndpointRequest(_ context.Context, ar fosite.AccessRequester) bool {
	return ar.GetGrantTypes().ExactOne(GrantJWTBearer)
}

// CanSkipClientAuth is false: the client authenticates as usual (the
// draft's "Access Token Request"), and the assertion's client_id must be
// that client.
func (h *idJAGHandler) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool { return false }

// HandleTokenEndpointRequest checks the client, the assertion, the user it
// names, and grants the scopes and resources. The jti is spent later, in
// the transaction that stores the token.
func (h *idJAGHandler) HandleTokenEndpointRequest(ctx context.Context, ar fosite.AccessRequester) error {
	if !h.CanHandleTokenEndpointRequest(ctx, ar) {
		return fosite.ErrUnknownRequest
	}
	client := ar.GetClient()
	if !client.GetGrantTypes().Has(GrantJWTBearer) {
		return fosite.ErrUnauthorizedClient.WithHintf("The client is not allowed the grant type %s.", GrantJWTBearer)
	}
	if client.IsPublic() {
		// The draft's "Client Authentication": confidential clients only;
		// a public one uses the authorization code grant.
		return fosite.ErrUnauthorizedClient.WithHint("A public client cannot redeem identity assertions; use the authorization code grant.")
	}
	assertion := ar.GetRequestForm().Get("assertion")
	if assertion == "" {
		return fosite.ErrInvalidRequest.WithHint("The assertion parameter is missing (RFC 7521 §4.1).")
	}
	grant, err := h.verifier.verify(ctx, assertion, client.GetID())
	if err != nil {
		h.refused(ctx, ar, assertion, err)
		return err
	}
	user, err := h.subject(ctx, grant)
	var t *target
	if err == nil {
		t, err = h.grant(ctx, ar, grant)
	}
	if err != nil {
		h.refused(ctx, ar, assertion, err)
		return err
	}
	sess, ok := ar.GetSession().(*Session)
	if !ok {
		return fosite.ErrServerError.WithDebug("unexpected session type")
	}
	sess.Subject = user.ID
	sess.ClientID = client.GetID()
	// A bound assertion is redeemed with a proof of its key only; the
	// token is then bound to that key (bindDPoP).
	if sess.JKT, err = grant.claims.boundKey(); err != nil {
		return err
	}
	sess.SetExpiresAt(fosite.AccessToken, time.Now().UTC().Add(h.lifespan).Round(time.Second))
	if t != nil && h.bind != nil {
		// One resource: the token's audience is exactly it, with its
		// settings (RFC 8707, resources.go).
		h.bind(sess, t)
	}
	return nil
}

// subject is the user the assertion is about: the user linked to the
// upstream account (issuer's upstream, sub). An issuer that is no
// upstream maps no subject: gatehouse never creates or links an account
// from an assertion, which an identity provider could otherwise use to
// take over an account by naming it (e-mail, aud_sub).
func (h *idJAGHandler) subject(ctx context.Context, g *idJAG) (*storage.User, error) {
	if g.issuer.Upstream == "" || h.identities == nil {
		return nil, invalidGrant("The assertion's subject is not linked to an account here.")
	}
	fi, err := h.identities.FederatedIdentity(ctx, g.issuer.Upstream, g.claims.Subject)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, invalidGrant("The assertion's subject is not linked to an account here.")
	} else if err != nil {
		return nil, err
	}
	u, err := h.store.UserByID(ctx, fi.UserID)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && u.Disabled) {
		return nil, invalidGrant("The user account is not active.")
	} else if err != nil {
		return nil, err
	}
	return u, nil
}

// grant grants ar the scopes and resources of the assertion, as far as the
// request asks and the client may have:
//
//   - scopes: those requested (scope parameter; all asserted when it is
//     absent) that the assertion also grants (the draft: the granted
//     scopes MAY be a subset of the asserted ones). A requested scope the
//     client may not have is invalid_scope, as is a management scope
//     (never granted without an administrator) and a request none of
//     whose scopes the assertion grants. offline_access is never granted:
//     no refresh token is issued (the draft's "Refresh Token": the
//     client presents a new ID-JAG instead).
//   - resources (RFC 8707): those requested, each of which must be in the
//     assertion's resource claim when it has one; else the asserted ones.
//     Each must be one the client may use (resources), else
//     invalid_target. They become the token's audience.
//
// It returns the one resource the token is for, nil when it is for none
// or several (then with the client's and server's settings).
func (h *idJAGHandler) grant(ctx context.Context, ar fosite.AccessRequester, g *idJAG) (*target, error) {
	client := ar.GetClient()
	requested := []string(ar.GetRequestedScopes())
	explicit := len(requested) > 0
	if !explicit {
		requested = g.scopes
	}
	var granted []string
	for _, s := range requested {
		switch {
		case IsManagementScope(s):
			if explicit {
				return nil, fosite.ErrInvalidScope.WithHintf("The scope %q is never granted through an identity assertion.", s)
			}
			continue
		case s == ScopeOfflineAccess || s == ScopeOffline:
			continue
		case !fosite.ExactScopeStrategy(client.GetScopes(), s):
			if explicit {
				return nil, fosite.ErrInvalidScope.WithHintf("The client may not request scope %q.", s)
			}
			continue
		case !slices.Contains(g.scopes, s):
			continue
		}
		if !slices.Contains(granted, s) {
			granted = append(granted, s)
		}
	}
	if explicit && len(granted) == 0 {
		return nil, fosite.ErrInvalidScope.WithHint("None of the requested scopes is granted by the assertion.")
	}

	asked := ar.GetRequestForm()["resource"]
	if len(asked) > 0 && g.resources != nil {
		for _, r := range asked {
			if !slices.Contains(g.resources, r) {
				return nil, ErrInvalidTarget.WithHintf("The resource %q is not in the assertion.", r)
			}
		}
	} else if len(asked) == 0 {
		asked = g.resources
	}
	var targets []target
	if h.targets != nil {
		var err error
		if targets, err = h.targets(ctx, url.Values{"resource": asked}, client); err != nil {
			return nil, err
		}
	} else {
		for _, r := range asked {
			if !slices.Contains(client.GetAudience(), r) {
				return nil, ErrInvalidTarget.WithHintf("The client may not request resource %q.", r)
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
	if len(targets) != 1 {
		return nil, nil
	}
	if err := checkTargetScopes(targets, ar.GetGrantedScopes()); err != nil {
		return nil, err
	}
	return &targets[0], nil
}

// PopulateTokenEndpointResponse spends the assertion's jti and issues the
// access token, in the transaction of the token endpoint (newAccessResponse):
// of two concurrent redemptions of one assertion, one gets a token. No
// refresh token (the draft's "Refresh Token": SHOULD NOT).
func (h *idJAGHandler) PopulateTokenEndpointResponse(ctx context.Context, ar fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !h.CanHandleTokenEndpointRequest(ctx, ar) {
		return fosite.ErrUnknownRequest
	}
	assertion := ar.GetRequestForm().Get("assertion")
	// Verified by HandleTokenEndpointRequest, in this very request.
	var c idJAGClaims
	if !decodeClaims(assertion, &c) || c.Expiry == nil {
		return fosite.ErrServerError.WithDebug("the verified assertion no longer decodes")
	}
	if err := h.store.SetClientAssertionJWT(ctx, idJAGReplayKey(c.Issuer, c.ID), c.Expiry.Time()); err != nil {
		if errors.Is(err, fosite.ErrJTIKnown) {
			h.refused(ctx, ar, assertion, err)
		}
		return err
	}
	_, err := h.helper.IssueAccessToken(ctx, h.lifespan, ar, resp)
	return err
}

// idJAGReplayKey is the jti's key in the single-use store it shares with
// client assertions: namespaced by the grant and by issuer (RFC 7519
// §4.1.7: a jti is unique per issuer), so that no issuer, and no client
// assertion, can spend another's. The lengths make it unambiguous.
func idJAGReplayKey(issuer, jti string) string {
	return fmt.Sprintf("id-jag:%d:%s:%s", len(issuer), issuer, jti)
}

// decodeClaims decodes the claims of a compact JWS without verifying it.
func decodeClaims(assertion string, dst *idJAGClaims) bool {
	if len(assertion) > idJAGMaxLen {
		return false
	}
	tok, err := josejwt.ParseSigned(assertion, idJAGSignatureAlgs())
	if err != nil {
		return false
	}
	return tok.UnsafeClaimsWithoutVerification(dst) == nil
}

// refused records a refused redemption in the audit trail: who presented
// what (the assertion's issuer, subject and jti as claimed; never the
// assertion) and why.
func (h *idJAGHandler) refused(ctx context.Context, ar fosite.AccessRequester, assertion string, err error) {
	if h.audit == nil || IsServerError(err) {
		return
	}
	var c idJAGClaims
	_ = decodeClaims(assertion, &c)
	clientID := audit.ClipID(ar.GetClient().GetID())
	rfc := fosite.ErrorToRFC6749Error(oauthErrorOf(err, GrantJWTBearer))
	reason := rfc.HintField
	h.audit.Record(ctx, audit.Event{
		Type: audit.AssertionRefused, Actor: "client:" + clientID, ClientID: clientID, IP: reqctx.ClientIP(ctx),
		Details: map[string]string{
			"error": rfc.ErrorField, "reason": audit.ClipID(reason),
			"assertion_issuer": audit.ClipID(c.Issuer), "assertion_subject": audit.ClipID(c.Subject),
			"assertion_jti": audit.ClipID(c.ID),
		},
	})
}

// assertionDetails are the audit details of a redeemed assertion (its
// issuer, subject and jti; the granted resources).
func assertionDetails(ar fosite.AccessRequester, details map[string]string) {
	var c idJAGClaims
	if !decodeClaims(ar.GetRequestForm().Get("assertion"), &c) {
		return
	}
	details["assertion_issuer"] = audit.ClipID(c.Issuer)
	details["assertion_subject"] = audit.ClipID(c.Subject)
	details["assertion_jti"] = audit.ClipID(c.ID)
	if aud := ar.GetGrantedAudience(); len(aud) > 0 {
		details["resource"] = audit.ClipID(strings.Join(aud, " "))
	}
}

// newIDJAGHandler returns the handler for opts, nil when the grant is off.
func newIDJAGHandler(issuer string, opts *IDJAGOptions, store idJAGStore, helper *oauth2.HandleHelper, lifespan time.Duration,
	rec *audit.Recorder, now func() time.Time) (*idJAGHandler, error) {
	if opts == nil || len(opts.Issuers) == 0 {
		return nil, nil
	}
	if opts.Keys == nil {
		return nil, errors.New("provider: the ID-JAG grant needs a key set resolver")
	}
	maxLifetime := opts.MaxLifetime
	if maxLifetime <= 0 {
		maxLifetime = DefaultIDJAGMaxLifetime
	}
	issuers := map[string]IDJAGIssuer{}
	for _, iss := range opts.Issuers {
		if iss.Upstream != "" {
			if opts.Upstreams == nil {
				return nil, fmt.Errorf("provider: ID-JAG issuer %q names upstream %q, but no upstreams are configured", iss.Issuer, iss.Upstream)
			}
			if iss.Issuer == "" {
				up, _, err := opts.Upstreams.Keys(iss.Upstream)
				if up == "" {
					return nil, fmt.Errorf("provider: ID-JAG upstream %q: %w", iss.Upstream, err)
				}
				iss.Issuer = up
			}
		}
		if iss.Issuer == "" || (iss.JWKSURI == "" && iss.Upstream == "") {
			return nil, errors.New("provider: an ID-JAG issuer needs its issuer and a jwks_uri or an upstream")
		}
		if _, dup := issuers[iss.Issuer]; dup {
			return nil, fmt.Errorf("provider: ID-JAG issuer %q is listed twice", iss.Issuer)
		}
		issuers[iss.Issuer] = iss
	}
	return &idJAGHandler{
		verifier: &idJAGVerifier{
			audience: issuer, issuers: issuers, maxLifetime: maxLifetime,
			keys: opts.Keys, upstreams: opts.Upstreams, now: now,
		},
		identities: opts.Identities,
		store:      store,
		helper:     helper,
		lifespan:   lifespan,
		audit:      rec,
	}, nil
}
