package handlers

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/ory/fosite"

	"github.com/gatehouse-dev/gatehouse/internal/reqctx"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/templates"
)

// authorize is the authorization endpoint (GET and POST). It validates the
// request with fosite, then either completes it at once (signed in, consent
// remembered) or parks it in a flow and sends the browser to the login or
// consent page.
func (h *Handler) authorize(c echo.Context) error {
	ctx := c.Request().Context()
	ar, err := h.p.NewAuthorizeRequest(ctx, c.Request())
	if err != nil {
		return h.authorizeRequestError(c, ar, err)
	}
	login, err := h.currentLogin(c)
	if err != nil {
		return h.authorizeRequestError(c, ar, err)
	}
	step, err := h.p.NextStep(ctx, ar, login, provider.FlowState{})
	if err != nil {
		return h.authorizeRequestError(c, ar, err)
	}
	if step == provider.StepDone {
		return h.completeAuthorization(c, ar, login, "")
	}
	flow, err := h.p.StartFlow(ctx, ar)
	if err != nil {
		return h.authorizeRequestError(c, ar, err)
	}
	return c.Redirect(http.StatusSeeOther, stepPath(step)+"?flow="+url.QueryEscape(flow))
}

func stepPath(s provider.Step) string {
	if s == provider.StepConsent {
		return "/consent"
	}
	return "/login"
}

// completeAuthorization issues the code and redirects to the client.
func (h *Handler) completeAuthorization(c echo.Context, ar fosite.AuthorizeRequester, login *provider.Login, flow string) error {
	ctx := c.Request().Context()
	resp, err := h.p.Complete(ctx, ar, login, flow)
	if errors.Is(err, provider.ErrFlowNotFound) {
		return h.errorPage(c, http.StatusBadRequest, err.Error())
	}
	if err != nil {
		return h.authorizeError(c, ar, err)
	}
	h.p.OAuth2.WriteAuthorizeResponse(ctx, c.Response(), ar, resp)
	return nil
}

// authorizeError sends an authorization error to the client when its
// redirect URI has been verified, and shows an error page otherwise: an
// unregistered or mismatched redirect URI is never redirected to.
func (h *Handler) authorizeError(c echo.Context, ar fosite.AuthorizeRequester, err error) error {
	ctx := c.Request().Context()
	err = h.oauthError(ctx, err, "")
	if provider.AuthorizeErrorRedirectable(ar) {
		h.p.WriteAuthorizeError(ctx, c.Response(), ar, err)
		return nil
	}
	rfc := fosite.ErrorToRFC6749Error(err)
	return h.errorPage(c, errorPageStatus(rfc), rfc.GetDescription())
}

// errorPageStatus is the status of the page that shows rfc: its own, or
// 400 for an error that has none of the 4xx or 5xx kind.
func errorPageStatus(rfc *fosite.RFC6749Error) int {
	if status := rfc.StatusCode(); status >= 400 {
		return status
	}
	return http.StatusBadRequest
}

// authorizeRequestError answers an error found at the authorization
// endpoint before the person did anything on our pages. A client an
// operator created gets it at its redirect URI, as authorizeError sends
// it; for a dynamically registered client the person sees the error with a
// link back to the app instead (provider.AuthorizeErrorRedirectsAtOnce).
func (h *Handler) authorizeRequestError(c echo.Context, ar fosite.AuthorizeRequester, err error) error {
	if !provider.AuthorizeErrorRedirectable(ar) || provider.AuthorizeErrorRedirectsAtOnce(ar) {
		return h.authorizeError(c, ar, err)
	}
	ctx := c.Request().Context()
	err = h.oauthError(ctx, err, "")
	rfc := fosite.ErrorToRFC6749Error(err)
	status := errorPageStatus(rfc)
	name := clientName(ar)
	if name == "" {
		name = "the app"
	}
	return h.render(c, status, "error", &templates.ErrorData{
		Common:    h.common(c, "Something went wrong"),
		Status:    status,
		Message:   fmt.Sprintf("%s (%s)", rfc.GetDescription(), rfc.ErrorField),
		RequestID: reqctx.ID(ctx),
		BackURL:   h.p.AuthorizeErrorURL(ctx, ar, err),
		BackText:  "Return to " + name,
	})
}

