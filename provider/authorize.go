package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/token/jwt"

	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// NewAuthorizeRequest is the authorization endpoint's request (GET or
// POST): a pushed request's request_uri resolved (RFC 9126), validated by
// fosite, and then held to the checks fosite only makes when it issues the
// code — PKCE with S256 (from every client but those an operator made
// PKCE-optional), well-formed prompt and max_age,
// the strict redirect URI match — so that a person never signs in only to
// see the request fail; and PAR for the clients that must use it. On error
// the request is returned when fosite got far enough to know where errors
// may go.
func (p *Provider) NewAuthorizeRequest(ctx context.Context, r *http.Request) (fosite.AuthorizeRequester, error) {
	if err := r.ParseMultipartForm(1 << 20); err != nil && !errors.Is(err, http.ErrNotMultipart) {
		return nil, fosite.ErrInvalidRequest.WithHint("The request could not be parsed.")
	}
	pushed := false
	uri, object := r.Form.Get("request_uri"), r.Form.Get("request")
	switch {
	case uri != "" && object != "":
		// RFC 9101 §5: one or the other.
		return p.refusedAuthorizeRequest(ctx, errorRoutingForm(r.Form),
			fosite.ErrInvalidRequest.WithHint("The request has both request and request_uri; send at most one."))
	case strings.HasPrefix(uri, PARRequestURIPrefix):
		rebuilt, err := p.pushedAuthorizeRequest(ctx, r.Form.Get("client_id"), uri)
		if err != nil {
			return nil, err
		}
		r, pushed = rebuilt, true
	case uri != "":
		// A request object by reference would make gatehouse fetch a URL
		// the request names: that is refused, not fetched (RFC 9101 §10.4,
		// OpenID Connect Core §6.2; discovery says
		// request_uri_parameter_supported false). PAR's request_uri is the
		// way to pass a request by reference.
		return p.refusedAuthorizeRequest(ctx, errorRoutingForm(r.Form),
			fosite.ErrRequestURINotSupported.WithHint("Request objects by reference (request_uri) are not supported; send the request object by value (request) or push the request (PAR, RFC 9126)."))
	case object != "":
		rebuilt, err := p.requestObjectAuthorizeRequest(ctx, r.Form)
		if err != nil {
			return p.refusedAuthorizeRequest(ctx, errorRoutingForm(r.Form), err)
		}
		r = rebuilt
	}
	if !pushed {
		// A pushed request's client was resolved when it was pushed.
		if err := p.resolveClientDocument(ctx, r.Form.Get("client_id")); err != nil {
			return nil, err
		}
	}
	ar, err := p.oauth2.NewAuthorizeRequest(ctx, r)
	if err = authorizeRequestResult(ar, err); err != nil {
		return ar, err
	}
	if p.parRequired(ar.GetClient()) && !pushed {
		return ar, fosite.ErrInvalidRequest.WithHint("This client must push its authorization requests first (PAR, RFC 9126).")
	}
	return ar, p.checkAuthorizeParams(ctx, ar)
}

// authorizeRequestResult is the outcome of fosite's parsing of an
// authorization request (err, and ar as far as fosite got), with two
// decisions of gatehouse's own:
//
//   - state is optional. fosite refuses a state shorter than
//     MinParameterEntropy, and so a missing one too; but PKCE, which
//     gatehouse requires from every client, protects the code flow against
//     CSRF (RFC 9700 §2.1.1; a PKCE-optional client is the operator's
//     choice), and a client that sends state gets it back
//     exactly as sent, whatever its length (MinParameterEntropy is 1).
//     fosite checks state last, so a request refused only for that is
//     otherwise complete.
//   - response_mode=fragment is refused for the code flow with
//     invalid_request (RFC 6749 §4.1.2.1: an unsupported parameter value),
//     sent by query, the code flow's default mode: the client asked for a
//     mode gatehouse knows but does not serve (fosite would answer
//     unsupported_response_mode, not a registered error code, in the
//     fragment). A mode nobody knows stays unsupported_response_mode, as
//     fosite and node-oidc-provider answer it.
func authorizeRequestResult(ar fosite.AuthorizeRequester, err error) error {
	if ar == nil {
		return err
	}
	if ar.GetResponseMode() == fosite.ResponseModeFragment {
		if req, ok := ar.(*fosite.AuthorizeRequest); ok {
			req.ResponseMode = fosite.ResponseModeQuery
		}
		if err == nil || errors.Is(err, fosite.ErrUnsupportedResponseMode) {
			return errFragmentResponseMode
		}
	}
	if errors.Is(err, fosite.ErrInvalidState) && ar.GetState() == "" {
		return nil
	}
	return err
}

