package federation

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// maxClockSkew is how far in the future an ID token's iat may be.
const maxClockSkew = 2 * time.Minute

// Identity is who the upstream says signed in.
type Identity struct {
	// UpstreamID and Subject together identify the person for good (the
	// e-mail address may change or be reassigned).
	UpstreamID string
	Subject    string
	// Email as the upstream sent it. Never link accounts on it unless
	// EmailVerified.
	Email         string
	EmailVerified bool
	Name          string
	// HostedDomain is Google's hd claim (the Workspace domain), if any.
	HostedDomain string
	// AuthTime is when the person authenticated at the upstream: the
	// auth_time claim, or the ID token's iat when the upstream sent none.
	AuthTime time.Time
	// ACR and AMR are the upstream's acr and amr claims, if any.
	ACR string
	AMR []string
}

// Exchange redeems the authorization code the upstream id returned at the
// callback, with the PKCE verifier the request was made with, and verifies
// the ID token (signature against the upstream's JWKS, algorithm from its
// discovery document, iss, aud, exp, iat, nonce, azp), then applies the
// upstream's policy (AllowedDomains, HostedDomain). It is bounded by
// ExchangeTimeout. Every error is a *Rejection.
func (m *Manager) Exchange(ctx context.Context, id, code, verifier, nonce string) (*Identity, error) {
	u, d, err := m.lookup(id)
	if err != nil {
		reason := ReasonUnknownUpstream
		if errors.Is(err, ErrUnavailable) {
			reason = ReasonUpstreamUnavailable
		}
		return nil, &Rejection{Reason: reason, Err: fmt.Errorf("upstream %q: %w", sanitizeText(id, 64), err)}
	}
	secrets := []string{u.cfg.ClientSecret, code, verifier}
	switch {
	case code == "":
		return nil, &Rejection{Reason: ReasonInvalidRequest, Err: errors.New("the callback carries no authorization code")}
	case !validVerifier(verifier):
		return nil, &Rejection{Reason: ReasonInvalidRequest, Err: errors.New("the PKCE verifier is not an RFC 7636 code verifier")}
	case nonce == "":
		return nil, &Rejection{Reason: ReasonInvalidRequest, Err: errors.New("no nonce to check the ID token against")}
	}

	ctx, cancel := context.WithTimeout(ctx, m.exchangeT)
	defer cancel()
	ctx = oidc.ClientContext(ctx, m.client)

	tok, err := d.oauth.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		reason := ReasonExchangeFailed
		if m.timedOut(ctx, err) {
			reason = ReasonUpstreamTimeout
			err = fmt.Errorf("the token endpoint did not answer in time: %w", err)
		} else {
			err = tokenError(err)
		}
		return nil, &Rejection{Reason: reason, Err: scrub(err, secrets...)}
	}
	raw, _ := tok.Extra("id_token").(string)
	secrets = append(secrets, tok.AccessToken, tok.RefreshToken, raw)
	reject := func(reason string, err error) (*Identity, error) {
		return nil, &Rejection{Reason: reason, Err: scrub(err, secrets...)}
	}
	if raw == "" {
		return reject(ReasonBadIDToken, errors.New("the token response has no id_token"))
	}

	idt, err := d.verifier.Verify(ctx, raw)
	if err != nil {
		if m.timedOut(ctx, err) {
			return reject(ReasonUpstreamTimeout, fmt.Errorf("verifying the ID token: the JWKS did not arrive in time: %w", err))
		}
		return reject(ReasonBadIDToken, fmt.Errorf("ID token: %w", err))
	}
	var c claims
	if err := idt.Claims(&c); err != nil {
		return reject(ReasonBadIDToken, fmt.Errorf("ID token claims: %w", err))
	}
	now := m.now()
	switch {
	case idt.Subject == "":
		return reject(ReasonBadIDToken, errors.New("the ID token has no sub"))
	case len(idt.Subject) > 255:
		return reject(ReasonBadIDToken, errors.New("the ID token's sub is longer than 255 characters"))
	case idt.IssuedAt.IsZero():
		return reject(ReasonBadIDToken, errors.New("the ID token has no iat"))
	case idt.IssuedAt.After(now.Add(maxClockSkew)):
		return reject(ReasonBadIDToken, fmt.Errorf("the ID token was issued in the future (iat %s, now %s)",
			idt.IssuedAt.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)))
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		if idt.Nonce == "" {
			return reject(ReasonNonceMismatch, errors.New("the ID token has no nonce"))
		}
		return reject(ReasonNonceMismatch, errors.New("the ID token's nonce is not the one of this sign-in"))
	}
	switch {
	case c.AZP != "" && c.AZP != u.cfg.ClientID:
		return reject(ReasonAZPMismatch, fmt.Errorf("the ID token was issued to %q (azp), not to our client", sanitizeText(c.AZP, 100)))
	case c.AZP == "" && len(idt.Audience) > 1:
		return reject(ReasonAZPMismatch, errors.New("the ID token has several audiences but no azp"))
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return reject(ReasonBadIDToken, fmt.Errorf("ID token at_hash: %w", err))
		}
	}

	ident := &Identity{
		UpstreamID:    u.cfg.ID,
		Subject:       idt.Subject,
		Email:         strings.TrimSpace(c.Email),
		EmailVerified: bool(c.EmailVerified),
		Name:          strings.TrimSpace(c.Name),
		HostedDomain:  c.HD,
		AuthTime:      idt.IssuedAt,
		ACR:           c.ACR,
		AMR:           c.AMR,
	}
	if c.AuthTime != nil && *c.AuthTime > 0 && *c.AuthTime < 1e11 {
		sec, frac := math.Modf(*c.AuthTime)
		ident.AuthTime = time.Unix(int64(sec), int64(frac*1e9))
	}
	if err := u.policy(ident); err != nil {
		return nil, err
	}
	return ident, nil
}

