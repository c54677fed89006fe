// Package config holds gatehouse's settings: their types, defaults, loading and validation.
//
// Settings come from three layers, each overriding the one before:
// Default() < the YAML file (`--config file.yaml`) < GATEHOUSE_* environment
// variables. The defaults run one instance locally for development
// (http://localhost:8080, SQLite under ./data). Unknown keys in the file are
// errors naming the nearest valid key, so a typo is never silently ignored;
// unknown GATEHOUSE_* variables are reported by UnknownEnv (serve logs them:
// other tools may share the prefix). Settings lists every key.
//
// Each environment variable is GATEHOUSE_ followed by the YAML key path,
// upper-cased, with dots turned into underscores; lists are comma-separated.
// docs/configuration.md lists every setting with its variable and default;
// doc_test.go checks that table against Settings.
//
// A variable overrides its setting only when it is set to a non-empty value, so
// `GATEHOUSE_SECRET=` (what an unset ${VAR} becomes in docker-compose) leaves
// the file's value in place. Durations use Go syntax ("15m", "168h") in both
// the file and the environment.
//
// Load does not validate: the caller sets Dev (from `serve --dev`) first and
// then calls Validate, which reports every problem at once.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-dev/gatehouse/provider/dpop"
)

// EnvPrefix starts the name of every environment variable Load reads.
const EnvPrefix = "GATEHOUSE_"

// MinSecretLength is the shortest accepted secret, in bytes: keys derived from
// it (HKDF) protect signing keys at rest, so it must carry at least 256 bits.
const MinSecretLength = 32

const redacted = "REDACTED"

// Config is the whole configuration of a gatehouse instance.
type Config struct {
	// Issuer is the OIDC issuer identifier and the public base URL.
	Issuer string `yaml:"issuer" env:"ISSUER"`
	// Listen is the address of the public OAuth/OIDC endpoints and pages.
	Listen string `yaml:"listen" env:"LISTEN"`
	// AdminListen is the address of health checks, metrics and the admin API,
	// kept apart so it need not be exposed to the internet.
	AdminListen string `yaml:"admin_listen" env:"ADMIN_LISTEN"`
	// DSN selects the database: sqlite://PATH, postgres://... or postgresql://...
	DSN string `yaml:"dsn" env:"DSN"`
	// Secret is the root key material (HKDF input) for keys encrypted at rest.
	Secret string `yaml:"secret" env:"SECRET"`
	// OldSecrets still decrypt data written under earlier secrets, for rotation.
	OldSecrets []string `yaml:"old_secrets" env:"OLD_SECRETS"`
	Google     Google   `yaml:"google" envPrefix:"GOOGLE_"`
	// Upstreams are further OpenID Connect identity providers people may
	// sign in with (YAML only: a list does not fit environment variables).
	Upstreams []Upstream `yaml:"upstreams" env:"-"`
	Login     Login      `yaml:"login" envPrefix:"LOGIN_"`
	// Keys configures the signing keys' life cycle.
	Keys Keys `yaml:"keys" envPrefix:"KEYS_"`
	// AccessTokens configures the format of access tokens.
	AccessTokens AccessTokens `yaml:"access_tokens" envPrefix:"ACCESS_TOKENS_"`
	Lifespans    Lifespans    `yaml:"lifespans" envPrefix:"LIFESPANS_"`
	// RefreshRetryWindow: a rotated refresh token presented again this soon
	// after its rotation is a retry or a concurrent duplicate (invalid_grant,
	// nothing revoked), not theft; after it, reuse revokes the grant. 0
	// disables the window.
	RefreshRetryWindow time.Duration `yaml:"refresh_retry_window" env:"REFRESH_RETRY_WINDOW"`
	Registration       Registration  `yaml:"registration" envPrefix:"REGISTRATION_"`
	PAR                PAR           `yaml:"par" envPrefix:"PAR_"`
	Device             Device        `yaml:"device" envPrefix:"DEVICE_"`
	DPoP               DPoP          `yaml:"dpop" envPrefix:"DPOP_"`
	HTTPClient         HTTPClient    `yaml:"http_client" envPrefix:"HTTP_CLIENT_"`
	// ClientIDMetadataDocuments lets a client use the https URL of its
	// metadata document as its client_id, with no registration (MCP
	// clients do).
	ClientIDMetadataDocuments ClientIDMetadataDocuments `yaml:"client_id_metadata_documents" envPrefix:"CLIENT_ID_METADATA_DOCUMENTS_"`
	// IDJAG configures the identity assertion grant (ID-JAG: the jwt-bearer
	// grant with assertions of trusted identity providers).
	IDJAG IDJAG `yaml:"id_jag" envPrefix:"ID_JAG_"`
	// SMTP is the mail server e-mail (password reset, verification,
	// sign-up) goes through; without a host gatehouse sends none (under
	// `serve --dev` it prints them to the log instead).
	SMTP SMTP `yaml:"smtp" envPrefix:"SMTP_"`
	// Signup lets people create their own accounts (needs e-mail).
	Signup Signup `yaml:"signup" envPrefix:"SIGNUP_"`
	// Branding is the product name, logo, accent colour and support link
	// on every page and e-mail, and the operator's template overrides.
	Branding Branding `yaml:"branding" envPrefix:"BRANDING_"`
	Log      Log      `yaml:"log" envPrefix:"LOG_"`
	Database Database `yaml:"database" envPrefix:"DATABASE_"`
	// RateLimits throttle the OAuth endpoints and the password login.
	RateLimits RateLimits `yaml:"rate_limits" envPrefix:"RATE_LIMITS_"`
	// RedisURL (redis:// or rediss://), when set, makes the rate limits
	// shared by every instance using it; unset, each instance limits on
	// its own.
	RedisURL string `yaml:"redis_url" env:"REDIS_URL"`
	// TrustedProxies are the CIDR ranges of reverse proxies whose
	// X-Forwarded-For header names the client; from anyone else the header
	// is ignored and the client IP is the connection's.
	TrustedProxies []string `yaml:"trusted_proxies" env:"TRUSTED_PROXIES"`
	Audit          Audit    `yaml:"audit" envPrefix:"AUDIT_"`
	Janitor        Janitor  `yaml:"janitor" envPrefix:"JANITOR_"`
	Debug          Debug    `yaml:"debug" envPrefix:"DEBUG_"`
	// Dev is set by `serve --dev` only; a file or variable must never be able to
	// relax the production checks.
	Dev bool `yaml:"-" env:"-"`
}

// Google configures sign-in through Google, or any OpenID Connect issuer.
// It is enabled when ClientID is set.
type Google struct {
	ClientID     string `yaml:"client_id" env:"CLIENT_ID"`
	ClientSecret string `yaml:"client_secret" env:"CLIENT_SECRET"`
	Issuer       string `yaml:"issuer" env:"ISSUER"`
	// AllowSignup lets a first sign-in create an account; off, only people
	// whose verified e-mail matches an existing account get in.
	AllowSignup bool `yaml:"allow_signup" env:"ALLOW_SIGNUP"`
	// HostedDomain restricts sign-in to one Google Workspace domain (hd).
	HostedDomain string `yaml:"hosted_domain" env:"HOSTED_DOMAIN"`
	// AllowedDomains restricts sign-in to verified e-mails of these domains.
	AllowedDomains []string `yaml:"allowed_domains" env:"ALLOWED_DOMAINS"`
}

