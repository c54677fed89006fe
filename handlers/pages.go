package handlers

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/ory/fosite"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/federation"
	"github.com/gatehouse-dev/gatehouse/provider/login"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/templates"
)

// signIn is what the sign-in, consent and account pages ask of sign-in
// (login.Service).
type signIn interface {
	PasswordLogin() bool
	Authenticate(ctx context.Context, email, password, deviceCookie string) (*storage.User, error)
	RememberDevice(cookie string, u *storage.User) (string, error)
	Start(ctx context.Context, u *storage.User, authTime time.Time, method provider.LoginMethod) (string, *provider.Login, error)
	Current(ctx context.Context, handle string) (*provider.Login, error)
	End(ctx context.Context, handle string) (*login.EndedSession, error)
	Sessions() *login.Sessions

	StartFlow(ctx context.Context, ar fosite.AuthorizeRequester) (string, error)
	Flow(ctx context.Context, handle string) (*storage.AuthFlow, error)
	SetFlowLogin(ctx context.Context, handle, userID string, authTime time.Time) error
	NextStep(ctx context.Context, ar fosite.AuthorizeRequester, signedIn *provider.Login, st login.FlowState) (login.Step, error)
	RememberConsent(ctx context.Context, userID, clientID string, scopes []string) error
	Deny(ctx context.Context, flowHandle, userID, clientID string, scopes []string) error

	Upstreams() []federation.Info
	UpstreamName(id string) string
	BeginUpstreamLogin(ctx context.Context, id, flowHandle, next string, opt federation.AuthOptions) (authURL, browser string, err error)
	FinishUpstreamLogin(ctx context.Context, id, state, code, errCode, errDesc, browser string) (*login.UpstreamResult, error)
	LinkedIdentities(ctx context.Context, userID string) ([]login.LinkedIdentity, error)
	CanUnlink(u *storage.User, linked int) bool
	UnlinkIdentity(ctx context.Context, u *storage.User, upstreamID, subject string) error

	SecondFactorRequired(ctx context.Context, u *storage.User, ar fosite.AuthorizeRequester) (bool, error)
	SecondFactorMethods(ctx context.Context, userID string) ([]string, error)
	SecondFactorStatus(ctx context.Context, userID string) (*login.SecondFactorStatus, error)
	HasSecondFactor(ctx context.Context, userID string) (bool, error)
	VerifySecondFactor(ctx context.Context, u *storage.User, method, code, deviceCookie string) error
	BeginTOTPEnrolment(ctx context.Context, u *storage.User, resume bool) (*login.TOTPEnrolment, error)
	ConfirmTOTP(ctx context.Context, u *storage.User, code, deviceCookie string) ([]string, error)
	RegenerateRecoveryCodes(ctx context.Context, u *storage.User) ([]string, error)
	RemoveTOTP(ctx context.Context, u *storage.User, code, password, deviceCookie string) error
	StepUp(ctx context.Context, l *provider.Login, amr ...string) error
	PasskeySecondFactorSucceeded(ctx context.Context, u *storage.User, deviceCookie string)
	SealPendingSignIn(u *storage.User, method provider.LoginMethod) (string, time.Time, error)
	OpenPendingSignIn(ctx context.Context, value string) (*login.PendingSignIn, *storage.User, error)

	AppGrants(ctx context.Context, userID string) ([]login.AppGrant, error)
	RevokeAppGrant(ctx context.Context, userID, clientID string) (*login.RevokedApp, error)
}

// cookieNames: on https the names carry the __Host- prefix, which makes
// browsers insist on Secure, Path=/ and no Domain (no subdomain can plant
// or read them). Plain http (local development) cannot use the prefix.
type cookieNames struct {
	session  string
	csrf     string
	upstream string // binds an upstream sign-in to the browser that started it
	device   string // the accounts this browser signed in to (provider.RememberDevice)
	pending  string // a first factor waiting for the second (login.SealPendingSignIn)
	ceremony string // the handle of the WebAuthn ceremony this browser began
	enrol    string // the e-mailed code before a required first second factor (login.EnrolmentProof)
}

