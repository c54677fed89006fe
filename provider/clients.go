package provider

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-dev/gatehouse/provider/keys"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// Grant types a client may register.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
)

// Token endpoint authentication methods a client may register.
const (
	AuthMethodBasic = "client_secret_basic"
	AuthMethodPost  = "client_secret_post"
	AuthMethodNone  = "none"
)

// ClientSpec is a client registration as an operator (CLI) or, later, a
// registration request describes it.
type ClientSpec struct {
	Name                     string
	GrantTypes               []string
	RedirectURIs             []string
	PostLogoutRedirectURIs   []string
	Scopes                   []string
	Audience                 []string
	Public                   bool
	TokenEndpointAuthMethod  string
	IDTokenSignedResponseAlg string
	SkipConsent              bool
	AllowedOrigins           []string
}

// DefaultUserScopes are given to clients that sign users in and name no
// scopes of their own.
var DefaultUserScopes = []string{ScopeOpenID, ScopeProfile, ScopeEmail, ScopeOfflineAccess}

// BuildClient validates spec, fills defaults, generates the client id and
// (for confidential clients) the secret, and returns the client to store
// with the secret to show once. Every problem is reported at once.
func BuildClient(spec ClientSpec, hasher *secret.Hasher, now time.Time) (*storage.Client, string, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	name := strings.TrimSpace(spec.Name)
	if name == "" || len(name) > 200 {
		bad("name: required, at most 200 characters")
	}
	grants := dedupe(spec.GrantTypes)
	if len(grants) == 0 {
		if len(spec.RedirectURIs) > 0 || spec.Public {
			grants = []string{GrantAuthorizationCode, GrantRefreshToken}
		} else {
			grants = []string{GrantClientCredentials}
		}
	}
	for _, g := range grants {
		if g != GrantAuthorizationCode && g != GrantRefreshToken && g != GrantClientCredentials {
			bad("grant_types: %q is not supported (authorization_code, refresh_token, client_credentials)", g)
		}
	}
	hasCode := slices.Contains(grants, GrantAuthorizationCode)
	if slices.Contains(grants, GrantRefreshToken) && !hasCode {
		bad("grant_types: refresh_token needs authorization_code")
	}
	if spec.Public && slices.Contains(grants, GrantClientCredentials) {
		bad("grant_types: a public client cannot use client_credentials (it has no secret)")
	}
	if hasCode && len(spec.RedirectURIs) == 0 {
		bad("redirect_uris: authorization_code needs at least one redirect URI")
	}
	if !hasCode && len(spec.RedirectURIs) > 0 {
		bad("redirect_uris: only clients with the authorization_code grant use redirect URIs")
	}
	for _, u := range spec.RedirectURIs {
		if err := checkRedirectURI(u); err != nil {
			bad("redirect_uris: %v", err)
		}
	}
	for _, u := range spec.PostLogoutRedirectURIs {
		if err := checkRedirectURI(u); err != nil {
			bad("post_logout_redirect_uris: %v", err)
		}
	}
	method := spec.TokenEndpointAuthMethod
	switch {
	case spec.Public && (method == "" || method == AuthMethodNone):
		method = AuthMethodNone
	case spec.Public:
		bad("token_endpoint_auth_method: a public client uses none, not %q", method)
	case method == "":
		method = AuthMethodBasic
	case method != AuthMethodBasic && method != AuthMethodPost:
		bad("token_endpoint_auth_method: %q is not supported for a confidential client (client_secret_basic, client_secret_post)", method)
	}
	scopes := dedupe(spec.Scopes)
	if len(scopes) == 0 && hasCode {
		scopes = slices.Clone(DefaultUserScopes)
	}
	for _, s := range scopes {
		if !validScopeToken(s) {
			bad("scope: %q is not a valid scope token", s)
		}
	}
	for _, a := range spec.Audience {
		if !validScopeToken(a) {
			bad("audience: %q is not valid (no spaces or quotes)", a)
		}
	}
	alg := spec.IDTokenSignedResponseAlg
	if alg != "" && !slices.Contains(keys.Algorithms, alg) {
		bad("id_token_signed_response_alg: %q is not supported (%s)", alg, strings.Join(keys.Algorithms, ", "))
	}
	for _, o := range spec.AllowedOrigins {
		if err := checkOrigin(o); err != nil {
			bad("allowed_origins: %v", err)
		}
	}
	if len(errs) > 0 {
		return nil, "", errors.Join(errs...)
	}

	c := &storage.Client{
		ID:                       uuid.NewString(),
		Name:                     name,
		RedirectURIs:             nonNil(spec.RedirectURIs),
		PostLogoutRedirectURIs:   nonNil(spec.PostLogoutRedirectURIs),
		GrantTypes:               grants,
		ResponseTypes:            []string{},
		Scopes:                   nonNil(scopes),
		Audience:                 nonNil(dedupe(spec.Audience)),
		Public:                   spec.Public,
		TokenEndpointAuthMethod:  method,
		IDTokenSignedResponseAlg: alg,
		SkipConsent:              spec.SkipConsent,
		AllowedOrigins:           nonNil(spec.AllowedOrigins),
		CreatedAt:                now.UTC(),
		UpdatedAt:                now.UTC(),
	}
	if hasCode {
		c.ResponseTypes = []string{"code"}
	}
	var plain string
	if !spec.Public {
		var err error
		if plain, err = secret.NewOpaque(secret.PrefixClientSecret); err != nil {
			return nil, "", err
		}
		c.SecretHash = hasher.HashString(plain)
	}
	return c, plain, nil
}