// Upstream is an OpenID Connect identity provider people may sign in with.
type Upstream struct {
	// ID names the upstream in URLs (/login/ID, /login/ID/callback):
	// lowercase letters, digits and dashes.
	ID             string   `yaml:"id"`
	Name           string   `yaml:"name"`
	Issuer         string   `yaml:"issuer"`
	ClientID       string   `yaml:"client_id"`
	ClientSecret   string   `yaml:"client_secret"`
	Scopes         []string `yaml:"scopes"`
	AllowedDomains []string `yaml:"allowed_domains"`
	HostedDomain   string   `yaml:"hosted_domain"`
	AllowSignup    bool     `yaml:"allow_signup"`
}

// Keys configures the signing keys: each algorithm's key is replaced every
// RotationInterval; the next key is published in the JWKS at least
// JWKSCacheTTL (the JWKS Cache-Control max-age) before it signs.
type Keys struct {
	RotationInterval time.Duration `yaml:"rotation_interval" env:"ROTATION_INTERVAL"`
	JWKSCacheTTL     time.Duration `yaml:"jwks_cache_ttl" env:"JWKS_CACHE_TTL"`
	RSABits          int           `yaml:"rsa_bits" env:"RSA_BITS"`
}

// AccessTokens configures access tokens.
type AccessTokens struct {
	// Format is "opaque" (default) or "jwt" (RFC 9068); a client's own
	// access_token_format overrides it.
	Format string `yaml:"format" env:"FORMAT"`
	// SigningAlg signs JWT access tokens: RS256 or ES256.
	SigningAlg string `yaml:"signing_alg" env:"SIGNING_ALG"`
}

// Login configures how people sign in.
type Login struct {
	// Password enables e-mail and password sign-in; off, people sign in
	// only through upstreams.
	Password bool `yaml:"password" env:"PASSWORD"`
	// MaxFailures failed password sign-ins lock an account for Lockout
	// for browsers it does not know (a known browser counts and locks by
	// its own failures). After a lock the count starts over, and each
	// lock in a row lasts twice as long as the one before, up to
	// MaxLockout. A success, `gatehouse users unlock` or a password reset
	// clears the count; FailureReset without a failure starts everything
	// over.
	MaxFailures  int           `yaml:"max_failures" env:"MAX_FAILURES"`
	Lockout      time.Duration `yaml:"lockout" env:"LOCKOUT"`
	MaxLockout   time.Duration `yaml:"max_lockout" env:"MAX_LOCKOUT"`
	FailureReset time.Duration `yaml:"failure_reset" env:"FAILURE_RESET"`
	// RequireMFA asks everyone for a second factor at sign-in; a person
	// without one sets one up before continuing. RequireMFAAdmins asks it
	// of people with the admin role only. (A person who set one up is
	// always asked; a client's require_mfa and acr_values ask too.)
	RequireMFA       bool `yaml:"require_mfa" env:"REQUIRE_MFA"`
	RequireMFAAdmins bool `yaml:"require_mfa_admins" env:"REQUIRE_MFA_ADMINS"`
	// MFAEnrolment says how a person without a second factor, of whom
	// one is required, shows it is them before setting one up: "email"
	// (a code sent to the account's address; the default, and what
	// happens when e-mail is configured) or "first_use" (whoever gave
	// the first factor sets it up: a stolen password is then enough to
	// enrol an attacker's authenticator; a weaker choice, logged).
	MFAEnrolment string `yaml:"mfa_enrolment" env:"MFA_ENROLMENT"`
}

// The values of login.mfa_enrolment.
const (
	MFAEnrolmentEmail    = "email"
	MFAEnrolmentFirstUse = "first_use"
)

// RateLimits configures the request limits. PerIP and PerClient apply to
// the token, introspection, revocation, PAR and registration endpoints
// (registration per IP only); LoginPerIP to password sign-in attempts.
type RateLimits struct {
	// Enabled is true by default; turning it off is logged as a warning.
	Enabled    bool  `yaml:"enabled" env:"ENABLED"`
	PerIP      Limit `yaml:"per_ip" envPrefix:"PER_IP_"`
	PerClient  Limit `yaml:"per_client" envPrefix:"PER_CLIENT_"`
	LoginPerIP Limit `yaml:"login_per_ip" envPrefix:"LOGIN_PER_IP_"`
}

// Limit allows Rate requests per Period on average and bursts of up to
// Burst (a token bucket, as github.com/go-redis/redis_rate counts).
type Limit struct {
	Rate   int           `yaml:"rate" env:"RATE"`
	Burst  int           `yaml:"burst" env:"BURST"`
	Period time.Duration `yaml:"period" env:"PERIOD"`
}

// Audit configures the audit trail.
type Audit struct {
	// Retention is how long audit events are kept in the database; the
	// janitor deletes older ones. 0 keeps them forever.
	Retention time.Duration `yaml:"retention" env:"RETENTION"`
	// SummaryInterval is how often client_credentials token issuance is
	// written to the trail, as one event per client, API key and scope
	// with a count (machine tokens are too many to record one by one).
	SummaryInterval time.Duration `yaml:"summary_interval" env:"SUMMARY_INTERVAL"`
}

// Debug configures diagnostics.
type Debug struct {
	// Pprof serves Go's profiler at /debug/pprof/ on the admin listener.
	// Off by default: profiles reveal memory contents and cost CPU.
	Pprof bool `yaml:"pprof" env:"PPROF"`
}

// Janitor configures the background deletion of expired rows.
type Janitor struct {
	// Interval is the time between two runs.
	Interval time.Duration `yaml:"interval" env:"INTERVAL"`
	// DeadMailRetention is how long e-mail the outbox gave up on stays
	// listed for the administrator (its recipient and subject are
	// personal data); 0 keeps it until deleted by hand.
	DeadMailRetention time.Duration `yaml:"dead_mail_retention" env:"DEAD_MAIL_RETENTION"`
}

// Enabled reports whether upstream sign-in through Google is configured.
func (g Google) Enabled() bool { return g.ClientID != "" }

// Lifespans are how long issued artefacts stay valid.
type Lifespans struct {
	AccessToken       time.Duration `yaml:"access_token" env:"ACCESS_TOKEN"`
	IDToken           time.Duration `yaml:"id_token" env:"ID_TOKEN"`
	AuthorizationCode time.Duration `yaml:"authorization_code" env:"AUTHORIZATION_CODE"`
	RefreshToken      time.Duration `yaml:"refresh_token" env:"REFRESH_TOKEN"`
	LoginSession      time.Duration `yaml:"login_session" env:"LOGIN_SESSION"`
}

// Registration policies for dynamic client registration (RFC 7591).
const (
	// RegistrationInitialAccessToken: registering needs a bearer token made
	// with `gatehouse registration-tokens create`.
	RegistrationInitialAccessToken = "initial_access_token"
	// RegistrationOpen: anyone may register a client.
	RegistrationOpen = "open"
	// RegistrationPublic: anyone may register a public client (no shared
	// secret) within public_scopes and public_resources; an initial
	// access token registers any client.
	RegistrationPublic = "public"
	// RegistrationOff: the endpoint is not served.
	RegistrationOff = "off"
)

