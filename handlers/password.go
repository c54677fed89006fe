package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/gatehouse-dev/gatehouse/provider/login"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/templates"
)

// passwordResetter is what the "forgot password" pages ask of
// login.PasswordReset.
type passwordResetter interface {
	Request(ctx context.Context, email string) error
	Check(ctx context.Context, token string) error
	Complete(ctx context.Context, token, password string) (*storage.User, error)
}

// Paths of the password reset pages.
const (
	PathPasswordForgot = "/password/forgot"
	PathPasswordReset  = login.PathPasswordReset
)

// rlPasswordReset is the rate-limit group of the reset pages (per IP, at
// the sign-in limit), and resetPerAddress the limit of reset requests for
// one address (known or not): the owner of an address cannot be flooded
// with links, and a guesser gains nothing by repeating.
const rlPasswordReset = "password_reset"

var resetPerAddress = RateLimit{Rate: 3, Burst: 3, Period: 15 * time.Minute}

func (h *Handler) mountPasswordReset(e *echo.Echo, csrf echo.MiddlewareFunc) {
	if h.reset == nil {
		return
	}
	e.GET(PathPasswordForgot, h.passwordForgotPage, h.pageHeaders, csrf)
	e.POST(PathPasswordForgot, h.passwordForgotSubmit, h.pageHeaders, h.limitPages(rlPasswordReset), csrf)
	e.GET(PathPasswordReset, h.passwordResetPage, h.pageHeaders, h.limitPages(rlPasswordReset), csrf)
	e.POST(PathPasswordReset, h.passwordResetSubmit, h.pageHeaders, h.limitPages(rlPasswordReset), csrf)
}

// limitPages holds each client IP to the sign-in limit in group; refusals
// are an error page.
func (h *Handler) limitPages(group string) echo.MiddlewareFunc {
	if h.rl == nil {
		return noLimit
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			key := h.rl.prefix + group + ":ip:" + ipKey(c.RealIP())
			if ok, retry := h.rl.allow(c.Request().Context(), key, h.rl.loginPerIP); !ok {
				h.metrics.rejected(group, limitPerIP)
				secs := setRetryAfter(c, retry)
				return h.errorPage(c, http.StatusTooManyRequests,
					fmt.Sprintf("Too many requests from your network. Please wait %d seconds and try again.", secs))
			}
			return next(c)
		}
	}
}

func (h *Handler) passwordForgotPage(c echo.Context) error {
	return h.render(c, http.StatusOK, "password_forgot", &templates.PasswordForgotData{Common: h.common(c, "Forgot your password?")})
}

// passwordForgotSubmit answers every address the same way — same status,
// same page (which repeats what was typed), and the same work behind it
// (login.PasswordReset.Request queues one deferred message whatever the
// address) — so that it never tells whether an account exists.
func (h *Handler) passwordForgotSubmit(c echo.Context) error {
	email := strings.TrimSpace(c.FormValue("email"))
	if len(email) > 320 {
		email = ""
	}
	if email != "" && h.rl != nil {
		key := h.rl.prefix + rlPasswordReset + ":addr:" + login.Account(email)
		if ok, retry := h.rl.allow(c.Request().Context(), key, resetPerAddress); !ok {
			h.metrics.rejected(rlPasswordReset, "per_address")
			secs := setRetryAfter(c, retry)
			return h.errorPage(c, http.StatusTooManyRequests,
				fmt.Sprintf("A link for this address was asked for several times already. Please wait %d seconds and try again.", secs))
		}
	}
	if err := h.reset.Request(c.Request().Context(), email); err != nil {
		return err
	}
	return h.render(c, http.StatusOK, "password_forgot", &templates.PasswordForgotData{
		Common: h.common(c, "Check your e-mail"), Sent: true, Email: email,
	})
}

func (h *Handler) resetData(c echo.Context) *templates.PasswordResetData {
	return &templates.PasswordResetData{Common: h.common(c, "Choose a new password"), MinLength: login.MinPasswordLen}
}

// passwordResetPage shows the new-password form of a working link. The
// token stays out of the access log (it logs the path only) and out of
// Referer headers (Referrer-Policy: no-referrer on every page).
func (h *Handler) passwordResetPage(c echo.Context) error {
	d := h.resetData(c)
	token := c.QueryParam("token")
	if err := h.reset.Check(c.Request().Context(), token); err != nil {
		if errors.Is(err, login.ErrResetLink) {
			d.Invalid = true
			return h.render(c, http.StatusBadRequest, "password_reset", d)
		}
		return err
	}
	d.Token = token
	return h.render(c, http.StatusOK, "password_reset", d)
}

func (h *Handler) passwordResetSubmit(c echo.Context) error {
	d := h.resetData(c)
	token, password := c.FormValue("token"), c.FormValue("password")
	if password != c.FormValue("password_confirm") {
		d.Token, d.Error = token, "The two passwords differ."
		return h.render(c, http.StatusBadRequest, "password_reset", d)
	}
	_, err := h.reset.Complete(c.Request().Context(), token, password)
	var pe *login.PasswordError
	switch {
	case err == nil:
		d.Done = true
		return h.render(c, http.StatusOK, "password_reset", d)
	case errors.As(err, &pe):
		d.Token, d.Error = token, pe.Msg
		return h.render(c, http.StatusBadRequest, "password_reset", d)
	case errors.Is(err, login.ErrResetLink):
		d.Invalid = true
		return h.render(c, http.StatusBadRequest, "password_reset", d)
	}
	return err
}
