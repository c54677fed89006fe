package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/login"
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
	return h.renderAccountSecurity(c, signedIn, http.StatusOK, &templates.AccountSecurityData{Message: "The authenticator app was removed."})
}
