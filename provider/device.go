package provider

import (
	"context"
	"crypto/rand"
	"errors"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/hmac"
	"github.com/ory/fosite/token/jwt"

	"github.com/gatehouse-dev/gatehouse/internal/reqctx"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// The OAuth 2.0 Device Authorization Grant (RFC 8628): a device without a
// browser (a TV, a command-line tool) asks the device authorization
// endpoint for a device code and a user code, shows the person the
// verification URI and the user code, and polls the token endpoint with
// the device code while the person signs in on another device, checks the
// code and approves. fosite v0.49 has no such grant: the endpoint is
// DeviceAuthorize and the token side is deviceHandler, one of the token
// endpoint's handlers. Everything a poll decides on is in the database
// (storage.DeviceAuthorization), so any instance answers any poll.

// GrantDeviceCode is RFC 8628 §3.4's grant type.
const GrantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"

// Paths of the device flow, relative to the issuer.
const (
	PathDeviceAuthorization = "/oauth2/device/authorize"
	// PathDeviceVerification is the verification_uri (RFC 8628 §3.2): the
	// page where the person enters the user code.
	PathDeviceVerification = "/device"
)

// PrefixDeviceCode marks gatehouse's device codes for secret scanners, as
// its other tokens are marked.
const PrefixDeviceCode = "gth_dc_"

// Defaults of the device flow.
const (
	// DefaultDeviceCodeLifetime is expires_in: long enough to find a
	// phone and sign in, short enough to bound guessing (RFC 8628 §5.1).
	DefaultDeviceCodeLifetime = 10 * time.Minute
	// DefaultDevicePollInterval is the interval the device waits between
	// polls (RFC 8628 §3.2: 5 seconds when the server names none).
	DefaultDevicePollInterval = 5 * time.Second
	// deviceSlowDownStep is what slow_down adds to the interval (RFC 8628
	// §3.5: "the interval MUST be increased by 5 seconds").
	deviceSlowDownStep = 5 * time.Second
	// maxDeviceCodeLen bounds the device_code parameter before it is
	// hashed.
	maxDeviceCodeLen = 256
	// maxDeviceScopeLen bounds the scope parameter.
	maxDeviceScopeLen = 2000
)

// userCodeAlphabet has no vowels (no words are spelt by accident) and no
// characters that look alike (0/O, 1/I/L): RFC 8628 §6.1. 20^8 codes
// (about 2^34.6) with a ten-minute lifetime and throttled guesses (§5.1).
const userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

// userCodeLen is the length of a user code without its dash.
const userCodeLen = 8

// Device flow errors (RFC 8628 §3.5). They are token endpoint errors
// (RFC 6749 §5.2): 400, as the RFC's examples show.
var (
	ErrAuthorizationPending = &fosite.RFC6749Error{
		ErrorField:       "authorization_pending",
		DescriptionField: "The authorization request is still pending: the person has not approved or denied it yet.",
		CodeField:        http.StatusBadRequest,
	}
	ErrSlowDown = &fosite.RFC6749Error{
		ErrorField:       "slow_down",
		DescriptionField: "The authorization request is still pending and polling too fast: wait 5 more seconds between polls.",
		CodeField:        http.StatusBadRequest,
	}
	ErrExpiredToken = &fosite.RFC6749Error{
		ErrorField:       "expired_token",
		DescriptionField: "The device code has expired; start again with a new device authorization request.",
		CodeField:        http.StatusBadRequest,
	}
	ErrDeviceAccessDenied = &fosite.RFC6749Error{
		ErrorField:       "access_denied",
		DescriptionField: "The person denied the authorization request.",
		CodeField:        http.StatusBadRequest,
	}
)

// deviceStore keeps device authorizations (storage.DeviceAuthorizationStore).
type deviceStore interface {
	storage.DeviceAuthorizationStore
}

// NormalizeUserCode is the user code s in its stored form: upper case,
// without the dashes and spaces people type (RFC 8628 §6.1: case
// insensitive, punctuation ignored); ok is false when s cannot be one.
func NormalizeUserCode(s string) (string, bool) {
	if len(s) > 64 {
		return "", false
	}
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch {
		case r == '-' || r == ' ' || r == '\t':
			continue
		case !strings.ContainsRune(userCodeAlphabet, r):
			return "", false
		}
		b.WriteRune(r)
	}
	if b.Len() != userCodeLen {
		return "", false
	}
	return b.String(), true
}