func newCookieNames(secure bool) cookieNames {
	if secure {
		return cookieNames{session: "__Host-gth_session", csrf: "__Host-gth_csrf", upstream: "__Host-gth_upstream", device: "__Host-gth_device",
			pending: "__Host-gth_mfa", ceremony: "__Host-gth_webauthn", enrol: "__Host-gth_mfa_enrol"}
	}
	return cookieNames{session: "gth_session", csrf: "gth_csrf", upstream: "gth_upstream", device: "gth_device", pending: "gth_mfa", ceremony: "gth_webauthn", enrol: "gth_mfa_enrol"}
}

const csrfContextKey = "csrf"

// csrf guards our forms: echo's double-submit CSRF middleware (hidden
// input "_csrf", read from the body only; a cookie as strict as the
// session cookie). Every form
// route has it, so it is also the one place where a form's body is read:
// for a POST it first runs formParams, which answers a body that cannot
// be read (cut short, malformed) with a 400 page and an oversized one with
// a 413 — before the handler, which would otherwise see empty fields and
// carry on with a request whose client has gone.
func (h *Handler) csrf() echo.MiddlewareFunc {
	check := middleware.CSRFWithConfig(middleware.CSRFConfig{
		// An RP may POST its logout request (OpenID Connect RP-Initiated
		// Logout §2); without our token it is treated like a GET, which
		// never signs anyone out without proof (see logoutSubmit).
		Skipper: func(c echo.Context) bool {
			return c.Request().Method == http.MethodPost && c.Path() == provider.PathLogout && c.FormValue("_csrf") == ""
		},
		TokenLookup:    "form:_csrf",
		ContextKey:     csrfContextKey,
		CookieName:     h.cookies.csrf,
		CookiePath:     "/",
		CookieMaxAge:   int((24 * time.Hour).Seconds()),
		CookieSecure:   h.secure,
		CookieHTTPOnly: true,
		CookieSameSite: http.SameSiteLaxMode,
		ErrorHandler: func(err error, c echo.Context) error {
			return h.errorPage(c, http.StatusForbidden, "The form has expired or did not come from this site. Go back, reload the page and try again.")
		},
	})
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		checked := check(next)
		submitted := h.formParams(func(c echo.Context) error {
			// The token counts only from the body: echo's "form:" lookup
			// reads r.Form, which holds the query too, and a token in a
			// URL leaks into logs, Referer headers and history. r.Form's
			// _csrf becomes the body's (none when the body has none), for
			// the check and for the logout handler, which reads it as well.
			r := c.Request()
			if token, ok := r.PostForm["_csrf"]; ok {
				r.Form["_csrf"] = token
			} else {
				delete(r.Form, "_csrf")
			}
			return checked(c)
		})
		return func(c echo.Context) error {
			switch c.Request().Method {
			case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
				return checked(c) // no form body; echo checks no token
			}
			return submitted(c)
		}
	}
}

func (h *Handler) common(c echo.Context, title string) templates.Common {
	token, _ := c.Get(csrfContextKey).(string)
	return templates.Common{Title: title, CSRFToken: token, Product: h.product, LogoURL: h.logoURL, SupportURL: h.supportURL}
}

// render writes a page; a template failure becomes a plain 500.
func (h *Handler) render(c echo.Context, status int, name string, data any) error {
	var buf bytes.Buffer
	if err := h.pages.Render(&buf, name, data); err != nil {
		h.log.ErrorContext(c.Request().Context(), "render page", "page", name, "err", err)
		return c.String(http.StatusInternalServerError, "internal error")
	}
	return c.HTMLBlob(status, buf.Bytes())
}

// allowFormRedirect widens the page's form-action to the client's redirect
// origin: after the form posts, the answer is a redirect there, and
// browsers check that redirect against form-action too.
func allowFormRedirect(c echo.Context, ar fosite.AuthorizeRequester) {
	if ar == nil || ar.GetRedirectURI() == nil {
		return
	}
	u := ar.GetRedirectURI()
	origin := (&url.URL{Scheme: u.Scheme, Host: u.Host}).String()
	if strings.ContainsAny(origin, " ;,'\"") {
		return
	}
	c.Response().Header().Set("Content-Security-Policy", basePageCSP+" "+origin)
}

