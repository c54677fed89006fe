package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	josev3 "github.com/go-jose/go-jose/v3"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/ory/fosite"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// ID tokens as subject tokens of a token exchange (RFC 8693 §3 token
// types id_token and jwt): gatehouse's own ID tokens, verified with its
// own keys, and ID tokens of a federation upstream, verified with the keys
// the upstream publishes. Either proves who a person is, not what they
// allowed; so only a client the operator allowed them
// (TokenExchangeSubjectTypes) may present one, and the scopes it gets are
// those it asks for within its own (an ID token has none to intersect).

// TokenExchangeSubjectTypes are the token types a client may be allowed to
// present as subject tokens (storage.Client.TokenExchangeSubjectTypes).
var TokenExchangeSubjectTypes = []string{TokenTypeAccessToken, TokenTypeIDToken, TokenTypeJWT}

// Limits on an ID token presented as a subject token.
const (
	// exchangeIDTokenMaxLifetime bounds exp - iat: the jti is remembered
	// until exp.
	exchangeIDTokenMaxLifetime = 24 * time.Hour
	// exchangeClockSkew is how far in the future iat and nbf may be.
	exchangeClockSkew = time.Minute
)

// TokenExchangeUpstream is a federation upstream whose ID tokens token
// exchange accepts: its id (the linked identities' upstream), issuer and
// the client id gatehouse has there (an accepted aud).
type TokenExchangeUpstream struct {
	ID, Issuer, ClientID string
}

// TokenExchangeOptions are what token exchange needs to take ID tokens of
// upstreams; nil takes gatehouse's own ID tokens only.
type TokenExchangeOptions struct {
	Upstreams []TokenExchangeUpstream
	// Keys fetches upstreams' key sets (a clientjwks.Fetcher);
	// UpstreamKeys says where each publishes them (federation.Manager).
	Keys         KeySetResolver
	UpstreamKeys UpstreamKeys
	// Identities finds the user linked to an upstream account.
	Identities LinkedIdentities
}

// exchangeIDTokenClaims are the claims of a subject ID token gatehouse
// reads.
type exchangeIDTokenClaims struct {
	Issuer    string               `json:"iss"`
	Subject   string               `json:"sub"`
	Audience  josejwt.Audience     `json:"aud"`
	ID        string               `json:"jti"`
	Expiry    *josejwt.NumericDate `json:"exp"`
	IssuedAt  *josejwt.NumericDate `json:"iat"`
	NotBefore *josejwt.NumericDate `json:"nbf"`
	// MayAct names who may act for the subject (RFC 8693 §4.4).
	MayAct *struct {
		Subject string `json:"sub"`
	} `json:"may_act"`
}

// exchangeSubject is a verified subject token: whose it is and what it
// allows.
type exchangeSubject struct {
	// userID is the gatehouse subject (a user id, or a client id for a
	// client's own access token).
	userID string
	// clientID is the client an access token was issued to ("" for an ID
	// token); machine is true when the subject is that client itself.
	clientID string
	machine  bool
	// scopes are the access token's; nil for an ID token (none to
	// intersect: the client's own bound the exchange).
	scopes   fosite.Arguments
	idToken  bool
	act      *Actor
	username string
	authTime time.Time
	expiry   time.Time
	// mayAct is the subject token's may_act.sub ("" when it has none).
	mayAct string
}

// idTokenVerifier verifies ID tokens presented as subject tokens.
type idTokenVerifier struct {
	issuer     string
	own        KeySetResolver
	upstreams  map[string]TokenExchangeUpstream
	keys       KeySetResolver
	where      UpstreamKeys
	identities LinkedIdentities
	now        func() time.Time
}

// newIDTokenVerifier verifies gatehouse's own ID tokens with own, and
// those of the upstreams opts lists.
func newIDTokenVerifier(issuer string, own KeySetResolver, opts *TokenExchangeOptions, now func() time.Time) *idTokenVerifier {
	v := &idTokenVerifier{issuer: issuer, own: own, upstreams: map[string]TokenExchangeUpstream{}, now: now}
	if opts != nil {
		v.keys, v.where, v.identities = opts.Keys, opts.UpstreamKeys, opts.Identities
		for _, up := range opts.Upstreams {
			if up.Issuer != "" && up.Issuer != issuer {
				v.upstreams[up.Issuer] = up
			}
		}
	}
	return v
}

// ownKeySet resolves gatehouse's own public keys (the JWKS it publishes).
type ownKeySet struct {
	jwks func() []byte
}

func (o ownKeySet) Resolve(context.Context, string, bool) (*josev3.JSONWebKeySet, error) {
	var set josev3.JSONWebKeySet
	if err := json.Unmarshal(o.jwks(), &set); err != nil {
		return nil, err
	}
	return &set, nil
}

