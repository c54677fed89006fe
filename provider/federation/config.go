package federation

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// GoogleIssuer is Google's OpenID Connect issuer.
const GoogleIssuer = "https://accounts.google.com"

// defaultScopes are requested when an upstream configures none.
var defaultScopes = []string{"openid", "email", "profile"}

// upstreamID is the syntax of an upstream id; it appears in URLs
// (/login/<id>/callback). The same rule as config's upstreams[].id.
var upstreamID = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// domainName is a loose DNS name check for e-mail domains and Google hd.
var domainName = regexp.MustCompile(`^(?i)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$`)

// UpstreamConfig is one upstream OpenID Connect identity provider.
//
// Its String, GoString and LogValue methods hide ClientSecret, so printing
// or logging a config does not leak it.
type UpstreamConfig struct {
	// ID names the upstream in URLs (/login/<id>/callback) and in the
	// federated identities stored for it: 1 to 32 lowercase letters,
	// digits and dashes, not starting with a dash.
	ID string
	// Name labels the sign-in button ("Continue with <Name>").
	Name string
	// Issuer is the upstream's issuer URL; discovery reads
	// Issuer + "/.well-known/openid-configuration".
	Issuer       string
	ClientID     string
	ClientSecret string
	// Scopes requested; default defaultScopes. Must include openid.
	Scopes []string
	// AllowedDomains, when set, admits only verified e-mail addresses of
	// these domains (compared case-insensitively). Empty admits any.
	AllowedDomains []string
	// HostedDomain is Google's Workspace domain: sent as hd= and required
	// to equal the ID token's hd claim.
	HostedDomain string
	// AllowSignup lets a first sign-in create a gatehouse account. The
	// Manager does not act on it; the sign-in handler does (see Info).
	AllowSignup bool
}

// Google returns the preset for Google: id "google", name "Google", scopes
// openid email profile. issuer "" means GoogleIssuer (tests point it at a
// fake issuer).
func Google(clientID, clientSecret, issuer string) UpstreamConfig {
	if issuer == "" {
		issuer = GoogleIssuer
	}
	return UpstreamConfig{
		ID:           "google",
		Name:         "Google",
		Issuer:       issuer,
		ClientID:     clientID,
		ClientSecret: clientSecret,
		Scopes:       slices.Clone(defaultScopes),
	}
}

// Validate returns nil or an error listing every problem of c, one per
// line, each prefixed with the upstream's id.
func (c UpstreamConfig) Validate() error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("upstream %q: "+format, append([]any{c.ID}, args...)...))
	}
	if !upstreamID.MatchString(c.ID) {
		add("id must be 1 to 32 lowercase letters, digits or dashes, not starting with a dash")
	}
	if strings.TrimSpace(c.Name) == "" {
		add("name is required (it labels the sign-in button)")
	}
	if msg := checkIssuer(c.Issuer); msg != "" {
		add("issuer %s", msg)
	}
	if c.ClientID == "" {
		add("client_id is required")
	}
	if c.ClientSecret == "" {
		add("client_secret is required")
	}
	if len(c.Scopes) > 0 {
		if !slices.Contains(c.Scopes, "openid") {
			add("scopes must include openid, got %q", strings.Join(c.Scopes, " "))
		}
		for _, s := range c.Scopes {
			if !validScopeToken(s) {
				add("scope %q is not a valid scope token", s)
			}
		}
	}
	for _, d := range c.AllowedDomains {
		if !domainName.MatchString(d) {
			add("allowed_domains: %q is not a domain name (write example.com, not @example.com or a URL)", d)
		}
	}
	if c.HostedDomain != "" && !domainName.MatchString(c.HostedDomain) {
		add("hosted_domain: %q is not a domain name", c.HostedDomain)
	}
	return errors.Join(errs...)
}

// checkIssuer returns "" when raw is an absolute https URL (or http on a
// loopback host) without query, fragment or user info, else the problem.
func checkIssuer(raw string) string {
	if raw == "" {
		return "is required"
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Opaque != "" || u.Hostname() == "" {
		return fmt.Sprintf("must be an absolute https URL, got %q", raw)
	}
	if u.User != nil || strings.ContainsAny(raw, "?#") {
		return fmt.Sprintf("must not have user info, a query or a fragment, got %q", raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return fmt.Sprintf("must use https (plain http is allowed only for loopback hosts: localhost, 127.0.0.0/8, ::1), got %q", raw)
		}
	default:
		return fmt.Sprintf("must be an absolute https URL, got %q", raw)
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

// validScopeToken is RFC 6749's scope-token: 1*( %x21 / %x23-5B / %x5D-7E ).
func validScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b < 0x21 || b > 0x7e || b == '"' || b == '\\' {
			return false
		}
	}
	return true
}

// scopes returns the scopes to request.
func (c UpstreamConfig) scopes() []string {
	if len(c.Scopes) == 0 {
		return slices.Clone(defaultScopes)
	}
	return slices.Clone(c.Scopes)
}

// redacted replaces secrets in String, GoString and LogValue.
const redacted = "[REDACTED]"

func (c UpstreamConfig) safe() upstreamConfigNoSecret {
	s := upstreamConfigNoSecret(c)
	if s.ClientSecret != "" {
		s.ClientSecret = redacted
	}
	return s
}

// upstreamConfigNoSecret has UpstreamConfig's fields without its methods,
// so that formatting it does not recurse.
type upstreamConfigNoSecret UpstreamConfig

// String formats c with the client secret hidden.
func (c UpstreamConfig) String() string { return fmt.Sprintf("%+v", c.safe()) }

// GoString formats c for %#v with the client secret hidden.
func (c UpstreamConfig) GoString() string {
	return fmt.Sprintf("federation.UpstreamConfig%+v", c.safe())
}

// LogValue logs c with the client secret hidden.
func (c UpstreamConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", c.ID),
		slog.String("name", c.Name),
		slog.String("issuer", c.Issuer),
		slog.String("client_id", c.ClientID),
		slog.String("client_secret", c.safe().ClientSecret),
		slog.Any("scopes", c.scopes()),
		slog.Any("allowed_domains", c.AllowedDomains),
		slog.String("hosted_domain", c.HostedDomain),
		slog.Bool("allow_signup", c.AllowSignup),
	)
}
