package handlers

import (
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/ory/fosite"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/login"
	"github.com/gatehouse-dev/gatehouse/provider/passkey"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/templates"
)

// PathSecondFactor is the second step of a sign-in: a TOTP or recovery
// code after the password (or an upstream), or setting up an authenticator
// when the sign-in needs one and the person has none.
const PathSecondFactor = "/login/second-factor"

// firstFactorDone continues a sign-in once u gave method's first factor,
// within the authorization flow flowHandle (ar) or, without one, towards
// next. When this sign-in needs no second factor the browser session
// starts now; otherwise no session exists yet: a sealed, short-lived,
// HttpOnly cookie remembers the first factor and the browser goes to the
// second-factor page, where the session starts only after the second
// factor.
func (h *Handler) firstFactorDone(c echo.Context, u *storage.User, method provider.LoginMethod, flowHandle string, ar fosite.AuthorizeRequester, next string) error {
	ctx := c.Request().Context()
	need, err := h.login.SecondFactorRequired(ctx, u, ar)
	if err != nil {
		return err
	}
	if !need {
		signedIn, err := h.startSession(c, u, method)
		if err != nil {
			return err
		}
		// A first factor left waiting earlier (another person, another
		// tab) must not stand in for this session at a later step-up.
		if _, err := c.Cookie(h.cookies.pending); err == nil {
			h.clearPendingCookie(c)
		}
		if flowHandle == "" {
			return c.Redirect(http.StatusSeeOther, next)
		}
		return h.continueFlow(c, flowHandle, ar, signedIn)
	}
	value, expires, err := h.login.SealPendingSignIn(u, method)
	if err != nil {
		return err
	}
	// Max-Age, not Expires: the seal holds the expiry that counts, and the
	// browser's clock need not agree with ours.
	c.SetCookie(&http.Cookie{
		Name: h.cookies.pending, Value: value, Path: "/", MaxAge: int(expires.Sub(h.now()).Seconds()),
		HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteLaxMode,
	})
	return c.Redirect(http.StatusSeeOther, secondFactorURL(flowHandle, next))
}

func secondFactorURL(flowHandle, next string) string {
	if flowHandle != "" {
		return PathSecondFactor + "?flow=" + url.QueryEscape(flowHandle)
	}
	return PathSecondFactor + "?next=" + url.QueryEscape(next)
}

func (h *Handler) clearPendingCookie(c echo.Context) {
	c.SetCookie(&http.Cookie{
		Name: h.cookies.pending, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteLaxMode,
	})
}

// secondFactorState is who the second-factor page is for: a first factor
// given in this browser (pending, no session yet), or a signed-in session
// that must step up (signedIn).
type secondFactorState struct {
	flow     string
	f        *storage.AuthFlow
	ar       fosite.AuthorizeRequester
	next     string
	user     *storage.User
	pending  *login.PendingSignIn
	signedIn *provider.Login
}

// secondFactorSubject works out who the page is for. When nobody is (no
// first factor, or it expired) it answers itself, sending the browser to
// sign in, and returns nil.
func (h *Handler) secondFactorSubject(c echo.Context) (*secondFactorState, error) {
	ctx := c.Request().Context()
	st := &secondFactorState{}
	if c.FormValue("flow") != "" {
		handle, f, ar, err := h.flowRequest(c)
		if err != nil {
			return nil, h.flowError(c, ar, err)
		}
		st.flow, st.f, st.ar = handle, f, ar
		allowFormRedirect(c, ar)
	} else {
		st.next = accountNext(c.FormValue("next"))
	}
	if ck, err := c.Cookie(h.cookies.pending); err == nil {
		p, u, err := h.login.OpenPendingSignIn(ctx, ck.Value)
		if err != nil {
			return nil, err
		}
		if p != nil {
			st.pending, st.user = p, u
			return st, nil
		}
	}
	signedIn, err := h.currentLogin(c)
	if err != nil {
		return nil, err
	}
	if signedIn != nil && (st.f == nil || st.f.UserID == "" || st.f.UserID == signedIn.User.ID) {
		st.signedIn, st.user = signedIn, signedIn.User
		return st, nil
	}
	if st.flow != "" {
		return nil, c.Redirect(http.StatusSeeOther, "/login?flow="+url.QueryEscape(st.flow))
	}
	return nil, c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(st.next))
}

