package resourceserver

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/provider/dpop"
)

// Authenticator checks the access tokens of requests to one resource. It
// is safe for concurrent use.
type Authenticator struct {
	opts    Options
	keys    keyCache
	answers answerCache
	meta    []byte // the resource metadata document
	metaURL string
	dpop    *dpop.Verifier
	origin  string // Resource's scheme and host, for a proof's htu
}

// New makes an Authenticator. It fetches nothing: the authorization
// server's metadata and keys are fetched when the first token needs them.
func New(opts Options) (*Authenticator, error) {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	opts.ScopesSupported = slices.Clone(opts.ScopesSupported)
	opts.RequiredScopes = slices.Clone(opts.RequiredScopes)
	opts.DPoPAlgs = slices.Clone(opts.DPoPAlgs)
	a := &Authenticator{opts: opts, origin: origin(opts.Resource)}
	a.dpop = &dpop.Verifier{
		Algs:         opts.DPoPAlgs,
		Replay:       opts.DPoPReplay,
		Nonces:       opts.DPoPNonces,
		RequireNonce: opts.DPoPNonces != nil,
		Now:          opts.Clock,
	}
	a.answers.max = opts.IntrospectionCacheSize
	if opts.IntrospectionCacheTTL < 0 {
		a.answers.max = 0
	}
	a.answers.entries = make(map[[sha256.Size]byte]cachedAnswer)
	var err error
	if a.meta, err = a.metadataDocument(); err != nil {
		return nil, err
	}
	a.metaURL = ResourceMetadataURL(opts.Resource)
	return a, nil
}

// How a principal's token was checked.
const (
	ViaJWT           = "jwt"
	ViaIntrospection = "introspection"
	ViaAPIKey        = "api_key"
)

// Principal is the caller a token stands for.
type Principal struct {
	// Subject is the token's sub: a person's id, or the client's own id
	// for a client_credentials token or an API key.
	Subject string
	// ClientID is the client the token was issued to.
	ClientID string
	Scopes   []string
	// Roles are the token's "roles", when the authorization server puts
	// them in the access token or its introspection answer.
	Roles    []string
	Audience []string
	Issuer   string
	// Expiry is when the token expires; zero for an API key without one.
	Expiry time.Time
	// Via is how the token was checked: ViaJWT, ViaIntrospection or
	// ViaAPIKey.
	Via string
	// JKT is the thumbprint of the key the token is bound to (its cnf.jkt,
	// RFC 9449 §6); empty for a bearer token. Behind Middleware the caller
	// has proved it holds that key for this request.
	JKT string
}

// IsAPIKey reports whether the caller presented an API key.
func (p *Principal) IsAPIKey() bool { return p.Via == ViaAPIKey }

// HasScope reports whether the token was granted scope.
func (p *Principal) HasScope(scope string) bool { return slices.Contains(p.Scopes, scope) }

// HasRole reports whether the token carries role.
func (p *Principal) HasRole(role string) bool { return slices.Contains(p.Roles, role) }

func (p *Principal) clone() *Principal {
	c := *p
	c.Scopes = slices.Clone(p.Scopes)
	c.Roles = slices.Clone(p.Roles)
	c.Audience = slices.Clone(p.Audience)
	return &c
}

type principalKey struct{}

// FromContext returns the principal Middleware put in the request's
// context.
func FromContext(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*Principal)
	return p, ok
}

// NewContext returns ctx carrying p (for tests of handlers behind the
// middleware).
func NewContext(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// Verify checks a token (an access token, or an API key when APIKeys is
// set) as Middleware does, without the scopes and without a DPoP proof:
// a principal with a JKT stands for a DPoP-bound token, which its
// presenter must prove to hold the key of (Middleware does; outside HTTP,
// check a proof with a dpop.Verifier). Its errors wrap ErrInvalidToken or
// ErrUnavailable; their text is for logs, not callers.
func (a *Authenticator) Verify(ctx context.Context, token string) (*Principal, error) {
	return a.verify(ctx, &credential{token: token, apiKey: strings.HasPrefix(token, apiKeyPrefix)})
}

func (a *Authenticator) verify(ctx context.Context, c *credential) (*Principal, error) {
	if len(c.token) > maxTokenBytes {
		return nil, invalid("token over %d bytes", maxTokenBytes)
	}
	var p *Principal
	var err error
	switch {
	case c.apiKey:
		p, err = a.introspect(ctx, c.token, true)
	case looksLikeJWT(c.token):
		p, err = a.verifyJWT(ctx, c.token)
	default:
		p, err = a.introspect(ctx, c.token, false)
	}
	if err != nil {
		return nil, err
	}
	return p.clone(), nil
}

// Forget drops the cached introspection answer of token (an opaque access
// token or an API key): the next request with it is checked again. Call it
// when the authorization server tells you a key or token was revoked.
func (a *Authenticator) Forget(token string) {
	a.answers.forget(sha256.Sum256([]byte(token)))
}

// Middleware authenticates every request: a request without a good token
// (and, for a DPoP-bound token, a good proof), or whose token lacks
// Options.RequiredScopes, is refused (401 / 403 with the RFC 6750 §3 and
// RFC 9449 §7.1 challenges); otherwise the principal is in the request's
// context (FromContext) for next.
func (a *Authenticator) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := a.authenticate(w, r)
		if !ok {
			return
		}
		if missing := missingScopes(p, a.opts.RequiredScopes); len(missing) > 0 {
			a.refuseScope(w, r, p, a.opts.RequiredScopes)
			return
		}
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), p)))
	})
}

