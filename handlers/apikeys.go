package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/gatehouse-dev/gatehouse/provider/admin"
)

// Self-service API keys, on the public listener: people manage the API
// keys of the clients they own with an access token that carries scope
// apikeys, issued to a first-party app (provider.AuthorizeKeyManager).
// Never the keys of a client allowed a management scope, whatever the
// person's roles: an administrator makes those through the admin API or
// the CLI.
//
//	POST   /api/apikeys            {"client_id","name","scope","expires_in"} -> 201, the key shown once
//	GET    /api/apikeys[?client_id=ID]  -> {"items":[...],"next":""}
//	GET    /api/apikeys/:id        -> the key (never the key itself or its hash)
//	DELETE /api/apikeys/:id        -> 204; the key and its tokens stop working at once
//
// expires_in is in whole seconds (0 or left out: never). Without
// client_id, a listing covers the clients the person owns. Errors are RFC
// 9457 problem documents, as in the admin API: 401 (WWW-Authenticate:
// Bearer) without a valid token, 403 for a token without the scope or
// not a person's, and for a client_id the person may not manage, 404 for
// an unknown client or key. A key of a client the person may not manage is
// answered 404 like an unknown one, so that key ids reveal nothing.

// PathAPIKeys is the self-service key API.
const PathAPIKeys = "/api/apikeys"

// apiKeysHandler is a self-service route, called once the caller is
// authorized.
type apiKeysHandler func(c echo.Context, keys *admin.SelfServiceKeys) error

// mountAPIKeys adds the self-service key API to e (the public listener).
func (h *Handler) mountAPIKeys(e *echo.Echo) {
	addProblemRoutes(e, PathAPIKeys, map[string]echo.HandlerFunc{
		http.MethodGet:  h.keyManager(h.apiListKeys),
		http.MethodPost: h.keyManager(h.apiCreateKey),
	})
	addProblemRoutes(e, PathAPIKeys+"/:id", map[string]echo.HandlerFunc{
		http.MethodGet:    h.keyManager(h.apiGetKey),
		http.MethodDelete: h.keyManager(h.apiRevokeKey),
	})
	notFound := func(c echo.Context) error {
		return writeAdminProblem(c, http.StatusNotFound, "There is no such API resource.", nil)
	}
	e.RouteNotFound("/api", notFound)
	e.RouteNotFound("/api/*", notFound)
}

// keyManager authorizes the request, then runs fn; any error becomes a
// problem document. An API key in the URL is refused before anything
// else (URLs end up in logs).
func (h *Handler) keyManager(fn apiKeysHandler) echo.HandlerFunc {
	return func(c echo.Context) error {
		if apiKeyInQuery(c.Request()) {
			return writeAdminProblem(c, http.StatusBadRequest, "API keys must not be sent in URLs.", nil)
		}
		ctx := c.Request().Context()
		cred := accessCredential(c.Request(), h.publicURL(c.Request()))
		u, err := h.adm.AuthorizeKeyManager(ctx, cred)
		if err == nil {
			h.setDPoPNonce(c, cred)
			err = fn(c, h.adm.SelfServiceKeys(u))
		}
		if err != nil {
			return h.apiProblem(c, err, keysAPI, cred)
		}
		return nil
	}
}

func (h *Handler) apiCreateKey(c echo.Context, keys *admin.SelfServiceKeys) error {
	var body apiKeyCreateBody
	if err := decodeAdminBody(c, &body); err != nil {
		return err
	}
	spec, err := body.spec()
	if err != nil {
		return err
	}
	k, plain, err := keys.Create(c.Request().Context(), spec)
	if err != nil {
		return adminNotFoundAs(err, "client")
	}
	c.Response().Header().Set(echo.HeaderLocation, PathAPIKeys+"/"+k.ID)
	return c.JSON(http.StatusCreated, admin.APIKeyViewOf(k, plain, h.now()))
}

func (h *Handler) apiListKeys(c echo.Context, keys *admin.SelfServiceKeys) error {
	clientID, err := queryClientID(c)
	if err != nil {
		return err
	}
	list, err := keys.List(c.Request().Context(), clientID)
	if err != nil {
		return adminNotFoundAs(err, "client")
	}
	return c.JSON(http.StatusOK, h.apiKeyList(list))
}

func (h *Handler) apiGetKey(c echo.Context, keys *admin.SelfServiceKeys) error {
	id, err := adminID(c, "API key")
	if err != nil {
		return err
	}
	k, err := keys.Get(c.Request().Context(), id)
	if err != nil {
		return adminNotFoundAs(err, "API key")
	}
	return c.JSON(http.StatusOK, admin.APIKeyViewOf(k, "", h.now()))
}

func (h *Handler) apiRevokeKey(c echo.Context, keys *admin.SelfServiceKeys) error {
	id, err := adminID(c, "API key")
	if err != nil {
		return err
	}
	if err := keys.Revoke(c.Request().Context(), id); err != nil {
		return adminNotFoundAs(err, "API key")
	}
	return c.NoContent(http.StatusNoContent)
}
