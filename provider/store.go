package provider

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ory/fosite"

	"github.com/gatehouse-dev/gatehouse/internal/reqctx"
	"github.com/gatehouse-dev/gatehouse/provider/apikey"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// fositeStore is the storage fosite sees: the real store, except for one
// policy fosite has no hook for. A spent refresh token that comes back
// within the retry window after its rotation (or arrived before it) is a
// client retrying or racing itself, not a thief: it is answered with
// ErrRefreshRace (invalid_grant, nothing revoked) instead of the
// ErrInactiveToken that makes fosite revoke the whole grant.
//
// It also implements fosite.PARStorage (par.go). It holds nothing of the
// engine: the server's retry window, what records reuse, and the API key
// verifier are given to it.
type fositeStore struct {
	Store
	// retryWindow is the server's refresh retry window (a client's own
	// overrides it: retryWindowOf).
	retryWindow time.Duration
	reuse       *reuseRecorder
	parLifespan time.Duration
	now         func() time.Time
	apikeys     *apikey.Verifier
	// documents refreshes stale copies of client metadata documents in
	// the background; nil when they are off.
	documents ClientDocuments
}

var _ fosite.PARStorage = (*fositeStore)(nil)

// GetClient gives fosite the client as far as it may be trusted: a client
// that is not first-party never has management scopes, even if a row
// written before that rule (or by hand) lists them, so fosite answers
// invalid_scope to any request for one — at the authorization endpoint,
// for client credentials and for a refresh token granted them earlier.
//
// A client defined by its metadata document is refused once the document
// is gone or the documents are turned off, and a stale copy is fetched
// again in the background: never on this path, which must cost what a
// registered client's costs.
func (s *fositeStore) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	c, err := s.Store.ClientByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.MetadataDocument {
		if s.documents == nil || !c.DocumentGoneAt.IsZero() {
			return nil, fmt.Errorf("client %q: its metadata document is gone or not admitted: %w", id, storage.ErrNotFound)
		}
		if s.now().After(c.DocumentFreshUntil) {
			s.documents.RefreshLater(id)
		}
	}
	return TrustedScopes(c), nil
}

func (s *fositeStore) GetRefreshTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	req, err := s.Store.GetRefreshTokenSession(ctx, signature, session)
	var inactive *storage.InactiveRefreshError
	if errors.As(err, &inactive) && !inactive.RotatedAt.IsZero() && req != nil {
		arrived := reqctx.Arrived(ctx)
		if arrived.IsZero() {
			arrived = s.now()
		}
		if !arrived.After(inactive.RotatedAt) || arrived.Sub(inactive.RotatedAt) < retryWindowOf(req.GetClient(), s.retryWindow) {
			return nil, fmt.Errorf("refresh token rotated at %s: %w", inactive.RotatedAt.Format(time.RFC3339Nano), storage.ErrRefreshRace)
		}
		// fosite revokes the grant on this error: reuse after the window
		// is what a stolen token looks like.
		s.reuse.record(ctx, req, inactive.RotatedAt)
	}
	return req, err
}

// DeletePKCERequestSession keeps the PKCE row. fosite deletes it while it
// checks the code_verifier, before and outside the transaction that spends
// the code; a concurrent exchange of the same code that came after that
// delete would fail on the missing row before it could learn that the code
// was spent, and so would not revoke what the winner got (Provider.
// revokeCodeGrant). The row is no second key to anything: the code row
// decides single use (a wrong verifier spends the code, pkceSpendsCode),
// and the janitor deletes both when the code expires.
func (s *fositeStore) DeletePKCERequestSession(context.Context, string) error {
	return nil
}

// GetAccessTokenSession hides tokens whose API key has since been revoked
// or has expired. Revoking a key also deletes its tokens; this check
// covers a token inserted by a request that verified the key just before
// the revocation.
func (s *fositeStore) GetAccessTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	req, err := s.Store.GetAccessTokenSession(ctx, signature, session)
	if err != nil || s.apikeys == nil {
		return req, err
	}
	ks, ok := req.GetSession().(storage.APIKeySession)
	if !ok || ks.GetAPIKeyID() == "" {
		return req, nil
	}
	key, err := s.apikeys.Key(ctx, ks.GetAPIKeyID())
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("api key of the token is gone: %w", storage.ErrNotFound)
	} else if err != nil {
		return nil, err
	}
	if !key.RevokedAt.IsZero() || (!key.ExpiresAt.IsZero() && !s.now().Before(key.ExpiresAt)) {
		return nil, fmt.Errorf("api key of the token is revoked or expired: %w", storage.ErrNotFound)
	}
	return req, nil
}
