package admin

import (
	"context"
	"time"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/login"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// AppGrantView is a person's consent for an app as the admin API shows
// it, with the API keys the app made for them that still work.
type AppGrantView struct {
	ClientID       string       `json:"client_id"`
	ClientName     string       `json:"client_name"`
	Scopes         []string     `json:"scopes"`
	GrantedAt      time.Time    `json:"granted_at"`
	CreatedAPIKeys []APIKeyView `json:"created_api_keys"`
}

// AppGrantViewOf describes g at now.
func AppGrantViewOf(g login.AppGrant, now time.Time) AppGrantView {
	return AppGrantView{
		ClientID: g.Client.ID, ClientName: g.Client.Name, Scopes: nonNil(g.Grant.Scopes),
		GrantedAt: g.Grant.UpdatedAt.UTC(), CreatedAPIKeys: apiKeyViews(g.CreatedKeys, now),
	}
}

// RevokedAppView is the admin API's answer to revoking a person's consent
// for an app: the keys the app made for them that still work.
type RevokedAppView struct {
	UserID         string       `json:"user_id"`
	ClientID       string       `json:"client_id"`
	CreatedAPIKeys []APIKeyView `json:"created_api_keys"`
}

// RevokedAppViewOf describes r, a revocation of userID's grant, at now.
func RevokedAppViewOf(userID string, r *login.RevokedApp, now time.Time) RevokedAppView {
	return RevokedAppView{UserID: userID, ClientID: r.ClientID, CreatedAPIKeys: apiKeyViews(r.CreatedKeys, now)}
}

func apiKeyViews(keys []*storage.APIKey, now time.Time) []APIKeyView {
	out := make([]APIKeyView, 0, len(keys))
	for _, k := range keys {
		out = append(out, APIKeyViewOf(k, "", now))
	}
	return out
}

// RevokeUserGrant withdraws a user's consent for a client as
// RevokeAppGrant does, for an administrator (consent.revoked by who).
func (a *Admin) RevokeUserGrant(ctx context.Context, who *provider.Principal, userID, clientID string) (*login.RevokedApp, error) {
	if _, err := a.store.UserByID(ctx, userID); err != nil {
		return nil, err
	}
	via := ""
	if who != nil && who.User != nil {
		via = who.ClientID
	}
	return a.grants.RevokeAppGrantAs(ctx, who.Actor(), via, userID, clientID)
}

// UserGrants lists the apps a user has allowed, as AppGrants does.
func (a *Admin) UserGrants(ctx context.Context, userID string) ([]login.AppGrant, error) {
	if _, err := a.store.UserByID(ctx, userID); err != nil {
		return nil, err
	}
	return a.grants.AppGrants(ctx, userID)
}
