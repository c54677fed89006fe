package handlers

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/ory/fosite"

	"github.com/gatehouse-dev/gatehouse/internal/reqctx"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/apikey"
)

// requestContext gives each request an id (returned in X-Request-Id) and
// records it, the client IP and the arrival time in the request's context
// (internal/reqctx): logs carry the id, audit events the IP, and the
// refresh retry window tells concurrent refreshes of one token from reuse
// by the arrival time.
func (h *Handler) requestContext(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		id := hex.EncodeToString(b)
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		ctx := reqctx.With(c.Request().Context(), reqctx.Request{
			ID: id, ClientIP: c.RealIP(), Arrived: h.now().UTC(), UserAgent: c.Request().UserAgent(),
		})
		c.SetRequest(c.Request().WithContext(ctx))
		return next(c)
	}
}

// recoverPanics turns a panic into a logged 500; the process keeps serving.
func (h *Handler) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				h.log.ErrorContext(c.Request().Context(), "panic while serving a request",
					"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				err = echo.NewHTTPError(http.StatusInternalServerError)
			}
		}()
		return next(c)
	}
}

// accessLog writes one line per request. It never logs query strings or
// bodies: they carry codes, tokens and passwords.
func (h *Handler) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			// Let the error handler write the response first, so the
			// logged status is the one sent.
			c.Error(err)
		}
		status := c.Response().Status
		dur := time.Since(start)
		if h.metrics != nil {
			h.metrics.observe(c.Request().Method, c.Path(), status, dur)
		}
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		attrs := []any{"method", c.Request().Method, "route", c.Path(), "path", c.Request().URL.Path, "status", status,
			"duration_ms", float64(dur.Microseconds()) / 1000, "ip", c.RealIP(), "bytes", c.Response().Size}
		if id := claimedClient(c); id != "" { // a client id is no secret
			attrs = append(attrs, "client_id", boundedLogValue(id))
		}
		h.log.Log(c.Request().Context(), level, "http request", attrs...)
		return nil
	}
}

// boundedLogValue keeps attacker-chosen values from bloating the log.
func boundedLogValue(s string) string {
	const limit = 128
	if len(s) > limit {
		return s[:limit] + "..."
	}
	return s
}

// securityHeaders go on every response, and the page headers on every
// HTML one. It runs first (newEcho), so it covers the answers echo makes
// before any route middleware runs — 404 and 405 from the router, 413
// from the body limit — and the pages the error handler writes for them.
// Whatever writes HTML (a page, the error handler, echo, fosite), the page
// headers are added just before the status line goes out.
func (h *Handler) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		res := c.Response()
		hd := res.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		if h.secure {
			hd.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		res.Before(func() {
			if mt, _, _ := mime.ParseMediaType(hd.Get(echo.HeaderContentType)); mt == "text/html" {
				setPageHeaders(hd)
			}
		})
		return next(c)
	}
}

// basePageCSP is the policy of every page; form-action widens per page when
// a form's POST ends in a redirect to the client (browsers apply
// form-action to that redirect too).
const basePageCSP = "default-src 'none'; style-src 'self'; img-src 'self' https: data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// pageHeaders go on every answer of the page routes (and the authorize
// endpoint), redirects included: no framing, no caching of pages with
// CSRF tokens or of redirects carrying codes. securityHeaders adds them
// to any other HTML.
func (h *Handler) pageHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		setPageHeaders(c.Response().Header())
		return next(c)
	}
}

// setPageHeaders sets the headers of a page. A policy already set is kept:
// allowFormRedirect widens form-action for some pages.
func setPageHeaders(hd http.Header) {
	if hd.Get("Content-Security-Policy") == "" {
		hd.Set("Content-Security-Policy", basePageCSP)
	}
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Pragma", "no-cache")
}

// noStore marks token-bearing responses uncacheable (fosite sets it on
// some responses, not on all errors).
func noStore(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "no-store")
		c.Response().Header().Set("Pragma", "no-cache")
		return next(c)
	}
}

// singleValued are the OAuth parameters that must not repeat (RFC 6749
// §3.1, §3.2). fosite would silently use the first.
var singleValued = []string{
	"grant_type", "code", "redirect_uri", "client_id", "client_secret", "refresh_token", "scope",
	"code_verifier", "code_challenge", "code_challenge_method", "state", "nonce", "response_type",
	"response_mode", "prompt", "max_age", "login_hint", "id_token_hint", "post_logout_redirect_uri",
	"token", "token_type_hint", "client_assertion", "client_assertion_type", "request", "request_uri",
	"ui_locales", "acr_values", "display", "access_token", "assertion", "dpop_jkt",
}

// maxParamNameLen bounds parameter names; no OAuth parameter or form field
// of ours comes near it.
const maxParamNameLen = 200

// parseParams parses the query and the body (urlencoded or multipart) into
// r.Form. A body over the size limit is answered 413 like one whose
// Content-Length says so up front, not as a malformed request: without a
// Content-Length (chunked), BodyLimit can only notice while the form is
// read.
func parseParams(r *http.Request) (tooLarge, bad error) {
	// ParseForm first: for a body that is not multipart,
	// ParseMultipartForm returns ErrNotMultipart and drops ParseForm's
	// error (a malformed query or body, a body over the limit).
	err := r.ParseForm()
	if err == nil {
		if err = r.ParseMultipartForm(1 << 20); errors.Is(err, http.ErrNotMultipart) {
			err = nil
		}
	}
	if err == nil {
		return nil, nil
	}
	var he *echo.HTTPError
	if errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge {
		return he, nil
	}
	return nil, err
}