// currentLogin returns the browser's sign-in, or nil.
func (h *Handler) currentLogin(c echo.Context) (*provider.Login, error) {
	ck, err := c.Cookie(h.cookies.session)
	if err != nil {
		return nil, nil
	}
	return h.login.Current(c.Request().Context(), ck.Value)
}

func (h *Handler) setSessionCookie(c echo.Context, handle string, expires time.Time) {
	c.SetCookie(&http.Cookie{
		Name: h.cookies.session, Value: handle, Path: "/", Expires: expires,
		HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteLaxMode,
	})
}

// deviceCookie returns the browser's device cookie, "" when it has none.
func (h *Handler) deviceCookie(c echo.Context) string {
	ck, err := c.Cookie(h.cookies.device)
	if err != nil {
		return ""
	}
	return ck.Value
}

// rememberDevice makes the browser known to u's account: password
// sign-ins from it are judged by its own failures only, so an attacker
// who locks the account for unknown browsers does not lock it out. Like
// the session cookie it is HttpOnly and SameSite=Lax (Secure and
// __Host- on https); it outlives sign-outs on purpose.
func (h *Handler) rememberDevice(c echo.Context, u *storage.User) error {
	value, err := h.login.RememberDevice(h.deviceCookie(c), u)
	if err != nil {
		return err
	}
	c.SetCookie(&http.Cookie{
		Name: h.cookies.device, Value: value, Path: "/", Expires: h.now().Add(login.DeviceCookieLifetime),
		HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteLaxMode,
	})
	return nil
}

func (h *Handler) clearSessionCookie(c echo.Context) {
	c.SetCookie(&http.Cookie{
		Name: h.cookies.session, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteLaxMode,
	})
}

// flowRequest loads the flow named by the "flow" parameter and rebuilds its
// authorization request.
func (h *Handler) flowRequest(c echo.Context) (string, *storage.AuthFlow, fosite.AuthorizeRequester, error) {
	handle := c.FormValue("flow")
	f, err := h.login.Flow(c.Request().Context(), handle)
	if err != nil {
		return "", nil, nil, err
	}
	ar, err := h.p.ResumeAuthorizeRequest(c.Request().Context(), f)
	return handle, f, ar, err
}

// flowError answers a failure to load or resume a flow.
func (h *Handler) flowError(c echo.Context, ar fosite.AuthorizeRequester, err error) error {
	if errors.Is(err, provider.ErrFlowNotFound) {
		return h.errorPage(c, http.StatusBadRequest, "This sign-in request has expired or was already completed. Go back to the application and start again.")
	}
	return h.authorizeError(c, ar, err)
}

func clientName(ar fosite.AuthorizeRequester) string {
	if c, ok := provider.StorageClient(ar.GetClient()); ok {
		return c.Name
	}
	return ""
}

// loginPage shows the sign-in form: of an authorization flow, or (without
// a flow) of the account pages.
func (h *Handler) loginPage(c echo.Context) error {
	if c.FormValue("flow") == "" {
		next := accountNext(c.FormValue("next"))
		return h.render(c, http.StatusOK, "login", h.loginData(c, &templates.LoginData{Next: next}))
	}
	_, _, ar, err := h.flowRequest(c)
	if err != nil {
		return h.flowError(c, ar, err)
	}
	allowFormRedirect(c, ar)
	return h.render(c, http.StatusOK, "login", h.loginData(c, &templates.LoginData{
		Flow: c.FormValue("flow"), ClientName: clientName(ar), Email: loginHint(ar),
	}))
}

