package handlers

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/apikey"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/templates"
)

// selfService is what people's own API keys (the account page and the
// self-service key API) ask of the administration.
type selfService interface {
	AuthorizeKeyManager(ctx context.Context, cred provider.Credential) (*provider.Principal, error)
	SelfServiceKeys(who *provider.Principal) *admin.SelfServiceKeys
	OwnedClients(ctx context.Context, userID string) ([]*storage.Client, error)
	OwnedAPIKeys(ctx context.Context, userID string) ([]admin.OwnedAPIKey, error)
	RevokeOwnedAPIKey(ctx context.Context, userID, id string) (*storage.APIKey, error)
}

// The account page of API keys lists the keys of the clients the
// signed-in person owns, with when each was last used, and revokes them.
// Like /account/apps it sits behind the browser session. Ownership alone
// counts here: an admin manages other clients' keys through the APIs.

// PathAccountKeys is the account page of API keys.
const PathAccountKeys = "/account/keys"

// accountKeys lists the keys of the person's apps.
func (h *Handler) accountKeys(c echo.Context) error {
	signedIn, err := h.accountLogin(c)
	if signedIn == nil {
		return err
	}
	return h.renderAccountKeys(c, signedIn, http.StatusOK, "")
}

func (h *Handler) renderAccountKeys(c echo.Context, signedIn *provider.Login, status int, message string) error {
	ctx := c.Request().Context()
	owned, err := h.adm.OwnedClients(ctx, signedIn.User.ID)
	if err != nil {
		return err
	}
	keys, err := h.adm.OwnedAPIKeys(ctx, signedIn.User.ID)
	if err != nil {
		return err
	}
	now := h.now()
	data := &templates.AccountKeysData{
		Common: h.common(c, "API keys"), UserEmail: signedIn.User.Email, Message: message, OwnsApps: len(owned) > 0,
	}
	for _, ok := range keys {
		k := ok.Key
		row := templates.AccountKey{
			ID: k.ID, Name: k.Name, ClientID: ok.Client.ID, ClientName: ok.Client.Name, Scopes: k.Scopes,
			State: apikey.State(k, now), CreatedAt: humanTime(k.CreatedAt),
			LastUsed: "never", Expires: "never",
		}
		if !k.LastUsedAt.IsZero() {
			row.LastUsed = humanTime(k.LastUsedAt)
		}
		if !k.ExpiresAt.IsZero() {
			row.Expires = humanTime(k.ExpiresAt)
		}
		if !k.RevokedAt.IsZero() {
			row.Revoked = humanTime(k.RevokedAt)
		}
		data.Keys = append(data.Keys, row)
	}
	return h.render(c, status, "account_keys", data)
}

// humanTime formats a time for the account pages.
func humanTime(t time.Time) string { return t.UTC().Format("2 Jan 2006 15:04 UTC") }

// noOwnedKey answers a revocation of a key that is not among the person's.
const noOwnedKey = "There is no such key among the keys of your apps."

// accountRevokeKey revokes one key of the person's apps: the key and
// every token it minted stop working at once. A key of someone else's app
// is answered like an unknown one (404).
func (h *Handler) accountRevokeKey(c echo.Context) error {
	signedIn, err := h.accountLogin(c)
	if signedIn == nil {
		return err
	}
	id := c.FormValue("key_id")
	if !validID(id) {
		return h.renderAccountKeys(c, signedIn, http.StatusNotFound, noOwnedKey)
	}
	k, err := h.adm.RevokeOwnedAPIKey(c.Request().Context(), signedIn.User.ID, id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return h.renderAccountKeys(c, signedIn, http.StatusNotFound, noOwnedKey)
	case err != nil:
		return err
	}
	return h.renderAccountKeys(c, signedIn, http.StatusOK, "The key "+k.Name+" was revoked. It and every token made with it no longer work.")
}