// paramProblem checks every parameter name and value for what none of
// them may contain, and returns a hint for the client ("" if all is well):
// invalid UTF-8, and control characters — C0 (tab, CR and LF included:
// RFC 6749's value syntaxes and our form fields allow none), DEL and C1
// (U+0080–U+009F). Such bytes have no legitimate use in a parameter and
// are how header, log and template injection attempts start.
func paramProblem(form url.Values) string {
	for k, vs := range form {
		if len(k) > maxParamNameLen || !utf8.ValidString(k) || hasControl(k) {
			return "A parameter name is too long, not valid UTF-8 or contains control characters."
		}
		for _, v := range vs {
			if !utf8.ValidString(v) {
				return fmt.Sprintf("Parameter '%s' is not valid UTF-8.", hintText(k))
			}
			if hasControl(v) {
				return fmt.Sprintf("Parameter '%s' contains control characters.", hintText(k))
			}
		}
	}
	return ""
}

// hintText makes a client-chosen name fit for error_description, which
// RFC 6749 §5.2 limits to printable ASCII without '"' and '\': other
// characters become '?', and the name is clipped.
func hintText(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= 64 {
			b.WriteString("...")
			break
		}
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			r = '?'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// maxIDLen bounds an id a route takes from its path, query or form
// (clients, users and API keys have UUIDs).
const maxIDLen = 200

// validID reports whether s can be the id of a record of ours: not empty,
// at most maxIDLen bytes, valid UTF-8 without control characters. Every
// route that takes an id from its path, query or form checks it with
// validID before the id goes anywhere near the database, and answers one
// that fails as "no such record" (404) or, for a paging cursor or a body
// field, as bad input (400) — in the route's own error format. PostgreSQL
// refuses a NUL in text, and bun fails a query holding one: unchecked, such
// an id is a 500.
func validID(s string) bool {
	return s != "" && len(s) <= maxIDLen && utf8.ValidString(s) && !hasControl(s)
}

// hasControl reports whether s (valid UTF-8) holds a C0 or C1 control
// character or DEL.
func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			return true
		}
	}
	return false
}

// oauthParams parses the request's parameters the way fosite will and
// rejects repeated single-valued parameters, invalid UTF-8 and control
// characters with a 4xx, before fosite sees them.
func (h *Handler) oauthParams(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if tooLarge, err := parseParams(r); tooLarge != nil {
			return tooLarge
		} else if err != nil {
			return h.badParams(c, "The request parameters or body could not be parsed.")
		}
		if problem := paramProblem(r.Form); problem != "" {
			return h.badParams(c, problem)
		}
		for _, k := range singleValued {
			if len(r.Form[k]) > 1 {
				return h.badParams(c, fmt.Sprintf("Parameter '%s' must not be repeated.", k))
			}
		}
		if apiKeyInQuery(r) {
			return h.badParams(c, "API keys must not be sent in URLs; send them in the body or the Authorization header.")
		}
		// Read once here for the per-client limit, CORS and the access log.
		id := provider.ClaimedClientID(r)
		if id == "" {
			id = r.Form.Get("client_id") // authorize and logout carry it in the query
		}
		c.Set(claimedClientKey, id)
		return next(c)
	}
}

// claimedClientKey is the echo context key of the client id a request
// names, set by oauthParams: the HTTP Basic user name or the client_id
// parameter (provider.ClaimedClientID), else client_id in the query. Not
// authenticated.
const claimedClientKey = "gatehouse.claimed_client_id"

// claimedClient is the client id the request names ("" when none, or when
// oauthParams did not run).
func claimedClient(c echo.Context) string {
	id, _ := c.Get(claimedClientKey).(string)
	return id
}

// formParams holds the fields of our own forms to the rules of
// paramProblem, before the CSRF check and the handler read them: a form
// that cannot be read (malformed, or a body cut short by a client that
// went away) gets a 400 error page, an oversized one a 413. csrf runs it
// for every form POST.
func (h *Handler) formParams(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if tooLarge, err := parseParams(r); tooLarge != nil {
			return tooLarge
		} else if err != nil {
			return h.errorPage(c, http.StatusBadRequest, "The form could not be read. Go back and try again.")
		}
		if paramProblem(r.Form) != "" {
			return h.errorPage(c, http.StatusBadRequest, "The form contains characters that are not allowed (control characters or invalid UTF-8). Go back and try again.")
		}
		return next(c)
	}
}

// badParams answers a malformed OAuth request: an error page on browser
// endpoints (the redirect URI cannot be trusted yet), JSON elsewhere.
func (h *Handler) badParams(c echo.Context, hint string) error {
	err := fosite.ErrInvalidRequest.WithHint(hint)
	if isPagePath(c.Path()) {
		return h.errorPage(c, http.StatusBadRequest, err.GetDescription())
	}
	return writeOAuthJSON(c, err)
}

// bearerToken extracts an RFC 6750 bearer token from the Authorization
// header or, for a form POST, the body. Never from the query: tokens stay
// out of URLs and logs.
func bearerToken(r *http.Request) string {
	if auth := r.Header.Get("Authorization"); auth != "" {
		scheme, token, ok := strings.Cut(auth, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(token)
		}
		return ""
	}
	if r.Method == http.MethodPost && r.PostForm != nil {
		return r.PostForm.Get("access_token")
	}
	return ""
}

// apiKeyInQuery reports whether the URL carries an API key. URLs end up in
// logs, proxies and browser history, so such a request is refused (and the
// access log never records query strings).
func apiKeyInQuery(r *http.Request) bool {
	return strings.Contains(r.URL.RawQuery, apikey.Prefix) || strings.Contains(r.URL.RawQuery, url.QueryEscape(apikey.Prefix))
}
