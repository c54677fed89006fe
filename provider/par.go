package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// Pushed authorization requests (RFC 9126). fosite's PAR handler stores the
// validated request and, at the authorization endpoint, swaps the
// request_uri for it. gatehouse keeps only the request's parameters (minus
// client credentials) and rebuilds the request with fosite when the browser
// arrives, so the stored form is the one source of truth and the request
// is checked again with the client as it is then.

// PARRequestURIPrefix starts every request_uri gatehouse issues.
const PARRequestURIPrefix = "urn:ietf:params:oauth:request_uri:"

// parSecretParams are client credentials fosite leaves in a pushed
// request's form (client_secret_post, private_key_jwt); they must not be
// stored.
var parSecretParams = []string{"client_secret", "client_assertion", "client_assertion_type"}

// CreatePARSession implements fosite.PARStorage.
func (s *fositeStore) CreatePARSession(ctx context.Context, requestURI string, ar fosite.AuthorizeRequester) error {
	form := url.Values{}
	for k, v := range ar.GetRequestForm() {
		form[k] = append([]string(nil), v...)
	}
	for _, k := range parSecretParams {
		form.Del(k)
	}
	now := s.now().UTC()
	expires := now.Add(s.parLifespan)
	if sess := ar.GetSession(); sess != nil {
		if exp := sess.GetExpiresAt(fosite.PushedAuthorizeRequestContext); !exp.IsZero() {
			expires = exp
		}
	}
	return s.Store.CreatePushedRequest(ctx, &storage.PushedRequest{
		ID:        secret.HashHandle(requestURI),
		ClientID:  ar.GetClient().GetID(),
		Form:      form.Encode(),
		CreatedAt: now,
		ExpiresAt: expires,
	})
}

// GetPARSession implements fosite.PARStorage. It consumes the request (the
// conditional delete lets exactly one of two concurrent uses through), so
// a request_uri works once, and rebuilds the authorization request from its
// stored parameters with fosite.
//
// A request_uri presented with another client_id than the pushing
// client's is refused before it is consumed (RFC 9126 §4: the client_id
// must match), so that whoever learnt it cannot spend it for the client
// that pushed it. fosite makes that comparison itself only after it has
// consumed the request, and it has no other hook, so the client_id is read
// from the authorization request fosite puts in ctx.
func (s *fositeStore) GetPARSession(ctx context.Context, requestURI string) (fosite.AuthorizeRequester, error) {
	id := secret.HashHandle(requestURI)
	pr, err := s.Store.PushedRequest(ctx, id)
	if err != nil {
		return nil, err
	}
	if presentedClientID(ctx) != pr.ClientID {
		return nil, errors.New("provider: request_uri presented with another client_id than the pushing client's")
	}
	if err := s.Store.DeletePushedRequest(ctx, id); err != nil {
		return nil, err
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, s.issuer+PathAuthorize+"?"+pr.Form, nil)
	if err != nil {
		return nil, fmt.Errorf("provider: rebuild pushed request: %w", err)
	}
	ar, err := s.oauth.NewAuthorizeRequest(ctx, r)
	if err != nil {
		return nil, err
	}
	if ar.GetClient().GetID() != pr.ClientID {
		return nil, errors.New("provider: pushed request client mismatch")
	}
	return ar, nil
}

// presentedClientID is the client_id of the authorization request that
// fosite is resolving a request_uri for ("" when ctx carries none).
func presentedClientID(ctx context.Context) string {
	r, ok := ctx.Value(fosite.RequestContextKey).(*http.Request)
	if !ok || r.Form == nil {
		return ""
	}
	return r.Form.Get("client_id")
}

// DeletePARSession implements fosite.PARStorage; GetPARSession already
// consumed the request.
func (s *fositeStore) DeletePARSession(context.Context, string) error { return nil }

// viaPAR reports whether an authorization request came through PAR:
// fosite only accepts a request_uri with our prefix if it resolved it.
func viaPAR(ar fosite.AuthorizeRequester) bool {
	return strings.HasPrefix(ar.GetRequestForm().Get("request_uri"), PARRequestURIPrefix)
}

// parRequired reports whether client must use PAR.
func (p *Provider) parRequired(c fosite.Client) bool {
	if p.opts.PARRequired {
		return true
	}
	sc, ok := StorageClient(c)
	return ok && sc.RequirePushedAuthorizationRequests
}

// CheckPushedRequest applies, at the PAR endpoint, the checks gatehouse
// makes at the authorization endpoint (PKCE S256, prompt, max_age), so a
// bad request fails when it is pushed.
func (p *Provider) CheckPushedRequest(ar fosite.AuthorizeRequester) error {
	if ar.GetRequestForm().Get("request_uri") != "" {
		return fosite.ErrInvalidRequest.WithHint("A pushed authorization request must not contain request_uri.")
	}
	return checkAuthorizeParams(ar)
}

// parLifespanDefault applies when Options.PARLifespan is unset.
const parLifespanDefault = 90 * time.Second
