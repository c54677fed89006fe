package handlers

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/ory/fosite"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/login"
	"github.com/gatehouse-dev/gatehouse/provider/passkey"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/templates"
)

// passkeys is what the passkey routes ask of passkey.Service.
type passkeys interface {
	List(ctx context.Context, userID string) ([]*storage.Passkey, error)
	CanRemoveLast(ctx context.Context, u *storage.User) (bool, error)
	BeginRegistration(ctx context.Context, u *storage.User) (*passkey.Ceremony, error)
	FinishRegistration(ctx context.Context, u *storage.User, handle, name string, response []byte) (*storage.Passkey, error)
	Rename(ctx context.Context, u *storage.User, id, name string) error
	Remove(ctx context.Context, u *storage.User, id string) error
	BeginLogin(ctx context.Context) (*passkey.Ceremony, error)
	FinishLogin(ctx context.Context, handle string, response []byte) (*storage.User, provider.LoginMethod, error)
	BeginSecondFactor(ctx context.Context, u *storage.User) (*passkey.Ceremony, error)
	FinishSecondFactor(ctx context.Context, u *storage.User, handle string, response []byte) ([]string, error)
}

// PathAccountPasskeys is the account's passkeys section (for now a page of
// its own; the account's security page embeds it).
const PathAccountPasskeys = "/account/security/passkeys"

// pathPasskeyLogin is where the sign-in page's passkey form posts.
const pathPasskeyLogin = "/login/passkey"

// ceremonyCookieLifetime outlives the ceremony's own (the challenge in
// the database expires first and is what counts).
const ceremonyCookieLifetime = 10 * time.Minute

// mountPasskeys adds the passkey routes: the begin endpoints are JSON
// (same origin and CSRF token in a header, sameOriginJSON), every other
// one a form with the usual CSRF token. A page with a ceremony allows
// script-src 'self' (passkeyScripts); no other page runs script.
func (h *Handler) mountPasskeys(e *echo.Echo, csrf echo.MiddlewareFunc) {
	if h.pk == nil {
		return
	}
	e.GET(PathAccountPasskeys, h.accountPasskeys, h.pageHeaders, csrf)
	e.POST(PathAccountPasskeys+"/begin", h.passkeyRegisterBegin, h.pageHeaders, h.sameOriginJSON)
	e.POST(PathAccountPasskeys+"/add", h.passkeyRegisterFinish, h.pageHeaders, csrf)
	e.POST(PathAccountPasskeys+"/rename", h.passkeyRename, h.pageHeaders, csrf)
	e.POST(PathAccountPasskeys+"/remove", h.passkeyRemove, h.pageHeaders, csrf)
	e.POST(pathPasskeyLogin+"/begin", h.passkeyLoginBegin, h.pageHeaders, h.limitIP(rlPasskey), h.sameOriginJSON)
	e.POST(pathPasskeyLogin, h.passkeyLoginFinish, h.pageHeaders, h.limitLogin, csrf)
	// The second factor's begin; its finish is the second-factor form
	// (POST PathSecondFactor, method "passkey": limitLogin and csrf).
	e.POST(pathPasskeySecondFactorBegin, h.passkeySecondFactorBegin, h.pageHeaders, h.limitIP(rlPasskey), h.sameOriginJSON)
}

// pathPasskeySecondFactorBegin begins a passkey as the second factor.
const pathPasskeySecondFactorBegin = PathSecondFactor + "/passkey/begin"

// passkeyScripts widens the page's policy to the passkey script: script
// from this origin only (no inline script), and fetch to this origin for
// the begin endpoints. It keeps what the policy already holds
// (allowFormRedirect's form-action).
func passkeyScripts(c echo.Context) {
	hd := c.Response().Header()
	csp := hd.Get("Content-Security-Policy")
	if csp == "" {
		csp = basePageCSP
	}
	hd.Set("Content-Security-Policy", csp+"; script-src 'self'; connect-src 'self'")
}

