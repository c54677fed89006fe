package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/ory/fosite"

	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// Pushed authorization requests (RFC 9126). fosite's PAR handler validates
// the pushed request and stores it (CreatePARSession). gatehouse keeps only
// the request's parameters (minus client credentials) and, when the
// browser arrives with the request_uri, rebuilds the request from them and
// has fosite validate it again with the client as it is then
// (pushedAuthorizeRequest): the stored form is the one source of truth.

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

// GetPARSession implements fosite.PARStorage. fosite never calls it here:
// the engine resolves a request_uri itself before fosite sees the
// authorization request (pushedAuthorizeRequest), so the storage adapter
// needs nothing of the engine.
func (s *fositeStore) GetPARSession(context.Context, string) (fosite.AuthorizeRequester, error) {
	return nil, fmt.Errorf("provider: pushed requests are resolved before fosite: %w", fosite.ErrNotFound)
}

// DeletePARSession implements fosite.PARStorage; pushedAuthorizeRequest
// consumes the request.
func (s *fositeStore) DeletePARSession(context.Context, string) error { return nil }

// pushedAuthorizeRequest resolves the request_uri of a pushed request
// (RFC 9126 §4) into the authorization request that was pushed: the stored
// parameters, as a request fosite then validates again with the client as
// it is now. Every other parameter the browser brought is ignored, as §4
// says. The request is consumed (the conditional delete lets exactly one
// of two concurrent uses through), so a request_uri works once; one
// presented with another client_id than the pushing client's is refused
// before it is consumed, so whoever learnt it cannot spend it for the
// client that pushed it. Every failure is invalid_request_uri.
func (p *Provider) pushedAuthorizeRequest(ctx context.Context, clientID, requestURI string) (*http.Request, error) {
	id := secret.HashHandle(requestURI)
	pr, err := p.store.PushedRequest(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fosite.ErrInvalidRequestURI.WithHint("The request_uri is unknown, expired or already used.")
	} else if err != nil {
		return nil, err
	}
	if clientID != pr.ClientID {
		return nil, fosite.ErrInvalidRequestURI.WithHint("The request_uri was pushed by another client than client_id names.")
	}
	if err := p.store.DeletePushedRequest(ctx, id); errors.Is(err, storage.ErrNotFound) {
		return nil, fosite.ErrInvalidRequestURI.WithHint("The request_uri is unknown, expired or already used.")
	} else if err != nil {
		return nil, err
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, p.opts.Issuer+PathAuthorize+"?"+pr.Form, nil)
	if err != nil {
		return nil, fmt.Errorf("provider: rebuild pushed request: %w", err)
	}
	return r, nil
}

// PushedAuthorize is the pushed authorization request endpoint (RFC 9126):
// the client authenticates and sends the authorization request by POST,
// and gets a one-time request_uri to send the browser with instead. With
// a DPoP proof, the code is bound to the proof's key (RFC 9449 §10.1).
func (p *Provider) PushedAuthorize(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	if err := requireFormBody(r); err != nil {
		writeError(w, err)
		return
	}
	var ar fosite.AuthorizeRequester = fosite.NewAuthorizeRequest()
	proof, err := p.requestProof(ctx, r, PathPAR)
	if err == nil {
		r, err = p.pushedRequestObject(ctx, r)
	}
	if err == nil {
		err = p.resolveClientDocument(ctx, r.PostFormValue("client_id"))
	}
	if err == nil {
		ar, err = p.oauth2.NewPushedAuthorizeRequest(ctx, r)
		err = authorizeRequestResult(ar, err)
	}
	if err == nil {
		err = p.checkPushedRequest(ctx, ar)
	}
	if err == nil {
		err = bindPushedRequest(ar, proof)
	}
	var resp fosite.PushedAuthorizeResponder
	if err == nil {
		resp, err = p.oauth2.NewPushedAuthorizeResponse(ctx, ar, NewSession())
	}
	if err != nil {
		err = p.OAuthError(ctx, err, "")
		challengeClient(w, err)
		p.writeDPoPNonce(w, err)
		p.oauth2.WritePushedAuthorizeError(ctx, w, ar, err)
		return
	}
	p.writeDPoPNonce(w, nil)
	p.oauth2.WritePushedAuthorizeResponse(ctx, w, ar, resp)
}

// parRequired reports whether client must use PAR.
func (p *Provider) parRequired(c fosite.Client) bool {
	if p.opts.PARRequired {
		return true
	}
	sc, ok := StorageClient(c)
	return ok && sc.RequirePushedAuthorizationRequests
}

// checkPushedRequest applies, at the PAR endpoint, the checks gatehouse
// makes at the authorization endpoint (PKCE S256, prompt, max_age), so a
// bad request fails when it is pushed.
func (p *Provider) checkPushedRequest(ctx context.Context, ar fosite.AuthorizeRequester) error {
	if ar.GetRequestForm().Get("request_uri") != "" {
		return fosite.ErrInvalidRequest.WithHint("A pushed authorization request must not contain request_uri.")
	}
	return p.checkAuthorizeParams(ctx, ar)
}

// parLifespanDefault applies when Options.PARLifespan is unset.
const parLifespanDefault = 90 * time.Second