// loginHint is the login_hint of an authorization request (OpenID Connect
// Core §3.1.2.1: the identifier the person might sign in with) when it
// can be an e-mail address, the identifier gatehouse signs people in
// with: it fills in the e-mail field, which the person can still change.
// Any other hint (a phone number, a subject) is ignored.
func loginHint(ar fosite.AuthorizeRequester) string {
	h := strings.TrimSpace(ar.GetRequestForm().Get("login_hint"))
	if len(h) > 254 || strings.Count(h, "@") != 1 || strings.ContainsAny(h, " \t\r\n") {
		return ""
	}
	return h
}

// loginData completes the login page: title, CSRF token, the "Continue
// with ..." buttons (carrying the flow or next), and whether the password
// form is shown.
func (h *Handler) loginData(c echo.Context, d *templates.LoginData) *templates.LoginData {
	d.Common = h.common(c, "Sign in")
	d.PasswordDisabled = !h.login.PasswordLogin()
	d.ForgotPassword = h.reset != nil
	d.Signup = h.signup != nil
	h.passkeysOnLogin(c, d)
	for _, u := range h.login.Upstreams() {
		q := url.Values{}
		if d.Flow != "" {
			q.Set("flow", d.Flow)
		} else {
			q.Set("next", d.Next)
		}
		d.Upstreams = append(d.Upstreams, templates.UpstreamButton{ID: u.ID, Name: u.Name, URL: "/login/" + u.ID + "?" + q.Encode()})
	}
	return d
}

// accountNext is where a sign-in without a flow continues: a path under
// /account, or the device page (with the user code typed there), never
// anything else (no open redirect).
func accountNext(next string) string {
	if strings.HasPrefix(next, "/account/") && !strings.ContainsAny(next, "\\\r\n") && !strings.Contains(next, "//") {
		return next
	}
	if next == provider.PathDeviceVerification {
		return next
	}
	if code, ok := strings.CutPrefix(next, provider.PathDeviceVerification+"?user_code="); ok {
		// Only a well-formed code (letters of its alphabet and a dash):
		// nothing else can ride along.
		if _, valid := provider.NormalizeUserCode(code); valid && !strings.ContainsAny(code, " \t") {
			return next
		}
	}
	return provider.PathAccount
}