// errFragmentResponseMode refuses response_mode=fragment.
var errFragmentResponseMode = fosite.ErrInvalidRequest.WithHint(
	"response_mode 'fragment' is not supported for the authorization code flow; use 'query' (the default) or 'form_post'.")

func (p *Provider) checkAuthorizeParams(ctx context.Context, ar fosite.AuthorizeRequester) error {
	if !redirectURIAllowed(ar) {
		return errRedirectURIMismatch
	}
	form := ar.GetRequestForm()
	if _, err := p.checkAuthorizeTargets(ctx, ar); err != nil {
		return err
	}
	challenge, method := form.Get("code_challenge"), form.Get("code_challenge_method")
	switch {
	case challenge == "" && method == "" && pkceOptional(ar.GetClient()):
	case challenge == "":
		return errPKCERequired
	case method != "S256":
		return fosite.ErrInvalidRequest.WithHint("code_challenge_method must be S256; plain is not allowed.")
	case !isBase64URLSHA256(challenge):
		return fosite.ErrInvalidRequest.WithHint("code_challenge must be the base64url-encoded SHA-256 of the code verifier (43 characters).")
	}
	prompts, err := ParsePrompt(form.Get("prompt"))
	if err != nil {
		return err
	}
	if slices.Contains(prompts, "create") && !p.opts.Signup {
		// Initiating User Registration 1.0 §4: a value the OP does not
		// advertise in prompt_values_supported.
		return fosite.ErrInvalidRequest.WithHint("prompt=create is not supported: self-service sign-up is off.")
	}
	if _, err := ParseClaimsRequest(form.Get("claims")); err != nil {
		return err
	}
	if err := checkDPoPJKT(form); err != nil {
		return err
	}
	_, _, err = ParseMaxAge(form.Get("max_age"))
	return err
}

// errPKCERequired answers an authorization request without PKCE from a
// client that must use it (all but the confidential clients an operator
// made PKCE-optional).
var errPKCERequired = fosite.ErrInvalidRequest.WithHint("PKCE is required: send code_challenge and code_challenge_method=S256 (RFC 7636).")

// pkceOptional reports whether c may obtain codes without PKCE: a
// confidential client an operator allowed to (storage.Client.PKCEOptional).
func pkceOptional(c fosite.Client) bool {
	sc, ok := StorageClient(c)
	return ok && sc.PKCEOptional && !sc.Public
}

// isBase64URLSHA256 reports whether s is a SHA-256 hash in base64url
// without padding (43 characters): an S256 code_challenge (RFC 7636
// §4.2), a dpop_jkt (RFC 9449 §10).
func isBase64URLSHA256(s string) bool {
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

// ParsePrompt parses the prompt parameter (OpenID Connect Core §3.1.2.1):
// none, login and consent; none alone.
func ParsePrompt(v string) ([]string, error) {
	prompts := strings.Fields(v)
	for _, p := range prompts {
		switch p {
		case "none", "login", "consent", "create":
			// create: OpenID Connect Initiating User Registration 1.0 §4;
			// checkAuthorizeParams refuses it when sign-up is off.
		default:
			return nil, fosite.ErrInvalidRequest.WithHintf("Unsupported prompt value %q; supported: none, login, consent (and create when sign-up is on).", p)
		}
	}
	if slices.Contains(prompts, "none") && len(prompts) > 1 {
		return nil, fosite.ErrInvalidRequest.WithHint("prompt=none cannot be combined with other values.")
	}
	return prompts, nil
}

// ParseMaxAge parses the max_age parameter (OpenID Connect Core
// §3.1.2.1), seconds; ok is false when it is absent.
func ParseMaxAge(v string) (seconds int64, ok bool, err error) {
	if v == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, false, fosite.ErrInvalidRequest.WithHint("max_age must be a non-negative integer number of seconds.")
	}
	return n, true, nil
}

