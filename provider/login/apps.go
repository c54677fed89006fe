package login

import (
	"context"
	"errors"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/reqctx"
	"github.com/gatehouse-dev/gatehouse/provider/apikey"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// AppGrant is a remembered consent with the client it was given to, and
// the API keys that client made for the person (through the self-service
// API) that still work, for the account page and the admin API.
type AppGrant struct {
	Grant       *storage.ConsentGrant
	Client      *storage.Client
	CreatedKeys []*storage.APIKey
}

// AppGrants lists the apps a user has allowed, most recent first. Grants of
// clients that no longer exist are left out.
func (s *Service) AppGrants(ctx context.Context, userID string) ([]AppGrant, error) {
	grants, err := s.store.ListConsentGrants(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]AppGrant, 0, len(grants))
	for _, g := range grants {
		c, err := s.store.ClientByID(ctx, g.ClientID)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		} else if err != nil {
			return nil, err
		}
		keys, err := s.keysCreatedVia(ctx, userID, g.ClientID)
		if err != nil {
			return nil, err
		}
		out = append(out, AppGrant{Grant: g, Client: c, CreatedKeys: keys})
	}
	return out, nil
}

// keysCreatedVia lists the usable API keys that client clientID made for
// userID through the self-service API, newest first.
func (s *Service) keysCreatedVia(ctx context.Context, userID, clientID string) ([]*storage.APIKey, error) {
	keys, err := s.store.APIKeysCreatedVia(ctx, audit.UserSubject(userID), clientID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	usable := keys[:0]
	for _, k := range keys {
		if apikey.State(k, now) == apikey.StateActive {
			usable = append(usable, k)
		}
	}
	return usable, nil
}

// RevokedApp is what withdrawing a person's consent for an app leaves for
// review: the API keys the app made for the person that still work.
// Revoking the grant does not revoke them — they are credentials of the
// person's own clients, which they may have asked the app to make — but
// they are what the app did on the person's behalf, so the person (or an
// administrator) is shown them to decide.
type RevokedApp struct {
	ClientID    string
	CreatedKeys []*storage.APIKey
}

// RevokeAppGrant withdraws a user's consent for a client: the grant and
// every code, access token and refresh token the client holds for the user
// go at once (one transaction). storage.ErrNotFound if there was no grant.
// The user acts (consent.revoked).
func (s *Service) RevokeAppGrant(ctx context.Context, userID, clientID string) (*RevokedApp, error) {
	return s.RevokeAppGrantAs(ctx, audit.UserSubject(userID), "", userID, clientID)
}

// RevokeAppGrantAs withdraws a user's consent for a client as
// RevokeAppGrant does, by actor (an administrator, who may act through
// viaClient) — for the admin API.
func (s *Service) RevokeAppGrantAs(ctx context.Context, actor, viaClient, userID, clientID string) (*RevokedApp, error) {
	if err := s.store.DeleteConsentGrant(ctx, userID, clientID); err != nil {
		return nil, err
	}
	keys, err := s.keysCreatedVia(ctx, userID, clientID)
	if err != nil {
		// The grant is gone either way; the list is advice.
		s.log.ErrorContext(ctx, "listing the API keys a revoked app made failed", "client_id", clientID, "err", err)
		keys = nil
	}
	ev := audit.Event{
		Type: audit.ConsentRevoked, Actor: actor, Subject: audit.UserSubject(userID),
		ClientID: clientID, IP: reqctx.ClientIP(ctx),
	}
	if len(keys) > 0 || viaClient != "" {
		ev.Details = map[string]string{}
		if viaClient != "" {
			ev.Details["via_client"] = viaClient
		}
		if len(keys) > 0 {
			ids := make([]string, len(keys))
			for i, k := range keys {
				ids[i] = k.ID
			}
			ev.Details["created_api_keys"] = strings.Join(ids, " ")
		}
	}
	s.audit.Record(ctx, ev)
	return &RevokedApp{ClientID: clientID, CreatedKeys: keys}, nil
}