// signIn checks the posted e-mail and password. A nil user with a nil
// error means the credentials were wrong.
func (h *Handler) signIn(c echo.Context) (*storage.User, error) {
	ctx := c.Request().Context()
	u, err := h.login.Authenticate(ctx, c.FormValue("email"), c.FormValue("password"), h.deviceCookie(c))
	if errors.Is(err, login.ErrInvalidCredentials) {
		h.log.InfoContext(ctx, "login failed", "reason", "invalid credentials", "ip", c.RealIP())
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	h.log.InfoContext(ctx, "login succeeded", "user_id", u.ID)
	return u, nil
}

// loginSubmit checks the password, starts the browser session and moves the
// flow on (consent, or straight back to the client); without a flow it
// continues to the account pages.
func (h *Handler) loginSubmit(c echo.Context) error {
	if !h.login.PasswordLogin() {
		return h.errorPage(c, http.StatusForbidden, "Sign-in with a password is turned off here. Use one of the other ways to sign in.")
	}
	failed := func(data *templates.LoginData) error {
		data = h.loginData(c, data)
		data.Email = truncate(c.FormValue("email"), 320)
		data.Error = "Wrong e-mail or password."
		return h.render(c, http.StatusUnauthorized, "login", data)
	}
	if c.FormValue("flow") == "" {
		next := accountNext(c.FormValue("next"))
		u, err := h.signIn(c)
		if err != nil {
			return err
		}
		if u == nil {
			return failed(&templates.LoginData{Next: next})
		}
		return h.firstFactorDone(c, u, provider.MethodPassword, "", nil, next)
	}

	handle, _, ar, err := h.flowRequest(c)
	if err != nil {
		return h.flowError(c, ar, err)
	}
	allowFormRedirect(c, ar)
	u, err := h.signIn(c)
	if err != nil {
		return err
	}
	if u == nil {
		return failed(&templates.LoginData{Flow: handle, ClientName: clientName(ar)})
	}
	return h.firstFactorDone(c, u, provider.MethodPassword, handle, ar, "")
}

// continueFlow moves an authorization flow on after the person signed in
// within it: to the consent page, or straight back to the client. Only the
// consent page reads who signed in within the flow, so the flow records it
// only on the way there; a flow completed at once is deleted instead (one
// database round trip fewer per sign-in).
func (h *Handler) continueFlow(c echo.Context, handle string, ar fosite.AuthorizeRequester, signedIn *provider.Login) error {
	ctx := c.Request().Context()
	step, err := h.login.NextStep(ctx, ar, signedIn, login.FlowState{LoggedIn: true})
	if err != nil {
		return h.authorizeError(c, ar, err)
	}
	if step == login.StepConsent {
		if err := h.login.SetFlowLogin(ctx, handle, signedIn.User.ID, signedIn.Session.AuthTime); err != nil {
			return h.flowError(c, ar, err)
		}
		return c.Redirect(http.StatusSeeOther, "/consent?flow="+url.QueryEscape(handle))
	}
	return h.completeAuthorization(c, ar, signedIn, handle)
}

// startSession signs the browser in as login's user, replacing any session
// it had, and makes it a known browser of the account (with a password or
// through an upstream alike: either proves the person).
func (h *Handler) startSession(c echo.Context, u *storage.User, method provider.LoginMethod) (*provider.Login, error) {
	ctx := c.Request().Context()
	if old, err := c.Cookie(h.cookies.session); err == nil {
		// The old session ends, and its apps are told (back-channel).
		if _, err := h.login.End(ctx, old.Value); err != nil {
			return nil, err
		}
	}
	cookie, signedIn, err := h.login.Start(ctx, u, h.now().UTC(), method)
	if err != nil {
		return nil, err
	}
	h.setSessionCookie(c, cookie, signedIn.Session.ExpiresAt)
	if err := h.rememberDevice(c, u); err != nil {
		return nil, err
	}
	return signedIn, nil
}

// flowLogin returns the browser's sign-in if it belongs to the flow: the
// user who signed in within the flow, or (for a flow that started signed
// in) any current sign-in. Otherwise the user must sign in again.
func (h *Handler) flowLogin(c echo.Context, f *storage.AuthFlow) (*provider.Login, error) {
	signedIn, err := h.currentLogin(c)
	if err != nil || signedIn == nil {
		return nil, err
	}
	if f.UserID != "" && f.UserID != signedIn.User.ID {
		return nil, nil
	}
	return signedIn, nil
}

// consentFlow loads the flow a consent request names and checks that this
// browser may decide on it now. When it cannot (no sign-in for the flow,
// or the flow still needs a fresh one for prompt=login or max_age), it
// answers the request itself and returns a nil login with the handler's
// result.
func (h *Handler) consentFlow(c echo.Context) (string, fosite.AuthorizeRequester, *provider.Login, error) {
	handle, f, ar, err := h.flowRequest(c)
	if err != nil {
		return "", nil, nil, h.flowError(c, ar, err)
	}
	signedIn, err := h.flowLogin(c, f)
	if err != nil {
		return "", nil, nil, err
	}
	step, err := h.login.NextStep(c.Request().Context(), ar, signedIn, login.FlowState{LoggedIn: f.UserID != "", Consented: true})
	if err != nil {
		return "", nil, nil, h.authorizeError(c, ar, err)
	}
	if signedIn == nil || step == login.StepLogin {
		return "", nil, nil, c.Redirect(http.StatusSeeOther, "/login?flow="+url.QueryEscape(handle))
	}
	if step == login.StepSecondFactor {
		// Consent only once the sign-in has every factor it needs.
		return "", nil, nil, c.Redirect(http.StatusSeeOther, PathSecondFactor+"?flow="+url.QueryEscape(handle))
	}
	allowFormRedirect(c, ar)
	return handle, ar, signedIn, nil
}

// consentPage asks the user to allow the client's scopes.
func (h *Handler) consentPage(c echo.Context) error {
	handle, ar, signedIn, err := h.consentFlow(c)
	if signedIn == nil {
		return err
	}
	return h.render(c, http.StatusOK, "consent", h.consentData(c, handle, ar, signedIn))
}

func (h *Handler) consentData(c echo.Context, handle string, ar fosite.AuthorizeRequester, signedIn *provider.Login) *templates.ConsentData {
	var scopes []templates.Scope
	for _, s := range provider.RequestConsentScopes(ar) {
		scopes = append(scopes, templates.Scope{Name: s, Description: provider.ScopeDescription(s)})
	}
	data := &templates.ConsentData{
		Common: h.common(c, "Allow access?"), Flow: handle,
		ClientName: clientName(ar), ClientID: ar.GetClient().GetID(),
		UserEmail: signedIn.User.Email, Scopes: scopes,
	}
	if sc, ok := provider.StorageClient(ar.GetClient()); ok {
		data.LogoURI, data.ClientURI, data.PolicyURI, data.TosURI = sc.LogoURI, sc.ClientURI, sc.PolicyURI, sc.TosURI
		data.RegisteredBy = sc.RegisteredBy
		if sc.MetadataDocument {
			data.Document = h.clientDocumentView(sc, ar.GetRedirectURI())
			// Its logo is not shown: the draft (§"Displaying Logos to
			// End-Users") wants it fetched and vetted by the server first;
			// served from the client's host it could change per request
			// and track who looks at the page.
			data.LogoURI = ""
		}
	}
	return data
}

// clientDocumentView says where an app known by its metadata document
// comes from and where it sends the person: the host of its client ID
// (the draft, §"OAuth Phishing Attacks": SHOULD display it) and of the
// redirect URI, with a warning when every redirect URI is on loopback —
// any program on the device can serve those (RFC 8252 §8.6) — unless
// the operator trusts the host.
func (h *Handler) clientDocumentView(c *storage.Client, redirect *url.URL) *templates.ClientDocument {
	host := ""
	if u, err := url.Parse(c.ID); err == nil {
		host = u.Hostname()
	}
	v := &templates.ClientDocument{Host: host}
	if redirect != nil {
		v.RedirectHost = redirect.Host
	}
	v.LocalhostOnly = len(c.RedirectURIs) > 0
	for _, raw := range c.RedirectURIs {
		if u, err := url.Parse(raw); err != nil || !provider.LoopbackHost(u.Hostname()) {
			v.LocalhostOnly = false
		}
	}
	if v.LocalhostOnly && h.trustedDocumentHost != nil && h.trustedDocumentHost(host) {
		v.LocalhostOnly = false
	}
	return v
}

// consentSubmit records the user's decision. Allow remembers the scopes and
// completes the authorization; Deny sends access_denied to the client.
func (h *Handler) consentSubmit(c echo.Context) error {
	ctx := c.Request().Context()
	handle, ar, signedIn, err := h.consentFlow(c)
	if signedIn == nil {
		return err
	}
	switch c.FormValue("decision") {
	case "allow":
		if err := h.login.RememberConsent(ctx, signedIn.User.ID, ar.GetClient().GetID(), provider.RequestConsentScopes(ar)); err != nil {
			return err
		}
		h.log.InfoContext(ctx, "consent given", "user_id", signedIn.User.ID, "client_id", ar.GetClient().GetID())
		return h.completeAuthorization(c, ar, signedIn, handle)
	case "deny":
		if err := h.login.Deny(ctx, handle, signedIn.User.ID, ar.GetClient().GetID(), ar.GetRequestedScopes()); err != nil {
			return h.flowError(c, ar, err)
		}
		h.log.InfoContext(ctx, "consent denied", "user_id", signedIn.User.ID, "client_id", ar.GetClient().GetID())
		h.p.WriteAuthorizeError(ctx, c.Response(), ar, fosite.ErrAccessDenied.WithHint("The user denied the request."))
		return nil
	default:
		return h.errorPage(c, http.StatusBadRequest, "Choose Allow or Deny.")
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