// Complete grants the requested scopes and audience, builds the session for
// the person signed in, issues the authorization code and redirects w to
// the client with it (RFC 6749 §4.1.2). On an error nothing is written:
// the caller shows it or sends it to the client (WriteAuthorizeError).
// When flowHandle is set, the flow is consumed in the same transaction, so
// a replayed form post cannot mint a second code and a failure leaves the
// flow (and no code) behind.
func (p *Provider) Complete(ctx context.Context, w http.ResponseWriter, ar fosite.AuthorizeRequester, login *Login, flowHandle string) error {
	client, ok := StorageClient(ar.GetClient())
	if !ok {
		return fosite.ErrServerError.WithDebug("unexpected client type")
	}
	// The request was checked when it arrived; the client may have lost
	// its PKCE exemption while the person signed in.
	if ar.GetRequestForm().Get("code_challenge") == "" && !pkceOptional(client) {
		return errPKCERequired
	}
	for _, s := range ar.GetRequestedScopes() {
		ar.GrantScope(s)
	}
	for _, a := range ar.GetRequestedAudience() {
		ar.GrantAudience(a)
	}
	// RFC 8707 resource indicators (or the client's default resource):
	// the grant is for them, each access token for one of them.
	targets, err := p.checkAuthorizeTargets(ctx, ar)
	if err != nil {
		return err
	}
	// Whole seconds on both sides: the ID token carries seconds, and
	// fosite compares auth_time with the request time for prompt=login
	// and prompt=none.
	requestedAt := ar.GetRequestedAt().UTC().Truncate(time.Second)
	if req, ok := ar.(*fosite.AuthorizeRequest); ok {
		req.RequestedAt = requestedAt
	}
	claimsReq, err := ParseClaimsRequest(ar.GetRequestForm().Get("claims"))
	if err != nil {
		return err
	}
	acr, err := essentialACR(claimsReq, login.Session.ACR)
	if err != nil {
		return err
	}
	if acr != login.Session.ACR {
		// The ID token names the class requested that the sign-in meets.
		ls := *login.Session
		ls.ACR = acr
		login = &Login{Session: &ls, User: login.User}
	}
	sess, err := p.userSession(client, login, ar.GetGrantedScopes(), requestedAt, claimsReq)
	if err != nil {
		return err
	}
	sess.Resources = targetIDs(targets)
	// RFC 9449 §10: the code, and so the tokens for it, bound to the key
	// the request named.
	sess.JKT = codeDPoPJKT(ar)
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
		if resp, err = p.oauth2.NewAuthorizeResponse(ctx, ar, sess); err != nil {
			return err
		}
		return p.recordSessionClient(ctx, login, client.ID)
	})
	if err != nil {
		return err
	}
	// RFC 9207: tell the client which issuer answered (mix-up defence).
	resp.AddParameter("iss", p.opts.Issuer)
	// RFC 6749 §4.1.2: state only when the request had one. fosite adds
	// it empty, and a client that sent none may refuse a response that
	// has one (oauth4webapi does).
	if ar.GetState() == "" {
		resp.GetParameters().Del("state")
	}
	if ar.GetResponseMode() == fosite.ResponseModeFormPost {
		for k := range resp.GetHeader() {
			w.Header().Set(k, resp.GetHeader().Get(k))
		}
		writeFormPost(w, ar.GetRedirectURI(), resp.GetParameters())
		return nil
	}
	p.oauth2.WriteAuthorizeResponse(ctx, w, ar, resp)
	return nil
}

