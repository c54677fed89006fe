package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/login"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/templates"
)

// PathAccountSecurity is the page of a person's second factors: an
// authenticator app (TOTP, RFC 6238) and its recovery codes.
const PathAccountSecurity = "/account/security"

// securityLogin is accountLogin for the security page: a person who has a
// second factor must have given it in this session (a step-up otherwise),
// so a stolen password alone cannot turn the second factor off.
func (h *Handler) securityLogin(c echo.Context) (*provider.Login, error) {
	signedIn, err := h.accountLogin(c)
	if signedIn == nil {
		return nil, err
	}
	if provider.MultiFactor(signedIn.Session.AMR) {
		return signedIn, nil
	}
	has, err := h.login.HasSecondFactor(c.Request().Context(), signedIn.User.ID)
	if err != nil {
		return nil, err
	}
	if has {
		return nil, c.Redirect(http.StatusSeeOther, secondFactorURL("", PathAccountSecurity))
	}
	return signedIn, nil
}

// accountSecurity shows the person's second factors (and an authenticator
// being set up).
func (h *Handler) accountSecurity(c echo.Context) error {
	signedIn, err := h.securityLogin(c)
	if signedIn == nil {
		return err
	}
	return h.renderAccountSecurity(c, signedIn, http.StatusOK, &templates.AccountSecurityData{})
}

func (h *Handler) renderAccountSecurity(c echo.Context, signedIn *provider.Login, status int, data *templates.AccountSecurityData) error {
	ctx := c.Request().Context()
	st, err := h.login.SecondFactorStatus(ctx, signedIn.User.ID)
	if err != nil {
		return err
	}
	data.Common = h.common(c, "Security")
	data.UserEmail = signedIn.User.Email
	data.TOTP = st.TOTP
	data.RecoveryCodesLeft = st.RecoveryCodesLeft
	data.Passkeys = h.pk != nil
	data.EmailChange = h.verify != nil
	data.HasPassword = signedIn.User.PasswordHash != ""
	if st.TOTP {
		data.TOTPSince = humanTime(st.TOTPConfirmedAt)
	} else if st.Enrolling && data.Enrol == nil {
		enrol, err := h.login.BeginTOTPEnrolment(ctx, signedIn.User, true)
		if err != nil {
			return err
		}
		data.Enrol = enrolmentView(enrol)
	}
	return h.render(c, status, "account_security", data)
}

// accountTOTPBegin starts setting up an authenticator (a new secret, also
// when one was being set up).
func (h *Handler) accountTOTPBegin(c echo.Context) error {
	signedIn, err := h.securityLogin(c)
	if signedIn == nil {
		return err
	}
	enrol, err := h.login.BeginTOTPEnrolment(c.Request().Context(), signedIn.User, false)
	if errors.Is(err, login.ErrTOTPEnrolled) {
		return h.renderAccountSecurity(c, signedIn, http.StatusConflict, &templates.AccountSecurityData{Error: "An authenticator app is already set up."})
	} else if err != nil {
		return err
	}
	return h.renderAccountSecurity(c, signedIn, http.StatusOK, &templates.AccountSecurityData{Enrol: enrolmentView(enrol)})
}

// accountTOTPConfirm turns the authenticator on with its first code, and
// shows the new recovery codes once. The session now has both factors.
func (h *Handler) accountTOTPConfirm(c echo.Context) error {
	signedIn, err := h.securityLogin(c)
	if signedIn == nil {
		return err
	}
	ctx := c.Request().Context()
	codes, err := h.login.ConfirmTOTP(ctx, signedIn.User, c.FormValue("code"), h.deviceCookie(c))
	switch {
	case errors.Is(err, login.ErrWrongSecondFactor):
		return h.renderAccountSecurity(c, signedIn, http.StatusUnauthorized, &templates.AccountSecurityData{Error: "That code did not work. Check the app and try again."})
	case errors.Is(err, login.ErrNoTOTPEnrolment), errors.Is(err, login.ErrTOTPEnrolled):
		return h.renderAccountSecurity(c, signedIn, http.StatusConflict, &templates.AccountSecurityData{Error: "There is no authenticator being set up. Start again."})
	case err != nil:
		return err
	}
	if err := h.login.StepUp(ctx, signedIn, provider.AMROTP); err != nil {
		return err
	}
	h.notify(c, signedIn.User, login.NoticeAuthenticatorAdded)
	return h.renderAccountSecurity(c, signedIn, http.StatusOK, &templates.AccountSecurityData{
		Message: "The authenticator app is on: signing in now asks for a code from it.", RecoveryCodes: codes,
	})
}

