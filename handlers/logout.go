package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/login"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/templates"
)

// logoutRequest is a validated RP-initiated logout request.
type logoutRequest struct {
	hint     *provider.IDTokenHint // nil without a (valid) id_token_hint
	client   *storage.Client       // nil if no client is named
	redirect string                // registered post_logout_redirect_uri with state, or ""
	raw      templates.LogoutData  // echoed into the confirmation form
}

// parseLogout validates id_token_hint, client_id and
// post_logout_redirect_uri. A redirect URI is only honoured when it is
// registered on the client the request names; otherwise the request is
// refused with an error page, never redirected.
func (h *Handler) parseLogout(c echo.Context) (*logoutRequest, error) {
	ctx := c.Request().Context()
	lr := &logoutRequest{raw: templates.LogoutData{
		IDTokenHint:           c.FormValue("id_token_hint"),
		PostLogoutRedirectURI: c.FormValue("post_logout_redirect_uri"),
		State:                 c.FormValue("state"),
		ClientID:              c.FormValue("client_id"),
	}}
	clientID := lr.raw.ClientID
	if lr.raw.IDTokenHint != "" {
		hint, err := h.p.VerifyIDTokenHint(ctx, lr.raw.IDTokenHint)
		if err != nil {
			return nil, echo.NewHTTPError(http.StatusBadRequest, "The id_token_hint is not a valid ID token from this server.")
		}
		if clientID != "" && clientID != hint.ClientID {
			return nil, echo.NewHTTPError(http.StatusBadRequest, "client_id does not match the id_token_hint.")
		}
		lr.hint, clientID = hint, hint.ClientID
	}
	if clientID != "" {
		client, err := h.p.Client(ctx, clientID)
		if errors.Is(err, storage.ErrNotFound) {
			return nil, echo.NewHTTPError(http.StatusBadRequest, "Unknown client.")
		} else if err != nil {
			return nil, err
		}
		lr.client = client
		lr.raw.ClientName = client.Name
	}
	if uri := lr.raw.PostLogoutRedirectURI; uri != "" {
		if lr.client == nil {
			return nil, echo.NewHTTPError(http.StatusBadRequest, "A post_logout_redirect_uri needs the id_token_hint (or client_id) of the client that registered it.")
		}
		if !slices.Contains(lr.client.PostLogoutRedirectURIs, uri) {
			return nil, echo.NewHTTPError(http.StatusBadRequest, "The post_logout_redirect_uri is not registered for this client.")
		}
		u, err := url.Parse(uri)
		if err != nil {
			return nil, echo.NewHTTPError(http.StatusBadRequest, "The post_logout_redirect_uri is not a valid URL.")
		}
		if lr.raw.State != "" {
			q := u.Query()
			q.Set("state", lr.raw.State)
			u.RawQuery = q.Encode()
		}
		lr.redirect = u.String()
	}
	return lr, nil
}

// logout (GET or POST without our form) is the RP-initiated logout
// endpoint. With an id_token_hint for the signed-in user it signs out at
// once; otherwise it asks the user to confirm, so a third-party page cannot
// sign people out.
func (h *Handler) logout(c echo.Context) error {
	lr, err := h.parseLogout(c)
	if err != nil {
		return err
	}
	signedIn, err := h.currentLogin(c)
	if err != nil {
		return err
	}
	if signedIn == nil {
		return h.finishLogout(c, lr, nil)
	}
	if lr.hint != nil && lr.hint.Subject == signedIn.User.ID {
		return h.endSession(c, lr)
	}
	if lr.redirectTrusted() {
		c.Response().Header().Set("Content-Security-Policy", basePageCSP+" "+originOf(lr.redirect))
	}
	data := lr.raw
	data.Common = h.common(c, "Sign out")
	return h.render(c, http.StatusOK, "logout", &data)
}

// logoutSubmit is a POST to the logout endpoint: our confirmation form
// (it carries _csrf, checked by the middleware) ends the session; an RP's
// POST (no _csrf) is handled like a GET.
func (h *Handler) logoutSubmit(c echo.Context) error {
	if c.FormValue("_csrf") == "" {
		return h.logout(c)
	}
	lr, err := h.parseLogout(c)
	if err != nil {
		return err
	}
	return h.endSession(c, lr)
}

