package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/token/jwt"

	"github.com/gatehouse-dev/gatehouse/internal/reqctx"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// Step is what an authorization request needs next from the user.
type Step int

const (
	// StepDone: nothing; the authorization can be completed.
	StepDone Step = iota
	// StepLogin: the user must sign in (again).
	StepLogin
	// StepConsent: the user must allow the client's scopes.
	StepConsent
)

// FlowState is what already happened within one authorization flow.
type FlowState struct {
	// LoggedIn: the user signed in within this flow, which satisfies
	// prompt=login and max_age.
	LoggedIn bool
	// Consented: the user allowed the request within this flow, which
	// satisfies prompt=consent.
	Consented bool
}

// NextStep decides what ar needs before a code can be issued. login is the
// browser's current sign-in (nil if none). With prompt=none, a needed step
// becomes the error to return to the client (login_required,
// consent_required).
func (p *Provider) NextStep(ctx context.Context, ar fosite.AuthorizeRequester, login *Login, st FlowState) (Step, error) {
	form := ar.GetRequestForm()
	prompts, err := parsePrompt(form.Get("prompt"))
	if err != nil {
		return 0, err
	}
	maxAge, hasMaxAge, err := parseMaxAge(form.Get("max_age"))
	if err != nil {
		return 0, err
	}
	none := slices.Contains(prompts, "none")

	needLogin := login == nil
	if login != nil && !st.LoggedIn {
		if slices.Contains(prompts, "login") {
			needLogin = true
		}
		if hasMaxAge && p.now().Sub(login.Session.AuthTime) > time.Duration(maxAge)*time.Second {
			needLogin = true
		}
	}
	if needLogin {
		if none {
			return 0, fosite.ErrLoginRequired.WithHint("The user is not signed in (or must sign in again) and prompt=none was requested.")
		}
		return StepLogin, nil
	}

	if st.Consented {
		return StepDone, nil
	}
	client, ok := StorageClient(ar.GetClient())
	if !ok {
		return 0, fosite.ErrServerError.WithDebug("unexpected client type")
	}
	if client.SkipConsent {
		return StepDone, nil
	}
	needConsent := slices.Contains(prompts, "consent")
	if !needConsent {
		covered, err := p.consentCovers(ctx, login.User.ID, client.ID, ar.GetRequestedScopes())
		if err != nil {
			return 0, err
		}
		needConsent = !covered
	}
	if needConsent {
		if none {
			return 0, fosite.ErrConsentRequired.WithHint("The user has not allowed this client these scopes and prompt=none was requested.")
		}
		return StepConsent, nil
	}
	return StepDone, nil
}

// NewAuthorizeRequest is the authorization endpoint's request (GET or
// POST): a pushed request's request_uri resolved (RFC 9126), validated by
// fosite, and then held to the checks fosite only makes when it issues the
// code — PKCE with S256 for every client, well-formed prompt and max_age,
// the strict redirect URI match — so that a person never signs in only to
// see the request fail; and PAR for the clients that must use it. On error
// the request is returned when fosite got far enough to know where errors
// may go.
func (p *Provider) NewAuthorizeRequest(ctx context.Context, r *http.Request) (fosite.AuthorizeRequester, error) {
	if err := r.ParseMultipartForm(1 << 20); err != nil && !errors.Is(err, http.ErrNotMultipart) {
		return nil, fosite.ErrInvalidRequest.WithHint("The request could not be parsed.")
	}
	pushed := false
	if uri := r.Form.Get("request_uri"); strings.HasPrefix(uri, PARRequestURIPrefix) {
		rebuilt, err := p.pushedAuthorizeRequest(ctx, r.Form.Get("client_id"), uri)
		if err != nil {
			return nil, err
		}
		r, pushed = rebuilt, true
	}
	ar, err := p.OAuth2.NewAuthorizeRequest(ctx, r)
	if err != nil {
		return ar, err
	}
	if p.parRequired(ar.GetClient()) && !pushed {
		return ar, fosite.ErrInvalidRequest.WithHint("This client must push its authorization requests first (PAR, RFC 9126).")
	}
	return ar, checkAuthorizeParams(ar)
}

