package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/ory/fosite"

	"github.com/gatehouse-dev/gatehouse/internal/reqctx"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/templates"
)

// errorHandler is the one place where an error returned by a route becomes
// a response: JSON on API paths, an HTML page on browser paths. The cause is
// logged, never shown; the request id links the two.
func (h *Handler) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, msg := http.StatusInternalServerError, "Something went wrong on our side. Please try again."
	var he *echo.HTTPError
	switch {
	case errors.As(err, &he):
		status = he.Code
		if m, ok := he.Message.(string); ok && status < 500 {
			msg = m
		} else {
			msg = http.StatusText(status)
		}
		if he.Internal != nil {
			err = he.Internal
		}
	case clientGone(c.Request().Context(), err):
		status, msg = http.StatusBadRequest, requestCancelled
	case errors.Is(err, storage.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		status, msg = http.StatusServiceUnavailable, "The service is temporarily unavailable. Please try again shortly."
	}
	if status == http.StatusBadRequest && msg == requestCancelled {
		h.log.InfoContext(c.Request().Context(), "the client went away before the answer", "path", c.Request().URL.Path)
	} else if status >= 500 {
		h.log.ErrorContext(c.Request().Context(), "request failed", "path", c.Request().URL.Path, "status", status, "err", err)
	}
	if isPagePath(c.Path()) {
		_ = h.errorPage(c, status, msg)
		return
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	_ = c.JSON(status, map[string]string{"error": errorCode(status), "error_description": msg})
}

// requestCancelled is the answer (400, which nobody reads) to a request
// whose client went away mid-way.
const requestCancelled = "The request was cancelled by the client."

// clientGone reports whether err is the request's own context being
// cancelled: the client closed the connection (or gave up) while the
// server worked. That is not a server error (nothing to alert on), and
// neither a 5xx nor an error-level log.
func clientGone(ctx context.Context, err error) bool {
	return errors.Is(err, context.Canceled) && errors.Is(ctx.Err(), context.Canceled)
}

func errorCode(status int) string {
	switch status {
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusServiceUnavailable:
		return "temporarily_unavailable"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusUnauthorized:
		return "unauthorized"
	}
	if status >= 500 {
		return "server_error"
	}
	return "invalid_request"
}

// errorPage renders the HTML error page.
func (h *Handler) errorPage(c echo.Context, status int, msg string) error {
	return h.render(c, status, "error", &templates.ErrorData{
		Common:    h.common(c, "Something went wrong"),
		Status:    status,
		Message:   msg,
		RequestID: reqctx.ID(c.Request().Context()),
	})
}

// writeOAuthJSON writes an RFC 6749 error body for errors that arise before
// fosite is involved.
func writeOAuthJSON(c echo.Context, err *fosite.RFC6749Error) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(err.StatusCode(), map[string]string{"error": err.ErrorField, "error_description": err.GetDescription()})
}

// oauthErrorPage shows an OAuth error that does not go back to the app
// (its redirect URI is unknown or not trusted, or the app asked for the
// person to see it first): one plain sentence for the person, the OAuth
// error code to quote, and what a developer needs to fix it — collapsed,
// and escaped by the template like everything else. backURL, when set,
// is offered as a link labelled backText.
func (h *Handler) oauthErrorPage(c echo.Context, ar fosite.AuthorizeRequester, rfc *fosite.RFC6749Error, backURL, backText string) error {
	status := errorPageStatus(rfc)
	return h.render(c, status, "error", &templates.ErrorData{
		Common:    h.common(c, "Sign-in could not continue"),
		Status:    status,
		Message:   personMessage(rfc.ErrorField),
		Code:      rfc.ErrorField,
		Details:   developerDetails(c, ar, rfc),
		RequestID: reqctx.ID(c.Request().Context()),
		BackURL:   backURL,
		BackText:  backText,
	})
}

// personMessage is the sentence a person reads for an OAuth error code:
// what happened and what to do, in plain words. fosite's descriptions
// ("The request is missing a required parameter, includes an invalid
// parameter value, …") are for developers; developerDetails carries them.
func personMessage(code string) string {
	switch code {
	case "invalid_client", "unauthorized_client":
		return "The app that sent you here is not registered with this sign-in service, or is not allowed to sign you in this way. Tell the app's developers."
	case "invalid_scope":
		return "The app asked for access that this sign-in service does not offer. Tell the app's developers."
	case "access_denied":
		return "Sign-in was cancelled or not allowed. Go back to the app to try again."
	case "login_required", "consent_required", "interaction_required", "account_selection_required":
		return "You need to sign in, or approve the app, before it can continue. Go back to the app and try again."
	case "temporarily_unavailable":
		return "The sign-in service is busy or briefly unavailable. Try again in a moment."
	case "server_error":
		return "Something went wrong on our side. Try again in a moment."
	}
	// invalid_request, unsupported_response_type, invalid_request_object,
	// request_not_supported, ...: the app built the request wrongly.
	return "The app that sent you here made a sign-in request that this service cannot accept. Go back to the app and try again; if it keeps happening, tell the app's developers."
}

// maxDetail bounds each line a developer sees: the values quoted come
// from the request, which anyone can make as long as the URL allows.
const maxDetail = 300

// developerDetails is what a developer needs to fix the request: what the
// server found, the client it names (or that none has that id), and the
// redirect_uri received against the registered ones when they differ.
// Client ids and redirect URIs are not secrets; nothing else is quoted.
func developerDetails(c echo.Context, ar fosite.AuthorizeRequester, rfc *fosite.RFC6749Error) []string {
	what := rfc.HintField
	if what == "" {
		what = rfc.DescriptionField
	}
	lines := []string{clipDetail(what)}
	var client *storage.Client
	if ar != nil {
		client, _ = provider.StorageClient(ar.GetClient())
	}
	if client == nil {
		if id := claimedClient(c); id != "" {
			lines = append(lines, clipDetail(fmt.Sprintf("client_id received: %q. No client with this id is registered here.", id)))
		}
		return lines
	}
	lines = append(lines, clipDetail(fmt.Sprintf("Client: %q (client_id %s).", client.Name, client.ID)))
	if requested := ar.GetRequestForm().Get("redirect_uri"); requested != "" && !provider.RedirectURIMatches(requested, client.RedirectURIs) {
		lines = append(lines, clipDetail(fmt.Sprintf("redirect_uri received: %q.", requested)))
		registered := client.RedirectURIs
		if len(registered) > 10 {
			registered = registered[:10]
		}
		quoted := make([]string, len(registered))
		for i, u := range registered {
			quoted[i] = strconv.Quote(u)
		}
		lines = append(lines, clipDetail("redirect_uri registered for this client (matched exactly, RFC 9700 §4.1.3): "+strings.Join(quoted, ", ")+"."))
	}
	return lines
}

func clipDetail(s string) string {
	if len(s) <= maxDetail {
		return s
	}
	// Cut on a rune boundary, so the page stays valid UTF-8.
	cut := maxDetail
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
