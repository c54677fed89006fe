package resourceserver

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/provider/dpop"
)

// Options configure an Authenticator. Issuer and Resource are required;
// everything else has a default.
type Options struct {
	// Issuer is the authorization server's issuer identifier. Its RFC 8414
	// metadata (Issuer + "/.well-known/oauth-authorization-server") names
	// the JWKS and the introspection endpoint, and tokens must carry it as
	// iss.
	Issuer string
	// Resource is this resource server's identifier (RFC 8707, RFC 9728
	// §1.2): an https URL without a fragment, for an MCP server the URL of
	// its endpoint. Tokens must name it in their audience.
	Resource string

	// ScopesSupported are published in the resource metadata
	// (RequiredScopes when empty).
	ScopesSupported []string
	// RequiredScopes are what Middleware requires of every token, and what
	// a 401 challenge names (MCP 2025-11-25 §"Protected Resource Metadata
	// Discovery Requirements"). RequireScopes adds more per route.
	RequiredScopes []string
	// ResourceName and ResourceDocumentation are optional metadata
	// (RFC 9728 §2).
	ResourceName          string
	ResourceDocumentation string

	// ClientID and ClientSecret are this resource server's own client
	// credentials at the authorization server, sent with
	// client_secret_basic to introspect opaque tokens and API keys. Without
	// them only JWT access tokens are accepted.
	ClientID     string
	ClientSecret string
	// APIKeys accepts gatehouse API keys presented directly (X-API-Key or
	// a bearer token starting gth_ak_), checked by introspection. It needs
	// ClientID and ClientSecret.
	APIKeys bool

	// JWKSURI and IntrospectionEndpoint, when set, are used instead of
	// what the authorization server's metadata names.
	JWKSURI               string
	IntrospectionEndpoint string

	// HTTPClient makes every fetch; by default a client that follows no
	// redirects. Each fetch is bounded by FetchTimeout besides.
	HTTPClient *http.Client
	// Clock is the time tokens and caches are judged by (time.Now).
	Clock func() time.Time
	// Logger receives why a token was refused (never the token); by
	// default nothing is logged.
	Logger *slog.Logger

	// Leeway is the clock skew allowed on exp, nbf and iat (30 s, at most
	// 5 minutes).
	Leeway time.Duration
	// FetchTimeout bounds each metadata, JWKS and introspection request
	// (10 s).
	FetchTimeout time.Duration
	// KeysTTL is how long the authorization server's metadata and JWKS are
	// used before they are fetched again (10 minutes).
	KeysTTL time.Duration
	// KeysRefreshInterval is the least time between two fetches of the
	// JWKS triggered by an unknown kid (30 s): a flood of tokens with made
	// up kids costs at most one fetch per interval.
	KeysRefreshInterval time.Duration
	// IntrospectionCacheTTL is how long an introspection answer (of an
	// opaque token or API key) is reused (30 s; never past the token's
	// expiry). It is the revocation lag of opaque tokens and API keys
	// unless Forget is called. Negative: no cache.
	IntrospectionCacheTTL time.Duration
	// IntrospectionCacheSize bounds the cached answers (10,000).
	IntrospectionCacheSize int

	// DPoP (RFC 9449). A token bound to a key (cnf.jkt) is accepted only
	// with the DPoP scheme and a proof signed by that key for the request;
	// an unbound token only with the Bearer scheme.

	// RequireDPoP refuses every token that is not DPoP-bound (and so API
	// keys, which cannot be combined with it); the metadata says
	// dpop_bound_access_tokens_required (RFC 9728 §2).
	RequireDPoP bool
	// DPoPAlgs are the proof algorithms accepted, published in the metadata
	// and the DPoP challenge (asymmetric ones only; dpop.DefaultAlgs).
	DPoPAlgs []string
	// DPoPReplay remembers the proofs already used (RFC 9449 §11.1). By
	// default a dpop.MemoryReplayCache of 100,000 proofs, right for one
	// process; several instances behind one name need a shared cache, or a
	// proof used at one can be replayed at another. A failure of the cache
	// (including a full memory cache) refuses the request with 503.
	DPoPReplay dpop.ReplayCache
	// DPoPNonces, when set, makes every proof carry a nonce it issued
	// (RFC 9449 §9): a proof without one is refused with use_dpop_nonce
	// and a DPoP-Nonce header, and every answer to a DPoP request carries
	// a fresh nonce. Make it with dpop.NewNonces and a secret of at least
	// 32 bytes that every instance of the resource server shares.
	DPoPNonces *dpop.Nonces
	// ExternalURL returns the URL a client used to reach r, as its proof's
	// htu names it (RFC 9449 §4.3, check 9; query and fragment are
	// ignored). By default the scheme and host of Resource followed by r's
	// path: right when clients reach the server at the resource's origin
	// and a proxy in front passes the path on unchanged. Set it when a
	// proxy rewrites the path or the server answers under several names;
	// never derive it from headers a client can set without a proxy that
	// overwrites them.
	ExternalURL func(r *http.Request) string
}

