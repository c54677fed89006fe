// Package federation is gatehouse's client of upstream OpenID Connect
// identity providers ("Sign in with Google", or any OpenID Connect issuer):
// it discovers each configured upstream, builds the authorization request
// (code flow with PKCE S256, state and nonce), exchanges the code, verifies
// the ID token with github.com/coreos/go-oidc/v3 and applies the upstream's
// e-mail domain and Google hosted-domain policy.
//
// The Manager knows nothing about browsers, sessions or accounts: the
// sign-in handler generates and keeps state, nonce and PKCE verifier
// (bound to the browser, single use), calls AuthCodeURL, and at the
// callback checks state, then calls Exchange and maps the Identity to a
// gatehouse user. Every failure of Exchange is a *Rejection with a short
// reason for the audit log.
//
// Upstreams are configured by the operator, so their URLs are trusted: the
// default HTTP client is provider/outbound's with private networks allowed,
// keeping its timeouts and redirect limit.
package federation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/provider/outbound"
)

// Defaults for Options.
const (
	DefaultDiscoveryTimeout = 10 * time.Second
	DefaultExchangeTimeout  = 10 * time.Second
	DefaultRetryMin         = 2 * time.Second
	DefaultRetryMax         = 5 * time.Minute
)

// Options configure New.
type Options struct {
	// Upstreams in the order the login page shows them.
	Upstreams []UpstreamConfig
	// RedirectBase is gatehouse's issuer URL; an upstream's redirect URI
	// is RedirectBase + "/login/" + id + "/callback".
	RedirectBase string
	// HTTPClient makes every request to the upstreams (discovery, JWKS,
	// token). Default: outbound.NewClient with AllowPrivateNetworks (the
	// URLs are the operator's) and outbound's timeouts and redirect limit.
	HTTPClient *http.Client
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Now is the clock ID tokens are checked against; default time.Now.
	// Retry scheduling always uses the real clock.
	Now func() time.Time
	// DiscoveryTimeout bounds one discovery attempt; default 10s.
	DiscoveryTimeout time.Duration
	// ExchangeTimeout bounds Exchange as a whole (token request and, when
	// the signing key is new, the JWKS fetch); default 10s.
	ExchangeTimeout time.Duration
	// RetryMin and RetryMax bound the exponential backoff with which Run
	// retries a failed discovery; defaults 2s and 5min.
	RetryMin, RetryMax time.Duration
}

// Info describes an upstream for the login page and the sign-in handler.
type Info struct {
	ID, Name string
	Issuer   string
	// AllowSignup is the upstream's policy for first sign-ins without a
	// linkable account; enforcing it is the handler's job.
	AllowSignup bool
	// Available: discovery has succeeded, so sign-in can start.
	Available bool
	// LastError says why the upstream is unavailable ("" when available).
	// It never contains secrets.
	LastError string
}

// AuthOptions are optional parameters of the upstream authorization
// request, usually forwarded from the original request to gatehouse.
type AuthOptions struct {
	// Prompt: space-separated none, login, consent, select_account.
	Prompt string
	// MaxAge, when set, is sent as max_age (seconds, >= 0).
	MaxAge *int
	// LoginHint is sent as login_hint.
	LoginHint string
}

// Manager holds the configured upstreams and their discovery state.
// Its methods are safe for concurrent use. A nil *Manager has no upstreams.
type Manager struct {
	client     *http.Client
	log        *slog.Logger
	now        func() time.Time
	discoveryT time.Duration
	exchangeT  time.Duration
	retryMin   time.Duration
	retryMax   time.Duration
	upstreams  []*upstream
	byID       map[string]*upstream
}

type upstream struct {
	cfg            UpstreamConfig
	redirectURI    string
	scopes         []string
	allowedDomains []string // lower-cased

	mu       sync.RWMutex
	disc     *discovered // nil until discovery succeeds
	lastErr  string
	failures int
	nextTry  time.Time
}