// token is the token endpoint.
func (h *Handler) token(c echo.Context) error {
	ctx := c.Request().Context()
	grant := c.Request().PostForm.Get("grant_type")
	ar, err := h.p.OAuth2.NewAccessRequest(ctx, c.Request(), provider.NewSession())
	// A browser app must be able to read errors too (invalid_grant means
	// "sign in again"), so CORS goes on once the client is authenticated,
	// whatever the outcome.
	if ar != nil && ar.GetClient() != nil {
		h.allowOrigin(c, ar.GetClient())
	}
	if err == nil {
		err = h.p.PrepareAccessRequest(ctx, ar)
	}
	var resp fosite.AccessResponder
	if err == nil {
		resp, err = h.p.NewAccessResponse(ctx, ar)
	}
	if err != nil {
		// A refresh token that was just rotated gets the rotation's
		// response again (the retry window), not an error.
		replay, ok := h.p.ReplayRefresh(ctx, ar, err)
		if !ok {
			err = h.oauthError(ctx, err, grant)
			challengeClient(c, err)
			h.p.OAuth2.WriteAccessError(ctx, c.Response(), ar, err)
			return nil
		}
		resp = replay
	}
	h.p.OAuth2.WriteAccessResponse(ctx, c.Response(), ar, resp)
	return nil
}

// par is the pushed authorization request endpoint (RFC 9126): the client
// authenticates and sends the authorization request by POST, and gets a
// one-time request_uri to send the browser with instead.
func (h *Handler) par(c echo.Context) error {
	ctx := c.Request().Context()
	ar, err := h.p.OAuth2.NewPushedAuthorizeRequest(ctx, c.Request())
	if err == nil {
		err = h.p.CheckPushedRequest(ar)
	}
	if err != nil {
		err = h.oauthError(ctx, err, "")
		challengeClient(c, err)
		h.p.OAuth2.WritePushedAuthorizeError(ctx, c.Response(), ar, err)
		return nil
	}
	resp, err := h.p.OAuth2.NewPushedAuthorizeResponse(ctx, ar, provider.NewSession())
	if err != nil {
		h.p.OAuth2.WritePushedAuthorizeError(ctx, c.Response(), ar, h.oauthError(ctx, err, ""))
		return nil
	}
	h.p.OAuth2.WritePushedAuthorizeResponse(ctx, c.Response(), ar, resp)
	return nil
}

// introspect is RFC 7662 introspection: the caller authenticates as a
// client (as at the token endpoint) and learns only about the tokens it is
// entitled to (provider.Introspect).
func (h *Handler) introspect(c echo.Context) error {
	ctx := c.Request().Context()
	info, err := h.p.Introspect(ctx, c.Request())
	if err != nil {
		rfc := fosite.ErrorToRFC6749Error(h.oauthError(ctx, err, ""))
		challengeClient(c, rfc)
		return writeOAuthJSON(c, rfc)
	}
	return c.JSON(http.StatusOK, info)
}