// accountRecoveryCodes replaces the recovery codes and shows the new ones
// once.
func (h *Handler) accountRecoveryCodes(c echo.Context) error {
	signedIn, err := h.securityLogin(c)
	if signedIn == nil {
		return err
	}
	codes, err := h.login.RegenerateRecoveryCodes(c.Request().Context(), signedIn.User)
	if errors.Is(err, login.ErrNoTOTPEnrolment) {
		return h.renderAccountSecurity(c, signedIn, http.StatusConflict, &templates.AccountSecurityData{Error: "Set up an authenticator app first."})
	} else if err != nil {
		return err
	}
	h.notify(c, signedIn.User, login.NoticeRecoveryCodesNew)
	return h.renderAccountSecurity(c, signedIn, http.StatusOK, &templates.AccountSecurityData{
		Message: "New recovery codes were made; the old ones no longer work.", RecoveryCodes: codes,
	})
}

// accountTOTPRemove removes the authenticator and the recovery codes once
// the person confirmed it is them (a current code or the password).
func (h *Handler) accountTOTPRemove(c echo.Context) error {
	signedIn, err := h.securityLogin(c)
	if signedIn == nil {
		return err
	}
	err = h.login.RemoveTOTP(c.Request().Context(), signedIn.User, c.FormValue("code"), c.FormValue("password"), h.deviceCookie(c))
	switch {
	case errors.Is(err, login.ErrNotReauthenticated):
		return h.renderAccountSecurity(c, signedIn, http.StatusBadRequest, &templates.AccountSecurityData{Error: "Enter a current code or your password."})
	case errors.Is(err, login.ErrWrongSecondFactor):
		return h.renderAccountSecurity(c, signedIn, http.StatusUnauthorized, &templates.AccountSecurityData{Error: "That did not work. Check the code or password and try again."})
	case err != nil:
		return err
	}
	h.notify(c, signedIn.User, login.NoticeAuthenticatorRemoved)
	return h.renderAccountSecurity(c, signedIn, http.StatusOK, &templates.AccountSecurityData{Message: "The authenticator app was removed."})
}

// notify queues a security notice of what for u, when e-mail is on.
func (h *Handler) notify(c echo.Context, u *storage.User, what string) {
	if h.notices != nil {
		h.notices.Notify(c.Request().Context(), u, what)
	}
}

// PathAccountEmail changes the person's own address (a link to the new
// address; the address changes once it is confirmed).
const PathAccountEmail = PathAccountSecurity + "/email"

// rlEmailChange is the rate-limit group of changes of address, and
// emailChangePerPerson the changes one person may ask for: each sends a
// message to an address of their choosing, so a signed-in account cannot
// be used to flood strangers' mailboxes.
const rlEmailChange = "email_change"

var emailChangePerPerson = RateLimit{Rate: 3, Burst: 3, Period: 15 * time.Minute}

// accountEmailChange sends a change link to the new address once the
// person gave their password (when they have one; a person signing in
// only upstream or with passkeys has the session, and the second factor
// when they have one, securityLogin). The answer is the same whether or
// not another account has the address (login.RequestChange sends that
// one nothing), so the form does not tell which addresses have accounts.
func (h *Handler) accountEmailChange(c echo.Context) error {
	signedIn, err := h.securityLogin(c)
	if signedIn == nil {
		return err
	}
	ctx := c.Request().Context()
	email := c.FormValue("email")
	if len(email) > 320 {
		return h.renderAccountSecurity(c, signedIn, http.StatusBadRequest, &templates.AccountSecurityData{Error: "Enter an e-mail address."})
	}
	if h.rl != nil {
		key := h.rl.prefix + rlEmailChange + ":user:" + signedIn.User.ID
		if ok, retry := h.rl.allow(ctx, key, emailChangePerPerson); !ok {
			h.metrics.rejected(rlEmailChange, "per_person")
			secs := setRetryAfter(c, retry)
			return h.renderAccountSecurity(c, signedIn, http.StatusTooManyRequests, &templates.AccountSecurityData{
				Error: fmt.Sprintf("You asked to change your address several times already. Please wait %d seconds and try again.", secs),
			})
		}
	}
	if signedIn.User.PasswordHash != "" {
		// A wrong password counts like a failed sign-in (lockout).
		if _, err := h.login.Authenticate(ctx, signedIn.User.Email, c.FormValue("password"), h.deviceCookie(c)); err != nil {
			if errors.Is(err, login.ErrInvalidCredentials) {
				return h.renderAccountSecurity(c, signedIn, http.StatusUnauthorized, &templates.AccountSecurityData{Error: "That password did not work."})
			}
			return err
		}
	}
	err = h.verify.RequestChange(ctx, signedIn.User, email)
	switch {
	case errors.Is(err, login.ErrBadEmail):
		return h.renderAccountSecurity(c, signedIn, http.StatusBadRequest, &templates.AccountSecurityData{Error: "Enter an e-mail address."})
	case errors.Is(err, login.ErrSameEmail):
		return h.renderAccountSecurity(c, signedIn, http.StatusBadRequest, &templates.AccountSecurityData{Error: "That is your address already."})
	case err != nil:
		return err
	}
	return h.renderAccountSecurity(c, signedIn, http.StatusOK, &templates.AccountSecurityData{
		Message: "Check your new address for a link. Your address changes once you open it; until then, sign in with " + signedIn.User.Email + ".",
	})
}