// secondFactorPage asks for the second factor (or, for a person who has
// none and must, sets one up). A session that already has every factor
// goes on: the "Continue" after the recovery codes of a new authenticator.
func (h *Handler) secondFactorPage(c echo.Context) error {
	st, err := h.secondFactorSubject(c)
	if st == nil {
		return err
	}
	if st.pending == nil && provider.MultiFactor(st.signedIn.Session.AMR) {
		return h.secondFactorDone(c, st, false)
	}
	return h.renderSecondFactor(c, st, http.StatusOK, "")
}

func (h *Handler) renderSecondFactor(c echo.Context, st *secondFactorState, status int, message string) error {
	ctx := c.Request().Context()
	data := &templates.SecondFactorData{
		Common: h.common(c, "Second step"), Flow: st.flow, Error: message,
	}
	if st.flow == "" {
		data.Next = st.next
	} else {
		data.ClientName = clientName(st.ar)
	}
	methods, err := h.login.SecondFactorMethods(ctx, st.user.ID)
	if err != nil {
		return err
	}
	if len(methods) == 0 {
		// Required but none set up (the operator asks everyone, the client
		// or the request asks): set one up now, before continuing — once
		// the person has shown they read the account's mail, so that a
		// first factor alone cannot enrol its own authenticator
		// (login.EnrolmentProofs).
		if done, err := h.proveBeforeEnrolment(c, st, data, status); done || err != nil {
			return err
		}
		enrol, err := h.login.BeginTOTPEnrolment(ctx, st.user, true)
		if err != nil {
			return err
		}
		data.Title = "Set up a second step"
		data.Enrol = enrolmentView(enrol)
	}
	data.Methods = methods
	if h.pk != nil && slices.Contains(methods, login.SecondFactorPasskey) {
		data.Passkey = true
		passkeyScripts(c)
	}
	return h.render(c, status, "second_factor", data)
}

func enrolmentView(e *login.TOTPEnrolment) *templates.TOTPEnrolment {
	return &templates.TOTPEnrolment{
		// A data: URI, which the pages' img-src allows: the QR code needs
		// no route of its own and never leaves this response.
		QRCode: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(e.QRCode)),
		Secret: e.Secret,
	}
}