// challengeClient answers a failed client authentication as RFC 6749
// §5.2 asks: 401 invalid_client with a WWW-Authenticate challenge for the
// scheme clients authenticate with (HTTP Basic). Call it before writing
// the error.
func challengeClient(c echo.Context, err error) {
	if rfc := fosite.ErrorToRFC6749Error(err); rfc.ErrorField == fosite.ErrInvalidClient.ErrorField {
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Basic realm="gatehouse"`)
	}
}

// revoke is RFC 7009 revocation; revoking either token of a grant revokes
// both.
func (h *Handler) revoke(c echo.Context) error {
	ctx := c.Request().Context()
	err := h.p.Revoke(ctx, c.Request())
	if clientID := claimedClient(c); clientID != "" {
		if client, cerr := h.p.Client(ctx, clientID); cerr == nil {
			h.allowOrigin(c, client)
		}
	}
	if err == nil || errors.Is(err, fosite.ErrUnauthorizedClient) {
		// RFC 7009 §2.2: an unknown token, or another client's (which
		// must not be told from an unknown one), is answered 200.
		c.Response().Header().Set("Cache-Control", "no-store")
		return c.NoContent(http.StatusOK)
	}
	// Every other error is said as it is. fosite's writer answers 200 to
	// anything but invalid_request and invalid_client — a revocation the
	// database did not take would look done (RFC 7009 §2.2.1: 503).
	rfc := fosite.ErrorToRFC6749Error(h.oauthError(ctx, err, ""))
	challengeClient(c, rfc)
	return writeOAuthJSON(c, rfc)
}

// userinfo is the OpenID Connect UserInfo endpoint (GET and POST).
func (h *Handler) userinfo(c echo.Context) error {
	ctx := c.Request().Context()
	info, err := h.p.UserInfo(ctx, bearerToken(c.Request()))
	if err != nil {
		rfc := fosite.ErrorToRFC6749Error(h.oauthError(ctx, err, ""))
		if rfc.StatusCode() == http.StatusUnauthorized || rfc.StatusCode() == http.StatusForbidden {
			c.Response().Header().Set("WWW-Authenticate", `Bearer error="`+rfc.ErrorField+`"`)
		}
		return writeOAuthJSON(c, rfc)
	}
	if client, cerr := h.p.Client(ctx, info.ClientID); cerr == nil {
		h.allowOrigin(c, client)
	}
	return c.JSON(http.StatusOK, info.Claims)
}

// allowOrigin answers CORS for a browser app: only origins registered on
// the client that made the request may read the response.
func (h *Handler) allowOrigin(c echo.Context, client fosite.Client) {
	origin := c.Request().Header.Get(echo.HeaderOrigin)
	sc, ok := provider.StorageClient(client)
	if origin == "" || !ok {
		return
	}
	c.Response().Header().Add(echo.HeaderVary, echo.HeaderOrigin)
	if slices.Contains(sc.AllowedOrigins, origin) {
		c.Response().Header().Set(echo.HeaderAccessControlAllowOrigin, origin)
	}
}

// preflight answers CORS preflights for the token, revocation and userinfo
// endpoints. A preflight does not say which client is asking, so an origin
// registered on any client may send; whether it may read the answer is
// decided per client on the actual request (allowOrigin). Unregistered
// origins get no CORS headers at all.
func (h *Handler) preflight(c echo.Context) error {
	origin := c.Request().Header.Get(echo.HeaderOrigin)
	hd := c.Response().Header()
	hd.Add(echo.HeaderVary, echo.HeaderOrigin)
	allowed, err := h.p.OriginAllowed(c.Request().Context(), origin)
	if err != nil {
		return err
	}
	if allowed {
		hd.Set(echo.HeaderAccessControlAllowOrigin, origin)
		hd.Set(echo.HeaderAccessControlAllowMethods, "GET, POST")
		hd.Set(echo.HeaderAccessControlAllowHeaders, "Authorization, Content-Type")
		hd.Set(echo.HeaderAccessControlMaxAge, "600")
	}
	return c.NoContent(http.StatusNoContent)
}

// discovery serves the OpenID Connect discovery document (also as RFC 8414
// metadata).
func (h *Handler) discovery(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderAccessControlAllowOrigin, "*")
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.JSON(http.StatusOK, h.p.Discovery())
}

// jwks serves the public signing keys.
func (h *Handler) jwks(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderAccessControlAllowOrigin, "*")
	// Relying parties may cache the key set as long as the key schedule
	// allows: a new key is published at least this long before it signs.
	c.Response().Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(h.keys.CacheMaxAge().Seconds())))
	return c.Blob(http.StatusOK, "application/jwk-set+json", h.keys.JWKS())
}

// alive says the process serves HTTP.
func (h *Handler) alive(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz says whether the database is reachable and the schema current.
func (h *Handler) readyz(c echo.Context) error {
	if err := h.ready(c.Request().Context()); err != nil {
		h.log.WarnContext(c.Request().Context(), "not ready", "err", err)
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": "database unreachable or schema not current"})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// static serves the stylesheet. Only a file's own name is served: a path
// that is not a valid fs.FS name (invalid UTF-8 such as %ff, "..", empty
// elements, a trailing slash) or names the folder itself is a 404 before
// the file server sees it, which would answer some of them with a 500 or a
// directory listing.
func (h *Handler) static() echo.HandlerFunc {
	files := http.StripPrefix("/static/", http.FileServerFS(templates.Static()))
	return func(c echo.Context) error {
		name := strings.TrimPrefix(c.Request().URL.Path, "/static/")
		if !fs.ValidPath(name) || name == "." {
			return echo.ErrNotFound
		}
		c.Response().Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(c.Response(), c.Request())
		return nil
	}
}
