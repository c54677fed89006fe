package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/gatehouse-dev/gatehouse/internal/reqctx"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/federation"
	"github.com/gatehouse-dev/gatehouse/provider/login"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/templates"
)

// Sign-in through an upstream identity provider (Google, or any OpenID
// Connect issuer): /login/ID sends the browser to the upstream, which
// sends it back to /login/ID/callback; the sign-in then continues the
// authorization flow (or the account pages) as a password sign-in would.

// upstreamCookieMaxAge matches how long the upstream state lives.
const upstreamCookieMaxAge = 10 * time.Minute

// upstreamBegin starts a sign-in through the upstream named in the path.
func (h *Handler) upstreamBegin(c echo.Context) error {
	ctx := c.Request().Context()
	id := c.Param("upstream")
	flow := c.QueryParam("flow")
	next := ""
	var opt federation.AuthOptions
	if flow != "" {
		_, _, ar, err := h.flowRequest(c)
		if err != nil {
			return h.flowError(c, ar, err)
		}
		// What the client asked of the sign-in goes upstream too: a fresh
		// login, a maximum age, a hint of who is signing in.
		form := ar.GetRequestForm()
		if strings.Contains(" "+form.Get("prompt")+" ", " login ") {
			opt.Prompt = "login"
		}
		if v, err := strconv.Atoi(form.Get("max_age")); err == nil && v >= 0 {
			opt.MaxAge = &v
		}
		opt.LoginHint = truncate(form.Get("login_hint"), 200)
	} else {
		next = accountNext(c.QueryParam("next"))
	}
	authURL, browser, err := h.login.BeginUpstreamLogin(ctx, id, flow, next, opt)
	switch {
	case errors.Is(err, login.ErrUnknownUpstream), errors.Is(err, federation.ErrUnknownUpstream):
		return h.errorPage(c, http.StatusNotFound, "There is no such way to sign in here.")
	case errors.Is(err, federation.ErrUnavailable):
		return h.upstreamErrorPage(c, http.StatusServiceUnavailable,
			h.login.UpstreamName(id)+" cannot be reached right now. Try again in a moment, or sign in another way.", flow, next)
	case err != nil:
		return err
	}
	c.SetCookie(&http.Cookie{
		Name: h.cookies.upstream, Value: browser, Path: "/", MaxAge: int(upstreamCookieMaxAge.Seconds()),
		HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteLaxMode,
	})
	return c.Redirect(http.StatusSeeOther, authURL)
}

// upstreamCallback finishes a sign-in through an upstream.
func (h *Handler) upstreamCallback(c echo.Context) error {
	ctx := c.Request().Context()
	id := c.Param("upstream")
	q := c.QueryParams()
	browser := ""
	if ck, err := c.Cookie(h.cookies.upstream); err == nil {
		browser = ck.Value
	}
	// The cookie has done its job whatever happens next.
	c.SetCookie(&http.Cookie{Name: h.cookies.upstream, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteLaxMode})

	res, err := h.login.FinishUpstreamLogin(ctx, id, q.Get("state"), q.Get("code"), q.Get("error"), q.Get("error_description"), browser)
	var rej *login.SignInRejected
	switch {
	case errors.As(err, &rej):
		status := http.StatusBadRequest
		if rej.Reason == "upstream_unavailable" || rej.Reason == "exchange_failed" || rej.Reason == "upstream_timeout" {
			status = http.StatusBadGateway
		}
		return h.upstreamErrorPage(c, status, rej.Message, rej.Flow, rej.Next)
	case errors.Is(err, login.ErrUnknownUpstream):
		return h.errorPage(c, http.StatusNotFound, "There is no such way to sign in here.")
	case err != nil:
		return err
	}

	h.log.InfoContext(ctx, "login succeeded", "user_id", res.User.ID, "upstream", id, "outcome", res.Outcome)
	if res.Flow == "" {
		return h.firstFactorDone(c, res.User, provider.MethodUpstream(id), "", nil, accountNext(res.Next))
	}
	f, err := h.login.Flow(ctx, res.Flow)
	if err != nil {
		return h.flowError(c, nil, err)
	}
	ar, err := h.p.ResumeAuthorizeRequest(ctx, f)
	if err != nil {
		return h.flowError(c, ar, err)
	}
	return h.firstFactorDone(c, res.User, provider.MethodUpstream(id), res.Flow, ar, "")
}

// upstreamErrorPage explains a failed upstream sign-in with a way back to
// the login page it started from (when that is still known).
func (h *Handler) upstreamErrorPage(c echo.Context, status int, msg, flow, next string) error {
	data := &templates.ErrorData{
		Common: h.common(c, "Sign-in failed"), Status: status, Message: msg,
		RequestID: reqctx.ID(c.Request().Context()),
	}
	switch {
	case flow != "":
		if _, err := h.login.Flow(c.Request().Context(), flow); err == nil {
			data.BackURL, data.BackText = "/login?flow="+url.QueryEscape(flow), "Back to sign-in"
		}
	case next != "":
		data.BackURL, data.BackText = "/login?next="+url.QueryEscape(accountNext(next)), "Back to sign-in"
	}
	return h.render(c, status, "error", data)
}

// accountIdentities lists the upstream accounts the person signs in with.
func (h *Handler) accountIdentities(c echo.Context) error {
	signedIn, err := h.accountLogin(c)
	if signedIn == nil {
		return err
	}
	return h.renderAccountIdentities(c, signedIn, "")
}

func (h *Handler) renderAccountIdentities(c echo.Context, signedIn *provider.Login, message string) error {
	ids, err := h.login.LinkedIdentities(c.Request().Context(), signedIn.User.ID)
	if err != nil {
		return err
	}
	data := &templates.AccountIdentitiesData{Common: h.common(c, "Sign-in methods"), UserEmail: signedIn.User.Email, Message: message}
	canUnlink := h.login.CanUnlink(signedIn.User, len(ids))
	for _, fi := range ids {
		last := "never"
		if !fi.LastLoginAt.IsZero() {
			last = fi.LastLoginAt.UTC().Format("2 Jan 2006 15:04 UTC")
		}
		data.Identities = append(data.Identities, templates.LinkedIdentity{
			UpstreamID: fi.UpstreamID, UpstreamName: fi.UpstreamName, Subject: fi.Subject, Email: fi.Email,
			LinkedAt: fi.CreatedAt.UTC().Format("2 Jan 2006"), LastLogin: last, CanUnlink: canUnlink,
		})
	}
	return h.render(c, http.StatusOK, "account_identities", data)
}

// accountUnlink removes one linked upstream account, unless it is the
// person's last way to sign in.
func (h *Handler) accountUnlink(c echo.Context) error {
	signedIn, err := h.accountLogin(c)
	if signedIn == nil {
		return err
	}
	upstream, subject := c.FormValue("upstream"), c.FormValue("subject")
	err = h.login.UnlinkIdentity(c.Request().Context(), signedIn.User, upstream, subject)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return h.renderAccountIdentities(c, signedIn, "That account is not linked to yours.")
	case errors.Is(err, login.ErrLastSignInMethod):
		return h.renderAccountIdentities(c, signedIn, "You cannot unlink your only way to sign in.")
	case err != nil:
		return err
	}
	name := h.login.UpstreamName(upstream)
	if name == "" {
		name = upstream
	}
	return h.renderAccountIdentities(c, signedIn, name+" was unlinked.")
}