// jsonError answers a begin endpoint's failure.
func jsonError(c echo.Context, status int, msg string) error {
	return c.JSON(status, map[string]string{"error": msg})
}

// sameOriginJSON guards the JSON begin endpoints against cross-site
// requests, as csrf guards the forms (echo's CSRF middleware): the Origin
// header must be the issuer's (browsers send it on every POST fetch), and
// X-CSRF-Token must carry the page's token — a header no cross-origin page
// can set without a CORS preflight, which these endpoints never grant.
// Then either the browser's fetch metadata says same-origin
// (Sec-Fetch-Site, which a page cannot forge; echo's CSRF middleware
// trusts it the same way and hands such pages a fixed token), or, from a
// browser that sends none, the token must equal the CSRF cookie (double
// submit).
func (h *Handler) sameOriginJSON(next echo.HandlerFunc) echo.HandlerFunc {
	origin := h.issuer.Scheme + "://" + h.issuer.Host
	return func(c echo.Context) error {
		r := c.Request()
		c.Response().Header().Set("Cache-Control", "no-store")
		if r.Header.Get("Origin") != origin {
			return jsonError(c, http.StatusForbidden, "cross-origin request refused")
		}
		token := r.Header.Get("X-CSRF-Token")
		if token == "" {
			return jsonError(c, http.StatusForbidden, "the page has expired; reload it and try again")
		}
		switch r.Header.Get("Sec-Fetch-Site") {
		case "same-origin":
			return next(c)
		case "":
			ck, err := c.Cookie(h.cookies.csrf)
			if err == nil && subtle.ConstantTimeCompare([]byte(ck.Value), []byte(token)) == 1 {
				return next(c)
			}
			return jsonError(c, http.StatusForbidden, "the page has expired; reload it and try again")
		default:
			return jsonError(c, http.StatusForbidden, "cross-site request refused")
		}
	}
}

// setCeremonyCookie binds a begun ceremony to this browser: the finish
// takes the ceremony whose handle the cookie holds.
func (h *Handler) setCeremonyCookie(c echo.Context, handle string) {
	c.SetCookie(&http.Cookie{
		Name: h.cookies.ceremony, Value: handle, Path: "/", MaxAge: int(ceremonyCookieLifetime.Seconds()),
		HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteStrictMode,
	})
}

// takeCeremonyCookie returns the ceremony handle and clears the cookie
// (a ceremony is finished once).
func (h *Handler) takeCeremonyCookie(c echo.Context) string {
	ck, err := c.Cookie(h.cookies.ceremony)
	if err != nil {
		return ""
	}
	c.SetCookie(&http.Cookie{
		Name: h.cookies.ceremony, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteStrictMode,
	})
	return ck.Value
}

// ceremony answers a begun ceremony: its options for the browser, its
// handle in the cookie.
func (h *Handler) ceremony(c echo.Context, cer *passkey.Ceremony) error {
	h.setCeremonyCookie(c, cer.Handle)
	return c.JSONBlob(http.StatusOK, cer.Options)
}

// maxCredentialJSON bounds a posted credential (a public key credential
// with its attestation object is a few kilobytes; the body limit is 64K).
const maxCredentialJSON = 32 << 10

// passkeyLoginBegin starts a passwordless sign-in. It needs no e-mail
// address and answers the same for everyone (WebAuthn §14.6.2: no
// account enumeration through the ceremony).
func (h *Handler) passkeyLoginBegin(c echo.Context) error {
	cer, err := h.pk.BeginLogin(c.Request().Context())
	if err != nil {
		return err
	}
	return h.ceremony(c, cer)
}