// authenticate checks the credential of r and returns its principal, or
// answers the refusal itself.
func (a *Authenticator) authenticate(w http.ResponseWriter, r *http.Request) (*Principal, bool) {
	ctx := r.Context()
	c, used, errCode := credentialOf(r)
	if used == schemeDPoP && a.dpop.Nonces != nil {
		// RFC 9449 §8, §9: a nonce may come with any answer; on every
		// answer to a DPoP request, the client always holds a fresh one.
		w.Header().Set(dpop.NonceHeader, a.dpop.Nonces.Current(a.opts.Clock()))
	}
	switch {
	case errCode == errInvalidRequest:
		// RFC 6750 §3.1: invalid_request is 400.
		writeRefusal(w, http.StatusBadRequest, errCode, a.challenges(used, errCode, a.opts.RequiredScopes))
		return nil, false
	case errCode != "":
		writeRefusal(w, http.StatusUnauthorized, errCode, a.challenges(used, errCode, a.opts.RequiredScopes))
		return nil, false
	case c == nil:
		// RFC 6750 §3.1: no error code when the request had no
		// credentials; the challenges say where to get them (RFC 9728
		// §5.1) and how to present them.
		writeRefusal(w, http.StatusUnauthorized, "", a.challenges("", "", a.opts.RequiredScopes))
		return nil, false
	case a.opts.RequireDPoP && !c.dpop:
		// Refused before anything is asked about the token: only a
		// DPoP-bound token, with the DPoP scheme, can pass.
		a.opts.Logger.InfoContext(ctx, "resourceserver: token refused", "error", "a bearer token, and DPoP is required")
		writeRefusal(w, http.StatusUnauthorized, errInvalidToken, a.challenges(used, errInvalidToken, a.opts.RequiredScopes))
		return nil, false
	}
	p, err := a.verify(ctx, c)
	if err == nil {
		err = a.checkSender(ctx, r, c, p)
	}
	var proofErr *dpop.Error
	switch {
	case err == nil:
		return p, true
	case errors.As(err, &proofErr):
		a.opts.Logger.InfoContext(ctx, "resourceserver: DPoP proof refused", "error", err)
		writeRefusal(w, http.StatusUnauthorized, proofErr.Code, a.challenges(schemeDPoP, proofErr.Code, a.opts.RequiredScopes))
	case isInvalid(err):
		a.opts.Logger.InfoContext(ctx, "resourceserver: token refused", "error", err)
		writeRefusal(w, http.StatusUnauthorized, errInvalidToken, a.challenges(used, errInvalidToken, a.opts.RequiredScopes))
	default:
		// ErrUnavailable, or the DPoP replay cache failing (full, or
		// unreachable): the token may well be good.
		a.opts.Logger.ErrorContext(ctx, "resourceserver: cannot check a token", "error", err)
		writeRefusal(w, http.StatusServiceUnavailable, errTemporarilyUnavailable, nil)
	}
	return nil, false
}

// RequireScopes wraps a handler behind Middleware so that it needs scopes
// as well: a token without all of them is refused with 403
// insufficient_scope naming them (RFC 6750 §3.1; the MCP specification's
// step-up authorization).
func (a *Authenticator) RequireScopes(scopes ...string) func(http.Handler) http.Handler {
	scopes = slices.Clone(scopes)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, ok := FromContext(r.Context())
			if !ok {
				// Not behind Middleware: nobody was authenticated.
				writeRefusal(w, http.StatusUnauthorized, "", a.challenges("", "", scopes))
				return
			}
			if len(missingScopes(p, scopes)) > 0 {
				a.refuseScope(w, r, p, scopes)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// RequireRole wraps a handler behind Middleware so that it needs the
// caller to have role. A role is not something a client can ask for in a
// new token, so the refusal is a plain 403 access_denied without a
// challenge.
func (a *Authenticator) RequireRole(role string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, ok := FromContext(r.Context())
			if !ok {
				writeRefusal(w, http.StatusUnauthorized, "", a.challenges("", "", a.opts.RequiredScopes))
				return
			}
			if !p.HasRole(role) {
				a.opts.Logger.InfoContext(r.Context(), "resourceserver: caller lacks a role", "role", role, "sub", p.Subject)
				writeRefusal(w, http.StatusForbidden, errAccessDenied, nil)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// refuseScope answers 403 insufficient_scope. The challenge's scope is
// what the request needs — the MCP specification (2025-11-25, "Scope
// Challenge Handling") lets a client ask for a new token with it; the
// resource's RequiredScopes are added, so that the new token still passes
// Middleware.
func (a *Authenticator) refuseScope(w http.ResponseWriter, r *http.Request, p *Principal, needed []string) {
	a.opts.Logger.InfoContext(r.Context(), "resourceserver: token lacks scope", "needed", needed, "sub", p.Subject)
	scopes := slices.Clone(needed)
	for _, s := range a.opts.RequiredScopes {
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	// The error goes on the challenge of the scheme the token was
	// presented with: DPoP for a bound token, which passed no other way.
	used := schemeBearer
	if p.JKT != "" {
		used = schemeDPoP
	}
	writeRefusal(w, http.StatusForbidden, errInsufficientScope, a.challenges(used, errInsufficientScope, scopes))
}

func missingScopes(p *Principal, needed []string) []string {
	var missing []string
	for _, s := range needed {
		if !p.HasScope(s) {
			missing = append(missing, s)
		}
	}
	return missing
}
