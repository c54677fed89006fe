// Package provider composes gatehouse's OAuth 2.0 / OpenID Connect engine
// (fosite) once, from an explicit list of handlers, and adds what fosite
// leaves to the application: sessions and claims, sign-in and consent
// decisions, the mapping of storage failures to OAuth errors, and the
// discovery document. It knows nothing about HTTP routing (no echo) or
// databases (no bun).
package provider

import (
	"context"
	"crypto/sha512"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	josev3 "github.com/go-jose/go-jose/v3"
	"github.com/hashicorp/go-retryablehttp"
	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/handler/pkce"
	"github.com/ory/fosite/token/hmac"
	"github.com/ory/fosite/token/jwt"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-dev/gatehouse/provider/apikey"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/provider/clientjwks"
	"github.com/gatehouse-dev/gatehouse/provider/dpop"
	"github.com/gatehouse-dev/gatehouse/provider/keys"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// Store is the storage the provider needs.
type Store interface {
	storage.OAuth2Store
	storage.ClientStore
	storage.UserStore
	storage.AuthFlowStore
	storage.PushedRequestStore
	storage.APIKeyStore
	storage.RefreshSuccessorStore
	resourceReader
	sessionClientRecorder
	deviceStore
	storage.DPoPProofStore
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// Lifespans of what the provider issues.
type Lifespans struct {
	AccessToken       time.Duration
	IDToken           time.Duration
	AuthorizationCode time.Duration
	RefreshToken      time.Duration
}

// Options configure a Provider.
type Options struct {
	// Issuer is the public base URL, e.g. https://id.example.com.
	Issuer    string
	Store     Store
	Keys      *keys.Manager
	Keyring   *secret.Keyring
	Lifespans Lifespans
	// RefreshRetryWindow: a rotated refresh token presented again within
	// this long is answered invalid_grant without revoking the grant.
	RefreshRetryWindow time.Duration
	// Signup: people may create their own accounts, and prompt=create
	// (OpenID Connect Initiating User Registration 1.0) is accepted and
	// advertised.
	Signup bool
	// RegistrationPolicy is config.Registration.Policy:
	// "initial_access_token", "open" or "off".
	RegistrationPolicy string
	// PARRequired makes every authorization request come through PAR;
	// PARLifespan is how long a request_uri stays usable.
	PARRequired bool
	PARLifespan time.Duration
	// ClientDocuments resolves clients whose client_id is the URL of
	// their metadata document; nil when they are off.
	ClientDocuments ClientDocuments
	// JWKSFetcher resolves clients' jwks_uri for private_key_jwt; nil
	// refuses every fetch.
	JWKSFetcher fosite.JWKSFetcherStrategy
	// APIKeys verifies API keys; nil makes one with APIKeyCacheTTL (give
	// the administration the same one, so that a key revoked there is
	// refused here at once).
	APIKeys *apikey.Verifier
	// APIKeyCacheTTL bounds how long a verified API key is trusted from
	// memory; 0 means 10 s, negative disables the cache. A revocation
	// elsewhere reaches this instance sooner, at its next revocation
	// check (2 s).
	APIKeyCacheTTL time.Duration
	// IssuedSummaryInterval is how often client_credentials issuance is
	// summarized in the audit trail (DefaultIssuedSummaryInterval when 0).
	IssuedSummaryInterval time.Duration
	// IDJAG enables the identity assertion grant (ID-JAG, jwt-bearer);
	// nil or without issuers, it is off.
	IDJAG *IDJAGOptions
	// TokenExchange lets token exchange take ID tokens of federation
	// upstreams; nil takes gatehouse's own ID tokens only.
	TokenExchange *TokenExchangeOptions
	// Audit receives audit events; nil records nothing.
	Audit *audit.Recorder
	// AccessTokenFormat is the default format of access tokens ("opaque"
	// or "jwt"); AccessTokenAlg signs JWT access tokens ("RS256" default).
	AccessTokenFormat string
	AccessTokenAlg    string
	// DeviceCodeLifetime is how long a device code and its user code stay
	// usable (expires_in, RFC 8628 §3.2; DefaultDeviceCodeLifetime when
	// 0); DevicePollInterval the interval devices wait between polls
	// (DefaultDevicePollInterval when 0).
	DeviceCodeLifetime time.Duration
	DevicePollInterval time.Duration
	// DPoP configures sender-constrained tokens (RFC 9449).
	DPoP DPoPOptions
	// Metrics, when set, receives the engine's counters (tokens issued
	// and revoked, refresh reuse).
	Metrics prometheus.Registerer
	Now     func() time.Time
	Logger  *slog.Logger
}

// Paths of the public endpoints, relative to the issuer.
const (
	PathAuthorize  = "/oauth2/authorize"
	PathToken      = "/oauth2/token"
	PathIntrospect = "/oauth2/introspect"
	PathRevoke     = "/oauth2/revoke"
	PathUserinfo   = "/userinfo"
	PathLogout     = "/oauth2/logout"
	PathJWKS       = "/.well-known/jwks.json"
	PathPAR        = "/oauth2/par"
	PathRegister   = "/oauth2/register"
	PathAccount    = "/account/apps"
)

// Provider is the composed OAuth 2.0 / OpenID Connect engine.
type Provider struct {
	// oauth2 is fosite, composed in New; only the engine's endpoint
	// methods call it.
	oauth2 fosite.OAuth2Provider

	opts    Options
	store   Store
	keys    *keys.Manager
	signer  jwt.Signer
	now     func() time.Time
	log     *slog.Logger
	origins *originCache
	apikeys *apikey.Verifier
	audit   *audit.Recorder
	fosite  *fosite.Fosite
	// jwksFetcher resolves clients' jwks_uri (request objects use the
	// keys private_key_jwt uses).
	jwksFetcher fosite.JWKSFetcherStrategy
	// core signs and names tokens (the retry window keys kept responses
	// by the refresh token's signature).
	core oauth2.CoreStrategy
	// issued counts machine tokens for the audit summaries; issuedFull
	// asks for an early summary when the counts are full.
	issued     issuedSummary
	issuedFull chan struct{}
	metrics    *metrics
	// idjag: the identity assertion grant is served (and advertised).
	idjag bool
	// devices keeps device authorizations; deviceCodes makes and checks
	// device codes (RFC 8628).
	devices     deviceStore
	deviceCodes *hmac.HMACStrategy
	// dpop checks DPoP proofs (RFC 9449) and makes their nonces.
	dpop *dpop.Verifier
}

// New composes fosite with gatehouse's storage, strategies and settings.
func New(opts Options) (*Provider, error) {
	if opts.Issuer == "" || opts.Store == nil || opts.Keys == nil || opts.Keyring == nil {
		return nil, errors.New("provider: Issuer, Store, Keys and Keyring are required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.AccessTokenFormat == "" {
		opts.AccessTokenFormat = FormatOpaque
	}
	if opts.AccessTokenAlg == "" {
		opts.AccessTokenAlg = keys.RS256
	}
	if opts.IssuedSummaryInterval <= 0 {
		opts.IssuedSummaryInterval = DefaultIssuedSummaryInterval
	}
	if opts.DeviceCodeLifetime <= 0 {
		opts.DeviceCodeLifetime = DefaultDeviceCodeLifetime
	}
	if opts.DevicePollInterval <= 0 {
		opts.DevicePollInterval = DefaultDevicePollInterval
	}
	if opts.PARLifespan <= 0 {
		opts.PARLifespan = parLifespanDefault
	}
	l := &opts.Lifespans
	for _, d := range []*time.Duration{&l.AccessToken, &l.IDToken, &l.AuthorizationCode, &l.RefreshToken} {
		if *d <= 0 {
			return nil, errors.New("provider: every lifespan must be positive")
		}
	}

	m, err := newMetrics(opts.Metrics)
	if err != nil {
		return nil, err
	}
	dpopVerifier, err := newDPoPVerifier(opts.DPoP, opts.Keyring, opts.Store, opts.Now)
	if err != nil {
		return nil, err
	}

	hmacKeys := opts.Keyring.Keys(secret.PurposeTokenHMAC)
	hasher := secret.NewHasher(opts.Keyring)
	signer := opts.Keys.Signer()

	// Every field is set on purpose (FOSITE.md §3): several getters write
	// their defaults into the struct lazily, which races under load, and
	// some defaults (wildcard scopes, lax redirect checks) are unsafe.
	cfg := &fosite.Config{
		AccessTokenLifespan:                opts.Lifespans.AccessToken,
		RefreshTokenLifespan:               opts.Lifespans.RefreshToken,
		AuthorizeCodeLifespan:              opts.Lifespans.AuthorizationCode,
		IDTokenLifespan:                    opts.Lifespans.IDToken,
		VerifiableCredentialsNonceLifespan: time.Hour, // feature not composed
		IDTokenIssuer:                      opts.Issuer,
		AccessTokenIssuer:                  opts.Issuer,
		TokenURL:                           opts.Issuer + PathToken,
		HashCost:                           0, // unused: ClientSecretsHasher below replaces bcrypt
		ClientSecretsHasher:                hasher,
		DisableRefreshTokenValidation:      false,
		SendDebugMessagesToClients:         false,
		UseLegacyErrorFormat:               false,
		ScopeStrategy:                      fosite.ExactScopeStrategy,
		AudienceMatchingStrategy:           fosite.ExactAudienceMatchingStrategy,
		// PKCE is asked of every client when the authorization request
		// arrives (checkAuthorizeParams) and again when the code is
		// issued (Complete), except of a confidential client an operator
		// made PKCE-optional; fosite's global switch would refuse those
		// too. A code issued with a challenge always needs its verifier,
		// and a verifier for a code issued without one is refused (PKCE
		// downgrade, RFC 9700 §2.1.1): fosite does both whatever the flag.
		EnforcePKCE:                    false,
		EnforcePKCEForPublicClients:    true,
		EnablePKCEPlainChallengeMethod: false,
		AllowedPromptValues:            promptValues(opts.Signup),
		TokenEntropy:                   32,
		RedirectSecureChecker:          fosite.IsRedirectURISecureStrict,
		RefreshTokenScopes:             []string{ScopeOfflineAccess, ScopeOffline},
		// state and nonce come back exactly as sent, whatever their
		// length (0 would mean fosite's 8); a missing state is allowed by
		// authorizeRequestResult (PKCE protects the flow, RFC 9700 §2.1.1).
		MinParameterEntropy:    1,
		OmitRedirectScopeParam: true,
		SanitationWhiteList:    nil, // fosite's default: code, redirect_uri
		JWTScopeClaimKey:       jwt.JWTScopeFieldString,
		GlobalSecret:           hmacKeys[0],
		RotatedGlobalSecrets:   hmacKeys[1:],
		HMACHasher:             sha512.New512_256,
		// Nothing in this feature set fetches URLs (no jwks_uri clients, no
		// request_uri); a client that refuses every dial makes that certain.
		HTTPClient:                           noNetworkClient(),
		GrantTypeJWTBearerCanSkipClientAuth:  false,
		GrantTypeJWTBearerIDOptional:         false,
		GrantTypeJWTBearerIssuedDateOptional: false,
		GrantTypeJWTBearerMaxDuration:        time.Hour,
		PushedAuthorizeRequestURIPrefix:      PARRequestURIPrefix,
		PushedAuthorizeContextLifespan:       opts.PARLifespan,
		// Enforced per client and globally by CheckAuthorizeRequest; fosite's
		// flag would also refuse the rebuilt request of a resumed flow.
		IsPushedAuthorizeEnforced: false,
		// ClientAuthenticationStrategy: set below, once fosite exists, to
		// fosite's default (basic, post, none, private_key_jwt, each client's
		// registered method enforced) with assertion errors normalised.
		// MessageCatalog nil = English. ResponseModeHandlerExtension nil:
		// query and form_post are fosite's own modes. The engine writes
		// form_post pages itself (writeFormPost, with their CSP); fosite's
		// template is replaced all the same, as its inline onload handler
		// would be blocked by the pages' policy.
		FormPostHTMLTemplate: formPostPage,
	}
	cfg.JWKSFetcherStrategy = opts.JWKSFetcher
	if cfg.JWKSFetcherStrategy == nil {
		cfg.JWKSFetcherStrategy = noJWKSFetcher{}
	}

	hmacStrategy := &hmac.HMACStrategy{Config: cfg}
	strategy := &compose.CommonStrategy{
		CoreStrategy: tokenStrategy{
			HMACSHAStrategyUnPrefixed: oauth2.NewHMACSHAStrategyUnPrefixed(hmacStrategy, cfg),
			jwt: &jwtAccessTokens{
				issuer: opts.Issuer, defaultFormat: opts.AccessTokenFormat, alg: opts.AccessTokenAlg,
				lifespan: opts.Lifespans.AccessToken, signer: signer, kid: opts.Keys.CurrentKID,
			},
			now: opts.Now,
		},
		OpenIDConnectTokenStrategy: &openid.DefaultStrategy{Signer: idTokenSigner{signer}, Config: cfg},
		Signer:                     signer,
	}

	// Order matters: PKCE and OpenID Connect need the code that the
	// explicit handler creates first.
	verifier := opts.APIKeys
	if verifier == nil {
		verifier = apikey.NewVerifier(apikey.Options{
			Store: opts.Store, Keyring: opts.Keyring, CacheTTL: opts.APIKeyCacheTTL, Now: opts.Now, Logger: opts.Logger,
		})
	}
	store := &fositeStore{
		Store: opts.Store, parLifespan: opts.PARLifespan, now: opts.Now, apikeys: verifier, documents: opts.ClientDocuments,
		retryWindow: opts.RefreshRetryWindow,
		reuse:       &reuseRecorder{audit: opts.Audit, metrics: m, log: opts.Logger},
	}
	oauth := compose.Compose(cfg, store, strategy,
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OAuth2PKCEFactory,
		compose.OAuth2RefreshTokenGrantFactory,
		compose.OAuth2ClientCredentialsGrantFactory,
		compose.OpenIDConnectExplicitFactory,
		compose.OpenIDConnectRefreshFactory,
		compose.OAuth2TokenIntrospectionFactory,
		compose.OAuth2TokenRevocationFactory,
		compose.PushedAuthorizeHandlerFactory,
	)
	for i, h := range cfg.TokenEndpointHandlers {
		if _, ok := h.(*pkce.Handler); ok {
			h = pkceSpendsCode{TokenEndpointHandler: h, codes: strategy.CoreStrategy, store: store}
		}
		cfg.TokenEndpointHandlers[i] = quietTokenHandler{h}
	}
	idjag, err := newIDJAGHandler(opts.Issuer, opts.IDJAG, opts.Store,
		&oauth2.HandleHelper{AccessTokenStrategy: strategy.CoreStrategy, AccessTokenStorage: store, Config: cfg},
		opts.Lifespans.AccessToken, opts.Audit, opts.Now)
	if err != nil {
		return nil, err
	}
	if idjag != nil {
		cfg.TokenEndpointHandlers = append(cfg.TokenEndpointHandlers, idjag)
	}
	exchange := &tokenExchangeHandler{
		helper:   &oauth2.HandleHelper{AccessTokenStrategy: strategy.CoreStrategy, AccessTokenStorage: store, Config: cfg},
		lifespan: opts.Lifespans.AccessToken, store: opts.Store, audit: opts.Audit, now: opts.Now,
		idTokens: newIDTokenVerifier(opts.Issuer, ownKeySet{jwks: opts.Keys.JWKS}, opts.TokenExchange, opts.Now),
	}
	cfg.TokenEndpointHandlers = append(cfg.TokenEndpointHandlers, exchange)
	devices := &deviceHandler{
		codes: hmacStrategy, refresh: strategy.CoreStrategy, tokens: store, idTokens: strategy.OpenIDConnectTokenStrategy,
		helper: &oauth2.HandleHelper{AccessTokenStrategy: strategy.CoreStrategy, AccessTokenStorage: store, Config: cfg},
	}
	cfg.TokenEndpointHandlers = append(cfg.TokenEndpointHandlers, devices)
	f, ok := oauth.(*fosite.Fosite)
	if !ok {
		return nil, errors.New("provider: compose did not return a *fosite.Fosite")
	}
	p := &Provider{
		oauth2:  oauth,
		opts:    opts,
		store:   opts.Store,
		keys:    opts.Keys,
		signer:  signer,
		now:     opts.Now,
		log:     opts.Logger,
		origins: newOriginCache(opts.Now),
		apikeys: verifier,
		audit:   opts.Audit,
		fosite:  f,
		core:    strategy.CoreStrategy,

		jwksFetcher: cfg.JWKSFetcherStrategy,
		idjag:       idjag != nil,
		devices:     opts.Store,
		deviceCodes: hmacStrategy,
		dpop:        dpopVerifier,

		issuedFull: make(chan struct{}, 1),
		metrics:    m,
	}
	// Client authentication, for every endpoint that authenticates
	// clients: some client authentication at all (invalid_client, not
	// invalid_request, without), one method per request and short-lived
	// assertions first,
	// then API keys, then fosite's own methods, with every bad client
	// assertion answered invalid_client (RFC 7523 §3.2; fosite answers
	// some with 400 or even 500). Compose kept cfg, so setting the
	// strategy now takes effect.
	cfg.ClientAuthenticationStrategy = requireClientCredentials(clientjwks.OneMethodShortAssertions(p.authenticateAPIKeys(
		clientjwks.AssertionErrorsAsInvalidClient(clientjwks.AcceptedAudiences(f.DefaultClientAuthenticationStrategy, p.assertionAudiences))), p.now))
	// fosite checks an assertion's aud against its config's token URLs:
	// those AcceptedAudiences puts in the request's context.
	f.Config = clientjwks.AudienceConfig{Config: cfg}
	if idjag != nil {
		idjag.targets, idjag.bind = p.requestedTargets, p.bindTokenResource
	}
	exchange.targets, exchange.bind = p.requestedTargets, p.bindTokenResource
	exchange.introspect = func(ctx context.Context, token string) (fosite.TokenUse, fosite.AccessRequester, error) {
		return p.oauth2.IntrospectToken(ctx, token, fosite.AccessToken, NewSession())
	}
	devices.p = p
	return p, nil
}

// assertionAudiences are the aud values a private_key_jwt client assertion
// presented with r may carry: the issuer (RFC 7523 §3 and its rfc7523bis
// update: aud identifies the authorization server), the token endpoint and
// the PAR endpoint (RFC 9126 §2 makes the PAR endpoint accept all three,
// and one assertion audience for every endpoint is what clients send),
// and the URL of the endpoint r is made to (introspection, revocation).
func (p *Provider) assertionAudiences(r *http.Request) []string {
	iss := p.opts.Issuer
	auds := []string{iss, iss + PathToken, iss + PathPAR}
	switch r.URL.Path {
	case PathIntrospect, PathRevoke, PathDeviceAuthorization:
		auds = append(auds, iss+r.URL.Path)
	}
	return auds
}

// Run does the provider's background work (recording when API keys were
// last used, summarizing machine tokens in the audit trail) until ctx
// ends, and then writes what is pending. Stop it before the audit
// recorder, so that its last summary is written.
func (p *Provider) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { p.apikeys.Run(ctx) })
	wg.Go(func() { p.runIssuedSummaries(ctx) })
	wg.Wait()
}

// Issuer returns the issuer URL.
func (p *Provider) Issuer() string { return p.opts.Issuer }

// noJWKSFetcher refuses every jwks_uri: without a configured fetcher a
// private_key_jwt client must register its keys inline.
type noJWKSFetcher struct{}

func (noJWKSFetcher) Resolve(context.Context, string, bool) (*josev3.JSONWebKeySet, error) {
	return nil, fosite.ErrInvalidClient.WithHint("Fetching client keys from jwks_uri is not enabled on this server.")
}

// noNetworkClient is an HTTP client that refuses to connect anywhere.
func noNetworkClient() *retryablehttp.Client {
	c := retryablehttp.NewClient()
	c.RetryMax = 0
	c.Logger = nil
	c.HTTPClient = &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			DialContext: func(context.Context, string, string) (net.Conn, error) {
				return nil, fmt.Errorf("provider: outbound requests are disabled")
			},
		},
	}
	return c
}

// promptValues are the prompt values gatehouse supports: create only with
// sign-up on (Initiating User Registration 1.0 §3: advertised in
// prompt_values_supported exactly when it works).
func promptValues(signup bool) []string {
	if signup {
		return []string{"none", "login", "consent", "create"}
	}
	return []string{"none", "login", "consent"}
}