// Registration configures dynamic client registration.
type Registration struct {
	Policy string `yaml:"policy" env:"POLICY"`
	// PublicScopes and PublicResources bound what a client registered
	// without a token under the public policy may ask for.
	PublicScopes    []string `yaml:"public_scopes" env:"PUBLIC_SCOPES"`
	PublicResources []string `yaml:"public_resources" env:"PUBLIC_RESOURCES"`
	// UnusedClientLifetime: a client registered without a token that has
	// completed no authorization (no consent, no token) after this long
	// is deleted by the janitor; 0 keeps them.
	UnusedClientLifetime time.Duration `yaml:"unused_client_lifetime" env:"UNUSED_CLIENT_LIFETIME"`
}

// PAR configures pushed authorization requests (RFC 9126).
type PAR struct {
	// Required makes every authorization request come through PAR.
	Required bool `yaml:"required" env:"REQUIRED"`
	// Lifespan is how long a request_uri stays usable.
	Lifespan time.Duration `yaml:"lifespan" env:"LIFESPAN"`
}

// Device configures the device authorization grant (RFC 8628).
type Device struct {
	// CodeLifetime is how long a device code and its user code stay
	// usable (expires_in).
	CodeLifetime time.Duration `yaml:"code_lifetime" env:"CODE_LIFETIME"`
	// Interval is how long devices wait between polls (interval).
	Interval time.Duration `yaml:"interval" env:"INTERVAL"`
}

// DPoP configures the checking of DPoP proofs (RFC 9449) at the token
// endpoint.
type DPoP struct {
	// Algorithms are the proof algorithms accepted and advertised in
	// dpop_signing_alg_values_supported; asymmetric only (§4.2).
	Algorithms []string `yaml:"algorithms" env:"ALGORITHMS"`
	// ProofLifetime is how old a proof (its iat) may be; it bounds how
	// long the replay cache remembers a proof (§11.1).
	ProofLifetime time.Duration `yaml:"proof_lifetime" env:"PROOF_LIFETIME"`
	// RequireNonce makes every proof carry a server nonce (§8), which
	// makes proofs made in advance useless.
	RequireNonce bool `yaml:"require_nonce" env:"REQUIRE_NONCE"`
	// NonceLifetime is how long a server nonce is accepted.
	NonceLifetime time.Duration `yaml:"nonce_lifetime" env:"NONCE_LIFETIME"`
}

// HTTPClient configures gatehouse's outbound requests (client jwks_uri).
type HTTPClient struct {
	// AllowPrivateNetworks lets them reach loopback, private and
	// link-local addresses. Off by default: a registered URL must not be a
	// way into the internal network (SSRF).
	AllowPrivateNetworks bool `yaml:"allow_private_networks" env:"ALLOW_PRIVATE_NETWORKS"`
	// CAFile is a PEM bundle of certificate authorities that outbound
	// HTTPS trusts instead of the system's. For tests and development
	// (a server on loopback with a private CA); logged when set.
	CAFile string `yaml:"ca_file" env:"CA_FILE"`
}

// ClientIDMetadataDocuments configures clients whose client_id is the
// https URL of a document describing them
// (draft-ietf-oauth-client-id-metadata-document). Such a client needs no
// registration: gatehouse fetches the document, keeps a copy while HTTP
// caching allows, and holds the client to this policy.
type ClientIDMetadataDocuments struct {
	// Enabled turns them on (off by default); discovery then says
	// client_id_metadata_document_supported.
	Enabled bool `yaml:"enabled" env:"ENABLED"`
	// AllowedDomains, when set, admits documents on these hosts and their
	// subdomains only; DeniedDomains refuses those (checked first).
	AllowedDomains []string `yaml:"allowed_domains" env:"ALLOWED_DOMAINS"`
	DeniedDomains  []string `yaml:"denied_domains" env:"DENIED_DOMAINS"`
	// TrustedDomains are hosts (and subdomains) whose clients the consent
	// page does not warn about when they only redirect to localhost.
	TrustedDomains []string `yaml:"trusted_domains" env:"TRUSTED_DOMAINS"`
	// Scopes is the most such a client may be granted (its document's
	// scope narrows it); Resources the RFC 8707 resources it may ask for.
	Scopes    []string `yaml:"scopes" env:"SCOPES"`
	Resources []string `yaml:"resources" env:"RESOURCES"`
	// MinCacheTTL and MaxCacheTTL bound how long a fetched document is
	// used before it is fetched again (its HTTP caching headers decide
	// within them); StaleFor is how long past that a copy stands in while
	// the document cannot be fetched (never for a document found gone).
	MinCacheTTL time.Duration `yaml:"min_cache_ttl" env:"MIN_CACHE_TTL"`
	MaxCacheTTL time.Duration `yaml:"max_cache_ttl" env:"MAX_CACHE_TTL"`
	StaleFor    time.Duration `yaml:"stale_for" env:"STALE_FOR"`
	// MaxDocumentBytes bounds a document (the draft recommends 5 KB).
	MaxDocumentBytes int `yaml:"max_document_bytes" env:"MAX_DOCUMENT_BYTES"`
	// AllowHTTPLoopback admits http:// client_ids on loopback hosts. For
	// development only; logged when on.
	AllowHTTPLoopback bool `yaml:"allow_http_loopback" env:"ALLOW_HTTP_LOOPBACK"`
}

// IDJAG configures the redemption of Identity Assertion JWT Authorization
// Grants (draft-ietf-oauth-identity-assertion-authz-grant, MCP
// Enterprise-Managed Authorization) at the token endpoint. Off while
// Issuers is empty.
type IDJAG struct {
	// Issuers are the identity providers whose assertions are redeemed
	// (YAML only: a list does not fit environment variables).
	Issuers []IDJAGIssuer `yaml:"issuers" env:"-"`
	// MaxLifetime bounds exp - iat of an assertion.
	MaxLifetime time.Duration `yaml:"max_lifetime" env:"MAX_LIFETIME"`
}

// IDJAGIssuer is a trusted issuer of identity assertions: its keys are at
// JWKSURI, or, for an upstream, where its discovery document says; its
// subjects map to users only through the identities linked at Upstream.
type IDJAGIssuer struct {
	Issuer   string `yaml:"issuer"`
	JWKSURI  string `yaml:"jwks_uri"`
	Upstream string `yaml:"upstream"`
}

// Bounds of id_jag.max_lifetime.
const (
	MinIDJAGLifetime = time.Minute
	MaxIDJAGLifetime = time.Hour
)

// UpstreamIssuer returns the issuer of the upstream with id (google's or
// one of upstreams), or "" when there is none.
func (c Config) UpstreamIssuer(id string) string {
	if id == "google" && c.Google.Enabled() {
		return c.Google.Issuer
	}
	for _, u := range c.Upstreams {
		if u.ID == id {
			return u.Issuer
		}
	}
	return ""
}

// validateIDJAG checks the identity assertion settings.
func (c Config) validateIDJAG(p *problems) {
	if l := c.IDJAG.MaxLifetime; l < MinIDJAGLifetime || l > MaxIDJAGLifetime {
		p.add("id_jag.max_lifetime", "must be between %s and %s, got %s", MinIDJAGLifetime, MaxIDJAGLifetime, l)
	}
	seen := map[string]bool{}
	for i, iss := range c.IDJAG.Issuers {
		key := fmt.Sprintf("id_jag.issuers[%d]", i)
		issuer := iss.Issuer
		if iss.Upstream != "" {
			up := c.UpstreamIssuer(iss.Upstream)
			switch {
			case up == "":
				p.add(key+".upstream", "%q is no configured upstream (google or an id of upstreams)", iss.Upstream)
			case issuer == "":
				issuer = up
			case issuer != up:
				p.add(key+".issuer", "must be the upstream's issuer %q (or be left out), got %q", up, issuer)
			}
		} else {
			if iss.JWKSURI == "" {
				p.add(key, "needs jwks_uri or upstream")
			}
			p.add(key+".issuer", "%s", checkURL(issuer))
		}
		if iss.JWKSURI != "" {
			p.add(key+".jwks_uri", "%s", checkURL(iss.JWKSURI))
		}
		if issuer != "" && seen[issuer] {
			p.add(key+".issuer", "%q is listed twice", issuer)
		}
		seen[issuer] = true
	}
}