// userSession builds the session a code (and the tokens it yields) carries.
// Everything the ID token needs is set now (FOSITE.md §4.6): refreshes later
// reuse this session, not the authorization request.
func (p *Provider) userSession(client *storage.Client, login *Login, granted fosite.Arguments, requestedAt time.Time, claimsReq *ClaimsRequest) (*Session, error) {
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
	if claimsReq != nil {
		// The claims parameter's names, as far as the client may receive
		// them; consent covered them (RequestConsentScopes).
		sess.IDTokenClaimNames = releasableClaims(claimsReq.IDToken, client)
		sess.UserinfoClaimNames = releasableClaims(claimsReq.UserInfo, client)
	}
	sess.Claims = &jwt.IDTokenClaims{
		Subject:     u.ID,
		Issuer:      p.opts.Issuer,
		Audience:    []string{client.ID},
		AuthTime:    authTime,
		RequestedAt: requestedAt,
		Extra:       ReleasedClaims(u, granted, sess.IDTokenClaimNames),
		// How the person signed in: "pwd", or "fed" through an upstream
		// (whose id acr names).
		AuthenticationMethodsReferences:     login.Session.AMR,
		AuthenticationContextClassReference: login.Session.ACR,
	}
	// The login session's id for logout (Front-Channel Logout §3,
	// Back-Channel Logout §2.1); the refreshed ID tokens keep it.
	if sid := login.Session.SID; sid != "" {
		sess.Claims.Extra["sid"] = sid
	}
	sess.Headers.Extra["kid"] = kid
	return sess, nil
}

// sessionClientRecorder remembers which clients got a code in which login
// session, so that ending the session reaches them (back- and
// front-channel logout).
type sessionClientRecorder interface {
	AddLoginSessionClient(ctx context.Context, sessionID, clientID string, at time.Time) error
}

// recordSessionClient notes, in the transaction that issues the code, that
// the client got one in the browser's login session. Only the
// authorization code path writes this: tokens without a person (client
// credentials) belong to no session. A session ended meanwhile issues no
// code: its clients have been told it ended.
func (p *Provider) recordSessionClient(ctx context.Context, login *Login, clientID string) error {
	if login.Session == nil || login.Session.ID == "" {
		return nil
	}
	err := p.store.AddLoginSessionClient(ctx, login.Session.ID, clientID, p.now())
	if errors.Is(err, storage.ErrNotFound) {
		return fosite.ErrLoginRequired.WithHint("The sign-in session has ended; sign in again.")
	}
	return err
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

// ErrFlowNotFound means the flow handle is unknown, expired or used.
var ErrFlowNotFound = errors.New("provider: this sign-in request has expired or was already completed")

// ResumeAuthorizeRequest rebuilds the authorization request of a flow (a
// request waiting for the person on the sign-in and consent pages; see
// package login). fosite checks it again (the client may have changed
// meanwhile), and the request keeps its original time, which prompt=login
// and max_age are measured against.
func (p *Provider) ResumeAuthorizeRequest(ctx context.Context, f *storage.AuthFlow) (fosite.AuthorizeRequester, error) {
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, p.opts.Issuer+PathAuthorize+"?"+f.Form, nil)
	if err != nil {
		return nil, fmt.Errorf("provider: rebuild flow request: %w", err)
	}
	ar, err := p.oauth2.NewAuthorizeRequest(ctx, r)
	if err = authorizeRequestResult(ar, err); err != nil {
		return ar, err
	}
	if req, ok := ar.(*fosite.AuthorizeRequest); ok {
		req.RequestedAt = f.RequestedAt.UTC()
	}
	return ar, nil
}