// discovered is what a successful discovery yields; immutable.
type discovered struct {
	oauth    *oauth2.Config
	verifier *oidc.IDTokenVerifier
	algs     []string
	// jwksURI is the discovery document's jwks_uri: where the upstream
	// publishes the keys it signs with (ID tokens, and the identity
	// assertions the token endpoint redeems).
	jwksURI string
}

// New validates opts and tries discovery of every upstream once (in
// parallel, each bounded by DiscoveryTimeout). An upstream whose discovery
// fails is logged and marked unavailable, not an error: Run retries it.
// New starts no goroutine that outlives it.
func New(ctx context.Context, opts Options) (*Manager, error) {
	base, err := checkRedirectBase(opts.RedirectBase)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	seen := map[string]bool{}
	for _, c := range opts.Upstreams {
		if err := c.Validate(); err != nil {
			errs = append(errs, err)
		}
		if seen[c.ID] {
			errs = append(errs, fmt.Errorf("upstream %q: id is used by more than one upstream", c.ID))
		}
		seen[c.ID] = true
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("federation: invalid configuration:\n%w", err)
	}

	m := &Manager{
		client:     opts.HTTPClient,
		log:        opts.Logger,
		now:        opts.Now,
		discoveryT: opts.DiscoveryTimeout,
		exchangeT:  opts.ExchangeTimeout,
		retryMin:   opts.RetryMin,
		retryMax:   opts.RetryMax,
		byID:       map[string]*upstream{},
	}
	if m.client == nil {
		m.client = outbound.NewClient(outbound.Options{AllowPrivateNetworks: true})
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.discoveryT <= 0 {
		m.discoveryT = DefaultDiscoveryTimeout
	}
	if m.exchangeT <= 0 {
		m.exchangeT = DefaultExchangeTimeout
	}
	if m.retryMin <= 0 {
		m.retryMin = DefaultRetryMin
	}
	if m.retryMax <= 0 {
		m.retryMax = DefaultRetryMax
	}
	if m.retryMax < m.retryMin {
		m.retryMax = m.retryMin
	}
	for _, c := range opts.Upstreams {
		u := &upstream{
			cfg:         c,
			redirectURI: base + "/login/" + c.ID + "/callback",
			scopes:      c.scopes(),
			lastErr:     "discovery not attempted yet",
		}
		for _, d := range c.AllowedDomains {
			u.allowedDomains = append(u.allowedDomains, strings.ToLower(d))
		}
		m.upstreams = append(m.upstreams, u)
		m.byID[c.ID] = u
	}
	m.attemptAll(ctx, m.upstreams)
	return m, nil
}

func checkRedirectBase(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.User != nil || strings.ContainsAny(raw, "?#") {
		return "", fmt.Errorf("redirect base (gatehouse's issuer) must be an absolute http(s) URL without query or fragment, got %q", raw)
	}
	return strings.TrimSuffix(raw, "/"), nil
}

// Run retries the discovery of unavailable upstreams, each with capped
// exponential backoff (RetryMin doubling up to RetryMax), until ctx ends.
// Call it once, in its own goroutine.
func (m *Manager) Run(ctx context.Context) {
	if m == nil {
		return
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		due, wait := m.due(time.Now())
		if len(due) > 0 {
			m.attemptAll(ctx, due)
			if ctx.Err() != nil {
				return
			}
			continue
		}
		if wait < 0 {
			// Everything is available: nothing left to retry.
			<-ctx.Done()
			return
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
	}
}

// due returns the unavailable upstreams whose retry time has come, and the
// time until the next one is due (-1 when none is unavailable).
func (m *Manager) due(now time.Time) ([]*upstream, time.Duration) {
	var due []*upstream
	wait := time.Duration(-1)
	for _, u := range m.upstreams {
		u.mu.RLock()
		avail, next := u.disc != nil, u.nextTry
		u.mu.RUnlock()
		switch {
		case avail:
		case !next.After(now):
			due = append(due, u)
		case wait < 0 || next.Sub(now) < wait:
			wait = next.Sub(now)
		}
	}
	return due, wait
}

// attemptAll runs attempt for each upstream in parallel and waits for all.
func (m *Manager) attemptAll(ctx context.Context, ups []*upstream) {
	var wg sync.WaitGroup
	for _, u := range ups {
		wg.Go(func() { m.attempt(ctx, u) })
	}
	wg.Wait()
}

// attempt tries the discovery of u once and records the outcome.
func (m *Manager) attempt(ctx context.Context, u *upstream) {
	d, err := m.discover(ctx, u)
	if err != nil && ctx.Err() != nil {
		return // shutting down: not the upstream's fault
	}
	u.mu.Lock()
	if err == nil {
		recovered := u.failures > 0
		u.disc, u.lastErr, u.failures = d, "", 0
		u.mu.Unlock()
		if recovered {
			m.log.Info(fmt.Sprintf("upstream %s: discovery of %s succeeded; sign-in through it is available", u.cfg.ID, wellKnown(u.cfg.Issuer)),
				"upstream", u.cfg.ID)
		} else {
			m.log.Debug("upstream discovered", "upstream", u.cfg.ID, "issuer", u.cfg.Issuer, "id_token_algs", d.algs)
		}
		return
	}
	u.failures++
	delay := m.backoff(u.failures)
	u.nextTry = time.Now().Add(delay)
	u.lastErr = fmt.Sprintf("discovery of %s failed: %s", wellKnown(u.cfg.Issuer), sanitizeText(err.Error(), 300))
	failures, msg := u.failures, u.lastErr
	u.mu.Unlock()
	text := fmt.Sprintf("upstream %s: %s; sign-in through it is unavailable until it succeeds; retrying", u.cfg.ID, msg)
	level := slog.LevelError
	if failures > 1 {
		level = slog.LevelWarn
	}
	m.log.Log(ctx, level, text, "upstream", u.cfg.ID, "attempt", failures, "retry_in", delay.Round(time.Millisecond).String())
}

// backoff is the wait after the n-th consecutive failure (n >= 1):
// RetryMin doubling per failure, capped at RetryMax, less up to 10% jitter.
func (m *Manager) backoff(n int) time.Duration {
	d := m.retryMax
	if n-1 < 32 {
		if x := m.retryMin << (n - 1); x > 0 && x < m.retryMax {
			d = x
		}
	}
	if j := int64(d / 10); j > 0 {
		d -= time.Duration(rand.Int64N(j))
	}
	return d
}

func wellKnown(issuer string) string {
	return strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
}

// discoveryDoc holds the metadata fields go-oidc does not expose.
type discoveryDoc struct {
	AuthURL       string   `json:"authorization_endpoint"`
	TokenURL      string   `json:"token_endpoint"`
	JWKSURL       string   `json:"jwks_uri"`
	Algs          []string `json:"id_token_signing_alg_values_supported"`
	AuthMethods   []string `json:"token_endpoint_auth_methods_supported"`
	PKCEMethods   []string `json:"code_challenge_methods_supported"`
	ResponseTypes []string `json:"response_types_supported"`
}

// signingAlgs are the ID token algorithms accepted: asymmetric only, never
// none nor HMAC (whose key would be our client secret).
var signingAlgs = map[string]bool{
	oidc.RS256: true, oidc.RS384: true, oidc.RS512: true,
	oidc.PS256: true, oidc.PS384: true, oidc.PS512: true,
	oidc.ES256: true, oidc.ES384: true, oidc.ES512: true,
	oidc.EdDSA: true,
}

// discover fetches and checks u's discovery document.
func (m *Manager) discover(ctx context.Context, u *upstream) (*discovered, error) {
	ctx, cancel := context.WithTimeout(ctx, m.discoveryT)
	defer cancel()
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, m.client), u.cfg.Issuer)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("no answer within %s: %w", m.discoveryT, err)
		}
		// The message names the URL already; keep the cause only.
		var ue *url.Error
		if errors.As(err, &ue) && ue.URL == wellKnown(u.cfg.Issuer) {
			return nil, ue.Err
		}
		return nil, err
	}
	var doc discoveryDoc
	if err := p.Claims(&doc); err != nil {
		return nil, fmt.Errorf("reading the discovery document: %w", err)
	}
	for _, e := range []struct{ name, url string }{
		{"authorization_endpoint", doc.AuthURL},
		{"token_endpoint", doc.TokenURL},
		{"jwks_uri", doc.JWKSURL},
	} {
		if msg := checkEndpoint(e.url); msg != "" {
			return nil, fmt.Errorf("the discovery document's %s %s", e.name, msg)
		}
	}
	var algs []string
	for _, a := range doc.Algs {
		if signingAlgs[a] {
			algs = append(algs, a)
		}
	}
	if len(algs) == 0 {
		if len(doc.Algs) > 0 {
			return nil, fmt.Errorf("the upstream signs ID tokens only with %q, none of which is accepted (asymmetric algorithms only, never none or HMAC)", doc.Algs)
		}
		algs = []string{oidc.RS256} // OpenID Connect's default
	}
	if len(doc.PKCEMethods) > 0 && !slices.Contains(doc.PKCEMethods, "S256") {
		m.log.Warn(fmt.Sprintf("upstream %s: its discovery document does not list PKCE S256 in code_challenge_methods_supported; sending it anyway", u.cfg.ID), "upstream", u.cfg.ID)
	}
	endpoint := p.Endpoint()
	endpoint.AuthStyle = authStyle(doc.AuthMethods)
	if endpoint.AuthStyle == oauth2.AuthStyleAutoDetect {
		m.log.Warn(fmt.Sprintf("upstream %s: token_endpoint_auth_methods_supported %q lists neither client_secret_basic nor client_secret_post; trying both", u.cfg.ID, doc.AuthMethods), "upstream", u.cfg.ID)
	}
	return &discovered{
		oauth: &oauth2.Config{
			ClientID:     u.cfg.ClientID,
			ClientSecret: u.cfg.ClientSecret,
			Endpoint:     endpoint,
			RedirectURL:  u.redirectURI,
			Scopes:       u.scopes,
		},
		// The provider's key set is shared by all exchanges and refetched
		// when a token names an unknown kid (key rotation). It uses the
		// client carried by the context given to NewProvider.
		verifier: p.Verifier(&oidc.Config{
			ClientID:             u.cfg.ClientID,
			SupportedSigningAlgs: algs,
			Now:                  m.now,
		}),
		algs:    algs,
		jwksURI: doc.JWKSURL,
	}, nil
}

