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
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/login"
	"github.com/gatehouse-dev/gatehouse/provider/mail"
	"github.com/gatehouse-dev/gatehouse/provider/passkey"
	"github.com/gatehouse-dev/gatehouse/provider/registration"
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
	// Login signs people in and keeps what they allowed.
	Login *login.Service
	// Admin serves the admin API and people's own API keys.
	Admin *admin.Admin
	// Passkeys signs people in with passkeys and keeps them (WebAuthn);
	// nil leaves passkeys out.
	Passkeys *passkey.Service
	// Registration serves RFC 7591/7592; nil when registration is off.
	Registration *registration.Registration
	Pages        *templates.Pages
	Keys         JWKSSource
	// Ready reports whether the service can take traffic (database
	// reachable, schema current).
	Ready  func(ctx context.Context) error
	Logger *slog.Logger
	Now    func() time.Time
	// Product is the name shown on the pages.
	Product string
	// LogoURL (https or a path under /static/) is shown in every page's
	// header, SupportURL (https or mailto:) linked from its footer; empty
	// shows nothing.
	LogoURL, SupportURL string
	// AccentColor (#rgb or #rrggbb, validated by config) is served in
	// /static/brand.css; empty keeps style.css's colours.
	AccentColor string
	// Metrics, when set, receives the HTTP request and rate-limit metrics
	// (cmd serves it on the admin listener at /metrics through Admin).
	Metrics *prometheus.Registry
	// Pprof serves Go's profiler at /debug/pprof/ on the admin listener
	// (profiles of up to 10 s: every request has a 15 s budget).
	Pprof bool
	// RateLimits throttle the OAuth endpoints and the password sign-in;
	// the zero value turns them off.
	RateLimits RateLimitOptions
	// TrustedProxies are the IP addresses and CIDR ranges of reverse
	// proxies. Only a connection from one of them may name the client in
	// X-Forwarded-For (or, without it, X-Real-IP); otherwise the client IP
	// is the connection's.
	TrustedProxies []string
	// DevMail, set only under `serve --dev` without a mail server, lists
	// the e-mail gatehouse would have sent, at GET /admin/dev/mail on the
	// admin listener, so a developer can open its links.
	DevMail func() []mail.Message
	// PasswordReset serves "forgot password" (/password/forgot,
	// /password/reset); nil when gatehouse sends no e-mail.
	PasswordReset *login.PasswordReset
	// SecurityNotices tells people by e-mail of changes to how they sign
	// in; nil without e-mail.
	SecurityNotices *login.SecurityNotices
	// TrustedDocumentHost says whether the consent page may skip its
	// localhost warning for an app whose metadata document is on host
	// (client_id_metadata_documents.trusted_domains); nil trusts none.
	TrustedDocumentHost func(host string) bool
	// EnrolmentProofs e-mails the code a person types back before
	// setting up a first second factor that is required of them; nil
	// trusts the first factor instead (login.mfa_enrolment: first_use).
	EnrolmentProofs *login.EnrolmentProofs
	// EmailVerification serves the verification links (/email/verify);
	// nil when gatehouse sends no e-mail.
	EmailVerification *login.EmailVerification
	// Signup serves self-service sign-up (/signup); nil when it is off.
	Signup *login.Signup
	// TracerProvider, when set, gives every request a server span (see
	// traceRequests). Nil adds no middleware at all: tracing off costs
	// nothing.
	TracerProvider trace.TracerProvider
}