func checkAuthorizeParams(ar fosite.AuthorizeRequester) error {
	if !redirectURIAllowed(ar) {
		return errRedirectURIMismatch
	}
	form := ar.GetRequestForm()
	if _, err := resources(form, ar.GetClient()); err != nil {
		return err
	}
	challenge, method := form.Get("code_challenge"), form.Get("code_challenge_method")
	switch {
	case challenge == "":
		return fosite.ErrInvalidRequest.WithHint("PKCE is required: send code_challenge and code_challenge_method=S256 (RFC 7636).")
	case method != "S256":
		return fosite.ErrInvalidRequest.WithHint("code_challenge_method must be S256; plain is not allowed.")
	case !isS256Challenge(challenge):
		return fosite.ErrInvalidRequest.WithHint("code_challenge must be the base64url-encoded SHA-256 of the code verifier (43 characters).")
	}
	if _, err := parsePrompt(form.Get("prompt")); err != nil {
		return err
	}
	_, _, err := parseMaxAge(form.Get("max_age"))
	return err
}

func isS256Challenge(s string) bool {
	if len(s) != 43 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func parsePrompt(v string) ([]string, error) {
	prompts := strings.Fields(v)
	for _, p := range prompts {
		switch p {
		case "none", "login", "consent":
		default:
			return nil, fosite.ErrInvalidRequest.WithHintf("Unsupported prompt value %q; supported: none, login, consent.", p)
		}
	}
	if slices.Contains(prompts, "none") && len(prompts) > 1 {
		return nil, fosite.ErrInvalidRequest.WithHint("prompt=none cannot be combined with other values.")
	}
	return prompts, nil
}

func parseMaxAge(v string) (int64, bool, error) {
	if v == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, false, fosite.ErrInvalidRequest.WithHint("max_age must be a non-negative integer number of seconds.")
	}
	return n, true, nil
}

func (p *Provider) consentCovers(ctx context.Context, userID, clientID string, scopes fosite.Arguments) (bool, error) {
	g, err := p.store.ConsentGrant(ctx, userID, clientID)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	for _, s := range ConsentScopes(scopes) {
		if !slices.Contains(g.Scopes, s) {
			return false, nil
		}
	}
	return true, nil
}

// RememberConsent records that the user allowed the client these scopes,
// adding to what was allowed before, and audits it (consent.given with
// the scopes allowed now). Management scopes are never part of a consent
// (ConsentScopes).
func (p *Provider) RememberConsent(ctx context.Context, userID, clientID string, scopes []string) error {
	scopes = ConsentScopes(scopes)
	now := p.now().UTC()
	g, err := p.store.ConsentGrant(ctx, userID, clientID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		g = &storage.ConsentGrant{UserID: userID, ClientID: clientID, CreatedAt: now}
	case err != nil:
		return err
	}
	for _, s := range scopes {
		if !slices.Contains(g.Scopes, s) {
			g.Scopes = append(g.Scopes, s)
		}
	}
	g.UpdatedAt = now
	if err := p.store.SaveConsentGrant(ctx, g); err != nil {
		return err
	}
	p.audit.Record(ctx, audit.Event{
		Type: audit.ConsentGiven, Actor: audit.UserSubject(userID), Subject: audit.UserSubject(userID),
		ClientID: clientID, IP: reqctx.ClientIP(ctx), Details: map[string]string{"scopes": strings.Join(scopes, " ")},
	})
	return nil
}