// endSession ends the browser's login session, which queues the
// back-channel notifications of its apps, and signs the browser out of
// them through the front channel too.
func (h *Handler) endSession(c echo.Context, lr *logoutRequest) error {
	var ended *login.EndedSession
	if ck, err := c.Cookie(h.cookies.session); err == nil {
		if ended, err = h.login.End(c.Request().Context(), ck.Value); err != nil {
			return err
		}
	}
	h.clearSessionCookie(c)
	h.log.InfoContext(c.Request().Context(), "logout")
	return h.finishLogout(c, lr, ended)
}

// finishLogout redirects to the post_logout_redirect_uri when the request
// may be redirected and no app needs its front-channel logout page loaded,
// and otherwise shows the signed-out page: it loads those pages in
// iframes (Front-Channel Logout 1.0 §3) and then continues to the
// post_logout_redirect_uri if there is one, by its one hash-allowed
// script, with a link for a browser that runs none.
func (h *Handler) finishLogout(c echo.Context, lr *logoutRequest, ended *login.EndedSession) error {
	frames, origins := h.frontchannelFrames(ended)
	if lr.redirectTrusted() && len(frames) == 0 {
		return c.Redirect(http.StatusSeeOther, lr.redirect)
	}
	data := &templates.LoggedOutData{Common: h.common(c, "Signed out"), ReturnURL: lr.redirect, LogoutFrames: frames}
	if lr.redirect != "" {
		data.ClientName = lr.client.Name
	}
	if len(origins) > 0 {
		// The page's policy frames exactly the apps' logout origins.
		csp := basePageCSP + "; frame-src " + strings.Join(origins, " ")
		if lr.redirect != "" {
			csp += "; script-src " + templates.ContinueAfterLogoutFramesHash
		}
		c.Response().Header().Set("Content-Security-Policy", csp)
	}
	return h.render(c, http.StatusOK, "logged_out", data)
}

// frontchannelFrames are the front-channel logout URIs of the apps of an
// ended session (with iss and sid for those that asked, Front-Channel
// Logout §2 and §3), and their origins, each once.
func (h *Handler) frontchannelFrames(ended *login.EndedSession) ([]templates.LogoutFrame, []string) {
	if ended == nil {
		return nil, nil
	}
	var frames []templates.LogoutFrame
	var origins []string
	for _, c := range ended.Clients {
		if c.FrontchannelLogoutURI == "" {
			continue
		}
		u, err := url.Parse(c.FrontchannelLogoutURI)
		origin := originOf(c.FrontchannelLogoutURI)
		// Registration validated the URI; one that no longer parses, or
		// whose origin could break out of the policy, is left out.
		if err != nil || origin == "" || strings.ContainsAny(origin, " ;,'\"") {
			continue
		}
		if c.FrontchannelLogoutSessionRequired {
			q := u.Query()
			q.Set("iss", h.issuer.String())
			if ended.Session.SID != "" {
				q.Set("sid", ended.Session.SID)
			}
			u.RawQuery = q.Encode()
		}
		frames = append(frames, templates.LogoutFrame{URL: u.String(), ClientName: c.Name})
		if !slices.Contains(origins, origin) {
			origins = append(origins, origin)
		}
	}
	return frames, origins
}

// redirectTrusted reports whether the browser may be sent to the
// post_logout_redirect_uri without asking. Only a valid id_token_hint
// shows that the request comes from the client whose URI it is: without
// one, anybody can name a client_id and have gatehouse redirect a browser
// to what that client registered, which for a self-registered client is
// whatever its registrant chose (OpenID Connect RP-Initiated Logout §3:
// no redirection without other means of confirming the target; RFC 9700
// §4.11.2: no open redirector).
func (lr *logoutRequest) redirectTrusted() bool {
	return lr.redirect != "" && lr.hint != nil
}

func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host}).String()
}