// authStyle picks the client authentication from the upstream's
// token_endpoint_auth_methods_supported: client_secret_basic when listed
// or when the list is absent (its default), else client_secret_post, else
// auto-detection.
func authStyle(methods []string) oauth2.AuthStyle {
	switch {
	case len(methods) == 0 || slices.Contains(methods, "client_secret_basic"):
		return oauth2.AuthStyleInHeader
	case slices.Contains(methods, "client_secret_post"):
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleAutoDetect
}

// checkEndpoint returns "" when raw is an absolute https URL (http only on
// loopback), else the problem: the client secret must not travel in clear.
func checkEndpoint(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return "is missing"
	case err != nil || !u.IsAbs() || u.Host == "":
		return fmt.Sprintf("is not an absolute URL: %q", raw)
	case u.Scheme == "https":
		return ""
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return ""
	}
	return fmt.Sprintf("must use https, got %q", raw)
}

// Upstreams describes the configured upstreams in configuration order.
func (m *Manager) Upstreams() []Info {
	if m == nil {
		return nil
	}
	out := make([]Info, 0, len(m.upstreams))
	for _, u := range m.upstreams {
		out = append(out, u.info())
	}
	return out
}

// Get describes the upstream id.
func (m *Manager) Get(id string) (Info, bool) {
	if m == nil {
		return Info{}, false
	}
	u, ok := m.byID[id]
	if !ok {
		return Info{}, false
	}
	return u.info(), true
}

