package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/login"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/templates"
)

// signUp is what the sign-up pages ask of login.Signup.
type signUp interface {
	Request(ctx context.Context, email, name, password, flow string) error
	Check(ctx context.Context, token string) (string, error)
	Complete(ctx context.Context, token string) (*storage.User, string, error)
}

// rlSignup is the rate-limit group of the sign-up pages: the sign-in
// limit per IP, and resetPerAddress per address (an address's owner is not
// flooded with e-mail).
const rlSignup = "signup"

func (h *Handler) mountSignup(e *echo.Echo, csrf echo.MiddlewareFunc) {
	if h.signup == nil {
		return
	}
	e.GET(login.PathSignup, h.signupPage, h.pageHeaders, csrf)
	e.POST(login.PathSignup, h.signupSubmit, h.pageHeaders, h.limitPages(rlSignup), csrf)
	e.GET(login.PathSignupComplete, h.signupCompletePage, h.pageHeaders, h.limitPages(rlSignup), csrf)
	e.POST(login.PathSignupComplete, h.signupCompleteSubmit, h.pageHeaders, h.limitPages(rlSignup), csrf)
}

func (h *Handler) signupData(c echo.Context) *templates.SignupData {
	flow := c.FormValue("flow")
	if len(flow) > 100 {
		flow = ""
	}
	return &templates.SignupData{Common: h.common(c, "Create an account"), Flow: flow, MinLength: login.MinPasswordLen}
}

func (h *Handler) signupPage(c echo.Context) error {
	return h.render(c, http.StatusOK, "signup", h.signupData(c))
}

// signupSubmit gives every acceptable address the same answer, status and
// page; the only errors shown are about the input itself (the address's
// form or domain, the name, the password), never about an account.
func (h *Handler) signupSubmit(c echo.Context) error {
	d := h.signupData(c)
	d.Email, d.Name = truncate(strings.TrimSpace(c.FormValue("email")), 320), truncate(c.FormValue("name"), 200)
	password := c.FormValue("password")
	if password != c.FormValue("password_confirm") {
		d.Error = "The two passwords differ."
		return h.render(c, http.StatusBadRequest, "signup", d)
	}
	if d.Email != "" && h.rl != nil {
		key := h.rl.prefix + rlSignup + ":addr:" + login.Account(d.Email)
		if ok, retry := h.rl.allow(c.Request().Context(), key, resetPerAddress); !ok {
			h.metrics.rejected(rlSignup, "per_address")
			secs := setRetryAfter(c, retry)
			return h.errorPage(c, http.StatusTooManyRequests,
				fmt.Sprintf("Sign-up for this address was tried several times already. Please wait %d seconds and try again.", secs))
		}
	}
	err := h.signup.Request(c.Request().Context(), d.Email, d.Name, password, d.Flow)
	var se *login.SignupError
	if errors.As(err, &se) {
		d.Error = se.Msg
		return h.render(c, http.StatusBadRequest, "signup", d)
	} else if err != nil {
		return err
	}
	d.Sent, d.Title = true, "Check your e-mail"
	return h.render(c, http.StatusOK, "signup", d)
}

// signupCompletePage shows the button that makes the account: opening
// the link alone makes nothing (mail scanners open links).
func (h *Handler) signupCompletePage(c echo.Context) error {
	d := &templates.SignupCompleteData{Common: h.common(c, "Finish creating your account")}
	token := c.QueryParam("token")
	flow, err := h.signup.Check(c.Request().Context(), token)
	if errors.Is(err, login.ErrSignupLink) {
		d.Invalid = true
		return h.render(c, http.StatusBadRequest, "signup_complete", d)
	} else if err != nil {
		return err
	}
	d.Token, d.Flow = token, flow
	return h.render(c, http.StatusOK, "signup_complete", d)
}

// signupCompleteSubmit makes the account, signs the browser in, and goes
// on with the app's authorization request when there is one (and it has
// not expired meanwhile), else to the account pages.
func (h *Handler) signupCompleteSubmit(c echo.Context) error {
	u, flow, err := h.signup.Complete(c.Request().Context(), c.FormValue("token"))
	if errors.Is(err, login.ErrSignupLink) {
		d := &templates.SignupCompleteData{Common: h.common(c, "Finish creating your account"), Invalid: true}
		return h.render(c, http.StatusBadRequest, "signup_complete", d)
	} else if err != nil {
		return err
	}
	// The new password is the first factor; a second one follows when this
	// sign-in needs it (login.require_mfa, the client, the request), as
	// after any password sign-in.
	if flow != "" && flow == c.FormValue("flow") {
		handle, _, ar, err := h.flowRequest(c)
		if err == nil {
			allowFormRedirect(c, ar)
			return h.firstFactorDone(c, u, provider.MethodPassword, handle, ar, "")
		}
		if !errors.Is(err, provider.ErrFlowNotFound) {
			return h.flowError(c, ar, err)
		}
	}
	return h.firstFactorDone(c, u, provider.MethodPassword, "", nil, provider.PathAccount)
}
