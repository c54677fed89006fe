package provider

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/ory/fosite"

	"github.com/gatehouse-dev/gatehouse/internal/reqctx"
	"github.com/gatehouse-dev/gatehouse/provider/apikey"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// authenticateAPIKeys wraps fosite's client authentication: a request whose
// client secret (HTTP Basic or client_secret_post) is an API key is checked
// here; everything else goes to next. Keys authenticate only
// client_credentials token requests and revocation; everywhere else a key
// is refused like a wrong secret.
func (p *Provider) authenticateAPIKeys(next fosite.ClientAuthenticationStrategy) fosite.ClientAuthenticationStrategy {
	return func(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
		clientID, presented, ok := presentedSecret(r, form)
		if !ok || !apikey.LooksLikeKey(presented) {
			return next(ctx, r, form)
		}
		usable := r.URL.Path == PathRevoke ||
			(r.URL.Path == PathToken && form.Get("grant_type") == GrantClientCredentials)
		if !usable {
			p.auditKeyFailure(ctx, r, clientID, "", "used outside client_credentials")
			return nil, fosite.ErrInvalidClient.WithHint("API keys authenticate client_credentials token requests only.")
		}
		key, err := p.apikeys.Verify(ctx, clientID, presented)
		if err != nil {
			var f *apikey.Failure
			switch {
			case errors.As(err, &f):
				p.auditKeyFailure(ctx, r, clientID, f.KeyID, f.Reason)
			case errors.Is(err, apikey.ErrInvalid):
				p.auditKeyFailure(ctx, r, clientID, "", "invalid")
			default:
				return nil, err // storage trouble: 503, not the client's fault
			}
			return nil, fosite.ErrInvalidClient
		}
		client, err := p.store.ClientByID(ctx, key.ClientID)
		if errors.Is(err, storage.ErrNotFound) {
			p.auditKeyFailure(ctx, r, clientID, key.ID, "client gone")
			return nil, fosite.ErrInvalidClient
		} else if err != nil {
			return nil, err
		}
		return &keyClient{Client: client, keyID: key.ID, scopes: intersect(key.Scopes, TrustedScopes(client).Scopes)}, nil
	}
}

// presentedSecret extracts the client credentials the way fosite does:
// HTTP Basic (URL-decoded) or client_id/client_secret in the body.
func presentedSecret(r *http.Request, form url.Values) (clientID, secret string, ok bool) {
	if id, sec, basic := r.BasicAuth(); basic {
		id, err1 := url.QueryUnescape(id)
		sec, err2 := url.QueryUnescape(sec)
		if err1 != nil || err2 != nil {
			return "", "", false
		}
		return id, sec, true
	}
	if sec := form.Get("client_secret"); sec != "" {
		return form.Get("client_id"), sec, true
	}
	return "", "", false
}

func intersect(a, b []string) []string {
	out := []string{}
	for _, s := range a {
		if slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

func (p *Provider) auditKeyFailure(ctx context.Context, r *http.Request, clientID, keyID, reason string) {
	details := map[string]string{"reason": reason, "endpoint": r.URL.Path}
	if keyID != "" {
		details["key_id"] = keyID
	}
	p.audit.Record(ctx, audit.Event{
		Type: audit.APIKeyUseFailed, Actor: "anonymous", Subject: keyID, ClientID: audit.ClipID(clientID),
		IP: reqctx.ClientIP(ctx), Details: details,
	})
}

// APIKeyIntrospection is what introspecting an API key says (RFC 7662).
type APIKeyIntrospection struct {
	Active    bool   `json:"active"`
	ClientID  string `json:"client_id,omitempty"`
	Scope     string `json:"scope,omitempty"`
	Exp       int64  `json:"exp,omitempty"`
	Iat       int64  `json:"iat,omitempty"`
	TokenType string `json:"token_type,omitempty"`
}

// IntrospectAPIKey reports whether key is a usable API key, so a resource
// server can accept keys directly. Any failure is simply inactive.
func (p *Provider) IntrospectAPIKey(ctx context.Context, key string) (*APIKeyIntrospection, error) {
	k, err := p.apikeys.Verify(ctx, "", key)
	if err != nil {
		if errors.Is(err, apikey.ErrInvalid) || errors.Is(err, apikey.ErrMalformed) {
			return &APIKeyIntrospection{Active: false}, nil
		}
		return nil, err
	}
	out := &APIKeyIntrospection{
		Active: true, ClientID: k.ClientID, Scope: strings.Join(k.Scopes, " "),
		Iat: k.CreatedAt.Unix(), TokenType: "api_key",
	}
	if !k.ExpiresAt.IsZero() {
		out.Exp = k.ExpiresAt.Unix()
	}
	return out, nil
}

// authenticateClient authenticates the client of a request as the token
// endpoint would (secret, assertion, or API key).
func (p *Provider) authenticateClient(ctx context.Context, r *http.Request) (fosite.Client, error) {
	if err := r.ParseMultipartForm(1 << 20); err != nil && err != http.ErrNotMultipart {
		return nil, fosite.ErrInvalidRequest.WithHint("The request body could not be parsed.")
	}
	return p.fosite.AuthenticateClient(ctx, r, r.PostForm)
}

// hasBasicAuth reports whether r carries HTTP Basic credentials, without
// decoding them (fosite does that next; this runs on every token request).
// The scheme is case-insensitive, as net/http reads it.
func hasBasicAuth(r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	return len(auth) >= len("Basic ") && strings.EqualFold(auth[:len("Basic ")], "Basic ")
}

// errNoClientAuthentication answers a request that names no client at all.
var errNoClientAuthentication = fosite.ErrInvalidClient.WithHint(
	"Client authentication is required: HTTP Basic, client_secret_post, private_key_jwt, or client_id for a public client.")

// requireClientCredentials wraps the whole client authentication: a
// request without any client authentication (no HTTP Basic, no client_id,
// no client_assertion), and one whose HTTP Basic credentials do not decode
// (RFC 6749 §2.3.1: form-encoded), are invalid_client — 401 with a
// challenge, RFC 6749 §5.2: "no client authentication included" — where
// fosite says invalid_request (400).
func requireClientCredentials(next fosite.ClientAuthenticationStrategy) fosite.ClientAuthenticationStrategy {
	return func(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
		basic := hasBasicAuth(r)
		if !basic && form.Get("client_id") == "" && form.Get("client_assertion") == "" && form.Get("client_assertion_type") == "" {
			return nil, errNoClientAuthentication
		}
		c, err := next(ctx, r, form)
		var rfc *fosite.RFC6749Error
		if basic && errors.As(err, &rfc) && rfc.ErrorField == fosite.ErrInvalidRequest.ErrorField {
			return nil, fosite.ErrInvalidClient.WithHint(rfc.HintField).WithWrap(err)
		}
		return c, err
	}
}