// StartFlow stores an authorization request that needs the user and returns
// the handle that the login and consent pages carry.
func (p *Provider) StartFlow(ctx context.Context, ar fosite.AuthorizeRequester) (string, error) {
	handle, err := secret.NewHandle()
	if err != nil {
		return "", err
	}
	requestedAt := ar.GetRequestedAt().UTC()
	// A pushed request's parameters are already merged into the form; its
	// request_uri was used up, so the flow resumes from the parameters.
	form := url.Values{}
	for k, v := range ar.GetRequestForm() {
		if k != "request_uri" {
			form[k] = v
		}
	}
	f := &storage.AuthFlow{
		ID:          secret.HashHandle(handle),
		ClientID:    ar.GetClient().GetID(),
		Form:        form.Encode(),
		RequestedAt: requestedAt,
		ExpiresAt:   p.now().UTC().Add(p.opts.Lifespans.AuthFlow),
	}
	if err := p.store.CreateAuthFlow(ctx, f); err != nil {
		return "", fmt.Errorf("provider: store flow: %w", err)
	}
	return handle, nil
}

// ErrFlowNotFound means the flow handle is unknown, expired or used.
var ErrFlowNotFound = errors.New("provider: this sign-in request has expired or was already completed")

// Flow loads a flow by its handle.
func (p *Provider) Flow(ctx context.Context, handle string) (*storage.AuthFlow, error) {
	if handle == "" || len(handle) > 100 {
		return nil, ErrFlowNotFound
	}
	f, err := p.store.AuthFlow(ctx, secret.HashHandle(handle))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrFlowNotFound
	}
	return f, err
}

// SetFlowLogin records that u signed in within the flow.
func (p *Provider) SetFlowLogin(ctx context.Context, handle, userID string, authTime time.Time) error {
	err := p.store.SetAuthFlowLogin(ctx, secret.HashHandle(handle), userID, authTime.UTC().Truncate(time.Second))
	if errors.Is(err, storage.ErrNotFound) {
		return ErrFlowNotFound
	}
	return err
}

// ResumeFlow rebuilds the authorization request of a flow. fosite checks it
// again (the client may have changed meanwhile), and the request keeps its
// original time, which prompt=login and max_age are measured against.
func (p *Provider) ResumeFlow(ctx context.Context, f *storage.AuthFlow) (fosite.AuthorizeRequester, error) {
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, p.opts.Issuer+PathAuthorize+"?"+f.Form, nil)
	if err != nil {
		return nil, fmt.Errorf("provider: rebuild flow request: %w", err)
	}
	ar, err := p.OAuth2.NewAuthorizeRequest(ctx, r)
	if err != nil {
		return ar, err
	}
	if req, ok := ar.(*fosite.AuthorizeRequest); ok {
		req.RequestedAt = f.RequestedAt.UTC()
	}
	return ar, nil
}

// Deny consumes the flow in which the user refused the client the scopes
// and audits it (consent.denied); the caller then sends access_denied to
// the client.
func (p *Provider) Deny(ctx context.Context, flowHandle, userID, clientID string, scopes []string) error {
	err := p.store.DeleteAuthFlow(ctx, secret.HashHandle(flowHandle))
	if errors.Is(err, storage.ErrNotFound) {
		return ErrFlowNotFound
	}
	if err != nil {
		return err
	}
	p.audit.Record(ctx, audit.Event{
		Type: audit.ConsentDenied, Actor: audit.UserSubject(userID), Subject: audit.UserSubject(userID),
		ClientID: clientID, IP: reqctx.ClientIP(ctx), Details: map[string]string{"scopes": strings.Join(scopes, " ")},
	})
	return nil
}