// SMTP TLS modes.
const (
	SMTPTLSStartTLS = "starttls"
	SMTPTLSImplicit = "implicit"
	SMTPTLSNone     = "none"
)

// SMTP configures the mail server.
type SMTP struct {
	// Host enables e-mail; Port defaults to 587 (submission, RFC 6409).
	Host string `yaml:"host" env:"HOST"`
	Port int    `yaml:"port" env:"PORT"`
	// From is the sender address; FromName its display name (the
	// messages name the service with Branding.ProductName).
	From     string `yaml:"from" env:"FROM"`
	FromName string `yaml:"from_name" env:"FROM_NAME"`
	Username string `yaml:"username" env:"USERNAME"`
	// Password is a secret: prefer GATEHOUSE_SMTP_PASSWORD to the file.
	Password string `yaml:"password" env:"PASSWORD"`
	// TLS is starttls (required, the default), implicit (port 465) or
	// none (loopback hosts only: a local relay).
	TLS string `yaml:"tls" env:"TLS"`
	// Timeout bounds the connection and each SMTP command.
	Timeout time.Duration `yaml:"timeout" env:"TIMEOUT"`
}

// Signup configures self-service sign-up.
type Signup struct {
	// Enabled turns it on (off by default): /signup and prompt=create.
	Enabled bool `yaml:"enabled" env:"ENABLED"`
	// AllowedDomains, when set, limits sign-up to addresses of these
	// domains.
	AllowedDomains []string `yaml:"allowed_domains" env:"ALLOWED_DOMAINS"`
}

// Branding configures what people see of the deployment.
type Branding struct {
	// ProductName names the service in page titles, the page header and
	// the e-mails.
	ProductName string `yaml:"product_name" env:"PRODUCT_NAME"`
	// LogoURL is an https URL or a path under /static/ of this server;
	// empty shows no logo.
	LogoURL string `yaml:"logo_url" env:"LOGO_URL"`
	// AccentColor is a CSS hex colour (#rgb or #rrggbb) for buttons and
	// links.
	AccentColor string `yaml:"accent_color" env:"ACCENT_COLOR"`
	// SupportURL (https or mailto:) is linked from every page's footer and
	// every e-mail; empty links nothing.
	SupportURL string `yaml:"support_url" env:"SUPPORT_URL"`
	// TemplatesDir holds the operator's page templates, named as the
	// embedded ones (login.html, layout.html, ...); the files present
	// replace those, checked at start.
	TemplatesDir string `yaml:"templates_dir" env:"TEMPLATES_DIR"`
}

// DefaultAccentColor is the pages' own accent colour (style.css --primary).
const DefaultAccentColor = "#1d5bd0"