// FormatUserCode shows a normalised user code as XXXX-XXXX.
func FormatUserCode(code string) string {
	if len(code) != userCodeLen {
		return code
	}
	return code[:4] + "-" + code[4:]
}

func newUserCode() (string, error) {
	b := make([]byte, userCodeLen)
	max := big.NewInt(int64(len(userCodeAlphabet)))
	for i := range b {
		n, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", err
		}
		b[i] = userCodeAlphabet[n.Int64()]
	}
	return string(b), nil
}

// deviceAuthorizationResponse is RFC 8628 §3.2's answer.
type deviceAuthorizationResponse struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
}

// DeviceAuthorize is the device authorization endpoint (RFC 8628 §3.1-3.2):
// it authenticates the client as the token endpoint does (a public client
// names itself with client_id, §3.1), checks that it may use the grant,
// its scopes and resources, and answers a device code and a user code.
func (p *Provider) DeviceAuthorize(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	resp, err := p.deviceAuthorize(ctx, r)
	if err != nil {
		err = p.OAuthError(ctx, err, "")
		challengeClient(w, err)
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (p *Provider) deviceAuthorize(ctx context.Context, r *http.Request) (*deviceAuthorizationResponse, error) {
	if r.Method != http.MethodPost {
		return nil, fosite.ErrInvalidRequest.WithHint("Use POST (RFC 8628 §3.1).")
	}
	if err := requireFormBody(r); err != nil {
		return nil, err
	}
	if err := r.ParseForm(); err != nil {
		return nil, fosite.ErrInvalidRequest.WithHint("The request body is not a valid form.")
	}
	client, err := p.fosite.AuthenticateClient(ctx, r, r.PostForm)
	if err != nil {
		return nil, err
	}
	if !client.GetGrantTypes().Has(GrantDeviceCode) {
		return nil, fosite.ErrUnauthorizedClient.WithHintf("The client is not allowed the grant type %s.", GrantDeviceCode)
	}
	scopeParam := r.PostForm.Get("scope")
	if len(scopeParam) > maxDeviceScopeLen {
		return nil, fosite.ErrInvalidScope.WithHint("The scope parameter is too long.")
	}
	var scopes []string
	for _, s := range strings.Fields(scopeParam) {
		switch {
		case IsManagementScope(s):
			// Management power is never granted by consent (DESIGN.md).
			return nil, fosite.ErrInvalidScope.WithHintf("The scope %q is never granted through a person's approval.", s)
		case !fosite.ExactScopeStrategy(client.GetScopes(), s):
			return nil, fosite.ErrInvalidScope.WithHintf("The client may not request scope %q.", s)
		}
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	targets, err := p.requestedTargets(ctx, r.PostForm, client)
	if err != nil {
		return nil, err
	}
	if err := checkTargetScopes(targets, scopes); err != nil {
		return nil, err
	}

	code, sig, err := p.deviceCodes.Generate(ctx)
	if err != nil {
		return nil, fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	}
	now := p.now().UTC()
	d := &storage.DeviceAuthorization{
		Signature: sig, ClientID: client.GetID(), Scopes: scopes, Resources: targetIDs(targets),
		RequestedAt: now, ExpiresAt: now.Add(p.opts.DeviceCodeLifetime), Interval: p.opts.DevicePollInterval,
		Status: storage.DeviceStatusPending,
	}
	// A user code can collide with a live one (20^8 codes): draw again.
	for range 5 {
		if d.UserCode, err = newUserCode(); err != nil {
			return nil, fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
		}
		if err = p.devices.CreateDeviceAuthorization(ctx, d); !errors.Is(err, storage.ErrConflict) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	verify := p.opts.Issuer + PathDeviceVerification
	return &deviceAuthorizationResponse{
		DeviceCode:              PrefixDeviceCode + code,
		UserCode:                FormatUserCode(d.UserCode),
		VerificationURI:         verify,
		VerificationURIComplete: verify + "?" + url.Values{"user_code": {FormatUserCode(d.UserCode)}}.Encode(),
		ExpiresIn:               int64(p.opts.DeviceCodeLifetime / time.Second),
		Interval:                int64(p.opts.DevicePollInterval / time.Second),
	}, nil
}

// DeviceRequest is a pending device authorization as the verification
// page shows it.
type DeviceRequest struct {
	UserCode string
	Client   *storage.Client
	Scopes   []string
}

// ErrUnknownUserCode: no pending, unexpired device authorization has that
// user code (or it is malformed). Pages answer it with one generic
// sentence (RFC 8628 §5.1).
var ErrUnknownUserCode = errors.New("provider: unknown or expired user code")

// ErrDeviceClientMFA: the client requires a second factor and the session
// has none.
var ErrDeviceClientMFA = errors.New("provider: the client requires a second factor")

// DeviceRequestByUserCode finds the pending device authorization a person
// typed the user code of.
func (p *Provider) DeviceRequestByUserCode(ctx context.Context, userCode string) (*DeviceRequest, error) {
	code, ok := NormalizeUserCode(userCode)
	if !ok {
		return nil, ErrUnknownUserCode
	}
	d, err := p.devices.DeviceAuthorizationByUserCode(ctx, code)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && d.Status != storage.DeviceStatusPending) {
		return nil, ErrUnknownUserCode
	} else if err != nil {
		return nil, err
	}
	c, err := p.store.ClientByID(ctx, d.ClientID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrUnknownUserCode
	} else if err != nil {
		return nil, err
	}
	return &DeviceRequest{UserCode: code, Client: c, Scopes: d.Scopes}, nil
}

// ApproveDevice binds the device authorization of userCode to the person
// signed in with login, once (RFC 8628 §3.3): a second approval of the same
// code is ErrUnknownUserCode. The scopes granted are those requested; the
// request is returned for the caller to remember the consent (which also
// lets the person revoke the device's tokens from the account page).
func (p *Provider) ApproveDevice(ctx context.Context, userCode string, login *Login) (*DeviceRequest, error) {
	req, err := p.DeviceRequestByUserCode(ctx, userCode)
	if err != nil {
		return nil, err
	}
	if login == nil || login.User == nil || login.Session == nil || login.User.Disabled {
		return nil, errors.New("provider: approve device: no signed-in person")
	}
	if req.Client.RequireMFA && !sessionHasSecondFactor(login.Session) {
		return nil, ErrDeviceClientMFA
	}
	err = p.devices.ApproveDeviceAuthorization(ctx, req.UserCode, storage.DeviceApproval{
		SessionID: login.Session.ID, UserID: login.User.ID, GrantedScopes: req.Scopes,
		AuthTime: login.Session.AuthTime, AMR: login.Session.AMR,
	})
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrUnknownUserCode
	} else if err != nil {
		return nil, err
	}
	return req, nil
}

// DenyDevice records the refusal of the person signed in with login; the
// device's next poll gets access_denied.
func (p *Provider) DenyDevice(ctx context.Context, userCode string, login *Login) error {
	req, err := p.DeviceRequestByUserCode(ctx, userCode)
	if err != nil {
		return err
	}
	err = p.devices.DenyDeviceAuthorization(ctx, req.UserCode)
	if errors.Is(err, storage.ErrNotFound) {
		return ErrUnknownUserCode
	}
	if err == nil && login != nil && login.User != nil {
		p.audit.Record(ctx, audit.Event{
			Type: audit.ConsentDenied, Actor: audit.UserSubject(login.User.ID), Subject: audit.UserSubject(login.User.ID),
			ClientID: req.Client.ID, IP: reqctx.ClientIP(ctx),
			Details: map[string]string{"scopes": strings.Join(req.Scopes, " "), "grant": "device_code"},
		})
	}
	return err
}

// deviceHandler redeems device codes at the token endpoint (RFC 8628 §3.4,
// §3.5).
type deviceHandler struct {
	p        *Provider
	codes    *hmac.HMACStrategy
	refresh  oauth2.RefreshTokenStrategy
	tokens   oauth2.CoreStorage
	idTokens openid.OpenIDConnectTokenStrategy
	helper   *oauth2.HandleHelper
}

var _ fosite.TokenEndpointHandler = (*deviceHandler)(nil)

func (h *deviceHandler) CanHandleTokenEndpointRequest(_ context.Context, ar fosite.AccessRequester) bool {
	return ar.GetGrantTypes().ExactOne(GrantDeviceCode)
}

// CanSkipClientAuth is false: the client authenticates as it did at the
// device authorization endpoint (RFC 8628 §3.4); a public one names
// itself.
func (h *deviceHandler) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool { return false }

// signature is the stored signature of a device code; ok is false for a
// code this server did not issue (its HMAC does not check out).
func (h *deviceHandler) signature(ctx context.Context, code string) (string, bool) {
	if len(code) > maxDeviceCodeLen || !strings.HasPrefix(code, PrefixDeviceCode) {
		return "", false
	}
	raw := strings.TrimPrefix(code, PrefixDeviceCode)
	if h.codes.Validate(ctx, raw) != nil {
		return "", false
	}
	return h.codes.Signature(raw), true
}

// HandleTokenEndpointRequest answers a poll: it records it (a poll sooner
// than the interval after the previous one is slow_down and raises the
// interval, §3.5), and says where the authorization stands. An approved
// one becomes the person's grant; PopulateTokenEndpointResponse spends it.
func (h *deviceHandler) HandleTokenEndpointRequest(ctx context.Context, ar fosite.AccessRequester) error {
	if !h.CanHandleTokenEndpointRequest(ctx, ar) {
		return fosite.ErrUnknownRequest
	}
	client := ar.GetClient()
	if !client.GetGrantTypes().Has(GrantDeviceCode) {
		return fosite.ErrUnauthorizedClient.WithHintf("The client is not allowed the grant type %s.", GrantDeviceCode)
	}
	code := ar.GetRequestForm().Get("device_code")
	if code == "" {
		return fosite.ErrInvalidRequest.WithHint("The device_code parameter is missing (RFC 8628 §3.4).")
	}
	sig, ok := h.signature(ctx, code)
	if !ok {
		return fosite.ErrInvalidGrant.WithHint("The device code is not valid.")
	}
	d, err := h.p.devices.DeviceAuthorizationBySignature(ctx, sig)
	if errors.Is(err, storage.ErrNotFound) {
		// Unknown, or deleted by the janitor after it expired.
		return fosite.ErrInvalidGrant.WithHint("The device code is not valid, or has expired.")
	} else if err != nil {
		return err
	}
	if d.ClientID != client.GetID() {
		// RFC 6749 §5.2: issued to another client.
		return fosite.ErrInvalidGrant.WithHint("The device code was issued to another client.")
	}
	if d.Status == storage.DeviceStatusConsumed {
		return fosite.ErrInvalidGrant.WithHint("The device code has already been used.")
	}
	now := h.p.now().UTC()
	if !now.Before(d.ExpiresAt) {
		return ErrExpiredToken
	}
	interval, tooFast := d.Interval, !d.LastPolledAt.IsZero() && now.Sub(d.LastPolledAt) < d.Interval
	if tooFast {
		interval += deviceSlowDownStep
	}
	// Compare-and-set on the poll count: of two polls read at one count
	// (on two instances), one is recorded, the other is too fast.
	err = h.p.devices.RecordDevicePoll(ctx, sig, d.Polls, now, interval)
	if errors.Is(err, storage.ErrNotFound) {
		return ErrSlowDown
	} else if err != nil {
		return err
	}
	if tooFast {
		return ErrSlowDown
	}
	switch d.Status {
	case storage.DeviceStatusPending:
		return ErrAuthorizationPending
	case storage.DeviceStatusDenied:
		return ErrDeviceAccessDenied
	case storage.DeviceStatusApproved:
		return h.grant(ctx, ar, d)
	}
	return fosite.ErrServerError.WithDebugf("device authorization in status %q", d.Status)
}

// grant makes the approved authorization d the request's grant: the
// person's session and claims (as the authorization code path builds
// them, userSession), the scopes the person granted, the resources, and
// the one resource the access token is for.
func (h *deviceHandler) grant(ctx context.Context, ar fosite.AccessRequester, d *storage.DeviceAuthorization) error {
	p := h.p
	u, err := p.store.UserByID(ctx, d.UserID)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && u.Disabled) {
		return fosite.ErrInvalidGrant.WithHint("The user account is no longer active.")
	} else if err != nil {
		return err
	}
	sc, ok := StorageClient(ar.GetClient())
	if !ok {
		return fosite.ErrServerError.WithDebug("unexpected client type")
	}
	sess, ok := ar.GetSession().(*Session)
	if !ok {
		return fosite.ErrServerError.WithDebug("unexpected session type")
	}
	for _, s := range d.GrantedScopes {
		ar.GrantScope(s)
	}
	kid, err := p.keys.CurrentKID(sc.IDTokenAlg())
	if err != nil {
		return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	}
	now := p.now().UTC()
	sess.Subject = u.ID
	sess.Username = u.Email
	sess.ClientID = sc.ID
	sess.Resources = d.Resources
	sess.Claims = &jwt.IDTokenClaims{
		Subject:                         u.ID,
		Issuer:                          p.opts.Issuer,
		Audience:                        []string{sc.ID},
		AuthTime:                        d.AuthTime.Truncate(time.Second),
		RequestedAt:                     d.RequestedAt,
		Extra:                           ReleasedClaims(u, ar.GetGrantedScopes(), nil),
		AuthenticationMethodsReferences: d.AMR,
	}
	sess.Headers.Extra["kid"] = kid
	sess.SetExpiresAt(fosite.AccessToken, now.Add(p.opts.Lifespans.AccessToken).Round(time.Second))
	sess.SetExpiresAt(fosite.RefreshToken, now.Add(p.opts.Lifespans.RefreshToken).Round(time.Second))
	sess.SetExpiresAt(fosite.IDToken, now.Add(p.opts.Lifespans.IDToken).Round(time.Second))
	t, err := p.grantTarget(ctx, ar, sess)
	if err != nil {
		return err
	}
	p.bindTokenResource(sess, t)
	if t != nil {
		return checkTargetScopes([]target{*t}, ar.GetGrantedScopes())
	}
	return nil
}

// PopulateTokenEndpointResponse spends the device code and issues the
// tokens, in the token endpoint's transaction (newAccessResponse): of two
// concurrent redemptions one gets tokens. A refresh token when
// offline_access was granted and the client may refresh; an ID token when
// openid was granted.
func (h *deviceHandler) PopulateTokenEndpointResponse(ctx context.Context, ar fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !h.CanHandleTokenEndpointRequest(ctx, ar) {
		return fosite.ErrUnknownRequest
	}
	sig, ok := h.signature(ctx, ar.GetRequestForm().Get("device_code"))
	if !ok {
		return fosite.ErrInvalidGrant.WithHint("The device code is not valid.")
	}
	if err := h.p.devices.ConsumeDeviceAuthorization(ctx, sig); errors.Is(err, storage.ErrNotFound) {
		return fosite.ErrInvalidGrant.WithHint("The device code has already been used.")
	} else if err != nil {
		return err
	}
	accessSig, err := h.helper.IssueAccessToken(ctx, h.p.opts.Lifespans.AccessToken, ar, resp)
	if err != nil {
		return err
	}
	granted := ar.GetGrantedScopes()
	if (granted.Has(ScopeOfflineAccess) || granted.Has(ScopeOffline)) && ar.GetClient().GetGrantTypes().Has("refresh_token") {
		refresh, refreshSig, err := h.refresh.GenerateRefreshToken(ctx, ar)
		if err != nil {
			return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
		}
		if err := h.tokens.CreateRefreshTokenSession(ctx, refreshSig, accessSig, ar.Sanitize(nil)); err != nil {
			return err
		}
		resp.SetExtra("refresh_token", refresh)
	}
	if granted.Has(ScopeOpenID) {
		// The ID token is about the approval, not about this request's
		// form: fosite would read prompt, max_age or id_token_hint from it.
		clean := fosite.NewAccessRequest(ar.GetSession())
		clean.Client, clean.GrantedScope, clean.RequestedAt = ar.GetClient(), granted, ar.GetRequestedAt()
		clean.Form = url.Values{"grant_type": {GrantDeviceCode}}
		tok, err := h.idTokens.GenerateIDToken(ctx, h.p.opts.Lifespans.IDToken, clean)
		if err != nil {
			return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
		}
		resp.SetExtra("id_token", tok)
	}
	return nil
}

// sessionHasSecondFactor reports whether the login session was completed
// with a second factor (amr "mfa", RFC 8176 §2, which the second-factor
// step and passkeys write).
func sessionHasSecondFactor(s *storage.LoginSession) bool {
	return s != nil && slices.Contains(s.AMR, AMRMultiFactor)
}