// Handler holds the dependencies of every route.
type Handler struct {
	p       engine
	login   signIn
	adm     administration
	reg     registrar // nil: registration is off
	pk      passkeys  // nil: no passkeys
	pages   *templates.Pages
	keys    JWKSSource
	ready   func(ctx context.Context) error
	log     *slog.Logger
	now     func() time.Time
	product string
	// logoURL, supportURL: Options.LogoURL, Options.SupportURL.
	logoURL, supportURL string
	brandCSS            []byte // /static/brand.css
	issuer              *url.URL
	secure              bool // the issuer is https: Secure cookies, __Host- names, HSTS
	cookies             cookieNames
	metrics             *httpMetrics
	pprof               bool
	rl                  *rateLimits // nil: no limits
	realIP              echo.IPExtractor
	tracer              trace.Tracer // nil: no spans
	devMail             func() []mail.Message
	reset               passwordResetter // nil: no password reset
	verify              emailVerifier    // nil: no e-mail verification
	// enrolProof: nil when a required first second factor is set up on
	// first use (no e-mailed code first).
	enrolProof *login.EnrolmentProofs
	// notices: Options.SecurityNotices (nil: none sent).
	notices *login.SecurityNotices
	// trustedDocumentHost: Options.TrustedDocumentHost.
	trustedDocumentHost func(host string) bool
	signup              signUp // nil: sign-up is off
	// deviceGuesses throttles wrong user codes on the device page.
	deviceGuesses *guessLimiter
}