// passkeyLoginFinish verifies the assertion the page posted and signs the
// browser in, then continues as a password sign-in does (the flow's
// consent, or back to the app; without a flow, the account pages).
func (h *Handler) passkeyLoginFinish(c echo.Context) error {
	ctx := c.Request().Context()
	handle := h.takeCeremonyCookie(c)
	flowHandle := c.FormValue("flow")
	data := &templates.LoginData{Next: accountNext(c.FormValue("next"))}
	var ar fosite.AuthorizeRequester
	if flowHandle != "" {
		var err error
		_, _, ar, err = h.flowRequest(c)
		if err != nil {
			return h.flowError(c, ar, err)
		}
		allowFormRedirect(c, ar)
		data = &templates.LoginData{Flow: flowHandle, ClientName: clientName(ar)}
	}
	failed := func(msg string) error {
		data = h.loginData(c, data)
		data.Error = msg
		data.PasskeyFailed = true
		return h.render(c, http.StatusUnauthorized, "login", data)
	}
	credential := c.FormValue("credential")
	if credential == "" {
		return failed("Signing in with a passkey needs JavaScript in your browser. Sign in another way.")
	}
	if len(credential) > maxCredentialJSON {
		return failed("That passkey could not sign you in. Try again, or sign in another way.")
	}
	u, method, err := h.pk.FinishLogin(ctx, handle, []byte(credential))
	if errors.Is(err, passkey.ErrFailed) {
		return failed("That passkey could not sign you in. Try again, or sign in another way.")
	}
	if err != nil {
		return err
	}
	signedIn, err := h.startSession(c, u, method)
	if err != nil {
		return err
	}
	h.log.InfoContext(ctx, "login succeeded", "user_id", u.ID, "method", "passkey")
	if flowHandle == "" {
		return c.Redirect(http.StatusSeeOther, data.Next)
	}
	return h.continueFlow(c, flowHandle, ar, signedIn)
}

// accountPasskeys shows the person's passkeys.
func (h *Handler) accountPasskeys(c echo.Context) error {
	signedIn, err := h.accountLogin(c)
	if signedIn == nil {
		return err
	}
	return h.renderAccountPasskeys(c, signedIn, http.StatusOK, "", "")
}

func (h *Handler) renderAccountPasskeys(c echo.Context, signedIn *provider.Login, status int, message, problem string) error {
	ctx := c.Request().Context()
	keys, err := h.pk.List(ctx, signedIn.User.ID)
	if err != nil {
		return err
	}
	other, err := h.pk.CanRemoveLast(ctx, signedIn.User)
	if err != nil {
		return err
	}
	data := &templates.AccountPasskeysData{
		Common: h.common(c, "Passkeys"), UserEmail: signedIn.User.Email, Message: message, Error: problem,
	}
	for _, p := range keys {
		row := templates.PasskeyRow{
			ID: p.ID, Name: p.Name, CreatedAt: humanTime(p.CreatedAt), LastUsed: "never",
			Synced: p.BackupEligible, PossiblyCloned: p.CloneWarning, Removable: other || len(keys) > 1,
		}
		if !p.LastUsedAt.IsZero() {
			row.LastUsed = humanTime(p.LastUsedAt)
		}
		data.Passkeys = append(data.Passkeys, row)
	}
	passkeyScripts(c)
	return h.render(c, status, "account_passkeys", data)
}

// passkeyRegisterBegin starts adding a passkey for the signed-in person.
func (h *Handler) passkeyRegisterBegin(c echo.Context) error {
	signedIn, err := h.currentLogin(c)
	if err != nil {
		return err
	}
	if signedIn == nil {
		return jsonError(c, http.StatusUnauthorized, "sign in again")
	}
	cer, err := h.pk.BeginRegistration(c.Request().Context(), signedIn.User)
	if err != nil {
		return err
	}
	return h.ceremony(c, cer)
}