var hexColor = regexp.MustCompile(`^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// validateBranding checks the branding settings; every value lands in a
// page or an e-mail, so each is held to what its place allows.
func (c Config) validateBranding(p *problems) {
	b := c.Branding
	if b.ProductName == "" || strings.ContainsAny(b.ProductName, "\r\n") || len(b.ProductName) > 100 {
		p.add("branding.product_name", "must be one non-empty line of at most 100 bytes, got %q", b.ProductName)
	}
	if b.LogoURL != "" {
		if msg := checkBrandingURL(b.LogoURL, false); msg != "" {
			p.add("branding.logo_url", "%s", msg)
		} else if rest, ok := strings.CutPrefix(b.LogoURL, "/static/"); ok {
			// This server serves under /static/ its own files and those of
			// the templates directory's static/ folder: a logo it does not
			// have would be a broken image on every page.
			if b.TemplatesDir == "" {
				p.add("branding.logo_url", "a path under /static/ needs the file in the static/ folder of branding.templates_dir, which is not set; got %q", b.LogoURL)
			} else if fi, err := os.Stat(filepath.Join(b.TemplatesDir, "static", filepath.FromSlash(rest))); err != nil || !fi.Mode().IsRegular() {
				p.add("branding.logo_url", "%s is not a file in %s", b.LogoURL, filepath.Join(b.TemplatesDir, "static"))
			}
		}
	}
	if !hexColor.MatchString(b.AccentColor) {
		p.add("branding.accent_color", "must be a CSS hex colour #rgb or #rrggbb (such as %s), got %q", DefaultAccentColor, b.AccentColor)
	}
	if b.SupportURL != "" {
		if msg := checkBrandingURL(b.SupportURL, true); msg != "" {
			p.add("branding.support_url", "%s", msg)
		}
	}
	if b.TemplatesDir != "" {
		if fi, err := os.Stat(b.TemplatesDir); err != nil || !fi.IsDir() {
			p.add("branding.templates_dir", "must be an existing directory, got %q", b.TemplatesDir)
		}
	}
}

// checkBrandingURL accepts an https URL, a path under /static/ of this
// server (a logo: the pages' CSP allows img-src 'self' https:) or, for a
// support link, a mailto: URI. Nothing else: a javascript: or http: link
// on the sign-in page would be an attacker's gift.
func checkBrandingURL(raw string, mailto bool) string {
	allowed := "an https URL or a path under /static/"
	if mailto {
		allowed = "an https URL or a mailto: address"
	}
	if len(raw) > 2048 || strings.ContainsAny(raw, " \t\r\n\"'<>\\") {
		return fmt.Sprintf("must be %s of at most 2048 bytes without spaces or quotes, got %q", allowed, raw)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
	case u.Scheme == "https" && u.Host != "" && u.User == nil:
		return ""
	case mailto && u.Scheme == "mailto" && u.Opaque != "":
		return ""
	case !mailto && u.Scheme == "" && u.Host == "" && strings.HasPrefix(raw, "/static/") && !strings.Contains(raw, ".."):
		return ""
	}
	return fmt.Sprintf("must be %s, got %q", allowed, raw)
}

// Enabled says whether e-mail is sent through a mail server.
func (s SMTP) Enabled() bool { return s.Host != "" }

// Log configures the process logger.
type Log struct {
	Level string `yaml:"level" env:"LEVEL"` // debug, info, warn or error
	// Format is auto (default: json, or text under `serve --dev`), text
	// or json.
	Format string `yaml:"format" env:"FORMAT"`
}

// Database tunes the connection pool.
type Database struct {
	MaxOpenConns int `yaml:"max_open_conns" env:"MAX_OPEN_CONNS"`
}

// Limits enforced by Validate.
const (
	// RFC 6749 §4.1.2 recommends a maximum authorization code lifetime of 10 minutes.
	MaxAuthorizationCodeLifespan = 10 * time.Minute
	// Access and ID tokens cannot be revoked once handed to a resource server
	// that verifies them offline, so they must stay short.
	MaxTokenLifespan  = 24 * time.Hour
	MaxOpenConnsLimit = 1000
	// MaxRefreshRetryWindow bounds how long a spent refresh token is not
	// treated as stolen.
	MaxRefreshRetryWindow = time.Minute
)

var (
	logLevels  = []string{"debug", "info", "warn", "error"}
	logFormats = []string{"auto", "text", "json"}

	registrationPolicies = []string{RegistrationInitialAccessToken, RegistrationOpen, RegistrationPublic, RegistrationOff}

	upstreamID = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)
	// ReservedUpstreamIDs are the sign-in pages' own paths under /login/
	// (the second-factor step, the passkey sign-in): an upstream with such
	// an id would be shadowed by them (handlers checks the list against its
	// routes).
	ReservedUpstreamIDs = []string{"second-factor", "passkey"}
)

// Default returns the built-in configuration, suitable for local development.
func Default() Config {
	return Config{
		Issuer:      "http://localhost:8080",
		Listen:      "127.0.0.1:8080",
		AdminListen: "127.0.0.1:8081",
		DSN:         "sqlite://./data/gatehouse.db",
		Login: Login{
			Password: true, MaxFailures: 5, Lockout: time.Minute, MaxLockout: time.Hour,
			FailureReset: 24 * time.Hour, MFAEnrolment: MFAEnrolmentEmail,
		},
		ClientIDMetadataDocuments: ClientIDMetadataDocuments{
			Scopes:      []string{"openid", "profile", "email", "offline_access"},
			MinCacheTTL: 5 * time.Minute, MaxCacheTTL: 24 * time.Hour, StaleFor: time.Hour,
			MaxDocumentBytes: 5 << 10,
		},
		RateLimits: RateLimits{
			Enabled:    true,
			PerIP:      Limit{Rate: 200, Burst: 400, Period: time.Second},
			PerClient:  Limit{Rate: 100, Burst: 200, Period: time.Second},
			LoginPerIP: Limit{Rate: 20, Burst: 20, Period: time.Minute},
		},
		Audit:        Audit{Retention: 90 * 24 * time.Hour, SummaryInterval: 10 * time.Second},
		Janitor:      Janitor{Interval: 5 * time.Minute, DeadMailRetention: 30 * 24 * time.Hour},
		Keys:         Keys{RotationInterval: 30 * 24 * time.Hour, JWKSCacheTTL: time.Hour, RSABits: 2048},
		AccessTokens: AccessTokens{Format: "opaque", SigningAlg: "RS256"},
		Google: Google{
			Issuer: "https://accounts.google.com",
		},
		Lifespans: Lifespans{
			AccessToken:       15 * time.Minute,
			IDToken:           15 * time.Minute,
			AuthorizationCode: 5 * time.Minute,
			RefreshToken:      7 * 24 * time.Hour,
			LoginSession:      24 * time.Hour,
		},
		RefreshRetryWindow: 10 * time.Second,
		Registration: Registration{
			Policy: RegistrationInitialAccessToken, PublicScopes: []string{"openid", "profile", "email", "offline_access"},
			UnusedClientLifetime: 24 * time.Hour,
		},
		PAR:    PAR{Lifespan: 90 * time.Second},
		Device: Device{CodeLifetime: 10 * time.Minute, Interval: 5 * time.Second},
		DPoP: DPoP{
			Algorithms: slices.Clone(dpop.DefaultAlgs), ProofLifetime: time.Minute,
			NonceLifetime: 5 * time.Minute,
		},
		Log:      Log{Level: "info", Format: "auto"},
		Branding: Branding{ProductName: "gatehouse", AccentColor: DefaultAccentColor},
		SMTP:     SMTP{Port: 587, FromName: "gatehouse", TLS: SMTPTLSStartTLS, Timeout: 30 * time.Second},
		Database: Database{MaxOpenConns: 20},
		IDJAG:    IDJAG{MaxLifetime: 10 * time.Minute},
	}
}

// Load builds a Config from Default(), then the YAML file at path (skipped when
// path is ""), then the GATEHOUSE_* variables in environ (os.Environ() form).
// It does not call Validate.
func Load(path string, environ []string) (Config, error) {
	cfg := Default()
	if path != "" {
		if err := applyFile(&cfg, path); err != nil {
			return Config{}, err
		}
	}
	if err := applyEnv(&cfg, environ); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func applyFile(cfg *Config, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err) // the *PathError names the file
	}
	// The node tree is only used to turn the decoder's line numbers back into
	// key paths for error messages; a syntax error surfaces here first.
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}

	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	switch err := dec.Decode(cfg); {
	case errors.Is(err, io.EOF):
		return nil // empty file or only comments: nothing to override
	case err != nil:
		var typeErr *yaml.TypeError
		if errors.As(err, &typeErr) {
			return describeTypeErrors(path, &doc, typeErr)
		}
		return fmt.Errorf("config file %s: %w", path, err)
	}
	// A second document would be silently ignored, so refuse it; a trailing
	// "---" with nothing after it is harmless.
	for {
		var extra yaml.Node
		err := dec.Decode(&extra)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil || !isEmptyDocument(&extra) {
			return fmt.Errorf("config file %s: must hold exactly one YAML document", path)
		}
	}
}

func isEmptyDocument(n *yaml.Node) bool {
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	return n.Kind == 0 || n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// describeTypeErrors rewrites yaml.v3's "line N: ..." messages so that each
// names the file and the full key path, which is what a user needs to fix it.
func describeTypeErrors(path string, doc *yaml.Node, typeErr *yaml.TypeError) error {
	keys := collectKeys(doc, "", nil)
	errs := make([]error, 0, len(typeErr.Errors))
	for _, msg := range typeErr.Errors {
		line, detail := 0, msg
		if _, err := fmt.Sscanf(msg, "line %d:", &line); err == nil {
			_, detail, _ = strings.Cut(msg, ": ")
		}
		if name, ok := unknownFieldName(detail); ok {
			key := name
			if k, ok := keyAt(keys, line, name); ok {
				key = k.path
			}
			errs = append(errs, fmt.Errorf("%s:%d: unknown key %q%s", path, line, key, suggestPath(key)))
			continue
		}
		k, ok := valueAt(keys, line)
		switch {
		case ok && strings.HasSuffix(detail, "into time.Duration"):
			errs = append(errs, fmt.Errorf("%s:%d: %s: invalid duration %q (use Go syntax such as \"15m\" or \"168h\")",
				path, line, k.path, k.value.Value))
		case ok:
			errs = append(errs, fmt.Errorf("%s:%d: %s: %s", path, line, k.path, detail))
		default:
			errs = append(errs, fmt.Errorf("%s:%d: %s", path, line, detail))
		}
	}
	return errors.Join(errs...)
}

// unknownFieldName extracts X from yaml.v3's "field X not found in type T".
func unknownFieldName(detail string) (string, bool) {
	rest, ok := strings.CutPrefix(detail, "field ")
	if !ok {
		return "", false
	}
	name, _, ok := strings.Cut(rest, " not found in type ")
	return name, ok
}

type yamlKey struct {
	path       string
	key, value *yaml.Node // key is nil for sequence items
}

// collectKeys lists every key (and sequence item) under n in document order,
// parents before children.
func collectKeys(n *yaml.Node, prefix string, out []yamlKey) []yamlKey {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			out = collectKeys(c, prefix, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if prefix != "" {
				p = prefix + "." + p
			}
			out = append(out, yamlKey{path: p, key: k, value: v})
			out = collectKeys(v, p, out)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", prefix, i)
			out = append(out, yamlKey{path: p, value: c})
			out = collectKeys(c, p, out)
		}
	}
	return out
}

func keyAt(keys []yamlKey, line int, name string) (yamlKey, bool) {
	for _, k := range keys {
		if k.key != nil && k.key.Line == line && k.key.Value == name {
			return k, true
		}
	}
	return yamlKey{}, false
}

// valueAt returns the innermost key whose value starts on line; with flow
// style (`lifespans: {access_token: x}`) the parent shares the line.
func valueAt(keys []yamlKey, line int) (yamlKey, bool) {
	var found yamlKey
	ok := false
	for _, k := range keys {
		if k.value.Line == line {
			found, ok = k, true
		}
	}
	return found, ok
}

func applyEnv(cfg *Config, environ []string) error {
	// env reports a bad value by Go field name only. OnSet runs right before a
	// set variable's value is converted, so the parsers below can name it.
	var current string
	opts := env.Options{
		Environment: gatehouseVars(environ),
		Prefix:      EnvPrefix,
		OnSet:       func(key string, _ any, _ bool) { current = key },
		FuncMap: map[reflect.Type]env.ParserFunc{
			reflect.TypeFor[time.Duration](): func(v string) (any, error) {
				d, err := time.ParseDuration(v)
				if err != nil {
					return nil, fmt.Errorf("%s: invalid duration %q (use Go syntax such as \"15m\" or \"168h\")", current, v)
				}
				return d, nil
			},
			reflect.TypeFor[bool](): func(v string) (any, error) {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return nil, fmt.Errorf("%s: invalid boolean %q (use true or false)", current, v)
				}
				return b, nil
			},
			reflect.TypeFor[int](): func(v string) (any, error) {
				n, err := strconv.Atoi(v)
				if err != nil {
					return nil, fmt.Errorf("%s: invalid integer %q", current, v)
				}
				return n, nil
			},
		},
	}
	err := env.ParseWithOptions(cfg, opts)
	if err == nil {
		return nil
	}
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return fmt.Errorf("environment: %w", err)
	}
	errs := make([]error, 0, len(agg.Errors))
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			e = pe.Err // already names the variable
		}
		errs = append(errs, fmt.Errorf("environment: %w", e))
	}
	return errors.Join(errs...)
}

// gatehouseVars keeps the GATEHOUSE_* entries of environ. A bare "GATEHOUSE_"
// is dropped because env would look it up for the nested sections themselves.
func gatehouseVars(environ []string) map[string]string {
	vars := make(map[string]string)
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if len(k) > len(EnvPrefix) && strings.HasPrefix(k, EnvPrefix) {
			vars[k] = v
		}
	}
	return vars
}

// Validate reports every problem in c at once, joined with errors.Join; each
// problem starts with the setting's YAML key. It returns nil when c is usable.
func (c Config) Validate() error {
	var p problems

	if msg := checkURL(c.Issuer); msg != "" {
		p.add("issuer", "%s", msg)
	} else if strings.HasSuffix(c.Issuer, "/") {
		// Endpoint URLs are built by appending paths, and the iss claim must
		// match the issuer byte for byte (OIDC Discovery §4.3).
		p.add("issuer", "must not end with a slash")
	} else if u, _ := url.Parse(c.Issuer); u.Path != "" {
		// The pages, forms, redirects and cookies use absolute paths at the
		// root of the host (/login, /consent, /oauth2/...), so an issuer
		// below a path would publish endpoints nobody serves. Sharing an
		// origin with other applications is not offered on purpose: script
		// on any page of the origin could drive the sign-in pages.
		p.add("issuer", "must be the root of its host name (e.g. https://id.example.com), not a path below it such as %q; serve gatehouse on its own host name", u.Path)
	}

	p.add("listen", "%s", checkHostPort(c.Listen))
	p.add("admin_listen", "%s", checkHostPort(c.AdminListen))
	if c.Listen != "" && c.Listen == c.AdminListen && !strings.HasSuffix(c.Listen, ":0") {
		p.add("admin_listen", "must differ from listen (%s)", c.Listen)
	}

	// Never echo the DSN: a postgres DSN may hold a password.
	if path, isSQLite := strings.CutPrefix(c.DSN, "sqlite://"); isSQLite {
		if path == "" {
			p.add("dsn", "sqlite:// needs a file path, e.g. sqlite://./data/gatehouse.db")
		}
	} else if !c.IsPostgres() {
		p.add("dsn", "must start with sqlite://, postgres:// or postgresql://")
	}

	switch {
	case c.Secret == "" && !c.Dev:
		p.add("secret", "is required: set %sSECRET to at least %d random bytes (e.g. `openssl rand -base64 48`), "+
			"or add --dev to run with a development secret kept under ./data", EnvPrefix, MinSecretLength)
	case c.Secret != "" && len(c.Secret) < MinSecretLength:
		p.add("secret", "must be at least %d bytes, got %d", MinSecretLength, len(c.Secret))
	}
	for i, s := range c.OldSecrets {
		if len(s) < MinSecretLength {
			p.add(fmt.Sprintf("old_secrets[%d]", i), "must be at least %d bytes, got %d", MinSecretLength, len(s))
		}
	}

	if (c.Google.ClientID == "") != (c.Google.ClientSecret == "") {
		p.add("google", "client_id and client_secret must be set together")
	}
	seen := map[string]bool{}
	if c.Google.Enabled() {
		seen["google"] = true
	}
	for i, u := range c.Upstreams {
		key := fmt.Sprintf("upstreams[%d]", i)
		switch {
		case !upstreamID.MatchString(u.ID):
			p.add(key+".id", "must be 1 to 32 lowercase letters, digits or dashes, got %q", u.ID)
		case seen[u.ID]:
			p.add(key+".id", "%q is used twice (the google settings take the id google)", u.ID)
		case slices.Contains(ReservedUpstreamIDs, u.ID):
			p.add(key+".id", "%q is the path of a sign-in page of gatehouse's own (/login/%s); choose another id", u.ID, u.ID)
		}
		seen[u.ID] = true
		if strings.TrimSpace(u.Name) == "" {
			p.add(key+".name", "is required (it labels the sign-in button)")
		}
		p.add(key+".issuer", "%s", checkURL(u.Issuer))
		if u.ClientID == "" || u.ClientSecret == "" {
			p.add(key, "client_id and client_secret are required")
		}
	}
	if !c.Login.Password && len(seen) == 0 {
		p.add("login.password", "false leaves no way to sign in: configure google or upstreams, or keep password sign-in")
	}
	if c.Google.Enabled() || c.Google.Issuer != "" {
		p.add("google.issuer", "%s", checkURL(c.Google.Issuer))
	}

	l := c.Lifespans
	p.add("lifespans.access_token", "%s", checkLifespan(l.AccessToken, MaxTokenLifespan))
	p.add("lifespans.id_token", "%s", checkLifespan(l.IDToken, MaxTokenLifespan))
	p.add("lifespans.authorization_code", "%s", checkLifespan(l.AuthorizationCode, MaxAuthorizationCodeLifespan))
	if msg := checkLifespan(l.RefreshToken, 0); msg != "" {
		p.add("lifespans.refresh_token", "%s", msg)
	} else if l.RefreshToken < l.AccessToken {
		p.add("lifespans.refresh_token", "must be at least lifespans.access_token (%s), got %s", l.AccessToken, l.RefreshToken)
	}
	p.add("lifespans.login_session", "%s", checkLifespan(l.LoginSession, 0))

	if w := c.RefreshRetryWindow; w < 0 || w > MaxRefreshRetryWindow {
		p.add("refresh_retry_window", "must be between 0 and %s, got %s", MaxRefreshRetryWindow, w)
	}

	p.add("registration.policy", "%s", checkEnum(c.Registration.Policy, registrationPolicies))
	if l := c.PAR.Lifespan; l < 10*time.Second || l > 10*time.Minute {
		p.add("par.lifespan", "must be between 10s and 10m, got %s", l)
	}
	// RFC 8628 §5.1: a short lifetime bounds how long a user code can be
	// guessed; an interval under a second would let devices hammer the
	// token endpoint.
	if l := c.Device.CodeLifetime; l < time.Minute || l > 30*time.Minute {
		p.add("device.code_lifetime", "must be between 1m and 30m, got %s", l)
	}
	if i := c.Device.Interval; i < time.Second || i > time.Minute {
		p.add("device.interval", "must be between 1s and 1m, got %s", i)
	}
	// RFC 9449 §4.2: proofs are signed with asymmetric algorithms only.
	if len(c.DPoP.Algorithms) == 0 {
		p.add("dpop.algorithms", "must list at least one algorithm")
	} else if err := dpop.CheckAlgorithms(c.DPoP.Algorithms); err != nil {
		p.add("dpop.algorithms", "%s", strings.TrimPrefix(err.Error(), "dpop: "))
	}
	// §11.1: a proof is remembered for its lifetime; a short one bounds the
	// replay cache, a long one lets a stolen proof be used longer.
	if l := c.DPoP.ProofLifetime; l < 10*time.Second || l > 10*time.Minute {
		p.add("dpop.proof_lifetime", "must be between 10s and 10m, got %s", l)
	}
	if l := c.DPoP.NonceLifetime; l < 30*time.Second || l > time.Hour {
		p.add("dpop.nonce_lifetime", "must be between 30s and 1h, got %s", l)
	}

	if k := c.Keys; k.RotationInterval < time.Hour || k.RotationInterval > 5*365*24*time.Hour {
		p.add("keys.rotation_interval", "must be between 1h and 5 years, got %s", k.RotationInterval)
	} else if k.JWKSCacheTTL < time.Minute || k.JWKSCacheTTL > 24*time.Hour || 2*k.JWKSCacheTTL >= k.RotationInterval {
		p.add("keys.jwks_cache_ttl", "must be between 1m and 24h and less than half of keys.rotation_interval, got %s", k.JWKSCacheTTL)
	}
	if b := c.Keys.RSABits; b != 2048 && b != 3072 {
		p.add("keys.rsa_bits", "must be 2048 or 3072, got %d", b)
	}
	p.add("access_tokens.format", "%s", checkEnum(c.AccessTokens.Format, []string{"opaque", "jwt"}))
	p.add("access_tokens.signing_alg", "%s", checkEnum(c.AccessTokens.SigningAlg, []string{"RS256", "ES256"}))

	c.validateSMTP(&p)
	c.validateBranding(&p)
	c.validateIDJAG(&p)
	if c.Signup.Enabled {
		switch {
		case !c.SMTP.Enabled() && !c.Dev:
			p.add("signup.enabled", "needs e-mail: set smtp.host (sign-up confirms the address by e-mail)")
		case !c.Login.Password:
			p.add("signup.enabled", "needs password sign-in (login.password)")
		}
	}
	for i, d := range c.Signup.AllowedDomains {
		if d == "" || strings.ContainsAny(d, "@ /") || d != strings.ToLower(d) {
			p.add(fmt.Sprintf("signup.allowed_domains[%d]", i), "must be a lower-case domain name such as example.com, got %q", d)
		}
	}

	p.add("log.level", "%s", checkEnum(c.Log.Level, logLevels))
	p.add("log.format", "%s", checkEnum(c.Log.Format, logFormats))
	if n := c.Database.MaxOpenConns; n < 1 || n > MaxOpenConnsLimit {
		p.add("database.max_open_conns", "must be between 1 and %d, got %d", MaxOpenConnsLimit, n)
	}

	if l := c.Login; l.MaxFailures < 1 || l.MaxFailures > 100 {
		p.add("login.max_failures", "must be between 1 and 100, got %d", l.MaxFailures)
	}
	if l := c.Login; l.Lockout < time.Second || l.Lockout > 24*time.Hour {
		p.add("login.lockout", "must be between 1s and 24h, got %s", l.Lockout)
	} else if l.MaxLockout < l.Lockout || l.MaxLockout > 7*24*time.Hour {
		p.add("login.max_lockout", "must be between login.lockout (%s) and 168h, got %s", l.Lockout, l.MaxLockout)
	}
	if d := c.ClientIDMetadataDocuments; d.MinCacheTTL < time.Second || d.MaxCacheTTL < d.MinCacheTTL || d.MaxCacheTTL > 7*24*time.Hour {
		p.add("client_id_metadata_documents.min_cache_ttl", "must be at least 1s and at most max_cache_ttl (at most 168h), got %s and %s", d.MinCacheTTL, d.MaxCacheTTL)
	}
	if d := c.ClientIDMetadataDocuments; d.StaleFor < 0 || d.StaleFor > 7*24*time.Hour {
		p.add("client_id_metadata_documents.stale_for", "must be between 0 and 168h, got %s", d.StaleFor)
	}
	if c.ClientIDMetadataDocuments.AllowHTTPLoopback && !c.HTTPClient.AllowPrivateNetworks {
		p.add("client_id_metadata_documents.allow_http_loopback", "needs http_client.allow_private_networks (a loopback document is on a private address)")
	}
	if n := c.ClientIDMetadataDocuments.MaxDocumentBytes; n < 512 || n > 64<<10 {
		p.add("client_id_metadata_documents.max_document_bytes", "must be between 512 and 65536, got %d", n)
	}
	for _, sc := range c.ClientIDMetadataDocuments.Scopes {
		// A client nobody registered never manages gatehouse.
		if strings.HasPrefix(sc, "gatehouse:") || sc == "apikeys" {
			p.add("client_id_metadata_documents.scopes", "%q manages gatehouse and is reserved for registered first-party clients", sc)
		}
	}
	for _, sc := range c.Registration.PublicScopes {
		if strings.HasPrefix(sc, "gatehouse:") || sc == "apikeys" {
			p.add("registration.public_scopes", "%q manages gatehouse and is reserved for registered first-party clients", sc)
		}
	}
	for _, r := range c.Registration.PublicResources {
		if u, err := url.Parse(r); err != nil || !u.IsAbs() || u.Fragment != "" || strings.Contains(r, "#") {
			p.add("registration.public_resources", "%q must be an absolute URI without a fragment (RFC 8707 §2)", r)
		}
	}
	if c.Registration.UnusedClientLifetime < 0 {
		p.add("registration.unused_client_lifetime", "must not be negative, got %s", c.Registration.UnusedClientLifetime)
	}
	for _, r := range c.ClientIDMetadataDocuments.Resources {
		if u, err := url.Parse(r); err != nil || !u.IsAbs() || u.Fragment != "" || strings.Contains(r, "#") {
			p.add("client_id_metadata_documents.resources", "%q must be an absolute URI without a fragment (RFC 8707 §2)", r)
		}
	}
	p.add("login.mfa_enrolment", "%s", checkEnum(c.Login.MFAEnrolment, []string{MFAEnrolmentEmail, MFAEnrolmentFirstUse}))
	if l := c.Login; l.FailureReset < time.Minute {
		p.add("login.failure_reset", "must be at least 1m, got %s", l.FailureReset)
	}
	for name, l := range map[string]Limit{
		"rate_limits.per_ip": c.RateLimits.PerIP, "rate_limits.per_client": c.RateLimits.PerClient,
		"rate_limits.login_per_ip": c.RateLimits.LoginPerIP,
	} {
		if l.Rate < 1 || l.Burst < 1 || l.Period < time.Millisecond {
			p.add(name, "rate and burst must be at least 1 and period at least 1ms, got rate %d, burst %d, period %s", l.Rate, l.Burst, l.Period)
		}
	}
	if c.RedisURL != "" {
		if u, err := url.Parse(c.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			p.add("redis_url", "must be a redis:// or rediss:// URL with a host")
		}
	}
	for i, cidr := range c.TrustedProxies {
		if _, _, err := net.ParseCIDR(cidr); err != nil {
			if net.ParseIP(cidr) == nil {
				p.add(fmt.Sprintf("trusted_proxies[%d]", i), "must be an IP address or a CIDR range, got %q", cidr)
			}
		}
	}
	if i := c.Audit.SummaryInterval; i < 100*time.Millisecond || i > time.Hour {
		p.add("audit.summary_interval", "must be between 100ms and 1h, got %s", i)
	}
	if c.Audit.Retention < 0 {
		p.add("audit.retention", "must not be negative (0 keeps events forever), got %s", c.Audit.Retention)
	}
	if i := c.Janitor.Interval; i < time.Second || i > 24*time.Hour {
		p.add("janitor.interval", "must be between 1s and 24h, got %s", i)
	}
	if c.Janitor.DeadMailRetention < 0 {
		p.add("janitor.dead_mail_retention", "must not be negative (0 keeps dead letters until deleted), got %s", c.Janitor.DeadMailRetention)
	}

	return errors.Join(p...)
}

type problems []error

// add records a problem with setting; an empty message means no problem, which
// lets the check helpers below return "" when a value is fine.
func (p *problems) add(setting, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if msg == "" {
		return
	}
	*p = append(*p, fmt.Errorf("%s: %s", setting, msg))
}

// checkURL accepts an absolute http(s) URL without query, fragment or user
// info; plain http only for loopback hosts, so tokens never cross a network in
// clear.
func checkURL(raw string) string {
	const bad = "must be an absolute http(s) URL without query or fragment"
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" ||
		u.Opaque != "" || u.User != nil || strings.ContainsAny(raw, "?#") {
		return fmt.Sprintf("%s, got %q", bad, raw)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return fmt.Sprintf("plain http is allowed only for loopback hosts (localhost, 127.0.0.0/8, ::1); use https, got %q", raw)
	}
	return ""
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func checkHostPort(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("must be host:port (e.g. 127.0.0.1:8080), got %q", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Sprintf("port must be a number between 0 and 65535, got %q", port)
	}
	return ""
}

// checkLifespan requires d > 0 and, when limit > 0, d <= limit.
func checkLifespan(d, limit time.Duration) string {
	switch {
	case d <= 0:
		return fmt.Sprintf("must be positive, got %s", d)
	case limit > 0 && d > limit:
		return fmt.Sprintf("must be at most %s, got %s", limit, d)
	}
	return ""
}

func checkEnum(v string, allowed []string) string {
	for _, a := range allowed {
		if v == a {
			return ""
		}
	}
	return fmt.Sprintf("must be one of %s, got %q", strings.Join(allowed, ", "), v)
}

// Redacted returns a copy of c that is safe to log: secrets are replaced by
// "REDACTED" and a password inside a postgres DSN is hidden.
func (c Config) Redacted() Config {
	if c.Secret != "" {
		c.Secret = redacted
	}
	if c.OldSecrets != nil {
		old := make([]string, len(c.OldSecrets))
		for i, s := range c.OldSecrets {
			if s != "" {
				old[i] = redacted
			}
		}
		c.OldSecrets = old
	}
	if c.Google.ClientSecret != "" {
		c.Google.ClientSecret = redacted
	}
	if c.SMTP.Password != "" {
		c.SMTP.Password = redacted
	}
	if c.Upstreams != nil {
		ups := make([]Upstream, len(c.Upstreams))
		for i, u := range c.Upstreams {
			if u.ClientSecret != "" {
				u.ClientSecret = redacted
			}
			ups[i] = u
		}
		c.Upstreams = ups
	}
	if c.IsPostgres() {
		c.DSN = redactDSN(c.DSN)
	}
	if c.RedisURL != "" {
		c.RedisURL = redactDSN(c.RedisURL)
	}
	return c
}

func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return redacted // cannot tell where a password might be
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), redacted)
	}
	q := u.Query()
	changed := false
	for _, name := range []string{"password", "sslpassword"} {
		if q.Has(name) {
			q.Set(name, redacted)
			changed = true
		}
	}
	if changed {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// SQLitePath returns the file path of a sqlite:// DSN: everything after the
// scheme, verbatim (sqlite:///abs/x.db -> /abs/x.db, sqlite://data/x.db ->
// data/x.db). ok is false for any other DSN.
func (c Config) SQLitePath() (path string, ok bool) {
	path, ok = strings.CutPrefix(c.DSN, "sqlite://")
	if !ok || path == "" {
		return "", false
	}
	return path, true
}

// IsPostgres reports whether the DSN names a PostgreSQL database.
func (c Config) IsPostgres() bool {
	return strings.HasPrefix(c.DSN, "postgres://") || strings.HasPrefix(c.DSN, "postgresql://")
}

// validateSMTP checks the mail server settings; with no host the others
// must be unset or at their defaults (a half-configured server would
// silently send nothing).
func (c Config) validateSMTP(p *problems) {
	s := c.SMTP
	if !s.Enabled() {
		if s.From != "" || s.Username != "" || s.Password != "" {
			p.add("smtp.host", "is required when smtp.from, smtp.username or smtp.password is set")
		}
		return
	}
	if strings.ContainsAny(s.Host, " /:@") {
		p.add("smtp.host", "must be a host name or IP address without port, got %q", s.Host)
	}
	if s.Port < 1 || s.Port > 65535 {
		p.add("smtp.port", "must be between 1 and 65535, got %d", s.Port)
	}
	if a, err := mail.ParseAddress(s.From); s.From == "" || err != nil || a.Name != "" {
		p.add("smtp.from", "must be a bare e-mail address such as noreply@id.example.com (the display name is smtp.from_name), got %q", s.From)
	}
	if strings.ContainsAny(s.FromName, "\r\n") || len(s.FromName) > 100 {
		p.add("smtp.from_name", "must be one line of at most 100 bytes")
	}
	if (s.Username == "") != (s.Password == "") {
		p.add("smtp.username", "smtp.username and smtp.password must be set together")
	}
	if msg := checkEnum(s.TLS, []string{SMTPTLSStartTLS, SMTPTLSImplicit, SMTPTLSNone}); msg != "" {
		p.add("smtp.tls", "%s", msg)
	} else if s.TLS == SMTPTLSNone && !isLoopback(s.Host) {
		// The messages carry single-use links and the password goes in
		// AUTH: in clear only to a relay on this machine.
		p.add("smtp.tls", "none is allowed only for a loopback host (localhost, 127.0.0.0/8, ::1), got %q", s.Host)
	}
	if s.Timeout < time.Second || s.Timeout > 5*time.Minute {
		p.add("smtp.timeout", "must be between 1s and 5m, got %s", s.Timeout)
	}
}