// New checks the options and returns the handlers.
func New(opts Options) (*Handler, error) {
	if opts.Provider == nil || opts.Login == nil || opts.Admin == nil || opts.Pages == nil || opts.Keys == nil || opts.Ready == nil {
		return nil, errors.New("handlers: Provider, Login, Admin, Pages, Keys and Ready are required")
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
		p: opts.Provider, login: opts.Login, adm: opts.Admin, pages: opts.Pages, keys: opts.Keys, ready: opts.Ready,
		log: opts.Logger, now: opts.Now, product: opts.Product,
		logoURL: opts.LogoURL, supportURL: opts.SupportURL, brandCSS: templates.BrandCSS(opts.AccentColor),
		issuer: iss, secure: iss.Scheme == "https",
	}
	h.deviceGuesses = newGuessLimiter(h.now)
	if opts.Passkeys != nil {
		h.pk = opts.Passkeys
	}
	if opts.Registration != nil {
		// Not a nil pointer in a non-nil interface: no routes when off.
		h.reg = opts.Registration
	}
	h.cookies = newCookieNames(h.secure)
	h.pprof = opts.Pprof
	h.devMail = opts.DevMail
	if opts.PasswordReset != nil {
		h.reset = opts.PasswordReset
	}
	h.enrolProof = opts.EnrolmentProofs
	h.trustedDocumentHost = opts.TrustedDocumentHost
	h.notices = opts.SecurityNotices
	if opts.EmailVerification != nil {
		h.verify = opts.EmailVerification
	}
	if opts.Signup != nil {
		h.signup = opts.Signup
	}
	if opts.Metrics != nil {
		h.metrics = newHTTPMetrics(opts.Metrics)
	}
	if h.realIP, err = clientIPExtractor(opts.TrustedProxies); err != nil {
		return nil, err
	}
	if opts.TracerProvider != nil {
		h.tracer = opts.TracerProvider.Tracer(tracerName)
	}
	if opts.RateLimits.Enabled {
		if h.rl, err = newRateLimits(opts.RateLimits, opts.Logger, opts.Now); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// Public returns the echo instance of the public listener.
func (h *Handler) Public() *echo.Echo {
	e := h.newEcho()

	// Discovery, keys and health: public, cacheable, CORS for anyone.
	e.GET("/.well-known/openid-configuration", h.discovery)
	e.GET("/.well-known/oauth-authorization-server", h.discovery)
	e.GET(provider.PathJWKS, h.jwks)
	e.GET("/health/alive", h.alive)
	e.GET("/health/ready", h.readyz)
	e.GET("/static/brand.css", h.brandStylesheet)
	e.GET("/static/*", h.static())
	e.GET("/favicon.ico", h.favicon())
	// The landing page: what this is, and the way to sign in.
	e.GET("/", h.home, h.pageHeaders)

	// OAuth endpoints: fosite parses the form; oauthParams first rejects
	// what fosite would silently accept (duplicates, bad UTF-8). Route-level
	// middleware, not groups: an echo v4 group with an empty prefix also
	// catches every unmatched path. Rate limits: per IP before the body
	// is parsed, per client after (the client id may be in the form).
	e.GET(provider.PathAuthorize, h.authorize, h.oauthParams, h.pageHeaders)
	e.POST(provider.PathAuthorize, h.authorize, h.oauthParams, h.pageHeaders)
	e.POST(provider.PathToken, h.token, h.limitIP(rlToken), h.oauthParams, noStore, h.limitClient(rlToken), h.clientCORS)
	e.POST(provider.PathIntrospect, h.introspect, h.limitIP(rlIntrospect), h.oauthParams, noStore, h.limitClient(rlIntrospect))
	e.POST(provider.PathRevoke, h.revoke, h.limitIP(rlRevoke), h.oauthParams, noStore, h.limitClient(rlRevoke), h.clientCORS)
	e.POST(provider.PathPAR, h.par, h.limitIP(rlPAR), h.oauthParams, noStore, h.limitClient(rlPAR))
	// Device authorization (RFC 8628 §3.1): a client request like a token
	// request, held to the token endpoint's limits.
	e.POST(provider.PathDeviceAuthorization, h.deviceAuthorize, h.limitIP(rlToken), h.oauthParams, noStore, h.limitClient(rlToken))
	e.GET(provider.PathUserinfo, h.userinfo, h.oauthParams, noStore)
	e.POST(provider.PathUserinfo, h.userinfo, h.oauthParams, noStore)
	for _, p := range []string{provider.PathToken, provider.PathRevoke, provider.PathUserinfo} {
		e.OPTIONS(p, h.preflight)
	}

	// Pages: CSRF tokens on every form, strict headers. csrf also reads
	// every form's body (formParams), so a POST route needs nothing more.
	csrf := h.csrf()
	e.GET("/login", h.loginPage, h.pageHeaders, csrf)
	e.POST("/login", h.loginSubmit, h.pageHeaders, h.limitLogin, csrf)
	// The second factor: its POST is guessing a code, held to the login
	// rate limit per IP (and to the account's lockout, in login).
	e.GET(PathSecondFactor, h.secondFactorPage, h.pageHeaders, csrf)
	e.POST(PathSecondFactor, h.secondFactorSubmit, h.pageHeaders, h.limitLogin, csrf)
	e.GET("/consent", h.consentPage, h.pageHeaders, csrf)
	e.POST("/consent", h.consentSubmit, h.pageHeaders, csrf)
	e.GET(provider.PathLogout, h.logout, h.pageHeaders, h.oauthParams, csrf)
	e.POST(provider.PathLogout, h.logoutSubmit, h.pageHeaders, h.oauthParams, csrf)
	e.GET(provider.PathAccount, h.accountApps, h.pageHeaders, csrf)
	// The device flow's verification page (RFC 8628 §3.3).
	e.GET(provider.PathDeviceVerification, h.devicePage, h.pageHeaders, csrf)
	e.POST(provider.PathDeviceVerification, h.deviceSubmit, h.pageHeaders, csrf)
	e.POST(provider.PathDeviceVerification+"/decide", h.deviceDecide, h.pageHeaders, csrf)
	e.POST(provider.PathAccount+"/revoke", h.accountRevoke, h.pageHeaders, csrf)
	e.GET(PathAccountSessions, h.accountSessions, h.pageHeaders, csrf)
	e.POST(PathAccountSessions+"/end", h.accountEndSession, h.pageHeaders, csrf)
	h.mountPasswordReset(e, csrf)
	h.mountVerifyEmail(e, csrf)
	h.mountSignup(e, csrf)
	e.GET("/account/identities", h.accountIdentities, h.pageHeaders, csrf)
	e.POST("/account/identities/unlink", h.accountUnlink, h.pageHeaders, csrf)

	// Sign-in through upstream identity providers.
	e.GET("/login/:upstream", h.upstreamBegin, h.pageHeaders, csrf)
	e.GET("/login/:upstream/callback", h.upstreamCallback, h.pageHeaders, csrf)
	e.GET(PathAccountSecurity, h.accountSecurity, h.pageHeaders, csrf)
	e.POST(PathAccountSecurity+"/totp", h.accountTOTPBegin, h.pageHeaders, csrf)
	e.POST(PathAccountSecurity+"/totp/confirm", h.accountTOTPConfirm, h.pageHeaders, h.limitLogin, csrf)
	e.POST(PathAccountSecurity+"/totp/remove", h.accountTOTPRemove, h.pageHeaders, h.limitLogin, csrf)
	e.POST(PathAccountSecurity+"/recovery-codes", h.accountRecoveryCodes, h.pageHeaders, csrf)
	e.GET(PathAccountKeys, h.accountKeys, h.pageHeaders, csrf)
	e.POST(PathAccountKeys+"/revoke", h.accountRevokeKey, h.pageHeaders, csrf)

	// Passkeys: sign-in and the account's passkeys (WebAuthn).
	h.mountPasskeys(e, csrf)

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
	e.GET("/health/alive", h.alive)
	e.GET("/health/ready", h.readyz)
	if reg != nil {
		e.GET("/metrics", echo.WrapHandler(metricsHandler(reg, h.log)))
	}
	if h.pprof {
		// The profiler's index links to its own sub-paths; each is a
		// plain net/http handler.
		e.GET("/debug/pprof/*", echo.WrapHandler(http.HandlerFunc(pprof.Index)))
		for name, fn := range map[string]http.HandlerFunc{
			"cmdline": pprof.Cmdline, "profile": pprof.Profile, "symbol": pprof.Symbol, "trace": pprof.Trace,
		} {
			e.GET("/debug/pprof/"+name, echo.WrapHandler(fn))
		}
	}
	if h.devMail != nil {
		e.GET("/admin/dev/mail", h.devMailPage, noStore)
	}
	h.mountAdminAPI(e)
	return e
}

func (h *Handler) newEcho() *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = h.errorHandler
	// Client IPs come from the connection, or from X-Forwarded-For when
	// the connection is from a trusted proxy (clientIPExtractor).
	e.IPExtractor = h.realIP
	if h.tracer != nil {
		e.Use(h.traceRequests)
	}
	e.Use(
		h.securityHeaders, // first: it also covers what the others answer (413)
		h.recoverPanics,
		h.requestContext,
		middleware.BodyLimit("64K"),
		middleware.ContextTimeoutWithConfig(middleware.ContextTimeoutConfig{Timeout: RequestTimeout}),
		h.accessLog,
	)
	return e
}

// clientIPExtractor finds the client IP of a request. Without trusted
// proxies it is the connection's address: headers are the client's to
// forge. With them, X-Forwarded-For is read from the right, skipping the
// trusted proxies, and X-Real-IP is used when there is no
// X-Forwarded-For. echo trusts loopback, link-local and private ranges by
// default; that is switched off, so only the configured ranges count.
func clientIPExtractor(trusted []string) (echo.IPExtractor, error) {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect(), nil
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, s := range trusted {
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			ip := net.ParseIP(s)
			if ip == nil {
				return nil, fmt.Errorf("handlers: trusted proxy %q is not an IP address or CIDR range", s)
			}
			bits := 8 * net.IPv6len
			if v4 := ip.To4(); v4 != nil {
				ip, bits = v4, 8*net.IPv4len
			}
			n = &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)}
		}
		opts = append(opts, echo.TrustIPRange(n))
	}
	xff := echo.ExtractIPFromXFFHeader(opts...)
	realIP := echo.ExtractIPFromRealIPHeader(opts...)
	return func(r *http.Request) string {
		if len(r.Header[echo.HeaderXForwardedFor]) > 0 {
			return xff(r)
		}
		return realIP(r)
	}, nil
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
	case strings.HasPrefix(path, "/account"), strings.HasPrefix(path, "/password/"), path == login.PathVerifyEmail,
		path == login.PathSignup, path == login.PathSignupComplete:
		return true
	}
	return false
}