// Limits of what is fetched: the answers of a well-behaved authorization
// server are far smaller.
const (
	maxMetadataBytes      = 64 << 10
	maxJWKSBytes          = 256 << 10
	maxIntrospectionBytes = 64 << 10
	maxKeys               = 100
	// maxTokenBytes bounds a presented token; longer ones are refused
	// before any parsing.
	maxTokenBytes = 16 << 10
)

func (o *Options) setDefaults() {
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{
			// The endpoints are configured or named by the issuer's own
			// metadata; a redirect elsewhere is not followed.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if o.Leeway == 0 {
		o.Leeway = 30 * time.Second
	}
	if o.FetchTimeout == 0 {
		o.FetchTimeout = 10 * time.Second
	}
	if o.KeysTTL == 0 {
		o.KeysTTL = 10 * time.Minute
	}
	if o.KeysRefreshInterval == 0 {
		o.KeysRefreshInterval = 30 * time.Second
	}
	if o.IntrospectionCacheTTL == 0 {
		o.IntrospectionCacheTTL = 30 * time.Second
	}
	if o.IntrospectionCacheSize == 0 {
		o.IntrospectionCacheSize = 10000
	}
	if o.DPoPReplay == nil {
		o.DPoPReplay = dpop.NewMemoryReplayCache(0, o.Clock)
	}
}

func (o *Options) validate() error {
	var errs []error
	if err := checkURL("Issuer", o.Issuer, false); err != nil {
		errs = append(errs, err)
	}
	if err := checkURL("Resource", o.Resource, false); err != nil {
		errs = append(errs, err)
	}
	for name, v := range map[string]string{"JWKSURI": o.JWKSURI, "IntrospectionEndpoint": o.IntrospectionEndpoint} {
		if v == "" {
			continue
		}
		if err := checkURL(name, v, true); err != nil {
			errs = append(errs, err)
		}
	}
	if (o.ClientID == "") != (o.ClientSecret == "") {
		errs = append(errs, errors.New("resourceserver: ClientID and ClientSecret go together"))
	}
	if o.APIKeys && o.ClientID == "" {
		errs = append(errs, errors.New("resourceserver: APIKeys needs ClientID and ClientSecret (keys are checked by introspection)"))
	}
	for _, s := range append(append([]string{}, o.RequiredScopes...), o.ScopesSupported...) {
		if !validScopeToken(s) {
			errs = append(errs, fmt.Errorf("resourceserver: %q is not a scope token (RFC 6749 §3.3)", s))
		}
	}
	if o.APIKeys && o.RequireDPoP {
		errs = append(errs, errors.New("resourceserver: APIKeys and RequireDPoP exclude each other (an API key is not bound to a key)"))
	}
	if err := dpop.CheckAlgorithms(o.DPoPAlgs); err != nil {
		errs = append(errs, fmt.Errorf("resourceserver: DPoPAlgs: %w", err))
	}
	if o.Leeway < 0 || o.Leeway > 5*time.Minute {
		errs = append(errs, errors.New("resourceserver: Leeway must be between 0 and 5 minutes"))
	}
	if o.FetchTimeout < 0 || o.KeysTTL < 0 || o.KeysRefreshInterval < 0 || o.IntrospectionCacheSize < 0 {
		errs = append(errs, errors.New("resourceserver: timeouts, TTLs and sizes cannot be negative"))
	}
	return errors.Join(errs...)
}

// checkURL accepts an absolute https URL without a fragment (RFC 8414 §2
// for the issuer, RFC 9728 §1.2 for the resource), or http on a loopback
// host, for development and tests. An issuer or resource has no query
// either; an endpoint may.
func checkURL(name, v string, endpoint bool) error {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || u.User != nil {
		return fmt.Errorf("resourceserver: %s %q is not an absolute URL", name, v)
	}
	if u.Fragment != "" || strings.Contains(v, "#") {
		return fmt.Errorf("resourceserver: %s %q has a fragment", name, v)
	}
	if !endpoint && u.RawQuery != "" {
		return fmt.Errorf("resourceserver: %s %q has a query", name, v)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	default:
		return fmt.Errorf("resourceserver: %s %q must be https (http only on a loopback host)", name, v)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validScopeToken reports a scope-token of RFC 6749 §3.3:
// 1*( %x21 / %x23-5B / %x5D-7E ). Such a token needs no escaping inside a
// quoted-string of a challenge.
func validScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
