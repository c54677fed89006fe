package provider

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// AppGrant is a remembered consent with the client it was given to, for the
// account page.
type AppGrant struct {
	Grant  *storage.ConsentGrant
	Client *storage.Client
}

// AppGrants lists the apps a user has allowed, most recent first. Grants of
// clients that no longer exist are left out.
func (p *Provider) AppGrants(ctx context.Context, userID string) ([]AppGrant, error) {
	grants, err := p.store.ListConsentGrants(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]AppGrant, 0, len(grants))
	for _, g := range grants {
		c, err := p.store.ClientByID(ctx, g.ClientID)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		} else if err != nil {
			return nil, err
		}
		out = append(out, AppGrant{Grant: g, Client: c})
	}
	return out, nil
}

// RevokeAppGrant withdraws a user's consent for a client: the grant and
// every code, access token and refresh token the client holds for the user
// go at once (one transaction). storage.ErrNotFound if there was no grant.
// The user acts (consent.revoked).
func (p *Provider) RevokeAppGrant(ctx context.Context, userID, clientID string) error {
	if err := p.store.DeleteConsentGrant(ctx, userID, clientID); err != nil {
		return err
	}
	p.audit.Record(ctx, audit.Event{
		Type: audit.ConsentRevoked, Actor: audit.UserSubject(userID), Subject: audit.UserSubject(userID),
		ClientID: clientID, IP: requestIP(ctx),
	})
	return nil
}

// originCache remembers for a short while whether an origin is registered
// on any client: CORS preflights do not name the client, and a listing
// query per preflight would be wasteful. Changes show within originTTL.
type originCache struct {
	mu      sync.Mutex
	entries map[string]originEntry
}

type originEntry struct {
	allowed bool
	expires time.Time
}

const (
	originTTL        = 30 * time.Second
	originCacheLimit = 1000
)

// OriginAllowed reports whether origin is registered on any client.
func (p *Provider) OriginAllowed(ctx context.Context, origin string) (bool, error) {
	if origin == "" || len(origin) > 2048 {
		return false, nil
	}
	now := p.now()
	p.origins.mu.Lock()
	e, ok := p.origins.entries[origin]
	p.origins.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.allowed, nil
	}
	allowed, err := p.store.ClientOriginAllowed(ctx, origin)
	if err != nil {
		return false, err
	}
	p.origins.mu.Lock()
	if len(p.origins.entries) >= originCacheLimit {
		// Unknown origins are attacker-controlled: never let them grow the
		// cache without bound.
		clear(p.origins.entries)
	}
	p.origins.entries[origin] = originEntry{allowed: allowed, expires: now.Add(originTTL)}
	p.origins.mu.Unlock()
	return allowed, nil
}