// verify checks an ID token presented by clientID and returns its subject.
// Every problem is invalid_grant, but a storage outage.
func (v *idTokenVerifier) verify(ctx context.Context, token, clientID string) (*exchangeSubject, error) {
	tok, err := josejwt.ParseSigned(token, idJAGSignatureAlgs())
	if err != nil {
		// RFC 8725 §3.1: asymmetric algorithms only, never none or HS*.
		return nil, invalidGrant("The subject token is not a JWT signed with one of %s.", strings.Join(IDJAGAlgs, ", ")).WithWrap(err)
	}
	if len(tok.Headers) != 1 {
		return nil, invalidGrant("The subject token must have exactly one signature.")
	}
	h := tok.Headers[0]
	if _, ok := h.ExtraHeaders["crit"]; ok {
		return nil, invalidGrant("The subject token has critical header parameters this server does not understand.")
	}
	var unverified exchangeIDTokenClaims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return nil, invalidGrant("The subject token's claims are not valid JSON of the right types.").WithWrap(err)
	}
	var c exchangeIDTokenClaims
	if unverified.Issuer == v.issuer {
		// Gatehouse's own ID token: issued to the exchanging client.
		if err := verifyWithKeySet(ctx, v.own, tok, h, "self", &c); err != nil {
			return nil, err
		}
		if err := v.checkClaims(&c, []string{clientID}); err != nil {
			return nil, err
		}
		return v.subject(&c, c.Subject), nil
	}
	up, ok := v.upstreams[unverified.Issuer]
	if !ok || unverified.Issuer == "" || v.where == nil || v.keys == nil {
		return nil, invalidGrant("The subject token's issuer is not trusted by this server.")
	}
	_, jwksURI, err := v.where.Keys(up.ID)
	if err != nil || jwksURI == "" {
		return nil, invalidGrant("The subject token issuer's keys are not available yet; retry later.").WithWrap(err)
	}
	if err := verifyWithKeySet(ctx, v.keys, tok, h, jwksURI, &c); err != nil {
		return nil, err
	}
	// The upstream issued it to gatehouse (its client id there), or for
	// gatehouse itself.
	if err := v.checkClaims(&c, []string{up.ClientID, v.issuer}); err != nil {
		return nil, err
	}
	if v.identities == nil {
		return nil, invalidGrant("The subject token's subject is not linked to an account here.")
	}
	// Only an identity linked by an earlier sign-in maps to a user: never
	// a new or e-mail-matched account (as for identity assertions).
	fi, err := v.identities.FederatedIdentity(ctx, up.ID, c.Subject)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, invalidGrant("The subject token's subject is not linked to an account here.")
	} else if err != nil {
		return nil, err
	}
	return v.subject(&c, fi.UserID), nil
}

func (v *idTokenVerifier) subject(c *exchangeIDTokenClaims, userID string) *exchangeSubject {
	s := &exchangeSubject{userID: userID, idToken: true, expiry: c.Expiry.Time()}
	if c.MayAct != nil {
		s.mayAct = c.MayAct.Subject
		if s.mayAct == "" {
			s.mayAct = "\x00" // present but naming nobody: nobody may act
		}
	}
	return s
}

// checkClaims applies the claims rules: iss as verified, aud one of
// audiences, sub and jti usable, exp required and not passed, iat and nbf
// not in the future, a bounded lifetime.
func (v *idTokenVerifier) checkClaims(c *exchangeIDTokenClaims, audiences []string) error {
	now := v.now()
	if !slices.ContainsFunc(audiences, func(a string) bool { return a != "" && c.Audience.Contains(a) }) {
		return invalidGrant("The subject token's aud does not name this client or this server.")
	}
	if !claimOK(c.Subject) {
		return invalidGrant("The subject token's sub is missing or not a valid identifier.")
	}
	if !claimOK(c.ID) {
		return invalidGrant("The subject token's jti is missing or not a valid identifier (it makes the exchange single use).")
	}
	if c.Expiry == nil || c.IssuedAt == nil {
		return invalidGrant("The subject token must carry exp and iat.")
	}
	exp, iat := c.Expiry.Time(), c.IssuedAt.Time()
	switch {
	case !now.Before(exp):
		return invalidGrant("The subject token has expired.")
	case iat.After(now.Add(exchangeClockSkew)):
		return invalidGrant("The subject token's iat is in the future.")
	case exp.Sub(iat) > exchangeIDTokenMaxLifetime:
		return invalidGrant("The subject token is valid for longer than this server accepts (%s).", exchangeIDTokenMaxLifetime)
	case c.NotBefore != nil && c.NotBefore.Time().After(now.Add(exchangeClockSkew)):
		return invalidGrant("The subject token is not valid yet (nbf).")
	}
	return nil
}

// exchangeReplayKey is an ID token's jti in the single-use store it shares
// with client assertions and identity assertions, namespaced by the grant
// and issuer (RFC 7519 §4.1.7).
func exchangeReplayKey(issuer, jti string) string {
	return fmt.Sprintf("token-exchange:%d:%s:%s", len(issuer), issuer, jti)
}

// unverifiedIDTokenClaims decodes the claims of a subject ID token without
// verifying it (it was verified earlier in the same request).
func unverifiedIDTokenClaims(token string) (*exchangeIDTokenClaims, bool) {
	if len(token) > exchangeTokenMaxLen {
		return nil, false
	}
	tok, err := josejwt.ParseSigned(token, idJAGSignatureAlgs())
	if err != nil {
		return nil, false
	}
	var c exchangeIDTokenClaims
	if tok.UnsafeClaimsWithoutVerification(&c) != nil || c.Expiry == nil {
		return nil, false
	}
	return &c, true
}
