package handlers

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/gatehouse-dev/gatehouse/provider/login"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/templates"
)

// emailVerifier is what the verification page asks of
// login.EmailVerification.
type emailVerifier interface {
	Check(ctx context.Context, token string) error
	Confirm(ctx context.Context, token, keep string) (*storage.User, error)
	RequestChange(ctx context.Context, u *storage.User, newEmail string) error
}

// rlVerifyEmail is the rate-limit group of the verification page (per IP,
// at the sign-in limit): tokens cannot be guessed, and the limit keeps
// anyone from trying.
const rlVerifyEmail = "verify_email"

func (h *Handler) mountVerifyEmail(e *echo.Echo, csrf echo.MiddlewareFunc) {
	if h.verify == nil {
		return
	}
	e.GET(login.PathVerifyEmail, h.verifyEmailPage, h.pageHeaders, h.limitPages(rlVerifyEmail), csrf)
	e.POST(login.PathVerifyEmail, h.verifyEmailSubmit, h.pageHeaders, h.limitPages(rlVerifyEmail), csrf)
	// The change of address asks for the password: held to the sign-in
	// limit per IP like every password form, and per person below.
	e.POST(PathAccountEmail, h.accountEmailChange, h.pageHeaders, h.limitLogin, csrf)
}

// verifyEmailPage shows the confirm button of a working link: opening the
// link alone verifies nothing, since mail scanners open links too.
func (h *Handler) verifyEmailPage(c echo.Context) error {
	d := &templates.EmailVerifyData{Common: h.common(c, "Verify your e-mail address")}
	token := c.QueryParam("token")
	if err := h.verify.Check(c.Request().Context(), token); err != nil {
		if errors.Is(err, login.ErrVerifyLink) {
			d.Invalid = true
			return h.render(c, http.StatusBadRequest, "email_verify", d)
		}
		return err
	}
	d.Token = token
	return h.render(c, http.StatusOK, "email_verify", d)
}

// verifyEmailSubmit confirms a link. A change of address ends the
// person's other sessions; this browser's stays when it is signed in as
// them (they are the one changing it), and Confirm tells whose it is.
func (h *Handler) verifyEmailSubmit(c echo.Context) error {
	d := &templates.EmailVerifyData{Common: h.common(c, "Verify your e-mail address")}
	keep := ""
	signedIn, err := h.currentLogin(c)
	if err != nil {
		return err
	}
	if signedIn != nil {
		keep = signedIn.Session.ID
	}
	if _, err := h.verify.Confirm(c.Request().Context(), c.FormValue("token"), keep); err != nil {
		if errors.Is(err, login.ErrEmailTaken) {
			// The new address went to another account after the link was
			// sent: a clear page, not a 500 from the unique constraint.
			d.Taken = true
			return h.render(c, http.StatusConflict, "email_verify", d)
		}
		if errors.Is(err, login.ErrVerifyLink) {
			d.Invalid = true
			return h.render(c, http.StatusBadRequest, "email_verify", d)
		}
		return err
	}
	d.Done = true
	return h.render(c, http.StatusOK, "email_verify", d)
}