// AllowSignup reports whether a first sign-in through upstream id may
// create an account (false for an unknown id). Same as Get(id).AllowSignup.
func (m *Manager) AllowSignup(id string) bool {
	info, ok := m.Get(id)
	return ok && info.AllowSignup
}

func (u *upstream) info() Info {
	u.mu.RLock()
	defer u.mu.RUnlock()
	return Info{
		ID:          u.cfg.ID,
		Name:        u.cfg.Name,
		Issuer:      u.cfg.Issuer,
		AllowSignup: u.cfg.AllowSignup,
		Available:   u.disc != nil,
		LastError:   u.lastErr,
	}
}

// lookup returns the upstream id and its discovery, or ErrUnknownUpstream
// or ErrUnavailable.
func (m *Manager) lookup(id string) (*upstream, *discovered, error) {
	if m == nil {
		return nil, nil, ErrUnknownUpstream
	}
	u, ok := m.byID[id]
	if !ok {
		return nil, nil, ErrUnknownUpstream
	}
	u.mu.RLock()
	d := u.disc
	u.mu.RUnlock()
	if d == nil {
		return u, nil, ErrUnavailable
	}
	return u, d, nil
}

// Keys returns the issuer of upstream id and the jwks_uri its discovery
// document named. ErrUnknownUpstream for an id that is not configured;
// ErrUnavailable, with the issuer, while its discovery has not succeeded.
func (m *Manager) Keys(id string) (issuer, jwksURI string, err error) {
	u, d, err := m.lookup(id)
	switch {
	case u == nil:
		return "", "", err
	case d == nil:
		return u.cfg.Issuer, "", err
	}
	return u.cfg.Issuer, d.jwksURI, nil
}