// secondFactorSubmit checks the posted code (method "totp" or
// "recovery_code", or "enrol" for the first code of a new authenticator)
// or passkey assertion (method "passkey", the credential JSON of the
// ceremony passkeySecondFactorBegin began for the same person) and, when
// it is right, signs the browser in with both factors or steps its
// session up, then continues the flow.
func (h *Handler) secondFactorSubmit(c echo.Context) error {
	ctx := c.Request().Context()
	st, err := h.secondFactorSubject(c)
	if st == nil {
		return err
	}
	method, code := c.FormValue("method"), c.FormValue("code")
	var recoveryCodes []string
	// RFC 8176 §2: "otp" for a one-time password, which a recovery code
	// is too; a passkey says its own (hwk|swk, and user when verified).
	secondAMR := []string{provider.AMROTP}
	switch method {
	case login.SecondFactorPasskey:
		if h.pk == nil {
			return h.renderSecondFactor(c, st, http.StatusBadRequest, "Choose a way to confirm it is you.")
		}
		amr, err := h.passkeySecondFactor(c, st)
		if amr == nil {
			return err
		}
		secondAMR = amr
	case enrolEmailCode, enrolEmailResend:
		return h.enrolmentProofSubmit(c, st, method, code)
	case "enrol":
		if !h.enrolmentProven(c, st.user) {
			return h.renderSecondFactor(c, st, http.StatusForbidden, "Enter the code we e-mailed you first.")
		}
		recoveryCodes, err = h.login.ConfirmTOTP(ctx, st.user, code, h.deviceCookie(c))
		if err == nil {
			h.clearEnrolCookie(c)
			h.notify(c, st.user, login.NoticeAuthenticatorAdded)
		}
		if errors.Is(err, login.ErrTOTPEnrolled) || errors.Is(err, login.ErrNoTOTPEnrolment) {
			return h.renderSecondFactor(c, st, http.StatusConflict, "The authenticator changed meanwhile. Try again.")
		}
	case login.SecondFactorTOTP, login.SecondFactorRecoveryCode:
		err = h.login.VerifySecondFactor(ctx, st.user, method, code, h.deviceCookie(c))
	default:
		return h.renderSecondFactor(c, st, http.StatusBadRequest, "Choose a way to confirm it is you.")
	}
	if errors.Is(err, login.ErrWrongSecondFactor) {
		h.log.InfoContext(ctx, "second factor failed", "user_id", st.user.ID, "ip", c.RealIP())
		return h.renderSecondFactor(c, st, http.StatusUnauthorized, "That code did not work. Check it and try again.")
	}
	if err != nil {
		return err
	}
	startedNow := st.pending != nil
	if st.pending != nil {
		method := provider.LoginMethod{AMR: st.pending.AMR, ACR: st.pending.ACR}.WithSecondFactor(secondAMR...)
		signedIn, err := h.startSession(c, st.user, method)
		if err != nil {
			return err
		}
		h.clearPendingCookie(c)
		st.pending, st.signedIn = nil, signedIn
	} else if err := h.login.StepUp(ctx, st.signedIn, secondAMR...); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return c.Redirect(http.StatusSeeOther, "/login?"+c.Request().URL.RawQuery)
		}
		return err
	}
	h.log.InfoContext(ctx, "second factor succeeded", "user_id", st.user.ID)
	if recoveryCodes != nil {
		// Shown once, before going on.
		data := &templates.SecondFactorData{
			Common: h.common(c, "Save your recovery codes"), RecoveryCodes: recoveryCodes,
			ContinueURL: secondFactorURL(st.flow, st.next),
		}
		return h.render(c, http.StatusOK, "second_factor", data)
	}
	// A step-up is not a sign-in within the flow: prompt=login and
	// max_age still judge the session by when it began.
	return h.secondFactorDone(c, st, startedNow)
}

// passkeySecondFactor verifies the posted passkey assertion as st.user's
// second factor and returns the amr values it adds; nil after answering
// itself (a refusal page) or with an error. The ceremony is the one in
// the browser's ceremony cookie and must have been begun for st.user
// (passkey.Service.FinishSecondFactor takes only such a ceremony, and
// verifies against that person's passkeys alone): the person is the
// pending first factor's (or the session's), never one the form names.
func (h *Handler) passkeySecondFactor(c echo.Context, st *secondFactorState) ([]string, error) {
	ctx := c.Request().Context()
	handle := h.takeCeremonyCookie(c)
	credential := c.FormValue("credential")
	if credential == "" {
		return nil, h.renderSecondFactor(c, st, http.StatusBadRequest, "Using a passkey needs JavaScript in your browser. Confirm it is you another way.")
	}
	refused := func() error {
		h.log.InfoContext(ctx, "second factor failed", "user_id", st.user.ID, "method", login.SecondFactorPasskey, "ip", c.RealIP())
		return h.renderSecondFactor(c, st, http.StatusUnauthorized, "That passkey did not work. Try again, or confirm it is you another way.")
	}
	if len(credential) > maxCredentialJSON {
		return nil, refused()
	}
	amr, err := h.pk.FinishSecondFactor(ctx, st.user, handle, []byte(credential))
	// ErrPossiblyCloned is an ErrFailed: refused with the same words, and
	// audited (passkey.clone_suspected, login.failed) by the service.
	if errors.Is(err, passkey.ErrFailed) {
		return nil, refused()
	}
	if err != nil {
		return nil, err
	}
	h.login.PasskeySecondFactorSucceeded(ctx, st.user, h.deviceCookie(c))
	return amr, nil
}