// policy applies the upstream's AllowedDomains and HostedDomain.
func (u *upstream) policy(ident *Identity) *Rejection {
	if len(u.allowedDomains) > 0 {
		at := strings.LastIndexByte(ident.Email, '@')
		if ident.Email == "" || at <= 0 || at == len(ident.Email)-1 {
			return &Rejection{Reason: ReasonDomainNotAllowed, Err: errors.New("the upstream gave no usable e-mail address, and only some e-mail domains may sign in")}
		}
		if !ident.EmailVerified {
			return &Rejection{Reason: ReasonEmailNotVerified, Err: errors.New("the upstream says the e-mail address is not verified, and only verified addresses of some domains may sign in")}
		}
		domain := strings.ToLower(ident.Email[at+1:])
		if !slices.Contains(u.allowedDomains, domain) {
			return &Rejection{Reason: ReasonDomainNotAllowed, Err: fmt.Errorf("e-mail domain %q may not sign in through this upstream", sanitizeText(domain, 100))}
		}
	}
	if h := u.cfg.HostedDomain; h != "" && !strings.EqualFold(ident.HostedDomain, h) {
		if ident.HostedDomain == "" {
			return &Rejection{Reason: ReasonHDMismatch, Err: fmt.Errorf("the ID token has no hd claim; only accounts of the hosted domain %q may sign in", h)}
		}
		return &Rejection{Reason: ReasonHDMismatch, Err: fmt.Errorf("the ID token's hosted domain %q is not %q", sanitizeText(ident.HostedDomain, 100), h)}
	}
	return nil
}

// claims are the ID token claims go-oidc's IDToken does not carry.
type claims struct {
	Email         string      `json:"email"`
	EmailVerified lenientBool `json:"email_verified"`
	Name          string      `json:"name"`
	HD            string      `json:"hd"`
	AZP           string      `json:"azp"`
	AuthTime      *float64    `json:"auth_time"`
	ACR           string      `json:"acr"`
	AMR           []string    `json:"amr"`
}

// lenientBool accepts true/false and, as some providers send, "true"/"false".
// Anything else is false.
type lenientBool bool

func (b *lenientBool) UnmarshalJSON(data []byte) error {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	switch x := v.(type) {
	case bool:
		*b = lenientBool(x)
	case string:
		*b = lenientBool(strings.EqualFold(x, "true"))
	default:
		*b = false
	}
	return nil
}

// timedOut reports whether err is due to our deadline or a transport
// timeout rather than the caller cancelling ctx.
func (m *Manager) timedOut(ctx context.Context, err error) bool {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// tokenError describes a failed token request without the response body
// (which an upstream could fill with anything).
func tokenError(err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return fmt.Errorf("token request: %w", err)
	}
	status := "an error"
	if re.Response != nil {
		status = re.Response.Status
	}
	if re.ErrorCode == "" {
		return fmt.Errorf("the token endpoint answered %s", sanitizeText(status, 60))
	}
	msg := fmt.Sprintf("the token endpoint answered %s, error=%s", sanitizeText(status, 60), sanitizeCode(re.ErrorCode))
	if re.ErrorDescription != "" {
		msg += ": " + sanitizeText(re.ErrorDescription, maxDescription)
	}
	return errors.New(msg)
}