// AuthCodeURL returns the URL to send the browser to for signing in at
// upstream id: response_type=code, client_id, redirect_uri, scope, state,
// nonce, code_challenge (S256 of verifier), hd when the upstream has a
// HostedDomain, and prompt, max_age and login_hint when opt sets them.
// state and nonce must be unguessable and single use, verifier a PKCE
// code verifier (oauth2.GenerateVerifier makes one); the caller keeps all
// three bound to the browser until the callback.
func (m *Manager) AuthCodeURL(id, state, nonce, verifier string, opt AuthOptions) (string, error) {
	u, d, err := m.lookup(id)
	if err != nil {
		return "", err
	}
	switch {
	case state == "":
		return "", errors.New("federation: empty state")
	case nonce == "":
		return "", errors.New("federation: empty nonce")
	case !validVerifier(verifier):
		return "", errors.New("federation: the PKCE verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636)")
	}
	opts := []oauth2.AuthCodeOption{oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)}
	if u.cfg.HostedDomain != "" {
		opts = append(opts, oauth2.SetAuthURLParam("hd", u.cfg.HostedDomain))
	}
	if opt.Prompt != "" {
		if err := checkPrompt(opt.Prompt); err != nil {
			return "", err
		}
		opts = append(opts, oauth2.SetAuthURLParam("prompt", opt.Prompt))
	}
	if opt.MaxAge != nil {
		if *opt.MaxAge < 0 {
			return "", fmt.Errorf("federation: max_age must not be negative, got %d", *opt.MaxAge)
		}
		opts = append(opts, oauth2.SetAuthURLParam("max_age", strconv.Itoa(*opt.MaxAge)))
	}
	if opt.LoginHint != "" {
		opts = append(opts, oauth2.SetAuthURLParam("login_hint", opt.LoginHint))
	}
	return d.oauth.AuthCodeURL(state, opts...), nil
}

func checkPrompt(p string) error {
	values := strings.Fields(p)
	for _, v := range values {
		switch v {
		case "none", "login", "consent", "select_account":
		default:
			return fmt.Errorf("federation: unknown prompt value %q (none, login, consent, select_account)", v)
		}
	}
	if len(values) > 1 && slices.Contains(values, "none") {
		return errors.New("federation: prompt=none cannot be combined with other values")
	}
	return nil
}

// validVerifier reports whether v is an RFC 7636 code verifier.
func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~':
		default:
			return false
		}
	}
	return true
}