// checkRedirectURI enforces RFC 9700 §4.1: absolute, exact (no wildcard),
// no fragment, https — or http only on a loopback host (native apps and
// development).
func checkRedirectURI(raw string) error {
	if len(raw) > 2000 {
		return fmt.Errorf("%q is longer than 2000 characters", raw[:40]+"...")
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", raw)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Errorf("%q has a fragment", raw)
	}
	if strings.Contains(raw, "*") {
		return fmt.Errorf("%q has a wildcard; redirect URIs match exactly", raw)
	}
	if u.User != nil {
		return fmt.Errorf("%q carries credentials", raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return fmt.Errorf("%q uses http on a non-loopback host; use https", raw)
		}
	default:
		return fmt.Errorf("%q: scheme must be https (or http on loopback)", raw)
	}
	return nil
}

func checkOrigin(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q is not an origin (scheme://host[:port])", raw)
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())) {
		return fmt.Errorf("%q: origin must be https (or http on loopback)", raw)
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

// validScopeToken follows RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B /
// %x5D-7E ), bounded in length.
func validScopeToken(s string) bool {
	if s == "" || len(s) > 200 {
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

func dedupe(in []string) []string {
	var out []string
	for _, s := range in {
		s = strings.TrimSpace(s)
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// UserSpec describes a person to create.
type UserSpec struct {
	Email    string
	Password string
	Name     string
	Roles    []string
}

// MinPasswordLen is the shortest password accepted (NIST SP 800-63B).
const MinPasswordLen = 8

// BuildUser validates spec and returns the user to store, with the
// password hashed (argon2id).
func BuildUser(spec UserSpec, now time.Time) (*storage.User, error) {
	var errs []error
	addr, err := mail.ParseAddress(spec.Email)
	if err != nil || addr.Address != strings.TrimSpace(spec.Email) || len(spec.Email) > 320 {
		errs = append(errs, fmt.Errorf("email: %q is not a valid address", spec.Email))
	}
	if len(spec.Password) < MinPasswordLen || len(spec.Password) > secret.MaxPasswordLen {
		errs = append(errs, fmt.Errorf("password: must be %d to %d characters", MinPasswordLen, secret.MaxPasswordLen))
	}
	if len(spec.Name) > 200 {
		errs = append(errs, errors.New("name: at most 200 characters"))
	}
	roles := dedupe(spec.Roles)
	for _, r := range roles {
		if !validScopeToken(r) {
			errs = append(errs, fmt.Errorf("role: %q is not valid (no spaces or quotes)", r))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	hash, err := secret.HashPassword(spec.Password)
	if err != nil {
		return nil, err
	}
	return &storage.User{
		ID:            uuid.NewString(),
		Email:         strings.ToLower(addr.Address),
		EmailVerified: false,
		Name:          strings.TrimSpace(spec.Name),
		PasswordHash:  hash,
		Roles:         nonNil(roles),
		CreatedAt:     now.UTC(),
		UpdatedAt:     now.UTC(),
	}, nil
}
