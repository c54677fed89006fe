package provider

import (
	"context"
	"errors"
	"net/http"

	"github.com/ory/fosite"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// PrepareAccessRequest does what fosite leaves to the application between
// NewAccessRequest and NewAccessResponse:
//
//   - client_credentials: grant the requested scopes and audience (fosite
//     has checked them against the client) and make the client the subject;
//   - refresh_token: reload the user, refuse a deleted or disabled account,
//     and refresh the claims the new ID token carries.
func (p *Provider) PrepareAccessRequest(ctx context.Context, ar fosite.AccessRequester) error {
	sess, ok := ar.GetSession().(*Session)
	if !ok {
		return fosite.ErrServerError.WithDebug("unexpected session type")
	}
	switch {
	case ar.GetGrantTypes().ExactOne("client_credentials"):
		for _, s := range ar.GetRequestedScopes() {
			ar.GrantScope(s)
		}
		for _, a := range ar.GetRequestedAudience() {
			ar.GrantAudience(a)
		}
		if err := grantResources(ar); err != nil {
			return err
		}
		sess.Subject = ar.GetClient().GetID()
		sess.ClientID = ar.GetClient().GetID()
		if c, ok := ar.GetClient().(*storage.Client); ok && c.APIKeyID != "" {
			if err := p.prepareAPIKeyToken(ctx, ar, sess, c); err != nil {
				return err
			}
		}
	case ar.GetGrantTypes().ExactOne("refresh_token"), ar.GetGrantTypes().ExactOne("authorization_code"):
		// A resource named here must still be one the client may use; the
		// tokens keep the audience granted at authorization.
		if _, err := resources(ar.GetRequestForm(), ar.GetClient()); err != nil {
			return err
		}
		if !ar.GetGrantTypes().ExactOne("refresh_token") {
			return nil
		}
		if sess.Subject == "" || sess.Claims == nil {
			return nil
		}
		u, err := p.store.UserByID(ctx, sess.Subject)
		if errors.Is(err, storage.ErrNotFound) || (err == nil && u.Disabled) {
			return fosite.ErrInvalidGrant.WithHint("The user account is no longer active.")
		} else if err != nil {
			return err
		}
		sess.Claims.Extra = UserClaims(u, ar.GetGrantedScopes())
	}
	return nil
}

// NewAccessResponse issues the tokens. For the authorization code and
// refresh grants everything fosite writes (code invalidation or refresh
// rotation, the new tokens, the OpenID Connect session cleanup) happens in
// one transaction, so a failure leaves nothing half-written. A
// client_credentials token is a single insert and needs no transaction.
func (p *Provider) NewAccessResponse(ctx context.Context, ar fosite.AccessRequester) (fosite.AccessResponder, error) {
	if ar.GetGrantTypes().ExactOne("client_credentials") {
		return p.OAuth2.NewAccessResponse(ctx, ar)
	}
	var resp fosite.AccessResponder
	err := p.store.InTx(ctx, func(ctx context.Context) error {
		var err error
		resp, err = p.OAuth2.NewAccessResponse(ctx, ar)
		return err
	})
	return resp, err
}

// Revoke handles an RFC 7009 revocation request. fosite deletes the
// grant's refresh and access tokens in two steps; the transaction makes
// that one.
func (p *Provider) Revoke(ctx context.Context, r *http.Request) error {
	return p.store.InTx(ctx, func(ctx context.Context) error {
		return p.OAuth2.NewRevocationRequest(ctx, r)
	})
}

// Client returns a registered client (storage.ErrNotFound if unknown).
func (p *Provider) Client(ctx context.Context, id string) (*storage.Client, error) {
	return p.store.ClientByID(ctx, id)
}

// prepareAPIKeyToken ties a client_credentials token to the API key that
// authenticated the request: all the key's scopes when none were
// requested, the key recorded in the session (revoking the key revokes the
// token), and an expiry no later than the key's.
func (p *Provider) prepareAPIKeyToken(ctx context.Context, ar fosite.AccessRequester, sess *Session, c *storage.Client) error {
	sess.APIKeyID = c.APIKeyID
	if len(ar.GetRequestedScopes()) == 0 {
		for _, s := range c.Scopes {
			ar.GrantScope(s)
		}
	}
	key, err := p.apikeys.Key(ctx, c.APIKeyID)
	if err != nil {
		return err
	}
	if !key.ExpiresAt.IsZero() {
		if exp := sess.GetExpiresAt(fosite.AccessToken); exp.IsZero() || key.ExpiresAt.Before(exp) {
			sess.SetExpiresAt(fosite.AccessToken, key.ExpiresAt.UTC())
		}
	}
	return nil
}