// passkeySecondFactorBegin begins a passkey ceremony as the second factor
// of the sign-in waiting in this browser: the person of the sealed
// pending cookie (the first factor just given) or, without one, of the
// signed-in session that steps up — the same person, in the same order,
// as secondFactorSubject finds for the finish. The request names nobody
// (its body is ignored), so no one can ask for another person's
// allowCredentials or challenge. Mounted with the per-IP limit of the
// passwordless begin and the JSON endpoints' same-origin + CSRF guard.
func (h *Handler) passkeySecondFactorBegin(c echo.Context) error {
	ctx := c.Request().Context()
	var u *storage.User
	if ck, err := c.Cookie(h.cookies.pending); err == nil {
		_, pu, err := h.login.OpenPendingSignIn(ctx, ck.Value)
		if err != nil {
			return err
		}
		u = pu
	}
	if u == nil {
		signedIn, err := h.currentLogin(c)
		if err != nil {
			return err
		}
		if signedIn == nil {
			return jsonError(c, http.StatusUnauthorized, "sign in again")
		}
		u = signedIn.User
	}
	cer, err := h.pk.BeginSecondFactor(ctx, u)
	if errors.Is(err, passkey.ErrNoPasskeys) {
		return jsonError(c, http.StatusConflict, "there is no passkey on this account")
	}
	if err != nil {
		return err
	}
	return h.ceremony(c, cer)
}

// secondFactorDone continues once the session has every factor: the flow
// (consent, or back to the client), or the account page it came from.
// justNow says the session began in this request; otherwise (a step-up,
// or the page revisited) the flow counts as signed in within it only when the
// session began after the flow did, so prompt=login and max_age still
// ask for a fresh sign-in.
func (h *Handler) secondFactorDone(c echo.Context, st *secondFactorState, justNow bool) error {
	if st.flow == "" {
		return c.Redirect(http.StatusSeeOther, st.next)
	}
	if justNow || !st.signedIn.Session.AuthTime.Before(st.f.RequestedAt.Truncate(time.Second)) {
		return h.continueFlow(c, st.flow, st.ar, st.signedIn)
	}
	step, err := h.login.NextStep(c.Request().Context(), st.ar, st.signedIn, login.FlowState{LoggedIn: st.f.UserID != ""})
	if err != nil {
		return h.authorizeError(c, st.ar, err)
	}
	if step == login.StepDone {
		return h.completeAuthorization(c, st.ar, st.signedIn, st.flow)
	}
	return c.Redirect(http.StatusSeeOther, stepPath(step)+"?flow="+url.QueryEscape(st.flow))
}

// The second-factor form's methods for the e-mailed code that comes
// before setting up a first second factor.
const (
	enrolEmailCode   = "enrol_email"
	enrolEmailResend = "enrol_email_resend"
)

// enrolmentProof is the proof in this browser's cookie for u, or nil.
func (h *Handler) enrolmentProof(c echo.Context, u *storage.User) *login.EnrolmentProof {
	ck, err := c.Cookie(h.cookies.enrol)
	if err != nil {
		return nil
	}
	return h.enrolProof.Open(u, ck.Value)
}

// enrolmentProven says whether u may set up a first second factor in
// this browser: the person typed back the e-mailed code, or the operator
// chose to trust the first factor (login.mfa_enrolment: first_use).
func (h *Handler) enrolmentProven(c echo.Context, u *storage.User) bool {
	if h.enrolProof == nil {
		return true
	}
	pr := h.enrolmentProof(c, u)
	return pr != nil && pr.Proven
}

