package handlers

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/ory/fosite"

	"github.com/gatehouse-dev/gatehouse/internal/reqctx"
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
