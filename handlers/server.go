// Package handlers is gatehouse's HTTP surface: the echo routes of the public
// listener (OAuth 2.0 / OpenID Connect endpoints, discovery, JWKS, the login,
// consent and logout pages) and of the admin listener (health, metrics), the
// middleware they share, and the one HTTP error handler.
//
// OAuth endpoints let fosite write their responses (and then return nil);
// everything else goes through echo's error handler, which answers JSON on
// API paths and an HTML page on browser paths.
package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/templates"
)

// Limits every request is held to.
const (
	// MaxBodyBytes bounds request bodies; OAuth requests are small forms.
	MaxBodyBytes = 64 << 10
	// RequestTimeout bounds the work for one request.
	RequestTimeout = 15 * time.Second
)

// JWKSSource publishes the signing keys.
type JWKSSource interface {
	JWKS() []byte
	// CacheMaxAge is how long relying parties may cache the JWKS.
	CacheMaxAge() time.Duration
}

// Options configure the handlers.
type Options struct {
	Provider *provider.Provider
	Pages    *templates.Pages
	Keys     JWKSSource
	// Ready reports whether the service can take traffic (database
	// reachable, schema current).
	Ready  func(ctx context.Context) error
	Logger *slog.Logger
	Now    func() time.Time
	// Product is the name shown on the pages.
	Product string
	// Metrics, when set, receives the HTTP metrics and is served on the
	// admin listener at /metrics.
	Metrics *prometheus.Registry
}

// Handler holds the dependencies of every route.
type Handler struct {
	p       *provider.Provider
	pages   *templates.Pages
	keys    JWKSSource
	ready   func(ctx context.Context) error
	log     *slog.Logger
	now     func() time.Time
	product string
	issuer  *url.URL
	secure  bool // the issuer is https: Secure cookies, __Host- names, HSTS
	cookies cookieNames
	metrics *httpMetrics
}

// New checks the options and returns the handlers.
func New(opts Options) (*Handler, error) {
	if opts.Provider == nil || opts.Pages == nil || opts.Keys == nil || opts.Ready == nil {
		return nil, errors.New("handlers: Provider, Pages, Keys and Ready are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Product == "" {
		opts.Product = "gatehouse"
	}
	iss, err := url.Parse(opts.Provider.Issuer())
	if err != nil {
		return nil, err
	}
	h := &Handler{
		p: opts.Provider, pages: opts.Pages, keys: opts.Keys, ready: opts.Ready,
		log: opts.Logger, now: opts.Now, product: opts.Product,
		issuer: iss, secure: iss.Scheme == "https",
	}
	h.cookies = newCookieNames(h.secure)
	if opts.Metrics != nil {
		h.metrics = newHTTPMetrics(opts.Metrics)
	}
	return h, nil
}

// Public returns the echo instance of the public listener.
func (h *Handler) Public() *echo.Echo {
	e := h.newEcho()
	e.Use(h.securityHeaders)

	// Discovery, keys and health: public, cacheable, CORS for anyone.
	e.GET("/.well-known/openid-configuration", h.discovery)
	e.GET("/.well-known/oauth-authorization-server", h.discovery)
	e.GET(provider.PathJWKS, h.jwks)
	e.GET("/health/alive", h.alive)
	e.GET("/health/ready", h.readyz)
	e.GET("/static/*", h.static())

	// OAuth endpoints: fosite parses the form; oauthParams first rejects
	// what fosite would silently accept (duplicates, bad UTF-8). Route-level
	// middleware, not groups: an echo v4 group with an empty prefix also
	// catches every unmatched path.
	e.GET(provider.PathAuthorize, h.authorize, h.oauthParams, h.pageHeaders)
	e.POST(provider.PathAuthorize, h.authorize, h.oauthParams, h.pageHeaders)
	e.POST(provider.PathToken, h.token, h.oauthParams, noStore)
	e.POST(provider.PathIntrospect, h.introspect, h.oauthParams, noStore)
	e.POST(provider.PathRevoke, h.revoke, h.oauthParams, noStore)
	e.POST(provider.PathPAR, h.par, h.oauthParams, noStore)
	e.GET(provider.PathUserinfo, h.userinfo, h.oauthParams, noStore)
	e.POST(provider.PathUserinfo, h.userinfo, h.oauthParams, noStore)
	for _, p := range []string{provider.PathToken, provider.PathRevoke, provider.PathUserinfo} {
		e.OPTIONS(p, h.preflight)
	}

	// Pages: CSRF tokens on every form, strict headers.
	csrf := h.csrf()
	e.GET("/login", h.loginPage, h.pageHeaders, csrf)
	e.POST("/login", h.loginSubmit, h.pageHeaders, csrf)
	e.GET("/consent", h.consentPage, h.pageHeaders, csrf)
	e.POST("/consent", h.consentSubmit, h.pageHeaders, csrf)
	e.GET(provider.PathLogout, h.logout, h.pageHeaders, h.oauthParams, csrf)
	e.POST(provider.PathLogout, h.logoutSubmit, h.pageHeaders, h.oauthParams, csrf)
	e.GET(provider.PathAccount, h.accountApps, h.pageHeaders, csrf)
	e.POST(provider.PathAccount+"/revoke", h.accountRevoke, h.pageHeaders, csrf)
	e.GET("/account/identities", h.accountIdentities, h.pageHeaders, csrf)
	e.POST("/account/identities/unlink", h.accountUnlink, h.pageHeaders, csrf)

	// Sign-in through upstream identity providers.
	e.GET("/login/:upstream", h.upstreamBegin, h.pageHeaders, csrf)
	e.GET("/login/:upstream/callback", h.upstreamCallback, h.pageHeaders, csrf)
	e.GET(PathAccountKeys, h.accountKeys, h.pageHeaders, csrf)
	e.POST(PathAccountKeys+"/revoke", h.accountRevokeKey, h.pageHeaders, csrf)

	// Self-service API keys (bearer tokens with scope apikeys; JSON).
	h.mountAPIKeys(e)

	// Dynamic client registration (RFC 7591/7592), unless it is off.
	h.mountRegistration(e)
	return e
}

// Admin returns the echo instance of the admin listener: health, metrics
// and the admin API.
func (h *Handler) Admin(reg *prometheus.Registry) *echo.Echo {
	e := h.newEcho()
	e.Use(h.securityHeaders)
	e.GET("/health/alive", h.alive)
	e.GET("/health/ready", h.readyz)
	if reg != nil {
		e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	}
	h.mountAdminAPI(e)
	return e
}

func (h *Handler) newEcho() *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = h.errorHandler
	// Client IPs come from the connection; X-Forwarded-For is not trusted
	// until trusted proxy ranges can be configured.
	e.IPExtractor = echo.ExtractIPDirect()
	e.Use(
		h.recoverPanics,
		h.requestContext,
		middleware.BodyLimit("64K"),
		middleware.ContextTimeoutWithConfig(middleware.ContextTimeoutConfig{Timeout: RequestTimeout}),
		h.accessLog,
	)
	return e
}

// Server wraps an echo instance in an http.Server with the timeouts every
// listener needs (slow clients cannot hold connections open).
func Server(handler http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      RequestTimeout + 5*time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// isPagePath reports whether errors on path are shown to a person (HTML)
// rather than to a program (JSON).
func isPagePath(path string) bool {
	switch {
	case path == "/login", path == "/consent", path == provider.PathAuthorize, path == provider.PathLogout,
		strings.HasPrefix(path, "/login/"):
		return true
	case strings.HasPrefix(path, "/account"):
		return true
	}
	return false
}