func (h *Handler) setEnrolCookie(c echo.Context, pr *login.EnrolmentProof) error {
	value, err := h.enrolProof.Seal(pr)
	if err != nil {
		return err
	}
	c.SetCookie(&http.Cookie{
		Name: h.cookies.enrol, Value: value, Path: PathSecondFactor, MaxAge: int(pr.Expires.Sub(h.now()).Seconds()),
		HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteLaxMode,
	})
	return nil
}

func (h *Handler) clearEnrolCookie(c echo.Context) {
	if h.enrolProof == nil {
		return
	}
	c.SetCookie(&http.Cookie{
		Name: h.cookies.enrol, Value: "", Path: PathSecondFactor, MaxAge: -1,
		HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteLaxMode,
	})
}

// proveBeforeEnrolment renders the page that asks for the e-mailed code
// (sending one when this browser has none under way) and reports true,
// unless the person may set up the authenticator now.
func (h *Handler) proveBeforeEnrolment(c echo.Context, st *secondFactorState, data *templates.SecondFactorData, status int) (bool, error) {
	if h.enrolmentProven(c, st.user) {
		return false, nil
	}
	data.Title = "Confirm it is you"
	if st.user.Email == "" {
		data.NoAddress = true
		return true, h.render(c, status, "second_factor", data)
	}
	if h.enrolmentProof(c, st.user) == nil {
		pr, err := h.enrolProof.Send(c.Request().Context(), st.user)
		if err != nil {
			return true, err
		}
		if err := h.setEnrolCookie(c, pr); err != nil {
			return true, err
		}
	}
	data.ProveEmail = login.MaskEmail(st.user.Email)
	return true, h.render(c, status, "second_factor", data)
}

// enrolmentProofSubmit checks the e-mailed code (then the page shows the
// authenticator to set up), or sends a new one on request, at most once
// a minute.
func (h *Handler) enrolmentProofSubmit(c echo.Context, st *secondFactorState, method, code string) error {
	ctx := c.Request().Context()
	if h.enrolProof == nil || h.enrolmentProven(c, st.user) {
		return h.renderSecondFactor(c, st, http.StatusOK, "")
	}
	pr := h.enrolmentProof(c, st.user)
	if pr == nil {
		// Expired (or another browser's): the page sends a new code.
		return h.renderSecondFactor(c, st, http.StatusUnauthorized, "That code has expired. We sent you a new one.")
	}
	if method == enrolEmailResend {
		if h.now().Before(pr.SentAt.Add(login.EnrolmentResendAfter)) {
			return h.renderSecondFactor(c, st, http.StatusTooManyRequests, "A code was sent less than a minute ago. Wait a little, then ask again.")
		}
		pr, err := h.enrolProof.Send(ctx, st.user)
		if err != nil {
			return err
		}
		if err := h.setEnrolCookie(c, pr); err != nil {
			return err
		}
		data := &templates.SecondFactorData{Common: h.common(c, "Confirm it is you"), Flow: st.flow, Next: st.next,
			ProveEmail: login.MaskEmail(st.user.Email), Message: "We sent a new code. Codes sent before no longer work."}
		if st.flow != "" {
			data.ClientName = clientName(st.ar)
		}
		return h.render(c, http.StatusOK, "second_factor", data)
	}
	proven, err := h.enrolProof.Prove(ctx, st.user, pr, code, h.deviceCookie(c))
	if errors.Is(err, login.ErrWrongSecondFactor) {
		h.log.InfoContext(ctx, "enrolment code failed", "user_id", st.user.ID, "ip", c.RealIP())
		return h.renderSecondFactor(c, st, http.StatusUnauthorized, "That code did not work. Check the e-mail and try again.")
	}
	if err != nil {
		return err
	}
	if err := h.setEnrolCookie(c, proven); err != nil {
		return err
	}
	// The proof is in the response's cookie, not yet in the request:
	// show the authenticator to set up by the browser's next request.
	return c.Redirect(http.StatusSeeOther, secondFactorURL(st.flow, st.next))
}
