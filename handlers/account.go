package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/login"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/templates"
)

// The account pages let a signed-in person see the apps they have allowed
// and withdraw that permission. They sit behind the browser session; a
// visitor without one is sent to sign in and brought back.

// accountLogin returns the browser's sign-in, or redirects to the login
// page (and returns nil) when there is none.
func (h *Handler) accountLogin(c echo.Context) (*provider.Login, error) {
	signedIn, err := h.currentLogin(c)
	if err != nil || signedIn != nil {
		return signedIn, err
	}
	return nil, c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(c.Request().URL.Path))
}

// accountApps lists the apps the person has allowed.
func (h *Handler) accountApps(c echo.Context) error {
	signedIn, err := h.accountLogin(c)
	if signedIn == nil {
		return err
	}
	return h.renderAccountApps(c, signedIn, http.StatusOK, "", nil)
}

func (h *Handler) renderAccountApps(c echo.Context, signedIn *provider.Login, status int, message string, revoked *login.RevokedApp) error {
	ctx := c.Request().Context()
	grants, err := h.login.AppGrants(ctx, signedIn.User.ID)
	if err != nil {
		return err
	}
	data := &templates.AccountAppsData{
		Common: h.common(c, "Apps with access"), UserEmail: signedIn.User.Email, Message: message,
	}
	for _, g := range grants {
		app := templates.AppGrant{
			ClientID: g.Client.ID, ClientName: g.Client.Name, LogoURI: g.Client.LogoURI,
			ClientURI: g.Client.ClientURI, GrantedAt: g.Grant.UpdatedAt.UTC().Format("2 Jan 2006"),
			CreatedKeys: h.createdKeys(ctx, g.CreatedKeys),
		}
		for _, s := range g.Grant.Scopes {
			app.Scopes = append(app.Scopes, templates.Scope{Name: s, Description: provider.ScopeDescription(s)})
		}
		data.Apps = append(data.Apps, app)
	}
	if revoked != nil {
		data.RevokedKeys = h.createdKeys(ctx, revoked.CreatedKeys)
	}
	return h.render(c, status, "account_apps", data)
}

// noAppGrant answers (404) a revocation for an app the person has not
// allowed.
const noAppGrant = "That app had no access to revoke."

// createdKeys describes the API keys an app made for the person, naming
// the client each belongs to.
func (h *Handler) createdKeys(ctx context.Context, keys []*storage.APIKey) []templates.CreatedKey {
	out := make([]templates.CreatedKey, 0, len(keys))
	for _, k := range keys {
		name := k.ClientID
		if c, err := h.p.Client(ctx, k.ClientID); err == nil && c.Name != "" {
			name = c.Name
		}
		out = append(out, templates.CreatedKey{ID: k.ID, Name: k.Name, ClientName: name, CreatedAt: humanTime(k.CreatedAt)})
	}
	return out
}

// accountRevoke withdraws the consent given to one app: the grant and all
// the app's tokens for this person go at once.
func (h *Handler) accountRevoke(c echo.Context) error {
	signedIn, err := h.accountLogin(c)
	if signedIn == nil {
		return err
	}
	clientID := c.FormValue("client_id")
	if !validID(clientID) {
		return h.renderAccountApps(c, signedIn, http.StatusNotFound, noAppGrant, nil)
	}
	name := clientID
	if client, err := h.p.Client(c.Request().Context(), clientID); err == nil {
		name = client.Name
	}
	revoked, err := h.login.RevokeAppGrant(c.Request().Context(), signedIn.User.ID, clientID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return h.renderAccountApps(c, signedIn, http.StatusNotFound, noAppGrant, nil)
	case err != nil:
		return err
	}
	return h.renderAccountApps(c, signedIn, http.StatusOK, "Access for "+name+" was revoked.", revoked)
}