// Complete grants the requested scopes and audience, builds the session for
// u and issues the authorization code. When flowHandle is set, the flow is
// consumed in the same transaction, so a replayed form post cannot mint a
// second code and a failure leaves the flow (and no code) behind.
func (p *Provider) Complete(ctx context.Context, ar fosite.AuthorizeRequester, login *Login, flowHandle string) (fosite.AuthorizeResponder, error) {
	client, ok := StorageClient(ar.GetClient())
	if !ok {
		return nil, fosite.ErrServerError.WithDebug("unexpected client type")
	}
	for _, s := range ar.GetRequestedScopes() {
		ar.GrantScope(s)
	}
	for _, a := range ar.GetRequestedAudience() {
		ar.GrantAudience(a)
	}
	// RFC 8707 resource indicators become the tokens' audience.
	if err := grantResources(ar); err != nil {
		return nil, err
	}
	// Whole seconds on both sides: the ID token carries seconds, and
	// fosite compares auth_time with the request time for prompt=login
	// and prompt=none.
	requestedAt := ar.GetRequestedAt().UTC().Truncate(time.Second)
	if req, ok := ar.(*fosite.AuthorizeRequest); ok {
		req.RequestedAt = requestedAt
	}
	sess, err := p.userSession(client, login, ar.GetGrantedScopes(), requestedAt)
	if err != nil {
		return nil, err
	}
	var resp fosite.AuthorizeResponder
	err = p.store.InTx(ctx, func(ctx context.Context) error {
		if flowHandle != "" {
			if err := p.store.DeleteAuthFlow(ctx, secret.HashHandle(flowHandle)); err != nil {
				if errors.Is(err, storage.ErrNotFound) {
					return ErrFlowNotFound
				}
				return err
			}
		}
		var err error
		resp, err = p.OAuth2.NewAuthorizeResponse(ctx, ar, sess)
		return err
	})
	if err != nil {
		return nil, err
	}
	// RFC 9207: tell the client which issuer answered (mix-up defence).
	resp.AddParameter("iss", p.opts.Issuer)
	return resp, nil
}

// userSession builds the session a code (and the tokens it yields) carries.
// Everything the ID token needs is set now (FOSITE.md §4.6): refreshes later
// reuse this session, not the authorization request.
func (p *Provider) userSession(client *storage.Client, login *Login, granted fosite.Arguments, requestedAt time.Time) (*Session, error) {
	u := login.User
	authTime := login.Session.AuthTime.UTC().Truncate(time.Second)
	kid, err := p.keys.CurrentKID(client.IDTokenAlg())
	if err != nil {
		return nil, fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	}
	sess := NewSession()
	sess.Subject = u.ID
	sess.Username = u.Email
	sess.ClientID = client.ID
	sess.Claims = &jwt.IDTokenClaims{
		Subject:     u.ID,
		Issuer:      p.opts.Issuer,
		Audience:    []string{client.ID},
		AuthTime:    authTime,
		RequestedAt: requestedAt,
		Extra:       UserClaims(u, granted),
		// How the person signed in: "pwd", or "fed" through an upstream
		// (whose id acr names).
		AuthenticationMethodsReferences:     login.Session.AMR,
		AuthenticationContextClassReference: login.Session.ACR,
	}
	sess.Headers.Extra["kid"] = kid
	return sess, nil
}

// AuthorizeErrorRedirectsAtOnce reports whether an error found at the
// authorization endpoint, before the person did anything on one of
// gatehouse's pages, may send the browser straight back to the client
// (RFC 6749 §4.1.2.1): only for a client an operator created. A
// dynamically registered client's redirect URI is whatever its registrant
// chose, so redirecting there at once would let anyone who registers a
// client use gatehouse as an open redirector (RFC 9700 §4.11.2); the
// person gets a page with a link instead. Errors after the person acted
// (access_denied on the consent page) redirect for every client.
func AuthorizeErrorRedirectsAtOnce(ar fosite.AuthorizeRequester) bool {
	c, ok := StorageClient(ar.GetClient())
	return ok && !dynamicallyRegistered(c)
}

// dynamicallyRegistered reports whether c was registered through the
// registration endpoint (RFC 7591), not created by an operator: only such
// a client has a registration access token (RFC 7592).
func dynamicallyRegistered(c *storage.Client) bool {
	return c.RegistrationAccessTokenHash != ""
}

// AuthorizeErrorRedirectable reports whether an authorization error may be
// sent to the client's redirect URI (it is registered and matched, by
// fosite and by gatehouse's stricter matcher); if not, the user must see an
// error page instead.
func AuthorizeErrorRedirectable(ar fosite.AuthorizeRequester) bool {
	return ar != nil && ar.IsRedirectURIValid() && redirectURIAllowed(ar)
}