// passkeyRegisterFinish verifies and stores the new passkey the page
// posted (without JavaScript the form arrives without one).
func (h *Handler) passkeyRegisterFinish(c echo.Context) error {
	signedIn, err := h.accountLogin(c)
	if signedIn == nil {
		return err
	}
	handle := h.takeCeremonyCookie(c)
	credential := c.FormValue("credential")
	switch {
	case credential == "":
		return h.renderAccountPasskeys(c, signedIn, http.StatusBadRequest, "", "Adding a passkey needs JavaScript in your browser.")
	case len(credential) > maxCredentialJSON:
		return h.renderAccountPasskeys(c, signedIn, http.StatusBadRequest, "", "The new passkey could not be verified. Try again.")
	}
	p, err := h.pk.FinishRegistration(c.Request().Context(), signedIn.User, handle, c.FormValue("name"), []byte(credential))
	switch {
	case errors.Is(err, passkey.ErrInvalidName):
		return h.renderAccountPasskeys(c, signedIn, http.StatusBadRequest, "", "Give the passkey a name of 1 to 64 characters.")
	case errors.Is(err, passkey.ErrAlreadyRegistered):
		return h.renderAccountPasskeys(c, signedIn, http.StatusConflict, "", "That passkey is already registered.")
	case errors.Is(err, passkey.ErrRegistrationFailed):
		return h.renderAccountPasskeys(c, signedIn, http.StatusBadRequest, "", "The new passkey could not be verified. Try again.")
	case err != nil:
		return err
	}
	h.notify(c, signedIn.User, login.NoticePasskeyAdded)
	return h.renderAccountPasskeys(c, signedIn, http.StatusOK, "The passkey "+p.Name+" was added.", "")
}

// noPasskey answers a form naming a passkey the person does not have.
const noPasskey = "There is no such passkey on your account."

func (h *Handler) passkeyRename(c echo.Context) error {
	signedIn, err := h.accountLogin(c)
	if signedIn == nil {
		return err
	}
	id := c.FormValue("passkey_id")
	if !validID(id) {
		return h.renderAccountPasskeys(c, signedIn, http.StatusNotFound, "", noPasskey)
	}
	err = h.pk.Rename(c.Request().Context(), signedIn.User, id, c.FormValue("name"))
	switch {
	case errors.Is(err, passkey.ErrInvalidName):
		return h.renderAccountPasskeys(c, signedIn, http.StatusBadRequest, "", "Give the passkey a name of 1 to 64 characters.")
	case errors.Is(err, storage.ErrNotFound):
		return h.renderAccountPasskeys(c, signedIn, http.StatusNotFound, "", noPasskey)
	case err != nil:
		return err
	}
	return h.renderAccountPasskeys(c, signedIn, http.StatusOK, "The passkey was renamed.", "")
}

func (h *Handler) passkeyRemove(c echo.Context) error {
	signedIn, err := h.accountLogin(c)
	if signedIn == nil {
		return err
	}
	id := c.FormValue("passkey_id")
	if !validID(id) {
		return h.renderAccountPasskeys(c, signedIn, http.StatusNotFound, "", noPasskey)
	}
	err = h.pk.Remove(c.Request().Context(), signedIn.User, id)
	switch {
	case errors.Is(err, passkey.ErrLastSignInMethod):
		return h.renderAccountPasskeys(c, signedIn, http.StatusConflict, "",
			"This passkey is your only way to sign in, so it cannot be removed. Add another passkey first.")
	case errors.Is(err, storage.ErrNotFound):
		return h.renderAccountPasskeys(c, signedIn, http.StatusNotFound, "", noPasskey)
	case err != nil:
		return err
	}
	h.notify(c, signedIn.User, login.NoticePasskeyRemoved)
	return h.renderAccountPasskeys(c, signedIn, http.StatusOK, "The passkey was removed.", "")
}

// passkeysOnLogin marks the sign-in page for the passkey button and
// autofill and allows their script.
func (h *Handler) passkeysOnLogin(c echo.Context, d *templates.LoginData) {
	if h.pk == nil {
		return
	}
	d.Passkeys = true
	passkeyScripts(c)
}
