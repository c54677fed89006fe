package handlers

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/ory/fosite"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/login"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// engine is what the handlers ask of the OAuth engine (provider.Provider):
// one call per endpoint, and the authorization request's life between the
// authorization endpoint and the sign-in pages.
type engine interface {
	NewAuthorizeRequest(ctx context.Context, r *http.Request) (fosite.AuthorizeRequester, error)
	ResumeAuthorizeRequest(ctx context.Context, f *storage.AuthFlow) (fosite.AuthorizeRequester, error)
	Complete(ctx context.Context, w http.ResponseWriter, ar fosite.AuthorizeRequester, signedIn *provider.Login, flowHandle string) error
	WriteAuthorizeError(ctx context.Context, w http.ResponseWriter, ar fosite.AuthorizeRequester, err error)
	AuthorizeErrorURL(ctx context.Context, ar fosite.AuthorizeRequester, err error) string
	OAuthError(ctx context.Context, err error, grantType string) error
	Token(ctx context.Context, w http.ResponseWriter, r *http.Request)
	PushedAuthorize(ctx context.Context, w http.ResponseWriter, r *http.Request)
	Introspect(ctx context.Context, w http.ResponseWriter, r *http.Request)
	Revoke(ctx context.Context, w http.ResponseWriter, r *http.Request)
	UserInfo(ctx context.Context, cred provider.Credential) (*provider.UserInfo, error)
	DPoPChallenge(err error) (algs []string, nonce string)
	VerifyIDTokenHint(ctx context.Context, hint string) (*provider.IDTokenHint, error)
	Discovery() provider.Discovery
	OriginAllowed(ctx context.Context, origin string) (bool, error)
	Client(ctx context.Context, id string) (*storage.Client, error)
	devices
}

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
	signedIn, err := h.currentLogin(c)
	if err != nil {
		return h.authorizeRequestError(c, ar, err)
	}
	step, err := h.login.NextStep(ctx, ar, signedIn, login.FlowState{})
	if err != nil {
		return h.authorizeRequestError(c, ar, err)
	}
	if step == login.StepDone {
		return h.completeAuthorization(c, ar, signedIn, "")
	}
	flow, err := h.login.StartFlow(ctx, ar)
	if err != nil {
		return h.authorizeRequestError(c, ar, err)
	}
	return c.Redirect(http.StatusSeeOther, stepPath(step)+"?flow="+url.QueryEscape(flow))
}

func stepPath(s login.Step) string {
	if s == login.StepSignup {
		return login.PathSignup
	}
	if s == login.StepConsent {
		return "/consent"
	}
	if s == login.StepSecondFactor {
		return PathSecondFactor
	}
	return "/login"
}

// completeAuthorization issues the code and redirects to the client.
func (h *Handler) completeAuthorization(c echo.Context, ar fosite.AuthorizeRequester, signedIn *provider.Login, flow string) error {
	ctx := c.Request().Context()
	err := h.p.Complete(ctx, c.Response(), ar, signedIn, flow)
	if errors.Is(err, provider.ErrFlowNotFound) {
		return h.errorPage(c, http.StatusBadRequest, err.Error())
	}
	if err != nil {
		return h.authorizeError(c, ar, err)
	}
	return nil
}

// authorizeError sends an authorization error to the client when its
// redirect URI has been verified, and shows an error page otherwise: an
// unregistered or mismatched redirect URI is never redirected to.
func (h *Handler) authorizeError(c echo.Context, ar fosite.AuthorizeRequester, err error) error {
	ctx := c.Request().Context()
	err = h.p.OAuthError(ctx, err, "")
	if provider.AuthorizeErrorRedirectable(ar) {
		h.p.WriteAuthorizeError(ctx, c.Response(), ar, err)
		return nil
	}
	return h.oauthErrorPage(c, ar, fosite.ErrorToRFC6749Error(err), "", "")
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
	err = h.p.OAuthError(ctx, err, "")
	name := clientName(ar)
	if name == "" {
		name = "the app"
	}
	return h.oauthErrorPage(c, ar, fosite.ErrorToRFC6749Error(err), h.p.AuthorizeErrorURL(ctx, ar, err), "Return to "+name)
}

// token, par, introspect and revoke are the engine's endpoints; each is
// one call that writes its answer (CORS for browser apps is set before, by
// clientCORS).
func (h *Handler) token(c echo.Context) error {
	h.p.Token(c.Request().Context(), c.Response(), c.Request())
	return nil
}

func (h *Handler) par(c echo.Context) error {
	h.p.PushedAuthorize(c.Request().Context(), c.Response(), c.Request())
	return nil
}

func (h *Handler) introspect(c echo.Context) error {
	h.p.Introspect(c.Request().Context(), c.Response(), c.Request())
	return nil
}

func (h *Handler) revoke(c echo.Context) error {
	h.p.Revoke(c.Request().Context(), c.Response(), c.Request())
	return nil
}

// clientCORS lets a browser app read the answer of the token and
// revocation endpoints — errors too: invalid_grant means "sign in again" —
// when its origin is registered on the client the request names. The
// client is not authenticated yet: its registered origin may read even a
// refusal, which tells it nothing it could not learn otherwise. A request
// without Origin (every program but a browser) costs nothing.
func (h *Handler) clientCORS(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if c.Request().Header.Get(echo.HeaderOrigin) != "" {
			if id := claimedClient(c); id != "" {
				if client, err := h.p.Client(c.Request().Context(), id); err == nil {
					h.allowOrigin(c, client)
				}
			}
		}
		return next(c)
	}
}

// userinfo is the OpenID Connect UserInfo endpoint (GET and POST).
func (h *Handler) userinfo(c echo.Context) error {
	ctx := c.Request().Context()
	cred := accessCredential(c.Request(), h.publicURL(c.Request()))
	info, err := h.p.UserInfo(ctx, cred)
	if err != nil {
		rfc := fosite.ErrorToRFC6749Error(h.p.OAuthError(ctx, err, ""))
		if rfc.StatusCode() == http.StatusUnauthorized || rfc.StatusCode() == http.StatusForbidden {
			h.setChallenges(c, cred, challenge{errCode: rfc.ErrorField}, err)
		}
		return writeOAuthJSON(c, rfc)
	}
	h.setDPoPNonce(c, cred)
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
		// A browser app reads the nonce for its next DPoP proof (RFC 9449
		// §8) and the challenge of a refused one.
		c.Response().Header().Set(echo.HeaderAccessControlExposeHeaders, "DPoP-Nonce, WWW-Authenticate")
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
		// DPoP: browser apps send proofs (RFC 9449 §4.1).
		hd.Set(echo.HeaderAccessControlAllowHeaders, "Authorization, Content-Type, DPoP")
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
	files := http.StripPrefix("/static/", http.FileServerFS(h.pages.Static()))
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
